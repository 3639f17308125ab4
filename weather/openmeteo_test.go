package weather

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// openMeteoFixture is a pair of fake geocoding and forecast servers.
type openMeteoFixture struct {
	geo, forecast *testServer
	p             *OpenMeteo
}

// newOpenMeteoFixture wires an OpenMeteo provider to the given servers.
func newOpenMeteoFixture(t *testing.T, geo, forecast *testServer, opts Options) openMeteoFixture {
	t.Helper()
	p, err := NewOpenMeteo(forecast.URL+"/v1", geo.URL+"/v1", geo.Client(), opts)
	if err != nil {
		t.Fatalf("NewOpenMeteo: %v", err)
	}
	return openMeteoFixture{geo: geo, forecast: forecast, p: p}
}

// geoServer serves the documented Paris geocoding sample, or the empty
// answer for any other name.
func geoServer(t *testing.T) *testServer {
	t.Helper()
	found := readTestdata(t, "openmeteo_geocoding_paris.json")
	empty := readTestdata(t, "openmeteo_geocoding_empty.json")
	return newServer(t, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path != "/v1/search" || q.Get("count") != "10" || q.Get("language") != "en" || q.Get("format") != "json" {
			t.Errorf("unexpected geocoding request %s", r.URL)
		}
		w.Header().Set("Content-Type", "application/json")
		if q.Get("name") == "Paris" {
			_, _ = w.Write(found)
			return
		}
		_, _ = w.Write(empty)
	})
}

// forecastServer serves the documented forecast sample and checks the
// request parameters.
func forecastServer(t *testing.T, file string) *testServer {
	t.Helper()
	body := readTestdata(t, file)
	return newServer(t, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path != "/v1/forecast" ||
			q.Get("current") != "temperature_2m,relative_humidity_2m,weather_code,wind_speed_10m" ||
			q.Get("wind_speed_unit") != "kmh" || q.Get("timezone") != "UTC" ||
			q.Get("latitude") == "" || q.Get("longitude") == "" {
			t.Errorf("unexpected forecast request %s", r.URL)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
}

func TestOpenMeteoCurrent(t *testing.T) {
	t.Parallel()
	f := newOpenMeteoFixture(t, geoServer(t), forecastServer(t, "openmeteo_forecast_current.json"), testOptions())
	if f.p.Name() != "openmeteo" {
		t.Errorf("Name() = %q", f.p.Name())
	}
	got, err := f.p.Current(t.Context(), paris)
	if err != nil {
		t.Fatalf("Current: %v", err)
	}
	want := Observation{
		TemperatureC:  7.9,
		Condition:     "Rain",
		ConditionCode: "61",
		Humidity:      84,
		WindKph:       13.7,
		ObservedAt:    time.Date(2026, 11, 25, 10, 15, 0, 0, time.UTC),
	}
	if got != want {
		t.Errorf("Current() = %+v, want %+v", got, want)
	}
}

func TestOpenMeteoISOTime(t *testing.T) {
	t.Parallel()
	f := newOpenMeteoFixture(t, geoServer(t), forecastServer(t, "openmeteo_forecast_current_iso.json"), testOptions())
	got, err := f.p.Current(t.Context(), paris)
	if err != nil {
		t.Fatalf("Current: %v", err)
	}
	if want := time.Date(2026, 11, 25, 10, 15, 0, 0, time.UTC); !got.ObservedAt.Equal(want) || got.ObservedAt.Location() != time.UTC {
		t.Errorf("ObservedAt = %v, want %v", got.ObservedAt, want)
	}
	if got.Condition != "Overcast" || got.ConditionCode != "3" {
		t.Errorf("condition = %q/%q, want Overcast/3", got.Condition, got.ConditionCode)
	}
}

func TestOpenMeteoCountrySelection(t *testing.T) {
	t.Parallel()
	tests := []struct {
		country, wantLat, wantLon string
	}{
		{"France", "48.85341", "2.3488"},
		{"france", "48.85341", "2.3488"},
		{"FR", "48.85341", "2.3488"},
		{"United States", "33.66094", "-95.55551"},
		{"USA", "33.66094", "-95.55551"},
		{"us", "33.66094", "-95.55551"},
		{"Canada", "43.2", "-80.38333"},
		{"Atlantis", "48.85341", "2.3488"}, // no match: first result
		{"", "48.85341", "2.3488"},
	}
	for _, tc := range tests {
		t.Run(tc.country, func(t *testing.T) {
			t.Parallel()
			body := readTestdata(t, "openmeteo_forecast_current.json")
			forecast := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				q := r.URL.Query()
				if q.Get("latitude") != tc.wantLat || q.Get("longitude") != tc.wantLon {
					t.Errorf("forecast for %s,%s, want %s,%s", q.Get("latitude"), q.Get("longitude"), tc.wantLat, tc.wantLon)
				}
				_, _ = w.Write(body)
			})
			f := newOpenMeteoFixture(t, geoServer(t), forecast, testOptions())
			if _, err := f.p.Current(t.Context(), Query{City: "Paris", Country: tc.country}); err != nil {
				t.Fatalf("Current: %v", err)
			}
		})
	}
}

