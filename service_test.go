package main

import (
	"context"
	"log/slog"
	"maps"
	"sync"
	"testing"
	"time"
)

// startService runs serve in this process on a free loopback port with
// config.yaml and the environment e (a nil log discards the logs). It
// returns the base URL and a stop func, which the end of the test calls if
// the test has not.
func startService(t *testing.T, e map[string]string, log *slog.Logger) (base string, stop func()) {
	t.Helper()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e = maps.Clone(e)
	e["SHIPTRACK_LISTEN"] = "127.0.0.1:0"
	cfg, err := loadConfig("config.yaml", env(e))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan struct{})
	var serveErr error
	go func() { serveErr = serve(ctx, cfg, log, ready); close(done) }()
	stop = sync.OnceFunc(func() {
		cancel()
		select {
		case <-done:
			if serveErr != nil {
				t.Errorf("serve: %v", serveErr)
			}
		case <-time.After(30 * time.Second):
			t.Error("server did not stop")
		}
	})
	t.Cleanup(stop)
	select {
	case addr := <-ready:
		return "http://" + addr, stop
	case <-done:
		t.Fatalf("serve: %v", serveErr)
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start")
	}
	return "", stop
}
