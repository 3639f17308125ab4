package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shiptrack/shiptrack/api"
	"github.com/shiptrack/shiptrack/internal/mock"
	"github.com/shiptrack/shiptrack/shipment"
)

const (
	writeToken = "write-secret"
	readToken  = "read-secret"
)

// fakeWrites is a Writer and Shipments in memory, enough for the API's
// side of writes: it records what reached it, knows the shipments it was
// given, and keeps events by (shipment, event_id) as the store does.
type fakeWrites struct {
	mu        sync.Mutex
	shipments map[string]*shipment.Shipment
	events    map[string][]shipment.Event // newest first
	appends   [][]shipment.EventInput
	puts      []shipment.ShipmentInput
}

func key(carrier, tn string) string {
	return shipment.CarrierKey(carrier) + "\x00" + shipment.NormalizeTrackingNumber(tn)
}

func newFakeWrites() *fakeWrites {
	f := &fakeWrites{shipments: map[string]*shipment.Shipment{}, events: map[string][]shipment.Event{}}
	f.shipments[key("DHL", "TN1")] = &shipment.Shipment{Carrier: "DHL", TrackingNumber: "TN1", Status: shipment.StatusPending,
		SenderAddress: "a", ReceiverAddress: "b", CreatedAt: time.Unix(0, 0), UpdatedAt: time.Unix(0, 0)}
	return f
}

func (f *fakeWrites) writer() *mock.Writer {
	return &mock.Writer{
		PutFn: func(_ context.Context, in shipment.ShipmentInput) (shipment.PutResult, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.puts = append(f.puts, in)
			k := key(in.Carrier, in.TrackingNumber)
			old, ok := f.shipments[k]
			if !ok {
				now := time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC)
				old = &shipment.Shipment{Carrier: in.Carrier, TrackingNumber: in.TrackingNumber, Status: shipment.StatusPending,
					CreatedAt: now, UpdatedAt: now}
				f.shipments[k] = old
			}
			old.SenderAddress, old.ReceiverAddress, old.Articles = in.SenderAddress, in.ReceiverAddress, in.Articles
			return shipment.PutResult{Shipment: *old, Created: !ok, Changed: true}, nil
		},
		AppendEventsFn: func(_ context.Context, evs []shipment.EventInput) (shipment.AppendResult, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.appends = append(f.appends, evs)
			var bad shipment.ItemErrors
			var res shipment.AppendResult
			for i, e := range evs {
				k := key(e.Carrier, e.TrackingNumber)
				if f.shipments[k] == nil {
					bad = append(bad, shipment.ItemError{Index: i, Field: "tracking_number", Err: shipment.ErrNotFound})
					continue
				}
				if e.EventID == "" {
					e.EventID = e.ContentID()
				}
				for _, old := range f.events[k] {
					if old.EventID == e.EventID && !old.SameContent(e.Event) {
						bad = append(bad, shipment.ItemError{Index: i, Field: "event_id", Err: shipment.ErrEventConflict})
					}
				}
			}
			if len(bad) > 0 {
				return res, bad
			}
		next:
			for _, e := range evs {
				k := key(e.Carrier, e.TrackingNumber)
				if e.EventID == "" {
					e.EventID = e.ContentID()
				}
				for _, old := range f.events[k] {
					if old.EventID == e.EventID {
						res.Unchanged++
						continue next
					}
				}
				res.Created++
				f.events[k] = append([]shipment.Event{e.Event}, f.events[k]...)
				sh := f.shipments[k]
				sh.Status, sh.StatusText = e.Status, e.StatusText
			}
			return res, nil
		},
		EventsFn: func(_ context.Context, carrier, tn string) ([]shipment.Event, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.shipments[key(carrier, tn)] == nil {
				return nil, shipment.ErrNotFound
			}
			return append([]shipment.Event(nil), f.events[key(carrier, tn)]...), nil
		},
	}
}

func (f *fakeWrites) reads() *mock.Shipments {
	return &mock.Shipments{
		GetFn: func(_ context.Context, carrier, tn string) (shipment.Shipment, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			sh := f.shipments[key(carrier, tn)]
			if sh == nil {
				return shipment.Shipment{}, shipment.ErrNotFound
			}
			out := *sh
			evs := f.events[key(carrier, tn)]
			out.EventCount = len(evs)
			out.Events = evs[:min(len(evs), shipment.LatestEvents)]
			return out, nil
		},
		ListFn: func(context.Context, shipment.ListParams) (shipment.Page, error) { return shipment.Page{}, nil },
	}
}

