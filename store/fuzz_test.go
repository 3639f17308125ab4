package store

// Native Go fuzz targets for the import path. `go test ./store` runs their
// seed corpora (the f.Add calls below and testdata/fuzz/<Target>/) as
// ordinary tests; `go test -run '^$' -fuzz '^FuzzParseCSV$' ./store` fuzzes
// one target. See docs/fuzzing.md.
//
// This file is in package store (not store_test) so FuzzImportCSV can reset
// the database between inputs; for the same reason it cannot import
// store/storetest (which imports store: an import cycle in tests), so it
// opens its SQLite file the way storetest does, in a temporary directory.

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"math"
	"math/big"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode"

	"github.com/shiptrack/shiptrack/shipment"
)

// fuzzCSVHeader is the seed file's header.
const fuzzCSVHeader = "tracking_number,carrier,sender_address,receiver_address,article_name,article_quantity,article_price,SKU,status\n"

func readFuzzFile(f *testing.F, path string) []byte {
	f.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

func FuzzParseCSV(f *testing.F) {
	f.Add(readFuzzFile(f, "testdata/seed.csv"))
	f.Add(readFuzzFile(f, "testdata/bad_row.csv"))
	f.Add(readFuzzFile(f, "testdata/changed.csv"))
	f.Add([]byte(""))
	f.Add([]byte(fuzzCSVHeader))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := shipment.ParseCSV(bytes.NewReader(data))
		if err != nil {
			checkParseCSVError(t, data, err)
			return
		}
		checkParsedShipments(t, data, out)
	})
}

func checkParseCSVError(t *testing.T, data []byte, err error) {
	t.Helper()
	if err.Error() == "" {
		t.Fatalf("empty error message")
	}
	var ie *shipment.ImportError
	if !errors.As(err, &ie) {
		// bytes.Reader never fails, so there is no read error to wrap.
		t.Fatalf("error %v (%T) is not an *ImportError", err, err)
	}
	if ie.Err == nil {
		t.Fatalf("ImportError %+v wraps no error", ie)
	}
	lines := bytes.Count(data, []byte("\n")) + 1
	if ie.Line < 1 || ie.Line > lines {
		t.Fatalf("error %q names line %d; the input has %d lines", err, ie.Line, lines)
	}
	if ie.Column != "" && !slices.Contains(shipment.CSVColumns(), ie.Column) {
		t.Fatalf("error %q names unknown column %q", err, ie.Column)
	}
}

func checkParsedShipments(t *testing.T, data []byte, out []shipment.ShipmentInput) {
	t.Helper()
	seen := make(map[[2]string]bool, len(out))
	articles := 0
	for _, s := range out {
		for name, v := range map[string]string{
			"tracking_number": s.TrackingNumber, "carrier": s.Carrier,
			"receiver_address": s.ReceiverAddress, "status": s.Status,
		} {
			if v == "" || v != strings.TrimSpace(v) {
				t.Fatalf("line %d: %s = %q: blank or untrimmed", s.Line, name, v)
			}
		}
		if s.Line < 2 {
			t.Fatalf("shipment %q on line %d, before the first data row", s.TrackingNumber, s.Line)
		}
		k := [2]string{shipment.CarrierKey(s.Carrier), s.TrackingNumber}
		if seen[k] {
			t.Fatalf("shipment %q/%q returned twice", s.Carrier, s.TrackingNumber)
		}
		seen[k] = true
		if len(s.Articles) == 0 {
			t.Fatalf("shipment %q has no article", s.TrackingNumber)
		}
		articles += len(s.Articles)
		for _, a := range s.Articles {
			if a.Name == "" || a.Quantity <= 0 || a.Price < 0 {
				t.Fatalf("shipment %q: bad article %+v", s.TrackingNumber, a)
			}
			back, err := shipment.ParseMoney(a.Price.String())
			if err != nil || back != a.Price {
				t.Fatalf("price %d: String %q re-parses to %d, %v", a.Price, a.Price.String(), back, err)
			}
		}
	}
	// An independent read of the same file: every non-blank data row is
	// one article, and rows group by (carrier key, tracking number).
	rows, keys := rawCSVRows(t, data)
	if rows != articles {
		t.Fatalf("%d data rows, but %d articles parsed", rows, articles)
	}
	if len(keys) != len(out) {
		t.Fatalf("%d distinct (carrier, tracking number) pairs, but %d shipments parsed", len(keys), len(out))
	}
}

