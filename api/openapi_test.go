package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/shiptrack/shiptrack/api"
	"github.com/shiptrack/shiptrack/internal/mock"
	"github.com/shiptrack/shiptrack/jobs"
	"github.com/shiptrack/shiptrack/shipment"
	"github.com/shiptrack/shiptrack/store"
	"github.com/shiptrack/shiptrack/store/storetest"
)

// loadSpec loads the embedded document and validates it as OpenAPI 3.1
// (kin-openapi switches to JSON Schema 2020-12 for 3.1 documents).
// specRouter routes requests by openapi.json's paths, for validating
// answers against it.
func specRouter(t *testing.T) routers.Router {
	t.Helper()
	router, err := legacy.NewRouter(loadSpec(t))
	if err != nil {
		t.Fatal(err)
	}
	return router
}

func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader() // external $refs stay disallowed: the document must be self-contained
	doc, err := loader.LoadFromData(api.OpenAPI())
	if err != nil {
		t.Fatalf("load openapi.json: %v", err)
	}
	if err := doc.Validate(loader.Context, openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("openapi.json is not valid: %v", err)
	}
	return doc
}

func TestOpenAPIDocumentIsValid31(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t)
	if doc.OpenAPI != "3.1.0" || !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	for _, name := range []string{"Shipment", "Article", "Location", "Weather", "Problem", "WeatherStatus", "Ready"} {
		if doc.Components.Schemas[name] == nil {
			t.Errorf("components/schemas/%s missing", name)
		}
	}

	// The validator must really apply 3.1 semantics, or the response
	// checks below would prove nothing: null is allowed where documented
	// and nowhere else.
	shipment := doc.Components.Schemas["Shipment"].Value
	var ok map[string]any
	if err := json.Unmarshal([]byte(`{"tracking_number":"TN1","carrier":"DHL","status":"x","status_text":"x","sender_address":"a",
		"receiver_address":"b","receiver_location":null,"articles":[],"weather":null,
		"created_at":"2026-11-26T03:31:12Z","updated_at":"2026-11-26T03:31:12Z"}`), &ok); err != nil {
		t.Fatal(err)
	}
	if err := shipment.VisitJSON(ok, openapi3.EnableJSONSchema2020()); err != nil {
		t.Errorf("a shipment without location and weather does not validate: %v", err)
	}
	for field, bad := range map[string]any{
		"weather": "sunny", "receiver_location": map[string]any{"city": "Paris"},
		"articles": nil, "carrier": nil, "unknown": 1,
	} {
		v := map[string]any{}
		for k, x := range ok {
			v[k] = x
		}
		v[field] = bad
		if err := shipment.VisitJSON(v, openapi3.EnableJSONSchema2020()); err == nil {
			t.Errorf("a shipment with %s = %v validates", field, bad)
		}
	}
}

// fullServer builds the API with every optional route switched on.
func fullServer(sh api.Shipments, checks ...api.Check) *api.Server {
	return api.New(api.Config{
		Shipments:   sh,
		Weather:     specStatus{Provider: "weatherapi", Interval: "2h0m0s", LastRunAt: time.Date(2026, 11, 26, 3, 40, 12, 0, time.UTC), LastQueued: 5, Fetched: 5},
		Metrics:     metrics.NewSet(),
		ReadyChecks: checks,
	})
}

// specStatus is a fixed weather pipeline status.
type specStatus jobs.Status

func (s specStatus) Status(context.Context) jobs.Status { return jobs.Status(s) }

// withWeather gives the seeded DHL shipment weather, so the Weather schema
// is checked against real output and not only null.
func withWeather(st *store.Store) *mock.Shipments {
	return &mock.Shipments{
		ListFn: func(ctx context.Context, p shipment.ListParams) (shipment.Page, error) {
			page, err := st.List(ctx, p)
			for i := range page.Shipments {
				addWeather(&page.Shipments[i])
			}
			return page, err
		},
		GetFn: func(ctx context.Context, carrier, tn string) (shipment.Shipment, error) {
			s, err := st.Get(ctx, carrier, tn)
			addWeather(&s)
			return s, err
		},
	}
}

func addWeather(s *shipment.Shipment) {
	if s.TrackingNumber != "TN12345678" {
		return
	}
	now := time.Now().UTC()
	s.Weather = &shipment.Weather{Query: "Paris, France", TemperatureC: 8.2, Condition: "Partly cloudy", ConditionCode: "1003",
		Humidity: 81, WindKph: 15.1, ObservedAt: now.Add(-10 * time.Minute), FetchedAt: now, Provider: "weatherapi"}
}

// specCase is one real request. badRequest marks requests the API must
// refuse: the document has to refuse them too.
type specCase struct {
	name, method, target, contentType string
	body                              []byte
	header                            map[string]string
	status                            int
	badRequest                        bool
}

