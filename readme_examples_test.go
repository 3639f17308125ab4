package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shiptrack/shiptrack/internal/testutil"
	"github.com/shiptrack/shiptrack/store/storetest"
	"github.com/shiptrack/shiptrack/weather/weathertest"
)

// readmeExample is one "$ command" of the README with the output shown
// under it.
type readmeExample struct {
	line int
	cmd  string
	env  map[string]string // from a trailing "# with NAME=value" comment
	out  []string
}

// readmeExamples collects every "$ ..." example of the README's indented
// code blocks: continuation lines ending in "\" are joined, and the
// output runs to the next "$" line or the end of the block.
func readmeExamples(t *testing.T) []readmeExample {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var (
		out  []readmeExample
		cur  *readmeExample
		cont bool
	)
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		code, indented := strings.CutPrefix(l, "    ")
		switch {
		case indented && strings.HasPrefix(code, "$ "):
			out = append(out, readmeExample{line: i + 1, cmd: strings.TrimPrefix(code, "$ "), env: map[string]string{}})
			cur = &out[len(out)-1]
			cont = strings.HasSuffix(cur.cmd, "\\")
		case indented && cur != nil && cont:
			cur.cmd = strings.TrimSuffix(cur.cmd, "\\") + " " + strings.TrimSpace(code)
			cont = strings.HasSuffix(cur.cmd, "\\")
		case indented && cur != nil:
			cur.out = append(cur.out, code)
		case strings.TrimSpace(l) == "" && cur != nil:
			cur.out = append(cur.out, "")
		default:
			cur = nil
		}
	}
	for i := range out {
		e := &out[i]
		for len(e.out) > 0 && e.out[len(e.out)-1] == "" {
			e.out = e.out[:len(e.out)-1]
		}
		if cmd, comment, ok := strings.Cut(e.cmd, " #"); ok {
			e.cmd = strings.TrimSpace(cmd)
			if kv, ok := strings.CutPrefix(strings.TrimSpace(comment), "with "); ok {
				if k, v, ok := strings.Cut(kv, "="); ok {
					e.env[k] = v
				}
			}
		}
	}
	return out
}

// TestReadmeExamples runs the README's examples as written against a
// fresh server of this checkout (SQLite, the embedded seed, a local fake
// weather provider) and compares each answer with the output shown: the
// status and headers of `curl -i`, and the body (compareShape: every
// value shown is the one answered, but for times and ids that differ from
// run to run, which need only be of the same type; an object or array
// shown without "..." has nothing more). A `null` shown may be anything,
// as weather is null until fetched; "..." in an output stands for the
// rest. The write API's examples run in order on one server.
func TestReadmeExamples(t *testing.T) {
	t.Parallel()
	fake := weathertest.NewServer(t)
	servers := map[string]string{}
	server := func(extra map[string]string) string {
		keys := make([]string, 0, len(extra))
		for k, v := range extra {
			keys = append(keys, k+"="+v)
		}
		sort.Strings(keys)
		id := strings.Join(keys, " ")
		if base, ok := servers[id]; ok {
			return base
		}
		e := map[string]string{
			"SHIPTRACK_DATABASE_URL":     storetest.URL(t, "sqlite"),
			"SHIPTRACK_WEATHER_PROVIDER": "weatherapi",
			"SHIPTRACK_WEATHERAPI_KEY":   weathertest.Key,
			"SHIPTRACK_WEATHERAPI_URL":   fake.BaseURL(),
			"SHIPTRACK_API_RATE_LIMIT":   "0",
		}
		for k, v := range extra {
			e[k] = v
		}
		base, _ := startService(t, e, nil)
		// The examples show weather and the status of its refresh: wait
		// for the start-up refresh of the seed's 5 places to end.
		testutil.Eventually(t, 20*time.Second, "weather for the seed", func() bool {
			var s struct {
				Fetched    int `json:"fetched"`
				QueueDepth int `json:"queue_depth"`
			}
			resp, err := http.Get(base + "/weather/status")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			return json.NewDecoder(resp.Body).Decode(&s) == nil && s.Fetched == 5 && s.QueueDepth == 0
		})
		servers[id] = base
		return base
	}

	ran, writes := 0, 0
	var eventsImports []readmeExample
	for _, ex := range readmeExamples(t) {
		if ex.env["SHIPTRACK_API_WRITE_TOKENS"] != "" {
			writes++
		}
		switch {
		case strings.HasPrefix(ex.cmd, "curl ") && strings.Contains(ex.cmd, "localhost:8080"):
			checkCurlExample(t, ex, server(ex.env))
			ran++
		case strings.HasPrefix(ex.cmd, "shiptrack import bad.csv"):
			checkImportExample(t, ex)
			ran++
		case ex.cmd == "shiptrack import events.csv":
			eventsImports = append(eventsImports, ex)
			ran++
		default:
			// Needs what a test cannot have here (Docker, the port 80 of
			// compose): say so, so a new example is not silently unchecked.
			t.Logf("README line %d: not run: %s", ex.line, ex.cmd)
		}
	}
	checkEventsImportExamples(t, eventsImports)
	// The write API's examples (one server, run in order: each builds on
	// the one before) are all curl examples, so all ran above.
	if writes < 7 {
		t.Errorf("%d write API examples; the README shows more: is the parser broken?", writes)
	}
	if ran < 12 {
		t.Errorf("ran %d README examples; the README shows more: is the parser broken?", ran)
	}
}

