package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/shiptrack/shiptrack/shipment"
)

// ClaimResult says whether a worker may call the weather provider for a
// location.
type ClaimResult int

// Claim outcomes.
const (
	// Claimed: the caller holds the location until its lease ends and
	// must fetch, then SaveWeather / SaveWeatherError / ReleaseClaim.
	Claimed ClaimResult = iota + 1
	// Fresh: the weather is recent enough (or the location is held back
	// after a permanent failure); no call is due.
	Fresh
	// Busy: another worker holds an unexpired claim.
	Busy
)

func (r ClaimResult) String() string {
	switch r {
	case Claimed:
		return "claimed"
	case Fresh:
		return "fresh"
	case Busy:
		return "busy"
	}
	return "unknown"
}

// Window is a refresh window: every place is fetched once per window.
type Window struct {
	Seq   int64     // increases by one with every new window
	Start time.Time // zero before the first window opened
}

// weatherWindow names the weather pipeline's row in refresh_windows.
const weatherWindow = "weather"

// AdvanceWindow returns the current refresh window, first opening a new
// one when interval has passed since the current one started. Windows
// start on a grid of interval steps from the first one, so a late tick
// does not shift the ones after it, and replicas that tick at once open
// one window between them (a compare-and-set on Seq).
func (s *Store) AdvanceWindow(ctx context.Context, now time.Time, interval time.Duration) (Window, error) {
	now = now.UTC()
	db := s.db.WithContext(ctx)
	for {
		var row windowRow
		err := db.Take(&row, "name = ?", weatherWindow).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			err = db.Clauses(clause.OnConflict{DoNothing: true}).
				Create(&windowRow{Name: weatherWindow, Seq: 1, StartedAt: now}).Error
			if err != nil {
				return Window{}, fmt.Errorf("store: open window: %w", wrapUnavailable(err))
			}
			continue
		}
		if err != nil {
			return Window{}, fmt.Errorf("store: window: %w", wrapUnavailable(err))
		}
		started := row.StartedAt.UTC()
		elapsed := now.Sub(started)
		if elapsed < interval {
			return Window{Seq: row.Seq, Start: started}, nil
		}
		next := started.Add(elapsed / interval * interval)
		res := db.Model(&windowRow{}).Where("name = ? AND seq = ?", weatherWindow, row.Seq).
			Updates(map[string]any{"seq": row.Seq + 1, "started_at": next})
		if res.Error != nil {
			return Window{}, fmt.Errorf("store: open window: %w", wrapUnavailable(res.Error))
		}
		if res.RowsAffected == 1 {
			return Window{Seq: row.Seq + 1, Start: next}, nil
		}
		// Another replica opened it first: read what it opened.
	}
}

// CurrentWindow returns the current refresh window without opening one.
func (s *Store) CurrentWindow(ctx context.Context) (Window, error) {
	var row windowRow
	err := s.db.WithContext(ctx).Take(&row, "name = ?", weatherWindow).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Window{}, nil
	}
	if err != nil {
		return Window{}, fmt.Errorf("store: window: %w", wrapUnavailable(err))
	}
	return Window{Seq: row.Seq, Start: row.StartedAt.UTC()}, nil
}

// QueueNew marks the places that have no weather row yet (a fresh import
// made them) as queued and returns them: their jobs are due at once.
func (s *Store) QueueNew(ctx context.Context, now time.Time) ([]uint64, error) {
	var ids []uint64
	// INSERT … SELECT with a WHERE clause: SQLite needs one before ON
	// CONFLICT. RETURNING gives the rows this statement made, so replicas
	// running it at once queue each place once.
	err := s.db.WithContext(ctx).Raw(`INSERT INTO weather (location_id, queued_at)
SELECT l.id, ? FROM locations l
WHERE l.weather_location_id = l.id AND NOT EXISTS (SELECT 1 FROM weather w WHERE w.location_id = l.id)
ON CONFLICT (location_id) DO NOTHING RETURNING location_id`, now.UTC()).Scan(&ids).Error
	if err != nil {
		return nil, fmt.Errorf("store: queue new places: %w", wrapUnavailable(err))
	}
	slices.Sort(ids)
	return ids, nil
}

