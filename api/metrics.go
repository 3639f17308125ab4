package api

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/labstack/echo/v4"
)

// httpMetrics counts requests and their latency and sizes by route,
// method and status. The names and labels are those of Echo's contrib
// Prometheus middleware, which this replaces: that one resolves four
// label sets per request, 6% of a cached lookup's CPU; this one resolves
// a series once and keeps it.
type httpMetrics struct {
	set    *metrics.Set
	series sync.Map // seriesKey -> *httpSeries
}

// seriesKey is one label set. Every part is bounded: a status code, one
// of a fixed set of methods, a route pattern or "unmatched".
type seriesKey struct {
	code        int
	method, url string
}

type httpSeries struct {
	requests                    *metrics.Counter
	duration, reqSize, respSize *metrics.PrometheusHistogram
}

// durationBuckets are client_golang's default buckets, which these
// histograms had before.
var durationBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// sizeBuckets spans 1 KiB to 10 MiB, as Echo's contrib middleware did.
var sizeBuckets = []float64{1 << 10, 2 << 10, 5 << 10, 10 << 10, 100 << 10, 500 << 10, 1 << 20, 2.5 * (1 << 20), 5 << 20, 10 << 20}

func newHTTPMetrics(set *metrics.Set) *httpMetrics {
	return &httpMetrics{set: set}
}

func (m *httpMetrics) seriesFor(k seriesKey) *httpSeries {
	if s, ok := m.series.Load(k); ok {
		return s.(*httpSeries)
	}
	// The labels as they were, host included (always empty: a
	// client-chosen Host header must not make series), in the sorted
	// order client_golang wrote them.
	l := `{code="` + strconv.Itoa(k.code) + `",host="",method="` + labelValue(k.method) + `",url="` + labelValue(k.url) + `"}`
	// Requests answered; their latency in seconds; request sizes in bytes
	// (approximate: line, headers, body); response body sizes in bytes.
	const p = "shiptrack_http_"
	s, _ := m.series.LoadOrStore(k, &httpSeries{
		requests: m.set.GetOrCreateCounter(p + "requests_total" + l),
		duration: m.set.GetOrCreatePrometheusHistogramExt(p+"request_duration_seconds"+l, durationBuckets),
		reqSize:  m.set.GetOrCreatePrometheusHistogramExt(p+"request_size_bytes"+l, sizeBuckets),
		respSize: m.set.GetOrCreatePrometheusHistogramExt(p+"response_size_bytes"+l, sizeBuckets),
	})
	return s.(*httpSeries)
}

// labelValue escapes a label value as the Prometheus text format wants.
func labelValue(v string) string {
	return labelEscaper.Replace(v)
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// middleware records every request but the scrapes of /metrics. It wraps
// the request logger, whose error handling has already written the
// response, so the status it reads is the one sent.
func (m *httpMetrics) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Path() == "/metrics" {
			return next(c)
		}
		start := time.Now()
		err := next(c)
		elapsed := time.Since(start).Seconds()
		req, resp := c.Request(), c.Response()
		code := resp.Status
		if !resp.Committed && err != nil {
			code = http.StatusInternalServerError
		}
		url := c.Path()
		if url == "" {
			url = "unmatched"
		}
		s := m.seriesFor(seriesKey{code: code, method: metricMethod(req.Method), url: url})
		s.requests.Inc()
		s.duration.Update(elapsed)
		s.reqSize.Update(float64(requestSize(req)))
		s.respSize.Update(float64(resp.Size))
		return err
	}
}

func metricMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

// requestSize approximates a request's size on the wire: request line,
// headers and body, without separators.
func requestSize(r *http.Request) int {
	n := len(r.Method) + len(r.Proto) + len(r.Host) + len(r.URL.Path)
	for name, values := range r.Header {
		n += len(name)
		for _, v := range values {
			n += len(v)
		}
	}
	if r.ContentLength > 0 {
		n += int(r.ContentLength)
	}
	return n
}

// metricsHandler serves the set in the Prometheus text format, and
// counts its own scrapes under the names promhttp used
// (promhttp_metric_handler_*): a scrape is counted once it is served.
func metricsHandler(set *metrics.Set, help map[string]string) echo.HandlerFunc {
	// The library writes TYPE lines only behind a process-wide switch;
	// every server in this process wants them, so setting it is safe.
	metrics.ExposeMetadata(true)
	inFlight := set.NewGauge("promhttp_metric_handler_requests_in_flight", nil)
	served := set.NewCounter(`promhttp_metric_handler_requests_total{code="200"}`)
	// promhttp's 500 and 503 cannot happen here (the page is written to
	// memory first); kept at 0 so the series stay the same.
	set.NewCounter(`promhttp_metric_handler_requests_total{code="500"}`)
	set.NewCounter(`promhttp_metric_handler_requests_total{code="503"}`)
	return func(c echo.Context) error {
		inFlight.Inc()
		var b bytes.Buffer
		set.WritePrometheus(&b)
		inFlight.Dec()
		err := c.Blob(http.StatusOK, "text/plain; version=0.0.4; charset=utf-8", withHelp(b.Bytes(), help))
		served.Inc()
		return err
	}
}

// withHelp fills the empty "# HELP <family>" lines the library writes
// with the text help has for the family; others stay as they are.
func withHelp(page []byte, help map[string]string) []byte {
	if len(help) == 0 {
		return page
	}
	out := make([]byte, 0, len(page)+len(help)*100)
	for line := range bytes.Lines(page) {
		family, ok := bytes.CutPrefix(bytes.TrimSuffix(line, []byte("\n")), []byte("# HELP "))
		if text := help[string(family)]; ok && text != "" {
			out = append(out, "# HELP "...)
			out = append(out, family...)
			out = append(out, ' ')
			out = append(out, helpEscaper.Replace(text)...)
			out = append(out, '\n')
			continue
		}
		out = append(out, line...)
	}
	return out
}

// helpEscaper escapes HELP text as the Prometheus text format wants.
var helpEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
