package store_test

import (
	"testing"

	"github.com/shiptrack/shiptrack/store/storetest"
)

// TestReadSlotsPerDriver: SQLite admits fewer reads at once than
// PostgreSQL (see sqliteReadSlots in db.go for why).
func TestReadSlotsPerDriver(t *testing.T) {
	t.Parallel()
	want := map[string]int{"sqlite": 1, "postgres": 16}
	for _, d := range storetest.Drivers {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			if got := storetest.Open(t, d).ReadSlotCountForTest(); got != want[d] {
				t.Errorf("%s: %d read slots, want %d", d, got, want[d])
			}
		})
	}
}
