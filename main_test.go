package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shiptrack/shiptrack/internal/testenv"
	"github.com/shiptrack/shiptrack/internal/testutil"
	"github.com/shiptrack/shiptrack/store/storetest"
	"github.com/shiptrack/shiptrack/weather/weathertest"
)

// env is a lookupEnv of exactly the variables in m.
func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestConfigFileDocumentsDefaults(t *testing.T) {
	t.Parallel()
	got, err := loadConfig("config.yaml", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if want := defaultConfig(); !reflect.DeepEqual(got, want) {
		t.Errorf("config.yaml differs from the defaults:\n got %+v\nwant %+v", got, want)
	}
	// Every setting appears in config.yaml with its environment variable.
	raw, _ := os.ReadFile("config.yaml")
	for _, s := range got.settings() {
		if !strings.Contains(string(raw), s.env) {
			t.Errorf("config.yaml does not mention %s", s.env)
		}
	}
}

func TestConfigEnvOverrides(t *testing.T) {
	t.Parallel()
	c, err := loadConfig("config.yaml", env(map[string]string{
		"SHIPTRACK_LISTEN":           ":9999",
		"SHIPTRACK_DATABASE_URL":     "postgres://postgres@127.0.0.1:5432/x",
		"SHIPTRACK_SEED":             "false",
		"SHIPTRACK_WEATHER_INTERVAL": "30m",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":9999" || c.DatabaseURL != "postgres://postgres@127.0.0.1:5432/x" || c.Seed || c.Weather.Interval != 30*time.Minute {
		t.Errorf("overrides not applied: %+v", c)
	}
}

func TestConfigBadValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		file string
		want string
	}{
		{"bad db url", map[string]string{"SHIPTRACK_DATABASE_URL": "mysql://x"}, "", "SHIPTRACK_DATABASE_URL"},
		{"bad bool", map[string]string{"SHIPTRACK_SEED": "maybe"}, "", "SHIPTRACK_SEED"},
		{"bad duration", map[string]string{"SHIPTRACK_WEATHER_INTERVAL": "often"}, "", "SHIPTRACK_WEATHER_INTERVAL"},
		{"bad workers", map[string]string{"SHIPTRACK_WEATHER_WORKERS": "0"}, "", "SHIPTRACK_WEATHER_WORKERS"},
		{"bad provider", map[string]string{"SHIPTRACK_WEATHER_PROVIDER": "acme"}, "", "SHIPTRACK_WEATHER_PROVIDER"},
		{"bad body limit", map[string]string{"SHIPTRACK_HTTP_BODY_LIMIT": "lots"}, "", "SHIPTRACK_HTTP_BODY_LIMIT"},
		{"bad log level", map[string]string{"SHIPTRACK_LOG_LEVEL": "loud"}, "", "SHIPTRACK_LOG_LEVEL"},
		{"unknown key in file", nil, "listen: :1\nlisten_port: 2\n", `"listen_port"`},
		{"bad value in file", nil, "http:\n  read_timeout: soon\n", "http.read_timeout"},
		{"bad yaml", nil, "listen: [\n", "config"},
		{"interval too short in env", map[string]string{"SHIPTRACK_WEATHER_INTERVAL": "10s"}, "", "config: SHIPTRACK_WEATHER_INTERVAL: must be at least 1m"},
		{"interval too short in file", nil, "weather:\n  interval: 10s\n", "c.yaml: weather.interval: must be at least 1m"},
		{"rate zero in file", nil, "weather:\n  rate: 0\n", "c.yaml: weather.rate: must be above 0"},
		{"webhook timeout beyond the claim", map[string]string{"SHIPTRACK_WEBHOOKS_TIMEOUT": "2m"}, "", "config: SHIPTRACK_WEBHOOKS_TIMEOUT: must be at most 1m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := ""
			if tt.file != "" {
				path = filepath.Join(t.TempDir(), "c.yaml")
				if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := loadConfig(path, env(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one naming %s", err, tt.want)
			}
		})
	}
}

func TestRunHelpAndUsage(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, env(nil), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"serve", "import", "healthcheck"} {
		if !strings.Contains(out.String(), cmd) {
			t.Errorf("help does not list %s", cmd)
		}
	}
	for _, args := range [][]string{{"frobnicate"}, {"import"}, {"--nope"}} {
		err := run(context.Background(), args, env(nil), io.Discard, io.Discard)
		if _, ok := err.(usageError); !ok {
			t.Errorf("run(%v) = %v, want a usage error", args, err)
		}
	}
}

func TestImportCommand(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Drivers {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			e := env(map[string]string{"SHIPTRACK_DATABASE_URL": storetest.URL(t, d), "SHIPTRACK_LOG_LEVEL": "error"})
			var out bytes.Buffer
			err := run(context.Background(), []string{"import", "store/testdata/bad_row.csv"}, e, &out, io.Discard)
			if err == nil || !strings.Contains(err.Error(), "line 3") || !strings.Contains(err.Error(), "article_quantity") {
				t.Fatalf("bad file: err = %v, want line 3 column article_quantity", err)
			}
			if err := run(context.Background(), []string{"import", "store/testdata/seed.csv"}, e, &out, io.Discard); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), "5 shipments (9 article rows) read; 5 created, 0 updated, 0 unchanged") {
				t.Errorf("output %q", out.String())
			}
			// A re-import writes nothing and says so.
			out.Reset()
			if err := run(context.Background(), []string{"import", "store/testdata/seed.csv"}, e, &out, io.Discard); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), "0 created, 0 updated, 5 unchanged") {
				t.Errorf("re-import output %q, want it to say nothing changed", out.String())
			}
			if err := run(context.Background(), []string{"import", "no-such-file.csv"}, e, io.Discard, io.Discard); err == nil {
				t.Error("missing file imported")
			}
		})
	}
}

