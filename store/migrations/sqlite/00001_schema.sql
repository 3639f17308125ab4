-- The schema as GORM's AutoMigrate made it up to the release before
-- versioned migrations (sqlite3 .schema of a fresh database, verbatim,
-- "" defaults included). Databases made by that release are baselined at
-- this version instead of running it (store/migrate.go).

-- +goose Up
CREATE TABLE `locations` (`id` integer PRIMARY KEY AUTOINCREMENT,`key` text NOT NULL,`postal_code` text NOT NULL,`city` text NOT NULL,`country` text NOT NULL,`place_key` text NOT NULL DEFAULT "",`weather_location_id` integer,`created_at` datetime);
CREATE INDEX `ix_locations_weather` ON `locations`(`weather_location_id`);
CREATE INDEX `ix_locations_place` ON `locations`(`place_key`);
CREATE UNIQUE INDEX `ux_locations_key` ON `locations`(`key`);
CREATE TABLE `shipments` (`id` integer PRIMARY KEY AUTOINCREMENT,`carrier_key` text NOT NULL,`tracking_number` text NOT NULL,`tracking_display` text NOT NULL DEFAULT "",`carrier` text NOT NULL,`status` text NOT NULL,`sender_address` text NOT NULL,`receiver_address` text NOT NULL,`location_id` integer,`created_at` datetime,`updated_at` datetime);
CREATE INDEX `ix_shipments_location` ON `shipments`(`location_id`);
CREATE INDEX `ix_shipments_status` ON `shipments`(`status`,`carrier_key`,`tracking_number`);
CREATE UNIQUE INDEX `ux_shipments_carrier_tracking` ON `shipments`(`carrier_key`,`tracking_number`);
CREATE TABLE `articles` (`id` integer PRIMARY KEY AUTOINCREMENT,`shipment_id` integer NOT NULL,`position` integer NOT NULL,`name` text NOT NULL,`quantity` integer NOT NULL,`price_cents` integer NOT NULL,`sku` text NOT NULL);
CREATE INDEX `ix_articles_shipment` ON `articles`(`shipment_id`,`position`);
CREATE TABLE `weather` (`location_id` integer,`query` text NOT NULL DEFAULT "",`temperature_c` real,`condition` text NOT NULL DEFAULT "",`condition_code` text NOT NULL DEFAULT "",`humidity` integer,`wind_kph` real,`observed_at` datetime,`fetched_at` datetime,`provider` text NOT NULL DEFAULT "",`last_error` text NOT NULL DEFAULT "",`last_attempt_at` datetime,`next_attempt_at` datetime,`failures` integer NOT NULL DEFAULT 0,`queued_at` datetime,`claim_owner` text NOT NULL DEFAULT "",`claimed_until` datetime,PRIMARY KEY (`location_id`));
CREATE INDEX `ix_weather_fetched` ON `weather`(`fetched_at`);
CREATE TABLE `provider_budget` (`day` text,`provider` text,`calls` integer NOT NULL,PRIMARY KEY (`day`,`provider`));
CREATE TABLE `refresh_windows` (`name` text,`seq` integer NOT NULL,`started_at` datetime NOT NULL,PRIMARY KEY (`name`));

-- +goose Down
DROP TABLE `refresh_windows`;
DROP TABLE `provider_budget`;
DROP TABLE `weather`;
DROP TABLE `articles`;
DROP TABLE `shipments`;
DROP TABLE `locations`;
