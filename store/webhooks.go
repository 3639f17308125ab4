package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/shiptrack/shiptrack/shipment"
	"github.com/shiptrack/shiptrack/webhook"
)

// Webhooks (issue 16): the subscriptions, the outbox written with each
// status change (enqueueWebhooks, inside appendEvents' transaction), and
// what the dispatcher in package jobs needs to claim, send and record
// deliveries.

// hookTime is a time as the webhook tables store it: UTC, whole seconds.
// SQLite compares the stored text, and fractions of varying length would
// not compare in time order.
func hookTime(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

// hookTimeCeil rounds up to the second: a retry is never due before its
// time (Retry-After).
func hookTimeCeil(t time.Time) time.Time {
	if u := hookTime(t); u.Before(t) {
		return u.Add(time.Second)
	}
	return hookTime(t)
}

func splitList(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

func (r webhookEndpointRow) endpoint() webhook.Endpoint {
	return webhook.Endpoint{ID: r.ID, URL: r.URL, Statuses: splitList(r.Statuses), Carriers: splitList(r.Carriers),
		CreatedAt: r.CreatedAt.UTC(), PausedAt: utcPtr(r.PausedAt), PauseReason: r.PauseReason, Failures: r.Failures}
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func (r webhookDeliveryRow) delivery() webhook.Delivery {
	d := webhook.Delivery{ID: r.ID, DeliveryID: r.DeliveryID, EndpointID: r.EndpointID, ShipmentID: r.ShipmentID,
		Type: r.EventType, PreviousStatus: r.PreviousStatus, Status: r.NewStatus, State: r.Status, Attempts: r.Attempts,
		FirstAttemptAt: utcPtr(r.FirstAttemptAt), LastStatusCode: r.LastStatusCode, LastError: r.LastError,
		LastDuration: time.Duration(r.LastDurationMs) * time.Millisecond, CreatedAt: r.CreatedAt.UTC(), DeliveredAt: utcPtr(r.DeliveredAt)}
	if r.Status == webhook.StatePending {
		d.NextAttemptAt = utcPtr(&r.NextAttemptAt)
	}
	return d
}

// CreateWebhook stores a new endpoint with a fresh secret, which the
// answer holds (the only time it is shown). The URL and filters are
// checked by the caller.
func (s *Store) CreateWebhook(ctx context.Context, url string, statuses, carriers []string) (webhook.Endpoint, error) {
	keys := make([]string, len(carriers))
	for i, c := range carriers {
		keys[i] = shipment.CarrierKey(c)
	}
	row := webhookEndpointRow{URL: url, Secret: webhook.NewSecret(), Statuses: strings.Join(statuses, ","),
		Carriers: strings.Join(keys, ","), CreatedAt: hookTime(time.Now())}
	if err := s.db.WithContext(ctx).Create(&row).Error; err != nil {
		return webhook.Endpoint{}, fmt.Errorf("store: create webhook: %w", wrapUnavailable(err))
	}
	e := row.endpoint()
	e.Secret = row.Secret
	return e, nil
}

// Webhooks lists the endpoints, oldest first, without their secrets.
func (s *Store) Webhooks(ctx context.Context) ([]webhook.Endpoint, error) {
	var rows []webhookEndpointRow
	if err := s.db.WithContext(ctx).Order("id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: webhooks: %w", wrapUnavailable(err))
	}
	out := make([]webhook.Endpoint, len(rows))
	for i, r := range rows {
		out[i] = r.endpoint()
	}
	return out, nil
}

// DeleteWebhook removes an endpoint and its deliveries, pending ones too
// (shipment.ErrNotFound when there is no such endpoint).
func (s *Store) DeleteWebhook(ctx context.Context, id uint64) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Delete(&webhookEndpointRow{}, id)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return shipment.ErrNotFound
		}
		return tx.Where("endpoint_id = ?", id).Delete(&webhookDeliveryRow{}).Error
	})
	if err != nil {
		return fmt.Errorf("store: delete webhook: %w", wrapUnavailable(err))
	}
	return nil
}

