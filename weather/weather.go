// Package weather fetches the current weather for a city from an external
// provider: WeatherAPI.com (needs an API key) or Open-Meteo (keyless).
//
// Every error returned by a Provider can be classified with errors.Is:
//
//   - ErrLocationNotFound: the provider does not know the location; asking
//     again will not help.
//   - ErrRefused: the provider refuses us as a whole (missing, invalid or
//     disabled key, quota exceeded, plan without access, endpoint not found);
//     every further request in the current run would fail the same way.
//   - ErrTransient: server errors, 429, timeouts, network errors and
//     unusable (malformed, truncated, oversized) bodies, after retries; try
//     again in a later run. Cancellation of the caller's context is also
//     reported as ErrTransient, and additionally matches context.Canceled or
//     context.DeadlineExceeded. An answer outside physical ranges
//     (temperature, humidity 0–100, wind, an observation time outside
//     [now-6h, now+1h], a condition text that is not clean UTF-8 of at most
//     200 characters) is ErrTransient and ErrImplausible, refused without
//     retrying at once: see plausible.go.
//
// Any other error is a request the provider rejected for reasons that are
// neither of the above (for example an Open-Meteo HTTP 400 "reason"); it is
// not retried and an *APIError describes it.
//
// API keys never appear in error strings: URLs inside *url.Error values are
// rewritten with key=REDACTED and the key is scrubbed from every message.
package weather

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// StaleAfter is how old weather may get before answers mark it stale: the
// refresh interval plus a grace of half an interval, which covers a
// window's queue draining at the provider's rate limit. While the pipeline
// is healthy a place is refreshed once per interval, so nothing turns
// stale.
func StaleAfter(interval time.Duration) time.Duration { return interval + interval/2 }

// Query is the location a provider is asked about.
type Query struct {
	City, Country, PostalCode string
}

// String returns a human readable form such as "Paris, France". It is meant
// for display (the weather "location" field), not for provider requests.
func (q Query) String() string {
	place := strings.TrimSpace(q.City)
	if place == "" {
		// A postal code is better than nothing for a human reader.
		place = strings.TrimSpace(q.PostalCode)
	}
	country := strings.TrimSpace(q.Country)
	switch {
	case place == "":
		return country
	case country == "":
		return place
	default:
		return place + ", " + country
	}
}

// Observation is the current weather at one location.
type Observation struct {
	TemperatureC  float64
	Condition     string // condition text, e.g. "Partly cloudy"
	ConditionCode string // provider's code as a string (WeatherAPI condition.code, Open-Meteo WMO weather_code)
	Humidity      int    // percent
	WindKph       float64
	ObservedAt    time.Time // provider's observation time, UTC
}

// Provider fetches current weather. Implementations are safe for concurrent use.
type Provider interface {
	// Name identifies the provider: "weatherapi" or "openmeteo".
	Name() string
	// Current returns the current weather at q.
	Current(ctx context.Context, q Query) (Observation, error)
}

var (
	// ErrLocationNotFound means the provider does not know the location
	// (WeatherAPI 1006, Open-Meteo geocoding without results). It is
	// permanent for that location.
	ErrLocationNotFound = errors.New("weather: location not found")
	// ErrRefused means the provider refuses us as a whole: missing, invalid
	// or disabled key (WeatherAPI 1002, 2006, 2008), quota exceeded (2007),
	// no access (2009), invalid request URL (1005), HTTP 401/403/404. The
	// caller should stop the current run.
	ErrRefused = errors.New("weather: provider refused the request")
	// ErrTransient means the request failed for a reason that may go away:
	// 5xx, 429, timeouts, network errors or unusable bodies, after retries.
	// Try again in a later run.
	ErrTransient = errors.New("weather: temporary provider failure")
	// ErrInvalidConfig is returned by New and the constructors for an
	// unknown provider name, a missing key or an unusable URL.
	ErrInvalidConfig = errors.New("weather: invalid configuration")
)

// Provider names accepted by Config.Provider and returned by Provider.Name.
const (
	ProviderWeatherAPI = "weatherapi"
	ProviderOpenMeteo  = "openmeteo"
	ProviderOff        = "off"
)

