-- Webhook visibility (issue 16): when each delivery was last tried, and
-- its index (see the PostgreSQL file). Written as GORM's AutoMigrate
-- writes the row types (store/db.go).

-- +goose Up
ALTER TABLE `webhook_deliveries` ADD COLUMN `last_attempt_at` datetime;
UPDATE `webhook_deliveries` SET `last_attempt_at` = COALESCE(`delivered_at`, `next_attempt_at`) WHERE `status` <> 'pending';
CREATE INDEX `ix_webhook_deliveries_attempted` ON `webhook_deliveries`(`last_attempt_at`,`status`);

-- +goose Down
DROP INDEX `ix_webhook_deliveries_attempted`;
ALTER TABLE `webhook_deliveries` DROP COLUMN `last_attempt_at`;
