package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"reflect"
	"strings"
	"time"

	envparse "github.com/caarlos0/env/v11"
	gbytes "github.com/labstack/gommon/bytes"
	"go.yaml.in/yaml/v3"

	"github.com/shiptrack/shiptrack/api"
	"github.com/shiptrack/shiptrack/jobs"
	"github.com/shiptrack/shiptrack/weather"
)

// config is every setting of shiptrack, declared here once: the yaml tag is
// its key in config.yaml (sections nest), the env tag its SHIPTRACK_*
// variable, which overrides the file. defaultConfig holds the defaults,
// validate every check; config.yaml documents each setting with its
// default (TestConfigFileDocumentsDefaults keeps the two equal).
type config struct {
	Listen      string `yaml:"listen" env:"SHIPTRACK_LISTEN"`
	DatabaseURL string `yaml:"database_url" env:"SHIPTRACK_DATABASE_URL"`
	Seed        bool   `yaml:"seed" env:"SHIPTRACK_SEED"`

	Log struct {
		Level  slog.Level `yaml:"level" env:"SHIPTRACK_LOG_LEVEL"`
		Format string     `yaml:"format" env:"SHIPTRACK_LOG_FORMAT"` // auto, json or text
	} `yaml:"log"`

	Redis struct {
		URL          string        `yaml:"url" env:"SHIPTRACK_REDIS_URL"`
		Prefix       string        `yaml:"prefix" env:"SHIPTRACK_REDIS_PREFIX"`
		HeartbeatTTL time.Duration `yaml:"heartbeat_ttl" env:"SHIPTRACK_REDIS_HEARTBEAT_TTL"`
	} `yaml:"redis"`

	API struct {
		Tokens []string `yaml:"tokens" env:"SHIPTRACK_API_TOKENS"` // comma-separated in the variable
		// Bearer tokens of the write routes (comma-separated in the
		// variable); none = writes refused.
		WriteTokens []string `yaml:"write_tokens" env:"SHIPTRACK_API_WRITE_TOKENS"`
		// Bearer tokens of the webhook admin routes (comma-separated in
		// the variable); none = those routes refused.
		AdminTokens []string `yaml:"admin_tokens" env:"SHIPTRACK_API_ADMIN_TOKENS"`
		RateLimit   float64  `yaml:"rate_limit" env:"SHIPTRACK_API_RATE_LIMIT"`
		RateBurst   int      `yaml:"rate_burst" env:"SHIPTRACK_API_RATE_BURST"`
		TrustProxy  bool     `yaml:"trust_proxy" env:"SHIPTRACK_API_TRUST_PROXY"`
		CacheMB     int      `yaml:"cache_mb" env:"SHIPTRACK_API_CACHE_MB"`
		// Failed token attempts allowed per client per window (0 = no cap).
		TokenFailLimit  int           `yaml:"token_fail_limit" env:"SHIPTRACK_API_TOKEN_FAIL_LIMIT"`
		TokenFailWindow time.Duration `yaml:"token_fail_window" env:"SHIPTRACK_API_TOKEN_FAIL_WINDOW"`
		// How long a rate-limit decision waits for Redis before this
		// replica decides alone.
		LimitRedisTimeout time.Duration `yaml:"limit_redis_timeout" env:"SHIPTRACK_API_LIMIT_REDIS_TIMEOUT"`
	} `yaml:"api"`

	Debug struct {
		PprofListen string `yaml:"pprof_listen" env:"SHIPTRACK_PPROF_LISTEN"`
	} `yaml:"debug"`

	HTTP struct {
		ReadHeaderTimeout time.Duration `yaml:"read_header_timeout" env:"SHIPTRACK_HTTP_READ_HEADER_TIMEOUT"`
		ReadTimeout       time.Duration `yaml:"read_timeout" env:"SHIPTRACK_HTTP_READ_TIMEOUT"`
		WriteTimeout      time.Duration `yaml:"write_timeout" env:"SHIPTRACK_HTTP_WRITE_TIMEOUT"`
		IdleTimeout       time.Duration `yaml:"idle_timeout" env:"SHIPTRACK_HTTP_IDLE_TIMEOUT"`
		RequestTimeout    time.Duration `yaml:"request_timeout" env:"SHIPTRACK_HTTP_REQUEST_TIMEOUT"`
		ShutdownTimeout   time.Duration `yaml:"shutdown_timeout" env:"SHIPTRACK_HTTP_SHUTDOWN_TIMEOUT"`
		BodyLimit         string        `yaml:"body_limit" env:"SHIPTRACK_HTTP_BODY_LIMIT"`
		MaxHeaderBytes    int           `yaml:"max_header_bytes" env:"SHIPTRACK_HTTP_MAX_HEADER_BYTES"`
	} `yaml:"http"`

	Webhooks struct {
		// AllowPrivate allows http and loopback, link-local and private
		// endpoint addresses (tests, private networks).
		AllowPrivate bool `yaml:"allow_private" env:"SHIPTRACK_WEBHOOKS_ALLOW_PRIVATE"`
		// Timeout bounds one delivery attempt: how long a hung receiver
		// holds a worker.
		Timeout time.Duration `yaml:"timeout" env:"SHIPTRACK_WEBHOOKS_TIMEOUT"`
	} `yaml:"webhooks"`

	Weather struct {
		// The provider's settings, handed to weather.New as they are.
		weather.Config `yaml:",inline"`
		Interval       time.Duration `yaml:"interval" env:"SHIPTRACK_WEATHER_INTERVAL"`
		Workers        int           `yaml:"workers" env:"SHIPTRACK_WEATHER_WORKERS"`
		Rate           float64       `yaml:"rate" env:"SHIPTRACK_WEATHER_RATE"`
		DailyBudget    int64         `yaml:"daily_budget" env:"SHIPTRACK_WEATHER_DAILY_BUDGET"`
		ClaimLease     time.Duration `yaml:"claim_lease" env:"SHIPTRACK_WEATHER_CLAIM_LEASE"`
	} `yaml:"weather"`
}

