package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4/middleware"
	"go.yaml.in/yaml/v3"
)

// config is every setting of shiptrack. config.yaml documents each one with
// its default; SHIPTRACK_* environment variables override the file.
type config struct {
	Listen         string
	DatabaseURL    string
	Seed           bool
	LogLevel       slog.Level
	LogFormat      string // auto, json or text
	RedisURL       string
	RedisPrefix    string
	PprofListen    string
	RedisHeartbeat time.Duration

	API struct {
		Tokens     []string
		RateLimit  float64
		RateBurst  int
		TrustProxy bool
		CacheMB    int
		// Failed token attempts allowed per client per window (0 = no cap).
		TokenFailLimit  int
		TokenFailWindow time.Duration
		// How long a rate-limit decision waits for Redis before this
		// replica decides alone.
		LimitRedisTimeout time.Duration
	}

	HTTP struct {
		ReadHeaderTimeout time.Duration
		ReadTimeout       time.Duration
		WriteTimeout      time.Duration
		IdleTimeout       time.Duration
		RequestTimeout    time.Duration
		ShutdownTimeout   time.Duration
		MaxHeaderBytes    int
		BodyLimit         string
	}

	Weather struct {
		Provider              string
		Interval              time.Duration
		Workers               int
		Rate                  float64
		DailyBudget           int64
		Timeout               time.Duration
		ClaimLease            time.Duration
		WeatherAPIKey         string
		WeatherAPIURL         string
		OpenMeteoURL          string
		OpenMeteoGeocodingURL string
	}
}

func defaultConfig() config {
	var c config
	c.Listen = ":8080"
	c.DatabaseURL = "sqlite:shiptrack.db"
	c.Seed = true
	c.LogLevel = slog.LevelInfo
	c.LogFormat = "auto"
	c.RedisPrefix = "shiptrack"
	c.RedisHeartbeat = 30 * time.Second
	c.API.RateLimit = 10
	c.API.RateBurst = 20
	c.API.CacheMB = 16
	c.API.TokenFailLimit = 10
	c.API.TokenFailWindow = 10 * time.Minute
	c.API.LimitRedisTimeout = 250 * time.Millisecond
	c.HTTP.MaxHeaderBytes = 64 << 10
	c.HTTP.ReadHeaderTimeout = 5 * time.Second
	c.HTTP.ReadTimeout = 15 * time.Second
	c.HTTP.WriteTimeout = 12 * time.Second
	c.HTTP.IdleTimeout = 120 * time.Second
	c.HTTP.RequestTimeout = 10 * time.Second
	c.HTTP.ShutdownTimeout = 18 * time.Second
	c.HTTP.BodyLimit = "64K"
	c.Weather.Interval = 2 * time.Hour
	c.Weather.Workers = 4
	c.Weather.Rate = 5
	c.Weather.Timeout = 10 * time.Second
	c.Weather.ClaimLease = 2 * time.Minute
	c.Weather.WeatherAPIURL = "https://api.weatherapi.com/v1"
	c.Weather.OpenMeteoURL = "https://api.open-meteo.com/v1"
	c.Weather.OpenMeteoGeocodingURL = "https://geocoding-api.open-meteo.com/v1"
	return c
}

// setting is one configuration key: its dotted name in config.yaml, its
// environment variable, and how to store a value.
type setting struct {
	key, env string
	set      func(string) error
}