// QueueDue marks as queued, and returns, the places whose weather is due
// in the window that started at windowStart: fetched before it (or never)
// and not held back past now. A place is returned once per window, and
// again after each failure once its retry is due, whichever replica asks;
// all returns every due place even when queued already (after a restart
// that lost an in-process queue). Never-fetched places come first, then
// the oldest.
func (s *Store) QueueDue(ctx context.Context, windowStart, now time.Time, all bool) ([]uint64, error) {
	notQueued := ""
	if !all {
		// Not queued in this window yet, or failed since it was queued.
		notQueued = " AND (queued_at IS NULL OR queued_at < ? OR (next_attempt_at IS NOT NULL AND queued_at < next_attempt_at))"
	}
	args := []any{now.UTC(), windowStart.UTC(), now.UTC()}
	if !all {
		args = append(args, windowStart.UTC())
	}
	var due []struct {
		LocationID uint64
		FetchedAt  *time.Time
	}
	err := s.db.WithContext(ctx).Raw(`UPDATE weather SET queued_at = ?
WHERE (fetched_at IS NULL OR fetched_at < ?) AND (next_attempt_at IS NULL OR next_attempt_at <= ?)`+notQueued+`
RETURNING location_id, fetched_at`, args...).Scan(&due).Error
	if err != nil {
		return nil, fmt.Errorf("store: queue due places: %w", wrapUnavailable(err))
	}
	slices.SortFunc(due, func(a, b struct {
		LocationID uint64
		FetchedAt  *time.Time
	}) int {
		switch {
		case a.FetchedAt == nil && b.FetchedAt == nil:
		case a.FetchedAt == nil:
			return -1
		case b.FetchedAt == nil:
			return 1
		default:
			if c := a.FetchedAt.Compare(*b.FetchedAt); c != 0 {
				return c
			}
		}
		return cmp.Compare(a.LocationID, b.LocationID)
	})
	ids := make([]uint64, len(due))
	for i, d := range due {
		ids[i] = d.LocationID
	}
	return ids, nil
}

// UnmarkQueued takes back QueueNew's or QueueDue's mark after the push of
// their jobs failed, so the next tick queues them again.
func (s *Store) UnmarkQueued(ctx context.Context, ids []uint64) error {
	for start := 0; start < len(ids); start += importBatch {
		batch := ids[start:min(start+importBatch, len(ids))]
		err := s.db.WithContext(ctx).Model(&weatherRow{}).Where("location_id IN ?", batch).Update("queued_at", nil).Error
		if err != nil {
			return fmt.Errorf("store: unmark queued: %w", wrapUnavailable(err))
		}
	}
	return nil
}

// RetryStats counts the places waiting for a retry after a temporary
// failure in the window that started at windowStart, and when the first
// retry is due.
func (s *Store) RetryStats(ctx context.Context, windowStart time.Time) (waiting int64, next time.Time, err error) {
	q := s.db.WithContext(ctx).Model(&weatherRow{}).
		Where("failures > 0 AND next_attempt_at IS NOT NULL AND (fetched_at IS NULL OR fetched_at < ?)", windowStart.UTC())
	if err := q.Count(&waiting).Error; err != nil {
		return 0, time.Time{}, fmt.Errorf("store: retry stats: %w", wrapUnavailable(err))
	}
	if waiting == 0 {
		return 0, time.Time{}, nil
	}
	var ts []time.Time
	// A plain column, not MIN(): SQLite returns aggregates of time
	// columns as text.
	if err := q.Order("next_attempt_at").Limit(1).Pluck("next_attempt_at", &ts).Error; err != nil {
		return 0, time.Time{}, fmt.Errorf("store: retry stats: %w", wrapUnavailable(err))
	}
	if len(ts) > 0 {
		next = ts[0].UTC()
	}
	return waiting, next, nil
}