func (f *fakeWrites) appendCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.appends)
}

// writeServer serves the API over HTTP with f as its store.
func writeServer(t *testing.T, f *fakeWrites, cfg api.Config) *httptest.Server {
	t.Helper()
	cfg.Shipments, cfg.Writer = f.reads(), f.writer()
	if cfg.WriteTokens == nil {
		cfg.WriteTokens = []string{writeToken}
	}
	srv := httptest.NewServer(api.New(cfg))
	t.Cleanup(srv.Close)
	return srv
}

func doAuth(t *testing.T, method, u, token, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

const goodEvent = `{"event_id":"e1","occurred_at":"2026-12-01T08:15:00+01:00","status_text":"inbound-scan","location":"Berlin","message":"sorted"}`

func TestWriteTokens(t *testing.T) {
	t.Parallel()
	f := newFakeWrites()
	srv := writeServer(t, f, api.Config{Tokens: []string{readToken, "both"}, WriteTokens: []string{writeToken, "both"}})
	off := writeServer(t, f, api.Config{WriteTokens: []string{}})
	ev := srv.URL + "/shipment/DHL/TN1/events"
	for _, tt := range []struct {
		name, url, method, token, body string
		status                         int
	}{
		{"no token", ev, "POST", "", goodEvent, 401},
		{"wrong token", ev, "POST", "nope", goodEvent, 401},
		{"read token writes", ev, "POST", readToken, goodEvent, 403},
		{"write token writes", ev, "POST", writeToken, goodEvent, 201},
		{"write token on batch", srv.URL + "/events", "POST", writeToken, `[]`, 400},
		{"no token on batch", srv.URL + "/events", "POST", "", `[]`, 401},
		{"no token on put", srv.URL + "/shipment/DHL/TN9", "PUT", "", `{}`, 401},
		{"write token does not list", srv.URL + "/shipment/", "GET", writeToken, "", 401},
		{"read token lists", srv.URL + "/shipment/", "GET", readToken, "", 200},
		{"a token in both lists lists", srv.URL + "/shipment/", "GET", "both", "", 200},
		{"no write tokens: closed", off.URL + "/shipment/DHL/TN1/events", "POST", writeToken, goodEvent, 403},
		{"no write tokens: closed without one", off.URL + "/events", "POST", "", `[]`, 403},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := doAuth(t, tt.method, tt.url, tt.token, tt.body)
			if tt.status >= 400 {
				assertProblem(t, r, tt.status)
				return
			}
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
		})
	}
	if got := f.appendCalls(); got != 1 {
		t.Errorf("the store saw %d appends, want only the authorised one", got)
	}
}

// TestWriteTokenFailuresAreLimited: failed write-token attempts count
// towards the same per-client limit as the list's.
func TestWriteTokenFailuresAreLimited(t *testing.T) {
	t.Parallel()
	f := newFakeWrites()
	srv := writeServer(t, f, api.Config{TokenFailLimit: 2, TokenFailWindow: time.Hour})
	u := srv.URL + "/shipment/DHL/TN1/events"
	for i, want := range []int{401, 401, 429} {
		r := doAuth(t, "POST", u, fmt.Sprint("guess", i), goodEvent)
		assertProblem(t, r, want)
	}
	r := doAuth(t, "POST", u, writeToken, goodEvent)
	assertProblem(t, r, 429) // a correct token is not confirmed while limited
}

