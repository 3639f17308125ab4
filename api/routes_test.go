package api

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"

	"github.com/shiptrack/shiptrack/internal/mock"
	"github.com/shiptrack/shiptrack/jobs"
	"github.com/shiptrack/shiptrack/shipment"
	"github.com/shiptrack/shiptrack/webhook"
)

// everyRoute builds the API with every optional route switched on.
func everyRoute(t *testing.T, cfg Config) *Server {
	t.Helper()
	cfg.Weather = fixedStatus{Provider: "weatherapi", Interval: "2h0m0s"}
	cfg.Metrics = metrics.NewSet()
	if cfg.Writer == nil {
		cfg.Writer = probeWriter(nil)
	}
	cfg.WriteTokens = append(cfg.WriteTokens, probeWriteToken)
	if cfg.Webhooks == nil {
		cfg.Webhooks = probeWebhooks{}
	}
	cfg.AdminTokens = append(cfg.AdminTokens, probeWriteToken)
	return New(cfg)
}

const probeWriteToken = "probe-write-token"

// probeWriter is a writer that records the deadline of each call (d may
// be nil) and knows every shipment.
func probeWriter(d *deadlines) *mock.Writer {
	return &mock.Writer{
		PutFn: func(ctx context.Context, _ shipment.ShipmentInput) (shipment.PutResult, error) {
			d.record("store", ctx)
			return shipment.PutResult{Created: true, Changed: true}, nil
		},
		AppendEventsFn: func(ctx context.Context, ev []shipment.EventInput) (shipment.AppendResult, error) {
			d.record("store", ctx)
			return shipment.AppendResult{Created: len(ev)}, nil
		},
		EventsFn: func(ctx context.Context, _, _ string) ([]shipment.Event, error) {
			d.record("store", ctx)
			return nil, nil
		},
	}
}

// probeWebhooks knows no endpoint.
type probeWebhooks struct{}

func (probeWebhooks) CreateWebhook(_ context.Context, url string, st, ca []string) (webhook.Endpoint, error) {
	return webhook.Endpoint{ID: 1, URL: url, Secret: "s", Statuses: st, Carriers: ca}, nil
}
func (probeWebhooks) Webhooks(context.Context) ([]webhook.Endpoint, error) { return nil, nil }
func (probeWebhooks) DeleteWebhook(context.Context, uint64) error          { return shipment.ErrNotFound }
func (probeWebhooks) RotateWebhookSecret(context.Context, uint64, time.Duration) (webhook.Endpoint, error) {
	return webhook.Endpoint{}, shipment.ErrNotFound
}
func (probeWebhooks) WebhookDeliveries(context.Context, uint64, uint64, int) ([]webhook.Delivery, error) {
	return nil, shipment.ErrNotFound
}
func (probeWebhooks) ResumeWebhook(context.Context, uint64) error { return shipment.ErrNotFound }
func (probeWebhooks) RedeliverWebhook(context.Context, uint64, string) (webhook.Delivery, error) {
	return webhook.Delivery{}, shipment.ErrNotFound
}
func (probeWebhooks) WebhookStatus(context.Context, time.Time) (webhook.Status, error) {
	return webhook.Status{}, nil
}

type fixedStatus jobs.Status

func (s fixedStatus) Status(context.Context) jobs.Status { return jobs.Status(s) }

// echoPath maps an Echo route pattern to its OpenAPI path template:
// ":name" segments become "{name}" and a trailing "*" becomes "{path}".
func echoPath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		switch {
		case strings.HasPrefix(s, ":"):
			segs[i] = "{" + s[1:] + "}"
		case s == "*":
			segs[i] = "{path}"
		}
	}
	return strings.Join(segs, "/")
}

