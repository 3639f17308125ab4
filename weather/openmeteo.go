package weather

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxGeoCacheEntries bounds the geocoding cache; when full it is cleared,
// which only costs a few extra geocoding requests.
const maxGeoCacheEntries = 4096

// OpenMeteo is a Provider backed by the keyless Open-Meteo forecast and
// geocoding APIs.
//
// The city is geocoded first (PostalCode is never used, for consistency
// with WeatherAPI); among the results, the first whose country matches
// Query.Country (case-insensitive name, ISO code, or common aliases such as
// "USA" and "UK") wins, else the first result. Successful lookups are cached
// in memory for the life of the value, since coordinates never change.
//
// An HTTP 400 from Open-Meteo ({"error":true,"reason":...}) means it
// rejected our parameters, not that the place does not exist, so it is
// reported as a plain *APIError (neither sentinel) and not retried.
type OpenMeteo struct {
	forecast  *url.URL
	geocoding *url.URL
	fetch     fetcher

	mu    sync.Mutex
	cache map[string]geoPoint // key: geoCacheKey(q)
}

var _ Provider = (*OpenMeteo)(nil)

// geoPoint is a geocoded location.
type geoPoint struct {
	Lat, Lon float64
}

// NewOpenMeteo returns an Open-Meteo provider. Empty URLs select
// DefaultOpenMeteoURL and DefaultOpenMeteoGeocodingURL; a nil client selects
// a fresh http.Client. An unusable URL is an error wrapping ErrInvalidConfig.
func NewOpenMeteo(forecastURL, geocodingURL string, client *http.Client, opts Options) (*OpenMeteo, error) {
	forecast, err := parseBaseURL(forecastURL, DefaultOpenMeteoURL, "openmeteo forecast")
	if err != nil {
		return nil, err
	}
	geocoding, err := parseBaseURL(geocodingURL, DefaultOpenMeteoGeocodingURL, "openmeteo geocoding")
	if err != nil {
		return nil, err
	}
	return &OpenMeteo{
		forecast:  forecast,
		geocoding: geocoding,
		fetch:     newFetcher(client, opts, ""),
		cache:     make(map[string]geoPoint),
	}, nil
}

// Name returns "openmeteo".
func (o *OpenMeteo) Name() string { return ProviderOpenMeteo }

// Current returns the current weather at q. See the package documentation
// for how errors are classified.
func (o *OpenMeteo) Current(ctx context.Context, q Query) (Observation, error) {
	if strings.TrimSpace(q.City) == "" {
		return Observation{}, fmt.Errorf("openmeteo: current weather for %q: %w: no city given", q.String(), ErrLocationNotFound)
	}
	pt, err := o.locate(ctx, q)
	if err != nil {
		return Observation{}, fmt.Errorf("openmeteo: geocoding %q: %w", q.String(), err)
	}
	obs, err := o.current(ctx, pt)
	if err != nil {
		return Observation{}, fmt.Errorf("openmeteo: current weather for %q: %w", q.String(), err)
	}
	return obs, nil
}

// geoCacheKey normalises q so that spelling variants share an entry.
func geoCacheKey(q Query) string {
	return strings.ToLower(strings.Join(strings.Fields(q.City), " ")) + "|" + normCountry(q.Country)
}

// locate returns q's coordinates from the cache or the geocoding API.
// Concurrent first lookups of one city may both hit the API; that is
// harmless and keeps the lock out of the network path.
func (o *OpenMeteo) locate(ctx context.Context, q Query) (geoPoint, error) {
	key := geoCacheKey(q)
	o.mu.Lock()
	pt, ok := o.cache[key]
	o.mu.Unlock()
	if ok {
		return pt, nil
	}

	u := o.geocoding.JoinPath("search")
	u.RawQuery = url.Values{
		"name":     {strings.TrimSpace(q.City)},
		"count":    {"10"},
		"language": {"en"},
		"format":   {"json"},
	}.Encode()
	err := o.fetch.get(ctx, u, openMeteoStatusError, func(body []byte) error {
		var err error
		pt, err = parseGeocoding(body, q.Country)
		return err
	})
	if err != nil {
		return geoPoint{}, err
	}

	o.mu.Lock()
	if len(o.cache) >= maxGeoCacheEntries {
		clear(o.cache)
	}
	o.cache[key] = pt
	o.mu.Unlock()
	return pt, nil
}

// openMeteoErrorBody is Open-Meteo's error document,
// {"error":true,"reason":"..."}.
type openMeteoErrorBody struct {
	Error  bool   `json:"error"`
	Reason string `json:"reason"`
}

// openMeteoStatusError maps a non-2xx Open-Meteo response to an *APIError.
func openMeteoStatusError(status int, body []byte) error {
	e := &APIError{Provider: ProviderOpenMeteo, StatusCode: status, Message: http.StatusText(status)}
	var eb openMeteoErrorBody
	if json.Unmarshal(body, &eb) == nil {
		if m := cleanMessage(eb.Reason); m != "" {
			e.Message = m
		}
	}
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
		// Bad key (customer API) or wrong endpoint: every call would fail.
		e.Kind = ErrRefused
	}
	return e
}

