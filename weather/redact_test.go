package weather

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestWeatherAPIAlteredKeyEcho: a provider that echoes the key altered
// (another case, cut short) leaks no part of it of 4 characters or more,
// in any case, at any level of the error chain (issue 19, item 7).
func TestWeatherAPIAlteredKeyEcho(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		code   int
		echo   string
	}{
		{"upper case", 401, 2006, "API key " + strings.ToUpper(testKey) + " is invalid"},
		{"mixed case", 401, 2006, "API key " + strings.ToUpper(testKey[:10]) + testKey[10:] + " is invalid"},
		{"truncated", 403, 2008, "API key " + testKey[:12] + "... has been disabled"},
		{"prefix of 5", 401, 2006, "key starting " + testKey[:5] + " unknown"},
		{"in a 500", 500, 0, "backend failed for key=" + strings.ToUpper(testKey[:8])},
		{"in a 9999", 400, 9999, "Internal application error for " + testKey[:6]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := `{"error":{"code":` + strconv.Itoa(tc.code) + `,"message":"` + tc.echo + `"}}`
			srv := scripted(t, step{status: tc.status, body: body})
			_, err := newTestWeatherAPI(t, srv, testKey, testOptions()).Current(t.Context(), paris)
			if err == nil {
				t.Fatal("expected an error")
			}
			for e := err; e != nil; e = errors.Unwrap(e) {
				if msg := strings.ToLower(e.Error()); strings.Contains(msg, strings.ToLower(testKey[:4])) {
					t.Errorf("%T leaks part of the key: %s", e, e.Error())
				}
			}
			if r := PublicReason(err); strings.Contains(strings.ToLower(r), strings.ToLower(testKey[:4])) || r == "" {
				t.Errorf("PublicReason = %q", r)
			}
		})
	}
}

// TestPublicReason: each kind of failure maps to a short fixed text that
// quotes neither the provider nor the network.
func TestPublicReason(t *testing.T) {
	t.Parallel()
	closed := newServer(t, func(http.ResponseWriter, *http.Request) {})
	closed.Close()
	tests := []struct {
		name string
		srv  func(t *testing.T) *testServer
		want string
	}{
		{"bad key", func(t *testing.T) *testServer {
			return scripted(t, step{status: 401, body: `{"error":{"code":2006,"message":"API key provided is invalid"}}`})
		}, "provider refused the key"},
		{"quota", func(t *testing.T) *testServer {
			return scripted(t, step{status: 403, body: `{"error":{"code":2007,"message":"API key has exceeded calls per month quota."}}`})
		}, "provider quota exceeded"},
		{"wrong endpoint", func(t *testing.T) *testServer { return scripted(t, step{status: 404, body: "no"}) }, "provider endpoint not found"},
		{"connection refused", func(*testing.T) *testServer { return closed }, "provider unreachable"},
		{"server error", func(t *testing.T) *testServer { return scripted(t, step{status: 502, body: "<html>"}) }, "provider error"},
		{"garbage", func(t *testing.T) *testServer { return scripted(t, step{status: 200, body: "{"}) }, "provider answer malformed"},
		{"unknown place", func(t *testing.T) *testServer {
			return scripted(t, step{status: 400, body: `{"error":{"code":1006,"message":"No matching location found."}}`})
		}, "location unknown to the provider"},
		{"hang", hangingServer, "provider timed out"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := testOptions()
			opts.Timeout = 100 * time.Millisecond
			_, err := newTestWeatherAPI(t, tc.srv(t), testKey, opts).Current(t.Context(), paris)
			if got := PublicReason(err); got != tc.want {
				t.Errorf("PublicReason(%v) = %q, want %q", err, got, tc.want)
			}
		})
	}
}