// Defaults of the weather settings: the only place these values are
// written. A zero field of Config or Options takes them (library and test
// use); shiptrack's config starts from them too.
const (
	DefaultWeatherAPIURL         = "https://api.weatherapi.com/v1"
	DefaultOpenMeteoURL          = "https://api.open-meteo.com/v1"
	DefaultOpenMeteoGeocodingURL = "https://geocoding-api.open-meteo.com/v1"
	// DefaultTimeout bounds one HTTP attempt.
	DefaultTimeout = 10 * time.Second
	// DefaultInterval is the refresh interval (jobs) and the base of
	// StaleAfter (api) when the caller sets none.
	DefaultInterval = 2 * time.Hour
)

// Config selects and configures a provider. It is the weather: section of
// shiptrack's config as is (the tags name the file key and the variable).
type Config struct {
	Provider              string        `yaml:"provider" env:"SHIPTRACK_WEATHER_PROVIDER"` // "", "weatherapi", "openmeteo", "off". "" = weatherapi if WeatherAPIKey set, else openmeteo.
	WeatherAPIKey         string        `yaml:"weatherapi_key" env:"SHIPTRACK_WEATHERAPI_KEY"`
	WeatherAPIURL         string        `yaml:"weatherapi_url" env:"SHIPTRACK_WEATHERAPI_URL"`                   // default DefaultWeatherAPIURL
	OpenMeteoURL          string        `yaml:"openmeteo_url" env:"SHIPTRACK_OPENMETEO_URL"`                     // default DefaultOpenMeteoURL
	OpenMeteoGeocodingURL string        `yaml:"openmeteo_geocoding_url" env:"SHIPTRACK_OPENMETEO_GEOCODING_URL"` // default DefaultOpenMeteoGeocodingURL
	Timeout               time.Duration `yaml:"timeout" env:"SHIPTRACK_WEATHER_TIMEOUT"`                         // per HTTP attempt, default DefaultTimeout
	Retries               int           `yaml:"-"`                                                               // extra attempts for transient failures, default 2 (0 = default, negative = none)
	MaxBodyBytes          int64         `yaml:"-"`                                                               // default 1 MiB
}

// New returns the configured provider, or (nil, nil) when Provider is "off".
// An unknown provider name or "weatherapi" without a key is an error
// wrapping ErrInvalidConfig. A nil client selects a fresh http.Client; the
// per-attempt timeout comes from cfg.Timeout, not from client.Timeout.
func New(cfg Config, client *http.Client) (Provider, error) {
	opts := Options{
		Timeout:      cfg.Timeout,
		Retries:      cfg.Retries,
		MaxBodyBytes: cfg.MaxBodyBytes,
	}
	name := strings.ToLower(strings.TrimSpace(cfg.Provider))
	if name == "" {
		name = ProviderOpenMeteo
		if strings.TrimSpace(cfg.WeatherAPIKey) != "" {
			name = ProviderWeatherAPI
		}
	}
	switch name {
	case ProviderOff:
		return nil, nil
	case ProviderWeatherAPI:
		p, err := NewWeatherAPI(cfg.WeatherAPIKey, cfg.WeatherAPIURL, client, opts)
		if err != nil {
			// Return a true nil interface, not a typed nil pointer.
			return nil, err
		}
		return p, nil
	case ProviderOpenMeteo:
		p, err := NewOpenMeteo(cfg.OpenMeteoURL, cfg.OpenMeteoGeocodingURL, client, opts)
		if err != nil {
			return nil, err
		}
		return p, nil
	default:
		return nil, fmt.Errorf("%w: unknown provider %q (want %q, %q or %q)",
			ErrInvalidConfig, cfg.Provider, ProviderWeatherAPI, ProviderOpenMeteo, ProviderOff)
	}
}

// APIError describes an unsuccessful HTTP response from a provider. It
// unwraps to Kind, so errors.Is(err, ErrLocationNotFound) or ErrRefused
// works on it. Responses that were retried (429, 5xx, WeatherAPI 9999)
// reach the caller wrapped in ErrTransient instead.
type APIError struct {
	Provider   string // "weatherapi" or "openmeteo"
	StatusCode int    // HTTP status
	Code       int    // provider error code, 0 if none (WeatherAPI only)
	Message    string // provider's message, or the HTTP status text
	Kind       error  // ErrLocationNotFound, ErrRefused, nil, or an internal retry marker
}

// Error implements error.
func (e *APIError) Error() string {
	// The provider name is left out: Current already prefixes it.
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP %d", e.StatusCode)
	if e.Code != 0 {
		fmt.Fprintf(&b, ", code %d", e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Unwrap returns the classifying sentinel, so errors.Is works on *APIError.
func (e *APIError) Unwrap() error { return e.Kind }
