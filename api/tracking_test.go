package api_test

import (
	"testing"

	"github.com/shiptrack/shiptrack/api"
	"github.com/shiptrack/shiptrack/store"
)

// TestLookupAnySpelling: tracking numbers are found whatever their case
// and spacing, as carriers are; the answer keeps the shipment's spelling.
func TestLookupAnySpelling(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, base string, _ *store.Store) {
		for _, tt := range []struct{ name, method, path, ctype, body string }{
			{"path lower case with a space", "GET", "/shipment/dhl/tn%2012345678", "", ""},
			{"path lower case", "GET", "/shipment/DHL/tn12345678", "", ""},
			{"json spaced", "POST", "/shipment/", "application/json", `{"tracking_number":" tn 1234 5678 ","carrier":"dhl"}`},
			{"form lower case", "POST", "/shipment/", "application/x-www-form-urlencoded", "tracking_number=tn12345678&carrier=DHL"},
			// Twice: the second is served by the read cache.
			{"path lower case again", "GET", "/shipment/DHL/tn12345678", "", ""},
		} {
			r := do(t, tt.method, base+tt.path, tt.ctype, tt.body)
			if r.status != 200 {
				t.Errorf("%s: status %d, want 200: %s", tt.name, r.status, r.body)
				continue
			}
			if s := decode[api.ShipmentJSON](t, r); s.TrackingNumber != "TN12345678" || s.Carrier != "DHL" {
				t.Errorf("%s: got %s", tt.name, r.body)
			}
		}
	})
}