// defaultConfig is every default. Where a package also needs the value (a
// zero field in its own Config, for tests and library use) the value is
// that package's exported Default constant, so each is written once.
func defaultConfig() config {
	var c config
	c.Listen = ":8080"
	c.DatabaseURL = "sqlite:shiptrack.db"
	c.Seed = true
	c.Log.Level = slog.LevelInfo
	c.Log.Format = "auto"
	c.Redis.Prefix = "shiptrack"
	c.Redis.HeartbeatTTL = 30 * time.Second
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
	c.HTTP.RequestTimeout = api.DefaultRequestTimeout
	c.HTTP.ShutdownTimeout = 18 * time.Second
	c.HTTP.BodyLimit = api.DefaultBodyLimit
	c.Webhooks.Timeout = jobs.DefaultWebhookTimeout
	c.Weather.Interval = weather.DefaultInterval
	c.Weather.Workers = jobs.DefaultWorkers
	c.Weather.Rate = jobs.DefaultRate
	c.Weather.ClaimLease = jobs.DefaultLease
	c.Weather.Timeout = weather.DefaultTimeout
	c.Weather.WeatherAPIURL = weather.DefaultWeatherAPIURL
	c.Weather.OpenMeteoURL = weather.DefaultOpenMeteoURL
	c.Weather.OpenMeteoGeocodingURL = weather.DefaultOpenMeteoGeocodingURL
	return c
}

// setting is one leaf of config: its dotted key in config.yaml, its
// variable, and the field. settings derives them from the tags, so the
// struct stays the one declaration.
type setting struct {
	key, env string
	field    reflect.Value
}

func (c *config) settings() []setting {
	return appendSettings(nil, "", reflect.ValueOf(c).Elem())
}

func appendSettings(out []setting, prefix string, v reflect.Value) []setting {
	for i := range v.NumField() {
		f := v.Type().Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		key := prefix
		if name != "" && prefix != "" {
			key = prefix + "." + name
		} else if name != "" {
			key = name
		}
		if e := f.Tag.Get("env"); e != "" {
			out = append(out, setting{key, e, v.Field(i)})
		} else if f.Type.Kind() == reflect.Struct {
			out = appendSettings(out, key, v.Field(i))
		}
	}
	return out
}

