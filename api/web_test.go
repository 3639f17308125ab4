package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/shiptrack/shiptrack/api"
	"github.com/shiptrack/shiptrack/internal/mock"
	"github.com/shiptrack/shiptrack/internal/testenv"
	"github.com/shiptrack/shiptrack/shipment"
	"github.com/shiptrack/shiptrack/store/storetest"
)

// The browser tests drive Debian's Chromium; CI installs it. They fail,
// never skip, when it is missing, so a CI without it cannot pass silently.
const webChromium = "/usr/bin/chromium"

// webBrowserTimeout bounds each browser test, Chromium's start included.
const webBrowserTimeout = 30 * time.Second

const (
	webMsgNotFound = "We could not find a shipment with this tracking number and carrier."
	webMsgGeneric  = "Something went wrong on our side. Please try again."
	webMsgSlow     = "This is taking longer than usual. Please try again."
)

// ---- servers ---------------------------------------------------------------

// webServer is the real API over HTTP, counting the lookups it answers.
type webServer struct {
	*httptest.Server
	lookups atomic.Int64 // POST /shipment/ requests
}

func newWebServer(t *testing.T, cfg api.Config) *webServer {
	t.Helper()
	h := api.New(cfg)
	ws := &webServer{}
	ws.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/shipment") {
			ws.lookups.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ws.Close)
	return ws
}

// newSeededWebServer serves the API on a seeded SQLite store.
func newSeededWebServer(t *testing.T) *webServer {
	t.Helper()
	st := storetest.Open(t, "sqlite")
	if _, _, err := st.SeedIfEmpty(context.Background()); err != nil {
		t.Fatal(err)
	}
	return newWebServer(t, api.Config{Shipments: st})
}

// webWeather adds weather to every shipment the store returns, as the
// weather jobs would have.
func webWeather(st api.Shipments, w shipment.Weather) *mock.Shipments {
	return &mock.Shipments{ListFn: st.List, GetFn: func(ctx context.Context, carrier, tn string) (shipment.Shipment, error) {
		sh, err := st.Get(ctx, carrier, tn)
		if err == nil && sh.Weather == nil {
			sh.Weather = &w
		}
		return sh, err
	}}
}

// webFake answers every lookup with get, so a test decides what the API
// returns; every list is empty.
func webFake(get func(ctx context.Context, carrier, tn string) (shipment.Shipment, error)) *mock.Shipments {
	return &mock.Shipments{
		ListFn: func(context.Context, shipment.ListParams) (shipment.Page, error) { return shipment.Page{}, nil },
		GetFn:  get,
	}
}

// webParisWeather is weather observed and fetched ago.
func webParisWeather(ago time.Duration) shipment.Weather {
	at := time.Now().Add(-ago)
	return shipment.Weather{Query: "Paris, France", TemperatureC: 8.2, Condition: "Partly cloudy",
		ConditionCode: "1003", Humidity: 81, WindKph: 15.1, ObservedAt: at, FetchedAt: at, Provider: "weatherapi"}
}

func webShipment(w *shipment.Weather) shipment.Shipment {
	return shipment.Shipment{
		TrackingNumber: "TN12345678", Carrier: "DHL", Status: "in-transit",
		SenderAddress: "Street 1, 10115 Berlin, Germany", ReceiverAddress: "Street 10, 75001 Paris, France",
		Location: &shipment.Location{PostalCode: "75001", City: "Paris", Country: "France"},
		Articles: []shipment.Article{{Name: "Laptop", Quantity: 1, SKU: "LP123"}},
		Weather:  w,
	}
}

// ---- browser ---------------------------------------------------------------

// webTab is one headless Chromium (own process, fresh profile) with one
// tab, recording every request and every error the page makes.
type webTab struct {
	t    *testing.T
	ctx  context.Context
	base string

	mu       sync.Mutex
	requests []string // URLs the page requested
	problems []string // uncaught exceptions and CSP violations
}

