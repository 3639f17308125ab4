package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/shiptrack/shiptrack/webhook"
)

// WebhookQueue counts the pending deliveries by endpoint state and by
// where they stand (due, in flight, waiting for a retry) at now, with
// the oldest of each endpoint state and the next retry, in one pass over
// the pending rows (index ix_webhook_deliveries_due); the endpoints by
// state in a second, small query. The metrics read it at scrape time.
func (s *Store) WebhookQueue(ctx context.Context, now time.Time) (webhook.QueueStats, error) {
	q := webhook.QueueStats{Pending: map[webhook.QueueKey]int64{}, Endpoints: map[string]int64{},
		OldestPending: map[string]time.Time{}}
	now = hookTime(now) // SQLite compares the stored text: same form
	db := s.db.WithContext(ctx)
	// In flight: claimed and its lease running, as ClaimDueDeliveries
	// sees it (a lapsed lease is due again).
	rows, err := db.Raw(`SELECT CASE WHEN e.paused_at IS NULL THEN 'active' ELSE 'paused' END,
  CASE WHEN d.claimed_until IS NOT NULL AND d.claimed_until >= ? THEN 'in_flight'
    WHEN d.next_attempt_at <= ? THEN 'due' ELSE 'waiting' END,
  COUNT(*), MIN(d.created_at), MIN(d.next_attempt_at)
FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
WHERE d.status = 'pending'
GROUP BY 1, 2`, now, now).Rows()
	err = eachRow(rows, err, func(rows *sql.Rows) error {
		var (
			k             webhook.QueueKey
			n             int64
			oldest, first any // SQLite gives aggregates of times as text
		)
		if err := rows.Scan(&k.Endpoint, &k.State, &n, &oldest, &first); err != nil {
			return err
		}
		q.Pending[k] = n
		o, err := aggregateTime(oldest)
		if err != nil {
			return err
		}
		if prev, ok := q.OldestPending[k.Endpoint]; !ok || o.Before(prev) {
			q.OldestPending[k.Endpoint] = o
		}
		if k == (webhook.QueueKey{Endpoint: webhook.EndpointActive, State: webhook.QueueWaiting}) {
			q.NextRetry, err = aggregateTime(first)
		}
		return err
	})
	if err != nil {
		return webhook.QueueStats{}, fmt.Errorf("store: webhook queue: %w", wrapUnavailable(err))
	}
	rows, err = db.Raw(`SELECT CASE WHEN paused_at IS NULL THEN 'active' ELSE 'paused' END, COUNT(*)
FROM webhook_endpoints GROUP BY 1`).Rows()
	err = eachRow(rows, err, func(rows *sql.Rows) error {
		var (
			state string
			n     int64
		)
		err := rows.Scan(&state, &n)
		q.Endpoints[state] = n
		return err
	})
	if err != nil {
		return webhook.QueueStats{}, fmt.Errorf("store: webhook queue: %w", wrapUnavailable(err))
	}
	return q, nil
}

// WebhookStatus is GET /webhooks/status's view at now: the queue, the
// paused endpoints, the deliveries that ended in the last 24 hours and
// the latest attempt (both from index ix_webhook_deliveries_attempted).
func (s *Store) WebhookStatus(ctx context.Context, now time.Time) (webhook.Status, error) {
	q, err := s.WebhookQueue(ctx, now)
	if err != nil {
		return webhook.Status{}, err
	}
	st := webhook.Status{Queue: q, Paused: []webhook.Endpoint{}}
	db := s.db.WithContext(ctx)
	var eps []webhookEndpointRow
	if err := db.Where("paused_at IS NOT NULL").Order("paused_at, id").Find(&eps).Error; err != nil {
		return webhook.Status{}, fmt.Errorf("store: webhook status: %w", wrapUnavailable(err))
	}
	for _, e := range eps {
		st.Paused = append(st.Paused, e.endpoint())
	}
	rows, err := db.Raw(`SELECT status, COUNT(*) FROM webhook_deliveries
WHERE last_attempt_at >= ? AND status IN ('delivered', 'failed') GROUP BY status`, hookTime(now.Add(-24*time.Hour))).Rows()
	err = eachRow(rows, err, func(rows *sql.Rows) error {
		var (
			state string
			n     int64
		)
		err := rows.Scan(&state, &n)
		if state == webhook.StateDelivered {
			st.Delivered24h = n
		} else {
			st.Failed24h = n
		}
		return err
	})
	if err != nil {
		return webhook.Status{}, fmt.Errorf("store: webhook status: %w", wrapUnavailable(err))
	}
	var last []time.Time
	// A plain column, not MAX(), for the time type on both drivers.
	if err := db.Model(&webhookDeliveryRow{}).Where("last_attempt_at IS NOT NULL").
		Order("last_attempt_at DESC").Limit(1).Pluck("last_attempt_at", &last).Error; err != nil {
		return webhook.Status{}, fmt.Errorf("store: webhook status: %w", wrapUnavailable(err))
	}
	if len(last) > 0 {
		st.LastAttemptAt = utcPtr(&last[0])
	}
	return st, nil
}

// aggregateTime reads MIN() of a time column: a time from PostgreSQL,
// the stored text from SQLite.
func aggregateTime(v any) (time.Time, error) {
	switch v := v.(type) {
	case time.Time:
		return v.UTC(), nil
	case nil:
		return time.Time{}, nil
	case []byte:
		return aggregateTime(string(v))
	case string:
		for _, layout := range []string{"2006-01-02 15:04:05.999999999-07:00", time.RFC3339Nano, "2006-01-02 15:04:05.999999999"} {
			if t, err := time.Parse(layout, v); err == nil {
				return t.UTC(), nil
			}
		}
		return time.Time{}, fmt.Errorf("unreadable time %q", v)
	}
	return time.Time{}, fmt.Errorf("unreadable time of type %T", v)
}
