package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shiptrack/shiptrack/api"
	"github.com/shiptrack/shiptrack/internal/mock"
	"github.com/shiptrack/shiptrack/shipment"
	"github.com/shiptrack/shiptrack/store"
	"github.com/shiptrack/shiptrack/store/storetest"
)

// newServer serves the API over real HTTP on a seeded store of driver.
func newServer(t *testing.T, driver string) (*httptest.Server, *store.Store) {
	t.Helper()
	st := storetest.Open(t, driver)
	if _, _, err := st.SeedIfEmpty(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(api.Config{
		Shipments:   st,
		ReadyChecks: []api.Check{{Name: "database", Fn: st.Ping}},
	}))
	t.Cleanup(srv.Close)
	return srv, st
}

func forEachDriver(t *testing.T, fn func(t *testing.T, base string, st *store.Store)) {
	t.Helper()
	for _, d := range storetest.Drivers {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			srv, st := newServer(t, d)
			fn(t, srv.URL, st)
		})
	}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, method, u, contentType, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return doReq(t, req)
}

func decode[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	decodeInto(t, r, &v)
	return v
}

func decodeInto(t *testing.T, r response, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func TestListShipments(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, base string, _ *store.Store) {
		for _, path := range []string{"/shipment/", "/shipment"} {
			r := do(t, "GET", base+path, "", "")
			if r.status != 200 || r.header.Get("Content-Type") != "application/json" {
				t.Fatalf("GET %s = %d %s", path, r.status, r.header.Get("Content-Type"))
			}
			list := decode[[]api.ShipmentJSON](t, r)
			articles := 0
			for _, s := range list {
				articles += len(s.Articles)
				if s.Weather != nil {
					t.Errorf("weather before any fetch: %+v", s.Weather)
				}
			}
			if len(list) != 5 || articles != 9 {
				t.Fatalf("GET %s: %d shipments, %d articles; want 5, 9", path, len(list), articles)
			}
			var raw []map[string]any
			_ = json.Unmarshal(r.body, &raw)
			for _, k := range []string{"tracking_number", "carrier", "status", "sender_address", "receiver_address", "articles", "weather", "created_at", "updated_at"} {
				if _, ok := raw[0][k]; !ok {
					t.Errorf("field %q missing from %v", k, raw[0])
				}
			}
			if _, err := time.Parse(time.RFC3339, list[0].CreatedAt); err != nil || !strings.HasSuffix(list[0].CreatedAt, "Z") {
				t.Errorf("created_at %q is not UTC RFC 3339", list[0].CreatedAt)
			}
		}
	})
}

func TestListPaginationAndFilters(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, base string, st *store.Store) {
		var got []string
		next := base + "/shipment/?limit=2"
		for pages := 0; next != ""; pages++ {
			if pages > 5 {
				t.Fatal("pagination does not end")
			}
			r := do(t, "GET", next, "", "")
			if r.status != 200 {
				t.Fatalf("GET %s = %d %s", next, r.status, r.body)
			}
			for _, s := range decode[[]api.ShipmentJSON](t, r) {
				got = append(got, s.Carrier)
			}
			next = ""
			if link := r.header.Get("Link"); link != "" {
				u := strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
				next = base + u
			}
		}
		if strings.Join(got, ",") != "DHL,DPD,FedEx,GLS,UPS" {
			t.Errorf("pages gave %v", got)
		}
		r := do(t, "GET", base+"/shipment/?carrier=fedex", "", "")
		if list := decode[[]api.ShipmentJSON](t, r); len(list) != 1 || list[0].TrackingNumber != "TN12345681" {
			t.Errorf("carrier filter: %s", r.body)
		}
		r = do(t, "GET", base+"/shipment/?status=out_for_delivery", "", "")
		if list := decode[[]api.ShipmentJSON](t, r); len(list) != 1 || list[0].Carrier != "DPD" {
			t.Errorf("status filter: %s", r.body)
		}
		for _, q := range []string{"limit=0", "limit=1001", "limit=abc", "cursor=%21%21", "status=delivery", "updated_since=today"} {
			r := do(t, "GET", base+"/shipment/?"+q, "", "")
			assertProblem(t, r, 400)
		}
	})
}

