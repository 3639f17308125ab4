package api

import (
	"cmp"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shiptrack/shiptrack/shipment"
	"github.com/shiptrack/shiptrack/valid"
)

// Limits of the write routes (issue 15), documented in the README and
// openapi.json.
const (
	// MaxEventBatch is the most events one request may carry (POST /events
	// or an array to POST /shipment/{carrier}/{tracking_number}/events).
	MaxEventBatch = 2000
	// WriteBodyLimit is the write routes' body limit: a full batch of
	// MaxEventBatch events with every text at its longest (about 2 KB of
	// JSON each) fits with room for indentation and non-ASCII text (4 KiB
	// an event), and no body much larger does. Lookups keep
	// Config.BodyLimit.
	WriteBodyLimit = "8M"
	// maxArticles bounds a PUT's articles; maxQuantity one's quantity.
	maxArticles = 1000
	maxQuantity = 1_000_000
)

// writeRoutes are the route paths that take WriteBodyLimit instead of the
// default body limit.
var writeRoutes = map[string]bool{
	"/shipment/:carrier/:tracking_number":        true, // PUT; GET and POST on it take no body worth the limit
	"/shipment/:carrier/:tracking_number/events": true,
	"/events": true,
}

// isWriteRoute is the default body limit's skipper.
func isWriteRoute(c echo.Context) bool {
	return c.Request().Method != http.MethodGet && c.Request().Method != http.MethodHead && writeRoutes[c.Path()]
}

// parseTime reads an RFC 3339 time, which must carry its offset ("Z" or
// "+01:00"), as UTC. Digits past the microsecond are dropped: the
// databases keep microseconds, and an event must compare equal to itself
// when it is sent again.
func parseTime(v string) (time.Time, error) {
	if err := valid.Text(v, 64); err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, errors.New("must be an RFC 3339 time with an offset, e.g. 2026-12-02T08:15:00+01:00 or 2026-12-02T07:15:00Z")
	}
	return t.UTC().Truncate(time.Microsecond), nil
}

// requireJSON refuses a write body that is not declared as JSON.
func requireJSON(c echo.Context) error {
	mt, _, err := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	if err != nil || mt != echo.MIMEApplicationJSON {
		return problem(http.StatusUnsupportedMediaType, "send the body as application/json")
	}
	return nil
}

// shipmentPath is the shipment named by the route's path, checked like a
// lookup's.
func shipmentPath(c echo.Context) (lookup, error) {
	carrier, err1 := pathParam(c, "carrier")
	tn, err2 := pathParam(c, "tracking_number")
	if err1 != nil || err2 != nil {
		return lookup{}, invalid(InvalidParam{Name: "path", Reason: "malformed escape"})
	}
	return lookup{Carrier: carrier, TrackingNumber: tn}.checked()
}

// putShipment serves PUT /shipment/{carrier}/{tracking_number}: creates or
// replaces the shipment's addresses and articles; 201 when created, 200
// otherwise (a replay changes nothing, updated_at included).
func (s *Server) putShipment(c echo.Context) error {
	l, err := shipmentPath(c)
	if err != nil {
		return err
	}
	if err := requireJSON(c); err != nil {
		return err
	}
	in, err := decodePut(c.Request().Body)
	if err != nil {
		return err
	}
	in.Carrier, in.TrackingNumber = l.Carrier, l.TrackingNumber
	res, err := s.cfg.Writer.Put(c.Request().Context(), in)
	if err != nil {
		return err
	}
	if res.Changed || res.Created {
		s.wrote()
	}
	status := http.StatusOK
	if res.Created {
		status = http.StatusCreated
	}
	return s.answerShipment(c, status, l)
}

// wrote empties this server's read cache after a committed write, as the
// change feed will when the write's notice arrives: so the writer's next
// lookup on this replica shows it at once, not after the feed's delay
// (other replicas still wait for the feed; README "Read cache").
func (s *Server) wrote() {
	if s.cfg.Cache != nil {
		s.cfg.Cache.Apply(shipment.Change{Kind: shipment.ChangeShipments})
	}
}

