package api_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shiptrack/shiptrack/api"
)

// listenProblems serves the API as the binary does: a real listener
// wrapped by api.ProblemListener, with a small header limit.
func listenProblems(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: api.New(api.Config{Shipments: failing(nil)}), MaxHeaderBytes: 1024, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(api.ProblemListener(ln)) }()
	t.Cleanup(func() { _ = hs.Close() })
	return ln.Addr().String()
}

// rawExchange sends raw bytes on a new connection and reads each answer.
func rawExchange(t *testing.T, addr, raw string, answers int) []*http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	var out []*http.Response
	for range answers {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("read answer to %.60q: %v", raw, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		out = append(out, resp)
	}
	return out
}

// TestNetHTTPErrorsAreProblems: the errors net/http answers before the
// API sees the request, and ServeContent's 416, are problem+json with
// their status, against a real listening server; normal answers on the
// same connection are untouched. They were text/plain.
func TestNetHTTPErrorsAreProblems(t *testing.T) {
	t.Parallel()
	addr := listenProblems(t)
	tests := []struct {
		name, raw string
		status    int
		detail    string
	}{
		{"431 header too large", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 8<<10) + "\r\n\r\n", 431, "too large"},
		{"400 malformed escape", "GET /shipment/DHL/%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400, "%zz"},
		{"400 no Host", "GET /healthz HTTP/1.1\r\n\r\n", 400, "Host"},
		{"400 bad request line", "GARBAGE\r\n\r\n", 400, "malformed"},
		{"501 transfer encoding", "POST /shipment/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "transfer encoding"},
		{"505 HTTP version", "GET /healthz HTTP/3.0\r\nHost: x\r\n\r\n", 505, "protocol version"},
		{"416 range past the end", "GET / HTTP/1.1\r\nHost: x\r\nRange: bytes=99999999-\r\nConnection: close\r\n\r\n", 416, "range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := rawExchange(t, addr, tt.raw, 1)[0]
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("%d %q: %s; want %d problem+json", resp.StatusCode, resp.Header.Get("Content-Type"), body, tt.status)
			}
			var p api.Problem
			if err := json.Unmarshal(body, &p); err != nil || p.Status != tt.status || p.Title != http.StatusText(tt.status) ||
				!strings.Contains(p.Detail, tt.detail) {
				t.Errorf("problem %s (%v), want status %d and a detail with %q", body, err, tt.status, tt.detail)
			}
		})
	}
	t.Run("normal answers untouched", func(t *testing.T) {
		t.Parallel()
		rs := rawExchange(t, addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n", 2)
		for _, r := range rs {
			if r.StatusCode != 200 || r.Header.Get("Date") == "" {
				t.Errorf("status %d, headers %v", r.StatusCode, r.Header)
			}
		}
		if ct := rs[1].Header.Get("Content-Type"); !strings.Contains(ct, "json") {
			t.Errorf("openapi.json Content-Type %q", ct)
		}
	})
}