func TestLookup(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, base string, _ *store.Store) {
		tests := []struct {
			name, method, path, ctype, body string
			status                          int
		}{
			{"json", "POST", "/shipment/", "application/json", `{"tracking_number":"TN12345678","carrier":"DHL"}`, 200},
			{"json no slash, carrier any case", "POST", "/shipment", "application/json; charset=utf-8", `{"tracking_number":"TN12345678","carrier":"dhl"}`, 200},
			{"form", "POST", "/shipment/", "application/x-www-form-urlencoded", "tracking_number=TN12345678&carrier=DHL", 200},
			{"path", "GET", "/shipment/DHL/TN12345678", "", "", 200},
			{"path lower", "GET", "/shipment/dhl/TN12345678", "", "", 200},
			{"unknown", "POST", "/shipment/", "application/json", `{"tracking_number":"TN00000000","carrier":"DHL"}`, 404},
			{"unknown path", "GET", "/shipment/DHL/NOPE", "", "", 404},
			{"missing carrier", "POST", "/shipment/", "application/json", `{"tracking_number":"TN12345678"}`, 400},
			{"blank tracking", "POST", "/shipment/", "application/json", `{"tracking_number":"  ","carrier":"DHL"}`, 400},
			{"number field", "POST", "/shipment/", "application/json", `{"tracking_number":12345678,"carrier":"DHL"}`, 400},
			{"malformed json", "POST", "/shipment/", "application/json", `{"tracking_number":`, 400},
			{"array json", "POST", "/shipment/", "application/json", `[1,2]`, 400},
			{"empty body", "POST", "/shipment/", "application/json", ``, 400},
			{"missing form field", "POST", "/shipment/", "application/x-www-form-urlencoded", "carrier=DHL", 400},
			{"malformed form", "POST", "/shipment/", "application/x-www-form-urlencoded", "tracking_number=TN12345678&carrier=DHL&junk=%zz", 400},
			{"xml", "POST", "/shipment/", "application/xml", `<x/>`, 415},
			{"no content type", "POST", "/shipment/", "", `{"tracking_number":"TN12345678","carrier":"DHL"}`, 415},
			{"put", "PUT", "/shipment/", "application/json", `{}`, 405},
			{"delete", "DELETE", "/shipment", "", ``, 405},
			{"huge", "POST", "/shipment/", "application/json", `{"tracking_number":"` + strings.Repeat("A", 100<<10) + `"}`, 413},
			{"long field", "POST", "/shipment/", "application/json", `{"tracking_number":"` + strings.Repeat("A", 65) + `","carrier":"DHL"}`, 400},
			{"sql injection", "POST", "/shipment/", "application/json", `{"tracking_number":"' OR '1'='1","carrier":"DHL' --"}`, 404},
		}
		for _, tt := range tests {
			r := do(t, tt.method, base+tt.path, tt.ctype, tt.body)
			if r.status != tt.status {
				t.Errorf("%s: status %d, want %d: %s", tt.name, r.status, tt.status, r.body)
				continue
			}
			if tt.status != 200 {
				p := assertProblem(t, r, tt.status)
				if tt.status == 400 && p.Detail == "" {
					t.Errorf("%s: 400 without detail", tt.name)
				}
				continue
			}
			s := decode[api.ShipmentJSON](t, r)
			if s.TrackingNumber != "TN12345678" || s.Carrier != "DHL" || len(s.Articles) != 2 || s.Articles[0].Price != "800.00" {
				t.Errorf("%s: got %s", tt.name, r.body)
			}
		}
		r := do(t, "POST", base+"/shipment/", "application/json", `{"carrier":"DHL"}`)
		if p := assertProblem(t, r, 400); len(p.InvalidParams) != 1 || p.InvalidParams[0].Name != "tracking_number" {
			t.Errorf("missing field not named: %s", r.body)
		}
	})
}

func assertProblem(t *testing.T, r response, status int) api.Problem {
	t.Helper()
	if r.status != status {
		t.Errorf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	p := decode[api.Problem](t, r)
	if p.Status != status || p.Title == "" {
		t.Errorf("problem body %s", r.body)
	}
	return p
}

// failing is a store whose every call fails with err, or panics if err is nil.
func failing(err error) *mock.Shipments {
	return &mock.Shipments{
		ListFn: func(context.Context, shipment.ListParams) (shipment.Page, error) { return shipment.Page{}, err },
		GetFn: func(context.Context, string, string) (shipment.Shipment, error) {
			if err == nil {
				panic("boom: internal detail")
			}
			return shipment.Shipment{}, err
		},
	}
}

func TestErrorsDoNotLeak(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		err    error
		status int
	}{
		{"internal", errors.New("pq: password=secret relation xyz"), 500},
		{"unavailable", shipment.ErrUnavailable, 503},
		{"panic", nil, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(api.New(api.Config{Shipments: failing(tt.err)}))
			defer srv.Close()
			r := do(t, "GET", srv.URL+"/shipment/DHL/TN1", "", "")
			assertProblem(t, r, tt.status)
			if strings.Contains(string(r.body), "secret") || strings.Contains(string(r.body), "boom") {
				t.Errorf("internals leaked: %s", r.body)
			}
			// The process survived: the next request is served.
			if r := do(t, "GET", srv.URL+"/healthz", "", ""); r.status != 200 {
				t.Errorf("healthz after failure = %d", r.status)
			}
		})
	}
}

