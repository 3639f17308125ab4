package weather

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// newTestWeatherAPI returns a WeatherAPI pointed at srv.
func newTestWeatherAPI(t *testing.T, srv *testServer, key string, opts Options) *WeatherAPI {
	t.Helper()
	w, err := NewWeatherAPI(key, srv.URL+"/v1", srv.Client(), opts)
	if err != nil {
		t.Fatalf("NewWeatherAPI: %v", err)
	}
	return w
}

var paris = Query{City: "Paris", Country: "France", PostalCode: "75001"}

func TestWeatherAPICurrent(t *testing.T) {
	t.Parallel()
	body := readTestdata(t, "weatherapi_current.json")
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path != "/v1/current.json" || q.Get("key") != testKey || q.Get("q") != "Paris,France" || q.Get("aqi") != "no" {
			t.Errorf("unexpected request %s", r.URL)
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	p := newTestWeatherAPI(t, srv, testKey, testOptions())
	if p.Name() != "weatherapi" {
		t.Errorf("Name() = %q", p.Name())
	}
	got, err := p.Current(t.Context(), paris)
	if err != nil {
		t.Fatalf("Current: %v", err)
	}
	want := Observation{
		TemperatureC:  8.2,
		Condition:     "Partly cloudy",
		ConditionCode: "1003",
		Humidity:      81,
		WindKph:       15.1,
		ObservedAt:    time.Date(2026, 11, 25, 10, 15, 0, 0, time.UTC),
	}
	if got != want {
		t.Errorf("Current() = %+v, want %+v", got, want)
	}
	if got.ObservedAt.Location() != time.UTC {
		t.Errorf("ObservedAt not in UTC: %v", got.ObservedAt.Location())
	}
}

func TestWeatherAPIQueryWithoutCountry(t *testing.T) {
	t.Parallel()
	body := readTestdata(t, "weatherapi_current.json")
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if got := r.URL.Query().Get("q"); got != "Paris" {
			t.Errorf("q = %q, want Paris", got)
		}
		_, _ = w.Write(body)
	})
	if _, err := newTestWeatherAPI(t, srv, testKey, testOptions()).Current(t.Context(), Query{City: "Paris"}); err != nil {
		t.Fatal(err)
	}
}

func TestWeatherAPIEmptyCity(t *testing.T) {
	t.Parallel()
	srv := scripted(t, step{status: http.StatusOK, body: "{}"})
	_, err := newTestWeatherAPI(t, srv, testKey, testOptions()).Current(t.Context(), Query{Country: "France", PostalCode: "75001"})
	checkErr(t, err, ErrLocationNotFound)
	if n := srv.calls.Load(); n != 0 {
		t.Errorf("calls = %d, want 0", n)
	}
}

func TestWeatherAPIErrorMapping(t *testing.T) {
	t.Parallel()
	apiErr := func(code int, msg string) string {
		return fmt.Sprintf(`{"error":{"code":%d,"message":%q}}`, code, msg)
	}
	tests := []struct {
		name      string
		status    int
		body      string
		want      error // nil: plain *APIError, no sentinel
		wantCode  int
		wantMsg   string
		wantCalls int32
	}{
		{"1002 no key", 401, apiErr(1002, "API key is invalid or not provided."), ErrRefused, 1002, "API key is invalid or not provided.", 1},
		{"1003 no q", 400, apiErr(1003, "Parameter q is missing."), nil, 1003, "Parameter q is missing.", 1},
		{"1005 bad url", 400, apiErr(1005, "API request url is invalid."), ErrRefused, 1005, "API request url is invalid.", 1},
		{"1006 not found", 400, string(readTestdata(t, "weatherapi_error_1006.json")), ErrLocationNotFound, 1006, "No matching location found.", 1},
		{"2006 invalid key", 401, apiErr(2006, "API key provided is invalid"), ErrRefused, 2006, "API key provided is invalid", 1},
		{"2007 quota", 403, apiErr(2007, "API key has exceeded calls per month quota."), ErrRefused, 2007, "exceeded calls per month quota", 1},
		{"2008 disabled", 403, apiErr(2008, "API key has been disabled."), ErrRefused, 2008, "API key has been disabled.", 1},
		{"2009 no access", 403, apiErr(2009, "API key does not have access to the resource."), ErrRefused, 2009, "does not have access", 1},
		{"9999 internal", 400, apiErr(9999, "Internal application error."), ErrTransient, 9999, "Internal application error.", 3},
		{"unknown 400 code", 400, apiErr(1234, "Something new."), nil, 1234, "Something new.", 1},
		{"401 without body", 401, "", ErrRefused, 0, "Unauthorized", 1},
		{"403 html", 403, "<html><body>Forbidden</body></html>", ErrRefused, 0, "Forbidden", 1},
		{"404 html", 404, "<html>not found</html>", ErrRefused, 0, "Not Found", 1},
		{"418 unexpected", 418, "", nil, 0, "I'm a teapot", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := scripted(t, step{status: tc.status, body: tc.body})
			_, err := newTestWeatherAPI(t, srv, testKey, testOptions()).Current(t.Context(), paris)
			if tc.want != nil {
				checkErr(t, err, tc.want)
			} else {
				checkErr(t, err, nil)
			}
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v is not an *APIError", err)
			}
			if ae.StatusCode != tc.status || ae.Code != tc.wantCode || ae.Provider != "weatherapi" {
				t.Errorf("APIError = %+v, want status %d code %d", ae, tc.status, tc.wantCode)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not include %q", err, tc.wantMsg)
			}
			if !strings.Contains(err.Error(), "Paris, France") {
				t.Errorf("error %q does not name the location", err)
			}
			checkNoKey(t, err, testKey)
			if n := srv.calls.Load(); n != tc.wantCalls {
				t.Errorf("calls = %d, want %d", n, tc.wantCalls)
			}
		})
	}
}

