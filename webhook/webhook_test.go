package webhook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSignatureMatchesPython checks the scheme against a second,
// independent implementation written from the README's description:
// Python's hmac module.
func TestSignatureMatchesPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("python3 is needed to check the signature independently")
	}
	secret, body := "whsec_test", []byte(`{"id":"d1","type":"shipment.status_changed"}`)
	ts := time.Unix(1767225600, 0)
	script := `import hmac, hashlib, sys
secret, ts, body = sys.argv[1], sys.argv[2], sys.stdin.buffer.read()
print("v1=" + hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest())`
	cmd := exec.Command(py, "-c", script, secret, "1767225600")
	cmd.Stdin = strings.NewReader(string(body))
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Sign(secret, ts, body), strings.TrimSpace(string(out)); got != want {
		t.Fatalf("Sign = %s, python says %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(1767225600, 0)
	body := []byte(`{"a":1}`)
	sig := Sign("s1", now, body)
	tests := []struct {
		name, secret, ts, sig string
		body                  []byte
		want                  error
	}{
		{"good", "s1", "1767225600", sig, body, nil},
		{"rotating: old and new", "s1", "1767225600", Sign("s0", now, body) + ", " + sig, body, nil},
		{"other secret", "s2", "1767225600", sig, body, ErrBadSignature},
		{"changed body", "s1", "1767225600", sig, []byte(`{"a":2}`), ErrBadSignature},
		{"changed timestamp", "s1", "1767225601", sig, body, ErrBadSignature},
		{"old", "s1", "1767225000", Sign("s1", time.Unix(1767225000, 0), body), body, ErrStale},
		{"not a number", "s1", "soon", sig, body, ErrStale},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Verify(tt.secret, tt.ts, tt.sig, tt.body, now, 5*time.Minute); !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCheckURL(t *testing.T) {
	ctx := context.Background()
	public := Policy{}
	private := Policy{AllowPrivate: true, Self: []string{"127.0.0.1:8080", ":9090"}}
	tests := []struct {
		name string
		p    Policy
		url  string
		ok   bool
	}{
		{"https public ip", public, "https://93.184.215.14/hook", true},
		{"http refused", public, "http://93.184.215.14/hook", false},
		{"relative", public, "/hook", false},
		{"user info", public, "https://u:p@93.184.215.14/", false},
		{"loopback", public, "https://127.0.0.1/hook", false},
		{"loopback v6", public, "https://[::1]/hook", false},
		{"mapped loopback", public, "https://[::ffff:127.0.0.1]/hook", false},
		{"localhost name", public, "https://localhost/hook", false},
		{"private 10/8", public, "https://10.1.2.3/hook", false},
		{"private 192.168", public, "https://192.168.1.1/hook", false},
		{"link-local metadata", public, "https://169.254.169.254/latest", false},
		{"unique local v6", public, "https://[fd00::1]/", false},
		{"unspecified", public, "https://0.0.0.0/", false},
		{"cgnat", public, "https://100.64.0.1/", false},
		{"allowed private http", private, "http://127.0.0.1:8081/hook", true},
		{"own address", private, "http://127.0.0.1:8080/hook", false},
		{"own wildcard listener", private, "http://127.0.0.1:9090/hook", false},
		{"own via localhost", private, "http://localhost:9090/hook", false},
		{"ftp", private, "ftp://127.0.0.1/x", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.CheckURL(ctx, tt.url, nil)
			if (err == nil) != tt.ok {
				t.Fatalf("CheckURL(%s) = %v, want ok=%v", tt.url, err, tt.ok)
			}
		})
	}
}

// receiver is a real HTTP endpoint that records what it got and answers
// as its handler says.
type receiver struct {
	mu   sync.Mutex
	got  []*http.Request
	body [][]byte
}

func (r *receiver) record(req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, req)
	r.body = append(r.body, b)
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

func TestSend(t *testing.T) {
	now := time.Now()
	body := []byte(`{"id":"d1"}`)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }))
	t.Cleanup(other.Close)
	tests := []struct {
		name      string
		handler   func(w http.ResponseWriter, r *http.Request)
		ok, retry bool
		status    int
		after     time.Duration
	}{
		{"accepted", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }, true, false, 204, 0},
		{"server error", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }, false, true, 503, 0},
		{"rate limited", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(429)
		}, false, true, 429, 120 * time.Second},
		{"gone", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(410) }, false, false, 410, 0},
		{"bad request", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(400) }, false, false, 400, 0},
		{"hangs", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}, false, true, 0, 0},
		{"closes the connection", func(w http.ResponseWriter, r *http.Request) {
			c, _, _ := w.(http.Hijacker).Hijack()
			c.Close()
		}, false, true, 0, 0},
		{"redirects to another host", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+"/x", http.StatusFound)
		}, false, false, 0, 0},
		{"redirects within its host", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/hook" {
				http.Redirect(w, r, "/moved", http.StatusTemporaryRedirect)
				return
			}
			w.WriteHeader(200)
		}, true, false, 200, 0},
		{"huge answer", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(200)
			chunk := make([]byte, 1<<20)
			for i := 0; i < 100; i++ {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}, true, false, 200, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &receiver{}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rec.record(r)
				tt.handler(w, r)
			}))
			t.Cleanup(srv.Close)
			c := Policy{AllowPrivate: true}.Client(300 * time.Millisecond)
			// The endpoint's URL may carry a token: no error quotes it.
			res := Send(context.Background(), c, srv.URL+"/hook?token=tok-3141", "sec", "d1", body, now)
			if strings.Contains(res.Err, "tok-3141") {
				t.Fatalf("Err quotes the URL: %q", res.Err)
			}
			if res.OK() != tt.ok || res.Retry != tt.retry || res.StatusCode != tt.status || res.RetryAfter != tt.after {
				t.Fatalf("Send = %+v, want ok=%v retry=%v status=%d after=%v", res, tt.ok, tt.retry, tt.status, tt.after)
			}
			if res.OK() == (res.Err != "") {
				t.Fatalf("Err %q with ok=%v", res.Err, res.OK())
			}
			if rec.count() == 0 {
				t.Fatal("receiver got nothing")
			}
			r := rec.got[0]
			if r.Header.Get(HeaderDelivery) != "d1" || r.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("headers %v", r.Header)
			}
			if err := Verify("sec", r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature), rec.body[0], now, time.Minute); err != nil {
				t.Fatalf("receiver cannot verify: %v", err)
			}
		})
	}
}

