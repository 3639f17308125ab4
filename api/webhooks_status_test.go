package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shiptrack/shiptrack/api"
	"github.com/shiptrack/shiptrack/internal/mock"
	"github.com/shiptrack/shiptrack/shipment"
	"github.com/shiptrack/shiptrack/webhook"
)

// TestWebhookStatusRoute: GET /webhooks/status turns the store's view
// into the documented JSON (validated against openapi.json), at the
// server's clock; a paused endpoint's URL and any URL in its pause
// reason are cut to scheme and host; admin token only; a store outage
// is a 503 problem.
func TestWebhookStatusRoute(t *testing.T) {
	t.Parallel()
	router := specRouter(t)
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	pausedAt := now.Add(-time.Hour)
	last := now.Add(-30 * time.Second)
	const hook = "https://user:pass@hooks.example.net:8443/in/x?token=s3cr3t-t0ken"
	var asked time.Time
	hooks := &mock.Webhooks{WebhookStatusFn: func(_ context.Context, at time.Time) (webhook.Status, error) {
		asked = at
		return webhook.Status{
			Queue: webhook.QueueStats{
				Pending: map[webhook.QueueKey]int64{
					{Endpoint: webhook.EndpointActive, State: webhook.QueueDue}:      4,
					{Endpoint: webhook.EndpointActive, State: webhook.QueueInFlight}: 2,
					{Endpoint: webhook.EndpointActive, State: webhook.QueueWaiting}:  11,
					{Endpoint: webhook.EndpointPaused, State: webhook.QueueDue}:      30,
					{Endpoint: webhook.EndpointPaused, State: webhook.QueueWaiting}:  10,
				},
				Endpoints:     map[string]int64{webhook.EndpointActive: 2, webhook.EndpointPaused: 1},
				OldestPending: map[string]time.Time{webhook.EndpointActive: now.Add(-20 * time.Minute), webhook.EndpointPaused: now.Add(-48 * time.Hour)},
				NextRetry:     now.Add(2 * time.Minute),
			},
			Paused: []webhook.Endpoint{{ID: 3, URL: hook, PausedAt: &pausedAt, Failures: 20,
				PauseReason: fmt.Sprintf(`20 consecutive failed deliveries; last: Post %q: dial tcp 10.0.0.7:8443: connect: connection refused`, hook)}},
			Delivered24h: 18342, Failed24h: 7, LastAttemptAt: &last,
		}, nil
	}}
	srv := httptest.NewServer(api.New(api.Config{Shipments: &mock.Shipments{}, Webhooks: hooks, AdminTokens: []string{"admin"},
		WriteTokens: []string{"writer"}, Now: func() time.Time { return now }}))
	t.Cleanup(srv.Close)
	admin := map[string]string{"Authorization": "Bearer admin"}

	res := specCase{method: "GET", target: "/webhooks/status", header: admin, status: 200}.check(t, router, srv.URL)
	if !asked.Equal(now) {
		t.Errorf("the store was asked at %v, want the server's now %v", asked, now)
	}
	for _, leak := range []string{"s3cr3t", "pass", "/in/x", "token"} {
		if strings.Contains(string(res.body), leak) {
			t.Errorf("the status shows %q of the endpoint URL: %s", leak, res.body)
		}
	}
	var got api.WebhookStatusJSON
	if err := json.Unmarshal(res.body, &got); err != nil {
		t.Fatal(err)
	}
	wantEndpoints := api.WebhookEndpointsStatusJSON{Active: 2, Paused: 1, List: []api.PausedEndpointJSON{{ID: 3,
		Origin: "https://hooks.example.net:8443", PausedAt: "2026-12-02T09:00:00Z", ConsecutiveFailures: 20,
		PauseReason: `20 consecutive failed deliveries; last: Post "https://hooks.example.net:8443": dial tcp 10.0.0.7:8443: connect: connection refused`}}}
	if g, w := fmt.Sprintf("%+v", got.Endpoints), fmt.Sprintf("%+v", wantEndpoints); g != w {
		t.Errorf("endpoints\n got %s\nwant %s", g, w)
	}
	d := got.Deliveries
	str := func(p *string) string {
		if p == nil {
			return "null"
		}
		return *p
	}
	if d.Pending != 57 || d.Due != 4 || d.InFlight != 2 || d.WaitingForRetry != 11 || d.OnPausedEndpoints != 40 ||
		str(d.NextRetryAt) != "2026-12-02T10:02:00Z" || str(d.OldestPendingAt) != "2026-12-02T09:40:00Z" || d.OldestPendingAgeSeconds != 1200 ||
		d.DeliveredLast24h != 18342 || d.FailedLast24h != 7 || str(d.LastAttemptAt) != "2026-12-02T09:59:30Z" {
		t.Errorf("deliveries %+v (next retry %s, oldest %s, last %s)", d, str(d.NextRetryAt), str(d.OldestPendingAt), str(d.LastAttemptAt))
	}

	// Nothing yet: zeros, nulls and an empty list, still as documented.
	hooks.WebhookStatusFn = func(context.Context, time.Time) (webhook.Status, error) {
		return webhook.Status{Queue: webhook.QueueStats{Pending: map[webhook.QueueKey]int64{}, Endpoints: map[string]int64{}}}, nil
	}
	res = specCase{method: "GET", target: "/webhooks/status", header: admin, status: 200}.check(t, router, srv.URL)
	const empty = `{"endpoints":{"active":0,"paused":0,"paused_endpoints":[]},"deliveries":{"pending":0,"due":0,"in_flight":0,` +
		`"waiting_for_retry":0,"next_retry_at":null,"on_paused_endpoints":0,"oldest_pending_created_at":null,` +
		`"oldest_pending_age_seconds":0,"delivered_last_24h":0,"failed_last_24h":0,"last_attempt_at":null}}`
	if strings.TrimSpace(string(res.body)) != empty {
		t.Errorf("empty status %s", res.body)
	}

	specCase{method: "GET", target: "/webhooks/status", status: 401}.check(t, router, srv.URL)
	specCase{method: "GET", target: "/webhooks/status", header: map[string]string{"Authorization": "Bearer writer"}, status: 403}.check(t, router, srv.URL)
	hooks.WebhookStatusFn = func(context.Context, time.Time) (webhook.Status, error) {
		return webhook.Status{}, fmt.Errorf("store: webhook queue: %w", shipment.ErrUnavailable)
	}
	specCase{method: "GET", target: "/webhooks/status", header: admin, status: 503}.check(t, router, srv.URL)
}
