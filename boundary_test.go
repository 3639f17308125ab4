package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shiptrack/shiptrack/store/storetest"
)

// TestServeAnswersProblemsBeforeTheAPI: the binary's server answers the
// errors net/http raises itself (here 431 and a malformed %zz) as
// problem+json, as the API does every other error.
func TestServeAnswersProblemsBeforeTheAPI(t *testing.T) {
	t.Parallel()
	base := startServe(t, map[string]string{
		"SHIPTRACK_DATABASE_URL":          storetest.URL(t, "sqlite"),
		"SHIPTRACK_WEATHER_PROVIDER":      "off",
		"SHIPTRACK_HTTP_MAX_HEADER_BYTES": "4096",
	})
	for _, tt := range []struct {
		name, raw string
		status    int
	}{
		{"431", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 16<<10) + "\r\n\r\n", 431},
		{"%zz", "GET /shipment/DHL/%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400},
	} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(conn, tt.raw); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = conn.Close()
		if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %q %s; want %d problem+json", tt.name, resp.StatusCode, resp.Header.Get("Content-Type"), body, tt.status)
		}
	}
}