// answerShipment answers a write with the shipment as a lookup now
// returns it, read from the store past the read cache (whose invalidation
// by the change feed may not have arrived yet).
func (s *Server) answerShipment(c echo.Context, status int, l lookup) error {
	now := s.cfg.Now()
	sh, err := s.cfg.Shipments.Get(c.Request().Context(), l.Carrier, l.TrackingNumber)
	if err != nil {
		return err
	}
	return c.JSON(status, toLookupJSON(sh, now, s.staleAfter))
}

// decodePut reads and checks a PUT body.
func decodePut(body io.Reader) (shipment.ShipmentInput, error) {
	r := newStrictReader(body)
	var in shipment.ShipmentInput
	var haveArticles bool
	var prices []string
	first, err := r.dec.Token()
	if errors.Is(err, io.EOF) {
		return in, invalid(InvalidParam{Name: "body", Reason: "empty; send a JSON object with sender_address, receiver_address and articles"})
	}
	if err != nil {
		return in, r.bodyError(err)
	}
	isObject, err := r.objectFrom(first, "", func(key, name string) (bool, error) {
		switch key {
		case "sender_address":
			return true, r.str(name, &in.SenderAddress)
		case "receiver_address":
			return true, r.str(name, &in.ReceiverAddress)
		case "articles":
			t, err := r.token()
			if err != nil || t == nil {
				return true, err
			}
			haveArticles = true
			if t != json.Delim('[') {
				return true, r.wrongType(name, "an array of articles", t)
			}
			for i := 0; r.dec.More(); i++ {
				an := indexName(name, i)
				var a shipment.Article
				var price string
				if i == maxArticles {
					r.fail(name, "more than "+strconv.Itoa(maxArticles)+" articles")
				}
				_, err := r.object(an, func(key, name string) (bool, error) {
					switch key {
					case "name":
						return true, r.str(name, &a.Name)
					case "sku":
						return true, r.str(name, &a.SKU)
					case "quantity":
						t, err := r.token()
						if err != nil || t == nil {
							return true, err
						}
						n, ok := t.(json.Number)
						q, err := strconv.Atoi(string(n))
						if !ok || err != nil || q < 1 || q > maxQuantity {
							r.fail(name, "must be a whole number from 1 to "+strconv.Itoa(maxQuantity))
							return true, r.skipAfter(t)
						}
						a.Quantity = q
						return true, nil
					case "price":
						t, err := r.token()
						if err != nil || t == nil {
							return true, err
						}
						switch v := t.(type) {
						case json.Number:
							price = string(v)
						case string:
							price = v
						default:
							return true, r.wrongType(name, `a decimal string ("19.99") or number`, t)
						}
						if price == "" {
							price = " " // present but empty: not "is required"
						}
						return true, nil
					}
					return false, nil
				})
				if err != nil {
					return true, err
				}
				in.Articles = append(in.Articles, a)
				prices = append(prices, price)
			}
			_, err = r.token() // ']'
			return true, err
		}
		return false, nil
	})
	if err != nil {
		return in, err
	}
	if err := r.end(); err != nil {
		return in, err
	}
	if !isObject {
		return in, invalid(r.bad...)
	}
	in.SenderAddress = strings.TrimSpace(in.SenderAddress)
	in.ReceiverAddress = strings.TrimSpace(in.ReceiverAddress)
	required(r, "sender_address", in.SenderAddress, valid.Address)
	required(r, "receiver_address", in.ReceiverAddress, valid.Address)
	if loc, ok := shipment.ParseLocation(in.ReceiverAddress); ok && !hasParam(r.bad, "receiver_address") {
		// The store keeps the parsed location in its own columns: the
		// same check the CSV import makes.
		for _, p := range []field{{"postal code", loc.PostalCode, valid.PostalCode}, {"city", loc.City, valid.City},
			{"country", loc.Country, valid.Country}, {"postal code, city and country together", loc.Key(), valid.LocationKey}} {
			if err := valid.Text(p.v, p.max); err != nil {
				r.fail("receiver_address", p.name+": "+err.Error())
				break
			}
		}
	}
	if !haveArticles {
		r.fail("articles", "is required (an array; [] for none)")
	}
	for i := range in.Articles {
		a := &in.Articles[i]
		an := indexName("articles", i)
		a.Name, a.SKU = strings.TrimSpace(a.Name), strings.TrimSpace(a.SKU)
		required(r, an+".name", a.Name, valid.ArticleName)
		if err := valid.Text(a.SKU, valid.SKU); err != nil {
			r.fail(an+".sku", err.Error())
		}
		if a.Quantity == 0 && !hasParam(r.bad, an+".quantity") {
			r.fail(an+".quantity", "is required")
		}
		switch p := prices[i]; {
		case hasParam(r.bad, an+".price"): // of a wrong type: named already
		case p == "":
			r.fail(an+".price", "is required")
		default:
			m, err := shipment.ParseMoney(p)
			if err != nil || valid.Text(p, 32) != nil {
				r.fail(an+".price", `must be a non-negative decimal with at most 2 decimals, e.g. "19.99"`)
				continue
			}
			a.Price = m
		}
	}
	if len(r.bad) > 0 {
		return in, invalid(r.bad...)
	}
	return in, nil
}