// rawCSVRows counts the non-blank data rows of a file ParseCSV accepted and
// collects their distinct (carrier key, tracking number) pairs.
func rawCSVRows(t *testing.T, data []byte) (int, map[[2]string]bool) {
	t.Helper()
	cr := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\ufeff"))))
	cr.FieldsPerRecord = -1
	recs, err := cr.ReadAll()
	if err != nil || len(recs) == 0 {
		t.Fatalf("ParseCSV accepted what encoding/csv rejects: %v", err)
	}
	tn, carrier := -1, -1
	for i, h := range recs[0] {
		switch strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))) {
		case "tracking_number":
			tn = i
		case "carrier":
			carrier = i
		}
	}
	keys := make(map[[2]string]bool)
	n := 0
	for _, r := range recs[1:] {
		if len(r) == 1 && strings.TrimSpace(r[0]) == "" {
			continue
		}
		n++
		keys[[2]string{shipment.CarrierKey(r[carrier]), strings.TrimSpace(r[tn])}] = true
	}
	return n, keys
}

// fuzzStore is FuzzImportCSV's database: one SQLite file per process (each
// fuzz worker is a process), opened on first use. Before an input it holds
// exactly the seed file: it is emptied and re-seeded only after an input
// that may have changed it, so the common case (a rejected file) costs no
// reset.
type fuzzStore struct {
	once  sync.Once
	dir   string
	seed  []byte
	s     *Store
	err   error
	dirty bool       // the database may differ from state
	state dbSnapshot // the database right after importing seed
}

// get returns the store holding only the seed, and its snapshot.
func (fs *fuzzStore) get(t *testing.T) (*Store, dbSnapshot) {
	t.Helper()
	fs.once.Do(func() {
		fs.s, fs.err = Open(context.Background(), "sqlite:"+fs.dir+"/fuzz.db")
		fs.dirty = true
	})
	if fs.err != nil {
		t.Fatalf("open sqlite: %v", fs.err)
	}
	if fs.dirty {
		for _, table := range []string{"articles", "weather", "shipments", "locations", "provider_budget"} {
			if err := fs.s.db.Exec("DELETE FROM " + table).Error; err != nil {
				t.Fatalf("reset %s: %v", table, err)
			}
		}
		if _, err := fs.s.ImportCSV(context.Background(), bytes.NewReader(fs.seed)); err != nil {
			t.Fatalf("import seed: %v", err)
		}
		fs.state = snapshot(t, fs.s)
		fs.dirty = false
	}
	fs.dirty = true // until this input proves it changed nothing
	return fs.s, fs.state
}

// dbSnapshot is everything an import may change.
type dbSnapshot struct {
	Count     int64
	Shipments []shipment.Shipment
	Locations []locationRow
	Articles  []articleRow
}