func (c *config) settings() []setting {
	return []setting{
		{"listen", "SHIPTRACK_LISTEN", str(&c.Listen, nonEmpty)},
		{"database_url", "SHIPTRACK_DATABASE_URL", str(&c.DatabaseURL, dbURL)},
		{"seed", "SHIPTRACK_SEED", boolean(&c.Seed)},
		{"log.level", "SHIPTRACK_LOG_LEVEL", func(v string) error { return c.LogLevel.UnmarshalText([]byte(v)) }},
		{"log.format", "SHIPTRACK_LOG_FORMAT", str(&c.LogFormat, oneOf("auto", "json", "text"))},
		{"redis.url", "SHIPTRACK_REDIS_URL", str(&c.RedisURL, redisURL)},
		{"redis.prefix", "SHIPTRACK_REDIS_PREFIX", str(&c.RedisPrefix, nonEmpty)},
		{"redis.heartbeat_ttl", "SHIPTRACK_REDIS_HEARTBEAT_TTL", duration(&c.RedisHeartbeat)},
		{"api.tokens", "SHIPTRACK_API_TOKENS", list(&c.API.Tokens)},
		{"api.rate_limit", "SHIPTRACK_API_RATE_LIMIT", float(&c.API.RateLimit)},
		{"api.rate_burst", "SHIPTRACK_API_RATE_BURST", integer(&c.API.RateBurst, 1, 1_000_000)},
		{"api.trust_proxy", "SHIPTRACK_API_TRUST_PROXY", boolean(&c.API.TrustProxy)},
		{"api.cache_mb", "SHIPTRACK_API_CACHE_MB", integer(&c.API.CacheMB, 0, 1<<20)},
		{"api.token_fail_limit", "SHIPTRACK_API_TOKEN_FAIL_LIMIT", integer(&c.API.TokenFailLimit, 0, 1_000_000)},
		{"api.token_fail_window", "SHIPTRACK_API_TOKEN_FAIL_WINDOW", duration(&c.API.TokenFailWindow)},
		{"api.limit_redis_timeout", "SHIPTRACK_API_LIMIT_REDIS_TIMEOUT", duration(&c.API.LimitRedisTimeout)},
		{"debug.pprof_listen", "SHIPTRACK_PPROF_LISTEN", str(&c.PprofListen, nil)},
		{"http.read_header_timeout", "SHIPTRACK_HTTP_READ_HEADER_TIMEOUT", duration(&c.HTTP.ReadHeaderTimeout)},
		{"http.read_timeout", "SHIPTRACK_HTTP_READ_TIMEOUT", duration(&c.HTTP.ReadTimeout)},
		{"http.write_timeout", "SHIPTRACK_HTTP_WRITE_TIMEOUT", duration(&c.HTTP.WriteTimeout)},
		{"http.idle_timeout", "SHIPTRACK_HTTP_IDLE_TIMEOUT", duration(&c.HTTP.IdleTimeout)},
		{"http.request_timeout", "SHIPTRACK_HTTP_REQUEST_TIMEOUT", duration(&c.HTTP.RequestTimeout)},
		{"http.shutdown_timeout", "SHIPTRACK_HTTP_SHUTDOWN_TIMEOUT", duration(&c.HTTP.ShutdownTimeout)},
		{"http.max_header_bytes", "SHIPTRACK_HTTP_MAX_HEADER_BYTES", integer(&c.HTTP.MaxHeaderBytes, 1024, 1<<20)},
		{"http.body_limit", "SHIPTRACK_HTTP_BODY_LIMIT", str(&c.HTTP.BodyLimit, bodyLimit)},
		{"weather.provider", "SHIPTRACK_WEATHER_PROVIDER", str(&c.Weather.Provider, oneOf("", "weatherapi", "openmeteo", "off"))},
		{"weather.interval", "SHIPTRACK_WEATHER_INTERVAL", duration(&c.Weather.Interval)},
		{"weather.workers", "SHIPTRACK_WEATHER_WORKERS", integer(&c.Weather.Workers, 1, 256)},
		{"weather.rate", "SHIPTRACK_WEATHER_RATE", float(&c.Weather.Rate)},
		{"weather.daily_budget", "SHIPTRACK_WEATHER_DAILY_BUDGET", int64Val(&c.Weather.DailyBudget)},
		{"weather.timeout", "SHIPTRACK_WEATHER_TIMEOUT", duration(&c.Weather.Timeout)},
		{"weather.claim_lease", "SHIPTRACK_WEATHER_CLAIM_LEASE", duration(&c.Weather.ClaimLease)},
		{"weather.weatherapi_key", "SHIPTRACK_WEATHERAPI_KEY", str(&c.Weather.WeatherAPIKey, nil)},
		{"weather.weatherapi_url", "SHIPTRACK_WEATHERAPI_URL", str(&c.Weather.WeatherAPIURL, httpURL)},
		{"weather.openmeteo_url", "SHIPTRACK_OPENMETEO_URL", str(&c.Weather.OpenMeteoURL, httpURL)},
		{"weather.openmeteo_geocoding_url", "SHIPTRACK_OPENMETEO_GEOCODING_URL", str(&c.Weather.OpenMeteoGeocodingURL, httpURL)},
	}
}

// loadConfig reads the YAML file at path (if path is not empty), then the
// environment. Every bad value is an error naming its setting.
func loadConfig(path string, getenv func(string) string) (config, error) {
	c := defaultConfig()
	byKey := make(map[string]setting)
	for _, s := range c.settings() {
		byKey[s.key] = s
	}
	if path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		var doc map[string]any
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			return c, fmt.Errorf("config %s: %w", path, err)
		}
		flat := make(map[string]string)
		flatten("", doc, flat)
		keys := make([]string, 0, len(flat))
		for k := range flat {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			s, ok := byKey[k]
			if !ok {
				return c, fmt.Errorf("config %s: unknown setting %q", path, k)
			}
			if err := s.set(flat[k]); err != nil {
				return c, fmt.Errorf("config %s: %s: %w", path, k, err)
			}
		}
	}
	for _, s := range c.settings() {
		if v, ok := lookupEnv(getenv, s.env); ok {
			if err := s.set(v); err != nil {
				return c, fmt.Errorf("config: %s: %w", s.env, err)
			}
		}
	}
	// Named as the other errors are: by the variable when it set the
	// value, else by the file and key (the defaults are valid).
	source := func(key, env string) string {
		if _, ok := lookupEnv(getenv, env); ok || path == "" {
			return "config: " + env
		}
		return "config " + path + ": " + key
	}
	if c.Weather.Interval < time.Minute {
		return c, errors.New(source("weather.interval", "SHIPTRACK_WEATHER_INTERVAL") + ": must be at least 1m")
	}
	if c.Weather.Rate <= 0 {
		return c, errors.New(source("weather.rate", "SHIPTRACK_WEATHER_RATE") + ": must be above 0")
	}
	if drain, _ := c.shutdownShares(); c.HTTP.WriteTimeout > drain {
		return c, fmt.Errorf("config: http.write_timeout (SHIPTRACK_HTTP_WRITE_TIMEOUT): %s is longer than the HTTP drain at shutdown "+
			"(two thirds of http.shutdown_timeout %s: %s), so one slow reader could outlast it", c.HTTP.WriteTimeout, c.HTTP.ShutdownTimeout, drain)
	}
	return c, nil
}

