package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shiptrack/shiptrack/store"
	"github.com/shiptrack/shiptrack/valid"
)

const (
	defaultLimit = 100
	maxLimit     = 1000
)

// listShipments serves GET /shipment/: one keyset-paginated page, with a
// Link header to the next page when more remain.
func (s *Server) listShipments(c echo.Context) error {
	q := c.QueryParams()
	p := store.ListParams{Limit: defaultLimit, Cursor: q.Get("cursor"), Carrier: q.Get("carrier"), Status: q.Get("status")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			return invalid(InvalidParam{Name: "limit", Reason: "must be a whole number from 1 to 1000"})
		}
		p.Limit = n
	}
	if bad := checkTexts(field{"carrier", p.Carrier, valid.Carrier}, field{"status", p.Status, valid.Status},
		field{"cursor", p.Cursor, valid.Cursor}); len(bad) > 0 {
		return invalid(bad...)
	}
	key := "list\x00" + c.Request().URL.Path + "\x00" + strconv.Itoa(p.Limit) + "\x00" + p.Cursor + "\x00" +
		store.CarrierKey(p.Carrier) + "\x00" + p.Status
	now := s.cfg.Now()
	if e, ok := s.cached(c, key, now); ok {
		if e.link != "" {
			c.Response().Header().Set("Link", e.link)
		}
		return c.JSONBlob(http.StatusOK, e.body)
	}
	token, cacheable := s.cfg.Cache.begin()
	ctx, cancel := s.deadline(c)
	page, err := s.cfg.Shipments.List(ctx, p)
	cancel()
	if err != nil {
		return err
	}
	out := make([]ShipmentJSON, len(page.Shipments))
	for i, sh := range page.Shipments {
		out[i] = toJSON(sh, now, s.staleAfter)
	}
	var link string
	if page.NextCursor != "" {
		next := url.Values{}
		next.Set("limit", strconv.Itoa(p.Limit))
		next.Set("cursor", page.NextCursor)
		if p.Carrier != "" {
			next.Set("carrier", p.Carrier)
		}
		if p.Status != "" {
			next.Set("status", p.Status)
		}
		link = "<" + c.Request().URL.Path + "?" + next.Encode() + `>; rel="next"`
		c.Response().Header().Set("Link", link)
	}
	var entry *cacheEntry
	if cacheable {
		entry = s.entry(key, link, token, now, page.Shipments...)
	}
	return s.answer(c, out, entry)
}

// cached returns the cache's answer for key, unless the request wants a
// fresh one.
func (s *Server) cached(c echo.Context, key string, now time.Time) (*cacheEntry, bool) {
	if wantsFresh(c) {
		return nil, false
	}
	return s.cfg.Cache.get(key, now)
}

// answer sends out as JSON, and keeps the rendered bytes in the cache as
// entry when entry is not nil.
func (s *Server) answer(c echo.Context, out any, entry *cacheEntry) error {
	if _, pretty := c.QueryParams()["pretty"]; pretty {
		return c.JSON(http.StatusOK, out)
	}
	body, err := marshalJSON(out)
	if err != nil {
		return err
	}
	if entry != nil {
		entry.body = body
		s.cfg.Cache.put(entry)
	}
	return c.JSONBlob(http.StatusOK, body)
}

// entry describes an answer for the cache, before it is rendered: the
// locations whose weather it shows, and when a weather in it turns stale.
func (s *Server) entry(key, link string, token uint64, now time.Time, shipments ...store.Shipment) *cacheEntry {
	e := &cacheEntry{key: key, link: link, read: token}
	seen := make(map[uint64]bool, len(shipments))
	for _, sh := range shipments {
		if sh.Location == nil {
			continue
		}
		// Marked by the location whose weather row it shows: that row's
		// changes are what the change feed reports.
		if id := sh.Location.WeatherID; !seen[id] {
			seen[id] = true
			e.locs = append(e.locs, id)
		}
		if w := sh.Weather; w != nil && !w.FetchedAt.IsZero() && w.LastError == "" {
			if staleAt := w.FetchedAt.Add(s.staleAfter); staleAt.After(now) && (e.expires.IsZero() || staleAt.Before(e.expires)) {
				e.expires = staleAt
			}
		}
	}
	return e
}

// wantsFresh reports whether the answer must come from the database: the
// client sent Cache-Control: no-cache (or max-age=0), or asked for
// ?pretty, which the cache does not hold. A fresh answer still refills the
// cache.
func wantsFresh(c echo.Context) bool {
	if _, pretty := c.QueryParams()["pretty"]; pretty {
		return true
	}
	for _, v := range c.Request().Header.Values("Cache-Control") {
		for _, d := range strings.Split(v, ",") {
			switch strings.ToLower(strings.TrimSpace(d)) {
			case "no-cache", "max-age=0":
				return true
			}
		}
	}
	return false
}

// marshalJSON renders v as Echo's c.JSON does (HTML-safe, trailing
// newline), so cached and fresh answers are the same bytes.
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := json.NewEncoder(&b).Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// getShipment serves GET /shipment/{carrier}/{tracking_number}.
func (s *Server) getShipment(c echo.Context) error {
	carrier, err1 := pathParam(c, "carrier")
	tn, err2 := pathParam(c, "tracking_number")
	if err1 != nil || err2 != nil {
		return invalid(InvalidParam{Name: "path", Reason: "malformed escape"})
	}
	return s.respondShipment(c, lookup{Carrier: carrier, TrackingNumber: tn})
}

