-- Webhooks (issue 16): the subscriptions and the outbox of their
-- deliveries, one row per endpoint and status change, written in the
-- transaction of the change. Written as GORM's AutoMigrate writes the
-- row types (store/db.go).

-- +goose Up
CREATE TABLE webhook_endpoints (
    id bigserial PRIMARY KEY,
    url character varying(2048) NOT NULL,
    secret character varying(100) NOT NULL,
    previous_secret character varying(100) DEFAULT ''::character varying NOT NULL,
    previous_secret_until timestamp with time zone,
    statuses character varying(1000) DEFAULT ''::character varying NOT NULL,
    carriers character varying(1000) DEFAULT ''::character varying NOT NULL,
    created_at timestamp with time zone,
    paused_at timestamp with time zone,
    pause_reason character varying(1000) DEFAULT ''::character varying NOT NULL,
    failures bigint DEFAULT 0 NOT NULL
);

CREATE TABLE webhook_deliveries (
    id bigserial PRIMARY KEY,
    delivery_id character varying(64) NOT NULL,
    endpoint_id bigint NOT NULL,
    shipment_id bigint NOT NULL,
    event_type character varying(64) NOT NULL,
    previous_status character varying(64) DEFAULT ''::character varying NOT NULL,
    new_status character varying(64) DEFAULT ''::character varying NOT NULL,
    status character varying(16) NOT NULL,
    attempts bigint DEFAULT 0 NOT NULL,
    next_attempt_at timestamp with time zone NOT NULL,
    claimed_until timestamp with time zone,
    first_attempt_at timestamp with time zone,
    last_status_code bigint DEFAULT 0 NOT NULL,
    last_error character varying(1000) DEFAULT ''::character varying NOT NULL,
    last_duration_ms bigint DEFAULT 0 NOT NULL,
    created_at timestamp with time zone,
    delivered_at timestamp with time zone
);
CREATE UNIQUE INDEX ux_webhook_deliveries_delivery ON webhook_deliveries (delivery_id);
-- Due deliveries: status = 'pending' AND next_attempt_at <= now.
CREATE INDEX ix_webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
-- The oldest pending delivery per (endpoint, shipment) goes first.
CREATE INDEX ix_webhook_deliveries_order ON webhook_deliveries (endpoint_id, shipment_id, id);
-- An endpoint's deliveries, newest first, by keyset.
CREATE INDEX ix_webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