func newWebTab(t *testing.T, base string) *webTab {
	t.Helper()
	testenv.Chromium(t)
	b := &webTab{t: t, base: base}
	ctx, cancel := context.WithTimeout(context.Background(), webBrowserTimeout)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(webChromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-crash-reporter", true),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	tabCtx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithListener(b.listen))
	t.Cleanup(func() {
		_ = chromedp.Cancel(tabCtx)
		cancelTab()
		cancelAlloc() // waits for Chromium to exit, before t.TempDir is removed
		cancel()
	})
	if err := chromedp.Do(tabCtx); err != nil {
		t.Fatalf("start Chromium (%s): %v", webChromium, err)
	}
	b.ctx = tabCtx
	return b
}

// listen runs in the tab's event loop: record, and return at once.
func (b *webTab) listen(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		b.requests = append(b.requests, ev.Request.URL)
	case network.EventRequestWillBeSent:
		b.requests = append(b.requests, ev.Request.URL)
	case *runtime.EventExceptionThrown:
		b.problems = append(b.problems, "exception: "+webException(ev.ExceptionDetails))
	case runtime.EventExceptionThrown:
		b.problems = append(b.problems, "exception: "+webException(ev.ExceptionDetails))
	case *log.EventEntryAdded:
		b.logEntry(ev.Entry)
	case log.EventEntryAdded:
		b.logEntry(ev.Entry)
	}
}

func webException(d *runtime.ExceptionDetails) string {
	if d == nil {
		return "?"
	}
	if d.Exception != nil && d.Exception.Description != "" {
		return d.Exception.Description
	}
	return d.Text
}

func (b *webTab) logEntry(e *log.Entry) {
	if e != nil && (strings.Contains(e.Text, "Content Security Policy") || strings.Contains(e.Text, "Refused to")) {
		b.problems = append(b.problems, "csp: "+e.Text)
	}
}

// do runs actions, failing the test with what the page shows on error.
func (b *webTab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v\npage text:\n%s", what, err, b.pageText())
	}
}

func (b *webTab) pageText() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if err != nil {
		return "(unavailable: " + err.Error() + ")"
	}
	return s
}

// eval evaluates a JavaScript expression to T.
func webEval[T any](b *webTab, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// text is the rendered text of the first element matching a CSS selector,
// "" when there is none.
func (b *webTab) text(sel string) string {
	b.t.Helper()
	return webEval[string](b, fmt.Sprintf(`(() => { const e = document.querySelector(%s); return e ? e.innerText : ""; })()`, webJS(sel)))
}

// wantText checks the rendered text of the first element matching sel.
func (b *webTab) wantText(sel, want string) {
	b.t.Helper()
	if got := b.text(sel); got != want {
		b.t.Errorf("%s = %q, want %q", sel, got, want)
	}
}

func webJS(v any) string {
	j, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(j)
}

// open loads the page at path and waits for the form.
func (b *webTab) open(path string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.base+path), chromedp.WaitVisible(chromedp.CSS("#track-button")))
}

// chooseCarrier picks a carrier in the select as a user would (the change
// event fires); "Other…" is "__other".
func (b *webTab) chooseCarrier(value string) {
	b.t.Helper()
	webEval[chromedp.Void](b, fmt.Sprintf(`(() => { const s = document.getElementById("carrier");
		s.value = %s; s.dispatchEvent(new Event("change", {bubbles: true})); })()`, webJS(value)))
}

// clear empties the input with the given id.
func (b *webTab) clear(id string) {
	b.t.Helper()
	webEval[chromedp.Void](b, fmt.Sprintf(`(() => { const e = document.getElementById(%s);
		e.value = ""; e.dispatchEvent(new Event("input", {bubbles: true})); })()`, webJS(id)))
}

// track fills the form and submits it with the button.
func (b *webTab) track(tn, carrier string) {
	b.t.Helper()
	b.clear("tracking-number")
	if tn != "" {
		b.do("type the tracking number", chromedp.SendKeys(chromedp.CSS("#tracking-number"), tn))
	}
	b.chooseCarrier(carrier)
	b.do("submit", chromedp.Click(chromedp.CSS("#track-button")))
}