// ensureWeatherRows makes missing weather rows, for a job queued without
// QueueNew (by hand, or by a release before weather was shared per place).
func (s *Store) ensureWeatherRows(ctx context.Context, ids []uint64) error {
	if len(ids) == 0 {
		return nil
	}
	// Only for locations that serve their place: a row for any other
	// would be fetched and never read.
	err := s.db.WithContext(ctx).Exec(`INSERT INTO weather (location_id)
SELECT id FROM locations WHERE id IN ? AND weather_location_id = id
ON CONFLICT (location_id) DO NOTHING`, ids).Error
	if err != nil {
		return fmt.Errorf("store: weather rows: %w", wrapUnavailable(err))
	}
	return nil
}

// Location returns one location by id.
func (s *Store) Location(ctx context.Context, id uint64) (shipment.Location, error) {
	var row locationRow
	err := s.db.WithContext(ctx).Take(&row, id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return shipment.Location{}, fmt.Errorf("location %d: %w", id, shipment.ErrNotFound)
	}
	if err != nil {
		return shipment.Location{}, fmt.Errorf("store: location: %w", wrapUnavailable(err))
	}
	return row.location(), nil
}

// ClaimWeather lets exactly one worker, across processes sharing the
// database, fetch a location's weather: the claim is a conditional update
// that succeeds only when the weather is due and nobody else holds an
// unexpired claim. This keeps "one provider call per location per
// interval" true whatever the queue or scheduler do.
func (s *Store) ClaimWeather(ctx context.Context, locationID uint64, owner string, now, staleBefore, leaseUntil time.Time) (ClaimResult, error) {
	now, staleBefore = now.UTC(), staleBefore.UTC()
	// Queueing a job created the weather row (QueueNew), so the first try
	// normally finds it; only a job queued some other way needs the row
	// made and a second try. A location that does not serve its place
	// (or is gone) gets no row: nothing to fetch for it.
	for try := 0; ; try++ {
		res := s.db.WithContext(ctx).Model(&weatherRow{}).
			Where("location_id = ?", locationID).
			Where("fetched_at IS NULL OR fetched_at < ?", staleBefore).
			Where("next_attempt_at IS NULL OR next_attempt_at <= ?", now).
			// Exclusive even between workers of one process (they share
			// an owner name): a held claim blocks everyone until it lapses.
			Where("claimed_until IS NULL OR claimed_until < ?", now).
			Updates(map[string]any{"claim_owner": owner, "claimed_until": leaseUntil.UTC()})
		if res.Error != nil {
			return 0, fmt.Errorf("store: claim weather: %w", wrapUnavailable(res.Error))
		}
		if res.RowsAffected == 1 {
			return Claimed, nil
		}
		var row weatherRow
		err := s.db.WithContext(ctx).Take(&row, "location_id = ?", locationID).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			if try > 0 {
				return Fresh, nil
			}
			if err := s.ensureWeatherRows(ctx, []uint64{locationID}); err != nil {
				return 0, err
			}
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("store: claim weather: %w", wrapUnavailable(err))
		}
		if (row.FetchedAt != nil && !row.FetchedAt.Before(staleBefore)) || (row.NextAttemptAt != nil && row.NextAttemptAt.After(now)) {
			return Fresh, nil
		}
		return Busy, nil
	}
}

// SaveWeather stores a successful fetch and releases the claim. Only the
// claim's owner can write.
func (s *Store) SaveWeather(ctx context.Context, owner string, w shipment.Weather) error {
	observed := w.ObservedAt.UTC()
	return s.updateClaimed(ctx, w.LocationID, owner, map[string]any{
		"query": w.Query, "temperature_c": w.TemperatureC, "condition": w.Condition,
		"condition_code": w.ConditionCode, "humidity": w.Humidity, "wind_kph": w.WindKph,
		"observed_at": &observed, "fetched_at": w.FetchedAt.UTC(), "provider": w.Provider,
		"last_error": "", "last_attempt_at": w.FetchedAt.UTC(), "next_attempt_at": nil, "failures": 0,
	})
}

// Failure is a failed fetch, as SaveWeatherError records it.
type Failure struct {
	Message string
	At      time.Time
	// RetryAt holds the place back until then: its retry after a
	// temporary failure, or a day when the provider does not know it.
	// Zero: nothing before the next window.
	RetryAt time.Time
	// Temporary counts the failure towards the retry backoff
	// (Weather.Failures); any other failure resets the count.
	Temporary bool
}