// lookup is the body of POST /shipment/.
type lookup struct {
	TrackingNumber string `json:"tracking_number" form:"tracking_number"`
	Carrier        string `json:"carrier" form:"carrier"`
}

// lookupShipment serves POST /shipment/ with a JSON or form body.
func (s *Server) lookupShipment(c echo.Context) error {
	l, err := decodeLookup(c.Request())
	if err != nil {
		return err
	}
	return s.respondShipment(c, l)
}

func (s *Server) respondShipment(c echo.Context, l lookup) error {
	l.Carrier = strings.TrimSpace(l.Carrier)
	l.TrackingNumber = strings.TrimSpace(l.TrackingNumber)
	var bad []InvalidParam
	for _, f := range []struct{ name, v string }{{"tracking_number", l.TrackingNumber}, {"carrier", l.Carrier}} {
		switch {
		case f.v == "":
			bad = append(bad, InvalidParam{Name: f.name, Reason: "is required"})
		default:
			bad = append(bad, checkTexts(field{f.name, f.v, keyLimits[f.name]})...)
		}
	}
	if len(bad) > 0 {
		return invalid(bad...)
	}
	key := "shipment\x00" + store.CarrierKey(l.Carrier) + "\x00" + store.NormalizeTrackingNumber(l.TrackingNumber)
	now := s.cfg.Now()
	if e, ok := s.cached(c, key, now); ok {
		return c.JSONBlob(http.StatusOK, e.body)
	}
	token, cacheable := s.cfg.Cache.begin()
	ctx, cancel := s.deadline(c)
	sh, err := s.cfg.Shipments.Get(ctx, l.Carrier, l.TrackingNumber)
	cancel()
	if err != nil {
		return err
	}
	var entry *cacheEntry
	if cacheable {
		entry = s.entry(key, "", token, now, sh)
	}
	return s.answer(c, toJSON(sh, now, s.staleAfter), entry)
}

// decodeLookup reads a lookup from a JSON, urlencoded or multipart body.
// Every failure is a *Problem naming what is wrong.
func decodeLookup(r *http.Request) (lookup, error) {
	ct := r.Header.Get(echo.HeaderContentType)
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil {
		mt = ""
	}
	switch mt {
	case echo.MIMEApplicationJSON:
		return decodeJSONLookup(r.Body)
	case echo.MIMEApplicationForm, echo.MIMEMultipartForm:
		// ParseForm for urlencoded bodies: ParseMultipartForm hides its
		// errors behind ErrNotMultipart.
		parse := r.ParseForm
		if mt == echo.MIMEMultipartForm {
			parse = func() error { return r.ParseMultipartForm(64 << 10) }
		}
		if err := parse(); err != nil {
			if isTooLarge(err) {
				return lookup{}, problem(http.StatusRequestEntityTooLarge, "request body too large")
			}
			return lookup{}, invalid(InvalidParam{Name: "body", Reason: "malformed form body"})
		}
		return lookup{TrackingNumber: r.FormValue("tracking_number"), Carrier: r.FormValue("carrier")}, nil
	default:
		p := problem(http.StatusUnsupportedMediaType,
			"send the lookup as application/json, application/x-www-form-urlencoded or multipart/form-data")
		return lookup{}, p
	}
}

func decodeJSONLookup(body io.Reader) (lookup, error) {
	raw, err := io.ReadAll(body)
	if err != nil {
		if isTooLarge(err) {
			return lookup{}, problem(http.StatusRequestEntityTooLarge, "request body too large")
		}
		return lookup{}, invalid(InvalidParam{Name: "body", Reason: "could not be read"})
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return lookup{}, invalid(InvalidParam{Name: "body", Reason: "empty; send a JSON object with tracking_number and carrier"})
	}
	// Decode into generic values first so a wrong type names its field;
	// one pass, as this is every POST lookup's cost.
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		return lookup{}, invalid(InvalidParam{Name: "body", Reason: "malformed JSON: " + jsonReason(err)})
	}
	var l lookup
	var bad []InvalidParam
	for _, f := range []struct {
		name string
		dst  *string
	}{{"tracking_number", &l.TrackingNumber}, {"carrier", &l.Carrier}} {
		switch v := fields[f.name].(type) {
		case nil: // absent or null: reported as missing later
		case string:
			*f.dst = v
		default:
			bad = append(bad, InvalidParam{Name: f.name, Reason: "must be a string"})
		}
	}
	if len(bad) > 0 {
		return lookup{}, invalid(bad...)
	}
	return l, nil
}

func jsonReason(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return "syntax error at byte " + strconv.FormatInt(se.Offset, 10)
	case errors.As(err, &te):
		return "expected a JSON object"
	}
	return "could not be parsed"
}

func isTooLarge(err error) bool {
	var mbe *http.MaxBytesError
	var he *echo.HTTPError
	return errors.As(err, &mbe) || (errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge)
}