func snapshot(t *testing.T, s *Store) dbSnapshot {
	t.Helper()
	ctx := context.Background()
	var snap dbSnapshot
	var err error
	if snap.Count, err = s.Count(ctx); err != nil {
		t.Fatal(err)
	}
	p := shipment.ListParams{Limit: maxListLimit}
	for {
		page, err := s.List(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		snap.Shipments = append(snap.Shipments, page.Shipments...)
		if page.NextCursor == "" {
			break
		}
		p.Cursor = page.NextCursor
	}
	if err := s.db.Order("id").Find(&snap.Locations).Error; err != nil {
		t.Fatal(err)
	}
	if err := s.db.Order("id").Find(&snap.Articles).Error; err != nil {
		t.Fatal(err)
	}
	return snap
}

const maxListLimit = 1000

func FuzzImportCSV(f *testing.F) {
	seed := readFuzzFile(f, "testdata/seed.csv")
	f.Add(seed)
	f.Add(readFuzzFile(f, "testdata/changed.csv"))
	f.Add(readFuzzFile(f, "testdata/bad_row.csv"))
	fs := &fuzzStore{dir: f.TempDir(), seed: seed}
	f.Cleanup(func() {
		if fs.s != nil {
			_ = fs.s.Close()
		}
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		s, before := fs.get(t) // holds the seed file's shipments

		parsed, parseErr := shipment.ParseCSV(bytes.NewReader(data))
		res, err := s.ImportCSV(ctx, bytes.NewReader(data))
		if err != nil {
			if parseErr == nil {
				t.Errorf("ParseCSV accepted the file but the SQLite import failed: %v", err)
			}
			if after := snapshot(t, s); !reflect.DeepEqual(before, after) {
				t.Fatalf("failed import (%v) changed the database:\nbefore %+v\nafter  %+v", err, before, after)
			}
			fs.dirty = false
			return
		}
		if parseErr != nil {
			t.Fatalf("ImportCSV succeeded where ParseCSV failed: %v", parseErr)
		}
		arts := 0
		for _, si := range parsed {
			arts += len(si.Articles)
		}
		if res.Shipments != len(parsed) || res.Articles != arts || res.Created+res.Updated > res.Shipments {
			t.Fatalf("result %+v for %d shipments with %d articles", res, len(parsed), arts)
		}
		after := snapshot(t, s)
		if after.Count != before.Count+int64(res.Created) {
			t.Fatalf("count went from %d to %d, but %d were created", before.Count, after.Count, res.Created)
		}
		// Every imported shipment reads back as it was in the file.
		byKey := make(map[[2]string]shipment.Shipment, len(after.Shipments))
		for _, sh := range after.Shipments {
			byKey[[2]string{shipment.CarrierKey(sh.Carrier), sh.TrackingNumber}] = sh
		}
		for _, si := range parsed {
			got, ok := byKey[[2]string{shipment.CarrierKey(si.Carrier), si.TrackingNumber}]
			if !ok {
				t.Fatalf("shipment %q/%q missing after import", si.Carrier, si.TrackingNumber)
			}
			if got.Carrier != si.Carrier || got.StatusText != si.Status || got.Status != shipment.NormalizeStatus(si.Status) || got.SenderAddress != si.SenderAddress ||
				got.ReceiverAddress != si.ReceiverAddress || !equalArticles(got.Articles, si.Articles) {
				t.Fatalf("shipment reads back as %+v, imported %+v", got, si)
			}
			loc, ok := shipment.ParseLocation(si.ReceiverAddress)
			if ok != (got.Location != nil) || (ok && loc.Key() != got.Location.Key()) {
				t.Fatalf("receiver %q: parsed %+v, %v but stored location %+v", si.ReceiverAddress, loc, ok, got.Location)
			}
		}
		// Importing the same file again changes nothing.
		again, err := s.ImportCSV(ctx, bytes.NewReader(data))
		if err != nil {
			t.Fatalf("re-import: %v", err)
		}
		if again.Created != 0 || again.Updated != 0 || len(again.NewLocations) != 0 {
			t.Fatalf("re-import changed something: %+v", again)
		}
		if final := snapshot(t, s); !reflect.DeepEqual(after, final) {
			t.Fatalf("re-import changed the database:\nbefore %+v\nafter  %+v", after, final)
		}
	})
}

func FuzzParseLocation(f *testing.F) {
	for _, s := range []string{
		"Street 10, 75001 Paris, France",
		"1 Main St, SW1A 1AA London, United Kingdom",
		"  Street 9 ,  1016   Amsterdam ,  Netherlands ",
		"75001 Paris, France",
		"Somewhere without a postal code",
		"",
		",",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		loc, ok := shipment.ParseLocation(addr)
		if !ok {
			if loc != (shipment.Location{}) {
				t.Fatalf("ParseLocation(%q) = %+v, false: want the zero Location", addr, loc)
			}
			return
		}
		if loc.ID != 0 {
			t.Fatalf("ParseLocation(%q) set ID %d", addr, loc.ID)
		}
		for name, v := range map[string]string{"postal code": loc.PostalCode, "city": loc.City, "country": loc.Country} {
			if v == "" || v != strings.TrimSpace(v) || strings.Contains(v, ",") || v != strings.Join(strings.Fields(v), " ") {
				t.Fatalf("ParseLocation(%q): %s %q is blank, untrimmed, has a comma or a run of spaces", addr, name, v)
			}
		}
		if hasDigit(loc.City) || hasDigit(loc.Country) {
			t.Fatalf("ParseLocation(%q) = %+v: digit in city or country", addr, loc)
		}
		pc := strings.Fields(loc.PostalCode)
		if len(pc) > 2 {
			t.Fatalf("ParseLocation(%q): postal code %q has %d tokens", addr, loc.PostalCode, len(pc))
		}
		for _, tok := range pc {
			if !hasDigit(tok) {
				t.Fatalf("ParseLocation(%q): postal code token %q has no digit", addr, tok)
			}
		}
		again := "X, " + loc.PostalCode + " " + loc.City + ", " + loc.Country
		loc2, ok2 := shipment.ParseLocation(again)
		if !ok2 || loc2 != loc {
			t.Fatalf("ParseLocation(%q) = %+v, but re-parsing %q gives %+v, %v", addr, loc, again, loc2, ok2)
		}
		if loc.Key() != loc2.Key() {
			t.Fatalf("key changed on re-parse: %q vs %q", loc.Key(), loc2.Key())
		}
	})
}