// checkImportExample runs the import of a file like the README's bad.csv
// (store/testdata/bad_row.csv: "many" on line 3).
func checkImportExample(t *testing.T, ex readmeExample) {
	t.Helper()
	e := env(map[string]string{"SHIPTRACK_DATABASE_URL": storetest.URL(t, "sqlite"), "SHIPTRACK_LOG_LEVEL": "error"})
	err := run(context.Background(), []string{"import", "store/testdata/bad_row.csv"}, e, io.Discard, io.Discard)
	if err == nil {
		t.Fatalf("README line %d: import of a bad file succeeded", ex.line)
	}
	got := "shiptrack: " + strings.ReplaceAll(err.Error(), "store/testdata/bad_row.csv", "bad.csv")
	if len(ex.out) != 1 || ex.out[0] != got {
		t.Errorf("README line %d: %s\nshows: %q\nprints: %q", ex.line, ex.cmd, ex.out, got)
	}
}

// importTook is the time an import reports, which differs from run to run.
var importTook = regexp.MustCompile(`in [0-9.]+(µs|ms|s)$`)

// checkEventsImportExamples runs the README's imports of events.csv
// (store/testdata/events.csv, after the seed), in order on one database,
// and compares what each prints, but for the time taken.
func checkEventsImportExamples(t *testing.T, exs []readmeExample) {
	t.Helper()
	if len(exs) == 0 {
		t.Error("the README shows no import of events.csv")
		return
	}
	e := env(map[string]string{"SHIPTRACK_DATABASE_URL": storetest.URL(t, "sqlite"), "SHIPTRACK_LOG_LEVEL": "error"})
	if err := run(context.Background(), []string{"import", "store/testdata/seed.csv"}, e, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, ex := range exs {
		var out strings.Builder
		if err := run(context.Background(), []string{"import", "store/testdata/events.csv"}, e, &out, io.Discard); err != nil {
			t.Errorf("README line %d: %s: %v", ex.line, ex.cmd, err)
			continue
		}
		got := importTook.ReplaceAllString(strings.ReplaceAll(strings.TrimSpace(out.String()), "store/testdata/events.csv", "events.csv"), "in …")
		if len(ex.out) != 1 || importTook.ReplaceAllString(ex.out[0], "in …") != got {
			t.Errorf("README line %d: %s\nshows: %q\nprints: %q", ex.line, ex.cmd, ex.out, got)
		}
	}
}

func checkCurlExample(t *testing.T, ex readmeExample, base string) {
	t.Helper()
	words, err := deployShellWords(ex.cmd)
	if err != nil {
		t.Fatalf("README line %d: %v", ex.line, err)
	}
	var (
		method, target string
		headers        = http.Header{}
		data           []string
		include        bool
	)
	for i := 1; i < len(words); i++ {
		switch w := words[i]; w {
		case "-i":
			include = true
		case "-X", "-H", "-d":
			if i+1 >= len(words) {
				t.Fatalf("README line %d: %s without a value", ex.line, w)
			}
			i++
			switch w {
			case "-X":
				method = words[i]
			case "-H":
				k, v, _ := strings.Cut(words[i], ":")
				headers.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			case "-d":
				data = append(data, words[i])
			}
		default:
			if strings.HasPrefix(w, "-") {
				t.Fatalf("README line %d: curl option %s is not understood by this test", ex.line, w)
			}
			target = strings.Replace(w, "localhost:8080", strings.TrimPrefix(base, "http://"), 1)
		}
	}
	var body io.Reader
	if len(data) > 0 {
		body = strings.NewReader(strings.Join(data, "&"))
		if method == "" {
			method = http.MethodPost
		}
		if headers.Get("Content-Type") == "" {
			headers.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	}
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequest(method, "http://"+target, body)
	if err != nil {
		t.Fatalf("README line %d: %v", ex.line, err)
	}
	req.Header = headers
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("README line %d: %s: %v", ex.line, ex.cmd, err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	out := ex.out
	if include {
		if len(out) == 0 {
			t.Errorf("README line %d: curl -i without a status line", ex.line)
			return
		}
		f := strings.Fields(out[0])
		if len(f) < 2 || f[1] != strconv.Itoa(resp.StatusCode) {
			t.Errorf("README line %d: %s: status %d, README shows %q", ex.line, ex.cmd, resp.StatusCode, out[0])
		}
		out = out[1:]
		for len(out) > 0 && out[0] != "" {
			k, v, _ := strings.Cut(out[0], ":")
			have := resp.Header.Get(k)
			switch {
			case have == "":
				t.Errorf("README line %d: %s: no %s header", ex.line, ex.cmd, k)
			case strings.EqualFold(k, "Content-Type"):
				w, _, _ := mime.ParseMediaType(strings.TrimSpace(v))
				h, _, _ := mime.ParseMediaType(have)
				if w != h {
					t.Errorf("README line %d: Content-Type %q, README shows %q", ex.line, have, v)
				}
			}
			out = out[1:]
		}
	}
	shown := strings.TrimSpace(strings.Join(out, "\n"))
	if shown == "" {
		return
	}
	want, err := parseShown(shown)
	if err != nil {
		t.Errorf("README line %d: the output shown is not JSON: %v", ex.line, err)
		return
	}
	var have any
	if err := json.Unmarshal(got, &have); err != nil {
		t.Errorf("README line %d: %s answered non-JSON %q", ex.line, ex.cmd, got)
		return
	}
	for _, p := range compareShape("", want, have) {
		t.Errorf("README line %d: %s: %s\nanswer: %s", ex.line, ex.cmd, p, got)
	}
}

// shortened marks where an output shown says "..." (the rest of an
// object or array): parseShown keeps the mark so that compareShape knows
// what is shown in full.
const shortened = "…"

// parseShown parses an output as shown, where "..." stands for the rest
// of an object or array.
func parseShown(s string) (any, error) {
	s = strings.NewReplacer(",...}", `,"`+shortened+`":true}`, ",...]", `,"`+shortened+`"]`,
		"{...}", `{"`+shortened+`":true}`, "[...]", `["`+shortened+`"]`).Replace(s)
	var v any
	err := json.Unmarshal([]byte(s), &v)
	return v, err
}

// placeholders are the fields whose values differ from run to run (times
// stamped by the server, request ids): shown, they need only be of the
// same type. Everything else shown must be what the server answers.
var placeholders = map[string]bool{"created_at": true, "updated_at": true, "observed_at": true, "fetched_at": true,
	"last_run_at": true, "next_run_at": true, "next_retry_at": true, "request_id": true}

// importPlaceholders are more placeholders in an event shown with
// "source":"import": the seed's events are stamped with the time of the
// import, and their generated event_id derives from it.
var importPlaceholders = map[string]bool{"occurred_at": true, "event_id": true}

// compareShape compares an answer with the output shown: every field
// shown is there, with the value shown (or, for placeholders and inside
// "weather", which comes from whichever provider ran, one of its type);
// an object or array shown without "..." has nothing more.
func compareShape(path string, want, have any) []string {
	return compareShown(path, want, have, false)
}

func compareShown(path string, want, have any, loose bool) []string {
	if want == nil {
		return nil // null shown: may be null or a value
	}
	switch w := want.(type) {
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an object, got %T", path, have)}
		}
		var out []string
		_, partial := w[shortened]
		for k, wv := range w {
			if k == shortened {
				continue
			}
			hv, ok := h[k]
			if !ok {
				out = append(out, fmt.Sprintf("%s.%s: missing", path, k))
				continue
			}
			fromImport := w["source"] == "import" && importPlaceholders[k]
			out = append(out, compareShown(path+"."+k, wv, hv, loose || placeholders[k] || fromImport || k == "weather")...)
		}
		if !partial {
			var extra []string
			for k := range h {
				if _, ok := w[k]; !ok {
					extra = append(extra, k)
				}
			}
			sort.Strings(extra)
			if len(extra) > 0 {
				out = append(out, fmt.Sprintf("%s: the answer also has %q; show it, or end the object with ,...", path, extra))
			}
		}
		return out
	case []any:
		h, ok := have.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an array, got %T", path, have)}
		}
		partial := len(w) > 0 && w[len(w)-1] == shortened
		if partial {
			w = w[:len(w)-1]
		}
		if len(h) < len(w) || (!partial && len(h) != len(w)) {
			return []string{fmt.Sprintf("%s: %d items, README shows %d", path, len(h), len(w))}
		}
		var out []string
		for i := range w {
			out = append(out, compareShown(fmt.Sprintf("%s[%d]", path, i), w[i], h[i], loose)...)
		}
		return out
	default:
		if fmt.Sprintf("%T", want) != fmt.Sprintf("%T", have) {
			return []string{fmt.Sprintf("%s: %T, README shows %T", path, have, want)}
		}
		if !loose && want != have {
			return []string{fmt.Sprintf("%s = %v, README shows %v", path, have, want)}
		}
		return nil
	}
}
