package api_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"

	"github.com/shiptrack/shiptrack/api"
	"github.com/shiptrack/shiptrack/shipment"
)

// TestHTTPMetrics: every answered request is counted once under its route
// pattern, method and sent status, including errors, panics and unknown
// routes; scrapes of /metrics are not.
func TestHTTPMetrics(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		store api.Shipments
		reqs  []string // "METHOD PATH"
		want  []string
	}{
		{"not found", failing(shipment.ErrNotFound), []string{"GET /shipment/DHL/TN1", "GET /shipment/DHL/TN2"}, []string{
			`shiptrack_http_requests_total{code="404",host="",method="GET",url="/shipment/:carrier/:tracking_number"} 2`,
			`shiptrack_http_request_duration_seconds_count{code="404",host="",method="GET",url="/shipment/:carrier/:tracking_number"} 2`,
			`shiptrack_http_response_size_bytes_count{code="404",host="",method="GET",url="/shipment/:carrier/:tracking_number"} 2`,
			`shiptrack_http_request_size_bytes_count{code="404",host="",method="GET",url="/shipment/:carrier/:tracking_number"} 2`,
		}},
		{"panic", failing(nil), []string{"GET /shipment/DHL/TN1"}, []string{
			`shiptrack_http_requests_total{code="500",host="",method="GET",url="/shipment/:carrier/:tracking_number"} 1`,
		}},
		{"unknown route and method", failing(nil), []string{"GET /nope", "PROPFIND /healthz", "GET /healthz"}, []string{
			`shiptrack_http_requests_total{code="404",host="",method="GET",url="unmatched"} 1`,
			`shiptrack_http_requests_total{code="405",host="",method="OTHER",url="/healthz"} 1`,
			`shiptrack_http_requests_total{code="200",host="",method="GET",url="/healthz"} 1`,
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(api.New(api.Config{Shipments: tt.store, Metrics: metrics.NewSet()}))
			t.Cleanup(srv.Close)
			for _, r := range tt.reqs {
				method, path, _ := strings.Cut(r, " ")
				do(t, method, srv.URL+path, "", "")
			}
			do(t, "GET", srv.URL+"/metrics", "", "")
			body := string(do(t, "GET", srv.URL+"/metrics", "", "").body)
			for _, w := range tt.want {
				if !strings.Contains(body, w+"\n") {
					t.Errorf("/metrics lacks %s", w)
				}
			}
			if strings.Contains(body, `url="/metrics"`) {
				t.Error("scrapes of /metrics are counted")
			}
			if n := strings.Count(body, "shiptrack_http_requests_total{"); n != strings.Count(strings.Join(tt.want, "\n"), "shiptrack_http_requests_total{") {
				t.Errorf("%d request series, want those listed:\n%s", n, body)
			}
		})
	}
}
