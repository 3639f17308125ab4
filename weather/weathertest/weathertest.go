// Package weathertest runs a fake WeatherAPI.com server for tests: it
// answers current.json with the provider's documented JSON, or with one of
// its documented failures, and counts the calls per location.
package weathertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Mode is how the fake answers.
type Mode string

// Modes of the fake server.
const (
	OK          Mode = "ok"
	ServerError Mode = "500"     // HTTP 500
	RateLimited Mode = "429"     // HTTP 429 with Retry-After
	Hang        Mode = "hang"    // never answers until the client gives up
	Garbage     Mode = "garbage" // 200 with a body that is not JSON
	Quota       Mode = "quota"   // 403, error code 2007
	BadKey      Mode = "badkey"  // 401, error code 2006
	Unknown     Mode = "unknown" // 400, error code 1006
	// EchoKey is 401, error code 2006, with a message quoting the key
	// altered (upper case, then cut short), as some providers do.
	EchoKey Mode = "echokey"
)

// Key is the API key the fake accepts.
const Key = "test-key-123"

// Server is a fake WeatherAPI.com.
type Server struct {
	*httptest.Server

	mu    sync.Mutex
	mode  Mode
	calls map[string]int
	temp  float64
}

// NewServer starts a fake that answers OK; it stops when t ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s := &Server{mode: OK, calls: make(map[string]int), temp: 8.2}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// URL is the base URL to configure as SHIPTRACK_WEATHERAPI_URL.
func (s *Server) BaseURL() string { return s.Server.URL + "/v1" }

// SetMode changes how the fake answers from now on.
func (s *Server) SetMode(m Mode) {
	s.mu.Lock()
	s.mode = m
	s.mu.Unlock()
}

// SetTemperature changes the temperature of OK answers.
func (s *Server) SetTemperature(c float64) {
	s.mu.Lock()
	s.temp = c
	s.mu.Unlock()
}

// Calls returns the number of current.json requests per q value.
func (s *Server) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.calls))
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

// Total returns the number of current.json requests.
func (s *Server) Total() int {
	n := 0
	for _, v := range s.Calls() {
		n += v
	}
	return n
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/current.json" {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query().Get("q")
	s.mu.Lock()
	s.calls[q]++
	mode, temp := s.mode, s.temp
	s.mu.Unlock()
	if r.URL.Query().Get("key") != Key && mode == OK {
		mode = BadKey
	}
	switch mode {
	case ServerError:
		http.Error(w, "internal error", http.StatusInternalServerError)
	case RateLimited:
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many requests", http.StatusTooManyRequests)
	case Hang:
		<-r.Context().Done()
	case Garbage:
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"location": {"name": "Par`)
	case Quota:
		apiError(w, http.StatusForbidden, 2007, "API key has exceeded calls per month quota.")
	case BadKey:
		apiError(w, http.StatusUnauthorized, 2006, "API key provided is invalid")
	case Unknown:
		apiError(w, http.StatusBadRequest, 1006, "No matching location found.")
	case EchoKey:
		key := r.URL.Query().Get("key")
		apiError(w, http.StatusUnauthorized, 2006, "API key "+strings.ToUpper(key)+" (starting "+key[:min(6, len(key))]+") is invalid")
	default:
		city, country, _ := strings.Cut(q, ",")
		now := time.Now().Unix()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"location": map[string]any{"name": city, "country": country, "localtime_epoch": now},
			"current": map[string]any{
				"last_updated_epoch": now - now%900, "temp_c": temp, "is_day": 1,
				"condition": map[string]any{"text": "Partly cloudy", "icon": "//cdn.weatherapi.com/weather/64x64/day/116.png", "code": 1003},
				"wind_kph":  15.1, "humidity": 81,
			},
		})
	}
}

func apiError(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg}})
}