func TestReadiness(t *testing.T) {
	t.Parallel()
	down := errors.New("dial tcp: connection refused")
	srv := httptest.NewServer(api.New(api.Config{Shipments: failing(nil), ReadyChecks: []api.Check{
		{Name: "database", Fn: func(context.Context) error { return nil }},
		{Name: "queue", Fn: func(context.Context) error { return down }},
	}}))
	defer srv.Close()
	r := do(t, "GET", srv.URL+"/readyz", "", "")
	p := assertProblem(t, r, 503)
	if !strings.Contains(p.Detail, "queue") || strings.Contains(p.Detail, "database") {
		t.Errorf("detail %q should name only the queue", p.Detail)
	}
	forEachDriver(t, func(t *testing.T, base string, _ *store.Store) {
		if r := do(t, "GET", base+"/readyz", "", ""); r.status != 200 {
			t.Errorf("readyz = %d %s", r.status, r.body)
		}
		if r := do(t, "GET", base+"/healthz", "", ""); r.status != 200 {
			t.Errorf("healthz = %d", r.status)
		}
	})
}

func TestPathEscapes(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, base string, _ *store.Store) {
		for _, p := range []string{"/shipment/DHL/" + url.PathEscape("TN12345678' OR 1=1 --"), "/shipment/%2e%2e/TN12345678", "/shipment/DHL/TN12345678/extra"} {
			r := do(t, "GET", base+p, "", "")
			if r.status != 404 && r.status != 400 {
				t.Errorf("GET %s = %d %s", p, r.status, r.body)
			}
		}
	})
}

// hangingStore blocks until the request's context ends, or fails after 5 s
// when nothing ends it.
func hangingStore() *mock.Shipments {
	return &mock.Shipments{
		GetFn: func(ctx context.Context, _, _ string) (shipment.Shipment, error) {
			return shipment.Shipment{}, hang(ctx)
		},
		ListFn: func(ctx context.Context, _ shipment.ListParams) (shipment.Page, error) {
			return shipment.Page{}, hang(ctx)
		},
	}
}

func hang(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(5 * time.Second):
		return errors.New("the read had no deadline")
	}
}

// TestRequestTimeout: a database read that outlives the request timeout
// ends in a 503 the client may retry, with or without the read cache
// (the shipment routes set their own deadline).
func TestRequestTimeout(t *testing.T) {
	t.Parallel()
	cache := api.NewCache(1 << 20)
	cache.Apply(shipment.Change{Kind: shipment.ChangeListening})
	for _, c := range []struct {
		name  string
		cache *api.Cache
	}{{"no cache", nil}, {"cache", cache}} {
		srv := httptest.NewServer(api.New(api.Config{Shipments: hangingStore(), Cache: c.cache, RequestTimeout: 50 * time.Millisecond}))
		t.Cleanup(srv.Close)
		for _, req := range []struct{ method, path, ct, body string }{
			{"GET", "/shipment/DHL/TN1", "", ""},
			{"POST", "/shipment/", "application/json", `{"tracking_number":"TN1","carrier":"DHL"}`},
			{"GET", "/shipment/", "", ""},
		} {
			t.Run(c.name+" "+req.method+" "+req.path, func(t *testing.T) {
				t.Parallel()
				r := do(t, req.method, srv.URL+req.path, req.ct, req.body)
				p := assertProblem(t, r, http.StatusServiceUnavailable)
				if !strings.Contains(p.Detail, "too long") || r.header.Get("Retry-After") == "" {
					t.Errorf("got %q, Retry-After %q; want the timeout problem", p.Detail, r.header.Get("Retry-After"))
				}
			})
		}
	}
}

// TestClientHangUpIsNotAServerError: a client that gives up is logged as
// 499 at debug level, not as a 500 or a database outage.
func TestClientHangUpIsNotAServerError(t *testing.T) {
	t.Parallel()
	var logs strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := httptest.NewServer(api.New(api.Config{Shipments: hangingStore(), Logger: log}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/shipment/DHL/TN1", nil)
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("request did not time out")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		out := logs.String()
		mu.Unlock()
		if strings.Contains(out, `"status":499`) {
			if strings.Contains(out, `"level":"ERROR"`) {
				t.Errorf("client hang-up logged as an error:\n%s", out)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no 499 request line:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
