package api_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// docsRapiDoc is the root of RapiDoc's shadow DOM on /docs.
const docsRapiDoc = `document.querySelector("rapi-doc")?.shadowRoot`

// TestDocsTryItOut opens /docs in headless Chromium and runs "Try" on the
// lookups as a user would: pick the operation in the navigation, keep the
// values RapiDoc prefills from the document's examples, press TRY. Each
// answers 200 with the seeded shipment, sent to the page's own origin
// under the page's Content-Security-Policy, and nothing is loaded from
// another host (RapiDoc would fetch fonts from Google unless told not to).
func TestDocsTryItOut(t *testing.T) {
	t.Parallel()
	srv := newSeededWebServer(t)
	b := newWebTab(t, srv.URL)
	b.do("open /docs", chromedp.Navigate(b.base+"/docs"),
		chromedp.Poll[chromedp.Void](docsRapiDoc+`?.querySelector(".nav-bar-path")`))
	for _, tt := range []struct {
		name   string
		nav    string            // RapiDoc's id of the operation
		method string            // the operation, as <api-request> holds it
		path   string            //
		inputs map[string]string // prefilled field values, by id
		body   string            // prefilled request body (a substring)
		want   []string          // in the response body
		sent   string            // the request the browser made
	}{
		{
			name: "GET lookup", nav: "get-/shipment/-carrier-/-tracking_number-",
			method: "get", path: "/shipment/{carrier}/{tracking_number}",
			inputs: map[string]string{"input-request-param-carrier": "DHL", "input-request-param-tracking_number": "TN12345678"},
			want:   []string{`"tracking_number": "TN12345678"`, `"carrier": "DHL"`, `"name": "Laptop"`},
			sent:   "/shipment/DHL/TN12345678",
		},
		{
			name: "POST lookup", nav: "post-/shipment/",
			method: "post", path: "/shipment/",
			body: `"tracking_number": "TN12345678"`,
			want: []string{`"tracking_number": "TN12345678"`, `"carrier": "DHL"`, `"name": "Laptop"`},
			sent: "/shipment/",
		},
	} {
		req := fmt.Sprintf(`Array.from(%s.querySelectorAll("api-request")).find(e => e.method === %s && e.path === %s)?.shadowRoot`,
			docsRapiDoc, webJS(tt.method), webJS(tt.path))
		b.do(tt.name+": open it in the navigation",
			chromedp.Click(chromedp.JSPath(fmt.Sprintf(`%s.querySelector('[data-content-id=%s]')`, docsRapiDoc, webJS(tt.nav)))),
			chromedp.Poll[chromedp.Void](req+`?.querySelector('[part~="btn-try"]')`))
		for id, want := range tt.inputs {
			if got := webEval[string](b, fmt.Sprintf(`%s.getElementById(%s)?.value ?? "(missing)"`, req, webJS(id))); got != want {
				t.Errorf("%s: %s prefilled with %q, want %q", tt.name, id, got, want)
			}
		}
		if tt.body != "" {
			got := webEval[string](b, req+`.querySelector("textarea.request-body-param-user-input")?.value ?? "(missing)"`)
			webContains(t, tt.name+" prefilled body", got, tt.body)
		}
		b.do(tt.name+": TRY",
			chromedp.Click(chromedp.JSPath(req+`.querySelector('[part~="btn-try"]')`)),
			chromedp.Poll[chromedp.Void](req+`?.querySelector(".response-message")`))
		status := webEval[string](b, req+`.querySelector(".response-message").innerText`)
		webContains(t, tt.name+" status", status, "200")
		body := webEval[string](b, `Array.from(`+req+`.querySelectorAll(".tab-panel")).find(p => p.querySelector('[data-tab="response"]'))`+
			`?.querySelector('[part="tab-content"] pre')?.innerText ?? ""`)
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
