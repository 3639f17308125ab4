package testutil

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"
)

// Request is one request a Receiver got.
type Request struct {
	At     time.Time
	Header http.Header
	Body   []byte
}

// Receiver is a real HTTP endpoint (a webhook subscriber) that records
// every request, body included, then answers it with answer (200 when
// nil). answer gets the request's number (from 1) and may block, fail or
// hijack the connection; it should return once r's context is done, as
// the server's close waits for it.
type Receiver struct {
	URL    string
	mu     sync.Mutex
	got    []Request
	active int
}

// NewReceiver starts a Receiver, closed when t ends.
func NewReceiver(t testing.TB, answer func(n int, w http.ResponseWriter, r *http.Request)) *Receiver {
	rcv := &Receiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rcv.mu.Lock()
		rcv.got = append(rcv.got, Request{time.Now(), r.Header.Clone(), b})
		n := len(rcv.got)
		rcv.active++
		rcv.mu.Unlock()
		defer func() {
			rcv.mu.Lock()
			rcv.active--
			rcv.mu.Unlock()
		}()
		if answer != nil {
			answer(n, w, r)
		}
	}))
	t.Cleanup(srv.Close)
	rcv.URL = srv.URL
	return rcv
}

// Requests returns the requests so far, in arrival order.
func (r *Receiver) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// Active is the number of requests being answered now.
func (r *Receiver) Active() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.active
}
