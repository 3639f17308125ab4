package api_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/shiptrack/shiptrack/api"
)

func TestListNeedsToken(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(api.New(api.Config{Shipments: oneShipment(nil), Tokens: []string{"s3cret-token", "other"}}))
	defer srv.Close()
	tests := []struct {
		name, auth string
		status     int
	}{
		{"no header", "", 401},
		{"wrong token", "Bearer nope", 401},
		{"prefix of a token", "Bearer s3cret", 401},
		{"basic scheme", "Basic czNjcmV0LXRva2Vu", 401},
		{"good token", "Bearer s3cret-token", 200},
		{"second token, lower-case scheme", "bearer other", 200},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest("GET", srv.URL+"/shipment/", nil)
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%s: status %d, want %d", tt.name, resp.StatusCode, tt.status)
		}
		if tt.status == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: no WWW-Authenticate challenge", tt.name)
		}
	}
	// Single lookups stay public.
	if r := do(t, "GET", srv.URL+"/shipment/DHL/TN1", "", ""); r.status != 200 {
		t.Errorf("lookup without token = %d", r.status)
	}
	if r := do(t, "POST", srv.URL+"/shipment/", "application/json", `{"tracking_number":"TN1","carrier":"DHL"}`); r.status != 200 {
		t.Errorf("POST lookup without token = %d", r.status)
	}
}

func TestLookupRateLimit(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(api.New(api.Config{Shipments: oneShipment(nil), RateLimit: 1, RateBurst: 3}))
	defer srv.Close()
	var got []int
	for range 5 {
		got = append(got, do(t, "GET", srv.URL+"/shipment/DHL/TN1", "", "").status)
	}
	if got[0] != 200 || got[2] != 200 || got[4] != 429 {
		t.Fatalf("statuses %v, want 3×200 then 429", got)
	}
	r := do(t, "POST", srv.URL+"/shipment/", "application/json", `{"tracking_number":"TN1","carrier":"DHL"}`)
	assertProblem(t, r, 429)
	if r.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// A forged X-Forwarded-For does not buy a new allowance.
	req, _ := http.NewRequest("GET", srv.URL+"/shipment/DHL/TN1", nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 {
		t.Errorf("spoofed X-Forwarded-For got %d, want 429", resp.StatusCode)
	}
	// Health and the list are not rate limited.
	if r := do(t, "GET", srv.URL+"/healthz", "", ""); r.status != 200 {
		t.Errorf("healthz = %d", r.status)
	}
}