// waitFor waits until sel is visible.
func (b *webTab) waitFor(sel string) {
	b.t.Helper()
	b.do("wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
}

// settle waits until the result area is no longer busy.
func (b *webTab) settle() {
	b.t.Helper()
	b.do("wait for the lookup to end", chromedp.WaitVisible(chromedp.CSS(`#result[aria-busy="false"] > *`)))
}

func (b *webTab) checkNoProblems() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		b.t.Errorf("page error: %s", p)
	}
}

func (b *webTab) requested() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.requests...)
}

func webContains(t *testing.T, what, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s = %q, want it to contain %q", what, got, w)
		}
	}
}

// ---- browser tests ---------------------------------------------------------

func TestTrackPageLookup(t *testing.T) {
	t.Parallel()
	srv := newSeededWebServer(t)
	b := newWebTab(t, srv.URL)
	b.open("/")
	b.track("TN12345678", "DHL")
	b.waitFor("#shipment")

	b.wantText("#shipment-title", "TN12345678")
	b.wantText("#shipment-carrier", "DHL")
	b.wantText("#shipment-status", "In transit")
	if got := b.text(`.steps [aria-current="step"]`); !strings.HasPrefix(got, "In transit") {
		t.Errorf("current step = %q, want In transit", got)
	}
	if got := webEval[int](b, `document.querySelectorAll(".steps .step-done").length`); got != 1 {
		t.Errorf("%d steps done, want 1 (Registered)", got)
	}
	b.wantText("#sender-city", "Berlin, Germany")
	b.wantText("#receiver-city", "Paris, France")
	rows := webEval[[][]string](b, `Array.from(document.querySelectorAll("#articles tbody tr"),
		tr => Array.from(tr.children, c => c.innerText.replace(/\s+/g, " ").trim()))`)
	want := [][]string{{"Laptop SKU LP123", "1", "€800.00", "€800.00"}, {"Mouse SKU MO456", "1", "€25.00", "€25.00"}}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("article rows = %q, want %q", rows, want)
	}
	b.wantText("#articles-total", "€825.00")
	webContains(t, "weather", b.text("#weather"), "Weather in Paris", "Weather not available yet")
	if got := webEval[string](b, `location.search`); got != "?carrier=DHL&tracking_number=TN12345678" {
		t.Errorf("URL query after the lookup = %q", got)
	}
	if got := webEval[string](b, `document.getElementById("result").getAttribute("aria-busy")`); got != "false" {
		t.Errorf("aria-busy = %q after the answer", got)
	}

	// A second lookup in the same page, with a carrier typed under
	// "Other…" in lower case: the API matches carriers case-insensitively.
	b.chooseCarrier("__other")
	b.waitFor("#carrier-other")
	if got := webEval[string](b, `document.activeElement.id`); got != "carrier-other" {
		t.Errorf("focus after choosing Other… = %q, want carrier-other", got)
	}
	b.clear("tracking-number")
	b.do("second lookup",
		chromedp.SendKeys(chromedp.CSS("#tracking-number"), "TN12345679"),
		chromedp.SendKeys(chromedp.CSS("#carrier-other"), "ups"),
		chromedp.Click(chromedp.CSS("#track-button")),
		chromedp.WaitVisible(chromedp.CSS(`#shipment-title`)),
	)
	b.do("wait for UPS", chromedp.Poll[chromedp.Void](`document.getElementById("shipment-carrier")?.innerText === "UPS"`))
	b.wantText("#receiver-city", "Brussels, Belgium")
	b.wantText("#articles-total", "€400.00") // 2 × 200.00
	if got := webEval[string](b, `location.search`); got != "?carrier=ups&tracking_number=TN12345679" {
		t.Errorf("URL query after the second lookup = %q", got)
	}
	b.checkNoProblems()
}

