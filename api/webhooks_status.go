package api

import (
	"net/http"
	"net/url"
	"regexp"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shiptrack/shiptrack/webhook"
)

// WebhookStatusJSON is GET /webhooks/status: the deliveries' counterpart
// of GET /weather/status.
type WebhookStatusJSON struct {
	Endpoints  WebhookEndpointsStatusJSON  `json:"endpoints"`
	Deliveries WebhookDeliveriesStatusJSON `json:"deliveries"`
}

// WebhookEndpointsStatusJSON counts the endpoints and lists the paused
// ones.
type WebhookEndpointsStatusJSON struct {
	Active int64                `json:"active"`
	Paused int64                `json:"paused"`
	List   []PausedEndpointJSON `json:"paused_endpoints"`
}

// PausedEndpointJSON is a paused endpoint: its URL only as scheme and
// host (a URL may carry a token), the same in its pause reason.
type PausedEndpointJSON struct {
	ID                  uint64 `json:"id"`
	Origin              string `json:"origin"`
	PausedAt            string `json:"paused_at"`
	PauseReason         string `json:"pause_reason"`
	ConsecutiveFailures int    `json:"consecutive_failures"`
}

// WebhookDeliveriesStatusJSON is the queue and the recent outcomes.
// Pending is Due + InFlight + WaitingForRetry + OnPausedEndpoints; the
// first three and the oldest pending are the active endpoints' (a paused
// endpoint's wait for its resume).
type WebhookDeliveriesStatusJSON struct {
	Pending                 int64   `json:"pending"`
	Due                     int64   `json:"due"`
	InFlight                int64   `json:"in_flight"`
	WaitingForRetry         int64   `json:"waiting_for_retry"`
	NextRetryAt             *string `json:"next_retry_at"`
	OnPausedEndpoints       int64   `json:"on_paused_endpoints"`
	OldestPendingAt         *string `json:"oldest_pending_created_at"`
	OldestPendingAgeSeconds int64   `json:"oldest_pending_age_seconds"`
	DeliveredLast24h        int64   `json:"delivered_last_24h"`
	FailedLast24h           int64   `json:"failed_last_24h"`
	LastAttemptAt           *string `json:"last_attempt_at"`
}

// webhookStatus serves GET /webhooks/status.
func (s *Server) webhookStatus(c echo.Context) error {
	now := s.cfg.Now()
	st, err := s.cfg.Webhooks.WebhookStatus(c.Request().Context(), now)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, webhookStatusJSON(st, now))
}

func webhookStatusJSON(st webhook.Status, now time.Time) WebhookStatusJSON {
	q := st.Queue
	active := func(state string) int64 {
		return q.Pending[webhook.QueueKey{Endpoint: webhook.EndpointActive, State: state}]
	}
	var paused int64
	for k, n := range q.Pending {
		if k.Endpoint == webhook.EndpointPaused {
			paused += n
		}
	}
	d := WebhookDeliveriesStatusJSON{Due: active(webhook.QueueDue), InFlight: active(webhook.QueueInFlight),
		WaitingForRetry: active(webhook.QueueWaiting), OnPausedEndpoints: paused,
		DeliveredLast24h: st.Delivered24h, FailedLast24h: st.Failed24h, LastAttemptAt: rfc3339Ptr(st.LastAttemptAt)}
	d.Pending = d.Due + d.InFlight + d.WaitingForRetry + d.OnPausedEndpoints
	if !q.NextRetry.IsZero() {
		d.NextRetryAt = rfc3339Ptr(&q.NextRetry)
	}
	if t, ok := q.OldestPending[webhook.EndpointActive]; ok {
		d.OldestPendingAt = rfc3339Ptr(&t)
		d.OldestPendingAgeSeconds = max(0, now.Unix()-t.Unix())
	}
	out := WebhookStatusJSON{Deliveries: d, Endpoints: WebhookEndpointsStatusJSON{Active: q.Endpoints[webhook.EndpointActive],
		Paused: q.Endpoints[webhook.EndpointPaused], List: make([]PausedEndpointJSON, 0, len(st.Paused))}}
	for _, e := range st.Paused {
		out.Endpoints.List = append(out.Endpoints.List, PausedEndpointJSON{ID: e.ID, Origin: origin(e.URL),
			PausedAt: rfc3339(*e.PausedAt), PauseReason: withOrigins(e.PauseReason), ConsecutiveFailures: e.Failures})
	}
	return out
}

// origin is a URL's scheme and host: no user info, path or query, where
// a subscriber may keep a token. "" when it does not parse.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// urlInText is a URL inside free text, such as the client's error
// (`Post "https://host/path?token=…": …`) that a pause reason quotes.
var urlInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.\-]*://[^\s"'<>]+`)

// withOrigins cuts every URL in s down to its origin.
func withOrigins(s string) string {
	return urlInText.ReplaceAllStringFunc(s, func(u string) string {
		if o := origin(u); o != "" {
			return o
		}
		return "(URL)"
	})
}
