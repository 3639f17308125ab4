-- Tracking events (issue 15): the events table, shipments.status_text
-- (the latest event's carrier wording beside the normalised status), and
-- the index of the incremental sync on (updated_at, id). Migration 6 (Go,
-- store/events_migrate.go) then turns each shipment's status into its
-- first event; migration 7 adds the table to the change feed.

-- +goose Up
ALTER TABLE shipments ADD COLUMN status_text character varying(256) DEFAULT ''::character varying NOT NULL;
CREATE INDEX ix_shipments_updated ON shipments (updated_at, id);

CREATE TABLE events (
    id bigserial PRIMARY KEY,
    shipment_id bigint NOT NULL REFERENCES shipments (id) ON DELETE CASCADE,
    event_id character varying(128) NOT NULL,
    occurred_at timestamp with time zone NOT NULL,
    status character varying(64) NOT NULL,
    status_text character varying(256) NOT NULL,
    location character varying(300) DEFAULT ''::character varying NOT NULL,
    message character varying(1000) DEFAULT ''::character varying NOT NULL,
    source character varying(16) NOT NULL,
    created_at timestamp with time zone
);
CREATE UNIQUE INDEX ux_events_shipment_event ON events (shipment_id, event_id);
-- Read backwards for "newest first": (occurred_at DESC, id DESC).
CREATE INDEX ix_events_shipment_time ON events (shipment_id, occurred_at, id);

-- +goose Down
DROP TABLE events;
DROP INDEX ix_shipments_updated;
ALTER TABLE shipments DROP COLUMN status_text;
