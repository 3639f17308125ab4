package main

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shiptrack/shiptrack/api"
)

// TestWebhookVisibilitySystem runs the service as main wires it on both
// drivers: one status change goes to three receivers, one taking it, one
// refusing it for good (400) and one failing for now (503). GET
// /webhooks/status and /metrics then show one delivered, one failed and
// one waiting for its retry, in real time.
func TestWebhookVisibilitySystem(t *testing.T) {
	t.Parallel()
	for _, d := range webhookSetups {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			testWebhookVisibility(t, webhookEnv(t, d, nil))
		})
	}
}

func testWebhookVisibility(t *testing.T, e map[string]string) {
	receiver := func(code int) (*httptest.Server, *atomic.Int64) {
		var n atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			n.Add(1)
			w.WriteHeader(code)
		}))
		t.Cleanup(srv.Close)
		return srv, &n
	}
	ok, okN := receiver(200)
	gone, goneN := receiver(400)
	busy, busyN := receiver(503)
	base, _ := startService(t, e, nil)
	c := sysClient{t, base}
	a := sysAdminToken

	c.wantProblem(c.do("GET", "/webhooks/status", sysWriteToken, nil), 403)
	var st api.WebhookStatusJSON
	c.want(c.do("GET", "/webhooks/status", a, nil), 200, &st)
	if st.Deliveries.Pending != 0 || st.Deliveries.LastAttemptAt != nil || st.Deliveries.NextRetryAt != nil || st.Endpoints.Active != 0 {
		t.Fatalf("before any endpoint: %+v", st)
	}
	page := getText(t, base+"/metrics")
	for _, want := range []string{
		"# HELP shiptrack_webhook_attempts_total Webhook delivery attempts",
		"# TYPE shiptrack_webhook_attempts_total counter",
		"# TYPE shiptrack_webhook_failures_total counter",
		"# TYPE shiptrack_webhook_attempt_duration_seconds histogram",
		"# TYPE shiptrack_webhook_pending_deliveries gauge",
		"# TYPE shiptrack_webhook_endpoints gauge",
		"# TYPE shiptrack_webhook_oldest_pending_age_seconds gauge",
		`shiptrack_webhook_attempts_total{outcome="delivered"} 0`,
		`shiptrack_webhook_pending_deliveries{endpoint_state="active",state="due"} 0`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	for _, u := range []string{ok.URL, gone.URL, busy.URL + "/in?token=s3cr3t"} {
		c.want(c.do("POST", "/webhooks", a, map[string]any{"url": u}), 201, nil)
	}
	day := time.Now().UTC().Truncate(time.Second).Add(time.Minute) // after the seed's import events
	c.want(c.do("POST", "/shipment/DHL/TN12345678/events", sysWriteToken, ev("v1", day, "delivered")), 201, nil)

	// Each receiver is tried once; the 503 one's retry is 30 s away (the
	// default schedule), so the picture holds still for the checks.
	deadline := time.Now().Add(20 * time.Second)
	for {
		c.want(c.do("GET", "/webhooks/status", a, nil), 200, &st)
		d := st.Deliveries
		if okN.Load() == 1 && goneN.Load() == 1 && busyN.Load() == 1 && d.DeliveredLast24h == 1 && d.FailedLast24h == 1 && d.WaitingForRetry == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("attempts ok %d, 400 %d, 503 %d; status %+v", okN.Load(), goneN.Load(), busyN.Load(), st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	d := st.Deliveries
	if st.Endpoints.Active != 3 || st.Endpoints.Paused != 0 || d.Pending != 1 || d.Due != 0 || d.InFlight != 0 {
		t.Errorf("status %+v", st)
	}
	now := time.Now()
	if next := parseTime(t, d.NextRetryAt); next.Before(now.Add(10*time.Second)) || next.After(now.Add(40*time.Second)) {
		t.Errorf("next retry %v, want about 30 s after the attempt (now %v)", next, now)
	}
	if last := parseTime(t, d.LastAttemptAt); now.Sub(last) > 20*time.Second || last.After(now) {
		t.Errorf("last attempt %v (now %v)", last, now)
	}
	if created := parseTime(t, d.OldestPendingAt); now.Sub(created) > 25*time.Second || d.OldestPendingAgeSeconds < 0 || d.OldestPendingAgeSeconds > 25 {
		t.Errorf("oldest pending %v, age %d s", created, d.OldestPendingAgeSeconds)
	}

	// The gauges are read at most every 2 s: wait for a fresh read.
	want := map[string]float64{
		`shiptrack_webhook_attempts_total{outcome="delivered"}`:                           1,
		`shiptrack_webhook_attempts_total{outcome="retry"}`:                               1,
		`shiptrack_webhook_attempts_total{outcome="failed"}`:                              1,
		`shiptrack_webhook_failures_total{reason="http_4xx"}`:                             1,
		`shiptrack_webhook_failures_total{reason="http_5xx"}`:                             1,
		`shiptrack_webhook_failures_total{reason="connection"}`:                           0,
		`shiptrack_webhook_attempt_duration_seconds_count`:                                3,
		`shiptrack_webhook_endpoints{state="active"}`:                                     3,
		`shiptrack_webhook_endpoints{state="paused"}`:                                     0,
		`shiptrack_webhook_pending_deliveries{endpoint_state="active",state="waiting"}`:   1,
		`shiptrack_webhook_pending_deliveries{endpoint_state="active",state="due"}`:       0,
		`shiptrack_webhook_pending_deliveries{endpoint_state="active",state="in_flight"}`: 0,
		`shiptrack_webhook_pending_deliveries{endpoint_state="paused",state="waiting"}`:   0,
		`shiptrack_webhook_oldest_pending_age_seconds{endpoint_state="paused"}`:           0,
		`shiptrack_webhook_pending_deliveries{endpoint_state="paused",state="in_flight"}`: 0,
		`shiptrack_webhook_pending_deliveries{endpoint_state="paused",state="due"}`:       0,
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		page = getText(t, base+"/metrics")
		var wrong []string
		for series, v := range want {
			if got, ok := metricValue(page, series); !ok || got != v {
				wrong = append(wrong, series+" = "+strconv.FormatFloat(got, 'g', -1, 64)+", want "+strconv.FormatFloat(v, 'g', -1, 64))
			}
		}
		if age, ok := metricValue(page, `shiptrack_webhook_oldest_pending_age_seconds{endpoint_state="active"}`); !ok || age <= 0 || age > 30 {
			wrong = append(wrong, "oldest pending age "+strconv.FormatFloat(age, 'g', -1, 64))
		}
		if len(wrong) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics:\n%s", strings.Join(wrong, "\n"))
		}
		time.Sleep(250 * time.Millisecond)
	}
	if strings.Contains(page, "s3cr3t") || strings.Contains(page, "127.0.0.1:"+strings.Split(busy.URL, ":")[2]) {
		t.Error("/metrics shows an endpoint's URL")
	}
}

func parseTime(t *testing.T, s *string) time.Time {
	t.Helper()
	if s == nil {
		t.Fatal("a time is null")
	}
	v, err := time.Parse(time.RFC3339, *s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// metricValue reads the sample of one series from a scrape.
func metricValue(page, series string) (float64, bool) {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(page)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}
