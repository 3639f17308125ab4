-- SQLite cannot notify (see 00002): nothing to install. The file keeps the
-- version numbers of both dialects in step.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
