package weather

import "time"

// RefreshStatus describes the current weather refresh window, as the jobs
// keep it and GET /weather/status serves it. It lives here, in the package
// the jobs and the API both import, so the API need not import the jobs.
type RefreshStatus struct {
	Provider string `json:"provider"`
	Interval string `json:"interval"`
	// LastRunAt is when the current window started, NextRunAt when the
	// next one starts.
	LastRunAt time.Time `json:"last_run_at"`
	NextRunAt time.Time `json:"next_run_at"`
	// LastQueued counts the jobs this process queued in the window.
	LastQueued int `json:"last_run_queued"`
	// Fetched, Failed and Skipped count jobs this process finished in the
	// window; Skipped ones needed no call (already fresh).
	Fetched int64 `json:"fetched"`
	Failed  int64 `json:"failed"`
	Skipped int64 `json:"skipped"`
	// QueueDepth is the number of jobs waiting, -1 when the queue is down.
	QueueDepth int64 `json:"queue_depth"`
	// Refusing is true when the provider refused us as a whole (bad key,
	// quota); the run stopped and the next one tries again. RefusedReason
	// is a short public text (PublicReason); details are logged.
	Refusing      bool   `json:"refusing"`
	RefusedReason string `json:"refused_reason,omitempty"`
	// BudgetExhausted is true when today's call budget is spent.
	BudgetExhausted bool `json:"budget_exhausted"`
	// RetryWaiting counts the places whose last fetch failed for a
	// temporary reason and that wait for a retry; NextRetryAt is when the
	// first is due (null when none wait). -1 and null when the database
	// is down.
	RetryWaiting int64      `json:"retry_waiting"`
	NextRetryAt  *time.Time `json:"next_retry_at"`
	// LastError is why this process's last tick failed, a short public
	// text ("job queue unavailable"); details are logged.
	LastError string `json:"last_error,omitempty"`
}