type specResult struct {
	status int
	header http.Header
	body   []byte
}

// check sends c to base, then validates the request and the real response
// against the document.
func (c specCase) check(t *testing.T, router routers.Router, base string) specResult {
	t.Helper()
	newReq := func() *http.Request {
		req, err := http.NewRequest(c.method, base+c.target, bytes.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		if c.contentType != "" {
			req.Header.Set("Content-Type", c.contentType)
		}
		for k, v := range c.header {
			req.Header.Set(k, v)
		}
		return req
	}
	resp, err := http.DefaultClient.Do(newReq())
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	res := specResult{resp.StatusCode, resp.Header, body}
	if resp.StatusCode != c.status {
		t.Fatalf("%s %s = %d, want %d: %s", c.method, c.target, resp.StatusCode, c.status, body)
	}
	if resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("%s %s: no X-Request-Id", c.method, c.target)
	}

	ctx := context.Background()
	req := newReq() // the sent one's body is spent
	route, params, err := findRoute(router, req)
	if err != nil {
		t.Fatalf("%s %s: not in openapi.json: %v", c.method, c.target, err)
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true,
		// The token is optional in the document (it depends on the server's
		// configuration); whether it is enforced is checked by status.
		AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	err = openapi3filter.ValidateRequest(ctx, in)
	switch {
	case c.badRequest && err == nil:
		t.Errorf("%s %s: openapi.json accepts a request the API refuses with %d", c.method, c.target, c.status)
	case !c.badRequest && err != nil:
		t.Errorf("%s %s: request does not match openapi.json: %v", c.method, c.target, err)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Options: opts}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		t.Errorf("%s %s: %d response does not match openapi.json: %v\n%s", c.method, c.target, resp.StatusCode, err, truncate(body))
	}
	return res
}

// findRoute finds req's operation. Echo's /assets/* matches several
// segments but an OpenAPI path parameter only one, so a nested asset is
// looked up as /assets/{path} with the whole rest as its path parameter.
func findRoute(router routers.Router, req *http.Request) (*routers.Route, map[string]string, error) {
	rest, ok := strings.CutPrefix(req.URL.Path, "/assets/")
	if !ok || !strings.Contains(rest, "/") {
		return router.FindRoute(req)
	}
	one := req.Clone(req.Context())
	one.URL.Path = "/assets/x"
	route, params, err := router.FindRoute(one)
	if err == nil {
		params["path"] = rest
	}
	return route, params, err
}

func truncate(b []byte) []byte {
	if len(b) > 600 {
		return append(b[:600:600], "…"...)
	}
	return b
}

func multipartBody(t *testing.T, fields map[string]string) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		if err := w.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.FormDataContentType(), buf.Bytes()
}