// required checks a text that must be present.
func required(r *strictReader, name, v string, max int) {
	if v == "" {
		if !hasParam(r.bad, name) {
			r.fail(name, "is required")
		}
		return
	}
	if err := valid.Text(v, max); err != nil {
		r.fail(name, err.Error())
	}
}

func hasParam(ps []InvalidParam, name string) bool {
	for _, p := range ps {
		if p.Name == name {
			return true
		}
	}
	return false
}

// eventBody is one event as a write sends it; null and absent are "".
type eventBody struct {
	Carrier, TrackingNumber                                    string
	EventID, OccurredAt, StatusText, Status, Location, Message string
}

// eventMember reads one member of an event object into e; batch items
// also carry their shipment.
func (r *strictReader) eventMember(e *eventBody, batch bool) func(key, name string) (bool, error) {
	fields := map[string]*string{
		"event_id": &e.EventID, "occurred_at": &e.OccurredAt, "status_text": &e.StatusText,
		"status": &e.Status, "location": &e.Location, "message": &e.Message,
	}
	if batch {
		fields["carrier"], fields["tracking_number"] = &e.Carrier, &e.TrackingNumber
	}
	return func(key, name string) (bool, error) {
		dst, ok := fields[key]
		if !ok {
			return false, nil
		}
		return true, r.str(name, dst)
	}
}

// check turns a decoded event into the store's form, recording every bad
// field under prefix ("" for a lone event, "[3]" for an array's fourth).
func (e eventBody) check(r *strictReader, prefix string, batch bool, now time.Time) shipment.EventInput {
	n := func(f string) string { return joinName(prefix, f) }
	out := shipment.EventInput{Carrier: strings.TrimSpace(e.Carrier), TrackingNumber: strings.TrimSpace(e.TrackingNumber)}
	if batch {
		required(r, n("carrier"), out.Carrier, valid.Carrier)
		required(r, n("tracking_number"), out.TrackingNumber, valid.TrackingNumber)
	}
	ev := &out.Event
	ev.Source = shipment.SourceAPI
	ev.EventID = e.EventID
	if err := valid.Text(ev.EventID, valid.EventID); err != nil {
		r.fail(n("event_id"), err.Error())
	}
	switch {
	case e.OccurredAt == "":
		required(r, n("occurred_at"), "", 0)
	default:
		t, err := parseTime(e.OccurredAt)
		switch {
		case err != nil:
			r.fail(n("occurred_at"), err.Error())
		case t.After(now.Add(shipment.MaxEventFuture)):
			r.fail(n("occurred_at"), "is more than 24 hours in the future")
		}
		ev.OccurredAt = t
	}
	ev.StatusText = strings.TrimSpace(e.StatusText)
	required(r, n("status_text"), ev.StatusText, valid.StatusText)
	switch {
	case e.Status == "":
		ev.Status = shipment.NormalizeStatus(ev.StatusText)
	case shipment.IsStatus(e.Status):
		ev.Status = e.Status
	default:
		r.fail(n("status"), "must be one of "+reasonList(shipment.Statuses)+" (or left out, to be derived from status_text)")
	}
	ev.Location, ev.Message = strings.TrimSpace(e.Location), strings.TrimSpace(e.Message)
	if err := valid.Text(ev.Location, valid.EventLocation); err != nil {
		r.fail(n("location"), err.Error())
	}
	if err := valid.Text(ev.Message, valid.Message); err != nil {
		r.fail(n("message"), err.Error())
	}
	return out
}