// shutdownShares splits http.shutdown_timeout between the two steps of a
// shutdown, one after the other: the HTTP drain (requests in flight
// finish) gets two thirds, the weather jobs' stop (workers put their jobs
// back or finish them) the last third. A write_timeout no longer than the
// drain means a slow reader cannot outlast it.
func (c config) shutdownShares() (drain, jobs time.Duration) {
	jobs = c.HTTP.ShutdownTimeout / 3
	return c.HTTP.ShutdownTimeout - jobs, jobs
}

func lookupEnv(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

func flatten(prefix string, v any, out map[string]string) {
	if l, ok := v.([]any); ok { // a YAML list: the comma-separated form
		items := make([]string, len(l))
		for i, item := range l {
			items[i] = fmt.Sprint(item)
		}
		out[prefix] = strings.Join(items, ",")
		return
	}
	m, ok := v.(map[string]any)
	if !ok {
		if v == nil {
			out[prefix] = ""
		} else {
			out[prefix] = fmt.Sprint(v)
		}
		return
	}
	for k, sub := range m {
		if prefix != "" {
			k = prefix + "." + k
		}
		flatten(k, sub, out)
	}
}

func str(dst *string, check func(string) error) func(string) error {
	return func(v string) error {
		v = strings.TrimSpace(v)
		if check != nil {
			if err := check(v); err != nil {
				return err
			}
		}
		*dst = v
		return nil
	}
}

// list reads a comma-separated list; flatten turns a YAML list into one.
func list(dst *[]string) func(string) error {
	return func(v string) error {
		var out []string
		for _, item := range strings.Split(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
		*dst = out
		return nil
	}
}

func boolean(dst *bool) func(string) error {
	return func(v string) error {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		*dst = b
		return nil
	}
}

func duration(dst *time.Duration) func(string) error {
	return func(v string) error {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d <= 0 {
			return fmt.Errorf("%q is not a positive duration such as 30s or 2h", v)
		}
		*dst = d
		return nil
	}
}

func integer(dst *int, lo, hi int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("%q is not a whole number from %d to %d", v, lo, hi)
		}
		*dst = n
		return nil
	}
}

func int64Val(dst *int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("%q is not a whole number of 0 or more", v)
		}
		*dst = n
		return nil
	}
}

func float(dst *float64) func(string) error {
	return func(v string) error {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f < 0 {
			return fmt.Errorf("%q is not a number of 0 or more", v)
		}
		*dst = f
		return nil
	}
}

func nonEmpty(v string) error {
	if v == "" {
		return errors.New("must not be empty")
	}
	return nil
}

func oneOf(allowed ...string) func(string) error {
	return func(v string) error {
		for _, a := range allowed {
			if v == a {
				return nil
			}
		}
		return fmt.Errorf("%q is not one of %s", v, strings.Join(allowed, ", "))
	}
}

func dbURL(v string) error {
	if strings.HasPrefix(v, "sqlite:") && len(v) > len("sqlite:") ||
		strings.HasPrefix(v, "postgres://") || strings.HasPrefix(v, "postgresql://") {
		return nil
	}
	return errors.New("must be sqlite:PATH or postgres://USER@HOST:PORT/DB")
}

func redisURL(v string) error {
	if v == "" || strings.HasPrefix(v, "redis://") || strings.HasPrefix(v, "rediss://") {
		return nil
	}
	return errors.New("must be empty (in-process queue) or redis://HOST:PORT/DB")
}

func httpURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be an http:// or https:// URL")
	}
	return nil
}

func bodyLimit(v string) (err error) {
	defer func() {
		// middleware.BodyLimit panics on a bad size; turn that into an error.
		if recover() != nil {
			err = fmt.Errorf("%q is not a size such as 64K or 1M", v)
		}
	}()
	middleware.BodyLimit(v)
	return nil
}
