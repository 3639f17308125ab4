// Package webhook holds what sending a signed webhook takes, apart from
// where deliveries are stored and queued: the signature scheme, the checks
// on an endpoint's URL, an HTTP client that cannot be pointed at private
// addresses, one delivery attempt, and the retry schedule. It imports no
// database or queue.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Headers of a delivery.
const (
	HeaderDelivery  = "Shiptrack-Delivery"
	HeaderTimestamp = "Shiptrack-Timestamp"
	HeaderSignature = "Shiptrack-Signature"
)

// Sign returns the Shiptrack-Signature value of body sent at ts:
// "v1=" and the hex HMAC-SHA256, keyed with the endpoint's secret, of the
// Unix seconds of ts, a '.', and the body as sent.
func Sign(secret string, ts time.Time, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(ts.Unix(), 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// Errors of Verify.
var (
	ErrBadSignature = errors.New("webhook: signature does not match")
	ErrStale        = errors.New("webhook: timestamp outside the tolerance")
)

// Verify checks a delivery as a receiver would: the timestamp header is
// within tolerance of now and one of the signature header's v1= values
// matches, compared in constant time. A header may carry several values
// separated by commas while a secret is being rotated.
func Verify(secret, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	secs, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return ErrStale
	}
	ts := time.Unix(secs, 0)
	if d := now.Sub(ts); d > tolerance || d < -tolerance {
		return ErrStale
	}
	want := Sign(secret, ts, body)
	for _, v := range strings.Split(signature, ",") {
		if hmac.Equal([]byte(strings.TrimSpace(v)), []byte(want)) {
			return nil
		}
	}
	return ErrBadSignature
}

// ErrForbiddenAddress means a URL names, or its host resolves to, an
// address deliveries may not go to.
var ErrForbiddenAddress = errors.New("loopback, link-local, private or unspecified address")

// forbidden reports whether ip is an address a public webhook may not
// reach: loopback, link-local, private (RFC 1918, unique local),
// unspecified, multicast, or the shared carrier-grade NAT range.
func forbidden(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsPrivate() || ip.IsUnspecified() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast() ||
		cgnat.Contains(ip)
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// Policy says where deliveries may go.
type Policy struct {
	// AllowPrivate allows http and loopback, link-local and private
	// addresses (tests, private networks).
	AllowPrivate bool
	// Self lists the service's own listen addresses (host:port); a URL
	// naming one is refused even when AllowPrivate is set, so the service
	// cannot be made to call itself.
	Self []string
}

// CheckURL validates an endpoint URL when it is registered: absolute,
// https (http too when AllowPrivate), no user info, and a host that is
// not, nor resolves to, a forbidden address. The dialer checks again at
// connect time, since a DNS answer can change.
func (p Policy) CheckURL(ctx context.Context, raw string, resolver *net.Resolver) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return errors.New("must be an absolute URL")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && p.AllowPrivate:
	default:
		return errors.New("must use https")
	}
	if u.User != nil {
		return errors.New("must not hold a user name or password")
	}
	if u.Fragment != "" {
		return errors.New("must not hold a fragment")
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		if resolver == nil {
			resolver = net.DefaultResolver
		}
		addrs, err := resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return fmt.Errorf("host %s does not resolve: %w", host, err)
		}
		ips = addrs
	}
	for _, ip := range ips {
		if p.isSelf(ip, port) || host == "localhost" && p.isSelfPort(port) {
			return errors.New("must not be this service's own address")
		}
		if !p.AllowPrivate && forbidden(ip) {
			return fmt.Errorf("host %s: %w", host, ErrForbiddenAddress)
		}
	}
	return nil
}

func (p Policy) isSelf(ip netip.Addr, port string) bool {
	for _, s := range p.Self {
		h, sp, err := net.SplitHostPort(s)
		if err != nil || sp != port {
			continue
		}
		sip, err := netip.ParseAddr(h)
		// A listener on all interfaces answers on every local address.
		if h == "" || err == nil && (sip.IsUnspecified() && (ip.IsLoopback() || ip.IsUnspecified()) || sip.Unmap() == ip.Unmap()) {
			return true
		}
	}
	return false
}

func (p Policy) isSelfPort(port string) bool {
	for _, s := range p.Self {
		if _, sp, err := net.SplitHostPort(s); err == nil && sp == port {
			return true
		}
	}
	return false
}

