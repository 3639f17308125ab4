package jobs

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/shiptrack/shiptrack/webhook"
)

// Webhook metrics (issue 16). Counters and the duration histogram count
// this process's attempts; the gauges read the queue from the database
// at scrape time, so every replica reports the same, shared queue. No
// label holds an endpoint's URL or id: the states are a fixed set.

// webhookQueueTTL is how long one read of the queue serves the gauges:
// a scrape reads them all from one query, and scrapes closer together
// than this cost none.
const webhookQueueTTL = 2 * time.Second

// webhookDurationBuckets span a fast local receiver to the attempt's
// timeout (DefaultWebhookTimeout).
var webhookDurationBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// WebhookMetricsHelp is the HELP text of the webhook metric families
// (the library writes HELP lines without text).
var WebhookMetricsHelp = map[string]string{
	"shiptrack_webhook_attempts_total":             "Webhook delivery attempts made by this process, by outcome: delivered, retry (scheduled again) or failed (given up).",
	"shiptrack_webhook_failures_total":             "Failed webhook delivery attempts made by this process, by reason: http_429, http_4xx, http_5xx, http_other (another non-2xx answer), timeout or connection.",
	"shiptrack_webhook_attempt_duration_seconds":   "Duration of webhook delivery attempts made by this process.",
	"shiptrack_webhook_pending_deliveries":         "Pending webhook deliveries (the queue, shared by every replica) by endpoint state and by state: due, in_flight (claimed) or waiting (for a retry); -1 when the database is unavailable.",
	"shiptrack_webhook_endpoints":                  "Webhook endpoints by state (active, paused); -1 when the database is unavailable.",
	"shiptrack_webhook_oldest_pending_age_seconds": "Age of the oldest pending webhook delivery by endpoint state (0 when none is pending, -1 when the database is unavailable).",
}

// Outcomes of an attempt, the attempts_total label: its delivery's new
// state.
var attemptOutcomes = map[string]string{
	webhook.StateDelivered: "delivered",
	webhook.StatePending:   "retry",
	webhook.StateFailed:    "failed",
}

// webhookQueueCache keeps the latest read of the queue for the gauges.
type webhookQueueCache struct {
	read func(ctx context.Context, now time.Time) (webhook.QueueStats, error)
	now  func() time.Time

	mu  sync.Mutex // held during the read, so concurrent scrapes share it
	at  time.Time
	q   webhook.QueueStats
	err error
}

func (c *webhookQueueCache) get() (webhook.QueueStats, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.at.IsZero() || now.Sub(c.at) >= webhookQueueTTL || now.Before(c.at) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c.q, c.err = c.read(ctx, now)
		cancel()
		c.at = now
	}
	return c.q, c.err
}

// registerWebhookMetrics adds the webhook metrics to set, the counters at
// zero so that their series exist before the first attempt.
func (r *Refresher) registerWebhookMetrics(set *metrics.Set) error {
	if slices.Contains(set.ListMetricNames(), "shiptrack_webhook_endpoints{state=\"active\"}") {
		return errors.New("jobs: metrics: the webhook metrics are already registered in this set")
	}
	for _, o := range attemptOutcomes {
		set.GetOrCreateCounter(`shiptrack_webhook_attempts_total{outcome="` + o + `"}`)
	}
	for _, reason := range []string{"http_429", "http_4xx", "http_5xx", "http_other", "timeout", "connection"} {
		set.GetOrCreateCounter(`shiptrack_webhook_failures_total{reason="` + reason + `"}`)
	}
	set.GetOrCreatePrometheusHistogramExt("shiptrack_webhook_attempt_duration_seconds", webhookDurationBuckets)
	c := &webhookQueueCache{read: r.hooks.cfg.Store.WebhookQueue, now: r.cfg.Now}
	gauge := func(name string, f func(q webhook.QueueStats) float64) {
		set.NewGauge(name, func() float64 {
			q, err := c.get()
			if err != nil {
				return -1
			}
			return f(q)
		})
	}
	for _, es := range []string{webhook.EndpointActive, webhook.EndpointPaused} {
		gauge(`shiptrack_webhook_endpoints{state="`+es+`"}`, func(q webhook.QueueStats) float64 { return float64(q.Endpoints[es]) })
		for _, s := range []string{webhook.QueueDue, webhook.QueueInFlight, webhook.QueueWaiting} {
			k := webhook.QueueKey{Endpoint: es, State: s}
			gauge(`shiptrack_webhook_pending_deliveries{endpoint_state="`+es+`",state="`+s+`"}`,
				func(q webhook.QueueStats) float64 { return float64(q.Pending[k]) })
		}
		gauge(`shiptrack_webhook_oldest_pending_age_seconds{endpoint_state="`+es+`"}`, func(q webhook.QueueStats) float64 {
			t, ok := q.OldestPending[es]
			if !ok {
				return 0
			}
			return max(0, r.cfg.Now().Sub(t).Seconds())
		})
	}
	return nil
}

// countAttempt counts one recorded attempt: its outcome, its duration
// and, when it failed, why.
func (r *Refresher) countAttempt(a webhook.Result, state string) {
	set := r.cfg.Metrics
	if set == nil {
		return
	}
	set.GetOrCreateCounter(`shiptrack_webhook_attempts_total{outcome="` + attemptOutcomes[state] + `"}`).Inc()
	set.GetOrCreatePrometheusHistogramExt("shiptrack_webhook_attempt_duration_seconds", webhookDurationBuckets).Update(a.Duration.Seconds())
	if reason := failureReason(a); reason != "" {
		set.GetOrCreateCounter(`shiptrack_webhook_failures_total{reason="` + reason + `"}`).Inc()
	}
}

// failureReason classes a failed attempt ("" for a success): by the
// answer's status, or without one a timeout or another connection
// failure (refused, reset, a forbidden address or redirect).
func failureReason(a webhook.Result) string {
	switch c := a.StatusCode; {
	case a.OK():
		return ""
	case c == 429:
		return "http_429"
	case c >= 500:
		return "http_5xx"
	case c >= 400:
		return "http_4xx"
	case c > 0:
		return "http_other"
	case strings.Contains(a.Err, "Timeout") || strings.Contains(a.Err, "deadline exceeded"):
		return "timeout"
	}
	return "connection"
}
