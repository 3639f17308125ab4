-- The pending deliveries' order index, partial as on PostgreSQL (see
-- its 00009): only pending rows, the ones the claim checks.

-- +goose Up
DROP INDEX IF EXISTS `ix_webhook_deliveries_order`;
CREATE INDEX `ix_webhook_deliveries_pending` ON `webhook_deliveries`(`endpoint_id`,`shipment_id`,`id`) WHERE status = 'pending';

-- +goose Down
DROP INDEX IF EXISTS `ix_webhook_deliveries_pending`;
CREATE INDEX `ix_webhook_deliveries_order` ON `webhook_deliveries`(`endpoint_id`,`shipment_id`,`id`);