func TestWeatherAPIRetries(t *testing.T) {
	t.Parallel()
	ok := step{status: 200, body: string(readTestdata(t, "weatherapi_current.json"))}
	tests := []struct {
		name      string
		steps     []step
		want      error // nil: success
		wantCalls int32
	}{
		{"500 then success", []step{{status: 500, body: "oops"}, ok}, nil, 2},
		{"502, 503 then success", []step{{status: 502}, {status: 503}, ok}, nil, 3},
		{"429 then success", []step{{status: 429}, ok}, nil, 2},
		{"garbage then success", []step{{status: 200, body: "<html>"}, ok}, nil, 2},
		{"persistent 500", []step{{status: 500, body: `{"error":{"code":9999,"message":"Internal application error."}}`}}, ErrTransient, 3},
		{"persistent 429", []step{{status: 429}}, ErrTransient, 3},
		{"500 then 1006", []step{{status: 500}, {status: 400, body: string(readTestdata(t, "weatherapi_error_1006.json"))}}, ErrLocationNotFound, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := scripted(t, tc.steps...)
			obs, err := newTestWeatherAPI(t, srv, testKey, testOptions()).Current(t.Context(), paris)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Current: %v", err)
				}
				if obs.TemperatureC != 8.2 {
					t.Errorf("TemperatureC = %v, want 8.2", obs.TemperatureC)
				}
			} else {
				checkErr(t, err, tc.want)
			}
			if n := srv.calls.Load(); n != tc.wantCalls {
				t.Errorf("calls = %d, want %d", n, tc.wantCalls)
			}
		})
	}
}

func TestWeatherAPIRetryAfter(t *testing.T) {
	t.Parallel()
	ok := step{status: 200, body: string(readTestdata(t, "weatherapi_current.json"))}
	tests := []struct {
		name       string
		retryAfter string
		want       error
		wantCalls  int32
		minElapsed time.Duration
		maxElapsed time.Duration
	}{
		// Honoured: the retry waits at least the requested second.
		{"short Retry-After honoured", "1", nil, 2, 900 * time.Millisecond, 3 * time.Second},
		// Longer than MaxRetryWait: give up at once rather than retry early.
		{"long Retry-After gives up", "3600", ErrTransient, 1, 0, time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := scripted(t, step{status: 429, header: map[string]string{"Retry-After": tc.retryAfter}}, ok)
			start := time.Now()
			_, err := newTestWeatherAPI(t, srv, testKey, testOptions()).Current(t.Context(), paris)
			elapsed := time.Since(start)
			if tc.want == nil && err != nil {
				t.Fatalf("Current: %v", err)
			}
			if tc.want != nil {
				checkErr(t, err, tc.want)
				if !strings.Contains(err.Error(), "retry after 1h0m0s") {
					t.Errorf("error %q should report the requested pause", err)
				}
			}
			if n := srv.calls.Load(); n != tc.wantCalls {
				t.Errorf("calls = %d, want %d", n, tc.wantCalls)
			}
			if elapsed < tc.minElapsed || elapsed > tc.maxElapsed {
				t.Errorf("took %v, want within [%v, %v]", elapsed, tc.minElapsed, tc.maxElapsed)
			}
		})
	}
}

