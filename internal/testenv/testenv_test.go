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