// TestClientRefusesPrivateAtConnect: a URL that passed CheckURL can
// still resolve to a private address later (DNS rebinding); the dialer
// refuses it, and the receiver never sees the request.
func TestClientRefusesPrivateAtConnect(t *testing.T) {
	rec := &receiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { rec.record(r) }))
	t.Cleanup(srv.Close)
	res := Send(context.Background(), Policy{}.Client(time.Second), srv.URL, "s", "d", []byte("{}"), time.Now())
	if res.OK() || res.Retry || !strings.Contains(res.Err, ErrForbiddenAddress.Error()) {
		t.Fatalf("Send to loopback = %+v, want a refusal that is not retried", res)
	}
	if rec.count() != 0 {
		t.Fatal("the request reached the receiver")
	}
	// The service's own address is refused even where private ones are
	// allowed.
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	self := Policy{AllowPrivate: true, Self: []string{":" + port}}
	if res := Send(context.Background(), self.Client(time.Second), srv.URL, "s", "d", []byte("{}"), time.Now()); res.OK() {
		t.Fatalf("Send to own address = %+v", res)
	}
	if rec.count() != 0 {
		t.Fatal("the request reached the service's own address")
	}
}

func TestScheduleNext(t *testing.T) {
	s := Schedule{First: 30 * time.Second, Max: 10 * time.Minute, Period: time.Hour}
	first := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		attempt int
		base    time.Duration
	}{{1, 30 * time.Second}, {2, time.Minute}, {3, 2 * time.Minute}, {6, 10 * time.Minute}, {40, 10 * time.Minute}} {
		t.Run(fmt.Sprint(tt.attempt), func(t *testing.T) {
			seen := map[time.Duration]bool{}
			for i := 0; i < 50; i++ {
				next, ok := s.Next(first, first, tt.attempt, 0)
				d := next.Sub(first)
				if !ok || d < tt.base*3/4 || d > tt.base*5/4 {
					t.Fatalf("Next = %v %v, want within a quarter of %v", d, ok, tt.base)
				}
				seen[d] = true
			}
			if len(seen) < 10 {
				t.Fatalf("no jitter: %d distinct waits in 50", len(seen))
			}
		})
	}
	if next, ok := s.Next(first, first, 1, 20*time.Minute); !ok || next.Sub(first) != 20*time.Minute {
		t.Fatalf("Retry-After not honoured: %v", next.Sub(first))
	}
	if _, ok := s.Next(first, first.Add(59*time.Minute), 8, 0); ok {
		t.Fatal("a retry past the period was scheduled")
	}
}