// maxErrorLen is the size of weather.last_error.
const maxErrorLen = 1000

// SaveWeatherError records a failed fetch, keeping the last good values,
// and releases the claim.
func (s *Store) SaveWeatherError(ctx context.Context, locationID uint64, owner string, f Failure) error {
	var next any
	if !f.RetryAt.IsZero() {
		next = f.RetryAt.UTC()
	}
	failures := any(0)
	if f.Temporary {
		failures = gorm.Expr("failures + 1")
	}
	return s.updateClaimed(ctx, locationID, owner, map[string]any{
		"last_error": storableText(f.Message, maxErrorLen), "last_attempt_at": f.At.UTC(),
		"next_attempt_at": next, "failures": failures,
	})
}

// storableText makes s fit a text column of max bytes on both databases:
// valid UTF-8 without control characters (PostgreSQL refuses NUL), cut at
// a character boundary.
func storableText(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// ReleaseClaim gives a claim back without a fetch (shutdown, budget
// exhausted), so another worker may take the location at once.
func (s *Store) ReleaseClaim(ctx context.Context, locationID uint64, owner string) error {
	return s.updateClaimed(ctx, locationID, owner, map[string]any{})
}

func (s *Store) updateClaimed(ctx context.Context, locationID uint64, owner string, set map[string]any) error {
	set["claim_owner"] = ""
	set["claimed_until"] = nil
	err := s.db.WithContext(ctx).Model(&weatherRow{}).
		Where("location_id = ? AND claim_owner = ?", locationID, owner).
		Updates(set).Error
	if err != nil {
		return fmt.Errorf("store: save weather: %w", wrapUnavailable(err))
	}
	return nil
}

// TakeBudget counts one provider call against the day's budget and
// reports whether it was within limit. The count lives in the database, so
// restarts and replicas share it.
func (s *Store) TakeBudget(ctx context.Context, day time.Time, provider string, limit int64) (bool, error) {
	key := day.UTC().Format(time.DateOnly)
	db := s.db.WithContext(ctx)
	if err := db.Clauses(clause.OnConflict{DoNothing: true}).Create(&budgetRow{Day: key, Provider: provider}).Error; err != nil {
		return false, fmt.Errorf("store: budget: %w", wrapUnavailable(err))
	}
	res := db.Model(&budgetRow{}).Where("day = ? AND provider = ? AND calls < ?", key, provider, limit).
		Update("calls", gorm.Expr("calls + 1"))
	if res.Error != nil {
		return false, fmt.Errorf("store: budget: %w", wrapUnavailable(res.Error))
	}
	return res.RowsAffected == 1, nil
}

// WeatherOf returns the weather row of a location; the jobs read its failure
// count to space retries.
func (s *Store) WeatherOf(ctx context.Context, locationID uint64) (shipment.Weather, error) {
	var row weatherRow
	err := s.db.WithContext(ctx).Take(&row, "location_id = ?", locationID).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return shipment.Weather{}, fmt.Errorf("weather of location %d: %w", locationID, shipment.ErrNotFound)
	}
	if err != nil {
		return shipment.Weather{}, fmt.Errorf("store: weather: %w", wrapUnavailable(err))
	}
	return row.weather(), nil
}

// OldestWeather returns the fetch time of the least recently fetched
// location; ok is false when no weather has been fetched yet.
func (s *Store) OldestWeather(ctx context.Context) (oldest time.Time, ok bool, err error) {
	var ts []time.Time
	// A plain column, not MIN(): SQLite returns aggregates of time
	// columns as text.
	err = s.db.WithContext(ctx).Model(&weatherRow{}).Where("fetched_at IS NOT NULL").
		Order("fetched_at").Limit(1).Pluck("fetched_at", &ts).Error
	if err != nil {
		return time.Time{}, false, fmt.Errorf("store: oldest weather: %w", wrapUnavailable(err))
	}
	if len(ts) == 0 {
		return time.Time{}, false, nil
	}
	return ts[0].UTC(), true, nil
}
