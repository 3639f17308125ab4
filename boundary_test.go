package main

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shiptrack/shiptrack/internal/testutil"
	"github.com/shiptrack/shiptrack/store/storetest"
)

// TestServeAnswersProblemsBeforeTheAPI: the binary's server answers the
// errors net/http raises itself (here 431 and a malformed %zz) as
// problem+json, as the API does every other error.
func TestServeAnswersProblemsBeforeTheAPI(t *testing.T) {
	t.Parallel()
	base, _ := startService(t, map[string]string{
		"SHIPTRACK_DATABASE_URL":          storetest.URL(t, "sqlite"),
		"SHIPTRACK_WEATHER_PROVIDER":      "off",
		"SHIPTRACK_HTTP_MAX_HEADER_BYTES": "4096",
	}, nil)
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

// badTexts are the kinds of bad text the adversarial pass sends in every
// place a request carries text; invalidUTF8 marks those whose bytes cannot
// reach the server as sent (JSON decoding turns invalid UTF-8 into
// U+FFFD, which is valid: 404).
var badTexts = []struct {
	name, raw   string
	invalidUTF8 bool
}{
	{"NUL", "TN\x00X", false},
	{"xff", "TN\xffX", true},
	{"truncated", "TN\xc3", true},
	{"overlong NUL", "TN\xc0\x80X", true},
	{"surrogate", "TN\xed\xa0\x80X", true},
	{"tab", "TN\tX", false},
	{"newline", "TN\nX", false},
	{"escape", "TN\x1bX", false},
	{"DEL", "TN\x7fX", false},
	{"C1", "TN\u0085X", false},
	{"65 ASCII", strings.Repeat("T", 65), false},
	{"65 multibyte", strings.Repeat("日", 65), false},
	{"10 KB", strings.Repeat("T", 10<<10), false},
}

// TestServeRefusesBadText is the adversarial pass of issue 19 against the
// binary's serve on both databases: every kind of bad text in every place
// a request carries one. Never a 5xx or an ERROR log, always a 400
// problem naming the field, and the data is unchanged.
func TestServeRefusesBadText(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Drivers {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			logs := &testutil.SyncBuffer{}
			base, _ := startService(t, map[string]string{
				"SHIPTRACK_DATABASE_URL": storetest.URL(t, d), "SHIPTRACK_WEATHER_PROVIDER": "off",
				"SHIPTRACK_API_RATE_LIMIT": "0",
			}, slog.New(slog.NewJSONHandler(logs, nil)))
			before := getBody(t, base+"/shipment/?limit=1000")
			statuses := map[int]int{}
			for _, bt := range badTexts {
				esc := url.PathEscape(bt.raw)
				q := url.QueryEscape(bt.raw)
				js, _ := json.Marshal(bt.raw) // invalid UTF-8 becomes U+FFFD
				for _, req := range []struct {
					place, field, method, path, ctype, body string
				}{
					{"path", "carrier", "GET", "/shipment/" + esc + "/TN12345678", "", ""},
					{"path", "tracking_number", "GET", "/shipment/DHL/" + esc, "", ""},
					{"path with slash", "tracking_number", "GET", "/shipment/DHL/" + esc + "/", "", ""},
					{"query", "carrier", "GET", "/shipment/?carrier=" + q, "", ""},
					{"query", "status", "GET", "/shipment/?status=" + q, "", ""},
					{"query", "cursor", "GET", "/shipment/?cursor=" + q, "", ""},
					{"form", "tracking_number", "POST", "/shipment/", "application/x-www-form-urlencoded", "carrier=DHL&tracking_number=" + q},
					{"form", "carrier", "POST", "/shipment/", "application/x-www-form-urlencoded", "tracking_number=TN1&carrier=" + q},
					{"json", "tracking_number", "POST", "/shipment/", "application/json", `{"carrier":"DHL","tracking_number":` + string(js) + `}`},
					{"json", "carrier", "POST", "/shipment/", "application/json", `{"tracking_number":"TN1","carrier":` + string(js) + `}`},
				} {
					r, _ := http.NewRequest(req.method, base+req.path, strings.NewReader(req.body))
					if req.ctype != "" {
						r.Header.Set("Content-Type", req.ctype)
					}
					resp, err := http.DefaultClient.Do(r)
					if err != nil {
						t.Fatalf("%s %s %s: %v", bt.name, req.place, req.field, err)
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					statuses[resp.StatusCode]++
					want := 400
					if req.place == "json" && bt.invalidUTF8 {
						want = 404
					}
					if resp.StatusCode != want || resp.Header.Get("Content-Type") != "application/problem+json" ||
						(want == 400 && !strings.Contains(string(body), `"name":"`+req.field+`"`)) {
						t.Errorf("%s in %s %s: %d %.200s; want %d naming %s", bt.name, req.place, req.field, resp.StatusCode, body, want, req.field)
					}
				}
			}
			t.Logf("%s: %d bad requests: %v", d, len(badTexts)*10, statuses)
			if strings.Contains(logs.String(), `"level":"ERROR"`) {
				t.Errorf("bad text logged as an error:\n%.2000s", logs.String())
			}
			if after := getBody(t, base+"/shipment/?limit=1000"); after != before {
				t.Errorf("data changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

func getBody(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s = %d %s", u, resp.StatusCode, b)
	}
	return string(b)
}
