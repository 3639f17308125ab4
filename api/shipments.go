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
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/shiptrack/shiptrack/shipment"
	"github.com/shiptrack/shiptrack/valid"
)

const (
	defaultLimit = 100
	maxLimit     = 1000
)

// listShipments serves GET /shipment/: one keyset-paginated page, with a
// Link header to the next page when more remain.
func (s *Server) listShipments(c echo.Context) error {
	p, err := parseListParams(c.QueryParams())
	if err != nil {
		return err
	}
	path := c.Request().URL.Path
	r, err := s.reads.List(c.Request().Context(), wantsFresh(c), path, p)
	if err != nil {
		return err
	}
	if r.hit != nil {
		return sendCached(c, r.hit)
	}
	out := make([]ShipmentJSON, len(r.v.Shipments))
	for i, sh := range r.v.Shipments {
		out[i] = toJSON(sh, r.now, s.staleAfter)
	}
	if link := nextLink(path, p, r.v.NextCursor); link != "" {
		c.Response().Header().Set("Link", link)
		if r.slot != nil {
			r.slot.link = link
		}
	}
	return s.answer(c, out, r.slot)
}

// parseListParams reads a page request from the query.
func parseListParams(q url.Values) (shipment.ListParams, error) {
	p := shipment.ListParams{Limit: defaultLimit, Cursor: q.Get("cursor"), Carrier: q.Get("carrier"), Status: q.Get("status")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			return p, invalid(InvalidParam{Name: "limit", Reason: "must be a whole number from 1 to 1000"})
		}
		p.Limit = n
	}
	bad := checkTexts(field{"carrier", p.Carrier, valid.Carrier}, field{"cursor", p.Cursor, valid.Cursor})
	if p.Status != "" && !shipment.IsStatus(p.Status) {
		bad = append(bad, InvalidParam{Name: "status", Reason: "must be one of " + strings.Join(shipment.Statuses, ", ")})
	}
	if v := q.Get("updated_since"); v != "" {
		t, err := parseTime(v)
		if err != nil {
			bad = append(bad, InvalidParam{Name: "updated_since", Reason: err.Error()})
		}
		p.UpdatedSince = t
	}
	if len(bad) > 0 {
		return p, invalid(bad...)
	}
	return p, nil
}

// nextLink is the Link header to the page after p, asked on path, or ""
// when p is the last.
func nextLink(path string, p shipment.ListParams, cursor string) string {
	if cursor == "" {
		return ""
	}
	next := url.Values{}
	next.Set("limit", strconv.Itoa(p.Limit))
	next.Set("cursor", cursor)
	if p.Carrier != "" {
		next.Set("carrier", p.Carrier)
	}
	if p.Status != "" {
		next.Set("status", p.Status)
	}
	if !p.UpdatedSince.IsZero() {
		next.Set("updated_since", p.UpdatedSince.Format(time.RFC3339Nano))
	}
	return "<" + path + "?" + next.Encode() + `>; rel="next"`
}

// sendCached sends an answer from the read cache, as it was first sent.
func sendCached(c echo.Context, e *cacheEntry) error {
	if e.link != "" {
		c.Response().Header().Set("Link", e.link)
	}
	return c.JSONBlob(http.StatusOK, e.body)
}

// answer sends out as JSON, and keeps the rendered bytes in the read
// cache as entry, the slot of the read (nil = not cacheable).
func (s *Server) answer(c echo.Context, out any, entry *cacheEntry) error {
	if hasQueryParam(c, "pretty") {
		return c.JSON(http.StatusOK, out)
	}
	body, err := marshalJSON(out)
	if err != nil {
		return err
	}
	s.reads.keep(entry, body)
	return c.JSONBlob(http.StatusOK, body)
}

