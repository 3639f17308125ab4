// Command gencsv writes deterministic shipment CSVs in the seed's import
// format, for benchmarks and for trying imports at scale:
//
//	go run ./bench/gencsv --shipments 10000 > /tmp/ship10k.csv    # ~20,000 rows
//	go run ./bench/gencsv --rows 100000 > /tmp/rows100k.csv        # exactly 100,000 rows
//	go run ./bench/gencsv --rows 10000 --lookups /tmp/lookups.txt -o /tmp/rows10k.csv
//
// Columns: tracking_number,carrier,sender_address,receiver_address,
// article_name,article_quantity,article_price,SKU,status. One row per
// article; a shipment has 1 to 3 articles (2 on average) sharing addresses
// and status. Receivers are "Street N, <zip> <city>, <country>" drawn from
// --cities distinct locations. --lookups writes one "tracking_number,carrier"
// line per shipment (the load benchmark's request list). The same
// arguments give byte-identical output (math/rand/v2 PCG seeded by
// --seed). It replaces the shared/data/gen_csv.py the benchmarks used,
// with the same shape and flags; the random draws differ.
package main

import (
	"bufio"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
)

var cities = []struct {
	city, country string
	zip, step     int
}{
	{"Berlin", "Germany", 10115, 12}, {"Hamburg", "Germany", 20095, 17},
	{"Munich", "Germany", 80331, 15}, {"Cologne", "Germany", 50667, 11},
	{"Stuttgart", "Germany", 70173, 13}, {"Frankfurt", "Germany", 60306, 9},
	{"Leipzig", "Germany", 4103, 7}, {"Dresden", "Germany", 1067, 8},
	{"Paris", "France", 75001, 1}, {"Lyon", "France", 69001, 1},
	{"Marseille", "France", 13001, 1}, {"Toulouse", "France", 31000, 100},
	{"Brussels", "Belgium", 1000, 20}, {"Antwerp", "Belgium", 2000, 10},
	{"Madrid", "Spain", 28001, 3}, {"Barcelona", "Spain", 8001, 2},
	{"Valencia", "Spain", 46001, 2}, {"Amsterdam", "Netherlands", 1011, 5},
	{"Rotterdam", "Netherlands", 3011, 4}, {"Utrecht", "Netherlands", 3511, 3},
	{"Copenhagen", "Denmark", 1050, 25}, {"Aarhus", "Denmark", 8000, 10},
	{"Vienna", "Austria", 1010, 10}, {"Graz", "Austria", 8010, 10},
	{"Zurich", "Switzerland", 8001, 2}, {"Geneva", "Switzerland", 1201, 2},
	{"Milan", "Italy", 20121, 2}, {"Rome", "Italy", 118, 3},
	{"Warsaw", "Poland", 1, 17}, {"Krakow", "Poland", 30001, 9},
	{"Prague", "Czechia", 11000, 100}, {"Stockholm", "Sweden", 11120, 10},
	{"Oslo", "Norway", 150, 10}, {"Helsinki", "Finland", 100, 20},
	{"Lisbon", "Portugal", 1100, 50}, {"Dublin", "Ireland", 1, 1},
	{"Budapest", "Hungary", 1011, 10}, {"Luxembourg", "Luxembourg", 1111, 37},
	{"Ljubljana", "Slovenia", 1000, 1}, {"Tallinn", "Estonia", 10111, 13},
}

// fiveDigits are the countries whose postal codes keep leading zeros.
var fiveDigits = map[string]bool{"Germany": true, "France": true, "Spain": true, "Italy": true,
	"Poland": true, "Sweden": true, "Finland": true, "Estonia": true}

var (
	carriers = []string{"DHL", "UPS", "DPD", "FedEx", "GLS"}
	statuses = []string{"in-transit", "inbound-scan", "delivery", "transit", "scanned"}
	articles = []struct {
		name  string
		price int
	}{
		{"Laptop", 900}, {"Mouse", 25}, {"Monitor", 200}, {"Keyboard", 50},
		{"Headphones", 100}, {"Smartphone", 500}, {"Charger", 20}, {"Tablet", 350},
		{"Camera", 450}, {"Printer", 150}, {"Router", 80}, {"Speaker", 60},
		{"Webcam", 40}, {"Dock", 120}, {"SSD", 90}, {"Cable", 10},
	}
	header = []string{"tracking_number", "carrier", "sender_address", "receiver_address",
		"article_name", "article_quantity", "article_price", "SKU", "status"}
)

type location struct{ zip, city, country string }