func TestOpenAPIDescribesRealResponses(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t)
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	st := storetest.Open(t, "sqlite")
	if _, _, err := st.SeedIfEmpty(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(fullServer(withWeather(st), api.Check{Name: "database", Fn: st.Ping}))
	t.Cleanup(srv.Close)

	mpType, mpBody := multipartBody(t, map[string]string{"tracking_number": "TN12345680", "carrier": "DPD"})
	cases := []specCase{
		{name: "list", method: "GET", target: "/shipment/", status: 200},
		{name: "list without slash", method: "GET", target: "/shipment", status: 200},
		{name: "list filtered", method: "GET", target: "/shipment/?carrier=dhl&status=in_transit", status: 200},
		{name: "bad limit", method: "GET", target: "/shipment/?limit=0", status: 400, badRequest: true},
		{name: "bad cursor", method: "GET", target: "/shipment/?cursor=nonsense", status: 400},
		{name: "lookup JSON", method: "POST", target: "/shipment/", contentType: "application/json",
			body: []byte(`{"tracking_number":"TN12345678","carrier":"dhl"}`), status: 200},
		{name: "lookup form", method: "POST", target: "/shipment", contentType: "application/x-www-form-urlencoded",
			body: []byte("tracking_number=TN12345679&carrier=UPS"), status: 200},
		{name: "lookup multipart", method: "POST", target: "/shipment/", contentType: mpType, body: mpBody, status: 200},
		{name: "lookup unknown", method: "POST", target: "/shipment/", contentType: "application/json",
			body: []byte(`{"tracking_number":"TN00000000","carrier":"DHL"}`), status: 404},
		{name: "lookup missing field", method: "POST", target: "/shipment/", contentType: "application/json",
			body: []byte(`{"carrier":"DHL"}`), status: 400, badRequest: true},
		{name: "lookup text", method: "POST", target: "/shipment/", contentType: "text/plain", body: []byte("x"), status: 415, badRequest: true},
		{name: "lookup too large", method: "POST", target: "/shipment/", contentType: "application/json",
			body: []byte(`{"tracking_number":"` + strings.Repeat("x", 70<<10) + `","carrier":"DHL"}`), status: 413, badRequest: true},
		{name: "get with weather", method: "GET", target: "/shipment/DHL/TN12345678", status: 200},
		{name: "get", method: "GET", target: "/shipment/gls/TN12345682", status: 200},
		{name: "get unknown", method: "GET", target: "/shipment/DHL/TN00000000", status: 404},
		{name: "own request id", method: "GET", target: "/healthz", header: map[string]string{"X-Request-Id": "spec-test-1"}, status: 200},
		{name: "ready", method: "GET", target: "/readyz", status: 200},
		{name: "weather status", method: "GET", target: "/weather/status", status: 200},
		{name: "metrics", method: "GET", target: "/metrics", status: 200},
		{name: "openapi", method: "GET", target: "/openapi.json", status: 200},
		{name: "docs", method: "GET", target: "/docs", status: 200},
		{name: "docs script", method: "GET", target: "/docs/assets/swagger-ui-bundle.js", status: 200},
		{name: "docs style", method: "GET", target: "/docs/assets/swagger-ui.css", status: 200},
		{name: "docs init", method: "GET", target: "/docs/assets/init.js", status: 200},
	}
	results := map[string]specResult{}
	for _, c := range cases {
		results[c.name] = c.check(t, router, srv.URL)
	}

	// Pagination: the Link header is documented, and following it works.
	first := specCase{method: "GET", target: "/shipment/?limit=2", status: 200}.check(t, router, srv.URL)
	link := first.header.Get("Link")
	next, ok := strings.CutSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
	if !ok {
		t.Fatalf("Link = %q", link)
	}
	specCase{method: "GET", target: next, status: 200}.check(t, router, srv.URL)

	if got := results["own request id"].header.Get("X-Request-Id"); got != "spec-test-1" {
		t.Errorf("X-Request-Id = %q, want the one sent", got)
	}
	var withW struct{ Weather *api.WeatherJSON }
	if json.Unmarshal(results["get with weather"].body, &withW) != nil || withW.Weather == nil {
		t.Errorf("the weather case has no weather: %s", results["get with weather"].body)
	}
	if !bytes.Equal(results["openapi"].body, api.OpenAPI()) {
		t.Error("GET /openapi.json does not serve the embedded document")
	}
	checkDocsPage(t, results["docs"])

	// 405 has no operation to validate against: check it against the
	// documented MethodNotAllowed response by hand.
	r := specCase{method: "DELETE", target: "/shipment/", status: 405}
	if _, _, err := router.FindRoute(httptest.NewRequest(r.method, r.target, nil)); err == nil ||
		!strings.Contains(err.Error(), routers.ErrMethodNotAllowed.Error()) {
		t.Errorf("DELETE /shipment/: want method not allowed in openapi.json, got %v", err)
	}
	checkMethodNotAllowed(t, doc, srv.URL+r.target)

	// The Track & Trace page and its files.
	html := specCase{method: "GET", target: "/", status: 200}.check(t, router, srv.URL)
	asset := regexp.MustCompile(`(?:src|href)="/?(assets/[^"?#]+)`).FindSubmatch(html.body)
	if asset == nil {
		t.Fatalf("GET / links no /assets/ file:\n%s", truncate(html.body))
	}
	a := specCase{method: "GET", target: "/" + string(asset[1]), status: 200}.check(t, router, srv.URL)
	specCase{method: "GET", target: "/" + string(asset[1]), header: map[string]string{"If-None-Match": a.header.Get("ETag")},
		status: 304}.check(t, router, srv.URL)
	for _, name := range []string{"icons/logo.svg", "style.css"} { // nested and flat, unversioned
		specCase{method: "GET", target: "/assets/" + name, status: 200}.check(t, router, srv.URL)
	}
	specCase{method: "GET", target: "/assets/no-such-file.js", status: 404}.check(t, router, srv.URL)
}