func TestOpenMeteoLocationNotFound(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		q         Query
		wantGeo   int32
		geoAnswer string
	}{
		{"no results key", Query{City: "Nowhereville", Country: "France"}, 2, ""},
		{"empty results array", Query{City: "Nowhereville"}, 2, `{"results":[],"generationtime_ms":0.5}`},
		{"no city", Query{Country: "France", PostalCode: "75001"}, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			geo := geoServer(t)
			if tc.geoAnswer != "" {
				geo = scripted(t, step{status: 200, body: tc.geoAnswer})
			}
			f := newOpenMeteoFixture(t, geo, forecastServer(t, "openmeteo_forecast_current.json"), testOptions())
			// Twice: a miss must not be cached as a hit (nor block a retry).
			for range 2 {
				_, err := f.p.Current(t.Context(), tc.q)
				checkErr(t, err, ErrLocationNotFound)
			}
			if n := f.geo.calls.Load(); n != tc.wantGeo {
				t.Errorf("geocoding calls = %d, want %d", n, tc.wantGeo)
			}
			if n := f.forecast.calls.Load(); n != 0 {
				t.Errorf("forecast calls = %d, want 0", n)
			}
		})
	}
}

func TestOpenMeteoGeocodingCache(t *testing.T) {
	t.Parallel()
	f := newOpenMeteoFixture(t, geoServer(t), forecastServer(t, "openmeteo_forecast_current.json"), testOptions())
	ctx := t.Context()
	queries := []Query{
		{City: "Paris", Country: "France"},
		{City: "Paris", Country: "France"},
		{City: " paris ", Country: "FRANCE"}, // same key after normalisation
	}
	for _, q := range queries {
		if _, err := f.p.Current(ctx, q); err != nil {
			t.Fatalf("Current(%v): %v", q, err)
		}
	}
	if n := f.geo.calls.Load(); n != 1 {
		t.Errorf("geocoding calls = %d, want 1 (cached)", n)
	}
	if n := f.forecast.calls.Load(); n != 3 {
		t.Errorf("forecast calls = %d, want 3 (weather is not cached)", n)
	}
	// Another country is another place.
	if _, err := f.p.Current(ctx, Query{City: "Paris", Country: "United States"}); err != nil {
		t.Fatal(err)
	}
	if n := f.geo.calls.Load(); n != 2 {
		t.Errorf("geocoding calls = %d, want 2", n)
	}

	// Concurrent use is safe (run with -race) and stays cached.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := f.p.Current(ctx, Query{City: "Paris", Country: "USA"}); err != nil {
				t.Errorf("concurrent Current: %v", err)
			}
		})
	}
	wg.Wait()
	if n := f.geo.calls.Load(); n != 2 {
		t.Errorf("geocoding calls = %d, want 2 (USA folds onto United States)", n)
	}
}

func TestOpenMeteoGeocodingFailureNotCached(t *testing.T) {
	t.Parallel()
	geo := scripted(t, step{status: 503}, step{status: 503}, step{status: 503},
		step{status: 200, body: string(readTestdata(t, "openmeteo_geocoding_paris.json"))})
	f := newOpenMeteoFixture(t, geo, forecastServer(t, "openmeteo_forecast_current.json"), testOptions())
	_, err := f.p.Current(t.Context(), paris)
	checkErr(t, err, ErrTransient)
	if n := f.forecast.calls.Load(); n != 0 {
		t.Errorf("forecast calls = %d, want 0", n)
	}
	if _, err := f.p.Current(t.Context(), paris); err != nil {
		t.Fatalf("second Current: %v", err)
	}
	if n := geo.calls.Load(); n != 4 {
		t.Errorf("geocoding calls = %d, want 4", n)
	}
}

