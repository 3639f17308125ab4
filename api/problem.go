package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/shiptrack/shiptrack/shipment"
)

// statusClientClosed marks requests whose client went away before the
// answer (not a standard code; nginx's).
const statusClientClosed = 499

// Problem is an RFC 9457 problem details body.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	// InvalidParams names the request fields that were wrong.
	InvalidParams []InvalidParam `json:"invalid_params,omitempty"`
	RequestID     string         `json:"request_id,omitempty"`
}

// InvalidParam is one bad request field.
type InvalidParam struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// Error makes a *Problem usable as a handler's error.
func (p *Problem) Error() string { return p.Title + ": " + p.Detail }

func problem(status int, detail string) *Problem {
	return &Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail}
}

func invalid(params ...InvalidParam) *Problem {
	p := problem(http.StatusBadRequest, "")
	for i, ip := range params {
		if i > 0 {
			p.Detail += "; "
		}
		p.Detail += ip.Name + ": " + ip.Reason
	}
	p.InvalidParams = params
	return p
}

// errorHandler turns every error a handler or middleware returns into a
// problem+json response; internals of unexpected errors are logged, never
// sent.
func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		var (
			p    *Problem
			he   *echo.HTTPError
			req  = c.Request()
			rid  = c.Response().Header().Get(echo.HeaderXRequestID)
			resp = c.Response()
		)
		if errors.Is(err, context.Canceled) && req.Context().Err() != nil {
			// The client hung up: nobody reads an answer, and it is not a
			// server error. 499 (nginx's "client closed request") keeps
			// it apart in logs and metrics.
			log.DebugContext(req.Context(), "client closed the request", "method", req.Method, "path", req.URL.Path, "request_id", rid)
			resp.WriteHeader(statusClientClosed)
			return
		}
		switch {
		case errors.As(err, &p):
		case errors.Is(err, shipment.ErrNotFound):
			p = problem(http.StatusNotFound, "no shipment with this carrier and tracking number")
		case errors.Is(err, shipment.ErrInvalidCursor):
			p = invalid(InvalidParam{Name: "cursor", Reason: "not a cursor from a previous page; start again without it"})
		case errors.Is(err, shipment.ErrUnavailable):
			resp.Header().Set("Retry-After", "5")
			p = problem(http.StatusServiceUnavailable, "the database is not answering; try again shortly")
		case errors.Is(err, context.DeadlineExceeded):
			resp.Header().Set("Retry-After", "5")
			p = problem(http.StatusServiceUnavailable, "the request took too long; try again shortly")
		case errors.As(err, &he):
			p = problem(he.Code, "")
			if m, ok := he.Message.(string); ok && he.Code < 500 {
				p.Detail = m
			}
			switch he.Code {
			case http.StatusNotFound:
				p.Detail = "no such resource"
			case http.StatusMethodNotAllowed:
				p.Detail = "this resource allows " + resp.Header().Get(echo.HeaderAllow)
			}
		default:
			p = problem(http.StatusInternalServerError, "")
		}
		if p.Status >= 500 {
			log.ErrorContext(req.Context(), "request failed", "method", req.Method, "path", req.URL.Path,
				"status", p.Status, "request_id", rid, "error", err)
			if p.Detail == "" {
				p.Detail = "an internal error occurred; quote the request id when reporting it"
			}
		}
		p.Instance = req.URL.Path
		p.RequestID = rid
		resp.Header().Set(echo.HeaderContentType, "application/problem+json")
		if req.Method == http.MethodHead {
			_ = c.NoContent(p.Status)
			return
		}
		_ = c.JSON(p.Status, p)
	}
}
