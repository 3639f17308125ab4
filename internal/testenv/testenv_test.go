package testenv

import (
	"os/exec"
	"strings"
	"testing"
)

// TestMissing runs a test that needs an absent service in a child
// process, with and without CI=true: a skip outside CI, a failure in it,
// one line naming the set-up command either way.
func TestMissing(t *testing.T) {
	for _, tt := range []struct {
		ci       string
		wantPass bool
		want     string
	}{
		{"", true, "--- SKIP: TestNeedsAbsentService"},
		{"true", false, "--- FAIL: TestNeedsAbsentService"},
	} {
		cmd := exec.Command("go", "test", "-count=1", "-v", "-run", "^TestNeedsAbsentService$", ".")
		cmd.Env = append(cmd.Environ(), "CI="+tt.ci, "TESTENV_CHILD=1")
		out, err := cmd.CombinedOutput()
		if (err == nil) != tt.wantPass || !strings.Contains(string(out), tt.want) {
			t.Errorf("CI=%q: err %v, want %s:\n%s", tt.ci, err, tt.want, out)
		}
		var lines []string
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, Command) {
				lines = append(lines, l)
			}
		}
		if len(lines) != 1 {
			t.Errorf("CI=%q: %d lines name %q, want 1:\n%s", tt.ci, len(lines), Command, out)
		}
	}
}

// TestServiceURLs: the one env scheme for test services, with the older
// PostgreSQL name as a fallback and the local servers by default.
func TestServiceURLs(t *testing.T) {
	for _, tt := range []struct {
		name, database, postgres, redis string
		wantDB, wantRedis               string
	}{
		{"defaults", "", "", "", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "redis://127.0.0.1:6379/0"},
		{"new names", "postgres://db/a", "", "redis://r:1/2", "postgres://db/a", "redis://r:1/2"},
		{"old name", "", "postgres://old/b", "", "postgres://old/b", "redis://127.0.0.1:6379/0"},
		{"new name wins", "postgres://db/a", "postgres://old/b", "", "postgres://db/a", "redis://127.0.0.1:6379/0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("SHIPTRACK_TEST_DATABASE_URL", tt.database)
			t.Setenv("SHIPTRACK_TEST_POSTGRES_URL", tt.postgres)
			t.Setenv("SHIPTRACK_TEST_REDIS_URL", tt.redis)
			if got := DatabaseURL(); got != tt.wantDB {
				t.Errorf("DatabaseURL() = %q, want %q", got, tt.wantDB)
			}
			if got := RedisURL(); got != tt.wantRedis {
				t.Errorf("RedisURL() = %q, want %q", got, tt.wantRedis)
			}
		})
	}
}
