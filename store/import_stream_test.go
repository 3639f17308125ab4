package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/shiptrack/shiptrack/shipment"
	"github.com/shiptrack/shiptrack/store"
)

// farApartCSV is a file of n shipments of two rows each, every shipment's
// second row n lines after its first: more shipments than one page of the
// streaming importer's read-back and more rows than one staging batch.
// extra rows are appended at the end.
func farApartCSV(n int, extra ...string) string {
	var b strings.Builder
	b.WriteString("tracking_number,carrier,sender_address,receiver_address,article_name,article_quantity,article_price,sku,status\n")
	for half := 0; half < 2; half++ {
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "TN%08d,DHL,\"Street %d, 10115 Berlin, Germany\",\"Street 1, 7500%d Paris, France\",Item%d-%d,%d,%d.50,SKU%d,status-%d\n",
				i, i, i%10, i, half, half+1, i, i, i%7)
		}
	}
	for _, e := range extra {
		b.WriteString(e + "\n")
	}
	return b.String()
}

// TestImportRowsFarApart: a shipment's rows need not be next to each
// other, however far apart; the import is in file order of first rows and
// a re-import changes nothing.
func TestImportRowsFarApart(t *testing.T) {
	t.Parallel()
	const n = 2500
	file := farApartCSV(n)
	forEachDriver(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		res, err := s.ImportCSV(ctx, strings.NewReader(file))
		if err != nil {
			t.Fatal(err)
		}
		if res.Shipments != n || res.Articles != 2*n || res.Created != n || res.Events != n {
			t.Errorf("result = %+v, want %d shipments, %d articles, %d created, %d events", res, n, 2*n, n, n)
		}
		for _, i := range []int{0, 999, 1000, n - 1} {
			tn := fmt.Sprintf("TN%08d", i)
			sh, err := s.Get(ctx, "dhl", tn)
			if err != nil {
				t.Fatalf("%s: %v", tn, err)
			}
			var got []string
			for _, a := range sh.Articles {
				got = append(got, fmt.Sprintf("%s:%d:%s", a.Name, a.Quantity, a.Price))
			}
			want := fmt.Sprintf("Item%d-0:1:%d.50,Item%d-1:2:%d.50", i, i, i, i)
			if strings.Join(got, ",") != want {
				t.Errorf("%s articles = %v, want %s", tn, got, want)
			}
			if sh.StatusText != fmt.Sprintf("status-%d", i%7) {
				t.Errorf("%s status text = %q", tn, sh.StatusText)
			}
		}
		before, err := s.Get(ctx, "DHL", "TN00001234")
		if err != nil {
			t.Fatal(err)
		}
		res, err = s.ImportCSV(ctx, strings.NewReader(file))
		if err != nil {
			t.Fatal(err)
		}
		if res.Created != 0 || res.Updated != 0 || res.Events != 0 || res.Shipments != n {
			t.Errorf("re-import result = %+v, want nothing changed", res)
		}
		after, err := s.Get(ctx, "DHL", "TN00001234")
		if err != nil {
			t.Fatal(err)
		}
		if !after.UpdatedAt.Equal(before.UpdatedAt) {
			t.Errorf("re-import moved updated_at from %s to %s", before.UpdatedAt, after.UpdatedAt)
		}
	})
}

// TestImportLateErrorWritesNothing: an error on the file's last line,
// after thousands of good rows were staged, writes nothing, and names
// that line and column; a conflict with a row far above names both lines;
// the earliest of a conflict and a bad row is the one reported.
func TestImportLateErrorWritesNothing(t *testing.T) {
	t.Parallel()
	const n = 2500
	last := 2*n + 2 // the header, then 2n rows
	tests := []struct {
		name   string
		extra  []string
		line   int
		column string
		msg    string
	}{
		{"bad quantity", []string{`TN99999999,DHL,"Street 1, 10115 Berlin, Germany","Street 1, 75001 Paris, France",Mouse,many,25,MO456,in-transit`},
			last, "article_quantity", `"many": not a positive whole number`},
		{"conflict", []string{`TN00000007,DHL,"Street 7, 10115 Berlin, Germany","Street 1, 75007 Paris, France",Mouse,1,25,MO456,delivered`},
			last, "status", `"delivered" differs from an earlier row of the same shipment (line 9)`},
		{"conflict before bad row", []string{
			`TN00000007,DHL,"Street 7, 10115 Berlin, Germany","Street 9, 75007 Paris, France",Mouse,1,25,MO456,status-0`,
			`TN99999999,DHL,"Street 1, 10115 Berlin, Germany","Street 1, 75001 Paris, France",Mouse,0,25,MO456,in-transit`},
			last, "receiver_address", `differs from an earlier row of the same shipment (line 9)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			file := farApartCSV(n, tt.extra...)
			forEachDriver(t, func(t *testing.T, s *store.Store) {
				ctx := context.Background()
				_, err := s.ImportCSV(ctx, strings.NewReader(file))
				var ie *shipment.ImportError
				if !errors.As(err, &ie) {
					t.Fatalf("err = %v, want an ImportError", err)
				}
				if ie.Line != tt.line || ie.Column != tt.column || !strings.Contains(ie.Error(), tt.msg) {
					t.Errorf("err = %v, want line %d column %s: ...%s", err, tt.line, tt.column, tt.msg)
				}
				for _, tn := range []string{"TN00000000", "TN00002499"} {
					if _, err := s.Get(ctx, "DHL", tn); !errors.Is(err, shipment.ErrNotFound) {
						t.Errorf("Get %s after a failed import: err = %v, want not found", tn, err)
					}
				}
				// The staging tables went with the transaction: the same
				// connection imports again.
				res, err := s.ImportCSV(ctx, strings.NewReader(farApartCSV(3)))
				if err != nil || res.Created != 3 {
					t.Errorf("import after a failed one: %+v, %v", res, err)
				}
			})
		})
	}
}