func TestOpenMeteoForecastErrors(t *testing.T) {
	t.Parallel()
	ok := step{status: 200, body: string(readTestdata(t, "openmeteo_forecast_current.json"))}
	reason := string(readTestdata(t, "openmeteo_error_400.json"))
	tests := []struct {
		name      string
		steps     []step
		want      error // nil with wantOK false: plain *APIError
		wantOK    bool
		wantCalls int32
		wantMsg   string
	}{
		{"400 with reason", []step{{status: 400, body: reason}}, nil, false, 1, "Cannot initialize WeatherVariable"},
		{"error document with 200", []step{{status: 200, body: reason}}, nil, false, 1, "Cannot initialize WeatherVariable"},
		{"403", []step{{status: 403, body: `{"error":true,"reason":"Invalid API key"}`}}, ErrRefused, false, 1, "Invalid API key"},
		{"404", []step{{status: 404, body: "not found"}}, ErrRefused, false, 1, "Not Found"},
		{"429 then success", []step{{status: 429, body: `{"error":true,"reason":"Minutely API request limit exceeded. Please try again in one minute."}`}, ok}, nil, true, 2, ""},
		{"500 then success", []step{{status: 500}, ok}, nil, true, 2, ""},
		{"persistent 429", []step{{status: 429, body: `{"error":true,"reason":"Daily API request limit exceeded."}`}}, ErrTransient, false, 3, "Daily API request limit exceeded."},
		{"persistent 502", []step{{status: 502, body: "<html>Bad Gateway</html>"}}, ErrTransient, false, 3, "HTTP 502"},
		{"garbage", []step{{status: 200, body: "\x00\x01garbage"}}, ErrTransient, false, 3, "malformed"},
		{"truncated", []step{{status: 200, body: ok.body[:len(ok.body)/3]}}, ErrTransient, false, 3, "malformed"},
		{"null value", []step{{status: 200, body: strings.Replace(ok.body, `"temperature_2m": 7.9`, `"temperature_2m": null`, 1)}}, ErrTransient, false, 3, "temperature_2m"},
		{"no current", []step{{status: 200, body: `{"latitude":48.86,"longitude":2.34}`}}, ErrTransient, false, 3, "missing current"},
		{"fractional code", []step{{status: 200, body: strings.Replace(ok.body, `"weather_code": 61`, `"weather_code": 61.5`, 1)}}, ErrTransient, false, 3, "weather_code"},
		{"bad time", []step{{status: 200, body: strings.Replace(ok.body, `"time": 1795601700`, `"time": "yesterday"`, 1)}}, ErrTransient, false, 3, "time"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newOpenMeteoFixture(t, geoServer(t), scripted(t, tc.steps...), testOptions())
			_, err := f.p.Current(t.Context(), paris)
			if n := f.forecast.calls.Load(); n != tc.wantCalls {
				t.Errorf("forecast calls = %d, want %d", n, tc.wantCalls)
			}
			if tc.wantOK {
				if err != nil {
					t.Fatalf("Current: %v", err)
				}
				return
			}
			checkErr(t, err, tc.want)
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not include %q", err, tc.wantMsg)
			}
			if tc.want == nil {
				var ae *APIError
				if !errors.As(err, &ae) || ae.Provider != "openmeteo" {
					t.Errorf("error %v should be an openmeteo *APIError", err)
				}
			}
		})
	}
}

func TestOpenMeteoGeocodingErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		steps []step
		want  error
	}{
		{"400 with reason", []step{{status: 400, body: `{"error":true,"reason":"Parameter count must be between 1 and 100."}`}}, nil},
		{"persistent 500", []step{{status: 500}}, ErrTransient},
		{"garbage", []step{{status: 200, body: "{results"}}, ErrTransient},
		{"results without coordinates", []step{{status: 200, body: `{"results":[{"name":"Paris","country":"France"}]}`}}, ErrTransient},
		{"oversized", []step{{status: 200, body: `{"results":[],"pad":"` + strings.Repeat("x", 4096) + `"}`}}, ErrTransient},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := testOptions()
			opts.MaxBodyBytes = 2048
			f := newOpenMeteoFixture(t, scripted(t, tc.steps...), forecastServer(t, "openmeteo_forecast_current.json"), opts)
			_, err := f.p.Current(t.Context(), paris)
			checkErr(t, err, tc.want)
			if n := f.forecast.calls.Load(); n != 0 {
				t.Errorf("forecast calls = %d, want 0", n)
			}
		})
	}
}

func TestOpenMeteoTimeout(t *testing.T) {
	t.Parallel()
	opts := testOptions()
	opts.Timeout = 100 * time.Millisecond
	f := newOpenMeteoFixture(t, geoServer(t), hangingServer(t), opts)
	start := time.Now()
	_, err := f.p.Current(t.Context(), paris)
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("took %v, want bounded by 3 attempts of 100ms", elapsed)
	}
	checkErr(t, err, ErrTransient)
	if n := f.forecast.calls.Load(); n != 3 {
		t.Errorf("forecast calls = %d, want 3", n)
	}
}

func TestOpenMeteoContextCancel(t *testing.T) {
	t.Parallel()
	f := newOpenMeteoFixture(t, hangingServer(t), forecastServer(t, "openmeteo_forecast_current.json"), Options{Timeout: 5 * time.Second})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	t.Cleanup(cancel)
	start := time.Now()
	_, err := f.p.Current(ctx, paris)
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("took %v after the deadline", elapsed)
	}
	checkErr(t, err, ErrTransient)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v should wrap context.DeadlineExceeded", err)
	}
	if n := f.geo.calls.Load(); n != 1 {
		t.Errorf("geocoding calls = %d, want 1 (no retry after the caller's deadline)", n)
	}
}

func TestNewOpenMeteoDefaults(t *testing.T) {
	t.Parallel()
	p, err := NewOpenMeteo("", "", nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.forecast.String() != DefaultOpenMeteoURL || p.geocoding.String() != DefaultOpenMeteoGeocodingURL {
		t.Errorf("URLs = %s, %s", p.forecast, p.geocoding)
	}
}