func TestAppendEvents(t *testing.T) {
	t.Parallel()
	f := newFakeWrites()
	srv := writeServer(t, f, api.Config{})
	u := srv.URL + "/shipment/dhl/tn1/events"

	r := doAuth(t, "POST", u, writeToken, goodEvent)
	if r.status != 201 {
		t.Fatalf("first append = %d: %s", r.status, r.body)
	}
	got := decode[api.LookupJSON](t, r)
	if got.Status != "in_transit" || got.StatusText != "inbound-scan" || got.EventCount != 1 || len(got.Events) != 1 {
		t.Fatalf("answer %s", r.body)
	}
	e := got.Events[0]
	want := api.EventJSON{EventID: "e1", OccurredAt: "2026-12-01T07:15:00Z", Status: "in_transit", StatusText: "inbound-scan",
		Location: "Berlin", Message: "sorted", Source: "api"}
	if e != want {
		t.Errorf("event %+v, want %+v", e, want)
	}

	// A retry answers as the first did, but 200: nothing new.
	r2 := doAuth(t, "POST", u, writeToken, goodEvent)
	if r2.status != 200 || string(r2.body) != string(r.body) {
		t.Errorf("retry = %d %s, want 200 and the same shipment", r2.status, r2.body)
	}

	// An array, with an explicit status and one derived from the carrier text.
	r = doAuth(t, "POST", u, writeToken, `[{"occurred_at":"2026-12-01T09:00:00Z","status_text":"Zugestellt","status":"delivered"},
		{"occurred_at":"2026-12-01T08:30:00Z","status_text":"delivery"}]`)
	if r.status != 201 {
		t.Fatalf("array = %d %s", r.status, r.body)
	}
	f.mu.Lock()
	last := f.appends[len(f.appends)-1]
	f.mu.Unlock()
	if len(last) != 2 || last[0].Status != "delivered" || last[1].Status != "out_for_delivery" || last[1].EventID != "" ||
		last[0].Carrier != "dhl" || last[0].Source != "api" {
		t.Errorf("the store got %+v", last)
	}

	// The same event_id with other content: 409 naming it, nothing written.
	r = doAuth(t, "POST", u, writeToken, strings.Replace(goodEvent, "sorted", "lost", 1))
	p := assertProblem(t, r, 409)
	if len(p.InvalidParams) != 1 || p.InvalidParams[0].Name != "event_id" {
		t.Errorf("conflict names %+v", p.InvalidParams)
	}
	r = doAuth(t, "POST", u, writeToken, `[`+strings.Replace(goodEvent, `"e1"`, `"e9"`, 1)+`,`+strings.Replace(goodEvent, "sorted", "lost", 1)+`]`)
	if p := assertProblem(t, r, 409); len(p.InvalidParams) != 1 || p.InvalidParams[0].Name != "[1].event_id" {
		t.Errorf("conflict in an array names %+v", p.InvalidParams)
	}

	// Unknown shipment: 404.
	r = doAuth(t, "POST", srv.URL+"/shipment/DHL/NOPE/events", writeToken, goodEvent)
	assertProblem(t, r, 404)

	// Every event: ?events=all.
	r = do(t, "GET", srv.URL+"/shipment/DHL/TN1?events=all", "", "")
	if all := decode[api.LookupJSON](t, r); r.status != 200 || len(all.Events) != 3 || all.EventCount != 3 ||
		all.Events[0].Status != "out_for_delivery" {
		t.Errorf("events=all = %d %s", r.status, r.body)
	}
	assertProblem(t, do(t, "GET", srv.URL+"/shipment/DHL/TN1?events=some", "", ""), 400)
}

func TestBatchEvents(t *testing.T) {
	t.Parallel()
	f := newFakeWrites()
	srv := writeServer(t, f, api.Config{})
	u := srv.URL + "/events"
	item := func(tn, id string) string {
		return `{"carrier":"DHL","tracking_number":"` + tn + `","event_id":"` + id + `","occurred_at":"2026-12-01T08:15:00Z","status_text":"scanned"}`
	}
	r := doAuth(t, "POST", u, writeToken, `[`+item("TN1", "a")+`,`+item("TN1", "b")+`]`)
	if r.status != 201 || strings.TrimSpace(string(r.body)) != `{"created":2,"unchanged":0}` {
		t.Fatalf("batch = %d %s", r.status, r.body)
	}
	r = doAuth(t, "POST", u, writeToken, `[`+item("TN1", "a")+`,`+item("TN1", "b")+`]`)
	if r.status != 200 || strings.TrimSpace(string(r.body)) != `{"created":0,"unchanged":2}` {
		t.Fatalf("replayed batch = %d %s", r.status, r.body)
	}
	// An unknown shipment is named by its index; nothing is written.
	calls := f.appendCalls()
	r = doAuth(t, "POST", u, writeToken, `[`+item("TN1", "c")+`,`+item("NOPE", "d")+`]`)
	if p := assertProblem(t, r, 400); len(p.InvalidParams) != 1 || p.InvalidParams[0].Name != "[1].tracking_number" {
		t.Errorf("unknown shipment names %+v", p.InvalidParams)
	}
	if n := len(f.events[key("DHL", "TN1")]); n != 2 {
		t.Errorf("%d events after a refused batch, want 2", n)
	}
	_ = calls
	// A lone object is not a batch.
	assertProblem(t, doAuth(t, "POST", u, writeToken, item("TN1", "x")), 400)
}

