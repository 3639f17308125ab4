package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
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

// DueLocations returns the locations whose weather is missing or was
// fetched before staleBefore and that are not held back, oldest first.
func (s *Store) DueLocations(ctx context.Context, staleBefore, now time.Time) ([]uint64, error) {
	var ids []uint64
	err := s.db.WithContext(ctx).Table("locations AS l").
		Select("l.id").
		Joins("LEFT JOIN weather AS w ON w.location_id = l.id").
		Where("(w.fetched_at IS NULL OR w.fetched_at < ?) AND (w.next_attempt_at IS NULL OR w.next_attempt_at <= ?)", staleBefore.UTC(), now.UTC()).
		// Never-fetched first on both databases (NULL sorts differently).
		Order("w.fetched_at IS NOT NULL, w.fetched_at, l.id").
		Pluck("l.id", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("store: due locations: %w", wrapUnavailable(err))
	}
	return ids, nil
}

// UnqueuedLocations returns the locations that have never been queued
// (they have no weather row yet), such as those a fresh import created.
func (s *Store) UnqueuedLocations(ctx context.Context) ([]uint64, error) {
	var ids []uint64
	err := s.db.WithContext(ctx).Table("locations AS l").
		Select("l.id").
		Joins("LEFT JOIN weather AS w ON w.location_id = l.id").
		Where("w.location_id IS NULL").Order("l.id").
		Pluck("l.id", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("store: unqueued locations: %w", wrapUnavailable(err))
	}
	return ids, nil
}

// MarkQueued records that refresh jobs for ids are on the queue, so
// UnqueuedLocations stops returning them. Call it after the push: a push
// that fails leaves them to the next look.
func (s *Store) MarkQueued(ctx context.Context, ids []uint64) error {
	return s.ensureWeatherRows(ctx, ids)
}

func (s *Store) ensureWeatherRows(ctx context.Context, ids []uint64) error {
	if len(ids) == 0 {
		return nil
	}
	rows := make([]weatherRow, len(ids))
	for i, id := range ids {
		rows[i] = weatherRow{LocationID: id}
	}
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).
		CreateInBatches(&rows, importBatch).Error
	if err != nil {
		return fmt.Errorf("store: weather rows: %w", wrapUnavailable(err))
	}
	return nil
}

// Location returns one location by id.
func (s *Store) Location(ctx context.Context, id uint64) (Location, error) {
	var row locationRow
	err := s.db.WithContext(ctx).Take(&row, id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Location{}, fmt.Errorf("location %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Location{}, fmt.Errorf("store: location: %w", wrapUnavailable(err))
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
	// Pushing a job created the weather row (MarkQueued), so the first
	// try normally finds it; only a job queued some other way needs the
	// row made and a second try.
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
		if errors.Is(err, gorm.ErrRecordNotFound) && try == 0 {
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
func (s *Store) SaveWeather(ctx context.Context, owner string, w Weather) error {
	observed := w.ObservedAt.UTC()
	return s.updateClaimed(ctx, w.LocationID, owner, map[string]any{
		"query": w.Query, "temperature_c": w.TemperatureC, "condition": w.Condition,
		"condition_code": w.ConditionCode, "humidity": w.Humidity, "wind_kph": w.WindKph,
		"observed_at": &observed, "fetched_at": w.FetchedAt.UTC(), "provider": w.Provider,
		"last_error": "", "last_attempt_at": w.FetchedAt.UTC(), "next_attempt_at": nil,
	})
}

// SaveWeatherError records a failed fetch, keeping the last good values,
// and releases the claim. A non-nil nextAttempt holds the location back
// until then (after a permanent failure).
func (s *Store) SaveWeatherError(ctx context.Context, locationID uint64, owner, msg string, at time.Time, nextAttempt *time.Time) error {
	if len(msg) > 1000 {
		msg = msg[:1000]
	}
	var next any
	if nextAttempt != nil {
		next = nextAttempt.UTC()
	}
	return s.updateClaimed(ctx, locationID, owner, map[string]any{
		"last_error": msg, "last_attempt_at": at.UTC(), "next_attempt_at": next,
	})
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

// WeatherOf returns the weather row of a location, for status and tests.
func (s *Store) WeatherOf(ctx context.Context, locationID uint64) (Weather, error) {
	var row weatherRow
	err := s.db.WithContext(ctx).Take(&row, "location_id = ?", locationID).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Weather{}, fmt.Errorf("weather of location %d: %w", locationID, ErrNotFound)
	}
	if err != nil {
		return Weather{}, fmt.Errorf("store: weather: %w", wrapUnavailable(err))
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
