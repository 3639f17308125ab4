package store_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/shiptrack/shiptrack/shipment"
	"github.com/shiptrack/shiptrack/store"
)

// TestUpgradeSharesWeatherPerPlace opens a database written before weather
// was shared per place (a weather row per postal code, no place keys): the
// upgrade links both Paris postal codes to one weather row, keeps one
// weather row, drops the other, and leaves other places alone.
func TestUpgradeSharesWeatherPerPlace(t *testing.T) {
	t.Parallel()
	forEachURL(t, func(t *testing.T, ctx context.Context, url string) {
		s, err := store.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		csv := filepath.Join(t.TempDir(), "paris.csv")
		if err := os.WriteFile(csv, []byte(
			"tracking_number,carrier,sender_address,receiver_address,article_name,article_quantity,article_price,SKU,status\n"+
				`TN1,DHL,"Street 1, 10115 Berlin, Germany","Street 10, 75001 Paris, France",Laptop,1,800,LP123,transit`+"\n"+
				`TN2,DHL,"Street 1, 10115 Berlin, Germany","Rue 7, 75002 PARIS, France",Lamp,1,30,LA901,transit`+"\n"+
				`TN3,DHL,"Street 1, 10115 Berlin, Germany","Street 5, 28013 Madrid, Spain",Mouse,1,25,MO456,transit`+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		mustImport(t, s, csv)
		if err := s.UnsharePlacesForTest(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}

		s, err = store.Open(ctx, url)
		if err != nil {
			t.Fatalf("upgrade: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		got := map[string]shipment.Shipment{}
		for _, sh := range allShipments(t, s) {
			got[sh.TrackingNumber] = sh
		}
		p1, p2, m := got["TN1"], got["TN2"], got["TN3"]
		if p1.Location.WeatherID == 0 || p1.Location.WeatherID != p2.Location.WeatherID {
			t.Errorf("Paris 75001 and 75002 served by weather of %d and %d; want one place", p1.Location.WeatherID, p2.Location.WeatherID)
		}
		if m.Location.WeatherID == p1.Location.WeatherID {
			t.Errorf("Madrid shares Paris's weather row %d", m.Location.WeatherID)
		}
		if p1.Weather == nil || p2.Weather == nil || m.Weather == nil {
			t.Fatalf("weather lost in the upgrade: %+v / %+v / %+v", p1.Weather, p2.Weather, m.Weather)
		}
		// Each old row had its own temperature: both Paris shipments now
		// show one row's, Madrid keeps its own.
		if p1.Weather.TemperatureC != p2.Weather.TemperatureC || m.Weather.TemperatureC == p1.Weather.TemperatureC {
			t.Errorf("temperatures %v, %v, %v; want Paris twice the same, Madrid different",
				p1.Weather.TemperatureC, p2.Weather.TemperatureC, m.Weather.TemperatureC)
		}
	})
}