// RotateWebhookSecret gives an endpoint a new secret, returned in the
// answer; the one it replaces keeps signing beside it until now+overlap.
func (s *Store) RotateWebhookSecret(ctx context.Context, id uint64, overlap time.Duration) (webhook.Endpoint, error) {
	var row webhookEndpointRow
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.First(&row, id).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return shipment.ErrNotFound
			}
			return err
		}
		until := hookTime(time.Now().Add(overlap))
		row.PreviousSecret, row.PreviousSecretUntil, row.Secret = row.Secret, &until, webhook.NewSecret()
		return tx.Model(&webhookEndpointRow{}).Where("id = ?", id).Updates(map[string]any{
			"secret": row.Secret, "previous_secret": row.PreviousSecret, "previous_secret_until": until}).Error
	})
	if err != nil {
		return webhook.Endpoint{}, fmt.Errorf("store: rotate webhook secret: %w", wrapUnavailable(err))
	}
	e := row.endpoint()
	e.Secret = row.Secret
	return e, nil
}

// WebhookDeliveries lists an endpoint's deliveries newest first, at most
// limit, those with an internal id below before when before > 0 (keyset
// pagination). shipment.ErrNotFound when there is no such endpoint.
func (s *Store) WebhookDeliveries(ctx context.Context, endpointID, before uint64, limit int) ([]webhook.Delivery, error) {
	db := s.db.WithContext(ctx)
	var n int64
	if err := db.Model(&webhookEndpointRow{}).Where("id = ?", endpointID).Count(&n).Error; err != nil {
		return nil, fmt.Errorf("store: webhook deliveries: %w", wrapUnavailable(err))
	}
	if n == 0 {
		return nil, fmt.Errorf("store: webhook deliveries: %w", shipment.ErrNotFound)
	}
	q := db.Where("endpoint_id = ?", endpointID)
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	var rows []webhookDeliveryRow
	if err := q.Order("id DESC").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: webhook deliveries: %w", wrapUnavailable(err))
	}
	out := make([]webhook.Delivery, len(rows))
	for i, r := range rows {
		out[i] = r.delivery()
	}
	return out, nil
}

// RedeliverWebhook makes a delivery pending again, due now, with a new
// retry period; it keeps its delivery id, so a receiver that took it
// already can tell. shipment.ErrNotFound when the endpoint has no such
// delivery.
func (s *Store) RedeliverWebhook(ctx context.Context, endpointID uint64, deliveryID string) (webhook.Delivery, error) {
	var row webhookDeliveryRow
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("endpoint_id = ? AND delivery_id = ?", endpointID, deliveryID).First(&row).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return shipment.ErrNotFound
			}
			return err
		}
		row.Status, row.NextAttemptAt, row.FirstAttemptAt, row.ClaimedUntil = webhook.StatePending, hookTime(time.Now()), nil, nil
		return tx.Model(&webhookDeliveryRow{}).Where("id = ?", row.ID).Updates(map[string]any{
			"status": row.Status, "next_attempt_at": row.NextAttemptAt, "first_attempt_at": nil, "claimed_until": nil}).Error
	})
	if err != nil {
		return webhook.Delivery{}, fmt.Errorf("store: redeliver webhook: %w", wrapUnavailable(err))
	}
	return row.delivery(), nil
}

// ResumeWebhook clears an endpoint's pause and its failure count.
func (s *Store) ResumeWebhook(ctx context.Context, id uint64) error {
	res := s.db.WithContext(ctx).Model(&webhookEndpointRow{}).Where("id = ?", id).
		Updates(map[string]any{"paused_at": nil, "pause_reason": "", "failures": 0})
	if res.Error != nil {
		return fmt.Errorf("store: resume webhook: %w", wrapUnavailable(res.Error))
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("store: resume webhook: %w", shipment.ErrNotFound)
	}
	return nil
}

// activeHook is an endpoint's filters, for the outbox.
type activeHook struct {
	id                 uint64
	statuses, carriers map[string]bool // nil = all
}

func setOf(list string) map[string]bool {
	if list == "" {
		return nil
	}
	m := make(map[string]bool)
	for _, v := range strings.Split(list, ",") {
		m[v] = true
	}
	return m
}

