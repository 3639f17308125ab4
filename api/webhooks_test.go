package api_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shiptrack/shiptrack/api"
	"github.com/shiptrack/shiptrack/shipment"
	"github.com/shiptrack/shiptrack/store/storetest"
	"github.com/shiptrack/shiptrack/webhook"
)

// TestWebhookAdminRoutes drives the admin routes on a real store and
// validates every answer against openapi.json: the secret only at
// creation and rotation, URL checks (https, private addresses, the
// service's own address), scopes, keyset pages, redeliver.
func TestWebhookAdminRoutes(t *testing.T) {
	t.Parallel()
	router := specRouter(t)
	st := storetest.Open(t, "sqlite")
	ctx := context.Background()
	if _, _, err := st.SeedIfEmpty(ctx); err != nil {
		t.Fatal(err)
	}
	newSrv := func(p webhook.Policy, admin ...string) *httptest.Server {
		srv := httptest.NewServer(api.New(api.Config{Shipments: st, Writer: st, Webhooks: st, AdminTokens: admin,
			WriteTokens: []string{"writer"}, WebhookPolicy: p}))
		t.Cleanup(srv.Close)
		return srv
	}
	pub := newSrv(webhook.Policy{}, "admin")
	priv := newSrv(webhook.Policy{AllowPrivate: true, Self: []string{"127.0.0.1:8080"}}, "admin")
	off := newSrv(webhook.Policy{})
	auth := map[string]string{"Authorization": "Bearer admin"}
	// specToo: openapi.json refuses the request as well (what its schema
	// can say); the address policy it cannot.
	post := func(srv, body string, status int, specToo ...bool) specResult {
		return specCase{method: "POST", target: "/webhooks", contentType: "application/json", body: []byte(body), header: auth,
			status: status, badRequest: len(specToo) > 0}.check(t, router, srv)
	}
	post(pub.URL, `{"url":"http://example.com/h"}`, 400)                            // https only
	post(pub.URL, `{"url":"https://127.0.0.1/h"}`, 400)                             // loopback
	post(priv.URL, `{"url":"http://127.0.0.1:8080/h"}`, 400)                        // the service itself
	post(priv.URL, `{"url":"http://127.0.0.1:9/h","statuses":["lost"]}`, 400, true) // unknown status
	post(priv.URL, `{"url":"http://127.0.0.1:9/h","carriers":["a,b"]}`, 400)        // comma
	post(priv.URL, `{"url":"http://127.0.0.1:9/h","colour":"red"}`, 400, true)      // unknown member
	post(priv.URL, `{"url":"http://127.0.0.1:9/h\u0000"}`, 400)                     // control character
	created := post(priv.URL, `{"url":"http://127.0.0.1:9/h","statuses":["delivered"],"carriers":["DHL"]}`, 201)
	var ep api.EndpointJSON
	if err := json.Unmarshal(created.body, &ep); err != nil || ep.Secret == "" || ep.ID == 0 || ep.Carriers[0] != "dhl" {
		t.Fatalf("created: %s %v", created.body, err)
	}
	id := "/webhooks/" + jsonNumber(ep.ID)
	specCase{method: "POST", target: "/webhooks", contentType: "application/json", body: []byte(`{"url":"https://example.com"}`), status: 401}.check(t, router, priv.URL)
	specCase{method: "GET", target: "/webhooks", header: map[string]string{"Authorization": "Bearer writer"}, status: 403}.check(t, router, priv.URL)
	specCase{method: "GET", target: "/webhooks", header: auth, status: 403}.check(t, router, off.URL)
	list := specCase{method: "GET", target: "/webhooks", header: auth, status: 200}.check(t, router, priv.URL)
	if strings.Contains(string(list.body), ep.Secret) || strings.Contains(string(list.body), `"secret"`) {
		t.Fatalf("the list shows a secret: %s", list.body)
	}
	rot := specCase{method: "POST", target: id + "/rotate", header: auth, status: 200}.check(t, router, priv.URL)
	var rotated api.EndpointJSON
	if json.Unmarshal(rot.body, &rotated) != nil || rotated.Secret == "" || rotated.Secret == ep.Secret || rotated.PreviousSecretValidUntil == "" {
		t.Fatalf("rotated: %s", rot.body)
	}
	// Three status changes of the seeded DHL shipment: three deliveries
	// (the filter takes delivered only, so move it away and back).
	for i, text := range []string{"delivered", "transit", "delivered", "transit", "delivered"} {
		if _, err := st.AppendEvents(ctx, []shipment.EventInput{{Carrier: "DHL", TrackingNumber: "TN12345678",
			Event: shipment.Event{EventID: "w" + jsonNumber(uint64(i)), OccurredAt: time.Now().Add(time.Duration(i+1) * time.Minute), StatusText: text}}}); err != nil {
			t.Fatal(err)
		}
	}
	page := specCase{method: "GET", target: id + "/deliveries?limit=2", header: auth, status: 200}.check(t, router, priv.URL)
	var p1 api.DeliveriesJSON
	if json.Unmarshal(page.body, &p1) != nil || len(p1.Deliveries) != 2 || p1.NextCursor == nil {
		t.Fatalf("first page: %s", page.body)
	}
	page = specCase{method: "GET", target: id + "/deliveries?limit=2&cursor=" + *p1.NextCursor, header: auth, status: 200}.check(t, router, priv.URL)
	var p2 api.DeliveriesJSON
	if json.Unmarshal(page.body, &p2) != nil || len(p2.Deliveries) != 1 || p2.NextCursor != nil || p2.Deliveries[0].ID == p1.Deliveries[1].ID {
		t.Fatalf("second page: %s", page.body)
	}
	specCase{method: "GET", target: id + "/deliveries?limit=0", header: auth, status: 400, badRequest: true}.check(t, router, priv.URL)
	specCase{method: "GET", target: "/webhooks/999/deliveries", header: auth, status: 404}.check(t, router, priv.URL)
	specCase{method: "POST", target: id + "/deliveries/" + p2.Deliveries[0].ID + "/redeliver", header: auth, status: 202}.check(t, router, priv.URL)
	specCase{method: "POST", target: id + "/deliveries/nope/redeliver", header: auth, status: 404}.check(t, router, priv.URL)
	specCase{method: "POST", target: id + "/resume", header: auth, status: 204}.check(t, router, priv.URL)
	specCase{method: "POST", target: "/webhooks/999/resume", header: auth, status: 404}.check(t, router, priv.URL)
	specCase{method: "DELETE", target: id, header: auth, status: 204}.check(t, router, priv.URL)
	specCase{method: "DELETE", target: id, header: auth, status: 404}.check(t, router, priv.URL)
	specCase{method: "DELETE", target: "/webhooks/x", header: auth, status: 400, badRequest: true}.check(t, router, priv.URL)
}

func jsonNumber(n uint64) string { b, _ := json.Marshal(n); return string(b) }
