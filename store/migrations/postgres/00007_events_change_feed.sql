-- Event writes feed Store.WatchChanges as shipment writes do ("s"): a
-- lookup answers with the events, so the read cache must drop it. Kept
-- apart from 00005 so repairChangeFeed can run it again.

-- +goose Up
DROP TRIGGER IF EXISTS shiptrack_changes ON events;
CREATE TRIGGER shiptrack_changes AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON events
FOR EACH STATEMENT EXECUTE FUNCTION shiptrack_notify_shipments();

-- +goose Down
DROP TRIGGER IF EXISTS shiptrack_changes ON events;
