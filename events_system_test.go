package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/shiptrack/shiptrack/internal/testenv"
	"github.com/shiptrack/shiptrack/internal/testutil"
	"github.com/shiptrack/shiptrack/store/storetest"
)

// The write API of issue 15 end to end: the real server (serve with
// config.yaml) on each database, its write routes behind write tokens,
// the answers the issue fixes, and for every bad input of the issue's
// "Bad input" section a problem+json and a database that did not change.

const (
	sysWriteToken = "w-sys-token"
	sysReadToken  = "r-sys-token"
)

func TestEventsSystem(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Drivers {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			testEventsSystem(t, d)
		})
	}
}

// sysClient sends JSON requests to one server.
type sysClient struct {
	t    *testing.T
	base string
}

type sysAnswer struct {
	status int
	header http.Header
	body   []byte
}

func (a sysAnswer) String() string {
	b := a.body
	if len(b) > 600 {
		b = append(b[:600:600], "..."...)
	}
	return fmt.Sprintf("%d %s", a.status, b)
}

// do sends body (bytes as they are, anything else as JSON) with the
// token, if any.
func (c sysClient) do(method, path, token string, body any) sysAnswer {
	c.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	// Errorf, not Fatalf: writers call this from goroutines of their own;
	// status 0 fails whatever expects an answer.
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Errorf("%s %s: %v", method, path, err)
		return sysAnswer{}
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Errorf("%s %s: %v", method, path, err)
	}
	return sysAnswer{resp.StatusCode, resp.Header, got}
}

// want requires the status, and decodes a JSON answer into v (if not nil).
func (c sysClient) want(a sysAnswer, status int, v any) {
	c.t.Helper()
	if a.status != status {
		c.t.Fatalf("answer %s, want status %d", a, status)
	}
	if v != nil {
		if err := json.Unmarshal(a.body, v); err != nil {
			c.t.Fatalf("answer %s: %v", a, err)
		}
	}
}

type sysProblem struct {
	Type          string `json:"type"`
	Title         string `json:"title"`
	Status        int    `json:"status"`
	Detail        string `json:"detail"`
	InvalidParams []struct {
		Name   string `json:"name"`
		Reason string `json:"reason"`
	} `json:"invalid_params"`
}

// wantProblem requires a problem+json of the status whose invalid_params
// name exactly the given fields (in any order; none given: not checked).
func (c sysClient) wantProblem(a sysAnswer, status int, names ...string) sysProblem {
	c.t.Helper()
	var p sysProblem
	if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		c.t.Errorf("answer %s: Content-Type %q, want application/problem+json", a, ct)
	}
	if err := json.Unmarshal(a.body, &p); err != nil {
		c.t.Fatalf("answer %s: %v", a, err)
	}
	if a.status != status || p.Status != status || p.Title == "" || p.Detail == "" {
		c.t.Errorf("answer %s, want a problem with status %d, a title and a detail", a, status)
	}
	if len(names) > 0 {
		var got []string
		for _, ip := range p.InvalidParams {
			got = append(got, ip.Name)
			if ip.Reason == "" {
				c.t.Errorf("answer %s: invalid_params %s without a reason", a, ip.Name)
			}
		}
		slices.Sort(got)
		names = slices.Clone(names)
		slices.Sort(names)
		if !slices.Equal(got, names) {
			c.t.Errorf("answer %s: invalid_params name %q, want %q", a, got, names)
		}
	}
	return p
}

type sysEvent struct {
	EventID    string `json:"event_id"`
	OccurredAt string `json:"occurred_at"`
	Status     string `json:"status"`
	StatusText string `json:"status_text"`
	Location   string `json:"location"`
	Message    string `json:"message"`
	Source     string `json:"source"`
}

type sysShipment struct {
	TrackingNumber string     `json:"tracking_number"`
	Carrier        string     `json:"carrier"`
	Status         string     `json:"status"`
	StatusText     string     `json:"status_text"`
	UpdatedAt      string     `json:"updated_at"`
	Events         []sysEvent `json:"events"`
	EventCount     int        `json:"event_count"`
}

type sysCounts struct {
	Created   int `json:"created"`
	Unchanged int `json:"unchanged"`
}

// dbState is everything a write could change, read from the database
// itself: a refused request must leave it as it was.
type dbState struct {
	Shipments, Articles, Events int64
	Rows                        string // every shipment's id, stamps, status and addresses
}

