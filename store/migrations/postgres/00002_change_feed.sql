-- The triggers that feed Store.WatchChanges. Payloads: "s" for shipments,
-- articles and locations (statement-level: PostgreSQL folds identical
-- notifications of one transaction, so an import of any size sends one),
-- "w:<location id>" for a location's weather. The channel name is
-- changeChannel in store/changes.go.
--
-- Weather updates notify unless only the columns reads never return
-- changed: claims rewrite claim_owner and claimed_until on every attempt
-- and must stay silent. Listing what to ignore, rather than what to watch,
-- keeps a column later added to the reads from going unreported. A row
-- inserted without a successful fetch reads as no weather.
--
-- Databases from the release before versioned migrations have these
-- already: OR REPLACE and DROP ... IF EXISTS make this one-time run safe
-- there. To change a trigger, add a migration; never edit this one.

-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION shiptrack_notify_shipments() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('shiptrack_changes', 's');
	RETURN NULL;
END
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION shiptrack_notify_weather() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		IF NEW.fetched_at IS NOT NULL THEN
			PERFORM pg_notify('shiptrack_changes', 'w:' || NEW.location_id);
		END IF;
	ELSIF TG_OP = 'DELETE' THEN
		PERFORM pg_notify('shiptrack_changes', 'w:' || OLD.location_id);
	ELSIF to_jsonb(NEW) - '{claim_owner,claimed_until,next_attempt_at,queued_at,failures}'::text[]
		IS DISTINCT FROM to_jsonb(OLD) - '{claim_owner,claimed_until,next_attempt_at,queued_at,failures}'::text[] THEN
		PERFORM pg_notify('shiptrack_changes', 'w:' || OLD.location_id);
		IF NEW.location_id IS DISTINCT FROM OLD.location_id THEN
			PERFORM pg_notify('shiptrack_changes', 'w:' || NEW.location_id);
		END IF;
	END IF;
	RETURN NULL;
END
$$;
-- +goose StatementEnd
-- The release before versioned migrations marked its triggers with this
-- comment; it means nothing now.
COMMENT ON FUNCTION shiptrack_notify_weather() IS NULL;
DROP TRIGGER IF EXISTS shiptrack_weather_changes ON weather;
CREATE TRIGGER shiptrack_weather_changes AFTER INSERT OR UPDATE OR DELETE ON weather
FOR EACH ROW EXECUTE FUNCTION shiptrack_notify_weather();
DROP TRIGGER IF EXISTS shiptrack_weather_truncate ON weather;
CREATE TRIGGER shiptrack_weather_truncate AFTER TRUNCATE ON weather
FOR EACH STATEMENT EXECUTE FUNCTION shiptrack_notify_shipments();
DROP TRIGGER IF EXISTS shiptrack_changes ON shipments;
CREATE TRIGGER shiptrack_changes AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON shipments
FOR EACH STATEMENT EXECUTE FUNCTION shiptrack_notify_shipments();
DROP TRIGGER IF EXISTS shiptrack_changes ON articles;
CREATE TRIGGER shiptrack_changes AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON articles
FOR EACH STATEMENT EXECUTE FUNCTION shiptrack_notify_shipments();
DROP TRIGGER IF EXISTS shiptrack_changes ON locations;
CREATE TRIGGER shiptrack_changes AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON locations
FOR EACH STATEMENT EXECUTE FUNCTION shiptrack_notify_shipments();

-- +goose Down
DROP TRIGGER IF EXISTS shiptrack_changes ON locations;
DROP TRIGGER IF EXISTS shiptrack_changes ON articles;
DROP TRIGGER IF EXISTS shiptrack_changes ON shipments;
DROP TRIGGER IF EXISTS shiptrack_weather_truncate ON weather;
DROP TRIGGER IF EXISTS shiptrack_weather_changes ON weather;
DROP FUNCTION IF EXISTS shiptrack_notify_weather();
DROP FUNCTION IF EXISTS shiptrack_notify_shipments();