func TestTrackPageWeather(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		lastError string
		stale     bool
	}{
		{"fresh", "", false},
		{"stale", "weatherapi: 503 Service Unavailable", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := webParisWeather(35 * time.Minute)
			w.LastError = tt.lastError
			srv := newWebServer(t, api.Config{Shipments: webFake(func(context.Context, string, string) (shipment.Shipment, error) {
				return webShipment(&w), nil
			})})
			b := newWebTab(t, srv.URL)
			b.open("/")
			b.track("TN12345678", "DHL")
			b.waitFor("#weather .weather-now")

			weather := b.text("#weather")
			if !regexp.MustCompile(`(^|\D)8\s*°C`).MatchString(weather) {
				t.Errorf("weather %q does not show 8 °C", weather)
			}
			webContains(t, "weather", weather, "Partly cloudy", "81%", "15 km/h", "Updated 35 min ago")
			icon := webEval[string](b, `document.querySelector("#weather img.weather-icon")?.getAttribute("src") || ""`)
			if !strings.HasPrefix(icon, "/assets/icons/partly-cloudy.svg") {
				t.Errorf("weather icon = %q, want the partly-cloudy icon", icon)
			}
			b.do("wait for the icon", chromedp.Poll[chromedp.Void](`(() => { const i = document.querySelector("#weather img");
				return i.complete && i.naturalWidth > 0; })()`))
			stale := b.text("#weather-stale")
			if tt.stale {
				webContains(t, "stale note", stale, "may be out of date")
			} else if stale != "" {
				t.Errorf("fresh weather shows a stale note: %q", stale)
			}
			b.checkNoProblems()
		})
	}
}

func TestTrackPageNotFound(t *testing.T) {
	t.Parallel()
	srv := newSeededWebServer(t)
	b := newWebTab(t, srv.URL)
	b.open("/")
	b.track("TN00000000", "DHL")
	b.waitFor("#lookup-error")
	b.settle()
	b.wantText("#lookup-error", webMsgNotFound)
	b.wantText("#shipment", "")
	b.checkNoProblems()
}

// TestTrackPageJourney: the tracking events show as a timeline, newest
// first, with the time in the reader's locale, the status, the carrier's
// own wording when it says more, the location and the message.
func TestTrackPageJourney(t *testing.T) {
	t.Parallel()
	sh := webShipment(nil)
	sh.Status, sh.StatusText = "out_for_delivery", "delivery"
	sh.Events = []shipment.Event{
		{EventID: "e3", OccurredAt: time.Date(2026, 12, 1, 16, 40, 0, 0, time.UTC), Status: "out_for_delivery", StatusText: "delivery",
			Location: "Paris 1er", Message: "With the courier since 07:10", Source: "api"},
		{EventID: "e2", OccurredAt: time.Date(2026, 12, 1, 7, 15, 0, 0, time.UTC), Status: "in_transit", StatusText: "inbound-scan",
			Location: "Berlin hub", Source: "api"},
		{EventID: "e1", OccurredAt: time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC), Status: "info_received", StatusText: "info_received", Source: "import"},
	}
	sh.EventCount = 25
	srv := newWebServer(t, api.Config{Shipments: webFake(func(context.Context, string, string) (shipment.Shipment, error) { return sh, nil })})
	b := newWebTab(t, srv.URL)
	b.open("/")
	b.track("TN12345678", "DHL")
	b.waitFor("#timeline")
	if got := b.text("#shipment-status"); got != "Out for delivery" {
		t.Errorf("status badge = %q, want Out for delivery (the normalised status)", got)
	}
	items := webEval[[]string](b, `Array.from(document.querySelectorAll("#timeline li")).map((li) => li.innerText)`)
	if len(items) != 3 {
		t.Fatalf("timeline has %d items, want 3: %q", len(items), items)
	}
	webContains(t, "newest event", items[0], "Out for delivery", "Paris 1er", "With the courier since 07:10", "2026")
	webContains(t, "second event", items[1], "In transit", "inbound-scan", "Berlin hub")
	if strings.Contains(items[2], "info_received") || !strings.Contains(items[2], "Info received") {
		t.Errorf("oldest event = %q: the carrier text repeats the status", items[2])
	}
	times := webEval[[]string](b, `Array.from(document.querySelectorAll("#timeline time")).map((t) => t.getAttribute("datetime"))`)
	if len(times) != 3 || times[0] != "2026-12-01T16:40:00Z" {
		t.Errorf("time datetimes = %q", times)
	}
	// Shown in the browser's locale and zone, as Intl formats it there.
	want := webEval[string](b, `new Intl.DateTimeFormat(undefined, {day: "numeric", month: "short", year: "numeric",
		hour: "2-digit", minute: "2-digit", timeZoneName: "short"}).format(new Date("2026-12-01T16:40:00Z"))`)
	if got := b.text("#timeline li time"); got != want {
		t.Errorf("time shown = %q, want %q (the reader's locale)", got, want)
	}
	webContains(t, "journey", b.text("#journey"), "latest 3 of 25")
	b.checkNoProblems()
}