func openDB(t *testing.T, url string) *gorm.DB {
	t.Helper()
	var dial gorm.Dialector
	if path, ok := strings.CutPrefix(url, "sqlite:"); ok {
		dial = sqlite.Open(path + "?_busy_timeout=10000")
	} else {
		dial = postgres.Open(url)
	}
	db, err := gorm.Open(dial, &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, _ := db.DB()
	t.Cleanup(func() { _ = sqlDB.Close() })
	return db
}

func readState(t *testing.T, db *gorm.DB) dbState {
	t.Helper()
	var s dbState
	for table, n := range map[string]*int64{"shipments": &s.Shipments, "articles": &s.Articles, "events": &s.Events} {
		if err := db.Raw("SELECT count(*) FROM " + table).Scan(n).Error; err != nil {
			t.Fatal(err)
		}
	}
	var rows []struct{ ID, UpdatedAt, Status, StatusText, SenderAddress, ReceiverAddress string }
	if err := db.Raw(`SELECT CAST(id AS TEXT) AS id, CAST(updated_at AS TEXT) AS updated_at, status, status_text, sender_address, receiver_address
		FROM shipments ORDER BY id`).Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	s.Rows = fmt.Sprint(rows)
	return s
}

// unchanged runs f, a refused request, and requires the database to be
// as before it.
func unchanged(t *testing.T, db *gorm.DB, f func()) {
	t.Helper()
	before := readState(t, db)
	f()
	if after := readState(t, db); after != before {
		t.Errorf("a refused request changed the database:\nbefore %+v\nafter  %+v", before, after)
	}
}

func putBody(receiver string) map[string]any {
	return map[string]any{
		"sender_address":   "Street 1, 10115 Berlin, Germany",
		"receiver_address": receiver,
		"articles":         []map[string]any{{"name": "Book", "quantity": 1, "price": "12.50", "sku": "BK1"}},
	}
}

func ev(id string, at time.Time, text string) map[string]any {
	return map[string]any{"event_id": id, "occurred_at": at.Format(time.RFC3339), "status_text": text}
}

func batchItem(carrier, tn string, e map[string]any) map[string]any {
	out := map[string]any{"carrier": carrier, "tracking_number": tn}
	for k, v := range e {
		out[k] = v
	}
	return out
}

// testEventsSystem's subtests run in order on one server and build on
// each other (the batch's events are what "bad input" conflicts with): run
// the whole test, not one subtest.
func testEventsSystem(t *testing.T, driver string) {
	dbURL := storetest.URL(t, driver)
	e := map[string]string{
		"SHIPTRACK_DATABASE_URL":     dbURL,
		"SHIPTRACK_WEATHER_PROVIDER": "off",
		"SHIPTRACK_API_RATE_LIMIT":   "0",
		"SHIPTRACK_API_TOKENS":       sysReadToken,
		"SHIPTRACK_API_WRITE_TOKENS": sysWriteToken,
	}
	base, _ := startService(t, e, nil)
	c := sysClient{t, base}
	db := openDB(t, dbURL)
	w := sysWriteToken
	day := time.Now().UTC().Truncate(time.Second).Add(-48 * time.Hour)

	t.Run("tokens", func(t *testing.T) {
		c := sysClient{t, base}
		unchanged(t, db, func() {
			c.wantProblem(c.do("PUT", "/shipment/DHL/TNSYS0001", "", putBody("Street 3, 80331 Munich, Germany")), 401)
			c.wantProblem(c.do("PUT", "/shipment/DHL/TNSYS0001", "wrong", putBody("Street 3, 80331 Munich, Germany")), 401)
			c.wantProblem(c.do("PUT", "/shipment/DHL/TNSYS0001", sysReadToken, putBody("Street 3, 80331 Munich, Germany")), 403)
			c.wantProblem(c.do("POST", "/shipment/DHL/TN12345678/events", "", ev("a", day, "transit")), 401)
			c.wantProblem(c.do("POST", "/shipment/DHL/TN12345678/events", sysReadToken, ev("a", day, "transit")), 403)
			c.wantProblem(c.do("POST", "/events", "", []any{batchItem("DHL", "TN12345678", ev("a", day, "transit"))}), 401)
			c.wantProblem(c.do("POST", "/events", sysReadToken, []any{batchItem("DHL", "TN12345678", ev("a", day, "transit"))}), 403)
		})
		// A write token does not list.
		c.wantProblem(c.do("GET", "/shipment/", w, nil), 401)

		// A second server on the same database without write tokens
		// refuses every write, whatever the token.
		off := map[string]string{}
		for k, v := range e {
			off[k] = v
		}
		delete(off, "SHIPTRACK_API_WRITE_TOKENS")
		offBase, stop := startService(t, off, nil)
		defer stop()
		oc := sysClient{t, offBase}
		unchanged(t, db, func() {
			oc.wantProblem(oc.do("PUT", "/shipment/DHL/TNSYS0001", w, putBody("Street 3, 80331 Munich, Germany")), 403)
			oc.wantProblem(oc.do("POST", "/shipment/DHL/TN12345678/events", w, ev("a", day, "transit")), 403)
			oc.wantProblem(oc.do("POST", "/events", w, []any{batchItem("DHL", "TN12345678", ev("a", day, "transit"))}), 403)
		})
	})

	t.Run("put and events", func(t *testing.T) {
		c := sysClient{t, base}
		var created, replayed sysShipment
		c.want(c.do("PUT", "/shipment/DHL/TNSYS0001", w, putBody("Street 3, 80331 Munich, Germany")), 201, &created)
		if created.TrackingNumber != "TNSYS0001" || created.Carrier != "DHL" || created.Status != "pending" || created.EventCount != 0 || created.UpdatedAt == "" {
			t.Errorf("created %+v", created)
		}
		unchanged(t, db, func() {
			c.want(c.do("PUT", "/shipment/DHL/TNSYS0001", w, putBody("Street 3, 80331 Munich, Germany")), 200, &replayed)
		})
		if replayed.UpdatedAt != created.UpdatedAt {
			t.Errorf("replayed PUT moved updated_at from %s to %s", created.UpdatedAt, replayed.UpdatedAt)
		}
		// The same content written otherwise (a price as a number, padded
		// text) is a replay too.
		same := putBody(" Street 3, 80331 Munich, Germany ")
		same["articles"] = []map[string]any{{"name": "Book ", "quantity": 1, "price": 12.5, "sku": "BK1"}}
		unchanged(t, db, func() {
			c.want(c.do("PUT", "/shipment/DHL/TNSYS0001", w, same), 200, nil)
		})
		// A lookup in another case finds it (the key ignores case).
		var found sysShipment
		getJSON(t, base+"/shipment/dhl/tnsys0001", &found)
		if found.TrackingNumber != "TNSYS0001" {
			t.Errorf("lookup in lower case: %+v", found)
		}
		// A replacement does change the stamp (answered to the second, so
		// compared in the database).
		before := readState(t, db)
		var replaced sysShipment
		c.want(c.do("PUT", "/shipment/DHL/TNSYS0001", w, putBody("Street 4, 80331 Munich, Germany")), 200, &replaced)
		if after := readState(t, db); after.Rows == before.Rows || after.Shipments != before.Shipments {
			t.Errorf("replacing PUT: database %+v, before %+v", after, before)
		}

		// One event, then its replay.
		var one, again sysShipment
		first := ev("e1", day, "inbound-scan")
		first["location"] = "Berlin hub"
		c.want(c.do("POST", "/shipment/DHL/TNSYS0001/events", w, first), 201, &one)
		if one.Status != "in_transit" || one.StatusText != "inbound-scan" || one.EventCount != 1 || len(one.Events) != 1 ||
			one.Events[0].Source != "api" || one.Events[0].Location != "Berlin hub" || one.Events[0].OccurredAt != day.Format(time.RFC3339) {
			t.Errorf("after one event: %+v", one)
		}
		unchanged(t, db, func() {
			c.want(c.do("POST", "/shipment/DHL/TNSYS0001/events", w, first), 200, &again)
		})
		if fmt.Sprint(again) != fmt.Sprint(one) {
			t.Errorf("replay answered %+v, first %+v", again, one)
		}

		// An array, one with an offset other than Z; then the lookup.
		later := map[string]any{"event_id": "e3", "occurred_at": day.Add(3 * time.Hour).In(time.FixedZone("", 3600)).Format(time.RFC3339), "status_text": "Zugestellt", "status": "delivered"}
		c.want(c.do("POST", "/shipment/DHL/TNSYS0001/events", w, []any{ev("e2", day.Add(time.Hour), "delivery"), later}), 201, nil)
		var got sysShipment
		getJSON(t, base+"/shipment/DHL/TNSYS0001", &got)
		if got.Status != "delivered" || got.StatusText != "Zugestellt" || got.EventCount != 3 || len(got.Events) != 3 {
			t.Fatalf("lookup %+v", got)
		}
		for i, want := range []string{"e3", "e2", "e1"} {
			if got.Events[i].EventID != want {
				t.Errorf("events[%d] = %s, want %s (newest first)", i, got.Events[i].EventID, want)
			}
		}
		if got.Events[0].OccurredAt != day.Add(3*time.Hour).Format(time.RFC3339) {
			t.Errorf("occurred_at %s, want it in UTC", got.Events[0].OccurredAt)
		}

		// The latest 20, and ?events=all for every one.
		var many []any
		for i := range 25 {
			many = append(many, ev(fmt.Sprintf("m%02d", i), day.Add(-time.Duration(i+1)*time.Minute), "transit"))
		}
		c.want(c.do("POST", "/shipment/DHL/TNSYS0001/events", w, many), 201, nil)
		getJSON(t, base+"/shipment/DHL/TNSYS0001", &got)
		if got.EventCount != 28 || len(got.Events) != 20 || got.Events[0].EventID != "e3" || got.Status != "delivered" {
			t.Errorf("lookup of 28 events: count %d, %d shown, first %+v, status %s", got.EventCount, len(got.Events), got.Events[0], got.Status)
		}
		getJSON(t, base+"/shipment/DHL/TNSYS0001?events=all", &got)
		if got.EventCount != 28 || len(got.Events) != 28 {
			t.Errorf("?events=all: count %d, %d shown", got.EventCount, len(got.Events))
		}
		if !slices.IsSortedFunc(got.Events, func(a, b sysEvent) int { return strings.Compare(b.OccurredAt, a.OccurredAt) }) {
			t.Errorf("?events=all not newest first: %+v", got.Events)
		}
	})

	// 50 shipments of the batch tests.
	var tns []string
	for i := range 50 {
		tn := fmt.Sprintf("TNBATCH%04d", i)
		tns = append(tns, tn)
		c.want(c.do("PUT", "/shipment/UPS/"+tn, w, putBody("Street 20, 1000 Brussels, Belgium")), 201, nil)
	}

	t.Run("batch of 1000", func(t *testing.T) {
		c := sysClient{t, base}
		var batch []any
		for i := range 1000 {
			batch = append(batch, batchItem("UPS", tns[i%50], ev(fmt.Sprintf("b%04d", i), day.Add(time.Duration(i)*time.Second), "transit")))
		}
		before := readState(t, db)
		var counts sysCounts
		c.want(c.do("POST", "/events", w, batch), 201, &counts)
		if counts != (sysCounts{Created: 1000}) {
			t.Errorf("counts %+v, want 1000 created", counts)
		}
		after := readState(t, db)
		if after.Events != before.Events+1000 {
			t.Errorf("%d events stored, want %d", after.Events-before.Events, 1000)
		}
		unchanged(t, db, func() {
			c.want(c.do("POST", "/events", w, batch), 200, &counts)
		})
		if counts != (sysCounts{Unchanged: 1000}) {
			t.Errorf("retry counts %+v, want 1000 unchanged", counts)
		}
		var got sysShipment
		getJSON(t, base+"/shipment/UPS/"+tns[49], &got)
		if got.EventCount != 20 || got.Events[0].EventID != "b0999" {
			t.Errorf("lookup after the batch: %d events, first %+v", got.EventCount, got.Events[0])
		}
	})

	// A retry racing the first attempt (a client's timeout, a proxy's
	// resend): each is answered as for a retry or a first, never an
	// error, and every event is recorded once.
	t.Run("concurrent retries", func(t *testing.T) {
		c := sysClient{t, base}
		var batch []any
		for i := range 200 {
			batch = append(batch, batchItem("UPS", tns[i%50], ev(fmt.Sprintf("race%04d", i), day.Add(-time.Duration(i)*time.Second), "transit")))
		}
		before := readState(t, db)
		const n = 4
		answers := make([]sysAnswer, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { answers[i] = c.do("POST", "/events", w, batch) })
		}
		wg.Wait()
		created := 0
		for _, a := range answers {
			var counts sysCounts
			if (a.status != 200 && a.status != 201) || json.Unmarshal(a.body, &counts) != nil || counts.Created+counts.Unchanged != 200 {
				t.Errorf("one of %d identical batches at once: %s", n, a)
				continue
			}
			created += counts.Created
		}
		if after := readState(t, db); after.Events != before.Events+200 || created != 200 {
			t.Errorf("%d events stored, %d reported created; want 200", after.Events-before.Events, created)
		}
		// The same for a PUT that creates a shipment.
		puts := make([]sysAnswer, n)
		for i := range n {
			wg.Go(func() {
				puts[i] = c.do("PUT", "/shipment/UPS/TNRACE0001", w, putBody("Street 20, 1000 Brussels, Belgium"))
			})
		}
		wg.Wait()
		createdPuts := 0
		for _, a := range puts {
			switch a.status {
			case 201:
				createdPuts++
			case 200:
			default:
				t.Errorf("one of %d identical PUTs at once: %s", n, a)
			}
		}
		if createdPuts != 1 {
			t.Errorf("%d of %d identical PUTs answered 201, want 1", createdPuts, n)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		c := sysClient{t, base}
		now := time.Now().UTC()
		long := strings.Repeat("x", 10*1024)
		good := func(i int) map[string]any {
			return batchItem("UPS", tns[i%50], ev(fmt.Sprintf("bad-good-%d", i), day, "transit"))
		}
		cases := []struct {
			name   string
			method string
			path   string
			body   any
			status int
			params []string
		}{
			{"put unknown field", "PUT", "/shipment/UPS/TNNEW0001", []byte(`{"sender_address":"Street 1, 10115 Berlin, Germany","receiver_address":"Street 3, 80331 Munich, Germany","articles":[],"colour":"red"}`), 400, []string{"colour"}},
			{"put wrong types", "PUT", "/shipment/UPS/TNNEW0001", []byte(`{"sender_address":1,"receiver_address":"Street 3, 80331 Munich, Germany","articles":[{"name":"Book","quantity":1.5,"price":true,"sku":"B"}]}`), 400,
				[]string{"sender_address", "articles[0].quantity", "articles[0].price"}},
			{"put of an existing shipment with a bad article", "PUT", "/shipment/UPS/" + tns[0], []byte(`{"sender_address":"Street 9, 10115 Berlin, Germany","receiver_address":"Street 3, 80331 Munich, Germany","articles":[{"name":"","quantity":1,"price":"1.00","sku":"B"}]}`), 400, []string{"articles[0].name"}},
			{"event wrong type", "POST", "/shipment/UPS/" + tns[0] + "/events", []byte(`{"occurred_at":123,"status_text":"transit"}`), 400, []string{"occurred_at"}},
			{"event unknown field", "POST", "/shipment/UPS/" + tns[0] + "/events", []byte(`{"occurred_at":"2026-12-01T08:00:00Z","status_text":"transit","colour":"red"}`), 400, []string{"colour"}},
			{"occurred_at without offset", "POST", "/shipment/UPS/" + tns[0] + "/events", map[string]any{"occurred_at": "2026-12-01T08:00:00", "status_text": "transit"}, 400, []string{"occurred_at"}},
			{"occurred_at over a day ahead", "POST", "/shipment/UPS/" + tns[0] + "/events", map[string]any{"occurred_at": now.Add(25 * time.Hour).Format(time.RFC3339), "status_text": "transit"}, 400, []string{"occurred_at"}},
			{"empty status_text", "POST", "/shipment/UPS/" + tns[0] + "/events", map[string]any{"occurred_at": day.Format(time.RFC3339), "status_text": ""}, 400, []string{"status_text"}},
			{"10 KB status_text", "POST", "/shipment/UPS/" + tns[0] + "/events", map[string]any{"occurred_at": day.Format(time.RFC3339), "status_text": long}, 400, []string{"status_text"}},
			{"unknown status", "POST", "/shipment/UPS/" + tns[0] + "/events", map[string]any{"occurred_at": day.Format(time.RFC3339), "status_text": "x", "status": "lost"}, 400, []string{"status"}},
			{"event_id reused with other content", "POST", "/shipment/UPS/" + tns[0] + "/events", ev("b0000", day, "delivered"), 409, []string{"event_id"}},
			{"event_id reused in an array", "POST", "/shipment/UPS/" + tns[0] + "/events", []any{ev("new-1", day, "transit"), ev("b0000", day, "delivered")}, 409, []string{"[1].event_id"}},
			{"event_id reused in a batch", "POST", "/events", []any{good(0), good(1), batchItem("UPS", tns[0], ev("b0000", day, "delivered"))}, 409, []string{"[2].event_id"}},
			{"event for an unknown shipment", "POST", "/shipment/UPS/TNNOPE0001/events", ev("x", day, "transit"), 404, nil},
			{"batch item for an unknown shipment", "POST", "/events", []any{good(0), batchItem("UPS", "TNNOPE0001", ev("x", day, "transit")), good(2)}, 400, []string{"[1].tracking_number"}},
			{"batch with one bad item", "POST", "/events", []any{good(0), good(1), good(2), batchItem("UPS", tns[3], map[string]any{"occurred_at": "yesterday", "status_text": "transit"}), good(4)}, 400, []string{"[3].occurred_at"}},
			{"batch item wrong type", "POST", "/events", []any{good(0), batchItem("UPS", tns[1], map[string]any{"occurred_at": day.Format(time.RFC3339), "status_text": 7})}, 400, []string{"[1].status_text"}},
			{"batch item without carrier", "POST", "/events", []any{good(0), map[string]any{"tracking_number": tns[1], "occurred_at": day.Format(time.RFC3339), "status_text": "transit"}}, 400, []string{"[1].carrier"}},
			{"batch not an array", "POST", "/events", good(0), 400, []string{"body"}},
			{"empty batch", "POST", "/events", []byte(`[]`), 400, []string{"body"}},
			{"trailing data", "POST", "/events", []byte(`[] []`), 400, nil},
			{"not JSON", "POST", "/shipment/UPS/" + tns[0] + "/events", []byte(`{"occurred_at":`), 400, nil},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c := sysClient{t, base}
				unchanged(t, db, func() {
					c.wantProblem(c.do(tc.method, tc.path, w, tc.body), tc.status, tc.params...)
				})
			})
		}
		// The request the bad batch carried is good without its bad
		// item: so the refusal was all or nothing, not a partial write.
		var counts sysCounts
		c.want(c.do("POST", "/events", w, []any{good(0), good(1), good(2), good(4)}), 201, &counts)
		if counts != (sysCounts{Created: 4}) {
			t.Errorf("the good items alone: %+v", counts)
		}
		if a := c.do("GET", "/shipment/UPS/TNNOPE0001", "", nil); a.status != 404 {
			t.Errorf("the unknown shipment exists after the refused writes: %s", a)
		}

		t.Run("10 MB body", func(t *testing.T) {
			c := sysClient{t, base}
			var b bytes.Buffer
			b.WriteString("[")
			item, _ := json.Marshal(good(5))
			for i := 0; b.Len() < 10<<20; i++ {
				if i > 0 {
					b.WriteString(",")
				}
				b.Write(item)
			}
			b.WriteString("]")
			unchanged(t, db, func() {
				p := c.wantProblem(c.do("POST", "/events", w, b.Bytes()), 413)
				if !strings.Contains(p.Detail, "limit of 8M") {
					t.Errorf("413 detail %q does not state the limit", p.Detail)
				}
			})
		})
		t.Run("batch of 100001 items", func(t *testing.T) {
			c := sysClient{t, base}
			// Small items, so the count (not the body limit) is what is
			// refused: well under 8 MB.
			item := fmt.Sprintf(`{"carrier":"UPS","tracking_number":%q,"occurred_at":%q,"status_text":"t"}`, tns[6], day.Format(time.RFC3339))
			body := []byte("[" + strings.Repeat(item+",", 100000) + item + "]")
			if len(body) >= 8_000_000 {
				body = []byte("[" + strings.Repeat("{},", 100000) + "{}]")
			}
			unchanged(t, db, func() {
				p := c.wantProblem(c.do("POST", "/events", w, body), 413)
				if !strings.Contains(p.Detail, "2000") && !strings.Contains(p.Detail, "2,000") {
					t.Errorf("413 detail %q does not state the batch limit", p.Detail)
				}
			})
		})
		t.Run("wrong content type", func(t *testing.T) {
			req, _ := http.NewRequest("POST", base+"/events", strings.NewReader(`[]`))
			req.Header.Set("Authorization", "Bearer "+w)
			req.Header.Set("Content-Type", "text/plain")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 415 {
				t.Errorf("text/plain: %d, want 415", resp.StatusCode)
			}
		})
	})

	t.Run("list while writing", func(t *testing.T) {
		testListWhileWriting(t, base, tns, day)
	})
}

