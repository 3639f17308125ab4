-- The schema as GORM's AutoMigrate made it up to the release before
-- versioned migrations (pg_dump -s of a fresh database). Databases made by
-- that release are baselined at this version instead of running it
-- (store/migrate.go).

-- +goose Up
CREATE TABLE locations (
    id bigserial PRIMARY KEY,
    key character varying(400) NOT NULL,
    postal_code character varying(32) NOT NULL,
    city character varying(200) NOT NULL,
    country character varying(200) NOT NULL,
    place_key character varying(400) DEFAULT ''::character varying NOT NULL,
    weather_location_id bigint,
    created_at timestamp with time zone
);
CREATE UNIQUE INDEX ux_locations_key ON locations (key);
CREATE INDEX ix_locations_place ON locations (place_key);
CREATE INDEX ix_locations_weather ON locations (weather_location_id);

CREATE TABLE shipments (
    id bigserial PRIMARY KEY,
    carrier_key character varying(64) NOT NULL,
    tracking_number character varying(64) NOT NULL,
    tracking_display character varying(100) DEFAULT ''::character varying NOT NULL,
    carrier character varying(64) NOT NULL,
    status character varying(64) NOT NULL,
    sender_address character varying(500) NOT NULL,
    receiver_address character varying(500) NOT NULL,
    location_id bigint,
    created_at timestamp with time zone,
    updated_at timestamp with time zone
);
CREATE UNIQUE INDEX ux_shipments_carrier_tracking ON shipments (carrier_key, tracking_number);
CREATE INDEX ix_shipments_status ON shipments (status, carrier_key, tracking_number);
CREATE INDEX ix_shipments_location ON shipments (location_id);

CREATE TABLE articles (
    id bigserial PRIMARY KEY,
    shipment_id bigint NOT NULL,
    "position" bigint NOT NULL,
    name character varying(300) NOT NULL,
    quantity bigint NOT NULL,
    price_cents bigint NOT NULL,
    sku character varying(100) NOT NULL
);
CREATE INDEX ix_articles_shipment ON articles (shipment_id, "position");

CREATE TABLE weather (
    location_id bigint PRIMARY KEY,
    query character varying(400) DEFAULT ''::character varying NOT NULL,
    temperature_c numeric,
    condition character varying(200) DEFAULT ''::character varying NOT NULL,
    condition_code character varying(32) DEFAULT ''::character varying NOT NULL,
    humidity bigint,
    wind_kph numeric,
    observed_at timestamp with time zone,
    fetched_at timestamp with time zone,
    provider character varying(32) DEFAULT ''::character varying NOT NULL,
    last_error character varying(1000) DEFAULT ''::character varying NOT NULL,
    last_attempt_at timestamp with time zone,
    next_attempt_at timestamp with time zone,
    failures bigint DEFAULT 0 NOT NULL,
    queued_at timestamp with time zone,
    claim_owner character varying(100) DEFAULT ''::character varying NOT NULL,
    claimed_until timestamp with time zone
);
CREATE INDEX ix_weather_fetched ON weather (fetched_at);

CREATE TABLE provider_budget (
    day character varying(10) NOT NULL,
    provider character varying(32) NOT NULL,
    calls bigint NOT NULL,
    PRIMARY KEY (day, provider)
);

CREATE TABLE refresh_windows (
    name character varying(32) PRIMARY KEY,
    seq bigint NOT NULL,
    started_at timestamp with time zone NOT NULL
);

-- +goose Down
DROP TABLE refresh_windows;
DROP TABLE provider_budget;
DROP TABLE weather;
DROP TABLE articles;
DROP TABLE shipments;
DROP TABLE locations;
