// Command fakeprovider is an unthrottled stand-in for WeatherAPI.com's
// current.json, for load benchmarks: it answers every request at once with
// a well-formed observation, so a weather refresh measures shiptrack's own
// pipeline (queue, claims, writes) rather than a remote provider.
//
//	go run ./bench/fakeprovider -addr 127.0.0.1:18090
//	SHIPTRACK_WEATHER_PROVIDER=weatherapi SHIPTRACK_WEATHERAPI_KEY=bench \
//	SHIPTRACK_WEATHERAPI_URL=http://127.0.0.1:18090/v1 shiptrack
//
// GET /stats answers the number of current.json calls so far.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18090", "listen address")
	flag.Parse()

	var calls atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/current.json", func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		q := r.URL.Query()
		if q.Get("key") == "" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":{"code":1002,"message":"API key is invalid or not provided."}}`)
			return
		}
		city, country, _ := strings.Cut(q.Get("q"), ",")
		now := time.Now().Unix()
		// A stable temperature per city, so answers differ a little.
		var h uint32
		for i := 0; i < len(city); i++ {
			h = h*31 + uint32(city[i])
		}
		body := map[string]any{
			"location": map[string]any{"name": city, "country": country, "localtime_epoch": now},
			"current": map[string]any{
				"last_updated_epoch": now - now%900,
				"temp_c":             float64(int(h%300)-50) / 10,
				"is_day":             1,
				"condition":          map[string]any{"text": "Partly cloudy", "icon": "//cdn.weatherapi.com/weather/64x64/day/116.png", "code": 1003},
				"wind_kph":           15.1,
				"humidity":           81,
			},
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(body)
	})
	mux.HandleFunc("/stats", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "{\"calls\":%d}\n", calls.Load())
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("fakeprovider: listening on http://%s/v1", ln.Addr())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.Serve(ln))
}