// TestWriteBadInput is the "Bad input" list, each case refused
// with problem+json naming the field, and nothing reaching the store.
func TestWriteBadInput(t *testing.T) {
	t.Parallel()
	f := newFakeWrites()
	now := time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC)
	srv := writeServer(t, f, api.Config{Now: func() time.Time { return now }})
	one := srv.URL + "/shipment/DHL/TN1/events"
	batch := srv.URL + "/events"
	ev := func(fields string) string {
		return `{"occurred_at":"2026-12-01T08:15:00Z","status_text":"scanned"` + fields + `}`
	}
	bi := func(fields string) string {
		return `{"carrier":"DHL","tracking_number":"TN1","occurred_at":"2026-12-01T08:15:00Z","status_text":"scanned"` + fields + `}`
	}
	for _, tt := range []struct {
		name, url, body string
		status          int
		names           []string // invalid_params, in order; nil = not checked
	}{
		{"wrong type", one, ev(`,"location":5`), 400, []string{"location"}},
		{"wrong type occurred_at", one, `{"occurred_at":1733040000,"status_text":"x"}`, 400, []string{"occurred_at"}},
		{"object as text", one, ev(`,"message":{"a":[1,2]}`), 400, []string{"message"}},
		{"unknown field", one, ev(`,"colour":"red"`), 400, []string{"colour"}},
		{"carrier in the per-shipment body", one, ev(`,"carrier":"DHL"`), 400, []string{"carrier"}},
		{"duplicate key", one, `{"occurred_at":"2026-12-01T08:15:00Z","status_text":"a","status_text":"b"}`, 400, []string{"status_text"}},
		{"trailing data", one, ev(``) + ` {}`, 400, []string{"body"}},
		{"trailing garbage", one, ev(``) + `x`, 400, []string{"body"}},
		{"malformed", one, `{"occurred_at":`, 400, []string{"body"}},
		{"empty body", one, ``, 400, []string{"body"}},
		{"not an object", one, `"scanned"`, 400, []string{"body"}},
		{"no offset", one, `{"occurred_at":"2026-12-01T08:15:00","status_text":"x"}`, 400, []string{"occurred_at"}},
		{"date only", one, `{"occurred_at":"2026-12-01","status_text":"x"}`, 400, []string{"occurred_at"}},
		{"more than a day ahead", one, `{"occurred_at":"2026-12-03T07:00:01Z","status_text":"x"}`, 400, []string{"occurred_at"}},
		{"missing occurred_at", one, `{"status_text":"x"}`, 400, []string{"occurred_at"}},
		{"empty status_text", one, `{"occurred_at":"2026-12-01T08:15:00Z","status_text":""}`, 400, []string{"status_text"}},
		{"blank status_text", one, `{"occurred_at":"2026-12-01T08:15:00Z","status_text":"   "}`, 400, []string{"status_text"}},
		{"10 KB status_text", one, `{"occurred_at":"2026-12-01T08:15:00Z","status_text":"` + strings.Repeat("x", 10<<10) + `"}`, 400, []string{"status_text"}},
		{"control character", one, ev(`,"location":"a\u0000b"`), 400, []string{"location"}},
		{"long event_id", one, ev(`,"event_id":"` + strings.Repeat("i", 129) + `"`), 400, []string{"event_id"}},
		{"long message", one, ev(`,"message":"` + strings.Repeat("m", 1001) + `"`), 400, []string{"message"}},
		{"unknown status", one, ev(`,"status":"in-transit"`), 400, []string{"status"}},
		{"several bad items by index", one, `[` + ev(``) + `,` + ev(`,"status":"x"`) + `,{"status_text":"x"},` + ev(`,"nope":1`) + `]`, 400,
			[]string{"[1].status", "[2].occurred_at", "[3].nope"}},
		{"batch: missing shipment", batch, `[` + bi(``) + `,{"occurred_at":"2026-12-01T08:15:00Z","status_text":"x"}]`, 400,
			[]string{"[1].carrier", "[1].tracking_number"}},
		{"batch: bad time at index 3", batch, `[` + bi(``) + `,` + bi(``) + `,` + bi(``) + `,` + strings.Replace(bi(``), "08:15:00Z", "08:15:00", 1) + `]`, 400,
			[]string{"[3].occurred_at"}},
		{"batch: item not an object", batch, `[` + bi(``) + `,7]`, 400, []string{"[1]"}},
		{"batch: empty", batch, `[]`, 400, []string{"body"}},
		{"batch: an event_id twice with other content", batch, `[` + bi(`,"event_id":"x"`) + `,` + bi(`,"event_id":"y"`) + `,` +
			strings.Replace(bi(`,"event_id":"x"`), "scanned", "delivered", 1) + `]`, 400, []string{"[2].event_id"}},
		{"an event_id twice with other content", one, `[` + ev(`,"event_id":"x"`) + `,` + strings.Replace(ev(`,"event_id":"x"`), "scanned", "lost", 1) + `]`, 400,
			[]string{"[1].event_id"}},
		{"batch of 100,001", batch, `[` + strings.Repeat(bi(``)+`,`, 100_000) + bi(``) + `]`, 413, nil},
		{"batch one over the maximum", batch, `[` + strings.Repeat(bi(``)+`,`, api.MaxEventBatch) + bi(``) + `]`, 413, nil},
		{"10 MB body", batch, `[` + bi(`,"message":"`+strings.Repeat("m", 10<<20)+`"`) + `]`, 413, nil},
		{"10 MB body, one event", one, ev(`,"message":"` + strings.Repeat("m", 10<<20) + `"`), 413, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := doAuth(t, "POST", tt.url, writeToken, tt.body)
			p := assertProblem(t, r, tt.status)
			if tt.names == nil {
				if p.Detail == "" {
					t.Errorf("no detail: %s", r.body)
				}
				return
			}
			var got []string
			for _, ip := range p.InvalidParams {
				got = append(got, ip.Name)
				if ip.Reason == "" {
					t.Errorf("%s has no reason", ip.Name)
				}
			}
			if strings.Join(got, " ") != strings.Join(tt.names, " ") {
				t.Errorf("invalid_params %v, want %v: %s", got, tt.names, r.body)
			}
		})
	}
	if n := f.appendCalls(); n != 0 {
		t.Errorf("bad input reached the store %d times", n)
	}
	// A full batch of the maximum is accepted.
	full := `[` + strings.Repeat(bi(``)+`,`, api.MaxEventBatch-1) + bi(``) + `]`
	if r := doAuth(t, "POST", batch, writeToken, full); r.status != 201 {
		t.Errorf("a batch of %d = %d: %.300s", api.MaxEventBatch, r.status, r.body)
	}
}

