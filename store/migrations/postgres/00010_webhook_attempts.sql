-- Webhook visibility (issue 16, GET /webhooks/status): when each
-- delivery was last tried, indexed with its state, so the deliveries that
-- ended in the last 24 hours and the latest attempt are read from the
-- index instead of the whole outbox. Rows from before it take their
-- delivery time, or for failed ones the time their last attempt was due.
-- Written as GORM's AutoMigrate writes the row types (store/db.go).

-- +goose Up
ALTER TABLE webhook_deliveries ADD COLUMN last_attempt_at timestamp with time zone;
UPDATE webhook_deliveries SET last_attempt_at = COALESCE(delivered_at, next_attempt_at) WHERE status <> 'pending';
CREATE INDEX ix_webhook_deliveries_attempted ON webhook_deliveries (last_attempt_at, status);

-- +goose Down
DROP INDEX ix_webhook_deliveries_attempted;
ALTER TABLE webhook_deliveries DROP COLUMN last_attempt_at;
