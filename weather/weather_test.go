package weather

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestQueryString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		q    Query
		want string
	}{
		{Query{City: "Paris", Country: "France"}, "Paris, France"},
		{Query{City: " Paris ", Country: " France ", PostalCode: "75001"}, "Paris, France"},
		{Query{City: "Paris"}, "Paris"},
		{Query{Country: "France"}, "France"},
		{Query{PostalCode: "SW1A 1AA", Country: "United Kingdom"}, "SW1A 1AA, United Kingdom"},
		{Query{}, ""},
	}
	for _, tc := range tests {
		if got := tc.q.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.q, got, tc.want)
		}
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		cfg      Config
		wantName string // "" means a nil provider
		wantErr  error
	}{
		{"default without key is openmeteo", Config{}, ProviderOpenMeteo, nil},
		{"default with key is weatherapi", Config{WeatherAPIKey: testKey}, ProviderWeatherAPI, nil},
		{"blank key is no key", Config{WeatherAPIKey: "  "}, ProviderOpenMeteo, nil},
		{"explicit openmeteo with key", Config{Provider: "openmeteo", WeatherAPIKey: testKey}, ProviderOpenMeteo, nil},
		{"explicit weatherapi", Config{Provider: "weatherapi", WeatherAPIKey: testKey}, ProviderWeatherAPI, nil},
		{"case and spaces ignored", Config{Provider: " WeatherAPI ", WeatherAPIKey: testKey}, ProviderWeatherAPI, nil},
		{"off", Config{Provider: "off", WeatherAPIKey: testKey}, "", nil},
		{"OFF", Config{Provider: "OFF"}, "", nil},
		{"weatherapi without key", Config{Provider: "weatherapi"}, "", ErrInvalidConfig},
		{"unknown provider", Config{Provider: "darksky"}, "", ErrInvalidConfig},
		{"bad weatherapi URL", Config{WeatherAPIKey: testKey, WeatherAPIURL: "ftp://x"}, "", ErrInvalidConfig},
		{"bad openmeteo URL", Config{OpenMeteoURL: "not a url"}, "", ErrInvalidConfig},
		{"bad geocoding URL", Config{OpenMeteoGeocodingURL: "http://"}, "", ErrInvalidConfig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := New(tc.cfg, nil)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("New() error = %v, want %v", err, tc.wantErr)
			}
			if tc.wantName == "" {
				if p != nil {
					t.Fatalf("New() = %#v, want nil interface", p)
				}
				return
			}
			if p == nil || p.Name() != tc.wantName {
				t.Fatalf("New() = %v, want provider %q", p, tc.wantName)
			}
		})
	}
}

// TestNewPassesOptions checks that Config's tuning reaches the provider:
// Retries < 0 disables retries and the URL is used.
func TestNewPassesOptions(t *testing.T) {
	t.Parallel()
	srv := scripted(t, step{status: http.StatusInternalServerError})
	p, err := New(Config{WeatherAPIKey: testKey, WeatherAPIURL: srv.URL, Retries: -1, Timeout: time.Second}, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Current(t.Context(), Query{City: "Paris", Country: "France"})
	checkErr(t, err, ErrTransient)
	if got := srv.calls.Load(); got != 1 {
		t.Errorf("calls = %d, want 1 (retries disabled)", got)
	}
}

func TestOptionsDefaults(t *testing.T) {
	t.Parallel()
	got := Options{}.withDefaults()
	want := Options{Timeout: 10 * time.Second, Retries: 2, MaxBodyBytes: 1 << 20, BaseBackoff: 200 * time.Millisecond, MaxRetryWait: 10 * time.Second, MaxObservationAge: 6 * time.Hour}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Options{}.withDefaults() = %+v, want %+v", got, want)
	}
	if got := (Options{Retries: -3}).withDefaults().Retries; got != 0 {
		t.Errorf("negative Retries -> %d, want 0", got)
	}
	if got := (Options{Retries: 5}).withDefaults().Retries; got != 5 {
		t.Errorf("Retries 5 -> %d, want 5", got)
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"1", time.Second},
		{" 30 ", 30 * time.Second},
		{"0", 0},
		{"-5", 0},
		{"soon", 0},
		{now.Add(45 * time.Second).Format(http.TimeFormat), 45 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"99999999999999", 365 * 24 * time.Hour},
		// Beyond int64: the longest wait, not 0 (issue 19, item 11).
		{"1000000000000000000000", 365 * 24 * time.Hour},
		{"-1000000000000000000000", 0},
	}
	for _, tc := range tests {
		if got := parseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	base, limit := 100*time.Millisecond, time.Second
	tests := []struct {
		attempts int
		full     time.Duration // un-jittered delay
	}{
		{1, 100 * time.Millisecond},
		{2, 200 * time.Millisecond},
		{3, 400 * time.Millisecond},
		{4, 800 * time.Millisecond},
		{5, time.Second},
		{60, time.Second},
	}
	for _, tc := range tests {
		for range 50 {
			got := backoff(base, tc.attempts, limit)
			if got < tc.full/2 || got > tc.full {
				t.Fatalf("backoff(attempt %d) = %v, want within [%v, %v]", tc.attempts, got, tc.full/2, tc.full)
			}
		}
	}
}

func TestRetryWait(t *testing.T) {
	t.Parallel()
	f := newFetcher(nil, Options{BaseBackoff: time.Millisecond, MaxRetryWait: 5 * time.Second}, "")
	if got, ok := f.retryWait(1, 2*time.Second); !ok || got != 2*time.Second {
		t.Errorf("retryWait with Retry-After 2s = %v, %v; want 2s, true", got, ok)
	}
	if _, ok := f.retryWait(1, 6*time.Second); ok {
		t.Error("retryWait with Retry-After over the cap should give up")
	}
}

func TestWMOCondition(t *testing.T) {
	t.Parallel()
	tests := map[int]string{
		0: "Clear sky", 1: "Mainly clear", 2: "Partly cloudy", 3: "Overcast",
		45: "Fog", 48: "Fog", 51: "Drizzle", 55: "Drizzle", 57: "Freezing drizzle",
		61: "Rain", 65: "Rain", 67: "Freezing rain", 71: "Snow", 75: "Snow", 77: "Snow grains",
		80: "Rain showers", 82: "Rain showers", 86: "Snow showers",
		95: "Thunderstorm", 96: "Thunderstorm with hail", 99: "Thunderstorm with hail",
		42: "Unknown (code 42)",
	}
	for code, want := range tests {
		if got := WMOCondition(code); got != want {
			t.Errorf("WMOCondition(%d) = %q, want %q", code, got, want)
		}
	}
}

func TestCleanMessage(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"No matching location found.", "No matching location found."},
		{"  multi\nline\r\n\tmessage ", "multi line message"},
		{"bad \xff byte", "bad ? byte"},
		{strings.Repeat("x", 300), strings.Repeat("x", maxMessageLen) + "..."},
	}
	for _, tc := range tests {
		if got := cleanMessage(tc.in); got != tc.want {
			t.Errorf("cleanMessage(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestAPIErrorText(t *testing.T) {
	t.Parallel()
	e := &APIError{Provider: "weatherapi", StatusCode: 400, Code: 1006, Message: "No matching location found.", Kind: ErrLocationNotFound}
	if got, want := e.Error(), "HTTP 400, code 1006: No matching location found."; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(e, ErrLocationNotFound) {
		t.Error("APIError should unwrap to its Kind")
	}
}
