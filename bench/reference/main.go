// Command reference is the ceiling of the load benchmark: a bare Echo v4
// server whose every route answers a constant JSON body the size of a real
// shipment lookup, with no middleware, database or encoding work. Under the
// same wrk settings it shows what this machine's HTTP stack and wrk can do,
// so shiptrack's figures are reported as a share of it.
//
//	go run ./bench/reference -addr 127.0.0.1:18081 [-body answer.json]
//
// Without -body it serves answer.json, a lookup answer captured with curl
// from shiptrack on the benchmark data (bench/run.sh passes the one it
// captures in the same run).
package main

import (
	_ "embed"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/labstack/echo/v4"
)

//go:embed answer.json
var answer []byte

func main() {
	addr := flag.String("addr", "127.0.0.1:18081", "listen address")
	bodyFile := flag.String("body", "", "JSON file to answer with (default: the embedded lookup answer)")
	flag.Parse()

	// Served byte for byte: Echo's c.JSON ends an answer with a newline,
	// and so does the captured file.
	body := answer
	if *bodyFile != "" {
		b, err := os.ReadFile(*bodyFile)
		if err != nil {
			log.Fatal(err)
		}
		body = b
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	handler := func(c echo.Context) error { return c.JSONBlob(http.StatusOK, body) }
	// Any method, any path: the same wrk scripts drive it as drive shiptrack.
	e.Any("/*", handler)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("reference: listening on http://%s, answering %d bytes", ln.Addr(), len(body))
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 120 * time.Second}
	log.Fatal(srv.Serve(ln))
}
