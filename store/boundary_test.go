package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/shiptrack/shiptrack/shipment"
	"github.com/shiptrack/shiptrack/store"
	"github.com/shiptrack/shiptrack/valid"
)

const boundaryHeader = "tracking_number,carrier,sender_address,receiver_address,article_name,article_quantity,article_price,sku,status\n"

// boundaryRow is one CSV data row with the given fields; the rest are a
// valid shipment's.
func boundaryRow(set map[string]string) string {
	f := map[string]string{
		"tracking_number": "TN1", "carrier": "DHL", "sender_address": "S 1, 10115 Berlin, Germany",
		"receiver_address": "S 2, 75001 Paris, France", "article_name": "Laptop", "article_quantity": "1",
		"article_price": "800", "sku": "LP1", "status": "in-transit",
	}
	for k, v := range set {
		f[k] = v
	}
	var cells []string
	for _, k := range strings.Split(strings.TrimSpace(boundaryHeader), ",") {
		cells = append(cells, `"`+strings.ReplaceAll(f[k], `"`, `""`)+`"`)
	}
	return strings.Join(cells, ",") + "\n"
}

// TestImportRefusesBadText: every field over its column's size, or not
// valid UTF-8, or holding a control character, is refused with its line
// and column on both databases, and nothing is written; PostgreSQL used
// to fail with a raw error, SQLite to store it.
func TestImportRefusesBadText(t *testing.T) {
	t.Parallel()
	good := boundaryRow(nil)
	tests := []struct {
		name, csv, column string
		line              int
		want              error
	}{
		{"65-character tracking number", boundaryRow(map[string]string{"tracking_number": strings.Repeat("T", 65)}), "tracking_number", 3, valid.ErrTooLong},
		{"65-character carrier", boundaryRow(map[string]string{"carrier": strings.Repeat("C", 65)}), "carrier", 3, valid.ErrTooLong},
		{"65-character status", boundaryRow(map[string]string{"status": strings.Repeat("s", 65)}), "status", 3, valid.ErrTooLong},
		{"501-character sender", boundaryRow(map[string]string{"sender_address": strings.Repeat("s", 501)}), "sender_address", 3, valid.ErrTooLong},
		{"201-character city", boundaryRow(map[string]string{"receiver_address": "S 2, 75001 " + strings.Repeat("P", 201) + ", France"}), "receiver_address", 3, valid.ErrTooLong},
		{"201-character country", boundaryRow(map[string]string{"receiver_address": "S 2, 75001 Paris, " + strings.Repeat("F", 201)}), "receiver_address", 3, valid.ErrTooLong},
		{"location key over 400", boundaryRow(map[string]string{"receiver_address": "S, 75001 " + strings.Repeat("P", 200) + ", " + strings.Repeat("F", 200)}), "receiver_address", 3, valid.ErrTooLong},
		{"101-character sku", boundaryRow(map[string]string{"sku": strings.Repeat("K", 101)}), "sku", 3, valid.ErrTooLong},
		{"10 MB article name", boundaryRow(map[string]string{"article_name": strings.Repeat("n", 10<<20)}), "article_name", 3, valid.ErrTooLong},
		{"NUL in tracking number", boundaryRow(map[string]string{"tracking_number": "TN\x00"}), "tracking_number", 3, valid.ErrControl},
		{"NUL in article name", boundaryRow(map[string]string{"article_name": "Lap\x00top"}), "article_name", 3, valid.ErrControl},
		{"line break in status", boundaryRow(map[string]string{"status": "in\ntransit"}), "status", 3, valid.ErrControl},
		{"\\xff in carrier", boundaryRow(map[string]string{"carrier": "DH\xff"}), "carrier", 3, valid.ErrInvalidUTF8},
		{"\\xff in receiver", boundaryRow(map[string]string{"receiver_address": "S 2, 75001 Par\xffis, France"}), "receiver_address", 3, valid.ErrInvalidUTF8},
	}
	// And every kind of bad text in every text column.
	limits := map[string]int{"tracking_number": valid.TrackingNumber, "carrier": valid.Carrier, "sender_address": valid.Address,
		"receiver_address": valid.Address, "article_name": valid.ArticleName, "sku": valid.SKU, "status": valid.Status}
	for col, max := range limits {
		for _, k := range []struct {
			name, v string
			want    error
		}{
			{"NUL", "A\x00B", valid.ErrControl}, {"\\xff", "A\xffB", valid.ErrInvalidUTF8}, {"truncated UTF-8", "A\xc3", valid.ErrInvalidUTF8},
			{"escape", "A\x1bB", valid.ErrControl}, {"C1", "A\u0085B", valid.ErrControl},
			{"one character too many", strings.Repeat("ß", max+1), valid.ErrTooLong},
		} {
			tests = append(tests, struct {
				name, csv, column string
				line              int
				want              error
			}{k.name + " in " + col, boundaryRow(map[string]string{col: k.v}), col, 3, k.want})
		}
	}
	t.Logf("%d bad files", len(tests))
	forEachDriver(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		for _, tt := range tests {
			// A good row first: a refused file writes none of it.
			_, err := s.ImportCSV(ctx, strings.NewReader(boundaryHeader+strings.Replace(good, "TN1", "TN0", 1)+tt.csv))
			var ie *shipment.ImportError
			if !errors.As(err, &ie) || ie.Line != tt.line || ie.Column != tt.column || !errors.Is(err, tt.want) {
				t.Errorf("%s: err = %.200v, want line %d column %s: %v", tt.name, err, tt.line, tt.column, tt.want)
			}
			if n, _ := s.Count(ctx); n != 0 {
				t.Fatalf("%s: %d shipments written by a refused import", tt.name, n)
			}
		}
	})
}

