package store_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/shiptrack/shiptrack/shipment"
	"github.com/shiptrack/shiptrack/store"
)

// TestSaveWeatherErrorAnyText: a failure message of any bytes (a multi-byte
// character across the 1000-byte limit, NUL, invalid UTF-8) is recorded on
// both databases, valid and within the column, and the claim is released,
// so no worker waits out a lease (issue 19, item 9).
func TestSaveWeatherErrorAnyText(t *testing.T) {
	t.Parallel()
	msgs := map[string]string{
		"é across byte 1000": strings.Repeat("a", 999) + strings.Repeat("é", 10),
		"NUL":                "provider said \x00 nothing",
		"invalid UTF-8":      "bad \xff\xfe bytes",
		"5000 characters":    strings.Repeat("€", 5000),
	}
	forEachDriver(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		i := 0
		for name, msg := range msgs {
			i++
			res, err := s.Import(ctx, []shipment.ShipmentInput{newShipment("TN"+strconv.Itoa(i), "Street 10, 75001 Town"+string(rune('a'+i))+", France")})
			if err != nil || len(res.NewLocations) != 1 {
				t.Fatalf("%s: import: %v %v", name, res.NewLocations, err)
			}
			loc := res.NewLocations[0]
			now := time.Now()
			if r, err := s.ClaimWeather(ctx, loc, "w1", now, now.Add(-time.Hour), now.Add(time.Minute)); err != nil || r != store.Claimed {
				t.Fatalf("%s: claim: %v %v", name, r, err)
			}
			if err := s.SaveWeatherError(ctx, loc, "w1", store.Failure{Message: msg, At: now, Temporary: true}); err != nil {
				t.Errorf("%s: SaveWeatherError: %v", name, err)
				continue
			}
			w, err := s.WeatherOf(ctx, loc)
			if err != nil {
				t.Fatal(err)
			}
			if w.LastError == "" || !utf8.ValidString(w.LastError) || len(w.LastError) > 1000 || strings.ContainsRune(w.LastError, 0) {
				t.Errorf("%s: last_error %d bytes, valid %v", name, len(w.LastError), utf8.ValidString(w.LastError))
			}
			if r, err := s.ClaimWeather(ctx, loc, "w2", now, now.Add(-time.Hour), now.Add(time.Minute)); err != nil || r == store.Busy {
				t.Errorf("%s: claim still held after the failure was recorded: %v %v", name, r, err)
			}
		}
	})
}
