package api_test

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestDocsTryItOut opens /docs in headless Chromium and runs "Try it out"
// on the lookups as a user would, with the values the page prefills from
// the document's examples: each answers with the seeded shipment, under
// the page's own Content-Security-Policy.
func TestDocsTryItOut(t *testing.T) {
	t.Parallel()
	srv := newSeededWebServer(t)
	b := newWebTab(t, srv.URL)
	b.do("open /docs", chromedp.Navigate(b.base+"/docs"), chromedp.WaitVisible(chromedp.CSS("#op-getShipment .try > summary")))
	for _, tt := range []struct {
		op   string
		want []string
	}{
		{"getShipment", []string{"GET /shipment/DHL/TN12345678", "200", "application/json", `"tracking_number": "TN12345678"`, "Laptop"}},
		{"lookupShipment", []string{"POST /shipment/", "200", `"tracking_number": "TN12345678"`}},
	} {
		sec := "#op-" + tt.op
		b.do("open Try it out of "+tt.op, chromedp.Click(chromedp.CSS(sec+" .try > summary")),
			chromedp.WaitVisible(chromedp.CSS(sec+" .try button")))
		b.do("execute "+tt.op, chromedp.Click(chromedp.CSS(sec+" .try button")),
			chromedp.WaitVisible(chromedp.CSS(sec+" .try-result[data-status]")))
		{
			got := b.text(sec + " .try-result")
			webContains(t, tt.op+" answer", got, tt.want...)
		}
		if st := webEval[string](b, fmt.Sprintf(`document.querySelector(%s).dataset.status`, webJS(sec+" .try-result"))); st != "200" {
			t.Errorf("%s: status %s, want 200", tt.op, st)
		}
	}
	b.checkNoProblems()
}
