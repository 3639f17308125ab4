-- The claim of due deliveries (store.ClaimDueDeliveries) skips a delivery
-- while an older one of the same endpoint and shipment is pending. With
-- the full (endpoint_id, shipment_id, id) index, PostgreSQL planned that
-- check on (endpoint_id, id) whenever its statistics lagged a burst of
-- new rows (a backlog), reading every older delivery of the endpoint for
-- each candidate: 6 s for a claim of 200 in a backlog of 5,000. The
-- partial index holds only pending rows and matches every condition of
-- the check, so it is the plan whatever the statistics say, and it stays
-- as small as the backlog.

-- +goose Up
DROP INDEX IF EXISTS ix_webhook_deliveries_order;
CREATE INDEX ix_webhook_deliveries_pending ON webhook_deliveries (endpoint_id, shipment_id, id) WHERE status = 'pending';

-- +goose Down
DROP INDEX IF EXISTS ix_webhook_deliveries_pending;
CREATE INDEX ix_webhook_deliveries_order ON webhook_deliveries (endpoint_id, shipment_id, id);