func TestTrackPageValidation(t *testing.T) {
	t.Parallel()
	srv := newSeededWebServer(t)
	b := newWebTab(t, srv.URL)
	b.open("/")

	// Both fields blank: inline messages, focus on the first, no request.
	b.do("submit blank", chromedp.Click(chromedp.CSS("#track-button")))
	b.waitFor("#tracking-number-error")
	b.wantText("#tracking-number-error", "Enter your tracking number.")
	b.wantText("#carrier-error", "Choose your carrier.")
	if got := webEval[string](b, `document.getElementById("tracking-number").getAttribute("aria-invalid")`); got != "true" {
		t.Errorf("aria-invalid = %q", got)
	}
	if got := webEval[string](b, `document.activeElement.id`); got != "tracking-number" {
		t.Errorf("focus = %q, want tracking-number", got)
	}

	// Only blanks in the tracking number, "Other…" with no name.
	b.do("type spaces", chromedp.SendKeys(chromedp.CSS("#tracking-number"), "   "))
	b.chooseCarrier("__other")
	b.do("submit", chromedp.Click(chromedp.CSS("#track-button")))
	b.waitFor("#carrier-other-error")
	b.wantText("#tracking-number-error", "Enter your tracking number.")
	b.wantText("#carrier-other-error", "Enter the name of your carrier.")
	if n := srv.lookups.Load(); n != 0 {
		t.Errorf("the server got %d lookups, want none", n)
	}
	for _, u := range b.requested() {
		if strings.Contains(u, "/shipment") {
			t.Errorf("the page requested %s", u)
		}
	}

	// What the page cannot catch, the API's 400 says: a deep link with a
	// tracking number over the API's 64 characters.
	long := strings.Repeat("9", 65)
	b.open("/?carrier=DHL&tracking_number=" + long)
	b.waitFor("#lookup-error")
	webContains(t, "400 message", b.text("#lookup-error"), "Please check your input.", "Tracking number longer than 64 characters.")
	webContains(t, "field message", b.text("#tracking-number-error"), "Tracking number longer than 64 characters.")
	b.checkNoProblems()
}

func TestTrackPageDeepLink(t *testing.T) {
	t.Parallel()
	srv := newSeededWebServer(t)
	b := newWebTab(t, srv.URL)

	// Lower-case carrier: the select shows DHL, the shipment opens at once.
	b.open("/?carrier=dhl&tracking_number=TN12345678")
	b.waitFor("#shipment")
	b.wantText("#shipment-title", "TN12345678")
	if got := webEval[string](b, `document.getElementById("tracking-number").value`); got != "TN12345678" {
		t.Errorf("tracking number field = %q", got)
	}
	if got := webEval[string](b, `document.getElementById("carrier").value`); got != "DHL" {
		t.Errorf("carrier field = %q", got)
	}
	if n := srv.lookups.Load(); n != 1 {
		t.Errorf("%d lookups, want 1", n)
	}

	// A carrier not in the list goes to "Other…".
	b.open("/?carrier=Acme%20Post&tracking_number=X1")
	b.waitFor("#lookup-error")
	if got := webEval[string](b, `document.getElementById("carrier").value + "|" + document.getElementById("carrier-other").value`); got != "__other|Acme Post" {
		t.Errorf("carrier fields = %q", got)
	}
	b.wantText("#lookup-error", webMsgNotFound)
	b.checkNoProblems()
}

