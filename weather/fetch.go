package weather

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shiptrack/shiptrack/redact"
)

// Options tunes the HTTP behaviour shared by both providers. The zero value
// selects the defaults.
type Options struct {
	// Timeout bounds each HTTP attempt, including reading the body.
	// Default 10s.
	Timeout time.Duration
	// Retries is the number of extra attempts after a transient failure.
	// 0 selects the default (2); a negative value disables retries.
	Retries int
	// MaxBodyBytes caps the size of a response body; a larger body is an
	// error. Default 1 MiB.
	MaxBodyBytes int64
	// BaseBackoff is the delay before the first retry; it doubles with each
	// further retry and is jittered. Default 200ms.
	BaseBackoff time.Duration
	// MaxRetryWait caps a single wait between attempts. A Retry-After
	// header asking for longer ends retrying at once, because retrying
	// sooner than the provider asked would only be refused again.
	// Default 10s.
	MaxRetryWait time.Duration
	// MaxObservationAge is how old an observation may be; an older one is
	// refused as implausible. Default DefaultMaxObservationAge.
	MaxObservationAge time.Duration
	// Now is the clock observation times are checked against; default
	// time.Now (tests set it to replay recorded answers).
	Now func() time.Time
}

const (
	defaultRetries      = 2
	defaultMaxBodyBytes = 1 << 20
	defaultBaseBackoff  = 200 * time.Millisecond
	defaultMaxRetryWait = 10 * time.Second

	// maxMessageLen bounds provider messages copied into errors, which end
	// up in logs.
	maxMessageLen = 200
	userAgent     = "shiptrack-weather/1.0"
)

// withDefaults fills unset fields.
func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	switch {
	case o.Retries == 0:
		o.Retries = defaultRetries
	case o.Retries < 0:
		o.Retries = 0
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = defaultMaxBodyBytes
	}
	if o.BaseBackoff <= 0 {
		o.BaseBackoff = defaultBaseBackoff
	}
	if o.MaxRetryWait <= 0 {
		o.MaxRetryWait = defaultMaxRetryWait
	}
	if o.MaxObservationAge <= 0 {
		o.MaxObservationAge = DefaultMaxObservationAge
	}
	return o
}

var (
	// errMalformed marks a 2xx response whose body is unusable. It is
	// retried like a 5xx, since truncated or garbled bodies are usually a
	// hiccup.
	errMalformed = errors.New("malformed response body")
	// errRetryable marks an error status that is transient although it is
	// not 429 or 5xx (WeatherAPI reports internal errors as HTTP 400).
	errRetryable = errors.New("provider reported an internal error")
)

// fetcher performs GET requests with per-attempt timeouts, body limits,
// retries and secret redaction. It is immutable and safe for concurrent use.
type fetcher struct {
	client *http.Client
	opts   Options
	secret string // API key to keep out of errors; "" if none
}

func newFetcher(client *http.Client, opts Options, secret string) fetcher {
	if client == nil {
		client = &http.Client{}
	}
	return fetcher{client: client, opts: opts.withDefaults(), secret: secret}
}

// plausible refuses an observation outside physical ranges
// (checkObservation) at the fetcher's clock.
func (f fetcher) plausible(o Observation) error {
	now := time.Now
	if f.opts.Now != nil {
		now = f.opts.Now
	}
	return checkObservation(o, now(), f.opts.MaxObservationAge)
}

// currentAnswer is a provider's decoded 2xx body holding the current weather.
type currentAnswer interface {
	observation() (Observation, error)
}

// observe fetches u, decodes its body as the provider's answer A and reads
// from it an Observation that must be plausible: how both providers read
// the current weather.
func observe[A currentAnswer](ctx context.Context, f fetcher, u *url.URL, onStatus statusFunc) (Observation, error) {
	var obs Observation
	err := f.get(ctx, u, onStatus, func(body []byte) error {
		var a A
		err := decodeJSON(body, &a)
		if err == nil {
			obs, err = a.observation()
		}
		if err == nil {
			err = f.plausible(obs)
		}
		return err
	})
	return obs, err
}