// locations returns n distinct locations, cycling through the cities with
// a new postal code each round.
func locations(n int) []location {
	out := make([]location, n)
	for i := range out {
		c := cities[i%len(cities)]
		z := c.zip + i/len(cities)*c.step
		zip := strconv.Itoa(z)
		if fiveDigits[c.country] {
			zip = fmt.Sprintf("%05d", z)
		}
		out[i] = location{zip, c.city, c.country}
	}
	return out
}

type options struct {
	shipments int // stop after this many shipments (-1: no limit)
	rows      int // stop after exactly this many article rows (-1: no limit)
	cities    int
	seed      uint64
	start     int
}

type summary struct{ shipments, rows, locations int }

// generate writes the CSV to w and, when lookups is not nil, one
// "tracking_number,carrier" line per shipment to it.
func generate(o options, w, lookups io.Writer) (summary, error) {
	rng := rand.New(rand.NewPCG(o.seed, 0x5368697054726b)) // "ShipTrk"
	locs := locations(o.cities)
	senders := locations(len(cities)) // one sender location per city
	cw := csv.NewWriter(w)
	if err := cw.Write(header); err != nil {
		return summary{}, err
	}
	between := func(lo, hi int) int { return lo + rng.IntN(hi-lo+1) }
	var s summary
	for ; (o.shipments < 0 || s.shipments < o.shipments) && (o.rows < 0 || s.rows < o.rows); s.shipments++ {
		tn := "TN" + strconv.Itoa(o.start+s.shipments)
		carrier := carriers[rng.IntN(len(carriers))]
		sl, rl := senders[rng.IntN(len(senders))], locs[rng.IntN(len(locs))]
		sender := fmt.Sprintf("Street %d, %s %s, %s", between(1, 200), sl.zip, sl.city, sl.country)
		receiver := fmt.Sprintf("Street %d, %s %s, %s", between(1, 200), rl.zip, rl.city, rl.country)
		status := statuses[rng.IntN(len(statuses))]
		n := between(1, 3)
		if lookups != nil {
			if _, err := fmt.Fprintf(lookups, "%s,%s\n", tn, carrier); err != nil {
				return s, err
			}
		}
		for range n {
			if o.rows >= 0 && s.rows >= o.rows {
				break
			}
			ai := rng.IntN(len(articles))
			a := articles[ai]
			sku := fmt.Sprintf("%s%03d", toUpper2(a.name), ai)
			if err := cw.Write([]string{tn, carrier, sender, receiver, a.name, strconv.Itoa(between(1, 3)),
				strconv.Itoa(a.price), sku, status}); err != nil {
				return s, err
			}
			s.rows++
		}
	}
	cw.Flush()
	s.locations = len(locs)
	return s, cw.Error()
}

func toUpper2(name string) string {
	b := []byte(name[:min(2, len(name))])
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gencsv:", err)
		os.Exit(2)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gencsv", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := options{shipments: -1, rows: -1}
	var seed int64
	var lookupsPath, outPath string
	fs.IntVar(&o.shipments, "shipments", -1, "number of shipments (default 10000 unless --rows)")
	fs.IntVar(&o.shipments, "n", -1, "short for --shipments")
	fs.IntVar(&o.rows, "rows", -1, "stop after exactly this many article rows")
	fs.IntVar(&o.cities, "cities", 200, "distinct receiver locations (postal code + city)")
	fs.Int64Var(&seed, "seed", 42, "random seed; the same arguments give the same bytes")
	fs.IntVar(&o.start, "start", 20000000, "first tracking-number digits (clear of the seed's TN1234567x)")
	fs.StringVar(&lookupsPath, "lookups", "", "also write one 'tracking_number,carrier' line per shipment to this file")
	fs.StringVar(&outPath, "out", "", "output file (default stdout)")
	fs.StringVar(&outPath, "o", "", "short for --out")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.shipments >= 0 && o.rows >= 0:
		return errors.New("--shipments and --rows exclude each other")
	case o.cities < 1:
		return errors.New("--cities must be at least 1")
	case o.shipments < 0 && o.rows < 0:
		o.shipments = 10000
	}
	o.seed = uint64(seed)
	out := stdout
	if outPath != "" {
		f, err := os.Create(outPath)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	bw := bufio.NewWriterSize(out, 1<<16)
	var lk *bufio.Writer
	if lookupsPath != "" {
		f, err := os.Create(lookupsPath)
		if err != nil {
			return err
		}
		defer f.Close()
		lk = bufio.NewWriter(f)
	}
	var lkw io.Writer
	if lk != nil {
		lkw = lk
	}
	s, err := generate(o, bw, lkw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil && lk != nil {
		err = lk.Flush()
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "gencsv: %d shipments, %d rows, %d receiver locations, seed %d\n", s.shipments, s.rows, s.locations, seed)
	return nil
}
