// Command receiver is the webhook receiver of bench/run.sh's delivery
// benchmark (issue 16): it answers every POST with 204 at once, except on
// paths containing -hang, where it holds the request until the client
// gives up (the delivery client's timeout). It counts what each path got;
// GET /stats answers, per path,
//
//	{"/p": {"count": n, "unique": u, "hung": h, "first": t0, "last": t1}}
//
// count the deliveries answered, unique their distinct Shiptrack-Delivery
// ids (count - unique are duplicates), hung the requests held, first and
// last the Unix times in seconds (fractions) of the first and last answer.
//
//	go run ./bench/receiver -addr 127.0.0.1:19082 [-hang hang]
package main

import (
	"encoding/json"
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

type pathStats struct {
	Count  int     `json:"count"`
	Unique int     `json:"unique"`
	Hung   int     `json:"hung"`
	First  float64 `json:"first"`
	Last   float64 `json:"last"`
	ids    map[string]struct{}
}

type receiver struct {
	hang  string
	mu    sync.Mutex
	paths map[string]*pathStats
}

func (r *receiver) stats(path string) *pathStats {
	s := r.paths[path]
	if s == nil {
		s = &pathStats{ids: make(map[string]struct{})}
		r.paths[path] = s
	}
	return s
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method == http.MethodGet && req.URL.Path == "/stats" {
		r.mu.Lock()
		b, err := json.Marshal(r.paths)
		r.mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
		return
	}
	// The body is read as a receiver would, so the connection is reused.
	_, _ = io.Copy(io.Discard, req.Body)
	path := req.URL.Path
	if r.hang != "" && strings.Contains(path, r.hang) {
		r.mu.Lock()
		r.stats(path).Hung++
		r.mu.Unlock()
		<-req.Context().Done() // the sender's timeout
		return
	}
	now := float64(time.Now().UnixNano()) / 1e9
	r.mu.Lock()
	s := r.stats(path)
	s.Count++
	if _, dup := s.ids[req.Header.Get("Shiptrack-Delivery")]; !dup {
		s.ids[req.Header.Get("Shiptrack-Delivery")] = struct{}{}
		s.Unique++
	}
	if s.First == 0 {
		s.First = now
	}
	s.Last = now
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:18082", "listen address")
	hang := flag.String("hang", "hang", "requests whose path contains this never get an answer (empty: none)")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("receiver: listening on http://%s, hanging on paths containing %q", ln.Addr(), *hang)
	srv := &http.Server{Handler: &receiver{hang: *hang, paths: make(map[string]*pathStats)},
		ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 120 * time.Second}
	log.Fatal(srv.Serve(ln))
}