// TestOpenAPIDescribesAccessControl validates the answers of a server
// configured with API tokens and a lookup rate limit.
func TestOpenAPIDescribesAccessControl(t *testing.T) {
	t.Parallel()
	router := specRouter(t)
	st := storetest.Open(t, "sqlite")
	if _, _, err := st.SeedIfEmpty(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(api.Config{Shipments: st, Tokens: []string{"spec-token"}, RateLimit: 0.01, RateBurst: 1,
		TokenFailLimit: 2, TokenFailWindow: time.Hour}))
	t.Cleanup(srv.Close)
	specCase{method: "GET", target: "/shipment/?limit=1", header: map[string]string{"Authorization": "Bearer spec-token"}, status: 200}.check(t, router, srv.URL)
	specCase{method: "GET", target: "/shipment/", status: 401}.check(t, router, srv.URL)
	specCase{method: "GET", target: "/shipment/", header: map[string]string{"Authorization": "Bearer wrong"}, status: 401}.check(t, router, srv.URL)
	specCase{method: "GET", target: "/shipment/", header: map[string]string{"Authorization": "Bearer spec-token"}, status: 429}.check(t, router, srv.URL)
	specCase{method: "GET", target: "/shipment/UPS/TN12345679", status: 200}.check(t, router, srv.URL)
	specCase{method: "GET", target: "/shipment/UPS/TN12345679", status: 429}.check(t, router, srv.URL)
	specCase{method: "POST", target: "/shipment/", contentType: "application/json",
		body: []byte(`{"tracking_number":"TN12345679","carrier":"UPS"}`), status: 429}.check(t, router, srv.URL)
}

// TestOpenAPIDescribesFailures validates the server-side errors, which
// need a failing store or readiness check.
func TestOpenAPIDescribesFailures(t *testing.T) {
	t.Parallel()
	router := specRouter(t)
	for _, tc := range []struct {
		name   string
		err    error
		status int
	}{
		{"database down", shipment.ErrUnavailable, 503},
		{"internal error", errors.New("disk on fire"), 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			down := func(context.Context) error { return errors.New("connection refused") }
			srv := httptest.NewServer(fullServer(failing(tc.err), api.Check{Name: "database", Fn: down}))
			t.Cleanup(srv.Close)
			specCase{method: "GET", target: "/shipment/", status: tc.status}.check(t, router, srv.URL)
			specCase{method: "GET", target: "/shipment/DHL/TN12345678", status: tc.status}.check(t, router, srv.URL)
			specCase{method: "POST", target: "/shipment/", contentType: "application/json",
				body: []byte(`{"tracking_number":"TN12345678","carrier":"DHL"}`), status: tc.status}.check(t, router, srv.URL)
			specCase{method: "GET", target: "/readyz", status: 503}.check(t, router, srv.URL)
		})
	}
}

// checkMethodNotAllowed validates a real 405 against the document's
// MethodNotAllowed response.
func checkMethodNotAllowed(t *testing.T, doc *openapi3.T, url string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("DELETE = %d, want 405", resp.StatusCode)
	}
	want := doc.Components.Responses["MethodNotAllowed"].Value
	for name := range want.Headers {
		if resp.Header.Get(name) == "" {
			t.Errorf("405 lacks the documented %s header", name)
		}
	}
	mt := want.Content.Get(resp.Header.Get("Content-Type"))
	if mt == nil {
		t.Fatalf("405 Content-Type %q is not documented", resp.Header.Get("Content-Type"))
	}
	var body any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if err := mt.Schema.Value.VisitJSON(body, openapi3.EnableJSONSchema2020()); err != nil {
		t.Errorf("405 body does not match the Problem schema: %v", err)
	}
}

// checkDocsPage checks that /docs loads nothing from elsewhere, renders
// openapi.json with Swagger UI from this server, and that its
// Content-Security-Policy runs scripts from this origin only.
func checkDocsPage(t *testing.T, r specResult) {
	t.Helper()
	page := string(r.body)
	if !strings.HasPrefix(strings.ToLower(page), "<!doctype html>") {
		t.Errorf("/docs is not an HTML page: %.80s", page)
	}
	if m := regexp.MustCompile(`(?i)(?:src|href)\s*=\s*["']?(?:https?:)?//|@import|\bimport\s*\(`).FindString(page); m != "" {
		t.Errorf("/docs loads something from elsewhere: %q", m)
	}
	for _, tag := range []string{
		`<link rel="stylesheet" href="/docs/assets/swagger-ui\.css\?v=[0-9a-f]{12}">`,
		`<script defer src="/docs/assets/swagger-ui-bundle\.js\?v=[0-9a-f]{12}"></script>`,
		`<script defer src="/docs/assets/init\.js\?v=[0-9a-f]{12}"></script>`,
	} {
		if !regexp.MustCompile(tag).MatchString(page) {
			t.Errorf("/docs lacks %s", tag)
		}
	}
	if strings.Count(page, "<script") != 2 {
		t.Error("/docs has an inline script, which its Content-Security-Policy refuses")
	}
	csp := r.header.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'none'", "script-src 'self';", "style-src 'self';", "connect-src 'self';"} {
		if !strings.Contains(csp, d) {
			t.Errorf("/docs Content-Security-Policy %q lacks %q", csp, d)
		}
	}
}
