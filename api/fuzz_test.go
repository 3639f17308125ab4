package api

// Native Go fuzz targets for request decoding. `go test ./api` runs their
// seed corpora (f.Add below and testdata/fuzz/<Target>/) as ordinary tests;
// `go test -run '^$' -fuzz '^FuzzDecodeLookup$' ./api` fuzzes one target.
// See docs/fuzzing.md. This is an internal test file so it can call the
// unexported decodeLookup.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shiptrack/shiptrack/internal/mock"
	"github.com/shiptrack/shiptrack/shipment"
	"github.com/shiptrack/shiptrack/valid"
)

// fuzzBodyLimit caps decodeLookup's body as the BodyLimit middleware does
// by default (64K).
const fuzzBodyLimit = 64 << 10

// fuzzContentTypes are the Content-Types every FuzzDecodeLookup input is
// sent with; the multipart one takes the fuzzed boundary and a fuzzed raw
// Content-Type is added.
func fuzzContentTypes(boundary, raw string) []string {
	mp := mime.FormatMediaType("multipart/form-data", map[string]string{"boundary": boundary})
	return []string{
		"application/json",
		"application/json; charset=utf-8",
		"application/x-www-form-urlencoded",
		mp,
		"multipart/form-data; boundary=" + boundary,
		"text/plain",
		raw,
	}
}

func FuzzDecodeLookup(f *testing.F) {
	f.Add([]byte(`{"tracking_number":"TN12345678","carrier":"DHL"}`), "X", "application/json")
	f.Add([]byte("tracking_number=TN12345678&carrier=DHL"), "X", "application/x-www-form-urlencoded")
	f.Add([]byte("--X\r\nContent-Disposition: form-data; name=\"tracking_number\"\r\n\r\nTN12345678\r\n"+
		"--X\r\nContent-Disposition: form-data; name=\"carrier\"\r\n\r\nDHL\r\n--X--\r\n"), "X", "multipart/form-data; boundary=X")
	f.Add([]byte(""), "", "")
	for _, body := range flatJSONCases {
		f.Add([]byte(body), "X", "application/json")
	}
	f.Fuzz(func(t *testing.T, body []byte, boundary, rawCT string) {
		checkFlatJSON(t, body)
		for _, ct := range fuzzContentTypes(boundary, rawCT) {
			checkDecodeLookup(t, body, ct)
		}
	})
}

// flatJSONCases are bodies near the edge of flatJSONLookup's short cut.
var flatJSONCases = []string{
	`{}`, ` { } `, "\t{\"carrier\" :\r\n\"DHL\" }\n",
	`{"carrier":"A","carrier":null}`, `{"carrier":null,"carrier":"B"}`,
	`{"carrier":5,"carrier":"B"}`, `{"carrier":"B","carrier":5}`,
	`{"Carrier":"DHL","TRACKING_NUMBER":"TN1"}`, `{"carrier":"DHL","x":"y","tracking_number":"TN1"}`,
	`{"carrier":"Dé","tracking_number":"ü"}`, `{"carrier":"D\u0048L"}`, `{"carrier":"a\tb"}`,
	`{"carrier":"DHL",}`, `{"carrier":"DHL"} x`, `{"carrier":"DHL"}}`, `{"carrier" "DHL"}`,
	`{"carrier":nul}`, `{"carrier":nullx}`, `{"carrier":"DHL"`, `{"carrier`, `{,}`, `{"":""}`,
	`{"x":{"carrier":"DHL"}}`, `{"x":[],"carrier":"DHL"}`, `{"carrier":true}`, "\ufeff{}",
}

// checkFlatJSON fails when flatJSONLookup takes a body and answers
// otherwise than mapJSONLookup, the decoding it stands in for.
func checkFlatJSON(t *testing.T, body []byte) {
	t.Helper()
	got, ok := flatJSONLookup(body)
	if !ok {
		return
	}
	want, err := mapJSONLookup(body)
	if err != nil || got != want {
		t.Fatalf("flatJSONLookup(%q) = %+v, mapJSONLookup = %+v, %v", body, got, want, err)
	}
}

// TestFlatJSONLookup checks the short cut on its edges, and that the
// common body takes it (else the speed-up is silently gone).
func TestFlatJSONLookup(t *testing.T) {
	for _, body := range flatJSONCases {
		checkFlatJSON(t, []byte(body))
	}
	for _, body := range []string{
		`{"tracking_number":"TN12345678","carrier":"DHL"}`,
		` {"carrier": "DHL", "tracking_number": null} `,
	} {
		if _, ok := flatJSONLookup([]byte(body)); !ok {
			t.Errorf("%s: not decoded by the short cut", body)
		}
	}
}