// TestOpenAPIMatchesRoutes holds openapi.json to the routes that
// Server.routes registers.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	doc, err := openapi3.NewLoader().LoadFromData(openAPIDoc)
	if err != nil {
		t.Fatalf("load openapi.json: %v", err)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	registered := map[string]bool{}
	for _, r := range everyRoute(t, Config{Shipments: probeShipments(nil)}).e.Routes() {
		registered[r.Method+" "+echoPath(r.Path)] = true
	}
	for _, k := range slices.Sorted(maps.Keys(registered)) {
		if !documented[k] {
			t.Errorf("route %s is not in openapi.json", k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(documented)) {
		if !registered[k] {
			t.Errorf("openapi.json documents %s, which no route serves", k)
		}
	}
}

// deadlines records the deadline of each context it is shown, by name.
type deadlines struct {
	mu  sync.Mutex
	got map[string][]time.Time // zero time: the context had none
}

func (d *deadlines) record(name string, ctx context.Context) {
	if d == nil {
		return
	}
	dl, _ := ctx.Deadline()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.got[name] = append(d.got[name], dl)
}

func (d *deadlines) of(name string) []time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.got[name]
}

// probeShipments is a store that records the deadline of each read.
func probeShipments(d *deadlines) *mock.Shipments {
	return &mock.Shipments{
		ListFn: func(ctx context.Context, _ shipment.ListParams) (shipment.Page, error) {
			d.record("store", ctx)
			return shipment.Page{}, nil
		},
		GetFn: func(ctx context.Context, _, _ string) (shipment.Shipment, error) {
			d.record("store", ctx)
			return shipment.Shipment{}, nil
		},
	}
}

// TestEveryRouteHasADeadline walks the registered routes and proves that
// each handler runs with the request timeout as its context's deadline,
// and that the shipment routes' store reads carry it.
func TestEveryRouteHasADeadline(t *testing.T) {
	t.Parallel()
	const timeout = time.Hour
	d := &deadlines{got: map[string][]time.Time{}}
	s := everyRoute(t, Config{
		Shipments: probeShipments(d), Writer: probeWriter(d), RequestTimeout: timeout,
		ReadyChecks: []Check{{Name: "probe", Fn: func(ctx context.Context) error { d.record("ready check", ctx); return nil }}},
	})
	// Installed last, so it runs right before each route's own middleware
	// and handler, with the context they get.
	s.e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			d.record(c.Request().Method+" "+c.Path(), c.Request().Context())
			return next(c)
		}
	})
	fill := strings.NewReplacer(":carrier", "DHL", ":tracking_number", "TN1", "*", "app.js", ":id", "1", ":delivery_id", "d1")
	routes := s.e.Routes()
	if len(routes) < 16 { // as many as routes() registers with every option on
		t.Fatalf("only %d routes registered", len(routes))
	}
	for _, r := range routes {
		name := r.Method + " " + r.Path
		t.Run(name, func(t *testing.T) {
			body := strings.NewReader("")
			event := `{"occurred_at":"2026-01-02T03:04:05Z","status_text":"scanned"}`
			switch {
			case r.Method == http.MethodPut:
				body = strings.NewReader(`{"sender_address":"a","receiver_address":"b","articles":[]}`)
			case r.Path == "/events":
				body = strings.NewReader(`[{"carrier":"DHL","tracking_number":"TN1",` + event[1:] + `]`)
			case strings.HasSuffix(r.Path, "/events"):
				body = strings.NewReader(event)
			case r.Method == http.MethodPost:
				body = strings.NewReader(`{"carrier":"DHL","tracking_number":"TN1"}`)
			}
			req := httptest.NewRequest(r.Method, fill.Replace(r.Path), body)
			req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
			req.Header.Set(echo.HeaderAuthorization, "Bearer "+probeWriteToken)
			before := time.Now()
			storeReads := len(d.of("store"))
			s.ServeHTTP(httptest.NewRecorder(), req)
			after := time.Now()
			inTime := func(what string, dl time.Time) {
				t.Helper()
				switch {
				case dl.IsZero():
					t.Errorf("%s runs without a deadline", what)
				case dl.Before(before.Add(timeout)) || dl.After(after.Add(timeout)):
					t.Errorf("%s has deadline %v, not the request timeout (%v) from the request's start", what, dl, timeout)
				}
			}
			got := d.of(name)
			if len(got) != 1 {
				t.Fatalf("the handler of %s ran %d times, want 1", name, len(got))
			}
			inTime("the handler of "+name, got[0])
			if strings.HasPrefix(r.Path, "/shipment") || r.Path == "/events" {
				reads := d.of("store")[storeReads:]
				want := 1
				if writeRoutes[r.Path] && r.Method != http.MethodGet && r.Path != "/events" {
					want = 2 // the write, then the shipment it answers with
				}
				if len(reads) != want {
					t.Fatalf("%s called the store %d times, want %d", name, len(reads), want)
				}
				for _, dl := range reads {
					inTime("the store call of "+name, dl)
				}
			}
		})
	}
	if dls := d.of("ready check"); len(dls) == 0 || dls[0].IsZero() {
		t.Errorf("the readiness checks ran without a deadline: %v", dls)
	}
}