var linkNext = regexp.MustCompile(`<([^>]+)>;\s*rel="next"`)

// listPages follows the Link pages of a listing from path, returning every
// shipment in the order served.
func listPages(t *testing.T, base, path string) []sysShipment {
	t.Helper()
	var all []sysShipment
	for pages := 0; path != ""; pages++ {
		if pages > 1000 {
			t.Fatal("more than 1000 pages")
		}
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+sysReadToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page []sysShipment
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if resp.StatusCode != 200 || err != nil {
			t.Fatalf("GET %s: %d, %v", path, resp.StatusCode, err)
		}
		all = append(all, page...)
		path = ""
		if m := linkNext.FindStringSubmatch(resp.Header.Get("Link")); m != nil {
			path = m[1]
		}
	}
	return all
}

// testListWhileWriting follows ?updated_since= pages while writers append
// events: the pages come in (updated_at, key) order without repeating a
// version, and syncing again from the last stamp seen, once the writes
// stop, leaves the client with exactly the server's state: no change was
// missed. ?status= lists exactly the shipments of that status.
func testListWhileWriting(t *testing.T, base string, tns []string, day time.Time) {
	c := sysClient{t, base}
	key := func(s sysShipment) string { return s.Carrier + "/" + s.TrackingNumber }
	// Writers touch only the first `written` batch shipments: each other
	// shipment has one version during the listing and must be served once
	// per pass.
	const written = 25
	still := map[string]bool{}
	for _, tn := range tns[written:] {
		still["UPS/"+tn] = true
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var writes atomic.Int64
	for g := range 2 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				tn := tns[(i*7+g*13)%written]
				a := c.do("POST", "/shipment/UPS/"+tn+"/events", sysWriteToken,
					ev(fmt.Sprintf("w%d-%d", g, i), day.Add(time.Hour+time.Duration(i)*time.Second), []string{"delivery", "transit", "delivered"}[i%3]))
				if a.status != 201 {
					t.Errorf("write during the listing: %s", a)
					return
				}
				writes.Add(1)
			}
		})
	}
	seen := map[string]sysShipment{} // the client's copy
	since := "1970-01-01T00:00:00Z"
	sync := func() {
		from := since // inclusive: what was served at exactly this stamp comes again
		page := listPages(t, base, "/shipment/?limit=7&updated_since="+from)
		pass := map[string]bool{}
		for i, s := range page {
			if still[key(s)] && pass[key(s)] {
				t.Errorf("%s served twice in one pass", key(s))
			}
			pass[key(s)] = true
			if i > 0 {
				p := page[i-1]
				pt, _ := time.Parse(time.RFC3339Nano, p.UpdatedAt)
				st, _ := time.Parse(time.RFC3339Nano, s.UpdatedAt)
				if st.Before(pt) {
					t.Errorf("page order: %s at %s after %s at %s", key(s), s.UpdatedAt, key(p), p.UpdatedAt)
				}
			}
			if old, ok := seen[key(s)]; ok {
				ot, _ := time.Parse(time.RFC3339Nano, old.UpdatedAt)
				st, _ := time.Parse(time.RFC3339Nano, s.UpdatedAt)
				if st.Before(ot) {
					t.Errorf("%s went back from %s to %s", key(s), old.UpdatedAt, s.UpdatedAt)
				}
			}
			seen[key(s)] = s
			since = s.UpdatedAt
		}
	}
	for pass := 0; pass < 3 || (writes.Load() < 20 && pass < 500); pass++ {
		sync()
	}
	stop.Store(true)
	wg.Wait()
	if writes.Load() < 10 {
		t.Errorf("only %d writes during the listing", writes.Load())
	}
	// The client's copy is the server's state, once the last write's
	// change has reached the read cache (the README's bound: well under
	// a second).
	var full []sysShipment
	var missed []string
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		sync()
		full = listPages(t, base, "/shipment/?limit=1000")
		missed = nil
		if len(full) != len(seen) {
			missed = append(missed, fmt.Sprintf("the client has %d shipments, the server %d", len(seen), len(full)))
		}
		for _, s := range full {
			if got, ok := seen[key(s)]; !ok || got.UpdatedAt != s.UpdatedAt || got.Status != s.Status {
				missed = append(missed, fmt.Sprintf("missed a change: client has %+v, server %+v", got, s))
			}
		}
		if len(missed) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, m := range missed {
		t.Error(m)
	}
	// ?status= lists exactly the shipments of that status.
	for _, st := range []string{"delivered", "out_for_delivery", "in_transit", "pending"} {
		var want []string
		for _, s := range full {
			if s.Status == st {
				want = append(want, key(s))
			}
		}
		var got []string
		for _, s := range listPages(t, base, "/shipment/?limit=3&status="+st) {
			if s.Status != st {
				t.Errorf("?status=%s listed %s of status %s", st, key(s), s.Status)
			}
			got = append(got, key(s))
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("?status=%s: %q, want %q", st, got, want)
		}
	}
	c.wantProblem(c.do("GET", "/shipment/?status=lost", sysReadToken, nil), 400, "status")
	c.wantProblem(c.do("GET", "/shipment/?updated_since=yesterday", sysReadToken, nil), 400, "updated_since")
}

