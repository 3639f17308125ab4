package main

// Fault tests: each one starts its own throwaway PostgreSQL or Redis (or
// binary) so it can break it without touching the shared services other
// tests use, then checks that shiptrack degrades the documented way and
// recovers without a restart and without losing or duplicating anything.
// docs/reliability.md records what these tests observed.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/shiptrack/shiptrack/internal/testenv"
	"github.com/shiptrack/shiptrack/internal/testutil"
	"github.com/shiptrack/shiptrack/store/storetest"
	"github.com/shiptrack/shiptrack/weather/weathertest"
)

// ---------------------------------------------------------------------------
// Throwaway servers

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// child is a long-running child process that dies with the test process
// (Pdeathsig) and whose exit can be awaited more than once.
type child struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func startChild(cmd *exec.Cmd) (*child, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	go func() { c.err = cmd.Wait(); close(c.done) }()
	return c, nil
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop sends sig and waits up to wait for the exit, then kills.
func (c *child) stop(sig syscall.Signal, wait time.Duration) {
	if c == nil || c.exited() {
		return
	}
	_ = c.cmd.Process.Signal(sig)
	select {
	case <-c.done:
		return
	case <-time.After(wait):
	}
	_ = c.cmd.Process.Kill()
	<-c.done
}

// throwawayPG is a private PostgreSQL 15 server in a temporary directory,
// run as the postgres OS user when the tests run as root (PostgreSQL
// refuses root).
type throwawayPG struct {
	dir, data string
	port      int
	cred      *syscall.Credential
	logPath   string

	mu   sync.Mutex
	proc *child
}

func startThrowawayPostgres(t *testing.T) *throwawayPG {
	t.Helper()
	testenv.Binaries(t, "initdb", "postgres")
	// Not t.TempDir: its parents are root-only, and the server runs as
	// postgres.
	dir, err := os.MkdirTemp("", "shiptrack-fault-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	p := &throwawayPG{dir: dir, data: filepath.Join(dir, "data"), logPath: filepath.Join(dir, "postgres.log")}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skipf("running as root and there is no postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	initdb := exec.Command("initdb", "-D", p.data, "-A", "trust", "-U", "postgres", "-N", "-E", "UTF8", "--locale=C")
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	p.port = freePort(t)
	p.Start(t)
	t.Cleanup(func() { p.Stop(t) })
	return p
}

// URL is the server's postgres database.
func (p *throwawayPG) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

// Start runs the server on its data directory and port and waits until it
// accepts queries.
func (p *throwawayPG) Start(t *testing.T) {
	t.Helper()
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command("postgres", "-D", p.data, "-p", strconv.Itoa(p.port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+p.dir,
		"-c", "fsync=off", "-c", "max_connections=60")
	cmd.Dir = p.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred, Setpgid: true}
	c, err := startChild(cmd)
	if err != nil {
		t.Fatalf("start postgres: %v", err)
	}
	p.mu.Lock()
	p.proc = c
	p.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, p.URL())
		if err == nil {
			err = conn.Ping(ctx)
			conn.Close(ctx)
		}
		cancel()
		if err == nil {
			return
		}
		if c.exited() || time.Now().After(deadline) {
			log, _ := os.ReadFile(p.logPath)
			t.Fatalf("throwaway postgres did not start (%v):\n%s", err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop is `pg_ctl stop -m immediate`: SIGQUIT, no checkpoint, crash
// recovery at the next start.
func (p *throwawayPG) Stop(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	c := p.proc
	p.proc = nil
	p.mu.Unlock()
	if c != nil && !c.exited() { // in case it is paused
		_ = syscall.Kill(c.cmd.Process.Pid, syscall.SIGCONT)
		for _, child := range childPIDs(c.cmd.Process.Pid) {
			_ = syscall.Kill(child, syscall.SIGCONT)
		}
	}
	c.stop(syscall.SIGQUIT, 15*time.Second)
}

// Pause freezes the server and its backends (SIGSTOP to the process
// group): connections stay open and connects are accepted by the kernel,
// but nothing answers, like a hung database or a network black hole.
func (p *throwawayPG) Pause(t *testing.T) { p.signalGroup(t, syscall.SIGSTOP) }

// Resume undoes Pause.
func (p *throwawayPG) Resume(t *testing.T) { p.signalGroup(t, syscall.SIGCONT) }

func (p *throwawayPG) signalGroup(t *testing.T, sig syscall.Signal) {
	t.Helper()
	p.mu.Lock()
	c := p.proc
	p.mu.Unlock()
	if c == nil || c.exited() {
		t.Fatal("throwaway postgres is not running")
	}
	// Backends call setsid(), so the postmaster's process group is just
	// the postmaster: signal it, then each of its children.
	pid := c.cmd.Process.Pid
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
	for _, child := range childPIDs(pid) {
		_ = syscall.Kill(child, sig)
	}
}

// childPIDs lists the processes whose parent is pid, from /proc.
func childPIDs(pid int) []int {
	var out []int
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(b[i+1:]))
		if len(fields) < 2 || fields[1] != strconv.Itoa(pid) {
			continue
		}
		if n, err := strconv.Atoi(filepath.Base(filepath.Dir(f))); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// throwawayRedis is a private redis-server on its own port.
type throwawayRedis struct {
	port int
	args []string
	proc *child
}

func startThrowawayRedis(t *testing.T) *throwawayRedis {
	t.Helper()
	testenv.Binaries(t, "redis-server")
	r := &throwawayRedis{port: freePort(t)}
	r.args = []string{"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--daemonize", "no", "--dir", t.TempDir()}
	r.Start(t)
	t.Cleanup(r.Kill)
	return r
}

func (r *throwawayRedis) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func (r *throwawayRedis) Start(t *testing.T) {
	t.Helper()
	var out testutil.SyncBuffer
	cmd := exec.Command("redis-server", r.args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	c, err := startChild(cmd)
	if err != nil {
		t.Fatalf("start redis: %v", err)
	}
	r.proc = c
	rc := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port), MaxRetries: -1})
	defer rc.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := rc.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if c.exited() || time.Now().After(deadline) {
			t.Fatalf("throwaway redis did not start (%v):\n%s", err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill is a crash: SIGKILL, nothing saved.
func (r *throwawayRedis) Kill() { r.proc.stop(syscall.SIGKILL, 5*time.Second) }

// ---------------------------------------------------------------------------
// Serving and reading

var faultClient = &http.Client{Timeout: 15 * time.Second}

type faultWeather struct {
	TemperatureC float64 `json:"temperature_c"`
	Provider     string  `json:"provider"`
	Stale        bool    `json:"stale"`
	FetchedAt    string  `json:"fetched_at"`
}

type faultShipment struct {
	TrackingNumber string            `json:"tracking_number"`
	Carrier        string            `json:"carrier"`
	Articles       []json.RawMessage `json:"articles"`
	Location       *struct {
		City    string `json:"city"`
		Country string `json:"country"`
	} `json:"receiver_location"`
	Weather *faultWeather `json:"weather"`
}

// listAll reads every shipment (one page of up to 1000) and returns the raw
// body too, to compare states byte for byte.
func listAll(t *testing.T, base string) (raw []byte, list []faultShipment, articles int) {
	t.Helper()
	resp, err := faultClient.Get(base + "/shipment/?limit=1000")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err = io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET /shipment/ = %d: %s", resp.StatusCode, raw)
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		articles += len(s.Articles)
	}
	return raw, list, articles
}

// listAfterImport lists like listAll once the listing shows n shipments,
// or after 5 s: an import runs in another process, and the server's read
// cache drops its answers when the change notification of the import's
// commit arrives, a few milliseconds after the import returns.
func listAfterImport(t *testing.T, base string, n int) (raw []byte, list []faultShipment, articles int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		raw, list, articles = listAll(t, base)
		if len(list) == n || time.Now().After(deadline) {
			return raw, list, articles
		}
	}
}

// waitWeather waits until n shipments carry weather from the provider.
func waitWeather(t *testing.T, base string, n int, within time.Duration) []faultShipment {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		_, list, _ := listAll(t, base)
		got := 0
		for _, s := range list {
			if s.Weather != nil && s.Weather.FetchedAt != "" {
				got++
			}
		}
		if got >= n {
			return list
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v only %d of %d shipments have weather", within, got, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type faultStatus struct {
	Fetched    int64  `json:"fetched"`
	Failed     int64  `json:"failed"`
	Skipped    int64  `json:"skipped"`
	QueueDepth int64  `json:"queue_depth"`
	LastError  string `json:"last_error"`
}

func weatherStatus(t *testing.T, base string) faultStatus {
	t.Helper()
	var st faultStatus
	getJSON(t, base+"/weather/status", &st)
	return st
}

// get makes one GET and returns status, content type, body and duration;
// err is a transport error (including the client's own timeout).
func get(u string) (status int, ctype string, body []byte, d time.Duration, err error) {
	start := time.Now()
	resp, err := faultClient.Get(u)
	if err != nil {
		return 0, "", nil, time.Since(start), err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), body, time.Since(start), err
}

// runImport runs `shiptrack import file` as the command line would.
func runImport(e map[string]string, file string) (string, error) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"import", file}, env(e), &out, io.Discard)
	return out.String(), err
}

func writeCSV(t *testing.T, rows ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "import.csv")
	content := "tracking_number,carrier,sender_address,receiver_address,article_name,article_quantity,article_price,SKU,status\n" +
		strings.Join(rows, "\n") + "\n"
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// copyEnv returns a copy of e, so one test's serve and imports can diverge.
func copyEnv(e map[string]string) map[string]string {
	out := make(map[string]string, len(e))
	for k, v := range e {
		out[k] = v
	}
	return out
}

// ---------------------------------------------------------------------------
// 1. PostgreSQL goes down and comes back

// TestFaultPostgresDown crashes the database under a running server: while
// it is down every request answers 503 problem+json within the request
// timeout and /readyz names the database, an import fails cleanly; when it
// is back the same process serves 200 again and the data is exactly what
// it was, and the failed import then succeeds.
func TestFaultPostgresDown(t *testing.T) {
	t.Parallel()
	pg := startThrowawayPostgres(t)
	const requestTimeout = 2 * time.Second
	var logs testutil.SyncBuffer
	e := map[string]string{
		"SHIPTRACK_DATABASE_URL":         pg.URL(),
		"SHIPTRACK_WEATHER_PROVIDER":     "off",
		"SHIPTRACK_HTTP_REQUEST_TIMEOUT": requestTimeout.String(),
		"SHIPTRACK_API_RATE_LIMIT":       "0",
	}
	base, _ := startService(t, e, slog.New(slog.NewJSONHandler(&logs, nil)))

	_, list, arts := listAll(t, base)
	if len(list) != 5 || arts != 9 {
		t.Fatalf("seed: %d shipments, %d articles; want 5, 9", len(list), arts)
	}
	if out, err := runImport(e, "store/testdata/changed.csv"); err != nil {
		t.Fatalf("import changed.csv: %v", err)
	} else {
		t.Logf("before the outage: %s", strings.TrimSpace(out))
	}
	before, list, arts := listAfterImport(t, base, 6)
	if len(list) != 6 || arts != 9 {
		t.Fatalf("after changed.csv: %d shipments, %d articles; want 6, 9", len(list), arts)
	}
	outageCSV := writeCSV(t,
		`TN77777777,DHL,"Street 1, 10115 Berlin, Germany","Street 3, 1010 Vienna, Austria",Lamp,1,30,LA1,created`,
		`TN77777777,DHL,"Street 1, 10115 Berlin, Germany","Street 3, 1010 Vienna, Austria",Bulb,4,2.5,BU1,created`)

	// A steady client: lookups and listings all through the outage.
	type result struct {
		start  time.Time
		status int
		ctype  string
		dur    time.Duration
		err    error
	}
	var (
		mu       sync.Mutex
		results  []result
		stopLoad = make(chan struct{})
		wg       sync.WaitGroup
	)
	for g := range 4 {
		wg.Go(func() {
			paths := []string{"/shipment/DHL/TN12345678", "/shipment/?limit=3", "/shipment/GLS/TN12345682"}
			for i := g; ; i++ {
				select {
				case <-stopLoad:
					return
				default:
				}
				start := time.Now()
				status, ctype, _, d, err := get(base + paths[i%len(paths)])
				mu.Lock()
				results = append(results, result{start, status, ctype, d, err})
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	time.Sleep(500 * time.Millisecond)

	downAt := time.Now()
	pg.Stop(t)
	t.Logf("postgres stopped (immediate) in %v", time.Since(downAt).Round(time.Millisecond))
	// Until the change feed notices its connection is gone, the read cache
	// may still answer what it holds (correctly: nothing can change while
	// the database is down). From then on, everything reads the database.
	testutil.Eventually(t, 10*time.Second, "read cache off", func() bool { return metric(t, base, "shiptrack_cache_on") == 0 })
	t.Logf("read cache off %v after the stop began", time.Since(downAt).Round(time.Millisecond))

	// While it is down: 503 problem+json, quickly, with Retry-After.
	for _, path := range []string{"/shipment/DHL/TN12345678", "/shipment/", "/shipment/NOPE/X"} {
		start := time.Now()
		resp, err := faultClient.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s while the database is down: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		d := time.Since(start)
		var p faultProblem
		_ = json.Unmarshal(body, &p)
		if resp.StatusCode != 503 || resp.Header.Get("Content-Type") != "application/problem+json" ||
			p.Status != 503 || resp.Header.Get("Retry-After") == "" {
			t.Errorf("GET %s while the database is down = %d %q Retry-After=%q %s; want 503 problem+json with Retry-After",
				path, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Retry-After"), body)
		}
		if d > requestTimeout+time.Second {
			t.Errorf("GET %s took %v while the database is down; want at most the request timeout (%v) + 1s", path, d, requestTimeout)
		}
		t.Logf("down: GET %s = %d in %v: %s", path, resp.StatusCode, d.Round(time.Millisecond), p.Detail)
	}
	status, _, body, d, err := get(base + "/readyz")
	if err != nil || status != 503 || !strings.Contains(string(body), "database") {
		t.Errorf("/readyz while the database is down = %d %s (%v); want 503 naming the database", status, body, err)
	}
	t.Logf("down: /readyz = %d in %v: %s", status, d.Round(time.Millisecond), body)
	if status, _, _, _, _ := get(base + "/healthz"); status != 200 {
		t.Errorf("/healthz while the database is down = %d; want 200 (the process is alive)", status)
	}

	start := time.Now()
	out, err := runImport(e, outageCSV)
	t.Logf("down: import took %v: err = %v", time.Since(start).Round(time.Millisecond), err)
	if err == nil {
		t.Errorf("import while the database is down succeeded: %s", out)
	}
	if time.Since(start) > 20*time.Second {
		t.Errorf("import while the database is down took %v to fail", time.Since(start))
	}

	if rest := 3*time.Second - time.Since(downAt); rest > 0 { // stay down a while
		time.Sleep(rest)
	}
	restartAt := time.Now()
	pg.Start(t)
	t.Logf("postgres down for %v, restarted (crash recovery) in %v", restartAt.Sub(downAt).Round(time.Millisecond),
		time.Since(restartAt).Round(time.Millisecond))
	var recoveredAt time.Time
	for deadline := restartAt.Add(15 * time.Second); ; {
		status, _, _, _, err := get(base + "/shipment/DHL/TN12345678")
		if err == nil && status == 200 {
			recoveredAt = time.Now()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no 200 within 15s of the database coming back (last: %d %v)", status, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("serving 200 again %v after the restart began", recoveredAt.Sub(restartAt).Round(time.Millisecond))
	time.Sleep(time.Second) // let the steady client see the recovery
	close(stopLoad)
	wg.Wait()

	counts := map[string]int{}
	var maxDur time.Duration
	for _, r := range results {
		maxDur = max(maxDur, r.dur)
		phase := "before"
		switch {
		case r.start.After(recoveredAt):
			phase = "after"
		case r.start.After(downAt):
			phase = "outage"
		}
		switch {
		case r.err != nil:
			counts[phase+" transport error"]++
			t.Errorf("%s: request failed: %v", phase, r.err)
		case r.status == 200:
			counts[phase+" 200"]++
		case r.status == 503 && r.ctype == "application/problem+json":
			counts[phase+" 503"]++
		default:
			counts[fmt.Sprintf("%s %d %s", phase, r.status, r.ctype)]++
			t.Errorf("%s: status %d %q; want 200 or 503 problem+json only", phase, r.status, r.ctype)
		}
		if r.dur > requestTimeout+time.Second {
			t.Errorf("%s: a request took %v; want at most the request timeout (%v) + 1s", phase, r.dur, requestTimeout)
		}
		if phase == "after" && r.status != 200 {
			t.Errorf("after recovery: status %d (%v); want 200", r.status, r.err)
		}
		if phase == "before" && r.status != 200 {
			t.Errorf("before the outage: status %d (%v); want 200", r.status, r.err)
		}
	}
	t.Logf("steady client: %d requests, %v, slowest %v", len(results), counts, maxDur.Round(time.Millisecond))
	if counts["outage 503"] == 0 {
		t.Error("the steady client saw no 503 during the outage")
	}

	after, _, _ := listAll(t, base)
	if !bytes.Equal(before, after) {
		t.Errorf("data changed across the outage:\nbefore %s\nafter  %s", before, after)
	}
	if status, _, body, _, _ := get(base + "/readyz"); status != 200 {
		t.Errorf("/readyz after recovery = %d %s", status, body)
	}
	out, err = runImport(e, outageCSV)
	if err != nil || !strings.Contains(out, "1 shipments (2 article rows) read; 1 created, 0 updated, 0 unchanged") {
		t.Errorf("import after recovery: %q, %v; want 1 new shipment with 2 articles", out, err)
	}
	out, err = runImport(e, "store/testdata/changed.csv")
	if err != nil || !strings.Contains(out, "0 created, 0 updated, 2 unchanged") {
		t.Errorf("re-import of changed.csv after recovery: %q, %v; want no change", out, err)
	}
	_, list, arts = listAfterImport(t, base, 7)
	if len(list) != 7 || arts != 11 {
		t.Errorf("after recovery and the import: %d shipments, %d articles; want 7, 11", len(list), arts)
	}
	if strings.Contains(logs.String(), `"status":500`) {
		t.Errorf("a 500 was logged:\n%s", grepLines(logs.String(), `"status":500`))
	}
}

// TestFaultPostgresHangs freezes the database instead of stopping it:
// nothing is refused, nothing answers. Requests must still end within the
// request timeout with 503 problem+json, /readyz within its own 2s check,
// and an import must stop when its context ends; when the database thaws
// the same process serves 200 again with the data unchanged.
func TestFaultPostgresHangs(t *testing.T) {
	t.Parallel()
	pg := startThrowawayPostgres(t)
	const requestTimeout = 2 * time.Second
	e := map[string]string{
		"SHIPTRACK_DATABASE_URL":         pg.URL(),
		"SHIPTRACK_WEATHER_PROVIDER":     "off",
		"SHIPTRACK_HTTP_REQUEST_TIMEOUT": requestTimeout.String(),
		"SHIPTRACK_API_RATE_LIMIT":       "0",
	}
	var logs testutil.SyncBuffer
	base, _ := startService(t, e, slog.New(slog.NewJSONHandler(&logs, nil)))
	before, _, _ := listAll(t, base)

	pausedAt := time.Now()
	pg.Pause(t)
	// More requests at once than the pool has connections (20).
	paths := []string{"/shipment/DHL/TN12345678", "/shipment/", "/shipment/UPS/TN12345679", "/readyz"}
	type result struct {
		path   string
		status int
		ctype  string
		body   []byte
		dur    time.Duration
		err    error
	}
	results := make([]result, 32)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			path := paths[i%len(paths)]
			status, ctype, body, d, err := get(base + path)
			results[i] = result{path, status, ctype, body, d, err}
		})
	}
	wg.Wait()
	counts := map[string]int{}
	var slowest time.Duration
	for _, r := range results {
		slowest = max(slowest, r.dur)
		counts[fmt.Sprintf("%s %d", r.path, r.status)]++
		if r.err != nil || r.status != 503 || r.ctype != "application/problem+json" {
			t.Errorf("GET %s while the database hangs = %d %q %s (%v); want 503 problem+json", r.path, r.status, r.ctype, r.body, r.err)
		}
		if r.path == "/readyz" && !strings.Contains(string(r.body), "database") {
			t.Errorf("/readyz while the database hangs: %s; want it named", r.body)
		}
		if r.dur > requestTimeout+1500*time.Millisecond {
			t.Errorf("GET %s took %v while the database hangs; want at most the request timeout (%v) + 1.5s", r.path, r.dur, requestTimeout)
		}
	}
	t.Logf("hung: %d concurrent requests: %v, slowest %v; e.g. %s", len(results), counts, slowest.Round(time.Millisecond),
		results[0].body)

	// An import with a 3s deadline gives up after 3s: store.Open pings
	// with its context, so neither an import nor serve's start-up waits
	// for a database that does not answer.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	importDone := make(chan error, 1)
	go func() {
		importDone <- run(ctx, []string{"import", "store/testdata/seed.csv"}, env(e), io.Discard, io.Discard)
	}()
	var importErr error
	importReturned := false
	select {
	case importErr = <-importDone:
		importReturned = true
		t.Logf("hung: import with a 3s context returned after %v: %v", time.Since(start).Round(time.Millisecond), importErr)
		if importErr == nil {
			t.Error("import while the database hangs succeeded")
		}
	case <-time.After(6 * time.Second):
		t.Errorf("import with a 3s context still running after %v: store.Open does not honour its context while connecting",
			time.Since(start).Round(time.Millisecond))
	}

	resumedAt := time.Now()
	pg.Resume(t)
	testutil.Eventually(t, 15*time.Second, "200 after the database thawed", func() bool {
		status, _, _, _, err := get(base + "/shipment/DHL/TN12345678")
		return err == nil && status == 200
	})
	t.Logf("hung for %v; serving 200 again %v after it thawed", resumedAt.Sub(pausedAt).Round(time.Millisecond),
		time.Since(resumedAt).Round(time.Millisecond))
	if !importReturned {
		select {
		case importErr = <-importDone:
			t.Logf("the import returned %v after the thaw (%v after it began): %v", time.Since(resumedAt).Round(time.Millisecond),
				time.Since(start).Round(time.Millisecond), importErr)
		case <-time.After(15 * time.Second):
			t.Fatal("the import did not return within 15s of the database thawing")
		}
	}
	for range 30 { // every pooled connection works again (none left broken)
		if status, _, body, _, err := get(base + "/shipment/?limit=3"); err != nil || status != 200 {
			t.Fatalf("after the thaw: %d %s (%v)", status, body, err)
		}
	}
	if after, _, _ := listAll(t, base); !bytes.Equal(before, after) {
		t.Errorf("data changed:\nbefore %s\nafter  %s", before, after)
	}
	if strings.Contains(logs.String(), `"status":500`) {
		t.Errorf("a 500 was logged:\n%s", grepLines(logs.String(), `"status":500`))
	}
}

// faultProblem is the part of a problem body the fault tests read.
type faultProblem struct {
	Status int    `json:"status"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	if len(out) > 20 {
		out = append(out[:20], fmt.Sprintf("... %d more", len(out)-20))
	}
	return strings.Join(out, "\n")
}

// ---------------------------------------------------------------------------
// 2. Redis goes down and comes back

// TestFaultRedisDown crashes Redis under a running server: the API keeps
// serving from the database, /readyz names the queue, the log says the
// queue is unavailable; when Redis is back (empty, as after a crash without
// persistence) the pipeline resumes and a newly imported location gets its
// weather with one provider call.
func TestFaultRedisDown(t *testing.T) {
	t.Parallel()
	rs := startThrowawayRedis(t)
	fake := weathertest.NewServer(t)
	var logs testutil.SyncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := map[string]string{
		"SHIPTRACK_DATABASE_URL":   storetest.URL(t, "postgres"),
		"SHIPTRACK_REDIS_URL":      rs.URL(),
		"SHIPTRACK_REDIS_PREFIX":   "fault-redis",
		"SHIPTRACK_WEATHERAPI_KEY": weathertest.Key,
		"SHIPTRACK_WEATHERAPI_URL": fake.BaseURL(),
		"SHIPTRACK_WEATHER_RATE":   "1000",
		"SHIPTRACK_API_RATE_LIMIT": "0",
	}
	servedAt := time.Now()
	base, _ := startService(t, e, log)
	waitWeather(t, base, 5, 20*time.Second)
	t.Logf("5 shipments have weather %v after start", time.Since(servedAt).Round(time.Millisecond))

	downAt := time.Now()
	rs.Kill()
	ok := 0
	for i := range 20 {
		status, _, body, _, err := get(base + []string{"/shipment/", "/shipment/DHL/TN12345678"}[i%2])
		if err != nil || status != 200 {
			t.Errorf("request while Redis is down = %d %s (%v); want 200 from the database", status, body, err)
		} else {
			ok++
		}
	}
	_, list, _ := listAll(t, base)
	for _, s := range list {
		if s.Weather == nil || s.Weather.TemperatureC != 8.2 {
			t.Errorf("%s/%s lost its weather while Redis is down: %+v", s.Carrier, s.TrackingNumber, s.Weather)
		}
	}
	status, _, body, _, err := get(base + "/readyz")
	if err != nil || status != 503 || !strings.Contains(string(body), "queue") || strings.Contains(string(body), `"database":"down"`) {
		t.Errorf("/readyz while Redis is down = %d %s (%v); want 503 naming the queue only", status, body, err)
	}
	t.Logf("down: %d/20 requests 200, /readyz = %d %s", ok, status, body)
	if st := weatherStatus(t, base); st.QueueDepth != -1 {
		t.Errorf("/weather/status queue_depth = %d while Redis is down; want -1", st.QueueDepth)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "queue unavailable"); {
		if time.Now().After(deadline) {
			t.Fatalf("no \"queue unavailable\" log line after Redis died:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("log: %s", firstLine(grepLines(logs.String(), "queue unavailable")))

	if rest := 3*time.Second - time.Since(downAt); rest > 0 {
		time.Sleep(rest)
	}
	restartAt := time.Now()
	rs.Start(t)
	testutil.Eventually(t, 10*time.Second, "/readyz 200 after Redis came back", func() bool {
		status, _, _, _, _ := get(base + "/readyz")
		return status == 200
	})
	t.Logf("Redis down for %v; /readyz 200 again %v after the restart", restartAt.Sub(downAt).Round(time.Millisecond),
		time.Since(restartAt).Round(time.Millisecond))

	// The pipeline resumes: a new receiver city imported now is queued by
	// the new-location sweep (every 30s) and fetched once.
	csv := writeCSV(t, `TN55555555,DHL,"Street 1, 10115 Berlin, Germany","Street 3, 1010 Vienna, Austria",Lamp,1,30,LA1,created`)
	importedAt := time.Now()
	if out, err := runImport(e, csv); err != nil {
		t.Fatalf("import: %v", err)
	} else if !strings.Contains(out, "1 new locations") {
		t.Fatalf("import output %q; want 1 new location", out)
	}
	for deadline := time.Now().Add(45 * time.Second); ; {
		var s faultShipment
		getJSON(t, base+"/shipment/DHL/TN55555555", &s)
		if s.Weather != nil && s.Weather.FetchedAt != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new location got no weather within 45s of its import; calls %v", fake.Calls())
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("new location fetched %v after its import (%v after serve started)",
		time.Since(importedAt).Round(time.Millisecond), time.Since(servedAt).Round(time.Millisecond))
	calls := fake.Calls()
	if calls["Vienna,Austria"] != 1 || len(calls) != 6 || fake.Total() != 6 {
		t.Errorf("provider calls %v; want one per location (6)", calls)
	}
	t.Logf("\"queue unavailable\" logged %d times during a %v outage", strings.Count(logs.String(), "queue unavailable"),
		restartAt.Sub(downAt).Round(time.Millisecond))
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// ---------------------------------------------------------------------------
// 3. SIGKILL in the middle of provider calls

// buildBinary builds shiptrack into dir.
func buildBinary(t *testing.T, dir string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(dir, "shiptrack")
	start := time.Now()
	if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built the binary in %v", time.Since(start).Round(time.Millisecond))
	return bin
}

// procServer is the shiptrack binary running as a child process.
type procServer struct {
	*child
	base string
	logs *testutil.SyncBuffer
}

// startBinary runs `bin serve` with only the environment e (no config.yaml:
// defaults plus e) on a free loopback port, and waits until it logs that
// it listens. It is killed when the test ends if still running.
func startBinary(t *testing.T, bin string, e map[string]string) *procServer {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Dir = t.TempDir()
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(),
		"SHIPTRACK_LISTEN=127.0.0.1:0", "SHIPTRACK_LOG_FORMAT=json", "SHIPTRACK_LOG_LEVEL=debug"}
	for k, v := range e {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logs := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	c, err := startChild(cmd)
	if err != nil {
		t.Fatal(err)
	}
	p := &procServer{child: c, logs: logs}
	t.Cleanup(func() { p.stop(syscall.SIGKILL, time.Second) })
	for deadline := time.Now().Add(30 * time.Second); p.base == ""; {
		for _, line := range strings.Split(logs.String(), "\n") {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
				p.base = "http://" + rec.Addr
			}
		}
		if c.exited() || time.Now().After(deadline) {
			t.Fatalf("shiptrack did not start listening (exited %v: %v):\n%s", c.exited(), c.err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p
}

// command returns `shiptrack args...` with the server's environment and
// the address it listens on, for commands such as healthcheck.
func (p *procServer) command(args ...string) *exec.Cmd {
	c := exec.Command(p.cmd.Path, args...)
	c.Dir = p.cmd.Dir
	c.Env = append(slices.Clone(p.cmd.Env), "SHIPTRACK_LISTEN="+strings.TrimPrefix(p.base, "http://"))
	return c
}

// redisHeld counts the jobs in the queue and in every consumer's
// processing list under prefix.
func redisHeld(t *testing.T, rc *redis.Client, prefix string) (queued, processing int64) {
	t.Helper()
	ctx := context.Background()
	queued, err := rc.LLen(ctx, prefix+":queue").Result()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := rc.Keys(ctx, prefix+":processing:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		n, err := rc.LLen(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		processing += n
	}
	return queued, processing
}

// sigkillEnv is the set-up of the kill -9 tests: a provider that hangs
// (so every worker is inside a call when the process dies), a Redis key
// prefix of the test's own, removed at the end, and the environment of a
// binary on PostgreSQL and that Redis with a short lease and heartbeat.
func sigkillEnv(t *testing.T, lease, heartbeat time.Duration) (fake *weathertest.Server, rc *redis.Client, prefix string, e map[string]string) {
	t.Helper()
	fake = weathertest.NewServer(t)
	fake.SetMode(weathertest.Hang)
	rc = testutil.Redis(t)
	prefix = testutil.RedisPrefix(t, rc)
	e = map[string]string{
		"SHIPTRACK_DATABASE_URL":        storetest.URL(t, "postgres"),
		"SHIPTRACK_REDIS_URL":           testenv.RedisURL(),
		"SHIPTRACK_REDIS_PREFIX":        prefix,
		"SHIPTRACK_WEATHERAPI_KEY":      weathertest.Key,
		"SHIPTRACK_WEATHERAPI_URL":      fake.BaseURL(),
		"SHIPTRACK_WEATHER_RATE":        "1000",
		"SHIPTRACK_WEATHER_CLAIM_LEASE": lease.String(),
		"SHIPTRACK_REDIS_HEARTBEAT_TTL": heartbeat.String(),
	}
	return fake, rc, prefix, e
}

// TestFaultSIGKILL kills the binary with SIGKILL while every worker is
// inside a provider call that hangs: Redis still holds all 5 jobs; a second
// process on the same database and Redis returns the dead consumer's jobs
// to the queue once its heartbeat lapses, waits out the dead claims' lease
// and fetches every location exactly once.
func TestFaultSIGKILL(t *testing.T) {
	t.Parallel()
	const (
		lease     = 3 * time.Second
		heartbeat = 2 * time.Second
	)
	bin := buildBinary(t, t.TempDir())
	fake, rc, prefix, e := sigkillEnv(t, lease, heartbeat)

	first := startBinary(t, bin, e)
	for deadline := time.Now().Add(20 * time.Second); fake.Total() < 4; { // all 4 workers hang in a call
		if time.Now().After(deadline) {
			t.Fatalf("workers did not start fetching: %v\n%s", fake.Calls(), first.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	first.stop(syscall.SIGKILL, time.Second)
	killedAt := time.Now()
	if ws, ok := first.err.(*exec.ExitError); !ok || ws.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("first process ended with %v; want killed by SIGKILL", first.err)
	}
	time.Sleep(100 * time.Millisecond) // the fake notices the dropped connections
	before := fake.Calls()
	queued, processing := redisHeld(t, rc, prefix)
	t.Logf("after SIGKILL: provider calls %v, Redis holds %d queued + %d in processing", before, queued, processing)
	if queued+processing != 5 {
		t.Fatalf("Redis holds %d queued + %d processing jobs after SIGKILL; want 5 in all", queued, processing)
	}

	// The dead consumer's heartbeat lapses; only then can its jobs return.
	for deadline := time.Now().Add(heartbeat + 5*time.Second); ; {
		keys, err := rc.Keys(context.Background(), prefix+":alive:*").Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alive key %v did not expire", keys)
		}
		time.Sleep(50 * time.Millisecond)
	}
	fake.SetMode(weathertest.OK)
	second := startBinary(t, bin, e)
	list := waitWeather(t, second.base, 5, 30*time.Second)
	fetchedAt := time.Now()
	t.Logf("second process: all 5 locations have weather %v after the kill", fetchedAt.Sub(killedAt).Round(time.Millisecond))
	for _, s := range list {
		if s.Weather.Provider != "weatherapi" || s.Weather.Stale || s.Weather.TemperatureC != 8.2 {
			t.Errorf("%s/%s weather %+v", s.Carrier, s.TrackingNumber, s.Weather)
		}
	}

	// Every job (the dead process's, returned to the queue, and those the
	// start-up run queued for locations still without weather) is settled,
	// and nothing more is called even after the dead claims' lease.
	var st faultStatus
	for deadline := time.Now().Add(15 * time.Second); ; {
		st = weatherStatus(t, second.base)
		q, p := redisHeld(t, rc, prefix)
		// The start-up tick has run once it returned the dead consumer's
		// jobs (the places are already marked queued in this window, so it
		// may queue nothing new) or queued some.
		logs := second.logs.String()
		ran := strings.Contains(logs, "weather refresh queued") || strings.Contains(logs, "returned jobs of stopped workers")
		if q == 0 && p == 0 && ran {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs not all settled: status %+v, Redis %d queued + %d processing", st, q, p)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if rest := lease + time.Second - time.Since(fetchedAt); rest > 0 {
		time.Sleep(rest)
	}
	after := fake.Calls()
	for q, n := range after {
		if n-before[q] != 1 {
			t.Errorf("%s: %d provider calls after the kill; want exactly 1", q, n-before[q])
		}
		if n > 2 {
			t.Errorf("%s: %d provider calls in all; want at most 2 (one killed, one completed)", q, n)
		}
	}
	if len(after) != 5 {
		t.Errorf("provider calls %v; want 5 locations", after)
	}
	// The status counts jobs since the start-up run began; a job taken in
	// the moment before it may be done and not counted, hence at most 5.
	st = weatherStatus(t, second.base)
	if st.Fetched > 5 || st.Failed != 0 {
		t.Errorf("second process status %+v; want at most 5 fetched, 0 failed", st)
	}
	recovered := grepLines(second.logs.String(), "returned jobs of stopped workers")
	if !strings.Contains(recovered, fmt.Sprintf(`"jobs":%d`, processing)) {
		t.Errorf("the second process did not log returning the dead consumer's %d jobs; log:\n%s", processing, second.logs.String())
	}
	t.Logf("second process: %+v; calls before kill %v, after %v; log: %s", st, before, after, recovered)

	// A clean stop of the second process leaves Redis empty.
	second.stop(syscall.SIGTERM, 30*time.Second)
	if second.err != nil {
		t.Errorf("second process exit after SIGTERM: %v", second.err)
	}
	if q, p := redisHeld(t, rc, prefix); q+p != 0 {
		t.Errorf("Redis holds %d queued + %d processing jobs after a clean stop; want none", q, p)
	}
}

// ---------------------------------------------------------------------------
// 4. A provider that sends a huge body

// TestFaultProviderHugeBody has the provider answer with a 50 MB streaming
// body in WeatherAPI's shape: the fetch fails at the 1 MiB body limit
// without reading the rest, the run completes, the previous weather stays
// (marked stale by the recorded error) and the heap does not grow by
// anything like the body.
func TestFaultProviderHugeBody(t *testing.T) {
	t.Parallel()
	const bodySize = 50 << 20
	fake := weathertest.NewServer(t)
	var (
		huge     atomic.Bool
		hugeReqs atomic.Int64
		maxSent  atomic.Int64
	)
	provider := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !huge.Load() {
			fake.Config.Handler.ServeHTTP(w, r)
			return
		}
		hugeReqs.Add(1)
		n := writeHugeWeather(w, r, bodySize)
		for {
			m := maxSent.Load()
			if n <= m || maxSent.CompareAndSwap(m, n) {
				break
			}
		}
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = provider.Serve(ln) }()
	t.Cleanup(func() { _ = provider.Close() })

	dbURL := storetest.URL(t, "postgres")
	var logs testutil.SyncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := map[string]string{
		"SHIPTRACK_DATABASE_URL":   dbURL,
		"SHIPTRACK_WEATHERAPI_KEY": weathertest.Key,
		"SHIPTRACK_WEATHERAPI_URL": "http://" + ln.Addr().String() + "/v1",
		"SHIPTRACK_WEATHER_RATE":   "1000",
	}
	base, stop := startService(t, e, log)
	waitWeather(t, base, 5, 20*time.Second)
	stop()

	// Two hours pass: every location is due again.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "UPDATE weather SET fetched_at = fetched_at - interval '2 hours 5 minutes'"); err != nil {
		t.Fatal(err)
	}

	huge.Store(true)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapBefore := ms.HeapInuse
	var peak atomic.Uint64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
		}
	}()
	start := time.Now()
	base, _ = startService(t, e, log)
	var st faultStatus
	for deadline := time.Now().Add(60 * time.Second); ; {
		st = weatherStatus(t, base)
		if st.Failed >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run did not finish: %+v", st)
		}
		if status, _, _, _, err := get(base + "/shipment/DHL/TN12345678"); err != nil || status != 200 {
			t.Errorf("lookup during the huge-body run = %d (%v)", status, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	took := time.Since(start)
	close(stopSampling)
	<-sampled
	growth := int64(peak.Load()) - int64(heapBefore)
	t.Logf("huge-body run: %+v in %v; %d provider responses of %d MiB each, at most %.1f MiB of one was sent before the client hung up; heap in use grew by %.1f MiB at peak",
		st, took.Round(time.Millisecond), hugeReqs.Load(), bodySize>>20, float64(maxSent.Load())/(1<<20), float64(growth)/(1<<20))
	if st.Fetched != 0 || st.Failed != 5 {
		t.Errorf("status %+v; want 5 failed, 0 fetched", st)
	}
	if !strings.Contains(st.LastError+logs.String(), "exceeds") {
		t.Errorf("no \"body exceeds\" error logged:\n%s", grepLines(logs.String(), "weather fetch failed"))
	}
	if m := maxSent.Load(); m > 24<<20 {
		t.Errorf("the provider got to send %.1f MiB of a response: the client read past its 1 MiB limit", float64(m)/(1<<20))
	}
	if growth > 40<<20 {
		t.Errorf("heap in use grew by %.1f MiB during the huge-body run", float64(growth)/(1<<20))
	}
	_, list, _ := listAll(t, base)
	for _, s := range list {
		if w := s.Weather; w == nil || w.TemperatureC != 8.2 || !w.Stale {
			t.Errorf("%s/%s weather after the failed run: %+v; want the previous 8.2 °C, stale", s.Carrier, s.TrackingNumber, w)
		}
	}
	var withError int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM weather WHERE last_error LIKE '%exceeds%' AND temperature_c = 8.2 AND claim_owner = ''").Scan(&withError); err != nil {
		t.Fatal(err)
	}
	if withError != 5 {
		t.Errorf("%d weather rows keep 8.2 °C with the body-limit error and no claim; want 5", withError)
	}
	if status, _, _, _, _ := get(base + "/healthz"); status != 200 {
		t.Errorf("/healthz = %d after the huge-body run", status)
	}
}

// writeHugeWeather streams a WeatherAPI current.json answer whose
// condition text makes it size bytes long, and returns how much of it was
// written before the client hung up.
func writeHugeWeather(w http.ResponseWriter, r *http.Request, size int) int64 {
	city, country, _ := strings.Cut(r.URL.Query().Get("q"), ",")
	now := time.Now().Unix()
	head := fmt.Sprintf(`{"location":{"name":%q,"country":%q,"localtime_epoch":%d},"current":{"last_updated_epoch":%d,"temp_c":-40,"is_day":1,"wind_kph":1,"humidity":1,"condition":{"code":1003,"text":"`,
		city, country, now, now)
	tail := `"}}}`
	w.Header().Set("Content-Type", "application/json")
	var sent int64
	n, err := io.WriteString(w, head)
	sent += int64(n)
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	for rest := size - len(head) - len(tail); rest > 0 && err == nil; rest -= len(chunk) {
		n, err = w.Write(chunk[:min(len(chunk), rest)])
		sent += int64(n)
	}
	if err == nil {
		n, _ = io.WriteString(w, tail)
		sent += int64(n)
	}
	return sent
}

// ---------------------------------------------------------------------------
// 5. Load

// vmRSS returns this process's resident set size in bytes.
func vmRSS() (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc/self/status")
}

// TestFaultLoad runs a mixed request load (16 concurrent clients for
// SHIPTRACK_LOAD_SECONDS, default 10) against serve on PostgreSQL while a
// weather refresh of 205 locations runs: no 5xx, no transport error, and
// the process RSS stays flat after warm-up. It does not run in parallel
// with other tests so that the RSS is its own.
func TestFaultLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test skipped in -short mode")
	}
	seconds := 10
	if v := os.Getenv("SHIPTRACK_LOAD_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 3 {
			t.Fatalf("SHIPTRACK_LOAD_SECONDS=%q: want a whole number of at least 3", v)
		}
		seconds = n
	}
	const (
		clients     = 16
		locations   = 200
		maxRequests = 2_000_000
	)
	duration := time.Duration(seconds) * time.Second

	fake := weathertest.NewServer(t)
	slowProvider := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
		fake.Config.Handler.ServeHTTP(w, r)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = slowProvider.Serve(ln) }()
	t.Cleanup(func() { _ = slowProvider.Close() })

	// 5 seed shipments plus 200 with a receiver city each, so the refresh
	// (at a rate that spreads it over the load) runs the whole time.
	rows := make([]string, 0, 2*locations)
	for i := range locations {
		city := "Load" + letters(i)
		for a := range 2 {
			rows = append(rows, fmt.Sprintf(`LT%06d,LOAD,"Street 1, 10115 Berlin, Germany","Street %d, %05d %s, Germany",Item %d,%d,%d.99,SKU%d,in-transit`,
				i, i+1, 10000+i, city, a, a+1, i%500, a))
		}
	}
	e := map[string]string{
		"SHIPTRACK_DATABASE_URL":   storetest.URL(t, "postgres"),
		"SHIPTRACK_WEATHERAPI_KEY": weathertest.Key,
		"SHIPTRACK_WEATHERAPI_URL": "http://" + ln.Addr().String() + "/v1",
		"SHIPTRACK_WEATHER_RATE":   strconv.FormatFloat(float64(locations+5)/float64(seconds), 'f', 2, 64),
		"SHIPTRACK_API_RATE_LIMIT": "0", // one client address here; the limiter is not what is measured
		"SHIPTRACK_LOG_LEVEL":      "warn",
	}
	for _, f := range []string{"store/testdata/seed.csv", writeCSV(t, rows...)} {
		if _, err := runImport(e, f); err != nil {
			t.Fatal(err)
		}
	}
	var logs testutil.SyncBuffer
	base, _ := startService(t, e, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})))
	resp, err := faultClient.Get(base + "/shipment/?limit=20")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	next, _, _ := strings.Cut(strings.TrimPrefix(resp.Header.Get("Link"), "<"), ">")
	if next == "" {
		t.Fatal("no Link to a next page")
	}

	type req struct {
		method, path, ctype, body string
	}
	mix := []req{
		{"GET", "/shipment/?limit=50", "", ""},
		{"GET", "/shipment/DHL/TN12345678", "", ""},
		{"POST", "/shipment/", "application/json", `{"tracking_number":"TN12345679","carrier":"ups"}`},
		{"POST", "/shipment/", "application/x-www-form-urlencoded", url.Values{"tracking_number": {"LT000042"}, "carrier": {"load"}}.Encode()},
		{"GET", "/shipment/DHL/TN00000000", "", ""}, // 404
		{"GET", "/shipment/?carrier=LOAD&status=in_transit&limit=100", "", ""},
		{"GET", next, "", ""},
		{"GET", "/shipment/LOAD/LT000199", "", ""},
		{"GET", "/readyz", "", ""},
		{"GET", "/weather/status", "", ""},
		{"GET", "/healthz", "", ""},
		{"POST", "/shipment/", "application/json", `{"carrier":"DHL"}`}, // 400
	}
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	defer client.CloseIdleConnections()

	type tally struct {
		status    map[int]int
		transport int
		lat       []time.Duration
		byReq     [][]time.Duration // per entry of mix
	}
	tallies := make([]tally, clients)
	var total atomic.Int64
	rss0, _ := vmRSS()
	stopRSS := make(chan struct{})
	rssDone := make(chan []int64)
	go func() {
		var samples []int64
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stopRSS:
				rssDone <- samples
				return
			case <-tick.C:
				if v, err := vmRSS(); err == nil {
					samples = append(samples, v)
				}
			}
		}
	}()
	start := time.Now()
	end := start.Add(duration)
	var wg sync.WaitGroup
	for g := range clients {
		wg.Go(func() {
			tl := &tallies[g]
			tl.status = map[int]int{}
			tl.byReq = make([][]time.Duration, len(mix))
			for i := g; time.Now().Before(end) && total.Add(1) <= maxRequests; i++ {
				r := mix[i%len(mix)]
				hr, err := http.NewRequest(r.method, base+r.path, strings.NewReader(r.body))
				if err != nil {
					panic(err)
				}
				if r.ctype != "" {
					hr.Header.Set("Content-Type", r.ctype)
				}
				t0 := time.Now()
				resp, err := client.Do(hr)
				if err != nil {
					tl.transport++
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				tl.lat = append(tl.lat, time.Since(t0))
				tl.byReq[i%len(mix)] = append(tl.byReq[i%len(mix)], time.Since(t0))
				tl.status[resp.StatusCode]++
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stopRSS)
	samples := <-rssDone

	statuses := map[int]int{}
	var lat []time.Duration
	transport, served := 0, 0
	for _, tl := range tallies {
		transport += tl.transport
		lat = append(lat, tl.lat...)
		for s, n := range tl.status {
			statuses[s] += n
			served += n
		}
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(float64(len(lat))*p))].Round(10 * time.Microsecond)
	}
	fivexx := 0
	var codes []string
	for s, n := range statuses {
		codes = append(codes, fmt.Sprintf("%d:%d", s, n))
		if s >= 500 {
			fivexx += n
		}
	}
	sort.Strings(codes)
	mib := func(v int64) string { return fmt.Sprintf("%.0f", float64(v)/(1<<20)) }
	var rssText []string
	for _, v := range samples {
		rssText = append(rssText, mib(v))
	}
	st := weatherStatus(t, base)
	t.Logf("load: %d clients for %v: %d responses (%.0f/s), statuses %s, %d transport errors, %d 5xx; latency p50 %v p99 %v max %v",
		clients, elapsed.Round(time.Millisecond), served, float64(served)/elapsed.Seconds(), strings.Join(codes, " "),
		transport, fivexx, pct(0.50), pct(0.99), pct(1))
	for k, r := range mix {
		var all []time.Duration
		for _, tl := range tallies {
			all = append(all, tl.byReq[k]...)
		}
		slices.Sort(all)
		if len(all) > 0 {
			t.Logf("  %-4s %-60.60s n=%-5d p50 %-10v p99 %v", r.method, r.path, len(all),
				all[len(all)/2].Round(10*time.Microsecond), all[min(len(all)-1, len(all)*99/100)].Round(10*time.Microsecond))
		}
	}
	t.Logf("weather refresh during the load: %d provider calls; status %+v", fake.Total(), st)
	t.Logf("RSS MiB before load %s, then every second: %s", mib(rss0), strings.Join(rssText, " "))

	if fivexx != 0 || transport != 0 {
		t.Errorf("%d 5xx responses and %d transport errors under load; want none", fivexx, transport)
	}
	for s := range statuses {
		if s != 200 && s != 400 && s != 404 {
			t.Errorf("unexpected status %d (%d times)", s, statuses[s])
		}
	}
	if fake.Total() == 0 {
		t.Error("no weather was fetched during the load")
	}
	warm := min(2, len(samples)-1)
	if len(samples) < 3 {
		t.Fatalf("only %d RSS samples", len(samples))
	}
	if last := samples[len(samples)-1]; float64(last) > 1.5*float64(samples[warm]) {
		t.Errorf("RSS grew from %s MiB after warm-up to %s MiB at the end; want at most 1.5x", mib(samples[warm]), mib(last))
	}
	if strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Errorf("errors logged under load:\n%s", grepLines(logs.String(), `"level":"ERROR"`))
	}
}

// letters names i with letters only (a city name must not contain digits,
// or the address parser takes it for part of the postal code).
func letters(i int) string {
	s := ""
	for {
		s = string(rune('a'+i%26)) + s
		i /= 26
		if i == 0 {
			return s
		}
		i--
	}
}
