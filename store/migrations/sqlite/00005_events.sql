-- Tracking events (issue 15): the events table, shipments.status_text
-- (the latest event's carrier wording beside the normalised status), and
-- the index of the incremental sync on (updated_at, id). Migration 6 (Go,
-- store/events_migrate.go) then turns each shipment's status into its
-- first event. Written as GORM's AutoMigrate writes the row types.

-- +goose Up
ALTER TABLE `shipments` ADD COLUMN `status_text` text NOT NULL DEFAULT "";
CREATE INDEX `ix_shipments_updated` ON `shipments`(`updated_at`,`id`);
CREATE TABLE `events` (`id` integer PRIMARY KEY AUTOINCREMENT,`shipment_id` integer NOT NULL,`event_id` text NOT NULL,`occurred_at` datetime NOT NULL,`status` text NOT NULL,`status_text` text NOT NULL,`location` text NOT NULL DEFAULT "",`message` text NOT NULL DEFAULT "",`source` text NOT NULL,`created_at` datetime,CONSTRAINT `fk_events_shipment` FOREIGN KEY (`shipment_id`) REFERENCES `shipments`(`id`) ON DELETE CASCADE);
CREATE UNIQUE INDEX `ux_events_shipment_event` ON `events`(`shipment_id`,`event_id`);
CREATE INDEX `ix_events_shipment_time` ON `events`(`shipment_id`,`occurred_at`,`id`);

-- +goose Down
DROP TABLE `events`;
DROP INDEX `ix_shipments_updated`;
ALTER TABLE `shipments` DROP COLUMN `status_text`;
