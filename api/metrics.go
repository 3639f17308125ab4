package api

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// httpMetrics counts requests and their latency and sizes by route,
// method and status. The names and labels are those of Echo's contrib
// Prometheus middleware, which this replaces: that one resolves four
// label sets per request, 6% of a cached lookup's CPU; this one resolves
// a series once and keeps it.
type httpMetrics struct {
	requests          *prometheus.CounterVec
	duration          *prometheus.HistogramVec
	reqSize, respSize *prometheus.HistogramVec
	series            sync.Map // seriesKey -> *httpSeries
}

// seriesKey is one label set. Every part is bounded: a status code, one
// of a fixed set of methods, a route pattern or "unmatched".
type seriesKey struct {
	code        int
	method, url string
}

type httpSeries struct {
	requests                    prometheus.Counter
	duration, reqSize, respSize prometheus.Observer
}

// sizeBuckets spans 1 KiB to 10 MiB, as Echo's contrib middleware did.
var sizeBuckets = []float64{1 << 10, 2 << 10, 5 << 10, 10 << 10, 100 << 10, 500 << 10, 1 << 20, 2.5 * (1 << 20), 5 << 20, 10 << 20}

// httpLabels are kept as they were, host included (always empty: a
// client-chosen Host header must not make series).
var httpLabels = []string{"code", "method", "host", "url"}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	opts := func(name, help string, buckets []float64) prometheus.HistogramOpts {
		return prometheus.HistogramOpts{Namespace: "shiptrack", Subsystem: "http", Name: name, Help: help, Buckets: buckets}
	}
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "shiptrack", Subsystem: "http",
			Name: "requests_total", Help: "HTTP requests answered, by status code, method and route."}, httpLabels),
		duration: prometheus.NewHistogramVec(opts("request_duration_seconds", "HTTP request latencies in seconds.", prometheus.DefBuckets), httpLabels),
		reqSize:  prometheus.NewHistogramVec(opts("request_size_bytes", "HTTP request sizes in bytes (approximate: line, headers, body).", sizeBuckets), httpLabels),
		respSize: prometheus.NewHistogramVec(opts("response_size_bytes", "HTTP response body sizes in bytes.", sizeBuckets), httpLabels),
	}
	reg.MustRegister(m.requests, m.duration, m.reqSize, m.respSize)
	return m
}

func (m *httpMetrics) seriesFor(k seriesKey) *httpSeries {
	if s, ok := m.series.Load(k); ok {
		return s.(*httpSeries)
	}
	l := prometheus.Labels{"code": strconv.Itoa(k.code), "method": k.method, "host": "", "url": k.url}
	s, _ := m.series.LoadOrStore(k, &httpSeries{
		requests: m.requests.With(l), duration: m.duration.With(l),
		reqSize: m.reqSize.With(l), respSize: m.respSize.With(l),
	})
	return s.(*httpSeries)
}

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
		s.duration.Observe(elapsed)
		s.reqSize.Observe(float64(requestSize(req)))
		s.respSize.Observe(float64(resp.Size))
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

// metricsHandler serves the registry in the Prometheus text format, and
// counts its own scrapes (promhttp_metric_handler_*).
func metricsHandler(reg *prometheus.Registry) echo.HandlerFunc {
	h := promhttp.InstrumentMetricHandler(reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{DisableCompression: true}))
	return echo.WrapHandler(h)
}