// decodeEvents reads the events of a write: one object (when one is
// allowed; single reports it) or an array of at most MaxEventBatch.
func decodeEvents(body io.Reader, batch bool, now time.Time) (events []shipment.EventInput, single bool, err error) {
	r := newStrictReader(body)
	first, err := r.dec.Token()
	if errors.Is(err, io.EOF) {
		return nil, false, invalid(InvalidParam{Name: "body", Reason: "empty; send an event object or an array of them"})
	}
	if err != nil {
		return nil, false, r.bodyError(err)
	}
	var raw []eventBody
	var ok []bool
	switch {
	case first == json.Delim('[') || batch:
		if first != json.Delim('[') {
			if err := r.wrongType("body", "an array of events, each with carrier and tracking_number", first); err != nil {
				return nil, false, err
			}
			break
		}
		for i := 0; r.dec.More(); i++ {
			if i == MaxEventBatch {
				return nil, false, problem(http.StatusRequestEntityTooLarge,
					"more than "+strconv.Itoa(MaxEventBatch)+" events in one request; split the batch")
			}
			var e eventBody
			good, err := r.object(indexName("", i), r.eventMember(&e, batch))
			if err != nil {
				return nil, false, err
			}
			raw, ok = append(raw, e), append(ok, good)
		}
		if _, err := r.token(); err != nil { // ']'
			return nil, false, err
		}
		if len(raw) == 0 && len(r.bad) == 0 {
			r.fail("body", "an empty array; send at least one event")
		}
	default:
		single = true
		var e eventBody
		good, err := r.objectFrom(first, "", r.eventMember(&e, false))
		if err != nil {
			return nil, false, err
		}
		raw, ok = append(raw, e), append(ok, good)
	}
	if err := r.end(); err != nil {
		return nil, false, err
	}
	events = make([]shipment.EventInput, 0, len(raw))
	for i, e := range raw {
		prefix := ""
		if !single {
			prefix = indexName("", i)
		}
		if !ok[i] {
			continue // not an object: already named
		}
		events = append(events, e.check(r, prefix, batch, now))
	}
	if len(r.bad) > 0 {
		// In item order: what the parse found and what the checks found
		// were collected apart.
		slices.SortStableFunc(r.bad, func(a, b InvalidParam) int { return cmp.Compare(itemIndex(a.Name), itemIndex(b.Name)) })
		return nil, single, invalid(r.bad...)
	}
	return events, single, nil
}

// itemIndex is the index an invalid_params name starts with ("[3].x"),
// or -1.
func itemIndex(name string) int {
	rest, ok := strings.CutPrefix(name, "[")
	n, _, ok2 := strings.Cut(rest, "]")
	i, err := strconv.Atoi(n)
	if !ok || !ok2 || err != nil {
		return -1
	}
	return i
}

// repeatedIDs names the events of one request that repeat an earlier
// one's event_id for the same shipment with other content: whichever the
// store met first would win, so the request is refused instead. An exact
// repeat is harmless (recorded once).
func repeatedIDs(events []shipment.EventInput, single bool) error {
	type k struct{ carrier, tn, id string }
	first := make(map[k]int, len(events))
	var bad []InvalidParam
	for i, e := range events {
		if e.EventID == "" {
			continue
		}
		key := k{shipment.CarrierKey(e.Carrier), shipment.NormalizeTrackingNumber(e.TrackingNumber), e.EventID}
		j, ok := first[key]
		if !ok {
			first[key] = i
			continue
		}
		if !events[j].SameContent(e.Event) {
			bad = append(bad, InvalidParam{Name: indexName("", i) + ".event_id",
				Reason: "repeats the event_id of item " + strconv.Itoa(j) + " with different content"})
		}
	}
	if len(bad) > 0 && !single {
		return invalid(bad...)
	}
	return nil
}

