package api_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/shiptrack/shiptrack/store"
)

// TestErrorDetails: a 413 states the limit however the body was sent, a
// 415 names every accepted type.
func TestErrorDetails(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, base string, _ *store.Store) {
		big := `{"tracking_number":"` + strings.Repeat("A", 100<<10) + `","carrier":"DHL"}`
		for _, tt := range []struct {
			name, ctype string
			body        io.Reader
			status      int
			want        string
		}{
			{"413 with Content-Length", "application/json", strings.NewReader(big), 413, "limit of 64K (64000 bytes)"},
			// No Content-Length: found while decoding, not by Echo.
			{"413 chunked json", "application/json", io.MultiReader(strings.NewReader(big)), 413, "limit of 64K (64000 bytes)"},
			{"413 chunked form", "application/x-www-form-urlencoded", io.MultiReader(strings.NewReader("carrier=DHL&tracking_number=" + strings.Repeat("A", 100<<10))), 413, "limit of 64K (64000 bytes)"},
			{"415", "text/plain", strings.NewReader("x"), 415, "multipart/form-data"},
		} {
			req, err := http.NewRequest("POST", base+"/shipment/", tt.body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", tt.ctype)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			r := response{resp.StatusCode, resp.Header, b}
			p := assertProblem(t, r, tt.status)
			if !strings.Contains(p.Detail, tt.want) {
				t.Errorf("%s: detail %q, want it to contain %q", tt.name, p.Detail, tt.want)
			}
		}
	})
}