// field is a number a provider's answer must hold: its path in the
// provider's JSON, named when the answer lacks it, and its value.
type field struct {
	path  string
	value *float64
}

// observation builds an Observation from a provider's answer, once the
// provider has read its own condition and time: the first of temperature,
// humidity and wind the answer lacks is malformed (retried), a humidity
// outside 0–100 implausible.
func observation(temperature, humidity, wind field, condition, code string, at time.Time) (Observation, error) {
	for _, f := range [...]field{temperature, humidity, wind} {
		if f.value == nil {
			return Observation{}, fmt.Errorf("%w: missing %s", errMalformed, f.path)
		}
	}
	h, err := humidityPercent(*humidity.value)
	if err != nil {
		return Observation{}, err
	}
	return Observation{TemperatureC: *temperature.value, Condition: condition, ConditionCode: code,
		Humidity: h, WindKph: *wind.value, ObservedAt: at}, nil
}

// decodeJSON unmarshals a 2xx body into v; one that does not decode is
// malformed (retried).
func decodeJSON(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: %w", errMalformed, err)
	}
	return nil
}

// statusFunc turns a non-2xx response into an error. For 429 and 5xx the
// result is only used as the retry loop's "last error".
type statusFunc func(status int, body []byte) error

// decodeFunc consumes a 2xx body. Errors wrapping errMalformed are retried.
type decodeFunc func(body []byte) error

// get fetches u, retrying transient failures, and hands the body to decode.
func (f fetcher) get(ctx context.Context, u *url.URL, onStatus statusFunc, decode decodeFunc) error {
	redactedURL := f.redactURL(u)
	var lastErr error
	var lastRetryAfter time.Duration
	attempts := 0
	for {
		if err := ctx.Err(); err != nil {
			return abandoned(err, lastErr)
		}
		attempts++
		retry, retryAfter, err := f.attempt(ctx, u.String(), redactedURL, onStatus, decode)
		if err == nil {
			return nil
		}
		if !retry {
			return err
		}
		lastErr, lastRetryAfter = err, retryAfter
		if ctxErr := ctx.Err(); ctxErr != nil {
			// The caller gave up; the attempt error is just a symptom.
			return abandoned(ctxErr, lastErr)
		}
		if attempts > f.opts.Retries {
			break
		}
		wait, ok := f.retryWait(attempts, retryAfter)
		if !ok {
			lastErr = fmt.Errorf("%w (provider asked to retry after %v)", lastErr, retryAfter)
			break
		}
		if err := sleep(ctx, wait); err != nil {
			return abandoned(err, lastErr)
		}
	}
	err := fmt.Errorf("%w after %d attempt(s): %w", ErrTransient, attempts, lastErr)
	if lastRetryAfter > 0 {
		return &retryAfterError{after: lastRetryAfter, err: err}
	}
	return err
}

// retryAfterError carries the provider's last Retry-After to the caller,
// which must not ask again sooner.
type retryAfterError struct {
	after time.Duration
	err   error
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// RetryAfter returns how long the provider asked us to wait (its
// Retry-After on the last attempt of a failed call), or 0.
func RetryAfter(err error) time.Duration {
	var e *retryAfterError
	if errors.As(err, &e) {
		return e.after
	}
	return 0
}

// abandoned reports that the caller's context ended the request.
func abandoned(ctxErr, lastErr error) error {
	if lastErr == nil {
		return fmt.Errorf("%w: %w", ErrTransient, ctxErr)
	}
	// lastErr is kept as text only: it usually wraps the same ctx error.
	return fmt.Errorf("%w: %w (last error: %v)", ErrTransient, ctxErr, lastErr)
}

// attempt performs one request. retry reports whether the failure is
// transient; retryAfter is the provider's Retry-After, if any.
func (f fetcher) attempt(ctx context.Context, rawURL, redactedURL string, onStatus statusFunc, decode decodeFunc) (retry bool, retryAfter time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	defer cancel()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		redactURLError(err, redactedURL)
		return false, 0, fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)

	resp, err := f.client.Do(req)
	if err != nil {
		// *url.Error carries the full URL, key included.
		redactURLError(err, redactedURL)
		return true, 0, err
	}
	defer resp.Body.Close()

	body, readErr := readLimited(resp.Body, f.opts.MaxBodyBytes)
	status := resp.StatusCode
	switch {
	case status == http.StatusTooManyRequests || status >= 500:
		return true, parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()), onStatus(status, body)
	case status < 200 || status > 299:
		// A truncated error body only costs us the provider's message.
		err := onStatus(status, body)
		return errors.Is(err, errRetryable), parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()), err
	}
	if readErr != nil {
		return true, 0, fmt.Errorf("reading body: %w", readErr)
	}
	if err := decode(body); err != nil {
		return errors.Is(err, errMalformed), 0, err
	}
	return false, 0, nil
}

