package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	gbytes "github.com/labstack/gommon/bytes"
)

// bodyLimit is Echo's body limit whose 413 states the limit, whichever
// check found the body too large: Echo's on Content-Length, or a decoder
// reading a body sent without one.
// Requests skip selects (by c.Path(), the route) are not limited here.
func bodyLimit(limit string, skip middleware.Skipper) echo.MiddlewareFunc {
	detail := "the request body is larger than the limit of " + limit
	if n, err := gbytes.Parse(limit); err == nil {
		detail = fmt.Sprintf("the request body is larger than the limit of %s (%d bytes)", limit, n)
	}
	bl := middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{Limit: limit, Skipper: skip})
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		h := bl(next)
		return func(c echo.Context) error {
			err := h(c)
			var p *Problem
			if isTooLarge(err) || (errors.As(err, &p) && p.Status == http.StatusRequestEntityTooLarge) {
				return problem(http.StatusRequestEntityTooLarge, detail)
			}
			return err
		}
	}
}