// TestImportDuplicateHeader: a column named twice is refused, naming it,
// rather than read from whichever came last.
func TestImportDuplicateHeader(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		csv := strings.TrimSpace(boundaryHeader) + ",Status\n" + strings.TrimSpace(boundaryRow(nil)) + ",delivered\n"
		_, err := s.ImportCSV(ctx, strings.NewReader(csv))
		var ie *shipment.ImportError
		if !errors.As(err, &ie) || ie.Line != 1 || ie.Column != "status" {
			t.Fatalf("err = %v, want line 1 column status", err)
		}
		if n, _ := s.Count(ctx); n != 0 {
			t.Errorf("%d shipments written", n)
		}
	})
}

// TestImportAtTheLimits: texts exactly as long as their columns allow,
// counted in characters, import and read back whole on both databases,
// and the longest tracking number can be looked up.
func TestImportAtTheLimits(t *testing.T) {
	t.Parallel()
	tn := strings.Repeat("é", valid.TrackingNumber) // 128 bytes, 64 characters
	row := map[string]string{
		"tracking_number": tn, "carrier": strings.Repeat("ü", valid.Carrier),
		"sender_address":   strings.Repeat("s", valid.Address),
		"receiver_address": "S, 1 " + strings.Repeat("日", valid.City) + ", " + strings.Repeat("F", 190),
		"article_name":     strings.Repeat("名", valid.ArticleName), "sku": strings.Repeat("K", valid.SKU),
		"status": strings.Repeat("ß", valid.Status),
	}
	forEachDriver(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if _, err := s.ImportCSV(ctx, strings.NewReader(boundaryHeader+boundaryRow(row))); err != nil {
			t.Fatalf("import at the limits: %.300v", err)
		}
		sh, err := s.Get(ctx, row["carrier"], tn)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if sh.StatusText != row["status"] || sh.SenderAddress != row["sender_address"] || sh.Articles[0].Name != row["article_name"] ||
			sh.Articles[0].SKU != row["sku"] || sh.Location == nil || sh.Location.City != strings.Repeat("日", valid.City) {
			t.Errorf("read back differs: %+v", sh)
		}
	})
}