// TestWriteVisibleOnEveryReplica: three servers share one PostgreSQL
// database and Redis, as replicas behind a balancer do. After each write
// through one of them (PUT, one event, a batch), the next lookup on the
// writer shows it at once and a cached lookup and page on each other
// replica within the README's bound for writes (1 s; "Read cache").
func TestWriteVisibleOnEveryReplica(t *testing.T) {
	t.Parallel()
	const bound = time.Second
	rc := testutil.Redis(t)
	e := map[string]string{
		"SHIPTRACK_DATABASE_URL":     storetest.URL(t, "postgres"),
		"SHIPTRACK_REDIS_URL":        testenv.RedisURL(),
		"SHIPTRACK_REDIS_PREFIX":     testutil.RedisPrefix(t, rc),
		"SHIPTRACK_WEATHER_PROVIDER": "off",
		"SHIPTRACK_API_RATE_LIMIT":   "0",
		"SHIPTRACK_API_TOKENS":       sysReadToken,
		"SHIPTRACK_API_WRITE_TOKENS": sysWriteToken,
	}
	var replicas []string
	for range 3 {
		base, _ := startService(t, e, nil)
		testutil.Eventually(t, 10*time.Second, "read cache on", func() bool { return metric(t, base, "shiptrack_cache_on") == 1 })
		replicas = append(replicas, base)
	}
	day := time.Now().UTC().Truncate(time.Second).Add(-48 * time.Hour)
	lookup := func(base, tn string) sysShipment {
		var s sysShipment
		resp, err := http.Get(base + "/shipment/DHL/" + tn)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode == 404 {
			return s
		}
		if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&s) != nil {
			t.Fatalf("lookup on %s: %d", base, resp.StatusCode)
		}
		return s
	}
	// warm caches the lookup (unless it is a 404, which is not cached)
	// and the first page on every replica.
	warm := func(tn string, exists bool) {
		for _, base := range replicas {
			hits := metric(t, base, "shiptrack_cache_hits_total")
			for range 2 {
				lookup(base, tn)
				listPages(t, base, "/shipment/?limit=1000")
			}
			want := hits + 1
			if exists {
				want++
			}
			if metric(t, base, "shiptrack_cache_hits_total") < want {
				t.Fatalf("%s: the lookup and page were not served from the cache", base)
			}
		}
	}
	var worst time.Duration
	step := 0
	// check waits for want to hold of the lookup and of the listing's
	// entry (which leaves events out: inPage) on every replica.
	check := func(what, tn string, writer int, want, inPage func(sysShipment) bool) {
		t.Helper()
		committed := time.Now() // the write's answer has arrived: it has committed
		if s := lookup(replicas[writer], tn); !want(s) {
			t.Errorf("%s: the writer's own next lookup shows %+v", what, s)
		}
		for i, base := range replicas {
			if i == writer {
				continue
			}
			for {
				listed := false
				for _, s := range listPages(t, base, "/shipment/?limit=1000") {
					if s.TrackingNumber == tn && inPage(s) {
						listed = true
					}
				}
				if s := lookup(base, tn); want(s) && listed {
					break
				}
				if time.Since(committed) > bound {
					t.Fatalf("%s through replica %d: not in replica %d's lookup and page within %v", what, writer, i, bound)
				}
				time.Sleep(5 * time.Millisecond)
			}
			worst = max(worst, time.Since(committed))
		}
		step++
	}

	warm("TNREPL0001", false)
	c := sysClient{t, replicas[0]}
	c.want(c.do("PUT", "/shipment/DHL/TNREPL0001", sysWriteToken, putBody("Street 3, 80331 Munich, Germany")), 201, nil)
	pending := func(s sysShipment) bool { return s.Status == "pending" }
	check("PUT", "TNREPL0001", 0, pending, pending)

	for i := range 6 {
		writer := i % 3
		c := sysClient{t, replicas[writer]}
		warm("TNREPL0001", true)
		at := day.Add(time.Duration(i) * time.Hour)
		text := []string{"scanned", "transit", "delivery"}[i%3]
		id := fmt.Sprintf("r%d", i)
		if i%2 == 0 {
			c.want(c.do("POST", "/shipment/DHL/TNREPL0001/events", sysWriteToken, ev(id, at, text)), 201, nil)
		} else {
			var counts sysCounts
			c.want(c.do("POST", "/events", sysWriteToken, []any{batchItem("DHL", "TNREPL0001", ev(id, at, text))}), 201, &counts)
		}
		check("event "+id, "TNREPL0001", writer, func(s sysShipment) bool {
			return s.EventCount == i+1 && s.StatusText == text && len(s.Events) > 0 && s.Events[0].EventID == id
		}, func(s sysShipment) bool { return s.StatusText == text })
	}
	t.Logf("%d writes; slowest to reach another replica's cached lookup and page: %v", step, worst)
}