// TestWriteTooLargeSaysWhy: a write refused with 413 says which limit it
// broke, the batch's count or the write routes' body limit, not the
// lookups' body limit (whose wrapper once rewrote every 413 it saw).
func TestWriteTooLargeSaysWhy(t *testing.T) {
	t.Parallel()
	srv := writeServer(t, newFakeWrites(), api.Config{})
	bi := `{"carrier":"DHL","tracking_number":"TN1","occurred_at":"2026-12-01T08:15:00Z","status_text":"scanned"}`
	for _, tt := range []struct{ name, url, body, want string }{
		// Small items, under the body limit: the count is what is refused.
		{"batch of 100,001", srv.URL + "/events", `[` + strings.Repeat(`{},`, 100_000) + `{}]`, "more than 2000 events"},
		{"10 MB body", srv.URL + "/events", `[` + strings.Repeat(bi+`,`, 100_000) + `{"message":"` + strings.Repeat("m", 10<<20) + `"}]`, "limit of " + api.WriteBodyLimit},
		{"10 MB body, one event", srv.URL + "/shipment/DHL/TN1/events", `{"message":"` + strings.Repeat("m", 10<<20) + `"}`, "limit of " + api.WriteBodyLimit},
		{"10 MB PUT", srv.URL + "/shipment/DHL/TN1", `{"sender_address":"` + strings.Repeat("m", 10<<20) + `"}`, "limit of " + api.WriteBodyLimit},
	} {
		t.Run(tt.name, func(t *testing.T) {
			method := "POST"
			if !strings.HasSuffix(tt.url, "events") {
				method = "PUT"
			}
			r := doAuth(t, method, tt.url, writeToken, tt.body)
			if p := assertProblem(t, r, 413); !strings.Contains(p.Detail, tt.want) {
				t.Errorf("detail %q, want it to say %q", p.Detail, tt.want)
			}
		})
	}
}