func checkDecodeLookup(t *testing.T, body []byte, ct string) {
	t.Helper()
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/shipment/", bytes.NewReader(body))
	r.Body = http.MaxBytesReader(rec, r.Body, fuzzBodyLimit)
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	l, err := decodeLookup(r)
	if r.MultipartForm != nil {
		_ = r.MultipartForm.RemoveAll() // the server does this after a real request
	}
	mt, _, mtErr := mime.ParseMediaType(ct)
	if mtErr != nil {
		mt = ""
	}
	supported := mt == "application/json" || mt == "application/x-www-form-urlencoded" || mt == "multipart/form-data"
	if err != nil {
		var p *Problem
		if !errors.As(err, &p) {
			t.Fatalf("Content-Type %q: error %v (%T) is not a *Problem", ct, err, err)
		}
		switch p.Status {
		case http.StatusBadRequest:
			if len(p.InvalidParams) == 0 {
				t.Fatalf("Content-Type %q: 400 names no invalid parameter: %+v", ct, p)
			}
		case http.StatusRequestEntityTooLarge:
			if len(body) <= fuzzBodyLimit {
				t.Fatalf("Content-Type %q: 413 for a %d-byte body", ct, len(body))
			}
		case http.StatusUnsupportedMediaType:
			if supported {
				t.Fatalf("Content-Type %q: 415 for a supported type", ct)
			}
		default:
			t.Fatalf("Content-Type %q: status %d: %+v", ct, p.Status, p)
		}
		if p.Title != http.StatusText(p.Status) || p.Type != "about:blank" {
			t.Fatalf("malformed problem %+v", p)
		}
		if _, err := json.Marshal(p); err != nil {
			t.Fatalf("problem does not marshal: %v", err)
		}
		return
	}
	if !supported {
		t.Fatalf("Content-Type %q (media type %q) accepted: %+v", ct, mt, l)
	}
	if mt != "application/json" {
		return
	}
	// Accepted JSON is a JSON object whose tracking_number and carrier, when
	// present and not null, are the strings decoded.
	if len(body) > fuzzBodyLimit || !json.Valid(body) {
		t.Fatalf("accepted invalid or oversized JSON %q", body)
	}
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // 1e700 is valid JSON but no float64
	// (A bare null decodes as an empty lookup; the handler then answers
	// 400 "is required".)
	if err := dec.Decode(&obj); err != nil {
		t.Fatalf("accepted JSON that is not an object or null: %v", err)
	}
	for _, fld := range []struct{ name, got string }{{"tracking_number", l.TrackingNumber}, {"carrier", l.Carrier}} {
		want, _ := obj[fld.name].(string) // absent and null decode as ""
		if fld.got != want {
			t.Fatalf("%s = %q, the body says %q", fld.name, fld.got, want)
		}
	}
}

// fuzzNotFound is a Shipments that knows no shipment. Text that breaks
// the boundary's rule must never reach it: it answers such a read with an
// internal error, which the fuzz target reports as a 500.
var fuzzNotFound = &mock.Shipments{
	ListFn: func(_ context.Context, p shipment.ListParams) (shipment.Page, error) {
		if valid.Text(p.Carrier, valid.Carrier) != nil || valid.Text(p.Status, valid.Status) != nil {
			return shipment.Page{}, fmt.Errorf("fuzz: bad text reached the store: %+v", p)
		}
		return shipment.Page{}, fmt.Errorf("fuzz: %w", shipment.ErrNotFound)
	},
	GetFn: func(_ context.Context, carrier, tn string) (shipment.Shipment, error) {
		if valid.Text(carrier, valid.Carrier) != nil || valid.Text(tn, valid.TrackingNumber) != nil || carrier == "" || tn == "" {
			return shipment.Shipment{}, fmt.Errorf("fuzz: bad text reached the store: %q/%q", carrier, tn)
		}
		return shipment.Shipment{}, fmt.Errorf("fuzz: shipment %s/%s: %w", carrier, tn, shipment.ErrNotFound)
	},
}

