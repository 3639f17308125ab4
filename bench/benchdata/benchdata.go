// Package benchdata makes deterministic shipment data for the Go
// benchmarks (store and api): the same shapes as bench/gencsv
// (1 to 3 articles per shipment, receivers spread over a fixed number of
// locations), generated in Go so `go test -bench` needs no files.
package benchdata

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/shiptrack/shiptrack/shipment"
	"github.com/shiptrack/shiptrack/store"
)

var (
	cities = []struct {
		city, country string
		zip, step     int
	}{
		{"Berlin", "Germany", 10115, 12}, {"Hamburg", "Germany", 20095, 17}, {"Munich", "Germany", 80331, 15},
		{"Paris", "France", 75001, 1}, {"Lyon", "France", 69001, 1}, {"Brussels", "Belgium", 1000, 20},
		{"Madrid", "Spain", 28001, 3}, {"Amsterdam", "Netherlands", 1011, 5}, {"Copenhagen", "Denmark", 1050, 25},
		{"Vienna", "Austria", 1010, 10}, {"Zurich", "Switzerland", 8001, 2}, {"Milan", "Italy", 20121, 2},
		{"Warsaw", "Poland", 1, 17}, {"Prague", "Czechia", 11000, 100}, {"Stockholm", "Sweden", 11120, 10},
		{"Lisbon", "Portugal", 1100, 50},
	}
	carriers = []string{"DHL", "UPS", "DPD", "FedEx", "GLS"}
	statuses = []string{"in-transit", "inbound-scan", "delivery", "transit", "scanned"}
	articles = []struct {
		name  string
		price shipment.Money
	}{
		{"Laptop", 90000}, {"Mouse", 2500}, {"Monitor", 20000}, {"Keyboard", 5000}, {"Headphones", 10000},
		{"Smartphone", 50000}, {"Charger", 2000}, {"Tablet", 35000}, {"Camera", 45000}, {"Router", 8000},
	}
)

func address(r *rand.Rand, loc int) string {
	c := cities[loc%len(cities)]
	zip := c.zip + (loc/len(cities))*c.step
	return fmt.Sprintf("Street %d, %05d %s, %s", 1+r.IntN(200), zip, c.city, c.country)
}

// Shipments returns n shipments with tracking numbers TN<start>,
// TN<start+1>, ..., receivers over `locations` distinct locations; the same
// arguments give the same data.
func Shipments(n, locations, start int) []shipment.ShipmentInput {
	r := rand.New(rand.NewPCG(uint64(start), 42))
	out := make([]shipment.ShipmentInput, n)
	for i := range out {
		arts := make([]shipment.Article, 1+r.IntN(3))
		for j := range arts {
			a := articles[r.IntN(len(articles))]
			arts[j] = shipment.Article{Name: a.name, Quantity: 1 + r.IntN(3), Price: a.price, SKU: fmt.Sprintf("%.2s%03d", a.name, j)}
		}
		out[i] = shipment.ShipmentInput{
			Line:            i + 2,
			TrackingNumber:  "TN" + strconv.Itoa(start+i),
			Carrier:         carriers[r.IntN(len(carriers))],
			Status:          statuses[r.IntN(len(statuses))],
			SenderAddress:   address(r, r.IntN(len(cities))),
			ReceiverAddress: address(r, r.IntN(locations)),
			Articles:        arts,
		}
	}
	return out
}

// CSV renders shipments in the import format, one row per article.
func CSV(in []shipment.ShipmentInput) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write([]string{"tracking_number", "carrier", "sender_address", "receiver_address", "article_name", "article_quantity", "article_price", "SKU", "status"})
	for _, s := range in {
		for _, a := range s.Articles {
			_ = w.Write([]string{s.TrackingNumber, s.Carrier, s.SenderAddress, s.ReceiverAddress, a.Name,
				strconv.Itoa(a.Quantity), a.Price.String(), a.SKU, s.Status})
		}
	}
	w.Flush()
	return buf.Bytes()
}

// Rows is the number of article rows (CSV lines) of in.
func Rows(in []shipment.ShipmentInput) int {
	n := 0
	for _, s := range in {
		n += len(s.Articles)
	}
	return n
}

// Load imports n shipments over `locations` locations into st and gives
// every location weather, so reads hydrate what production reads do.
func Load(ctx context.Context, st *store.Store, n, locations int) ([]shipment.ShipmentInput, error) {
	in := Shipments(n, locations, 20_000_000)
	if _, err := st.Import(ctx, in); err != nil {
		return nil, err
	}
	return in, FillWeather(ctx, st)
}

// FillWeather stores an observation for every location without weather,
// the way a worker does (claim, then save).
func FillWeather(ctx context.Context, st *store.Store) error {
	now := time.Now().UTC()
	ids, err := st.QueueNew(ctx, now)
	if err != nil {
		return err
	}
	const owner = "benchdata"
	for _, id := range ids {
		res, err := st.ClaimWeather(ctx, id, owner, now, now.Add(-time.Hour), now.Add(time.Minute))
		if err != nil {
			return err
		}
		if res != store.Claimed {
			continue
		}
		err = st.SaveWeather(ctx, owner, shipment.Weather{
			LocationID: id, Query: "bench", TemperatureC: 8.2, Condition: "Partly cloudy", ConditionCode: "1003",
			Humidity: 81, WindKph: 15.1, ObservedAt: now.Truncate(15 * time.Minute), FetchedAt: now, Provider: "weatherapi",
		})
		if err != nil {
			return err
		}
	}
	return nil
}