// TestWriteBodyLimit: a full batch with every text at its longest fits
// the write routes' limit; lookups keep theirs.
func TestWriteBodyLimit(t *testing.T) {
	t.Parallel()
	f := newFakeWrites()
	srv := writeServer(t, f, api.Config{})
	long := func(c string, n int) string { return strings.Repeat(c, n) }
	item := `{"carrier":"DHL","tracking_number":"TN1","event_id":"` + long("i", 128) + `","occurred_at":"2026-12-01T08:15:00.123456+01:00",` +
		`"status_text":"` + long("s", 256) + `","status":"available_for_pickup","location":"` + long("l", 300) + `","message":"` + long("m", 1000) + `"}`
	var b strings.Builder
	b.WriteString("[\n")
	for i := range api.MaxEventBatch {
		if i > 0 {
			b.WriteString(",\n")
		}
		b.WriteString("  " + strings.Replace(item, `"event_id":"iiii`, fmt.Sprintf(`"event_id":"%04d`, i), 1))
	}
	b.WriteString("\n]")
	if r := doAuth(t, "POST", srv.URL+"/events", writeToken, b.String()); r.status != 201 {
		t.Errorf("a full batch of longest events (%d bytes) = %d: %.300s", b.Len(), r.status, r.body)
	}
	r := do(t, "POST", srv.URL+"/shipment/", "application/json", `{"carrier":"DHL","tracking_number":"`+long("x", 70<<10)+`"}`)
	assertProblem(t, r, 413)
}

