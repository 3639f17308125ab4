// Package testutil holds the helpers tests of several packages share: a
// poll loop, a log buffer safe for concurrent writes, and the shared test
// Redis with a key prefix per test.
package testutil

import (
	"bytes"
	"context"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shiptrack/shiptrack/internal/testenv"
)

// Eventually polls cond until it holds, failing the test after within.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// SyncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Redis returns a client for the test Redis (testenv.RedisURL), closed
// when t ends; a Redis that does not answer stops t as testenv.Missing does.
func Redis(t testing.TB) *redis.Client {
	t.Helper()
	url := testenv.Redis(t)
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("parse SHIPTRACK_TEST_REDIS_URL %q: %v", url, err)
	}
	rc := redis.NewClient(opts)
	t.Cleanup(func() { _ = rc.Close() })
	return rc
}

// RedisPrefix returns a key prefix this test owns; every key under it is
// deleted when t ends.
func RedisPrefix(t testing.TB, rc *redis.Client) string {
	t.Helper()
	prefix := "shiptrack-test:" + rand.Text() // base32: no SCAN glob characters
	t.Cleanup(func() {
		// t.Context is already cancelled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		keys, err := RedisKeys(ctx, rc, prefix+":*")
		if err != nil {
			t.Errorf("scan test keys: %v", err)
		}
		if len(keys) > 0 {
			if err := rc.Del(ctx, keys...).Err(); err != nil {
				t.Errorf("delete test keys: %v", err)
			}
		}
	})
	return prefix
}

// RedisKeys lists the keys matching pattern with SCAN, which unlike KEYS
// does not block a shared server.
func RedisKeys(ctx context.Context, rc *redis.Client, pattern string) ([]string, error) {
	var keys []string
	iter := rc.Scan(ctx, 0, pattern, 100).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	return keys, iter.Err()
}
