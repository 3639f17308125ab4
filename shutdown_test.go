package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shiptrack/shiptrack/internal/testenv"
	"github.com/shiptrack/shiptrack/internal/testutil"
	"github.com/shiptrack/shiptrack/store/storetest"
	"github.com/shiptrack/shiptrack/weather/weathertest"
)

// slowConn dials addr with a tiny receive buffer, so the server's writes
// block once a few KiB are unread (a client on a slow link).
func slowConn(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		if err != nil {
			return err
		}
		return serr
	}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// TestSIGTERMWithSlowClients is issue 19, item 1: the built binary on
// PostgreSQL and Redis, every worker inside a hanging provider call, one
// client reading a multi-MB page at 1 KiB/s and one trickling a request
// body; then a real SIGTERM. The HTTP drain and the job stop have their
// own shares of http.shutdown_timeout, so the process exits 0 within it,
// logs "stopped", every job is back on the queue (none left in a
// processing list), no claim is held, and no worker met a closed handle.
func TestSIGTERMWithSlowClients(t *testing.T) {
	t.Parallel()
	const places = 20
	shutdown := 6 * time.Second // drain 4s, jobs 2s
	bin := buildBinary(t, t.TempDir())
	fake := weathertest.NewServer(t)
	fake.SetMode(weathertest.Hang)
	rc := testutil.Redis(t)
	prefix := testutil.RedisPrefix(t, rc)
	dbURL := storetest.URL(t, "postgres")
	e := map[string]string{
		"SHIPTRACK_DATABASE_URL":          dbURL,
		"SHIPTRACK_REDIS_URL":             testenv.RedisURL(),
		"SHIPTRACK_REDIS_PREFIX":          prefix,
		"SHIPTRACK_WEATHERAPI_KEY":        weathertest.Key,
		"SHIPTRACK_WEATHERAPI_URL":        fake.BaseURL(),
		"SHIPTRACK_WEATHER_RATE":          "1000",
		"SHIPTRACK_HTTP_SHUTDOWN_TIMEOUT": shutdown.String(),
		"SHIPTRACK_HTTP_WRITE_TIMEOUT":    "4s",
		// Longer than the whole shutdown: the trickled body alone would
		// hold the drain to its end.
		"SHIPTRACK_HTTP_READ_TIMEOUT": "60s",
	}
	// 1000 shipments with 16 long-named articles each: a page of about
	// 7 MB, more than the socket buffers hold (4 MiB at most here).
	street := strings.Repeat("Long Street Name ", 25)
	rows := make([]string, 0, 16000)
	for i := range 1000 {
		city := "Town" + letters(i%places)
		for a := range 16 {
			rows = append(rows, fmt.Sprintf(`TN%08d,DHL,"%s 1, 10115 Berlin, Germany","%s 10, 75001 %s, France",%s%d,1,9.99,SKU%d,in-transit`,
				i, street, street, city, strings.Repeat("Article ", 35), a, a))
		}
	}
	if out, err := runImport(copyEnv(e), writeCSV(t, rows...)); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}

	p := startBinary(t, bin, e)
	for deadline := time.Now().Add(20 * time.Second); fake.Total() < 4; { // all 4 workers hang in a call
		if time.Now().After(deadline) {
			t.Fatalf("workers did not start fetching: %v\n%s", fake.Calls(), p.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	addr := strings.TrimPrefix(p.base, "http://")

	// The slow reader: takes the first KiB, then 1 KiB a second.
	reader := slowConn(t, addr)
	if _, err := io.WriteString(reader, "GET /shipment/?limit=1000 HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1024)
	if _, err := io.ReadFull(reader, buf); err != nil {
		t.Fatalf("slow reader: %v", err)
	}
	// Until the process has exited; then the rest is read at full speed.
	exited := make(chan struct{})
	readerDone := make(chan string, 1)
	go func() {
		n, before := int64(len(buf)), int64(0)
		for {
			select {
			case <-exited:
				before = n
				_ = reader.SetReadDeadline(time.Now().Add(10 * time.Second))
				m, err := io.Copy(io.Discard, reader)
				readerDone <- fmt.Sprintf("read %d bytes at 1 KiB/s, %d more after the exit (%v)", before, m, err)
				return
			case <-time.After(time.Second):
			}
			m, err := reader.Read(buf)
			n += int64(m)
			if err != nil {
				readerDone <- fmt.Sprintf("read %d bytes at 1 KiB/s, then %v", n, err)
				return
			}
		}
	}()
	// The slow uploader: a body that never completes.
	uploader := slowConn(t, addr)
	if _, err := io.WriteString(uploader, "POST /shipment/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{"); err != nil {
		t.Fatal(err)
	}
	go func() {
		for range 600 {
			time.Sleep(100 * time.Millisecond)
			if _, err := io.WriteString(uploader, " "); err != nil {
				return
			}
		}
	}()
	time.Sleep(500 * time.Millisecond) // both requests are in the server's hands

	signalled := time.Now()
	p.stop(syscall.SIGTERM, shutdown+20*time.Second)
	took := time.Since(signalled)
	close(exited)
	logs := p.logs.String()
	if p.err != nil {
		var sig string
		if ee, ok := p.err.(*exec.ExitError); ok {
			sig = ee.Sys().(syscall.WaitStatus).Signal().String()
		}
		t.Errorf("exit after SIGTERM: %v %s; want 0. Log:\n%s", p.err, sig, logs)
	}
	t.Logf("exited %v after SIGTERM (shutdown_timeout %v)", took.Round(time.Millisecond), shutdown)
	if took > shutdown+2*time.Second {
		t.Errorf("exit took %v, want within http.shutdown_timeout %v", took, shutdown)
	}
	if !strings.Contains(logs, `"msg":"stopped"`) {
		t.Errorf("no stopped log line:\n%s", logs)
	}
	for _, bad := range []string{"database is closed", "client is closed", "jobs: stop"} {
		if strings.Contains(logs, bad) {
			t.Errorf("log shows %q:\n%s", bad, grepLines(logs, bad))
		}
	}
	select {
	case r := <-readerDone:
		t.Logf("slow reader: %s", r)
		if strings.Contains(r, "timeout") {
			t.Error("the slow reader's connection is still open after the exit")
		}
	case <-time.After(15 * time.Second):
		t.Error("the slow reader's connection is still open after the exit")
	}

	queued, processing := redisHeld(t, rc, prefix)
	if queued != places || processing != 0 {
		t.Errorf("Redis holds %d queued + %d processing jobs; want all %d back on the queue", queued, processing, places)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var held int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM weather WHERE claim_owner <> ''`).Scan(&held); err != nil {
		t.Fatal(err)
	}
	if held != 0 {
		t.Errorf("%d weather claims still held after a clean stop", held)
	}
}

// TestSIGKILLImmediateRestart is issue 19, item 10: kill -9 while every
// worker is inside a provider call, and restart at once, before the dead
// consumer's heartbeat lapses (TestFaultSIGKILL restarts after it). The
// dead consumer's jobs leave its processing list at the first sweep after
// its heartbeat lapsed (heartbeat_ttl + the 30 s sweep at most), not at
// the next window 2 h later, and every place gets its weather; each place
// is called at most twice in all: the call cut by the kill and one after.
func TestSIGKILLImmediateRestart(t *testing.T) {
	t.Parallel()
	const (
		lease     = 3 * time.Second
		heartbeat = 2 * time.Second
		sweep     = 30 * time.Second // jobs.Config.SweepEvery with the default 2h interval
	)
	bin := buildBinary(t, t.TempDir())
	fake, rc, prefix, e := sigkillEnv(t, lease, heartbeat)
	first := startBinary(t, bin, e)
	for deadline := time.Now().Add(20 * time.Second); fake.Total() < 4; {
		if time.Now().After(deadline) {
			t.Fatalf("workers did not start fetching: %v\n%s", fake.Calls(), first.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	first.stop(syscall.SIGKILL, time.Second)
	killedAt := time.Now()
	fake.SetMode(weathertest.OK)
	second := startBinary(t, bin, e)
	if _, processing := redisHeld(t, rc, prefix); processing == 0 {
		t.Fatal("the dead consumer's processing list is already empty; the restart was not immediate")
	}
	limit := heartbeat + sweep + 15*time.Second
	for deadline := killedAt.Add(limit); ; {
		q, p := redisHeld(t, rc, prefix)
		if p == 0 && q == 0 && strings.Contains(second.logs.String(), "returned jobs of stopped workers") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v after the kill Redis still holds %d queued + %d processing jobs", limit, q, p)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("the dead consumer's jobs were back and done %v after the kill", time.Since(killedAt).Round(time.Millisecond))
	waitWeather(t, second.base, 5, 15*time.Second)
	time.Sleep(lease + time.Second) // no late duplicate once the dead claims lapse
	for q, n := range fake.Calls() {
		if n > 2 {
			t.Errorf("%s: %d provider calls; want at most 2 (the one cut by the kill, one after)", q, n)
		}
	}
	second.stop(syscall.SIGTERM, 30*time.Second)
	if second.err != nil {
		t.Errorf("second process exit after SIGTERM: %v", second.err)
	}
}
