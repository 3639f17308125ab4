package api_test

import (
	"context"
	"encoding/base64"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/shiptrack/shiptrack/api"
	"github.com/shiptrack/shiptrack/internal/testutil"
	"github.com/shiptrack/shiptrack/store"
	"github.com/shiptrack/shiptrack/store/storetest"
)

// forEachDriverLogged is forEachDriver with the server's log kept.
func forEachDriverLogged(t *testing.T, fn func(t *testing.T, base string, logs *testutil.SyncBuffer)) {
	t.Helper()
	for _, d := range storetest.Drivers {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			st := storetest.Open(t, d)
			if _, _, err := st.SeedIfEmpty(context.Background()); err != nil {
				t.Fatal(err)
			}
			logs := &testutil.SyncBuffer{}
			srv := httptest.NewServer(api.New(api.Config{Shipments: st, Logger: slog.New(slog.NewJSONHandler(logs, nil))}))
			t.Cleanup(srv.Close)
			fn(t, srv.URL, logs)
		})
	}
}

func multipartLookup(t *testing.T, tn, carrier string) (string, string) {
	t.Helper()
	var b strings.Builder
	w := multipart.NewWriter(&b)
	_ = w.WriteField("tracking_number", tn)
	_ = w.WriteField("carrier", carrier)
	_ = w.Close()
	return w.FormDataContentType(), b.String()
}

// TestBadTextIsRefused: NUL, invalid UTF-8, control characters and
// over-long texts in the path, the query, a form or JSON get a 400 naming
// the field on both databases; PostgreSQL used to answer 500 with an
// ERROR log (SQLSTATE 22021) and SQLite 404.
func TestBadTextIsRefused(t *testing.T) {
	t.Parallel()
	nulCursor := base64.RawURLEncoding.EncodeToString([]byte(`{"c":"dhl","t":"TN\u0000"}`))
	mpCT, mpBody := multipartLookup(t, "TN\xff", "DHL")
	tests := []struct {
		name, method, path, ctype, body, field string
	}{
		{"query carrier NUL", "GET", "/shipment/?carrier=%00", "", "", "carrier"},
		{"query status NUL", "GET", "/shipment/?status=in%00transit", "", "", "status"},
		{"query status \\xff", "GET", "/shipment/?status=%ff", "", "", "status"},
		{"query carrier 65 characters", "GET", "/shipment/?carrier=" + strings.Repeat("C", 65), "", "", "carrier"},
		{"query cursor NUL", "GET", "/shipment/?cursor=%00", "", "", "cursor"},
		{"cursor holding a NUL", "GET", "/shipment/?cursor=" + nulCursor, "", "", "cursor"},
		{"path tracking NUL", "GET", "/shipment/DHL/TN%00", "", "", "tracking_number"},
		{"path tracking \\xff", "GET", "/shipment/DHL/TN%ff", "", "", "tracking_number"},
		{"path carrier NUL", "GET", "/shipment/DH%00L/TN12345678", "", "", "carrier"},
		{"path escaped slash and NUL", "GET", "/shipment/DHL/TN%2F%00", "", "", "tracking_number"},
		{"path tab", "GET", "/shipment/DHL/TN%091", "", "", "tracking_number"},
		{"path 65 characters", "GET", "/shipment/DHL/" + strings.Repeat("T", 65), "", "", "tracking_number"},
		{"form \\xff", "POST", "/shipment/", "application/x-www-form-urlencoded", "tracking_number=TN%ff&carrier=DHL", "tracking_number"},
		{"form NUL", "POST", "/shipment/", "application/x-www-form-urlencoded", "tracking_number=TN1&carrier=D%00HL", "carrier"},
		{"multipart \\xff", "POST", "/shipment/", mpCT, mpBody, "tracking_number"},
		{"json NUL", "POST", "/shipment/", "application/json", `{"tracking_number":"TN\u0000","carrier":"DHL"}`, "tracking_number"},
		{"json C1 control", "POST", "/shipment/", "application/json", `{"tracking_number":"TN1","carrier":"D\u0085HL"}`, "carrier"},
		{"json 65 characters", "POST", "/shipment/", "application/json", `{"tracking_number":"` + strings.Repeat("é", 65) + `","carrier":"DHL"}`, "tracking_number"},
	}
	forEachDriverLogged(t, func(t *testing.T, base string, logs *testutil.SyncBuffer) {
		for _, tt := range tests {
			r := do(t, tt.method, base+tt.path, tt.ctype, tt.body)
			if r.status != 400 {
				t.Errorf("%s: status %d, want 400: %s", tt.name, r.status, r.body)
				continue
			}
			p := assertProblem(t, r, 400)
			if len(p.InvalidParams) != 1 || p.InvalidParams[0].Name != tt.field {
				t.Errorf("%s: invalid_params %+v, want %s", tt.name, p.InvalidParams, tt.field)
			}
		}
		// 64 characters are allowed, however many bytes they take.
		r := do(t, "POST", base+"/shipment/", "application/json", `{"tracking_number":"`+strings.Repeat("é", 64)+`","carrier":"DHL"}`)
		assertProblem(t, r, 404)
		if strings.Contains(logs.String(), `"level":"ERROR"`) {
			t.Errorf("bad input logged as an error:\n%s", logs)
		}
	})
}