// wantsFresh reports whether the answer must come from the database: the
// client sent Cache-Control: no-cache (or max-age=0), or asked for
// ?pretty, which the cache does not hold. A fresh answer still refills the
// cache.
func wantsFresh(c echo.Context) bool {
	if hasQueryParam(c, "pretty") {
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

// hasQueryParam reports whether the query names name. A request without a
// query (most lookups) is answered without parsing one, which would
// allocate its map.
func hasQueryParam(c echo.Context, name string) bool {
	if c.Request().URL.RawQuery == "" {
		return false
	}
	_, ok := c.QueryParams()[name]
	return ok
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
	l := lookup{Carrier: carrier, TrackingNumber: tn}
	if c.Request().URL.RawQuery != "" {
		if v, ok := c.QueryParams()["events"]; ok {
			if len(v) != 1 || v[0] != "all" {
				return invalid(InvalidParam{Name: "events", Reason: `must be "all" (every event; without it, the latest 20)`})
			}
			return s.respondAllEvents(c, l)
		}
	}
	return s.respondShipment(c, l)
}

// respondAllEvents answers a lookup with every event of the shipment. It
// reads past the read cache, which holds the usual answer (the latest
// events) only: such answers are rare and may be long.
func (s *Server) respondAllEvents(c echo.Context, l lookup) error {
	l, err := l.checked()
	if err != nil {
		return err
	}
	if s.cfg.Writer == nil {
		return problem(http.StatusNotImplemented, "this server does not keep tracking events")
	}
	ctx := c.Request().Context()
	now := s.cfg.Now()
	sh, err := s.cfg.Shipments.Get(ctx, l.Carrier, l.TrackingNumber)
	if err != nil {
		return err
	}
	events, err := s.cfg.Writer.Events(ctx, sh.Carrier, sh.TrackingNumber)
	if err != nil {
		return err
	}
	sh.Events = events
	sh.EventCount = len(events)
	return s.answer(c, toLookupJSON(sh, now, s.staleAfter), nil)
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
	l, err := l.checked()
	if err != nil {
		return err
	}
	r, err := s.reads.Get(c.Request().Context(), wantsFresh(c), l.Carrier, l.TrackingNumber)
	if err != nil {
		return err
	}
	if r.hit != nil {
		return sendCached(c, r.hit)
	}
	return s.answer(c, toLookupJSON(r.v, r.now, s.staleAfter), r.slot)
}

// checked is l trimmed, or a problem naming each field that is missing or
// breaks the text rule.
func (l lookup) checked() (lookup, error) {
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
		return l, invalid(bad...)
	}
	return l, nil
}

// decodeLookup reads a lookup from a JSON, urlencoded or multipart body.
// Every failure is a *Problem naming what is wrong.
func decodeLookup(r *http.Request) (lookup, error) {
	ct := r.Header.Get(echo.HeaderContentType)
	// The exact common header skips ParseMediaType, which allocates a
	// parameter map for every request; it answers the same for it.
	mt := echo.MIMEApplicationJSON
	if ct != mt {
		var err error
		mt, _, err = mime.ParseMediaType(ct)
		if ct == "" || err != nil {
			mt = ""
		}
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
				return lookup{}, problem(http.StatusRequestEntityTooLarge, bodyTooLarge)
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
			return lookup{}, problem(http.StatusRequestEntityTooLarge, bodyTooLarge)
		}
		return lookup{}, invalid(InvalidParam{Name: "body", Reason: "could not be read"})
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return lookup{}, invalid(InvalidParam{Name: "body", Reason: "empty; send a JSON object with tracking_number and carrier"})
	}
	if l, ok := flatJSONLookup(raw); ok {
		return l, nil
	}
	return mapJSONLookup(raw)
}

// mapJSONLookup decodes any JSON body: generic values first so a wrong
// type names its field. Its answers (and messages) are the contract;
// flatJSONLookup only takes a short cut for bodies it answers alike.
func mapJSONLookup(raw []byte) (lookup, error) {
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

// flatJSONLookup decodes the common body, one flat object whose values
// are strings without escapes or null, with no allocation beyond the two
// strings; ok is false for anything else, which mapJSONLookup decodes.
// For the bodies it takes it answers what mapJSONLookup does: keys match
// exactly (not case-folded as in struct decoding), the last of duplicate
// keys wins, null is absent, other keys are ignored. FuzzDecodeLookup
// checks the two agree.
func flatJSONLookup(raw []byte) (l lookup, ok bool) {
	i := skipJSONSpace(raw, 0)
	if i == len(raw) || raw[i] != '{' {
		return l, false
	}
	i = skipJSONSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return l, skipJSONSpace(raw, i+1) == len(raw)
	}
	for {
		k0, k1, ok := flatJSONString(raw, i)
		if !ok {
			return l, false
		}
		i = skipJSONSpace(raw, k1+1)
		if i == len(raw) || raw[i] != ':' {
			return l, false
		}
		i = skipJSONSpace(raw, i+1)
		var v string
		switch {
		case i < len(raw) && raw[i] == '"':
			v0, v1, ok := flatJSONString(raw, i)
			if !ok {
				return l, false
			}
			if key := raw[k0:k1]; string(key) == "tracking_number" || string(key) == "carrier" {
				v = string(raw[v0:v1])
			}
			i = v1 + 1
		case bytes.HasPrefix(raw[i:], []byte("null")):
			i += len("null")
		default:
			return l, false
		}
		switch string(raw[k0:k1]) {
		case "tracking_number":
			l.TrackingNumber = v
		case "carrier":
			l.Carrier = v
		}
		i = skipJSONSpace(raw, i)
		switch {
		case i == len(raw):
			return l, false
		case raw[i] == ',':
			i = skipJSONSpace(raw, i+1)
		case raw[i] == '}':
			return l, skipJSONSpace(raw, i+1) == len(raw)
		default:
			return l, false
		}
	}
}

// flatJSONString finds the JSON string starting at raw[i] ('"'): its
// contents are raw[start:end] and raw[end] is the closing quote. ok is
// false for escapes, control characters and invalid UTF-8, whose decoding
// is left to encoding/json.
func flatJSONString(raw []byte, i int) (start, end int, ok bool) {
	if i >= len(raw) || raw[i] != '"' {
		return 0, 0, false
	}
	ascii := true
	for j := i + 1; j < len(raw); j++ {
		switch c := raw[j]; {
		case c == '"':
			if !ascii && !utf8.Valid(raw[i+1:j]) {
				return 0, 0, false
			}
			return i + 1, j, true
		case c == '\\' || c < 0x20:
			return 0, 0, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return 0, 0, false
}

// skipJSONSpace is the index of the first byte at or after i that is not
// JSON whitespace.
func skipJSONSpace(raw []byte, i int) int {
	for i < len(raw) {
		switch raw[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
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