// TestLazyDeadline: the deadline is there from the start, its timer only
// once something waits on it, and then it fires.
func TestLazyDeadline(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		timeout time.Duration
		wait    bool // receive from Done
		started bool // want the timer started
		wantErr error
	}{
		{name: "not waited on", timeout: time.Hour},
		{name: "waited on", timeout: time.Hour, started: true},
		{name: "past", timeout: time.Millisecond, wait: true, started: true, wantErr: context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			ctx := &lazyDeadline{Context: context.Background(), deadline: start.Add(tt.timeout)}
			t.Cleanup(ctx.stop)
			if dl, ok := ctx.Deadline(); !ok || !dl.Equal(start.Add(tt.timeout)) {
				t.Errorf("Deadline() = %v, %v; want %v, true", dl, ok, start.Add(tt.timeout))
			}
			if tt.started {
				done := ctx.Done()
				if tt.wait {
					<-done
				}
			}
			if got := ctx.started.Load(); got != tt.started {
				t.Errorf("timer started = %v, want %v", got, tt.started)
			}
			if err := ctx.Err(); err != tt.wantErr {
				t.Errorf("Err() = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// waitingShipments answers every lookup with one shipment, waiting on the
// context's Done as a database driver does; it counts the reads.
func waitingShipments(reads *int) *mock.Shipments {
	return &mock.Shipments{
		GetFn: func(ctx context.Context, carrier, tn string) (shipment.Shipment, error) {
			*reads++
			select {
			case <-ctx.Done():
				return shipment.Shipment{}, ctx.Err()
			default:
			}
			return shipment.Shipment{Carrier: carrier, TrackingNumber: tn, Status: "in-transit"}, nil
		},
		ListFn: func(ctx context.Context, _ shipment.ListParams) (shipment.Page, error) {
			*reads++
			return shipment.Page{}, errors.New("no listing in this test")
		},
	}
}

// TestCacheHitStartsNoTimer: a lookup answered from the read cache reads
// nothing and starts no deadline timer; the read that filled it did.
func TestCacheHitStartsNoTimer(t *testing.T) {
	t.Parallel()
	reads := 0
	cache := NewCache(1 << 20)
	cache.Apply(shipment.Change{Kind: shipment.ChangeListening})
	s := New(Config{Shipments: waitingShipments(&reads), Cache: cache})
	var last *lazyDeadline
	s.e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			last, _ = c.Request().Context().(*lazyDeadline)
			return next(c)
		}
	})
	tests := []struct {
		name      string
		wantReads int
		wantTimer bool
	}{
		{name: "miss", wantReads: 1, wantTimer: true},
		{name: "hit", wantReads: 1, wantTimer: false},
	}
	for _, tt := range tests { // in order: the miss fills the cache
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/shipment/DHL/TN1", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: status %d: %s", tt.name, rec.Code, rec.Body)
		}
		if last == nil {
			t.Fatalf("%s: the request's context is not the deadline's", tt.name)
		}
		if reads != tt.wantReads {
			t.Errorf("%s: %d store reads, want %d", tt.name, reads, tt.wantReads)
		}
		if got := last.started.Load(); got != tt.wantTimer {
			t.Errorf("%s: deadline timer started = %v, want %v", tt.name, got, tt.wantTimer)
		}
	}
}