// loadConfig starts from the defaults, applies the YAML file at path (if
// path is not empty), then the environment: a variable that is set
// overrides the file, and set but empty clears the setting. Every bad
// value is an error naming the setting as it was given: the variable
// when the environment set it, else the file and key.
func loadConfig(path string, lookupEnv func(string) (string, bool)) (config, error) {
	c := defaultConfig()
	settings := c.settings()
	if path != "" {
		if err := c.readFile(path, settings); err != nil {
			return c, err
		}
	}
	fromEnv := make(map[string]bool)
	for _, s := range settings {
		v, ok := lookupEnv(s.env)
		if !ok {
			continue
		}
		fromEnv[s.key] = true
		if err := c.set(s, v); err != nil {
			return c, fmt.Errorf("config: %s: %w", s.env, err)
		}
	}
	c.API.Tokens = cleanList(c.API.Tokens)
	c.API.WriteTokens = cleanList(c.API.WriteTokens)
	c.API.AdminTokens = cleanList(c.API.AdminTokens)
	name := func(key string) string {
		for _, s := range settings {
			if s.key == key && (fromEnv[key] || path == "") {
				return "config: " + s.env
			}
		}
		return "config " + path + ": " + key
	}
	return c, c.validate(settings, name)
}

// readFile applies config.yaml's settings; a key that is no setting is an
// error (a typo would otherwise be silently ignored).
func (c *config) readFile(path string, settings []setting) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	var nodes []keyNode
	if len(doc.Content) == 1 {
		nodes = leafNodes(nil, "", doc.Content[0])
	}
	byKey := make(map[string]setting, len(settings))
	for _, s := range settings {
		byKey[s.key] = s
	}
	for _, n := range nodes {
		s, ok := byKey[n.key]
		if !ok {
			return fmt.Errorf("config %s: unknown setting %q", path, n.key)
		}
		v := n.node.Value
		if n.node.Kind == yaml.SequenceNode { // a list: the variable's comma-separated form
			items := make([]string, len(n.node.Content))
			for i, item := range n.node.Content {
				items[i] = item.Value
			}
			v = strings.Join(items, ",")
		}
		if err := c.set(s, v); err != nil {
			return fmt.Errorf("config %s: %s: %w", path, n.key, err)
		}
	}
	return nil
}

type keyNode struct {
	key  string
	node *yaml.Node
}

// leafNodes lists the file's values by dotted key, in file order.
func leafNodes(out []keyNode, prefix string, n *yaml.Node) []keyNode {
	if n.Kind != yaml.MappingNode {
		return append(out, keyNode{prefix, n})
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key := n.Content[i].Value
		if prefix != "" {
			key = prefix + "." + key
		}
		out = leafNodes(out, key, n.Content[i+1])
	}
	return out
}

// set stores one value, given as text in the file or a variable; empty
// clears the setting. caarlos0/env parses every type (durations, numbers,
// booleans, comma lists, slog.Level as text), for both sources alike; it
// is given one variable at a time, so an error is this setting's.
func (c *config) set(s setting, v string) error {
	if v = strings.TrimSpace(v); v == "" {
		s.field.SetZero()
		return nil
	}
	if envparse.ParseWithOptions(c, envparse.Options{Environment: map[string]string{s.env: v}}) != nil {
		return fmt.Errorf("%q is not %s", v, want(s.field.Type()))
	}
	return nil
}

// want names what a value of type t must look like, for error messages.
func want(t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[time.Duration]():
		return "a duration such as 30s or 2h"
	case t == reflect.TypeFor[slog.Level]():
		return "a log level: debug, info, warn or error"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.Int || t.Kind() == reflect.Int64:
		return "a whole number"
	case t.Kind() == reflect.Float64:
		return "a number"
	}
	return "a " + t.String()
}

