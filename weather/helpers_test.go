package weather

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// testKey is the fake WeatherAPI key; tests assert it never leaks.
const testKey = "c0ffee5ecret0key1234567890abcd"

// testNow is shortly after the observation time of the answers in testdata.
var testNow = time.Date(2026, 11, 25, 10, 20, 0, 0, time.UTC)

// testOptions keeps retries fast so the package's tests run in seconds.
func testOptions() Options {
	return Options{
		Timeout:      300 * time.Millisecond,
		Retries:      2,
		BaseBackoff:  time.Millisecond,
		MaxRetryWait: 2 * time.Second,
		// The recorded answers in testdata were observed at 10:15.
		Now: func() time.Time { return testNow },
	}
}

// readTestdata returns the contents of testdata/name.
func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("reading testdata: %v", err)
	}
	return b
}

// testServer is an httptest.Server that counts requests.
type testServer struct {
	*httptest.Server
	calls atomic.Int32
}

// newServer starts a server running h and closes it when the test ends.
func newServer(t *testing.T, h http.HandlerFunc) *testServer {
	t.Helper()
	ts := &testServer{}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.calls.Add(1)
		h(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts
}

// step is one scripted response.
type step struct {
	status int
	header map[string]string
	body   string
}

// scripted serves steps in order; the last one repeats.
func scripted(t *testing.T, steps ...step) *testServer {
	t.Helper()
	var n atomic.Int32
	return newServer(t, func(w http.ResponseWriter, r *http.Request) {
		i := min(int(n.Add(1))-1, len(steps)-1)
		s := steps[i]
		for k, v := range s.header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(s.status)
		_, _ = w.Write([]byte(s.body))
	})
}

// hangingServer never answers until the client gives up or the test ends.
func hangingServer(t *testing.T) *testServer {
	t.Helper()
	release := make(chan struct{})
	ts := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	// Registered after newServer's Close, so it runs first and lets
	// Close return promptly.
	t.Cleanup(func() { close(release) })
	return ts
}

// checkErr asserts err's classification against the three sentinels.
func checkErr(t *testing.T, err, want error) {
	t.Helper()
	if err == nil {
		t.Fatalf("got nil error, want %v", want)
	}
	for _, s := range []error{ErrLocationNotFound, ErrRefused, ErrTransient} {
		if got := errors.Is(err, s); got != (s == want) {
			t.Errorf("errors.Is(err, %v) = %v, want %v; err = %v", s, got, s == want, err)
		}
	}
}

// checkNoKey asserts that the key does not appear in err's text.
func checkNoKey(t *testing.T, err error, key string) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	for _, form := range []string{key, url.QueryEscape(key)} {
		if strings.Contains(msg, form) {
			t.Errorf("error leaks the API key: %s", msg)
		}
	}
}
