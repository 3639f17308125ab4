// Package api serves shiptrack's HTTP API with Echo: shipment lookups and
// listings as JSON, errors as RFC 9457 problem details.
package api

import (
	"cmp"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/shiptrack/shiptrack/internal/defaults"
	"github.com/shiptrack/shiptrack/shipment"
	"github.com/shiptrack/shiptrack/weather"
	"github.com/shiptrack/shiptrack/webhook"
)

// Shipments is what the API needs from the store.
type Shipments interface {
	List(ctx context.Context, p shipment.ListParams) (shipment.Page, error)
	Get(ctx context.Context, carrier, trackingNumber string) (shipment.Shipment, error)
}

// Writer is what the write API (issue 15) needs from the store. Each call
// is all-or-nothing. AppendEvents refuses a batch with shipment.ItemErrors
// naming each bad item by index and field ("tracking_number" with
// shipment.ErrNotFound for an unknown shipment, "event_id" with
// shipment.ErrEventConflict for an id recorded with other content), and
// gives an event without EventID its ContentID. Events returns every
// event of a shipment, newest first (shipment.ErrNotFound when there is
// no such shipment).
type Writer interface {
	Put(ctx context.Context, in shipment.ShipmentInput) (shipment.PutResult, error)
	AppendEvents(ctx context.Context, events []shipment.EventInput) (shipment.AppendResult, error)
	Events(ctx context.Context, carrier, trackingNumber string) ([]shipment.Event, error)
}

// WeatherStatus reports the weather refresh pipeline's state.
type WeatherStatus interface {
	Status(ctx context.Context) weather.RefreshStatus
}

// Check is one readiness probe, such as a database ping.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Defaults of the http.request_timeout and http.body_limit settings: the
// only place these values are written. A zero field of Config takes them
// (library and test use); shiptrack's config starts from them too.
const (
	DefaultRequestTimeout = 10 * time.Second
	DefaultBodyLimit      = "64K"
)

// Config holds the API's dependencies and settings.
type Config struct {
	Shipments Shipments
	// Writer, when set, serves the write routes (PUT /shipment/{carrier}/
	// {tracking_number}, POST .../events, POST /events) and ?events=all;
	// nil leaves them out.
	Writer Writer
	Logger *slog.Logger
	// Weather reports the weather pipeline's last run; nil hides
	// GET /weather/status.
	Weather WeatherStatus
	// Metrics, when set, receives the HTTP metrics and is served at
	// GET /metrics in the Prometheus text format.
	Metrics *metrics.Set
	// MetricsHelp is the HELP text of metric families, by family name
	// (the library writes HELP lines without text).
	MetricsHelp map[string]string
	// ReadyChecks must all pass for /readyz to answer 200.
	ReadyChecks []Check
	// WeatherInterval is the refresh interval; weather older than
	// weather.StaleAfter(WeatherInterval) is stale (default
	// weather.DefaultInterval).
	WeatherInterval time.Duration
	// RequestTimeout bounds each request's work (default
	// DefaultRequestTimeout).
	RequestTimeout time.Duration
	// BodyLimit is the largest accepted request body, e.g. "64K" (default
	// DefaultBodyLimit); what Echo's BodyLimit middleware accepts.
	BodyLimit string
	// Now returns the current time (tests pin it); default time.Now.
	Now func() time.Time
	// Tokens, when not empty, are the bearer tokens GET /shipment/ needs;
	// single lookups stay public.
	Tokens []string
	// WriteTokens are the bearer tokens the write routes need. Scopes are
	// separate: a write token does not list shipments unless it is also
	// in Tokens, nor a read token write. With none, every write is
	// refused (403): the write routes are never open.
	WriteTokens []string
	// Webhooks, when set, serves the webhook admin routes (issue 16),
	// behind AdminTokens (none = every request refused, 403).
	Webhooks    Webhooks
	AdminTokens []string
	// WebhookPolicy checks an endpoint's URL when it is registered; its
	// Self should list the service's own listen address.
	WebhookPolicy webhook.Policy
	// RateLimit caps lookups per second per client (0 = no cap), with
	// bursts of RateBurst.
	RateLimit float64
	RateBurst int
	// TokenFailLimit caps failed token attempts per client (every 401 of
	// GET /shipment/) to that many per TokenFailWindow; past it, 429 even
	// with a good token. 0 = no cap.
	TokenFailLimit  int
	TokenFailWindow time.Duration
	// Limits is where the per-client counts live; nil = in this process.
	// redislimit.New shares them among replicas.
	Limits Limits
	// Cache, when not nil, keeps rendered lookups and pages; the caller
	// feeds it the store's changes (Cache.Apply).
	Cache *Cache
	// TrustProxy takes the client address from X-Forwarded-For (only
	// behind a proxy that sets it); otherwise the connection's address.
	TrustProxy bool
}