// TestPathDecodedOnce: a path parameter is percent-decoded once, so
// %2538 is the three characters "%38", not "8".
func TestPathDecodedOnce(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, base string, _ *store.Store) {
		for _, tt := range []struct {
			path   string
			status int
		}{
			{"/shipment/DHL/TN1234567%2538", 404},
			{"/shipment/DHL/TN1234567%38", 200},
			{"/shipment/D%48L/TN12345678", 200},
			{"/shipment/DHL%252F/TN12345678", 404},
			{"/shipment/DHL/TN12345678%2F", 404},
		} {
			r := do(t, "GET", base+tt.path, "", "")
			if r.status != tt.status {
				t.Errorf("GET %s = %d, want %d: %s", tt.path, r.status, tt.status, r.body)
			}
		}
	})
}

// TestLookupTrailingSlash: a lookup path with a trailing slash gets the
// same answer as without it (no redirect).
func TestLookupTrailingSlash(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, base string, _ *store.Store) {
		for _, tt := range []struct {
			path   string
			status int
		}{
			{"/shipment/DHL/TN12345678/", 200},
			{"/shipment/dhl/TN12345678/?pretty", 200},
			{"/shipment/DHL/TN1234567%38/", 200},
			{"/shipment/DHL/TN12345678//", 404},
			{"/shipment/DHL/TN12345678/x/", 404},
		} {
			r := do(t, "GET", base+tt.path, "", "")
			if r.status != tt.status {
				t.Errorf("GET %s = %d, want %d: %s", tt.path, r.status, tt.status, r.body)
				continue
			}
			if tt.status == 200 {
				if s := decode[api.ShipmentJSON](t, r); s.TrackingNumber != "TN12345678" {
					t.Errorf("GET %s: %s", tt.path, r.body)
				}
			}
		}
	})
}

// TestBadRequestIDReplaced: a client's X-Request-Id is echoed only when it
// passes the text rule and is at most 128 characters; otherwise the answer
// (and the log) carries a new id.
func TestBadRequestIDReplaced(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(api.New(api.Config{Shipments: failing(nil)}))
	t.Cleanup(srv.Close)
	for _, tt := range []struct {
		name, id string
		echoed   bool
	}{
		{"plain", "req-123", true},
		{"128 characters", strings.Repeat("r", 128), true},
		{"129 characters", strings.Repeat("r", 129), false},
		{"60 KB", strings.Repeat("r", 60<<10), false},
		{"invalid UTF-8", "req\xff", false},
		{"tab", "req\t1", false},
	} {
		req, _ := http.NewRequest("GET", srv.URL+"/healthz", nil)
		req.Header.Set("X-Request-Id", tt.id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		resp.Body.Close()
		got := resp.Header.Get("X-Request-Id")
		if (got == tt.id) != tt.echoed || got == "" {
			t.Errorf("%s: answered with X-Request-Id %.40q, echoed %v, want echoed %v", tt.name, got, got == tt.id, tt.echoed)
		}
	}
}