// cleanList trims a comma list's items and drops the empty ones.
func cleanList(l []string) []string {
	var out []string
	for _, item := range l {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// validate is every check of the settings, alone and across each other;
// name(key) names a setting as it was given.
func (c config) validate(settings []setting, name func(key string) string) error {
	for _, s := range settings {
		switch v := s.field.Interface().(type) {
		case time.Duration:
			if v <= 0 {
				return fmt.Errorf("%s: %s is not a positive duration such as 30s or 2h", name(s.key), v)
			}
		case float64:
			if v < 0 {
				return fmt.Errorf("%s: %v is not a number of 0 or more", name(s.key), v)
			}
		case int64:
			if v < 0 {
				return fmt.Errorf("%s: %d is not a whole number of 0 or more", name(s.key), v)
			}
		}
	}
	checks := []struct {
		key string
		err error
	}{
		{"listen", nonEmpty(c.Listen)},
		{"database_url", dbURL(c.DatabaseURL)},
		{"log.format", oneOf(c.Log.Format, "auto", "json", "text")},
		{"redis.url", redisURL(c.Redis.URL)},
		{"redis.prefix", nonEmpty(c.Redis.Prefix)},
		{"api.rate_burst", between(c.API.RateBurst, 1, 1_000_000)},
		{"api.cache_mb", between(c.API.CacheMB, 0, 1<<20)},
		{"api.token_fail_limit", between(c.API.TokenFailLimit, 0, 1_000_000)},
		{"http.max_header_bytes", between(c.HTTP.MaxHeaderBytes, 1024, 1<<20)},
		{"http.body_limit", bodyLimit(c.HTTP.BodyLimit)},
		{"webhooks.timeout", atMost(c.Webhooks.Timeout, time.Minute)},
		{"weather.provider", oneOf(c.Weather.Provider, "", "weatherapi", "openmeteo", "off")},
		{"weather.interval", atLeast1m(c.Weather.Interval)},
		{"weather.workers", between(c.Weather.Workers, 1, 256)},
		{"weather.rate", above0(c.Weather.Rate)},
		{"weather.weatherapi_url", httpURL(c.Weather.WeatherAPIURL)},
		{"weather.openmeteo_url", httpURL(c.Weather.OpenMeteoURL)},
		{"weather.openmeteo_geocoding_url", httpURL(c.Weather.OpenMeteoGeocodingURL)},
	}
	for _, ch := range checks {
		if ch.err != nil {
			return fmt.Errorf("%s: %w", name(ch.key), ch.err)
		}
	}
	if drain, _ := c.shutdownShares(); c.HTTP.WriteTimeout > drain {
		return fmt.Errorf("config: http.write_timeout (SHIPTRACK_HTTP_WRITE_TIMEOUT): %s is longer than the HTTP drain at shutdown "+
			"(two thirds of http.shutdown_timeout %s: %s), so one slow reader could outlast it", c.HTTP.WriteTimeout, c.HTTP.ShutdownTimeout, drain)
	}
	return nil
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

func nonEmpty(v string) error {
	if v == "" {
		return errors.New("must not be empty")
	}
	return nil
}

func oneOf(v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("%q is not one of %s", v, strings.Join(allowed, ", "))
}

func between(n, lo, hi int) error {
	if n < lo || n > hi {
		return fmt.Errorf("%d is not a whole number from %d to %d", n, lo, hi)
	}
	return nil
}

func atLeast1m(d time.Duration) error {
	if d < time.Minute {
		return errors.New("must be at least 1m")
	}
	return nil
}

// atMost keeps a webhook attempt well inside its claim's 2-minute lease,
// so a slow attempt is not sent a second time by another replica.
func atMost(d, limit time.Duration) error {
	if d > limit {
		return fmt.Errorf("must be at most %s", limit)
	}
	return nil
}

func above0(f float64) error {
	if f <= 0 {
		return errors.New("must be above 0")
	}
	return nil
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

// bodyLimit accepts exactly what Echo's BodyLimit middleware does: it
// parses the size with the same gommon bytes.Parse and panics where this
// returns an error.
func bodyLimit(v string) error {
	if _, err := gbytes.Parse(v); err != nil {
		return fmt.Errorf("%q is not a size such as 64K or 1M", v)
	}
	return nil
}
