package api

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// ProblemListener wraps ln so that the errors net/http answers by itself,
// before a request reaches the API, are problem+json like every other
// error: 431 (header fields too large), 400 (a malformed request line,
// header or URL such as /%zz, or no Host), 501 (an unknown
// Transfer-Encoding) and 505 (an unknown HTTP version). net/http writes
// them straight to the connection, text/plain, and has no hook for them;
// the connection recognises exactly that form (status line, its two fixed
// headers, no Date) and sends a problem instead.
func ProblemListener(ln net.Listener) net.Listener { return problemListener{ln} }

type problemListener struct{ net.Listener }

func (l problemListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return problemConn{c}, nil
}

type problemConn struct{ net.Conn }

// CloseWrite lets net/http half-close after a 431, as it does on a bare
// TCP connection.
func (c problemConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c problemConn) Write(p []byte) (int, error) {
	out, ok := cannedProblem(p)
	if !ok {
		return c.Conn.Write(p)
	}
	if _, err := c.Conn.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// netHTTPErrorHeaders follow the status line of net/http's own error
// answers (server.go), and of nothing else it writes: its responses carry
// a Date header.
const netHTTPErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// cannedProblem turns one of net/http's own error answers into the same
// status as problem+json; ok is false for any other bytes.
func cannedProblem(p []byte) (out []byte, ok bool) {
	rest, found := bytes.CutPrefix(p, []byte("HTTP/1.1 "))
	if !found {
		return nil, false
	}
	eol := bytes.Index(rest, []byte("\r\n"))
	if eol < 4 || !bytes.HasPrefix(rest[eol:], []byte(netHTTPErrorHeaders)) || rest[3] != ' ' {
		return nil, false
	}
	status := string(rest[:eol]) // "400 Bad Request: missing required Host header"
	code, err := strconv.Atoi(status[:3])
	if err != nil || code < 400 || code > 599 {
		return nil, false
	}
	body := string(rest[eol+len(netHTTPErrorHeaders):])
	pr := problem(code, "")
	switch _, text, hasText := strings.Cut(status, ": "); {
	case hasText:
		pr.Detail = text
	case !strings.HasPrefix(body, status[:3]):
		pr.Detail = body // "Unsupported transfer encoding"
	case code == http.StatusBadRequest:
		pr.Detail = "malformed request: the request line, a header or an escape in the URL (such as %zz) could not be read"
	case code == http.StatusRequestHeaderFieldsTooLarge:
		pr.Detail = "the request's header fields are too large"
	}
	js, err := json.Marshal(pr)
	if err != nil {
		return nil, false
	}
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 " + status + "\r\nContent-Type: application/problem+json\r\nConnection: close\r\nContent-Length: ")
	b.WriteString(strconv.Itoa(len(js)) + "\r\n\r\n")
	b.Write(js)
	return b.Bytes(), true
}

// contentErrors keeps the error answers of http.ServeContent (416 for a
// range past the end, 412 for a failed If-Match) from going out as its
// text/plain: the handler returns them as problems instead.
type contentErrors struct {
	http.ResponseWriter
	status int
	text   bytes.Buffer
}

func (w *contentErrors) WriteHeader(code int) {
	if code >= 400 {
		w.status = code
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *contentErrors) Write(p []byte) (int, error) {
	if w.status != 0 {
		if w.text.Len() < 200 {
			w.text.Write(p)
		}
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

// err is the problem to return when ServeContent answered an error.
func (w *contentErrors) err() error {
	if w.status == 0 {
		return nil
	}
	if w.text.Len() == 0 {
		return problem(w.status, "")
	}
	return problem(w.status, strings.TrimSpace(w.text.String()))
}