// activeHooks reads the endpoints that are not paused.
func activeHooks(ctx context.Context, pool gorm.ConnPool) ([]activeHook, error) {
	rows, err := pool.QueryContext(ctx, "SELECT id, statuses, carriers FROM webhook_endpoints WHERE paused_at IS NULL ORDER BY id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []activeHook
	for rows.Next() {
		var (
			h    activeHook
			s, c string
		)
		if err := rows.Scan(&h.id, &s, &c); err != nil {
			return nil, err
		}
		h.statuses, h.carriers = setOf(s), setOf(c)
		out = append(out, h)
	}
	return out, rows.Err()
}

type shipStatus struct{ status, carrierKey string }

// statusesOf reads the status and carrier key of the shipments ids.
func statusesOf(ctx context.Context, pool gorm.ConnPool, ids []uint64) (map[uint64]shipStatus, error) {
	out := make(map[uint64]shipStatus, len(ids))
	for start := 0; start < len(ids); start += importBatch {
		batch := ids[start:min(start+importBatch, len(ids))]
		var q strings.Builder
		q.WriteString("SELECT id, status, carrier_key FROM shipments WHERE id IN (")
		args := make([]any, len(batch))
		for i, id := range batch {
			if i > 0 {
				q.WriteByte(',')
			}
			args[i] = id
			q.WriteString("$" + strconv.Itoa(i+1))
		}
		q.WriteByte(')')
		rows, err := pool.QueryContext(ctx, q.String(), args...)
		err = eachRow(rows, err, func(rows *sql.Rows) error {
			var (
				id uint64
				st shipStatus
			)
			if err := rows.Scan(&id, &st.status, &st.carrierKey); err != nil {
				return err
			}
			out[id] = st
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// enqueueWebhooks writes the outbox rows of the shipments whose status
// went from before to what it is now, one per matching endpoint, in the
// caller's transaction: the change and its notifications commit together.
func enqueueWebhooks(ctx context.Context, pool gorm.ConnPool, hooks []activeHook, ids []uint64, before map[uint64]shipStatus, now time.Time) error {
	after, err := statusesOf(ctx, pool, ids)
	if err != nil {
		return err
	}
	now = hookTime(now)
	const cols = 10
	var (
		q    strings.Builder
		args []any
	)
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		_, err := pool.ExecContext(ctx, q.String(), args...)
		q.Reset()
		args = args[:0]
		return err
	}
	for _, id := range ids { // in id order: one shipment's rows in event order
		b, a := before[id], after[id]
		if a.status == b.status {
			continue
		}
		for _, h := range hooks {
			if h.statuses != nil && !h.statuses[a.status] || h.carriers != nil && !h.carriers[a.carrierKey] {
				continue
			}
			if len(args) == 0 {
				q.WriteString("INSERT INTO webhook_deliveries (delivery_id, endpoint_id, shipment_id, event_type, previous_status, new_status, status, attempts, next_attempt_at, created_at) VALUES ")
			} else {
				q.WriteByte(',')
			}
			q.WriteByte('(')
			for i := range cols {
				if i > 0 {
					q.WriteByte(',')
				}
				q.WriteString("$" + strconv.Itoa(len(args)+i+1))
			}
			q.WriteByte(')')
			args = append(args, webhook.NewDeliveryID(), h.id, id, webhook.EventStatusChanged, b.status, a.status,
				webhook.StatePending, 0, now, now)
			if len(args) >= 100*cols {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	return flush()
}

// ClaimDueDeliveries marks up to limit due deliveries as taken by this
// replica until leaseUntil and returns their ids, oldest due first. Due:
// pending, next attempt reached, not taken (or the taker's lease ran
// out), its endpoint not paused nor one of skip, and no older pending
// delivery of the same endpoint and shipment (so one shipment's
// deliveries arrive in event order). The UPDATE is conditional on the row
// still being untaken: of replicas racing for a row, one wins. skip names
// the endpoints this replica has no worker for now (their share is busy):
// another replica may take theirs, and the next sweep here does.
//
// On PostgreSQL the statement is planned for each claim
// (plan_cache_mode force_custom_plan, as the importer does): a plan
// cached while the table was small or its statistics lagged a burst of
// new rows checked the order on the wrong index, reading every older
// delivery of the endpoint for each candidate, seconds a claim.
func (s *Store) ClaimDueDeliveries(ctx context.Context, now, leaseUntil time.Time, limit int, skip ...uint64) ([]uint64, error) {
	now, leaseUntil = hookTime(now), hookTimeCeil(leaseUntil)
	args := []any{leaseUntil, now, now}
	var notIn strings.Builder
	if len(skip) > 0 {
		// On the endpoints' side of the join, so a skipped endpoint's
		// deliveries are not even read.
		notIn.WriteString(" AND e.id NOT IN (")
		for i, id := range skip {
			if i > 0 {
				notIn.WriteByte(',')
			}
			notIn.WriteByte('?')
			args = append(args, id)
		}
		notIn.WriteByte(')')
	}
	args = append(args, limit, now)
	var ids []uint64
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if isPostgres(tx) {
			if err := tx.Exec("SET LOCAL plan_cache_mode = force_custom_plan").Error; err != nil {
				return err
			}
		}
		return tx.Raw(`UPDATE webhook_deliveries SET claimed_until = ?
WHERE id IN (SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.paused_at IS NULL
  WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND (d.claimed_until IS NULL OR d.claimed_until < ?)`+notIn.String()+`
  AND NOT EXISTS (SELECT 1 FROM webhook_deliveries o WHERE o.endpoint_id = d.endpoint_id AND o.shipment_id = d.shipment_id
    AND o.status = 'pending' AND o.id < d.id)
  ORDER BY d.next_attempt_at, d.id LIMIT ?)
AND status = 'pending' AND (claimed_until IS NULL OR claimed_until < ?)
RETURNING id`, args...).Scan(&ids).Error
	})
	if err != nil {
		return nil, fmt.Errorf("store: claim deliveries: %w", wrapUnavailable(err))
	}
	return ids, nil
}

// OutgoingDelivery is what sending one delivery takes.
type OutgoingDelivery struct {
	webhook.Delivery
	URL            string
	Secret         string
	PreviousSecret string // while the rotation overlap lasts, else ""
	Carrier        string // the shipment's carrier key and tracking number, for its lookup
	TrackingNumber string
	// EndpointFailures is the endpoint's count of consecutive failures
	// when the delivery was read (Attempt.FailuresClear).
	EndpointFailures int
}

// DeliveryToSend reads a pending delivery with its endpoint and shipment,
// in one query (a worker runs it for every delivery); ok is false when it
// is no longer pending (delivered, failed, deleted) or its endpoint is
// paused.
func (s *Store) DeliveryToSend(ctx context.Context, id uint64, now time.Time) (OutgoingDelivery, bool, error) {
	var (
		d             webhookDeliveryRow
		out           OutgoingDelivery
		first, prevTo sql.NullTime
		found         bool
	)
	rows, err := s.db.WithContext(ctx).Raw(`SELECT d.id, d.delivery_id, d.endpoint_id, d.shipment_id, d.event_type,
  d.previous_status, d.new_status, d.status, d.attempts, d.next_attempt_at, d.first_attempt_at, d.created_at,
  e.url, e.secret, e.previous_secret, e.previous_secret_until, e.failures,
  COALESCE(sh.carrier_key, ''), COALESCE(sh.tracking_number, '')
FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.paused_at IS NULL
LEFT JOIN shipments sh ON sh.id = d.shipment_id
WHERE d.id = ? AND d.status = ?`, id, webhook.StatePending).Rows()
	err = eachRow(rows, err, func(rows *sql.Rows) error {
		found = true
		return rows.Scan(&d.ID, &d.DeliveryID, &d.EndpointID, &d.ShipmentID, &d.EventType,
			&d.PreviousStatus, &d.NewStatus, &d.Status, &d.Attempts, &d.NextAttemptAt, &first, &d.CreatedAt,
			&out.URL, &out.Secret, &out.PreviousSecret, &prevTo, &out.EndpointFailures,
			&out.Carrier, &out.TrackingNumber)
	})
	if err != nil {
		return OutgoingDelivery{}, false, fmt.Errorf("store: delivery: %w", wrapUnavailable(err))
	}
	if !found {
		return OutgoingDelivery{}, false, nil
	}
	if first.Valid {
		d.FirstAttemptAt = &first.Time
	}
	out.Delivery = d.delivery()
	if out.PreviousSecret != "" && !(prevTo.Valid && now.Before(prevTo.Time)) {
		out.PreviousSecret = ""
	}
	return out, true, nil
}

// Attempt is the outcome of one delivery attempt, to record.
type Attempt struct {
	At         time.Time
	StatusCode int
	Duration   time.Duration
	Err        string
	// State is the delivery's new state; Next is its next attempt while
	// it stays pending.
	State string
	Next  time.Time
	// PauseAfter pauses the endpoint when this failure makes that many
	// consecutive ones (0: never).
	PauseAfter int
	// FailuresClear says the endpoint had no failures counted when the
	// delivery was read (OutgoingDelivery.EndpointFailures == 0): a
	// success then leaves the endpoint's row alone, the common case
	// costing no write to it. A failure counted meanwhile by another
	// attempt stays counted until the next success that sees it.
	FailuresClear bool
}

// RecordAttempt saves an attempt, releases the delivery's claim, and
// counts the endpoint's consecutive failures: a success resets them, a
// failure that reaches a.PauseAfter pauses the endpoint with the reason.
//
// A success is one statement, without a transaction, when the endpoint
// had no failures to reset (Attempt.FailuresClear): the delivery's row is
// what must not be lost; the count only decides when to pause.
func (s *Store) RecordAttempt(ctx context.Context, id uint64, a Attempt) error {
	at := hookTime(a.At)
	set := map[string]any{"status": a.State, "attempts": gorm.Expr("attempts + 1"), "claimed_until": nil,
		"last_status_code": a.StatusCode, "last_error": truncate(a.Err, 1000), "last_duration_ms": a.Duration.Milliseconds(),
		"first_attempt_at": gorm.Expr("COALESCE(first_attempt_at, ?)", at), "last_attempt_at": at}
	switch a.State {
	case webhook.StateDelivered:
		set["delivered_at"] = at
	case webhook.StatePending:
		set["next_attempt_at"] = hookTimeCeil(a.Next)
	}
	// The endpoint's id, read in the statement that needs it.
	endpoint := gorm.Expr("(SELECT endpoint_id FROM webhook_deliveries WHERE id = ?)", id)
	write := func(tx *gorm.DB) error {
		res := tx.Model(&webhookDeliveryRow{}).Where("id = ?", id).Updates(set)
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error // none: deleted with its endpoint meanwhile
		}
		if a.State == webhook.StateDelivered {
			if a.FailuresClear {
				return nil
			}
			return tx.Model(&webhookEndpointRow{}).Where("id = ? AND failures <> 0", endpoint).Update("failures", 0).Error
		}
		if err := tx.Model(&webhookEndpointRow{}).Where("id = ?", endpoint).Update("failures", gorm.Expr("failures + 1")).Error; err != nil {
			return err
		}
		if a.PauseAfter > 0 {
			reason := truncate(fmt.Sprintf("%d consecutive failed deliveries; last: %s", a.PauseAfter, a.Err), 1000)
			return tx.Model(&webhookEndpointRow{}).Where("id = ? AND failures >= ? AND paused_at IS NULL", endpoint, a.PauseAfter).
				Updates(map[string]any{"paused_at": at, "pause_reason": reason}).Error
		}
		return nil
	}
	db := s.db.WithContext(ctx)
	var err error
	if a.State == webhook.StateDelivered && a.FailuresClear {
		err = write(db) // one statement
	} else {
		err = db.Transaction(write)
	}
	if err != nil {
		return fmt.Errorf("store: record attempt: %w", wrapUnavailable(err))
	}
	return nil
}

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// ReleaseDelivery gives back a claimed delivery without an attempt (the
// worker found its endpoint busy): the next claim may take it at once.
func (s *Store) ReleaseDelivery(ctx context.Context, id uint64) error {
	if err := s.db.WithContext(ctx).Model(&webhookDeliveryRow{}).Where("id = ?", id).Update("claimed_until", nil).Error; err != nil {
		return fmt.Errorf("store: release delivery: %w", wrapUnavailable(err))
	}
	return nil
}

// ReleaseClaims gives back every claim on a pending delivery and returns
// how many. Only for a process that is the database's one consumer, at
// start (the in-process queue): the claims are then its previous life's,
// whose jobs died with it, and should not hold their deliveries back for
// the rest of the lease.
func (s *Store) ReleaseClaims(ctx context.Context) (int64, error) {
	res := s.db.WithContext(ctx).Model(&webhookDeliveryRow{}).Where("status = ? AND claimed_until IS NOT NULL", webhook.StatePending).
		Update("claimed_until", nil)
	if res.Error != nil {
		return 0, fmt.Errorf("store: release claims: %w", wrapUnavailable(res.Error))
	}
	return res.RowsAffected, nil
}