func TestPutShipment(t *testing.T) {
	t.Parallel()
	f := newFakeWrites()
	srv := writeServer(t, f, api.Config{})
	u := srv.URL + "/shipment/UPS/TN77"
	body := `{"sender_address":"Street 1, 10115 Berlin, Germany","receiver_address":"Street 10, 75001 Paris, France",
		"articles":[{"name":"Laptop","quantity":1,"price":"800.00","sku":"LP123"},{"name":"Mouse","quantity":2,"price":19.99,"sku":null}]}`
	r := doAuth(t, "PUT", u, writeToken, body)
	if r.status != 201 {
		t.Fatalf("create = %d %s", r.status, r.body)
	}
	got := decode[api.LookupJSON](t, r)
	if len(got.Articles) != 2 || got.Articles[1].Price != "19.99" || got.Articles[0].Price != "800.00" || got.Events == nil {
		t.Errorf("answer %s", r.body)
	}
	if r := doAuth(t, "PUT", u, writeToken, body); r.status != 200 {
		t.Errorf("replace = %d %s", r.status, r.body)
	}
	for _, tt := range []struct {
		name, body string
		names      []string
	}{
		{"missing everything", `{}`, []string{"sender_address", "receiver_address", "articles"}},
		{"float quantity", strings.Replace(body, `"quantity":1,`, `"quantity":1.5,`, 1), []string{"articles[0].quantity"}},
		{"string quantity", strings.Replace(body, `"quantity":2,`, `"quantity":"2",`, 1), []string{"articles[1].quantity"}},
		{"three decimals", strings.Replace(body, `19.99`, `19.999`, 1), []string{"articles[1].price"}},
		{"negative price", strings.Replace(body, `19.99`, `-1`, 1), []string{"articles[1].price"}},
		{"exponent price", strings.Replace(body, `19.99`, `1e3`, 1), []string{"articles[1].price"}},
		// Named once, for its type (not also as missing).
		{"boolean price", strings.Replace(body, `19.99`, `true`, 1), []string{"articles[1].price"}},
		{"unknown article field", strings.Replace(body, `"sku":null`, `"colour":"red"`, 1), []string{"articles[1].colour"}},
		{"duplicate key", strings.Replace(body, `"sku":"LP123"`, `"sku":"LP123","sku":"X"`, 1), []string{"articles[0].sku"}},
		{"articles not an array", `{"sender_address":"a","receiver_address":"b","articles":{}}`, []string{"articles"}},
		{"status is not a PUT field", strings.Replace(body, `{"sender_address"`, `{"status":"delivered","sender_address"`, 1), []string{"status"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := doAuth(t, "PUT", u, writeToken, tt.body)
			p := assertProblem(t, r, 400)
			var got []string
			for _, ip := range p.InvalidParams {
				got = append(got, ip.Name)
			}
			if strings.Join(got, " ") != strings.Join(tt.names, " ") {
				t.Errorf("invalid_params %v, want %v: %s", got, tt.names, r.body)
			}
		})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.puts) != 2 || f.puts[0].Articles[1].Price != 1999 || f.puts[0].Carrier != "UPS" {
		t.Errorf("the store got %+v", f.puts)
	}
	r = doAuth(t, "PUT", u, writeToken, "text")
	assertProblem(t, r, 400)
	r = doAuth(t, "PUT", u, writeToken, `["a"]`)
	if p := assertProblem(t, r, 400); len(p.InvalidParams) != 1 || p.InvalidParams[0].Name != "body" {
		t.Errorf("an array body: %s", r.body)
	}
	req, _ := http.NewRequest("PUT", u, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+writeToken)
	req.Header.Set("Content-Type", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 415 {
		t.Errorf("text/plain PUT = %d, want 415", resp.StatusCode)
	}
}

func TestListQueryChecks(t *testing.T) {
	t.Parallel()
	var got shipment.ListParams
	sh := &mock.Shipments{ListFn: func(_ context.Context, p shipment.ListParams) (shipment.Page, error) {
		got = p
		return shipment.Page{NextCursor: "c1"}, nil
	}}
	srv := httptest.NewServer(api.New(api.Config{Shipments: sh}))
	t.Cleanup(srv.Close)
	r := do(t, "GET", srv.URL+"/shipment/?status=delivered&updated_since=2026-12-01T08:00:00%2B01:00", "", "")
	if r.status != 200 || got.Status != "delivered" || !got.UpdatedSince.Equal(time.Date(2026, 12, 1, 7, 0, 0, 0, time.UTC)) {
		t.Fatalf("= %d %s, params %+v", r.status, r.body, got)
	}
	if link := r.header.Get("Link"); !strings.Contains(link, "updated_since=2026-12-01T07%3A00%3A00Z") {
		t.Errorf("Link %q drops updated_since", link)
	}
	for q, name := range map[string]string{"status=in-transit": "status", "status=DELIVERED": "status",
		"updated_since=2026-12-01T08:00:00": "updated_since", "updated_since=yesterday": "updated_since"} {
		p := assertProblem(t, do(t, "GET", srv.URL+"/shipment/?"+q, "", ""), 400)
		if len(p.InvalidParams) != 1 || p.InvalidParams[0].Name != name {
			t.Errorf("%s: %s", q, p.Detail)
		}
		if name == "status" && !strings.Contains(p.Detail, "available_for_pickup") {
			t.Errorf("%s: the reason does not list the statuses: %s", q, p.Detail)
		}
	}
}

// TestOpenAPIDescribesWrites validates real answers of the write routes
// (against an in-memory writer) and the requests that made them against
// openapi.json.
func TestOpenAPIDescribesWrites(t *testing.T) {
	t.Parallel()
	router := specRouter(t)
	f := newFakeWrites()
	f.events[key("DHL", "TN1")] = []shipment.Event{{EventID: "imp-1", OccurredAt: time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC),
		Status: "info_received", StatusText: "scanned", Source: "import"}}
	srv := writeServer(t, f, api.Config{Tokens: []string{readToken}, TokenFailLimit: 3, TokenFailWindow: time.Hour})
	auth := map[string]string{"Authorization": "Bearer " + writeToken}
	js := "application/json"
	put := `{"sender_address":"Street 1, 10115 Berlin, Germany","receiver_address":"Street 10, 75001 Paris, France","articles":[{"name":"Book","quantity":1,"price":"12.50","sku":"BK1"}]}`
	batch := `[{"carrier":"DHL","tracking_number":"TN1","event_id":"b1","occurred_at":"2026-12-01T08:15:00Z","status_text":"delivery"}]`
	for _, c := range []specCase{
		{method: "PUT", target: "/shipment/UPS/TN2", contentType: js, header: auth, body: []byte(put), status: 201},
		{method: "PUT", target: "/shipment/UPS/TN2", contentType: js, header: auth, body: []byte(put), status: 200},
		{method: "PUT", target: "/shipment/UPS/TN2", contentType: js, header: auth, body: []byte(`{"sender_address":"a"}`), status: 400, badRequest: true},
		{method: "POST", target: "/shipment/DHL/TN1/events", contentType: js, header: auth, body: []byte(goodEvent), status: 201},
		{method: "POST", target: "/shipment/DHL/TN1/events", contentType: js, header: auth, body: []byte(`[` + goodEvent + `]`), status: 200},
		{method: "POST", target: "/shipment/DHL/TN1/events", contentType: js, header: auth,
			body: []byte(strings.Replace(goodEvent, "sorted", "lost", 1)), status: 409},
		{method: "POST", target: "/shipment/DHL/NOPE/events", contentType: js, header: auth, body: []byte(goodEvent), status: 404},
		{method: "POST", target: "/shipment/DHL/TN1/events", contentType: "text/plain", header: auth, body: []byte(goodEvent), status: 415, badRequest: true},
		{method: "POST", target: "/events", contentType: js, header: auth, body: []byte(batch), status: 201},
		{method: "POST", target: "/events", contentType: js, header: auth, body: []byte(batch), status: 200},
		{method: "POST", target: "/events", contentType: js, header: auth, body: []byte(`[{"carrier":"DHL"}]`), status: 400, badRequest: true},
		{method: "POST", target: "/events", contentType: js, header: auth,
			body:   []byte(`[` + strings.Repeat(`{"carrier":"DHL","tracking_number":"TN1","occurred_at":"2026-12-01T08:15:00Z","status_text":"x"},`, api.MaxEventBatch) + `{}]`),
			status: 413, badRequest: true},
		{method: "GET", target: "/shipment/DHL/TN1?events=all", status: 200},
		{method: "GET", target: "/shipment/DHL/TN1", status: 200},
		{method: "GET", target: "/shipment/?status=delivered&updated_since=2026-12-01T00:00:00Z", header: map[string]string{"Authorization": "Bearer " + readToken}, status: 200},
		{method: "GET", target: "/shipment/?status=in-transit", header: map[string]string{"Authorization": "Bearer " + readToken}, status: 400, badRequest: true},
		{method: "POST", target: "/events", contentType: js, header: map[string]string{"Authorization": "Bearer " + readToken}, body: []byte(batch), status: 403},
		{method: "POST", target: "/events", contentType: js, body: []byte(batch), status: 401},
		{method: "POST", target: "/events", contentType: js, header: map[string]string{"Authorization": "Bearer nope"}, body: []byte(batch), status: 401},
		{method: "POST", target: "/events", contentType: js, header: map[string]string{"Authorization": "Bearer nope"}, body: []byte(batch), status: 401},
		{method: "POST", target: "/events", contentType: js, header: auth, body: []byte(batch), status: 429},
	} {
		c.check(t, router, srv.URL)
	}
	off := httptest.NewServer(api.New(api.Config{Shipments: f.reads(), Writer: f.writer()}))
	t.Cleanup(off.Close)
	specCase{method: "PUT", target: "/shipment/UPS/TN2", contentType: js, header: auth, body: []byte(put), status: 403}.check(t, router, off.URL)
}