// TestTrackPageNarrowScreen: at 320 px (the narrowest phones) nothing is
// wider than the screen, and the form is one column.
func TestTrackPageNarrowScreen(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t, "sqlite")
	if _, _, err := st.SeedIfEmpty(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := newWebServer(t, api.Config{Shipments: webWeather(st, webParisWeather(time.Hour))})
	b := newWebTab(t, srv.URL)
	b.do("viewport", chromedp.EmulateViewport(320, 700))
	b.open("/?carrier=FedEx&tracking_number=TN12345681") // longest cities, a 4-digit total
	b.waitFor("#weather .weather-now")
	b.wantText("#articles-total", "€1,000.00")
	if w := webEval[int](b, `document.documentElement.scrollWidth`); w > 320 {
		t.Errorf("the page is %d px wide on a 320 px screen", w)
	}
	if got := webEval[bool](b, `document.getElementById("tracking-number").getBoundingClientRect().bottom <
		document.getElementById("carrier").getBoundingClientRect().top`); !got {
		t.Errorf("the form is not one column at 320 px")
	}
	b.checkNoProblems()
}

func TestTrackPageServerError(t *testing.T) {
	t.Parallel()
	srv := newWebServer(t, api.Config{Shipments: webFake(func(context.Context, string, string) (shipment.Shipment, error) {
		return shipment.Shipment{}, errors.New("disk on fire")
	})})
	b := newWebTab(t, srv.URL)
	b.open("/")
	b.track("TN12345678", "DHL")
	b.waitFor("#lookup-error")
	b.settle()
	b.wantText("#lookup-error", webMsgGeneric)
	b.wantText("#loading", "")
	if strings.Contains(b.pageText(), "disk on fire") || strings.Contains(b.pageText(), `"status"`) {
		t.Errorf("the page shows the raw error:\n%s", b.pageText())
	}
	b.checkNoProblems()
}

func TestTrackPageSlowAnswer(t *testing.T) {
	t.Parallel()
	srv := newWebServer(t, api.Config{
		RequestTimeout: time.Minute,
		Shipments: webFake(func(ctx context.Context, _, _ string) (shipment.Shipment, error) {
			<-ctx.Done() // until the browser gives up
			return shipment.Shipment{}, ctx.Err()
		}),
	})
	b := newWebTab(t, srv.URL)
	b.open("/")
	// The page waits 8 s; data-timeout-ms shortens that for the test.
	webEval[chromedp.Void](b, `document.documentElement.dataset.timeoutMs = "700"`)
	b.track("TN12345678", "DHL")
	b.waitFor("#loading")
	if got := webEval[string](b, `document.getElementById("result").getAttribute("aria-busy")`); got != "true" {
		t.Errorf("aria-busy while waiting = %q", got)
	}
	b.waitFor("#lookup-error")
	b.settle()
	b.wantText("#lookup-error", webMsgSlow)
	b.wantText(".button-label", "Track parcel")
	b.checkNoProblems()
}