// TestServeSeedsAndShutsDown starts the real server on each database,
// reads the seed over HTTP; startService's cleanup stops it as SIGTERM would
// and requires a clean exit.
func TestServeSeedsAndShutsDown(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Drivers {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			base, _ := startService(t, map[string]string{
				"SHIPTRACK_DATABASE_URL": storetest.URL(t, d), "SHIPTRACK_WEATHER_PROVIDER": "off",
			}, nil)
			var list []struct {
				Articles []json.RawMessage `json:"articles"`
			}
			getJSON(t, base+"/shipment/", &list)
			n := 0
			for _, s := range list {
				n += len(s.Articles)
			}
			if len(list) != 5 || n != 9 {
				t.Errorf("%d shipments, %d articles; want 5, 9", len(list), n)
			}
		})
	}
}

// TestServeFetchesWeather is the weather pipeline end to end: the binary's
// serve with WeatherAPI pointed at a local fake shows weather on all 5
// seed shipments within seconds, with one call per distinct location, on
// SQLite with the in-process queue and on PostgreSQL with Redis.
func TestServeFetchesWeather(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Drivers {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			fake := weathertest.NewServer(t)
			e := map[string]string{
				"SHIPTRACK_DATABASE_URL":   storetest.URL(t, d),
				"SHIPTRACK_WEATHERAPI_KEY": weathertest.Key,
				"SHIPTRACK_WEATHERAPI_URL": fake.BaseURL(),
			}
			if d == "postgres" {
				testenv.Redis(t)
				e["SHIPTRACK_REDIS_URL"] = testenv.RedisURL()
				e["SHIPTRACK_REDIS_PREFIX"] = "shiptrack-test-main-" + strings.ReplaceAll(t.Name(), "/", "-") + time.Now().Format("150405.000000")
			}
			base, _ := startService(t, e, nil)
			deadline := time.Now().Add(20 * time.Second)
			for {
				var list []struct {
					Weather *struct {
						TemperatureC float64 `json:"temperature_c"`
						Provider     string  `json:"provider"`
						Stale        bool    `json:"stale"`
						FetchedAt    string  `json:"fetched_at"`
					} `json:"weather"`
				}
				getJSON(t, base+"/shipment/", &list)
				n := 0
				for _, s := range list {
					if w := s.Weather; w != nil && w.Provider == "weatherapi" && !w.Stale && w.FetchedAt != "" {
						n++
					}
				}
				if n == 5 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("only %d of 5 shipments have weather", n)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if n := fake.Total(); n != 5 {
				t.Errorf("%d provider calls, want 5: %v", n, fake.Calls())
			}
			var status struct {
				Provider string `json:"provider"`
				Fetched  int    `json:"fetched"`
				Refusing bool   `json:"refusing"`
			}
			getJSON(t, base+"/weather/status", &status)
			if status.Provider != "weatherapi" || status.Fetched != 5 || status.Refusing {
				t.Errorf("status = %+v", status)
			}
		})
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s = %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// TestMetrics checks that /metrics shows the counters moving.
func TestMetrics(t *testing.T) {
	t.Parallel()
	fake := weathertest.NewServer(t)
	base, _ := startService(t, map[string]string{
		"SHIPTRACK_DATABASE_URL":   storetest.URL(t, "sqlite"),
		"SHIPTRACK_WEATHERAPI_KEY": weathertest.Key,
		"SHIPTRACK_WEATHERAPI_URL": fake.BaseURL(),
	}, nil)
	deadline := time.Now().Add(20 * time.Second)
	for fake.Total() < 5 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	for range 3 {
		var v any
		getJSON(t, base+"/shipment/", &v)
	}
	resp, err := http.Get(base + "/shipment/DHL/NOPE")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var body string
	for time.Now().Before(deadline) {
		body = getText(t, base+"/metrics")
		if strings.Contains(body, `shiptrack_weather_fetches_total{outcome="ok",provider="weatherapi"} 5`) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, want := range []string{
		`shiptrack_http_requests_total{code="200",host="",method="GET",url="/shipment/"} 3`,
		`shiptrack_http_requests_total{code="404",host="",method="GET",url="/shipment/:carrier/:tracking_number"} 1`,
		`shiptrack_http_request_duration_seconds_bucket{code="200",host="",method="GET",url="/shipment/"`,
		`shiptrack_weather_fetches_total{outcome="ok",provider="weatherapi"} 5`,
		`shiptrack_weather_queue_depth 0`,
		`shiptrack_weather_oldest_age_seconds`,
		`go_sql_open_connections{db_name="shiptrack"}`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, weathertest.Key) {
		t.Error("/metrics shows the weather key")
	}
}

func getText(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestShutdownDuringRefreshLosesNoJob stops the server (as SIGTERM does,
// through the same context) while every worker is inside a provider call
// that hangs: serve returns nil and every job is back in the Redis queue.
func TestShutdownDuringRefreshLosesNoJob(t *testing.T) {
	t.Parallel()
	fake := weathertest.NewServer(t)
	fake.SetMode(weathertest.Hang)
	rc := testutil.Redis(t)
	prefix := testutil.RedisPrefix(t, rc)
	cfg, err := loadConfig("config.yaml", env(map[string]string{
		"SHIPTRACK_DATABASE_URL":   storetest.URL(t, "postgres"),
		"SHIPTRACK_LISTEN":         "127.0.0.1:0",
		"SHIPTRACK_REDIS_URL":      testenv.RedisURL(),
		"SHIPTRACK_REDIS_PREFIX":   prefix,
		"SHIPTRACK_WEATHERAPI_KEY": weathertest.Key,
		"SHIPTRACK_WEATHERAPI_URL": fake.BaseURL(),
		"SHIPTRACK_WEATHER_RATE":   "1000",
	}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.DiscardHandler), nil) }()
	deadline := time.Now().Add(20 * time.Second)
	for fake.Total() < 4 { // all 4 workers are inside a hanging call
		if time.Now().After(deadline) {
			t.Fatalf("workers did not start fetching: %d calls", fake.Total())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v, want nil (exit 0)", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("shutdown hung")
	}
	bg := context.Background()
	if n, err := rc.LLen(bg, prefix+":queue").Result(); err != nil || n != 5 {
		t.Errorf("queue holds %d jobs after shutdown (%v), want all 5 back", n, err)
	}
	if keys, _ := rc.Keys(bg, prefix+":processing:*").Result(); len(keys) != 0 {
		t.Errorf("jobs left in processing lists: %v", keys)
	}
}

// TestLogs checks the request log line (method, path, status, duration,
// request id, X-Request-ID honoured and returned) and that a failing
// provider's errors never show the API key.
func TestLogs(t *testing.T) {
	t.Parallel()
	fake := weathertest.NewServer(t)
	fake.SetMode(weathertest.ServerError)
	var buf testutil.SyncBuffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	base, _ := startService(t, map[string]string{
		"SHIPTRACK_DATABASE_URL":   storetest.URL(t, "sqlite"),
		"SHIPTRACK_WEATHERAPI_KEY": weathertest.Key,
		"SHIPTRACK_WEATHERAPI_URL": fake.BaseURL(),
	}, log)
	req, _ := http.NewRequest("GET", base+"/shipment/DHL/TN12345678", nil)
	req.Header.Set("X-Request-ID", "trace-abc-123")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Request-Id"); got != "trace-abc-123" {
		t.Errorf("X-Request-ID not returned: %q", got)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(buf.String(), "weather fetch failed") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	var found bool
	for _, line := range strings.Split(buf.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["msg"] != "request" {
			continue
		}
		if rec["request_id"] == "trace-abc-123" {
			found = rec["method"] == "GET" && rec["path"] == "/shipment/DHL/TN12345678" &&
				rec["status"] == float64(200) && rec["duration_ms"] != nil
		}
	}
	if !found {
		t.Errorf("no complete request log line with the request id in:\n%s", buf.String())
	}
	if !strings.Contains(buf.String(), "weather fetch failed") {
		t.Fatal("provider failure not logged")
	}
	if strings.Contains(buf.String(), weathertest.Key) {
		t.Errorf("the weather key appears in the logs:\n%s", buf.String())
	}
}

func TestConfigTokensList(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte("api:\n  tokens: [alpha, beta]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(path, env(nil))
	if err != nil || !reflect.DeepEqual(c.API.Tokens, []string{"alpha", "beta"}) {
		t.Errorf("tokens = %q, %v", c.API.Tokens, err)
	}
	c, err = loadConfig("", env(map[string]string{"SHIPTRACK_API_TOKENS": " one , two,"}))
	if err != nil || !reflect.DeepEqual(c.API.Tokens, []string{"one", "two"}) {
		t.Errorf("tokens = %q, %v", c.API.Tokens, err)
	}
}

// TestSlowClientsCutOff: a client that trickles its request headers
// (slowloris) or its body is disconnected after the configured timeouts,
// and oversize headers are refused.
func TestSlowClientsCutOff(t *testing.T) {
	t.Parallel()
	base, _ := startService(t, map[string]string{
		"SHIPTRACK_DATABASE_URL":             storetest.URL(t, "sqlite"),
		"SHIPTRACK_WEATHER_PROVIDER":         "off",
		"SHIPTRACK_HTTP_READ_HEADER_TIMEOUT": "500ms",
		"SHIPTRACK_HTTP_READ_TIMEOUT":        "1s",
		"SHIPTRACK_HTTP_MAX_HEADER_BYTES":    "4096",
	}, nil)
	addr := strings.TrimPrefix(base, "http://")
	trickle := func(t *testing.T, start string, each string) time.Duration {
		t.Helper()
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		began := time.Now()
		if _, err := conn.Write([]byte(start)); err != nil {
			t.Fatal(err)
		}
		for time.Since(began) < 10*time.Second {
			time.Sleep(100 * time.Millisecond)
			if _, err := conn.Write([]byte(each)); err != nil {
				return time.Since(began) // the server hung up
			}
			_ = conn.SetReadDeadline(time.Now().Add(time.Millisecond))
			if _, err := conn.Read(make([]byte, 1024)); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				return time.Since(began) // closed, or answered 408 and closed
			}
		}
		t.Fatal("slow client still connected after 10s")
		return 0
	}
	if d := trickle(t, "GET /shipment/ HTTP/1.1\r\nHost: x\r\n", "X-A: b\r\n"); d > 5*time.Second {
		t.Errorf("slow headers cut after %v", d)
	}
	if d := trickle(t, "POST /shipment/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{", " "); d > 5*time.Second {
		t.Errorf("slow body cut after %v", d)
	}
	req, _ := http.NewRequest("GET", base+"/healthz", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 8192))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("8 KiB header: status %d, want 431", resp.StatusCode)
	}
	// Deeply nested JSON is refused, not parsed into a stack overflow.
	resp, err = http.Post(base+"/shipment/", "application/json", strings.NewReader(strings.Repeat("[", 20000)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 && resp.StatusCode != 413 {
		t.Errorf("nested JSON: status %d", resp.StatusCode)
	}
}