// TestWriteReadsOwnWrite: a write empties this server's read cache at
// once, so its next lookup shows the write even before the change feed
// reports it (here it never does).
func TestWriteReadsOwnWrite(t *testing.T) {
	t.Parallel()
	cache := api.NewCache(1 << 20)
	cache.Apply(shipment.Change{Kind: shipment.ChangeListening})
	srv := writeServer(t, newFakeWrites(), api.Config{Cache: cache})
	lookup := srv.URL + "/shipment/DHL/TN1"
	for range 2 {
		if r := do(t, "GET", lookup, "", ""); r.status != 200 {
			t.Fatalf("lookup = %d %s", r.status, r.body)
		}
	}
	if cache.Stats().Hits == 0 {
		t.Fatal("the lookup was not cached")
	}
	r := doAuth(t, "POST", lookup+"/events", writeToken, `{"occurred_at":"2026-12-01T08:15:00Z","status_text":"delivered"}`)
	if r.status != 201 {
		t.Fatalf("append = %d %s", r.status, r.body)
	}
	if got := decode[api.LookupJSON](t, do(t, "GET", lookup, "", "")); got.Status != shipment.StatusDelivered || got.EventCount != 1 {
		t.Errorf("the lookup after the append shows %s with %d events", got.Status, got.EventCount)
	}
	r = doAuth(t, "PUT", lookup, writeToken, `{"sender_address":"Street 1, 10115 Berlin, Germany","receiver_address":"Street 3, 80331 Munich, Germany","articles":[]}`)
	if r.status != 200 {
		t.Fatalf("put = %d %s", r.status, r.body)
	}
	if got := decode[api.LookupJSON](t, do(t, "GET", lookup, "", "")); got.SenderAddress != "Street 1, 10115 Berlin, Germany" {
		t.Errorf("the lookup after the put shows sender %q", got.SenderAddress)
	}
}