func TestTrackPageOnlyLocalRequests(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t, "sqlite")
	if _, _, err := st.SeedIfEmpty(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := newWebServer(t, api.Config{Shipments: webWeather(st, webParisWeather(10*time.Minute))})
	b := newWebTab(t, srv.URL)
	b.open("/?carrier=DHL&tracking_number=TN12345678")
	b.waitFor("#weather img")
	b.do("wait for the icon", chromedp.Poll[chromedp.Void](`document.querySelector("#weather img").complete`))

	host := strings.TrimPrefix(srv.URL, "http://")
	seen := map[string]bool{}
	for _, raw := range b.requested() {
		u, err := url.Parse(raw)
		if err != nil || u.Host != host || (u.Scheme != "http" && u.Scheme != "data") {
			t.Errorf("request to %s: only %s may be asked", raw, host)
			continue
		}
		seen[u.Path] = true
	}
	// The Performance API agrees: every resource came from the server.
	for _, name := range webEval[[]string](b, `performance.getEntriesByType("resource").map(e => e.name)`) {
		if !strings.HasPrefix(name, srv.URL+"/") {
			t.Errorf("resource %s is not from the test server", name)
		}
	}
	for _, p := range []string{"/", "/assets/app.js", "/assets/style.css", "/shipment/", "/assets/icons/partly-cloudy.svg"} {
		if !seen[p] {
			t.Errorf("no request for %s seen (saw %v)", p, seen)
		}
	}
	b.checkNoProblems()
}

