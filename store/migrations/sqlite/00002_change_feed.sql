-- SQLite cannot notify: its change feed polls PRAGMA data_version
-- (store/changes.go), so there is nothing to install. The file keeps the
-- version numbers of both dialects in step.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