func TestWeatherAPITimeout(t *testing.T) {
	t.Parallel()
	srv := hangingServer(t)
	opts := testOptions()
	opts.Timeout = 100 * time.Millisecond
	start := time.Now()
	_, err := newTestWeatherAPI(t, srv, testKey, opts).Current(t.Context(), paris)
	elapsed := time.Since(start)
	checkErr(t, err, ErrTransient)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v should wrap context.DeadlineExceeded", err)
	}
	if elapsed > 2*time.Second {
		t.Errorf("took %v, want bounded by 3 attempts of 100ms", elapsed)
	}
	if n := srv.calls.Load(); n != 3 {
		t.Errorf("calls = %d, want 3", n)
	}
	checkNoKey(t, err, testKey)
}

func TestWeatherAPIMalformedBody(t *testing.T) {
	t.Parallel()
	sample := string(readTestdata(t, "weatherapi_current.json"))
	tests := []struct {
		name string
		body string
	}{
		{"empty", ""},
		{"html", "<html><body>502 Bad Gateway</body></html>"},
		{"truncated", sample[:len(sample)/2]},
		{"json null", "null"},
		{"json array", "[1,2,3]"},
		{"empty object", "{}"},
		{"no current", `{"location":{"name":"Paris","localtime_epoch":1795601880}}`},
		{"temp as string", strings.Replace(sample, `"temp_c": 8.2`, `"temp_c": "warm"`, 1)},
		{"missing temp", strings.Replace(sample, `"temp_c": 8.2,`, ``, 1)},
		{"missing condition", `{"current":{"last_updated_epoch":1795601700,"temp_c":8.2,"humidity":81,"wind_kph":15.1}}`},
		{"missing time", `{"current":{"temp_c":8.2,"condition":{"text":"Sunny","code":1000},"humidity":81,"wind_kph":15.1}}`},
		{"error document with 200", `{"error":{"code":1006,"message":"No matching location found."}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := scripted(t, step{status: 200, body: tc.body})
			_, err := newTestWeatherAPI(t, srv, testKey, testOptions()).Current(t.Context(), paris)
			checkErr(t, err, ErrTransient)
			if !errors.Is(err, errMalformed) {
				t.Errorf("error %v should wrap errMalformed", err)
			}
			if n := srv.calls.Load(); n != 3 {
				t.Errorf("calls = %d, want 3 (malformed bodies are retried)", n)
			}
		})
	}
}

func TestWeatherAPIFallbackToLocaltime(t *testing.T) {
	t.Parallel()
	body := `{"location":{"localtime_epoch":1795601880},"current":{"temp_c":-3.5,"condition":{"text":"Light snow","code":1213},"humidity":92.6,"wind_kph":0}}`
	srv := scripted(t, step{status: 200, body: body})
	got, err := newTestWeatherAPI(t, srv, testKey, testOptions()).Current(t.Context(), paris)
	if err != nil {
		t.Fatal(err)
	}
	want := Observation{TemperatureC: -3.5, Condition: "Light snow", ConditionCode: "1213", Humidity: 93, ObservedAt: time.Date(2026, 11, 25, 10, 18, 0, 0, time.UTC)}
	if got != want {
		t.Errorf("Current() = %+v, want %+v", got, want)
	}
}

func TestWeatherAPIBodyLimit(t *testing.T) {
	t.Parallel()
	sample := readTestdata(t, "weatherapi_current.json")
	huge := strings.Repeat(" ", 2<<20) + string(sample) // valid JSON, 2 MiB of padding
	tests := []struct {
		name    string
		limit   int64
		body    string
		wantErr bool
	}{
		{"exactly at limit", int64(len(sample)), string(sample), false},
		{"one byte over", int64(len(sample)) - 1, string(sample), true},
		{"huge body, default limit", 0, huge, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := scripted(t, step{status: 200, body: tc.body})
			opts := testOptions()
			opts.MaxBodyBytes = tc.limit
			_, err := newTestWeatherAPI(t, srv, testKey, opts).Current(t.Context(), paris)
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("Current: %v", err)
				}
				return
			}
			checkErr(t, err, ErrTransient)
			if !strings.Contains(err.Error(), "exceeds") {
				t.Errorf("error %q should mention the size limit", err)
			}
		})
	}
}

func TestWeatherAPIKeyRedaction(t *testing.T) {
	t.Parallel()
	const oddKey = "k+y/with=odd&chars" // encoded differently in the URL
	closed := newServer(t, func(http.ResponseWriter, *http.Request) {})
	closed.Close() // connection refused from now on

	tests := []struct {
		name string
		key  string
		srv  func(t *testing.T) *testServer
		opts func(Options) Options
	}{
		{"connection refused", testKey, func(*testing.T) *testServer { return closed }, nil},
		{"connection refused, odd key", oddKey, func(*testing.T) *testServer { return closed }, nil},
		{"timeout", testKey, hangingServer, func(o Options) Options { o.Timeout = 50 * time.Millisecond; return o }},
		{"provider echoes key", testKey, func(t *testing.T) *testServer {
			return scripted(t, step{status: 401, body: `{"error":{"code":2006,"message":"API key ` + testKey + ` is invalid"}}`})
		}, nil},
		{"server closes connection", testKey, func(t *testing.T) *testServer {
			return newServer(t, func(w http.ResponseWriter, r *http.Request) {
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					_ = conn.Close()
				}
			})
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := testOptions()
			if tc.opts != nil {
				opts = tc.opts(opts)
			}
			srv := tc.srv(t)
			p, err := NewWeatherAPI(tc.key, srv.URL, nil, opts)
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.Current(t.Context(), paris)
			if err == nil {
				t.Fatal("expected an error")
			}
			checkNoKey(t, err, tc.key)
			for _, s := range []string{fmt.Sprint(err), fmt.Sprintf("%v", errors.Unwrap(err))} {
				if strings.Contains(s, tc.key) || strings.Contains(s, url.QueryEscape(tc.key)) {
					t.Errorf("key leaked in %q", s)
				}
			}
			var ue *url.Error
			if errors.As(err, &ue) {
				if strings.Contains(ue.URL, url.QueryEscape(tc.key)) || strings.Contains(ue.Error(), tc.key) {
					t.Errorf("url.Error leaks the key: %s", ue.URL)
				}
				if !strings.Contains(ue.URL, "key=REDACTED") {
					t.Errorf("url.Error URL %q should carry key=REDACTED", ue.URL)
				}
			}
		})
	}
}

func TestWeatherAPIContextCancel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		srv       func(t *testing.T) *testServer
		opts      Options
		cancelAt  time.Duration // <0: cancelled before the call
		wantCalls int32
	}{
		{"already cancelled", func(t *testing.T) *testServer { return scripted(t, step{status: 200}) },
			Options{Timeout: 5 * time.Second}, -1, 0},
		{"cancelled during request", hangingServer,
			Options{Timeout: 5 * time.Second, BaseBackoff: time.Millisecond}, 50 * time.Millisecond, 1},
		{"cancelled during backoff", func(t *testing.T) *testServer { return scripted(t, step{status: 500}) },
			Options{Timeout: 5 * time.Second, BaseBackoff: 5 * time.Second, MaxRetryWait: 10 * time.Second}, 100 * time.Millisecond, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := tc.srv(t)
			p := newTestWeatherAPI(t, srv, testKey, tc.opts)
			ctx, cancel := context.WithCancel(t.Context())
			t.Cleanup(cancel)
			if tc.cancelAt < 0 {
				cancel()
			} else {
				time.AfterFunc(tc.cancelAt, cancel)
			}
			start := time.Now()
			_, err := p.Current(ctx, paris)
			if elapsed := time.Since(start); elapsed > 2*time.Second {
				t.Errorf("took %v after cancellation", elapsed)
			}
			checkErr(t, err, ErrTransient)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("error %v should wrap context.Canceled", err)
			}
			checkNoKey(t, err, testKey)
			if n := srv.calls.Load(); n != tc.wantCalls {
				t.Errorf("calls = %d, want %d", n, tc.wantCalls)
			}
		})
	}
}

func TestNewWeatherAPIValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, key, url string
		wantErr        bool
	}{
		{"ok default URL", testKey, "", false},
		{"ok custom URL", testKey, "http://localhost:8080/v1", false},
		{"no key", "", "", true},
		{"blank key", "  ", "", true},
		{"relative URL", testKey, "/v1", true},
		{"bad scheme", testKey, "ftp://example.com", true},
	}
	for _, tc := range tests {
		_, err := NewWeatherAPI(tc.key, tc.url, nil, Options{})
		if (err != nil) != tc.wantErr || (err != nil && !errors.Is(err, ErrInvalidConfig)) {
			t.Errorf("%s: error = %v, wantErr %v", tc.name, err, tc.wantErr)
		}
	}
}
