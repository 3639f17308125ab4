package api

import (
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/shiptrack/shiptrack/valid"
)

// field is one text of a request, checked by the boundary's one rule
// (package valid) before anything else reads it.
type field struct {
	name, v string
	max     int
}

// keyLimits are the lookup fields' limits, by name.
var keyLimits = map[string]int{"carrier": valid.Carrier, "tracking_number": valid.TrackingNumber}

// checkTexts names every field that breaks the rule: not UTF-8, a control
// character (PostgreSQL fails on NUL), or longer than its column.
func checkTexts(fields ...field) []InvalidParam {
	var bad []InvalidParam
	for _, f := range fields {
		if err := valid.Text(f.v, f.max); err != nil {
			bad = append(bad, InvalidParam{Name: f.name, Reason: err.Error()})
		}
	}
	return bad
}

// pathParam is a path parameter decoded once. Echo routes on the raw path,
// and returns its parameters still escaped, only when the raw path differs
// from the decoded one (an escaped "/", say); otherwise it routed on the
// decoded path, and decoding again turned TN1234567%2538 into TN12345678.
func pathParam(c echo.Context, name string) (string, error) {
	v := c.Param(name)
	if c.Request().URL.RawPath == "" {
		return v, nil
	}
	return url.PathUnescape(v)
}

// lookupSlash answers /shipment/{carrier}/{tracking_number}/ as the same
// path without its trailing slash (the same answer, no redirect: one
// round trip, and clients that do not follow redirects work too). Echo's
// RemoveTrailingSlash leaves the raw path, which Echo routes on when set,
// with its slash.
func lookupSlash(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		u := c.Request().URL
		if p, ok := strings.CutSuffix(echo.GetPath(c.Request()), "/"); ok && isLookupPath(p) {
			u.Path = strings.TrimSuffix(u.Path, "/")
			if u.RawPath != "" {
				u.RawPath = p
			}
		}
		return next(c)
	}
}

// isLookupPath reports whether p is /shipment/{carrier}/{tracking_number}.
func isLookupPath(p string) bool {
	rest, ok := strings.CutPrefix(p, "/shipment/")
	carrier, tn, ok2 := strings.Cut(rest, "/")
	return ok && ok2 && carrier != "" && tn != "" && !strings.Contains(tn, "/")
}

// checkRequestID drops a client's X-Request-Id that breaks the text rule
// or is longer than valid.RequestID, so the RequestID middleware makes a
// new one: the id is echoed in the answer and in each of the request's
// log lines. A bad id is not worth refusing the request.
func checkRequestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header
		if rid := h.Get(echo.HeaderXRequestID); rid != "" && valid.Text(rid, valid.RequestID) != nil {
			h.Del(echo.HeaderXRequestID)
		}
		return next(c)
	}
}
