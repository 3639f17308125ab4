package store_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/shiptrack/shiptrack/store"
)

// TestReimportUpdatesArticlesOnly: a re-import whose only change is in a
// shipment's articles (a price, a name, one more, one fewer) replaces
// them; skipping unchanged shipments must compare the articles too, not
// only the shipment's row.
func TestReimportUpdatesArticlesOnly(t *testing.T) {
	t.Parallel()
	seed, err := os.ReadFile("testdata/seed.csv")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, old, new string
		want           []string // DHL/TN12345678's articles after, as name:price:sku
	}{
		{"price", ",Mouse,1,25,MO456,", ",Mouse,1,26,MO456,", []string{"Laptop:800.00:LP123", "Mouse:26.00:MO456"}},
		{"name", ",Mouse,1,25,MO456,", ",Trackball,1,25,MO456,", []string{"Laptop:800.00:LP123", "Trackball:25.00:MO456"}},
		{"sku", ",Mouse,1,25,MO456,", ",Mouse,1,25,MO999,", []string{"Laptop:800.00:LP123", "Mouse:25.00:MO999"}},
		{"one fewer", "TN12345678,DHL,\"Street 1, 10115 Berlin, Germany\",\"Street 10, 75001 Paris, France\",Mouse,1,25,MO456,in-transit\n", "", []string{"Laptop:800.00:LP123"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			changed := strings.Replace(string(seed), tt.old, tt.new, 1)
			if changed == string(seed) {
				t.Fatalf("%q is not in the seed", tt.old)
			}
			forEachDriver(t, func(t *testing.T, s *store.Store) {
				ctx := context.Background()
				mustImport(t, s, "testdata/seed.csv")
				before, err := s.Get(ctx, "DHL", "TN12345678")
				if err != nil {
					t.Fatal(err)
				}
				res, err := s.ImportCSV(ctx, strings.NewReader(changed))
				if err != nil {
					t.Fatal(err)
				}
				if res.Updated != 1 || res.Created != 0 {
					t.Errorf("result = %+v, want 1 updated", res)
				}
				sh, err := s.Get(ctx, "DHL", "TN12345678")
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, a := range sh.Articles {
					got = append(got, a.Name+":"+a.Price.String()+":"+a.SKU)
				}
				if strings.Join(got, ",") != strings.Join(tt.want, ",") {
					t.Errorf("articles = %v, want %v", got, tt.want)
				}
				if !sh.UpdatedAt.After(before.UpdatedAt) {
					t.Errorf("updated_at %v not after %v", sh.UpdatedAt, before.UpdatedAt)
				}
			})
		})
	}
}