// moneyText is what ParseMoney accepts once trimmed.
var moneyText = regexp.MustCompile(`^([0-9]+)(?:\.([0-9]{1,2}))?$`)

func FuzzParseMoney(f *testing.F) {
	for _, s := range []string{"800", "19.9", "19.99", "0", "0.00", " 7.5 ", "1.999", "-1", "+1", "1e3", ".5", "5.", "", "92233720368547757.99"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := shipment.ParseMoney(s)
		trimmed := strings.TrimSpace(s)
		match := moneyText.FindStringSubmatch(trimmed)
		if err != nil {
			if !errors.Is(err, shipment.ErrInvalidMoney) {
				t.Fatalf("ParseMoney(%q) error %v does not wrap ErrInvalidMoney", s, err)
			}
			if match != nil {
				// Well-formed: only amounts too large for Money may fail.
				if w, ok := new(big.Int).SetString(match[1], 10); ok && w.Cmp(big.NewInt(math.MaxInt64/100-1)) <= 0 {
					t.Fatalf("ParseMoney(%q) rejected a well-formed amount: %v", s, err)
				}
			}
			return
		}
		if match == nil {
			t.Fatalf("ParseMoney(%q) = %d, but it is not digits with at most 2 decimals", s, m)
		}
		if strings.ContainsAny(trimmed, "+-eE_ ,") {
			t.Fatalf("ParseMoney(%q) accepted a sign, exponent or separator", s)
		}
		if m < 0 {
			t.Fatalf("ParseMoney(%q) = %d < 0", s, m)
		}
		// Exact value, computed independently.
		want, _ := new(big.Int).SetString(match[1], 10)
		frac := match[2] + strings.Repeat("0", 2-len(match[2]))
		cents, _ := new(big.Int).SetString(frac, 10)
		want.Mul(want, big.NewInt(100)).Add(want, cents)
		if !want.IsInt64() || want.Int64() != int64(m) {
			t.Fatalf("ParseMoney(%q) = %d, want %s", s, m, want)
		}
		str := m.String()
		back, err := shipment.ParseMoney(str)
		if err != nil || back != m {
			t.Fatalf("ParseMoney(%q) = %d; its String %q re-parses to %d, %v", s, m, str, back, err)
		}
		if !unicode.IsDigit(rune(str[len(str)-1])) || str[len(str)-3] != '.' {
			t.Fatalf("Money(%d).String() = %q: want two decimals", m, str)
		}
	})
}

func hasDigit(s string) bool {
	return strings.IndexFunc(s, unicode.IsDigit) >= 0
}
