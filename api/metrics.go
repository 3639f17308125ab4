package api

import (
	"net/http"

	"github.com/labstack/echo-contrib/echoprometheus"
	"github.com/labstack/echo/v4"
)

// metricsMiddleware counts requests and their latency by route and status
// with Echo's contrib Prometheus middleware. Labels are bounded: the route
// pattern (not the raw path), a fixed set of methods, no Host header.
func (s *Server) metricsMiddleware() echo.MiddlewareFunc {
	return echoprometheus.NewMiddlewareWithConfig(echoprometheus.MiddlewareConfig{
		Namespace:  "shiptrack",
		Subsystem:  "http",
		Registerer: s.cfg.Metrics,
		Skipper:    func(c echo.Context) bool { return c.Path() == "/metrics" },
		LabelFuncs: map[string]echoprometheus.LabelValueFunc{
			"host": func(echo.Context, error) string { return "" },
			"url": func(c echo.Context, _ error) string {
				if p := c.Path(); p != "" {
					return p
				}
				return "unmatched"
			},
			"method": func(c echo.Context, _ error) string {
				switch m := c.Request().Method; m {
				case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
					http.MethodPatch, http.MethodDelete, http.MethodOptions:
					return m
				}
				return "OTHER"
			},
		},
		// The error handler has already written the response by the time
		// this middleware sees the error (it wraps the request logger),
		// so the sent status is the truth.
		StatusCodeResolver: func(c echo.Context, err error) int {
			if c.Response().Committed {
				return c.Response().Status
			}
			if err != nil {
				return http.StatusInternalServerError
			}
			return c.Response().Status
		},
	})
}
