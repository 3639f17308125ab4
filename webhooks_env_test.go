package main

import (
	"maps"
	"testing"

	"github.com/shiptrack/shiptrack/internal/testenv"
	"github.com/shiptrack/shiptrack/internal/testutil"
	"github.com/shiptrack/shiptrack/store/storetest"
)

// webhookSetups are the two ways the service runs: SQLite with the
// in-process queue, PostgreSQL with the Redis queue.
var webhookSetups = []string{"sqlite", "postgres+redis"}

// webhookEnv is the environment of a service on a new database of setup
// (and a Redis prefix of the test's own) with the write and admin tokens
// and private webhook addresses allowed, plus extra.
func webhookEnv(t *testing.T, setup string, extra map[string]string) map[string]string {
	t.Helper()
	e := map[string]string{
		"SHIPTRACK_WEATHER_PROVIDER":       "off",
		"SHIPTRACK_API_RATE_LIMIT":         "0",
		"SHIPTRACK_API_WRITE_TOKENS":       sysWriteToken,
		"SHIPTRACK_API_ADMIN_TOKENS":       sysAdminToken,
		"SHIPTRACK_WEBHOOKS_ALLOW_PRIVATE": "true",
	}
	if setup == "sqlite" {
		e["SHIPTRACK_DATABASE_URL"] = storetest.URL(t, "sqlite")
	} else {
		e["SHIPTRACK_DATABASE_URL"] = storetest.URL(t, "postgres")
		e["SHIPTRACK_REDIS_URL"] = testenv.Redis(t)
		e["SHIPTRACK_REDIS_PREFIX"] = testutil.RedisPrefix(t, testutil.Redis(t))
	}
	maps.Copy(e, extra)
	return e
}
