-- Webhooks (issue 16): the subscriptions and the outbox of their
-- deliveries (see the PostgreSQL file). Written as GORM's AutoMigrate
-- writes the row types (store/db.go).

-- +goose Up
CREATE TABLE `webhook_endpoints` (`id` integer PRIMARY KEY AUTOINCREMENT,`url` text NOT NULL,`secret` text NOT NULL,`previous_secret` text NOT NULL DEFAULT "",`previous_secret_until` datetime,`statuses` text NOT NULL DEFAULT "",`carriers` text NOT NULL DEFAULT "",`created_at` datetime,`paused_at` datetime,`pause_reason` text NOT NULL DEFAULT "",`failures` integer NOT NULL DEFAULT 0);
CREATE TABLE `webhook_deliveries` (`id` integer PRIMARY KEY AUTOINCREMENT,`delivery_id` text NOT NULL,`endpoint_id` integer NOT NULL,`shipment_id` integer NOT NULL,`event_type` text NOT NULL,`previous_status` text NOT NULL DEFAULT "",`new_status` text NOT NULL DEFAULT "",`status` text NOT NULL,`attempts` integer NOT NULL DEFAULT 0,`next_attempt_at` datetime NOT NULL,`claimed_until` datetime,`first_attempt_at` datetime,`last_status_code` integer NOT NULL DEFAULT 0,`last_error` text NOT NULL DEFAULT "",`last_duration_ms` integer NOT NULL DEFAULT 0,`created_at` datetime,`delivered_at` datetime);
CREATE UNIQUE INDEX `ux_webhook_deliveries_delivery` ON `webhook_deliveries`(`delivery_id`);
CREATE INDEX `ix_webhook_deliveries_due` ON `webhook_deliveries`(`status`,`next_attempt_at`);
CREATE INDEX `ix_webhook_deliveries_order` ON `webhook_deliveries`(`endpoint_id`,`shipment_id`,`id`);
CREATE INDEX `ix_webhook_deliveries_endpoint` ON `webhook_deliveries`(`endpoint_id`,`id`);

-- +goose Down
DROP TABLE `webhook_deliveries`;
DROP TABLE `webhook_endpoints`;