// geoResponse is the geocoding API's answer. "results" is absent when
// nothing matched.
type geoResponse struct {
	openMeteoErrorBody
	Results []struct {
		Name        string   `json:"name"`
		Latitude    *float64 `json:"latitude"`
		Longitude   *float64 `json:"longitude"`
		Country     string   `json:"country"`
		CountryCode string   `json:"country_code"`
	} `json:"results"`
}

// parseGeocoding picks the result matching country, else the first one.
func parseGeocoding(body []byte, country string) (geoPoint, error) {
	var r geoResponse
	if err := decodeJSON(body, &r); err != nil {
		return geoPoint{}, err
	}
	if r.Error {
		return geoPoint{}, &APIError{Provider: ProviderOpenMeteo, StatusCode: http.StatusOK, Message: cleanMessage(r.Reason)}
	}
	if len(r.Results) == 0 {
		return geoPoint{}, ErrLocationNotFound
	}
	want := normCountry(country)
	var first *geoPoint
	for _, res := range r.Results {
		if res.Latitude == nil || res.Longitude == nil {
			continue // unusable entry; others may still do
		}
		pt := geoPoint{Lat: *res.Latitude, Lon: *res.Longitude}
		if want == "" {
			return pt, nil
		}
		if normCountry(res.Country) == want ||
			(len(want) == 2 && strings.EqualFold(res.CountryCode, want)) {
			return pt, nil
		}
		if first == nil {
			first = &pt
		}
	}
	if first == nil {
		return geoPoint{}, fmt.Errorf("%w: no result has coordinates", errMalformed)
	}
	return *first, nil
}

// normCountry lower-cases a country name and folds common aliases onto the
// names the geocoder uses.
func normCountry(s string) string {
	s = strings.ToLower(strings.Join(strings.Fields(s), " "))
	switch s {
	case "usa", "u.s.a.", "u.s.", "united states of america", "america":
		return "united states"
	case "uk", "u.k.", "great britain", "britain", "england", "scotland", "wales", "northern ireland":
		return "united kingdom"
	}
	return s
}

// current fetches the current weather at pt.
func (o *OpenMeteo) current(ctx context.Context, pt geoPoint) (Observation, error) {
	u := o.forecast.JoinPath("forecast")
	u.RawQuery = url.Values{
		"latitude":        {strconv.FormatFloat(pt.Lat, 'f', -1, 64)},
		"longitude":       {strconv.FormatFloat(pt.Lon, 'f', -1, 64)},
		"current":         {"temperature_2m,relative_humidity_2m,weather_code,wind_speed_10m"},
		"wind_speed_unit": {"kmh"},
		"timezone":        {"UTC"},
		// Unix time avoids guessing the zone of "2026-11-25T10:15".
		"timeformat": {"unixtime"},
	}.Encode()
	return observe[forecastResponse](ctx, o.fetch, u, openMeteoStatusError)
}

// forecastResponse is the subset of /forecast we use. Pointers detect
// missing (or null) values.
type forecastResponse struct {
	openMeteoErrorBody
	Current *struct {
		Time        json.RawMessage `json:"time"`
		Temperature *float64        `json:"temperature_2m"`
		Humidity    *float64        `json:"relative_humidity_2m"`
		WeatherCode *float64        `json:"weather_code"`
		WindSpeed   *float64        `json:"wind_speed_10m"`
	} `json:"current"`
}

// observation reads a 200 /forecast body.
func (r forecastResponse) observation() (Observation, error) {
	if r.Error {
		return Observation{}, &APIError{Provider: ProviderOpenMeteo, StatusCode: http.StatusOK, Message: cleanMessage(r.Reason)}
	}
	c := r.Current
	if c == nil {
		return Observation{}, fmt.Errorf("%w: missing current", errMalformed)
	}
	if w := c.WeatherCode; w == nil || *w != math.Trunc(*w) || *w < 0 || *w > 1000 {
		return Observation{}, fmt.Errorf("%w: missing or invalid current.weather_code", errMalformed)
	}
	at, err := parseOpenMeteoTime(c.Time)
	if err != nil {
		return Observation{}, fmt.Errorf("%w: current.time: %w", errMalformed, err)
	}
	code := int(*c.WeatherCode)
	return observation(field{"current.temperature_2m", c.Temperature}, field{"current.relative_humidity_2m", c.Humidity},
		field{"current.wind_speed_10m", c.WindSpeed}, WMOCondition(code), strconv.Itoa(code), at)
}

// parseOpenMeteoTime accepts unix seconds (timeformat=unixtime) or an
// ISO 8601 local time without zone, which with timezone=UTC is UTC.
func parseOpenMeteoTime(raw json.RawMessage) (time.Time, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return time.Time{}, errors.New("missing")
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, err
		}
		for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339} {
			if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
				return t.UTC(), nil
			}
		}
		return time.Time{}, fmt.Errorf("unrecognised time %q", cleanMessage(s))
	}
	var secs int64
	if err := json.Unmarshal(raw, &secs); err != nil {
		return time.Time{}, err
	}
	if secs <= 0 {
		return time.Time{}, fmt.Errorf("invalid unix time %d", secs)
	}
	return time.Unix(secs, 0).UTC(), nil
}
