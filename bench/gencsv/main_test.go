package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shiptrack/shiptrack/shipment"
)

func gen(t *testing.T, args ...string) (csv, lookups string) {
	t.Helper()
	lk := filepath.Join(t.TempDir(), "lookups")
	var out bytes.Buffer
	if err := run(append(args, "--lookups", lk), &out, io.Discard); err != nil {
		t.Fatalf("gencsv %v: %v", args, err)
	}
	b, err := os.ReadFile(lk)
	if err != nil {
		t.Fatal(err)
	}
	return out.String(), string(b)
}

// TestGenerate: the output imports as the seed does, has the asked size,
// and is the same for the same seed.
func TestGenerate(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		args      []string
		shipments int // -1: any
		rows      int // -1: any
		maxCities int
	}{
		{"shipments", []string{"--shipments", "500", "--cities", "50"}, 500, -1, 50},
		{"rows exactly", []string{"--rows", "1001", "--cities", "7"}, -1, 1001, 7},
		{"short flags", []string{"-n", "3"}, 3, -1, 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			csv, lookups := gen(t, tt.args...)
			in, err := shipment.ParseCSV(strings.NewReader(csv))
			if err != nil {
				t.Fatalf("the output does not parse as an import file: %v", err)
			}
			rows, places := 0, map[string]bool{}
			for _, s := range in {
				rows += len(s.Articles)
				if len(s.Articles) < 1 || len(s.Articles) > 3 {
					t.Errorf("%s has %d articles, want 1 to 3", s.TrackingNumber, len(s.Articles))
				}
				l, ok := shipment.ParseLocation(s.ReceiverAddress)
				if !ok {
					t.Fatalf("receiver %q does not parse", s.ReceiverAddress)
				}
				places[l.PostalCode+" "+l.City] = true
			}
			if tt.shipments >= 0 && len(in) != tt.shipments {
				t.Errorf("%d shipments, want %d", len(in), tt.shipments)
			}
			if tt.rows >= 0 && rows != tt.rows {
				t.Errorf("%d rows, want %d", rows, tt.rows)
			}
			if len(places) > tt.maxCities {
				t.Errorf("%d receiver locations, want at most %d", len(places), tt.maxCities)
			}
			if n := strings.Count(lookups, "\n"); n != len(in) {
				t.Errorf("%d lookups, want one per shipment (%d)", n, len(in))
			}
			if again, _ := gen(t, tt.args...); again != csv {
				t.Error("same arguments, different output")
			}
			if other, _ := gen(t, append(tt.args, "--seed", "7")...); other == csv {
				t.Error("another seed, same output")
			}
		})
	}
}

func TestBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--rows", "1", "--shipments", "1"}, {"--cities", "0"}, {"extra"}} {
		if err := run(args, io.Discard, io.Discard); err == nil {
			t.Errorf("gencsv %v: no error", args)
		}
	}
}
