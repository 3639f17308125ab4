package api

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/shiptrack/shiptrack/shipment"
)

// TestCacheFollow: the feed's changes reach the cache, which turns on and
// off with it and logs why; stop ends the feed.
func TestCacheFollow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		changes []shipment.ChangeKind
		end     error // what watch returns once its changes are sent; nil = wait for stop
		wantOn  bool
		wantLog []string
	}{
		{name: "listening", changes: []shipment.ChangeKind{shipment.ChangeListening}, wantOn: true,
			wantLog: []string{"change feed listening: read cache on", "cache_mb=2"}},
		{name: "lost", changes: []shipment.ChangeKind{shipment.ChangeListening, shipment.ChangeLost}, wantOn: false,
			wantLog: []string{"change feed lost: read cache off until it reconnects"}},
		{name: "failed", changes: []shipment.ChangeKind{shipment.ChangeListening, shipment.ChangeLost}, end: errors.New("no listener"),
			wantLog: []string{"change feed stopped: read cache off", "no listener"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
			c := NewCache(2 << 20)
			sent := make(chan struct{})
			stop := c.Follow(context.Background(), func(ctx context.Context, fn func(shipment.Change)) error {
				for _, k := range tt.changes {
					fn(shipment.Change{Kind: k})
				}
				close(sent)
				if tt.end != nil {
					return tt.end
				}
				<-ctx.Done()
				return ctx.Err()
			}, log)
			<-sent
			stop()
			if on := c.Stats().On; on != tt.wantOn {
				t.Errorf("cache on = %v, want %v", on, tt.wantOn)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, w := range tt.wantLog {
				if !strings.Contains(logs.String(), w) {
					t.Errorf("log lacks %q:\n%s", w, logs.String())
				}
			}
			if tt.end == nil && strings.Contains(logs.String(), "change feed stopped") {
				t.Errorf("stop logged as a failure:\n%s", logs.String())
			}
		})
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