// Server is the HTTP API.
type Server struct {
	cfg         Config
	staleAfter  time.Duration
	e           *echo.Echo
	reads       *readCache // cfg.Shipments, through cfg.Cache
	tokenHashes [][32]byte
	writeHashes [][32]byte
	adminHashes [][32]byte
	tokenFails  RateLimiter // nil = failed token attempts are not limited
}

// New builds the API's routes and middleware.
func New(cfg Config) *Server {
	cfg.Logger = cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler))
	cfg.WeatherInterval = defaults.Positive(cfg.WeatherInterval, weather.DefaultInterval)
	cfg.RequestTimeout = defaults.Positive(cfg.RequestTimeout, DefaultRequestTimeout)
	cfg.BodyLimit = cmp.Or(cfg.BodyLimit, DefaultBodyLimit)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(cfg.Logger)
	s := &Server{cfg: cfg, e: e, tokenHashes: hashTokens(cfg.Tokens), writeHashes: hashTokens(cfg.WriteTokens), adminHashes: hashTokens(cfg.AdminTokens), staleAfter: weather.StaleAfter(cfg.WeatherInterval)}
	s.reads = &readCache{next: cfg.Shipments, cache: cfg.Cache, staleAfter: s.staleAfter, now: cfg.Now}
	// Without a trusted proxy, X-Forwarded-For is the client's own claim:
	// rate limits must key on the connection's address.
	e.IPExtractor = echo.ExtractIPDirect()
	if cfg.TrustProxy {
		e.IPExtractor = echo.ExtractIPFromXFFHeader()
	}

	e.Pre(lookupSlash, checkRequestID)
	e.Use(middleware.RequestID())
	if cfg.Metrics != nil {
		e.Use(newHTTPMetrics(cfg.Metrics).middleware)
		if cfg.Cache != nil {
			cfg.Cache.register(cfg.Metrics)
		}
	}
	e.Use(s.requestLog())
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			cfg.Logger.ErrorContext(c.Request().Context(), "panic in handler", "path", c.Request().URL.Path,
				"error", err, "stack", string(stack))
			return err
		},
	}))
	// The write routes have their own, larger limit (WriteBodyLimit), set
	// on each of them in routes.
	e.Use(bodyLimit(cfg.BodyLimit, isWriteRoute))
	e.Use(withDeadline(cfg.RequestTimeout))
	s.routes()
	return s
}

// ServeHTTP makes the API an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.e.ServeHTTP(w, r) }

func (s *Server) requestLog() echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogMethod: true, LogURIPath: true, LogStatus: true, LogLatency: true, LogRequestID: true,
		HandleError: true, // run the error handler first so the logged status is the sent one
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			s.cfg.Logger.LogAttrs(c.Request().Context(), slog.LevelInfo, "request",
				slog.String("method", v.Method), slog.String("path", v.URIPath),
				slog.Int("status", v.Status), slog.Float64("duration_ms", float64(v.Latency.Microseconds())/1000),
				slog.String("request_id", v.RequestID))
			return nil
		},
	})
}

// weatherStatus serves GET /weather/status: the last refresh run and
// whether the provider is refusing us.
func (s *Server) weatherStatus(c echo.Context) error {
	return c.JSON(http.StatusOK, s.cfg.Weather.Status(c.Request().Context()))
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 only when every check passes, and names what is down
// otherwise.
func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	checks := make(map[string]string, len(s.cfg.ReadyChecks))
	var down []string
	for _, ch := range s.cfg.ReadyChecks {
		if err := ch.Fn(ctx); err != nil {
			checks[ch.Name] = "down"
			down = append(down, ch.Name)
			s.cfg.Logger.WarnContext(ctx, "readiness check failed", "check", ch.Name, "error", err)
			continue
		}
		checks[ch.Name] = "ok"
	}
	if len(down) > 0 {
		p := problem(http.StatusServiceUnavailable, "not ready: "+strings.Join(down, ", ")+" not answering")
		p.Instance = c.Request().URL.Path
		p.RequestID = c.Response().Header().Get(echo.HeaderXRequestID)
		c.Response().Header().Set("Retry-After", "5")
		c.Response().Header().Set(echo.HeaderContentType, "application/problem+json")
		return c.JSON(p.Status, struct {
			*Problem
			Checks map[string]string `json:"checks"`
		}{p, checks})
	}
	return c.JSON(http.StatusOK, map[string]any{"status": "ready", "checks": checks})
}
