package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	gbytes "github.com/labstack/gommon/bytes"
)

// bodyTooLarge is the detail of a decoder that met the body limit, which
// bodyLimit replaces with one stating the limit.
const bodyTooLarge = "request body too large"

// bodyLimit is Echo's body limit whose 413 states the limit, whichever
// check found the body too large: Echo's on Content-Length, or a decoder
// reading a body sent without one.
// Requests skip selects (by c.Path(), the route) are not limited here,
// and their 413s (another limit's, or a batch's count) pass as they are.
func bodyLimit(limit string, skip middleware.Skipper) echo.MiddlewareFunc {
	detail := "the request body is larger than the limit of " + limit
	if n, err := gbytes.Parse(limit); err == nil {
		detail = fmt.Sprintf("the request body is larger than the limit of %s (%d bytes)", limit, n)
	}
	bl := middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{Limit: limit, Skipper: skip})
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		h := bl(next)
		return func(c echo.Context) error {
			if skip != nil && skip(c) {
				return next(c)
			}
			err := h(c)
			var p *Problem
			// Only a decoder's "body too large": a handler's own 413 (too
			// many events in a batch) says why itself.
			if isTooLarge(err) || (errors.As(err, &p) && p.Status == http.StatusRequestEntityTooLarge && p.Detail == bodyTooLarge) {
				return problem(http.StatusRequestEntityTooLarge, detail)
			}
			return err
		}
	}
}
