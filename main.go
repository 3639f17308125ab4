// Command shiptrack serves the shipment-tracking API: shipments with their
// articles and the current weather at the receiver's location.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	vmetrics "github.com/VictoriaMetrics/metrics"
	"github.com/redis/go-redis/v9"

	"github.com/shiptrack/shiptrack/api"
	"github.com/shiptrack/shiptrack/jobs"
	"github.com/shiptrack/shiptrack/redact"
	"github.com/shiptrack/shiptrack/store"
	"github.com/shiptrack/shiptrack/weather"
	"github.com/shiptrack/shiptrack/webhook"
)

const usage = `shiptrack: shipment tracking API with receiver weather.

Usage:
  shiptrack [--config PATH] [serve]      run the HTTP API and the weather jobs (default)
  shiptrack [--config PATH] import FILE  import shipments, or tracking events, from a CSV file
  shiptrack [--config PATH] migrate      apply pending schema migrations, print the version
  shiptrack [--config PATH] healthcheck  exit 0 when the local server answers /healthz
  shiptrack --help                       show this help

Settings come from config.yaml (or --config PATH) and SHIPTRACK_* environment
variables; config.yaml documents each one.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "shiptrack:", err)
		}
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError is a wrong command line (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// run is the whole program; ctx is cancelled on SIGINT/SIGTERM. lookupEnv
// is os.LookupEnv: a variable set but empty clears a file's setting.
func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("shiptrack", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	configPath := fs.String("config", "", "config file (default ./config.yaml when present)")
	help := fs.Bool("help", false, "show help")
	fs.BoolVar(help, "h", false, "show help")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error() + "\n" + usage}
	}
	if *help {
		fmt.Fprint(stdout, usage)
		return nil
	}
	cmd, rest := "serve", fs.Args()
	if len(rest) > 0 {
		cmd, rest = rest[0], rest[1:]
	}
	if cmd == "help" {
		fmt.Fprint(stdout, usage)
		return nil
	}
	path := *configPath
	if path == "" {
		path, _ = lookupEnv("SHIPTRACK_CONFIG")
	}
	if path == "" {
		if _, err := os.Stat("config.yaml"); err == nil {
			path = "config.yaml"
		}
	}
	cfg, err := loadConfig(path, lookupEnv)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)

	switch cmd {
	case "serve":
		if len(rest) > 0 {
			return usageError{"serve takes no arguments\n" + usage}
		}
		return serve(ctx, cfg, log, nil)
	case "import":
		if len(rest) != 1 {
			return usageError{"import needs exactly one FILE.csv\n" + usage}
		}
		return importFile(ctx, cfg, rest[0], stdout, stderr)
	case "healthcheck":
		return healthcheck(ctx, cfg)
	case "migrate":
		if len(rest) > 0 {
			return usageError{"migrate takes no arguments\n" + usage}
		}
		return migrateDB(ctx, cfg, stdout)
	}
	return usageError{fmt.Sprintf("unknown command %q\n%s", cmd, usage)}
}

// serve runs the API until ctx is cancelled, then shuts down in order:
// stop accepting and finish requests, then close the database. ready, when
// not nil, receives the listening address.
func serve(ctx context.Context, cfg config, log *slog.Logger, ready chan<- string) error {
	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	if name := st.CreatedDatabase(); name != "" {
		log.Info("created the PostgreSQL database, which did not exist", "database", name)
	}
	log.Info("database ready", "driver", st.Driver())
	if cfg.Seed {
		res, did, err := st.SeedIfEmpty(ctx)
		if err != nil {
			return err
		}
		if did {
			log.Info("seeded empty database", "shipments", res.Shipments, "articles", res.Articles)
		}
	}

	wp, err := weather.New(cfg.Weather.Config, nil)
	if err != nil {
		return fmt.Errorf("config: weather: %w", err)
	}
	metrics, err := newMetrics(st)
	if err != nil {
		return err
	}
	checks := []api.Check{{Name: "database", Fn: st.Ping}}
	queue, closeQueue, err := openQueue(cfg, log)
	if err != nil {
		return err
	}
	defer closeQueue()
	if cfg.Redis.URL != "" {
		checks = append(checks, api.Check{Name: "queue", Fn: queue.Ping})
	}
	// jobs.Config and api.Config mix dependencies with settings from
	// several sections (api, http, weather), so those few are named here.
	refresher, err := jobs.New(jobs.Config{
		Store: st, Queue: queue, Provider: wp, Logger: log, Interval: cfg.Weather.Interval,
		Workers: cfg.Weather.Workers, Rate: cfg.Weather.Rate, DailyBudget: cfg.Weather.DailyBudget,
		Lease: cfg.Weather.ClaimLease, Metrics: metrics,
		Webhooks: &jobs.WebhookConfig{
			Store: st,
			// The delivery's "shipment" is the lookup's JSON when it is sent.
			Shipment: func(ctx context.Context, carrier, tn string) (json.RawMessage, error) {
				sh, err := st.Get(ctx, carrier, tn)
				if err != nil {
					return nil, err
				}
				return api.ShipmentBody(sh, time.Now(), cfg.Weather.Interval)
			},
			Client: webhookPolicy(cfg).Client(cfg.Webhooks.Timeout),
		},
	})
	if err != nil {
		return err
	}
	if wp == nil {
		log.Warn("weather provider is off: shipments carry no weather")
	} else {
		log.Info("weather provider", "provider", wp.Name(), "interval", cfg.Weather.Interval.String(), "workers", cfg.Weather.Workers)
	}
	if cfg.Debug.PprofListen != "" {
		stopPprof, err := servePprof(cfg.Debug.PprofListen, log)
		if err != nil {
			return err
		}
		defer stopPprof()
	}
	// Claim the port before starting any background work, so a taken
	// port fails start-up cleanly.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	defer ln.Close()
	if err := refresher.Start(ctx); err != nil {
		return err
	}

	cache, stopCache := startCache(ctx, st, cfg.API.CacheMB, log)
	defer stopCache()
	limits, closeLimits, err := rateLimits(cfg, log, metrics)
	if err != nil {
		return err
	}
	defer closeLimits()
	srv := api.New(api.Config{
		Shipments:       st,
		Cache:           cache,
		Logger:          log,
		Weather:         refresher,
		Metrics:         metrics,
		MetricsHelp:     jobs.WebhookMetricsHelp,
		ReadyChecks:     checks,
		WeatherInterval: cfg.Weather.Interval,
		RequestTimeout:  cfg.HTTP.RequestTimeout,
		BodyLimit:       cfg.HTTP.BodyLimit,
		Tokens:          cfg.API.Tokens,
		WriteTokens:     cfg.API.WriteTokens,
		Writer:          st,
		Webhooks:        st,
		AdminTokens:     cfg.API.AdminTokens,
		// The listener's own address too: ":8080" names every interface.
		WebhookPolicy:   webhook.Policy{AllowPrivate: cfg.Webhooks.AllowPrivate, Self: []string{cfg.Listen, ln.Addr().String()}},
		RateLimit:       cfg.API.RateLimit,
		RateBurst:       cfg.API.RateBurst,
		TokenFailLimit:  cfg.API.TokenFailLimit,
		TokenFailWindow: cfg.API.TokenFailWindow,
		Limits:          limits,
		TrustProxy:      cfg.API.TrustProxy,
	})
	if len(cfg.API.WriteTokens) == 0 {
		log.Info("no write tokens set (SHIPTRACK_API_WRITE_TOKENS): the write API refuses every request")
	}
	if len(cfg.API.Tokens) == 0 {
		log.Warn("no API tokens set (SHIPTRACK_API_TOKENS): GET /shipment/ lists every shipment and address to anyone")
	}
	hs := httpServer(cfg, srv, log)
	log.Info("listening", "addr", ln.Addr().String())
	if ready != nil {
		ready <- ln.Addr().String()
	}
	errc := make(chan error, 1)
	// net/http's own error answers (431, a malformed request) go out as
	// problem+json too.
	go func() { errc <- hs.Serve(api.ProblemListener(ln)) }()

	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	// In order, each step with its own share of http.shutdown_timeout
	// (shutdownShares), so slow clients cannot eat the jobs' share: stop
	// taking requests and finish those in flight; stop the scheduler and
	// the workers (jobs finish or go back to the queue); then the deferred
	// closes of the queue, Redis and the database.
	drain, jobsShare := cfg.shutdownShares()
	log.Info("shutting down", "http_drain", drain.String(), "jobs_stop", jobsShare.String())
	dctx, cancelDrain := context.WithTimeout(context.Background(), drain)
	err = hs.Shutdown(dctx)
	cancelDrain()
	if err != nil {
		// write_timeout <= drain already cuts slow readers; this catches
		// the rest (a body trickling in). Their clients see a closed
		// connection; nothing of ours is lost, so the exit stays clean.
		log.Warn("HTTP drain ran out; closing the connections still open", "error", err)
		_ = hs.Close()
	}
	jctx, cancelJobs := context.WithTimeout(context.Background(), jobsShare)
	defer cancelJobs()
	if err := refresher.Stop(jctx); err != nil {
		// The workers still settle their jobs (each step is bounded):
		// wait, so none uses the queue or database after its close.
		log.Error("weather jobs did not stop within their share; waiting for them to settle", "error", err)
		refresher.Wait()
		return err
	}
	log.Info("stopped")
	return nil
}

// webhookPolicy is where webhooks may go: webhooks.allow_private, and
// never this service's own listen addresses.
func webhookPolicy(cfg config, self ...string) webhook.Policy {
	listen := cfg.Listen
	// ":8080" would match port 8080 on every host; the listener answers
	// on this machine's addresses, which the unspecified address stands
	// for (loopback, and the private ones the policy refuses anyway).
	if host, port, err := net.SplitHostPort(listen); err == nil && host == "" {
		listen = net.JoinHostPort("0.0.0.0", port)
		self = append(self, net.JoinHostPort("::", port))
	}
	return webhook.Policy{AllowPrivate: cfg.Webhooks.AllowPrivate, Self: append([]string{listen}, self...)}
}

// openQueue returns the weather job queue: a Redis list when redis.url is
// set (shared by replicas), else an in-process queue. closeQueue releases it.
func openQueue(cfg config, log *slog.Logger) (q jobs.Queue, closeQueue func(), err error) {
	if cfg.Redis.URL == "" {
		q := jobs.NewMemoryQueue()
		return q, func() { _ = q.Close() }, nil
	}
	opts, err := redis.ParseURL(cfg.Redis.URL)
	if err != nil {
		// net/url quotes the whole URL, password included.
		return nil, nil, fmt.Errorf("config: redis.url: %w", redact.Error(err, redact.Secrets(cfg.Redis.URL)...))
	}
	rc := redis.NewClient(opts)
	rq := jobs.NewRedisQueue(rc, cfg.Redis.Prefix, jobs.RedisOptions{Logger: log, HeartbeatTTL: cfg.Redis.HeartbeatTTL})
	return rq, func() { _ = rq.Close(); _ = rc.Close() }, nil
}

// httpServer applies the http.* timeouts and limits to the API handler.
func httpServer(cfg config, h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout,
		ReadTimeout:       cfg.HTTP.ReadTimeout,
		WriteTimeout:      cfg.HTTP.WriteTimeout,
		IdleTimeout:       cfg.HTTP.IdleTimeout,
		MaxHeaderBytes:    cfg.HTTP.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// newMetrics is the set behind GET /metrics: Go runtime, process and
// database pool metrics; the API and the weather jobs add their own.
func newMetrics(st *store.Store) (*vmetrics.Set, error) {
	sqlDB, err := st.SQL()
	if err != nil {
		return nil, err
	}
	set := vmetrics.NewSet()
	set.RegisterMetricsWriter(func(w io.Writer) {
		vmetrics.WriteProcessMetrics(w)
		vmetrics.WriteFDMetrics(w)
		writeRuntimeSettings(w)
		writeProcessExtras(w)
		writeDBStats(w, sqlDB.Stats())
	})
	return set, nil
}

// startCache makes the read cache and starts the store's change feed that
// keeps it correct. An in-memory SQLite database has no feed, so no cache;
// nor does mb 0. stop ends the feed; it must run before the store closes.
func startCache(ctx context.Context, st *store.Store, mb int, log *slog.Logger) (cache *api.Cache, stop func()) {
	if mb <= 0 {
		return nil, func() {}
	}
	if !st.CanWatchChanges() {
		log.Info("read cache off: an in-memory database reports no changes")
		return nil, func() {}
	}
	cache = api.NewCache(int64(mb) << 20)
	return cache, cache.Follow(ctx, st.WatchChanges, log)
}

// servePprof serves net/http/pprof on its own listener (never on the
// public API port), for profiling under load.
func servePprof(addr string, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("debug.pprof_listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Warn("pprof enabled", "addr", ln.Addr().String())
	return func() { _ = srv.Close() }, nil
}

// importFile loads one CSV file in a single transaction.
// The summary goes to stdout; a progress line to stderr while it runs,
// when stderr is a terminal (a log file would fill with carriage returns).
func importFile(ctx context.Context, cfg config, path string, stdout, stderr io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	var opt store.ImportOptions
	if isTerminal(stderr) {
		p := &importProgress{w: stderr, start: start}
		opt.Progress = p.report
		defer p.done()
	}
	res, err := st.ImportCSVWith(ctx, f, opt)
	if err != nil {
		return fmt.Errorf("import %s: %w (nothing was written)", path, err)
	}
	if res.EventsFile {
		fmt.Fprintf(stdout, "imported %s: %d events read; %d recorded, %d already recorded; in %s\n",
			path, res.EventRows, res.Events, res.EventsUnchanged, time.Since(start).Round(time.Millisecond))
		return nil
	}
	fmt.Fprintf(stdout, "imported %s: %d shipments (%d article rows) read; %d created, %d updated, %d unchanged; %d new locations; in %s\n",
		path, res.Shipments, res.Articles, res.Created, res.Updated, res.Shipments-res.Created-res.Updated,
		len(res.NewLocations), time.Since(start).Round(time.Millisecond))
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// importProgress rewrites one stderr line at most once a second: the
// phase, the rows of that phase so far and their rate.
type importProgress struct {
	w          io.Writer
	start      time.Time
	phase      store.ImportPhase
	phaseStart time.Time
	last       time.Time
	shown      bool
}

func (p *importProgress) report(ev store.ImportProgress) {
	now := time.Now()
	if ev.Phase != p.phase {
		p.phase, p.phaseStart = ev.Phase, now
	} else if now.Sub(p.last) < time.Second {
		return
	}
	p.last = now
	rate := 0.0
	if d := now.Sub(p.phaseStart).Seconds(); d > 0 {
		rate = float64(ev.Rows) / d
	}
	fmt.Fprintf(p.w, "\rimport: %s, %d rows, %.0f rows/s, %s elapsed\x1b[K", ev.Phase, ev.Rows, rate, now.Sub(p.start).Round(time.Second))
	p.shown = true
}

func (p *importProgress) done() {
	if p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}

// healthcheck asks the local server's /healthz; the container HEALTHCHECK
// uses it because the image has no shell or curl.
func healthcheck(ctx context.Context, cfg config) error {
	_, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return fmt.Errorf("healthcheck: listen address %q: %w", cfg.Listen, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+port+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: /healthz answered %d", resp.StatusCode)
	}
	return nil
}

// newLogger logs JSON when stderr is not a terminal (a service), text on a
// terminal (a person).
func newLogger(cfg config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.Log.Level}
	text := cfg.Log.Format == "text"
	if cfg.Log.Format == "auto" {
		if f, ok := w.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				text = true
			}
		}
	}
	if text {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