// TestScreenshots writes docs/screenshots/trackntrace-{375,1280}.png of a
// seed shipment with weather. Run it with SHIPTRACK_SCREENSHOTS=1.
func TestScreenshots(t *testing.T) {
	if os.Getenv("SHIPTRACK_SCREENSHOTS") != "1" {
		t.Skip("set SHIPTRACK_SCREENSHOTS=1 to write docs/screenshots")
	}
	st := storetest.Open(t, "sqlite")
	if _, _, err := st.SeedIfEmpty(context.Background()); err != nil {
		t.Fatal(err)
	}
	withW := webWeather(st, webParisWeather(35*time.Minute))
	// A journey of a few events, as a carrier would have pushed them
	// (the seed's shipments have one at most).
	journey := &mock.Shipments{ListFn: withW.ListFn, GetFn: func(ctx context.Context, carrier, tn string) (shipment.Shipment, error) {
		sh, err := withW.GetFn(ctx, carrier, tn)
		day := time.Now().UTC().Truncate(24 * time.Hour).Add(-24 * time.Hour)
		sh.Events = []shipment.Event{
			{OccurredAt: day.Add(15*time.Hour + 5*time.Minute), Status: "in_transit", StatusText: "inbound-scan", Location: "Paris hub", Message: "Arrived at the destination hub", Source: "api"},
			{OccurredAt: day.Add(6*time.Hour + 40*time.Minute), Status: "in_transit", StatusText: "in-transit", Location: "Berlin hub", Message: "Left the sorting centre", Source: "api"},
			{OccurredAt: day.Add(-14 * time.Hour), Status: "info_received", StatusText: "scanned", Location: "Berlin", Source: "import"},
		}
		sh.Status, sh.StatusText, sh.EventCount = "in_transit", "inbound-scan", 3
		return sh, err
	}}
	srv := newWebServer(t, api.Config{Shipments: journey})
	for _, width := range []int64{375, 1280} {
		t.Run(fmt.Sprint(width), func(t *testing.T) {
			b := newWebTab(t, srv.URL)
			scale := 1.0
			if width < 500 {
				scale = 2 // a phone's pixel density
			}
			b.do("viewport", chromedp.EmulateViewport(width, 800, chromedp.EmulateScale(scale)))
			b.open("/?carrier=DHL&tracking_number=TN12345678")
			b.waitFor("#weather img")
			b.do("settle", chromedp.Poll[chromedp.Void](`(() => { const i = document.querySelector("#weather img");
				return i.complete && i.naturalWidth > 0 && document.activeElement === document.body; })()`))
			png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join("..", "docs", "screenshots", fmt.Sprintf("trackntrace-%d.png", width))
			if err := os.WriteFile(out, png, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s (%d bytes)", out, len(png))
			b.checkNoProblems()
		})
	}
}

// ---- HTTP tests (no browser) -----------------------------------------------

func webGet(t *testing.T, u string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(body)
}

func TestWebPage(t *testing.T) {
	t.Parallel()
	srv := newWebServer(t, api.Config{Shipments: webFake(nil)})
	res, body := webGet(t, srv.URL+"/?carrier=DHL&tracking_number=TN12345678")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %d", res.StatusCode)
	}
	for k, want := range map[string]string{
		"Content-Type":           "text/html; charset=utf-8",
		"X-Content-Type-Options": "nosniff",
		"Cache-Control":          "no-cache",
	} {
		if got := res.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	csp := res.Header.Get("Content-Security-Policy")
	if !strings.HasPrefix(csp, "default-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
	webContains(t, "page", body, `<html lang="en">`, `<h1`, `aria-live="polite"`, `<label for="tracking-number">`, `<label for="carrier">`)

	// Under that policy an inline script, style or handler would not run.
	for _, re := range []string{`<script(?:\s[^>]*)?>\s*[^<\s]`, `<style`, `\sstyle=`, `\son[a-z]+=`, `javascript:`} {
		if m := regexp.MustCompile(`(?i)` + re).FindString(body); m != "" {
			t.Errorf("the page has inline code the CSP blocks: %q", m)
		}
	}
	// Every asset the page names is served, with a version for caching,
	// and nothing comes from another host.
	refs := regexp.MustCompile(`(?:src|href)="([^"#]+)"`).FindAllStringSubmatch(body, -1)
	if len(refs) < 3 {
		t.Fatalf("page references %v", refs)
	}
	for _, m := range refs {
		ref := m[1]
		if ref == "/" {
			continue
		}
		if !strings.HasPrefix(ref, "/assets/") || !strings.Contains(ref, "?v=") {
			t.Errorf("page references %q, want a versioned /assets/ URL", ref)
			continue
		}
		r, _ := webGet(t, srv.URL+ref)
		if r.StatusCode != http.StatusOK || r.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Errorf("GET %s = %d, Cache-Control %q", ref, r.StatusCode, r.Header.Get("Cache-Control"))
		}
	}

	// Revalidation costs a 304.
	r, _ := webGet(t, srv.URL+"/", "If-None-Match", res.Header.Get("ETag"))
	if r.StatusCode != http.StatusNotModified {
		t.Errorf("GET / with its ETag = %d, want 304", r.StatusCode)
	}
}

func TestWebAssets(t *testing.T) {
	t.Parallel()
	srv := newWebServer(t, api.Config{Shipments: webFake(nil)})
	for _, tt := range []struct{ path, ctype, contains string }{
		{"/assets/app.js", "text/javascript; charset=utf-8", `"use strict"`},
		{"/assets/style.css", "text/css; charset=utf-8", ":root"},
		{"/assets/icons/sun.svg", "image/svg+xml", "<svg"},
		{"/assets/icons/logo.svg", "image/svg+xml", "<svg"},
	} {
		res, body := webGet(t, srv.URL+tt.path)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d", tt.path, res.StatusCode)
			continue
		}
		if got := res.Header.Get("Content-Type"); got != tt.ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", tt.path, got, tt.ctype)
		}
		if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options %q", tt.path, got)
		}
		if got := res.Header.Get("Cache-Control"); got != "public, max-age=300" {
			t.Errorf("GET %s: Cache-Control %q", tt.path, got)
		}
		if res.Header.Get("ETag") == "" {
			t.Errorf("GET %s: no ETag", tt.path)
		}
		webContains(t, tt.path, body, tt.contains)
	}
	for _, p := range []string{"/assets/nope", "/assets/", "/assets/index.html", "/assets/icons", "/assets/../web.go", "/assets/icons/../../web_test.go"} {
		res, body := webGet(t, srv.URL+p)
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, res.StatusCode)
			continue
		}
		if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("GET %s: Content-Type %q, want a problem", p, ct)
		}
		var prob api.Problem
		if err := json.Unmarshal([]byte(body), &prob); err != nil || prob.Status != http.StatusNotFound {
			t.Errorf("GET %s: body %s", p, body)
		}
	}
}
