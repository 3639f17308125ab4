package store

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestOpenErrorsHideThePassword: every failure to open a database URL,
// whether the URL does not parse or the server refuses it, leaves the
// password out of the error (issue 19, item 6).
func TestOpenErrorsHideThePassword(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, url, password string
	}{
		{"password parameter with a bad sslmode", "postgres://127.0.0.1:5432/postgres?user=u&password=hunter22secret&sslmode=bogus", "hunter22secret"},
		{"stray percent in the userinfo", "postgres://u:hunter22%secret@127.0.0.1:5432/postgres", "hunter22"},
		{"bad escape in the userinfo", "postgres://u:pa%ZZss22@127.0.0.1:5432/postgres", "pa%ZZss22"},
		{"keyword password parameter", "postgresql://127.0.0.1:1/postgres?password=hunter22secret&connect_timeout=1", "hunter22secret"},
		{"unreachable with a password", "postgres://u:hunter22secret@127.0.0.1:1/postgres?connect_timeout=1", "hunter22secret"},
		{"wrong password", "postgres://nosuchuser19b:hunter22secret@127.0.0.1:5432/postgres?sslmode=disable", "hunter22secret"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			s, err := Open(ctx, tc.url)
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded")
			}
			if strings.Contains(err.Error(), tc.password) {
				t.Errorf("error shows the password: %v", err)
			}
			t.Logf("%v", err)
		})
	}
}