// Client returns the HTTP client deliveries use: a dialer that refuses
// forbidden addresses at connect time (unless AllowPrivate), timeouts on
// every phase, and redirects followed only within the same host and
// scheme, at most three.
func (p Policy) Client(timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	d.Control = func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("webhook: dial %s: %w", address, err)
		}
		if p.isSelf(ap.Addr(), strconv.Itoa(int(ap.Port()))) {
			return fmt.Errorf("webhook: dial %s: this service's own address", address)
		}
		if !p.AllowPrivate && forbidden(ap.Addr()) {
			return fmt.Errorf("webhook: dial %s: %w", address, ErrForbiddenAddress)
		}
		return nil
	}
	tr := &http.Transport{
		DialContext:           d.DialContext,
		Proxy:                 nil, // a proxy would hide where a delivery goes
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		// Kept-alive connections to one receiver: as many as attempts run
		// at once (a worker pool of up to 256), or every attempt above
		// the count opens a new connection and leaves one in TIME_WAIT.
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return errors.New("webhook: more than 3 redirects")
			}
			if req.URL.Host != via[0].URL.Host || req.URL.Scheme != via[0].URL.Scheme {
				return fmt.Errorf("webhook: redirect to another host (%s)", req.URL.Host)
			}
			return nil
		},
	}
}

// Result is the outcome of one delivery attempt.
type Result struct {
	StatusCode int // 0 when no answer came
	Duration   time.Duration
	Err        string // why it failed, "" on success
	// Retry says whether a later attempt may succeed: timeouts,
	// connection errors, 429 and 5xx; not other 4xx.
	Retry bool
	// RetryAfter is the receiver's Retry-After, 0 when absent.
	RetryAfter time.Duration
}

// OK reports whether the receiver took the delivery (2xx).
func (r Result) OK() bool { return r.StatusCode >= 200 && r.StatusCode < 300 }

// maxResponse is how much of a receiver's answer is read: enough to keep
// the connection reusable for a normal answer, never a whole large body.
const maxResponse = 64 << 10

// Send makes one attempt to deliver body to url, signed with secret at
// now, with the delivery id in its headers. While a secret is rotated the
// previous ones sign too: their values follow, comma-separated, in the
// signature header (Verify accepts any one).
func Send(ctx context.Context, c *http.Client, url, secret, id string, body []byte, now time.Time, previous ...string) Result {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return Result{Err: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "shiptrack-webhook/1")
	req.Header.Set(HeaderDelivery, id)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	sig := Sign(secret, now, body)
	for _, p := range previous {
		sig += "," + Sign(p, now, body)
	}
	req.Header.Set(HeaderSignature, sig)
	resp, err := c.Do(req)
	if err != nil {
		// Connection errors and timeouts may pass; a refused address or
		// redirect will not.
		retry := !errors.Is(err, ErrForbiddenAddress) && !strings.Contains(err.Error(), "redirect")
		return Result{Duration: time.Since(start), Err: errText(err), Retry: retry}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
	resp.Body.Close()
	r := Result{StatusCode: resp.StatusCode, Duration: time.Since(start)}
	if r.OK() {
		return r
	}
	r.Err = "answered " + resp.Status
	r.Retry = resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 ||
		resp.StatusCode == http.StatusRequestTimeout
	r.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), now)
	return r
}

// errText is a failed request's error without the endpoint's URL, which
// the client's *url.Error quotes whole: a subscriber's URL may carry a
// token in its path or query, and the error is stored and shown.
func errText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + ": " + ue.Err.Error()
	}
	return err.Error()
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Schedule is the retry policy of a delivery.
type Schedule struct {
	First  time.Duration // wait after the first failure
	Max    time.Duration // longest wait between attempts
	Period time.Duration // no attempt starts later than this after the first
}

// DefaultSchedule retries after 30 s, doubling up to an hour between
// attempts, for a day.
var DefaultSchedule = Schedule{First: 30 * time.Second, Max: time.Hour, Period: 24 * time.Hour}

// Next returns when to try again after the failed attempt number attempt
// (1 for the first) of a delivery first tried at first, and false when the
// retry period is over. The wait doubles from First up to Max, with jitter
// of up to a quarter either way so endpoints that failed together are not
// retried together; a longer Retry-After is honoured.
func (s Schedule) Next(first, now time.Time, attempt int, retryAfter time.Duration) (time.Time, bool) {
	d := s.First
	for i := 1; i < attempt && d < s.Max; i++ {
		d *= 2
	}
	d = min(d, s.Max)
	d += time.Duration((rand.Float64() - 0.5) * float64(d) / 2)
	d = max(d, retryAfter)
	next := now.Add(d)
	if next.Sub(first) > s.Period {
		return time.Time{}, false
	}
	return next, true
}
