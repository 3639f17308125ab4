package testenv

import (
	"errors"
	"os"
	"testing"
)

// TestNeedsAbsentService is TestMissing's child: it needs a service that
// is never there.
func TestNeedsAbsentService(t *testing.T) {
	if os.Getenv("TESTENV_CHILD") == "" {
		t.Skip("run by TestMissing")
	}
	Missing(t, "the service at 127.0.0.1:1", errors.New("connection refused\nsecond line"))
	t.Error("Missing returned")
}
