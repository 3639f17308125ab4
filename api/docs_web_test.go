package api_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestDocsTryItOut opens /docs in headless Chromium and runs the lookups
// as a user would: expand the operation, keep the values Swagger UI
// prefills from the document's examples ("Try it out" is on from the
// start), press Execute. Each answers 200 with the seeded shipment, sent to
// the page's own origin under the page's Content-Security-Policy, and
// nothing is loaded from another host.
func TestDocsTryItOut(t *testing.T) {
	t.Parallel()
	srv := newSeededWebServer(t)
	b := newWebTab(t, srv.URL)
	b.do("open /docs", chromedp.Navigate(b.base+"/docs"),
		chromedp.WaitVisible(chromedp.CSS("#operations-shipments-getShipment")))
	for _, tt := range []struct {
		name   string
		op     string            // Swagger UI's id of the operation block
		params map[string]string // prefilled parameter values, by name
		body   string            // prefilled request body (a substring)
		want   []string          // in the response body
		sent   string            // the request the browser made
	}{
		{
			name: "GET lookup", op: "operations-shipments-getShipment",
			params: map[string]string{"carrier": "DHL", "tracking_number": "TN12345678"},
			want:   []string{`"tracking_number": "TN12345678"`, `"carrier": "DHL"`, `"name": "Laptop"`},
			sent:   "/shipment/DHL/TN12345678",
		},
		{
			name: "POST lookup", op: "operations-shipments-lookupShipment",
			body: `"tracking_number": "TN12345678"`,
			want: []string{`"tracking_number": "TN12345678"`, `"carrier": "DHL"`, `"name": "Laptop"`},
			sent: "/shipment/",
		},
	} {
		op := fmt.Sprintf(`document.getElementById(%s)`, webJS(tt.op))
		field := func(name string) string {
			return fmt.Sprintf(`%s.querySelector('tr[data-param-name=%s] :is(input, select)')`, op, webJS(name))
		}
		// Execute shows before the parameter rows do: wait for the fields.
		fields := []string{op + `.querySelector(".btn.execute")`}
		for name := range tt.params {
			fields = append(fields, field(name))
		}
		if tt.body != "" {
			fields = append(fields, op+`.querySelector("textarea.body-param__text")`)
		}
		b.do(tt.name+": expand it",
			chromedp.Click(chromedp.JSPath(op+`.querySelector(".opblock-summary-control")`)),
			chromedp.Poll[chromedp.Void]("!!("+strings.Join(fields, " && ")+")"))
		for name, want := range tt.params {
			got := webEval[string](b, field(name)+`?.value ?? "(missing)"`)
			if got != want {
				t.Errorf("%s: %s prefilled with %q, want %q", tt.name, name, got, want)
			}
		}
		if tt.body != "" {
			got := webEval[string](b, op+`.querySelector("textarea.body-param__text")?.value ?? "(missing)"`)
			webContains(t, tt.name+" prefilled body", got, tt.body)
		}
		live := op + `.querySelector(".live-responses-table")`
		b.do(tt.name+": Execute",
			chromedp.Click(chromedp.JSPath(op+`.querySelector(".btn.execute")`)),
			chromedp.WaitVisible(chromedp.JSPath(live+`?.querySelector("tr.response .response-col_status")`)))
		// The body renders after the status (highlighting is deferred):
		// wait for some text before reading it.
		pre := live + `.querySelector("tr.response .response-col_description pre")`
		b.do(tt.name+": response body", chromedp.Poll[chromedp.Void]("("+pre+`?.innerText ?? "").trim().length > 0`))
		status := webEval[string](b, live+`.querySelector("tr.response .response-col_status").innerText`)
		webContains(t, tt.name+" status", status, "200")
		body := webEval[string](b, pre+`?.innerText ?? ""`)
		webContains(t, tt.name+" response", body, tt.want...)
		if !slices.Contains(b.requested(), b.base+tt.sent) {
			t.Errorf("%s: the page did not request %s%s; it requested %q", tt.name, b.base, tt.sent, b.requested())
		}
	}
	if n := srv.lookups.Load(); n != 1 {
		t.Errorf("%d POST lookups reached the server, want 1", n)
	}
	for _, u := range b.requested() {
		if !strings.HasPrefix(u, b.base+"/") && !strings.HasPrefix(u, "data:") {
			t.Errorf("the page requested %s, not from its own origin", u)
		}
	}
	b.checkNoProblems()
}