// readLimited reads at most limit bytes; a longer body is an errMalformed.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return body, err
	}
	if int64(len(body)) > limit {
		return body[:limit], fmt.Errorf("%w: body exceeds %d bytes", errMalformed, limit)
	}
	return body, nil
}

// retryWait returns how long to wait before attempt number attempts+1, or
// false when the provider asked for a longer pause than MaxRetryWait.
func (f fetcher) retryWait(attempts int, retryAfter time.Duration) (time.Duration, bool) {
	if retryAfter > f.opts.MaxRetryWait {
		return 0, false
	}
	wait := backoff(f.opts.BaseBackoff, attempts, f.opts.MaxRetryWait)
	return max(wait, retryAfter), true
}

// backoff returns base*2^(attempts-1) capped at limit, with "equal jitter"
// (half fixed, half random) so concurrent callers do not retry in lockstep.
func backoff(base time.Duration, attempts int, limit time.Duration) time.Duration {
	d := base
	for i := 1; i < attempts && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(half+1)
}

// parseRetryAfter understands both forms of Retry-After (seconds or an
// HTTP date). It returns 0 when the header is absent or invalid.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	// Clamp absurd values instead of overflowing time.Duration.
	const maxSecs = int64(365 * 24 * time.Hour / time.Second)
	secs, err := strconv.ParseInt(v, 10, 64)
	if errors.Is(err, strconv.ErrRange) && secs > 0 {
		// More seconds than an int64 holds (10^21): the longest wait, not
		// none, which would retry at once.
		return time.Duration(maxSecs) * time.Second
	}
	if err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, maxSecs)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// redactURL returns u as a string with the key query parameter replaced.
func (f fetcher) redactURL(u *url.URL) string {
	if f.secret == "" {
		return u.String()
	}
	c := *u
	q := c.Query()
	if q.Has("key") {
		q.Set("key", "REDACTED")
	}
	c.RawQuery = q.Encode()
	return c.String()
}

// redactURLError rewrites the URL of any *url.Error in err's chain.
func redactURLError(err error, redactedURL string) {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = redactedURL
	}
}

// redactedError carries an error's text with a secret scrubbed out, while
// keeping the chain intact for errors.Is/As. The text is computed up front
// so the secret itself is not stored (and cannot leak through %#v).
type redactedError struct {
	err error
	msg string
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactErr wraps err so that secret never shows in its text.
func redactErr(err error, secret string) error {
	if err == nil || secret == "" {
		return err
	}
	return &redactedError{err: err, msg: redactSecret(err.Error(), secret)}
}

// redactSecret replaces secret in s: in any case, URL-encoded, or cut
// short to a prefix of 4 or more characters (a provider may echo the key
// altered), and any URL credentials. See package redact.
func redactSecret(s, secret string) string {
	if secret == "" {
		return s
	}
	return redact.String(s, secret)
}

// cleanMessage makes a provider-supplied message safe to put in an error:
// valid UTF-8, single line, bounded length.
func cleanMessage(s string) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > maxMessageLen {
		r := []rune(s)
		s = string(r[:maxMessageLen]) + "..."
	}
	return s
}
