package weather

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// WeatherAPI is a Provider backed by WeatherAPI.com's current.json endpoint.
//
// Locations are queried as "City,Country" (or just "City"). PostalCode is
// never used: WeatherAPI resolves postal codes reliably only for the US, UK
// and Canada, and the city is always at least as good for current weather.
// A Query without City fails with ErrLocationNotFound without a request.
type WeatherAPI struct {
	key   string
	base  *url.URL
	fetch fetcher
}

var _ Provider = (*WeatherAPI)(nil)

// NewWeatherAPI returns a WeatherAPI provider. An empty baseURL selects
// DefaultWeatherAPIURL; a nil client selects a fresh http.Client. A missing
// key or unusable URL is an error wrapping ErrInvalidConfig.
func NewWeatherAPI(key, baseURL string, client *http.Client, opts Options) (*WeatherAPI, error) {
	key = strings.TrimSpace(key)
	if key == "" {
		return nil, fmt.Errorf("%w: weatherapi needs an API key", ErrInvalidConfig)
	}
	base, err := parseBaseURL(baseURL, DefaultWeatherAPIURL, "weatherapi")
	if err != nil {
		return nil, err
	}
	return &WeatherAPI{key: key, base: base, fetch: newFetcher(client, opts, key)}, nil
}

// Name returns "weatherapi".
func (w *WeatherAPI) Name() string { return ProviderWeatherAPI }

// Current returns the current weather at q. See the package documentation
// for how errors are classified.
func (w *WeatherAPI) Current(ctx context.Context, q Query) (Observation, error) {
	obs, err := w.current(ctx, q)
	if err != nil {
		// Scrub the key from every message, whatever layer produced it.
		return Observation{}, redactErr(fmt.Errorf("weatherapi: current weather for %q: %w", q.String(), err), w.key)
	}
	return obs, nil
}

func (w *WeatherAPI) current(ctx context.Context, q Query) (Observation, error) {
	city := strings.TrimSpace(q.City)
	if city == "" {
		return Observation{}, fmt.Errorf("%w: no city given", ErrLocationNotFound)
	}
	loc := city
	if country := strings.TrimSpace(q.Country); country != "" {
		loc += "," + country
	}
	u := w.base.JoinPath("current.json")
	u.RawQuery = url.Values{"key": {w.key}, "q": {loc}, "aqi": {"no"}}.Encode()
	return observe[weatherAPICurrent](ctx, w.fetch, u, w.statusError)
}

// weatherAPIErrorBody is WeatherAPI's error document,
// {"error":{"code":1006,"message":"No matching location found."}}.
type weatherAPIErrorBody struct {
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// statusError maps a non-2xx WeatherAPI response to an *APIError.
func (w *WeatherAPI) statusError(status int, body []byte) error {
	e := &APIError{Provider: ProviderWeatherAPI, StatusCode: status, Message: http.StatusText(status)}
	var eb weatherAPIErrorBody
	if json.Unmarshal(body, &eb) == nil && eb.Error != nil {
		e.Code = eb.Error.Code
		// Providers sometimes echo the request; keep the key out of errors.
		if m := redactSecret(cleanMessage(eb.Error.Message), w.key); m != "" {
			e.Message = m
		}
	}
	e.Kind = classifyWeatherAPI(status, e.Code)
	return e
}

// classifyWeatherAPI returns the sentinel for a WeatherAPI error response,
// or nil when it is neither "not found" nor "refused" (429 and 5xx are
// retried by the caller regardless).
func classifyWeatherAPI(status, code int) error {
	switch code {
	case 9999: // Internal application error, sent with HTTP 400.
		return errRetryable
	case 1006: // No location found matching parameter 'q'.
		return ErrLocationNotFound
	case 1002, // API key not provided.
		1005, // API request URL is invalid: misconfigured base URL, every call fails.
		2006, // API key provided is invalid.
		2007, // API key has exceeded calls per month quota.
		2008, // API key has been disabled.
		2009: // API key does not have access to the resource.
		return ErrRefused
	}
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden,
		// 404 means the endpoint is wrong, so every call would fail.
		http.StatusNotFound:
		return ErrRefused
	}
	return nil
}

// weatherAPICurrent is the subset of current.json we use. Pointers detect
// missing fields.
type weatherAPICurrent struct {
	Error    *json.RawMessage `json:"error"`
	Location *struct {
		LocaltimeEpoch *int64 `json:"localtime_epoch"`
	} `json:"location"`
	Current *struct {
		LastUpdatedEpoch *int64   `json:"last_updated_epoch"`
		TempC            *float64 `json:"temp_c"`
		Condition        *struct {
			Text string `json:"text"`
			Code *int   `json:"code"`
		} `json:"condition"`
		Humidity *float64 `json:"humidity"`
		WindKph  *float64 `json:"wind_kph"`
	} `json:"current"`
}

// observation reads a 200 current.json body.
func (r weatherAPICurrent) observation() (Observation, error) {
	if r.Error != nil {
		return Observation{}, fmt.Errorf("%w: error document with HTTP 200", errMalformed)
	}
	c := r.Current
	switch {
	case c == nil:
		return Observation{}, fmt.Errorf("%w: missing current", errMalformed)
	case c.Condition == nil || c.Condition.Code == nil:
		return Observation{}, fmt.Errorf("%w: missing current.condition.code", errMalformed)
	}
	// last_updated_epoch is when the observation was made; localtime_epoch
	// (time of the request) is only a fallback.
	var epoch int64
	switch {
	case c.LastUpdatedEpoch != nil && *c.LastUpdatedEpoch > 0:
		epoch = *c.LastUpdatedEpoch
	case r.Location != nil && r.Location.LocaltimeEpoch != nil && *r.Location.LocaltimeEpoch > 0:
		epoch = *r.Location.LocaltimeEpoch
	default:
		return Observation{}, fmt.Errorf("%w: missing current.last_updated_epoch", errMalformed)
	}
	return observation(field{"current.temp_c", c.TempC}, field{"current.humidity", c.Humidity}, field{"current.wind_kph", c.WindKph},
		strings.TrimSpace(c.Condition.Text), strconv.Itoa(*c.Condition.Code), time.Unix(epoch, 0).UTC())
}

// parseBaseURL validates an absolute http(s) base URL, defaulting to def;
// an unusable one is an ErrInvalidConfig naming what (the setting).
func parseBaseURL(raw, def, what string) (*url.URL, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		raw = def
	}
	u, err := url.Parse(raw)
	if err == nil && ((u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		err = fmt.Errorf("%q is not an absolute http(s) URL", raw)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s URL: %w", ErrInvalidConfig, what, err)
	}
	return u, nil
}