// FuzzLookupHandler sends a fuzzed POST /shipment/ (Content-Type and body)
// and a GET of /shipment/ plus a fuzzed path and query through the whole
// middleware stack.
func FuzzLookupHandler(f *testing.F) {
	f.Add("application/json", []byte(`{"tracking_number":"TN12345678","carrier":"DHL"}`), "DHL/TN12345678")
	f.Add("application/x-www-form-urlencoded", []byte("tracking_number=TN12345678&carrier=DHL"), "?limit=5&carrier=dhl")
	f.Add("multipart/form-data; boundary=X", []byte("--X\r\nContent-Disposition: form-data; name=\"carrier\"\r\n\r\nDHL\r\n--X--\r\n"), "DHL%2FX/TN%zz")
	f.Add("text/plain", []byte("hello"), "")
	srv := New(Config{Shipments: fuzzNotFound})
	f.Fuzz(func(t *testing.T, ct string, body []byte, path string) {
		r := httptest.NewRequest(http.MethodPost, "/shipment/", bytes.NewReader(body))
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		checkResponse(t, srv, r)

		if g, err := http.NewRequest(http.MethodGet, "/shipment/"+path, nil); err == nil {
			checkResponse(t, srv, g)
		}
	})
}

func checkResponse(t *testing.T, srv http.Handler, r *http.Request) {
	t.Helper()
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, r)
	switch rec.Code {
	case http.StatusOK, http.StatusBadRequest, http.StatusNotFound,
		http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
	default:
		t.Fatalf("%s %s (Content-Type %q): status %d: %s", r.Method, r.URL, r.Header.Get("Content-Type"), rec.Code, rec.Body)
	}
	if rec.Code == http.StatusOK {
		return
	}
	if got := rec.Header().Get("Content-Type"); got != "application/problem+json" {
		t.Fatalf("%s %s: status %d with Content-Type %q", r.Method, r.URL, rec.Code, got)
	}
	var p Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != rec.Code || p.Title == "" {
		t.Fatalf("%s %s: status %d with body %q (%v)", r.Method, r.URL, rec.Code, rec.Body, err)
	}
	if strings.Contains(rec.Body.String(), "fuzz:") {
		t.Fatalf("internal error text leaked: %s", rec.Body)
	}
}

// FuzzDecodeEvents: any body either decodes to events that pass the text
// rule, with a parsed time at most shipment.MaxEventFuture ahead and a normalised
// status, or is refused with a 400/413 problem that names a field; it
// never panics. It holds the token-by-token reader (strictjson.go) to
// encoding/json's idea of valid JSON: what json.Valid refuses is refused.
func FuzzDecodeEvents(f *testing.F) {
	for _, s := range []string{
		`{"occurred_at":"2026-12-01T08:15:00Z","status_text":"scanned"}`,
		`[{"carrier":"DHL","tracking_number":"TN1","occurred_at":"2026-12-01T08:15:00+01:00","status_text":"x","status":"delivered"}]`,
		`[{"occurred_at":"2026-12-01T08:15:00Z","status_text":"a","status_text":"b"}]`,
		`{"message":{"a":[1,{"b":null}]}}`, `[1,"x",null,[],{}]`, `{} {}`, `[`, `{"a":`, ``, `null`, "\"\\ud800\"",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	now := time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body string, batch bool) {
		events, _, err := decodeEvents(strings.NewReader(body), batch, now)
		if err != nil {
			var p *Problem
			if !errors.As(err, &p) || (p.Status != 400 && p.Status != 413) || (p.Status == 400 && len(p.InvalidParams) == 0) {
				t.Fatalf("%q: error %v, want a 400 naming a field or a 413", body, err)
			}
			return
		}
		if !json.Valid([]byte(body)) {
			t.Fatalf("%q: invalid JSON accepted", body)
		}
		if len(events) == 0 || len(events) > MaxEventBatch {
			t.Fatalf("%q: %d events", body, len(events))
		}
		for _, e := range events {
			for _, s := range []string{e.EventID, e.StatusText, e.Location, e.Message, e.Carrier, e.TrackingNumber} {
				if valid.Text(s, 1<<20) != nil {
					t.Fatalf("%q: text %q breaks the rule", body, s)
				}
			}
			if e.StatusText == "" || !shipment.IsStatus(e.Status) || e.OccurredAt.IsZero() || e.OccurredAt.After(now.Add(shipment.MaxEventFuture)) ||
				e.OccurredAt.Location() != time.UTC || e.Source != shipment.SourceAPI {
				t.Fatalf("%q: accepted %+v", body, e)
			}
			if batch && (e.Carrier == "" || e.TrackingNumber == "") {
				t.Fatalf("%q: batch item without its shipment", body)
			}
		}
	})
}