// postShipmentEvents serves POST /shipment/{carrier}/{tracking_number}/events:
// one event or an array, all-or-nothing; 201 when any was new, 200 when
// every one was already recorded (a retry), with the shipment.
func (s *Server) postShipmentEvents(c echo.Context) error {
	l, err := shipmentPath(c)
	if err != nil {
		return err
	}
	if err := requireJSON(c); err != nil {
		return err
	}
	events, single, err := decodeEvents(c.Request().Body, false, s.cfg.Now())
	if err != nil {
		return err
	}
	for i := range events {
		events[i].Carrier, events[i].TrackingNumber = l.Carrier, l.TrackingNumber
	}
	_, status, err := s.appendEvents(c, events, single, false)
	if err != nil {
		return err
	}
	return s.answerShipment(c, status, l)
}

// appendEvents records a write's decoded events: 201 when any was new
// (the server's own cached answers are dropped then), 200 when all were
// already recorded, or the problem naming the bad items.
func (s *Server) appendEvents(c echo.Context, events []shipment.EventInput, single, batch bool) (shipment.AppendResult, int, error) {
	if err := repeatedIDs(events, single); err != nil {
		return shipment.AppendResult{}, 0, err
	}
	res, err := s.cfg.Writer.AppendEvents(c.Request().Context(), events)
	if err != nil {
		return res, 0, itemProblem(err, single, batch)
	}
	if res.Created == 0 {
		return res, http.StatusOK, nil
	}
	s.wrote()
	return res, http.StatusCreated, nil
}

// BatchResultJSON answers POST /events.
type BatchResultJSON struct {
	Created   int `json:"created"`
	Unchanged int `json:"unchanged"`
}

// postEvents serves POST /events: a carrier feed's batch for many
// shipments, all-or-nothing; 201 when any event was new, 200 otherwise.
func (s *Server) postEvents(c echo.Context) error {
	if err := requireJSON(c); err != nil {
		return err
	}
	events, _, err := decodeEvents(c.Request().Body, true, s.cfg.Now())
	if err != nil {
		return err
	}
	res, status, err := s.appendEvents(c, events, false, true)
	if err != nil {
		return err
	}
	return c.JSON(status, BatchResultJSON{Created: res.Created, Unchanged: res.Unchanged})
}

// itemProblem turns the store's refusal of a batch into problem+json
// naming each bad item: 409 when an event_id is taken by other content,
// 404 when the one shipment of the per-shipment route is unknown, 400 for
// unknown shipments of a batch (the request, not a resource, is wrong).
// Other errors pass through to the error handler.
func itemProblem(err error, single, batch bool) error {
	var items shipment.ItemErrors
	if !errors.As(err, &items) {
		return err
	}
	if !batch && errors.Is(err, shipment.ErrNotFound) {
		return shipment.ErrNotFound // the route's shipment: 404
	}
	params := make([]InvalidParam, 0, len(items))
	for _, it := range items {
		name := ""
		if !single {
			name = indexName("", it.Index)
		}
		if it.Field != "" {
			name = joinName(name, it.Field)
		}
		reason := it.Err.Error()
		switch {
		case errors.Is(it.Err, shipment.ErrNotFound):
			reason = "no shipment with this carrier and tracking number; create it first (PUT /shipment/{carrier}/{tracking_number})"
		case errors.Is(it.Err, shipment.ErrEventConflict):
			reason = "this event_id is already recorded for the shipment with different content"
		}
		params = append(params, InvalidParam{Name: orBody(name), Reason: reason})
	}
	p := invalid(params...)
	if errors.Is(err, shipment.ErrEventConflict) {
		p.Status, p.Title = http.StatusConflict, http.StatusText(http.StatusConflict)
	}
	return p
}
