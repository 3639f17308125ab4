package weather

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Bounds of a plausible observation. A provider answer outside them is
// refused (ErrImplausible, also ErrTransient) before it reaches the
// database, so a garbled or hostile answer never replaces good weather
// and both databases see the same rule.
const (
	// MinTemperatureC and MaxTemperatureC bracket the records (-89.2 °C,
	// 56.7 °C) with a margin.
	MinTemperatureC = -100.0
	MaxTemperatureC = 70.0
	// MaxWindKph is above the strongest gust measured (408 km/h).
	MaxWindKph = 500.0
	// MaxConditionLen and MaxConditionCodeLen are the lengths (in
	// characters) of the weather table's condition and condition_code
	// columns.
	MaxConditionLen     = 200
	MaxConditionCodeLen = 32
	// DefaultMaxObservationAge is how old an observation may be when it
	// arrives: both providers refresh "current" at least hourly, so an
	// older one is a provider fault, not current weather.
	DefaultMaxObservationAge = 6 * time.Hour
	// MaxObservationAhead allows for clock skew between us and the
	// provider; an observation further in the future is refused.
	MaxObservationAhead = time.Hour
)

// ErrImplausible marks a provider answer outside physical ranges (or a
// condition text that is not clean, short UTF-8). Errors wrapping it also
// wrap ErrTransient: the fetch failed and is retried later, keeping the
// last good weather.
var ErrImplausible = errors.New("weather: implausible provider answer")

func implausible(format string, args ...any) error {
	return fmt.Errorf("%w: %w: "+format, append([]any{ErrTransient, ErrImplausible}, args...)...)
}

// humidityPercent rounds a relative humidity to a whole percent; a value
// outside 0–100 is implausible (it would also overflow an int).
func humidityPercent(h float64) (int, error) {
	if !(h >= 0 && h <= 100) {
		return 0, implausible("humidity %g%% outside 0..100", h)
	}
	return int(math.Round(h)), nil
}

// checkObservation refuses an observation outside the bounds above, or
// observed outside [now-maxAge, now+MaxObservationAhead].
func checkObservation(o Observation, now time.Time, maxAge time.Duration) error {
	switch {
	case !(o.TemperatureC >= MinTemperatureC && o.TemperatureC <= MaxTemperatureC):
		return implausible("temperature %g °C outside %g..%g", o.TemperatureC, MinTemperatureC, MaxTemperatureC)
	case !(o.Humidity >= 0 && o.Humidity <= 100):
		return implausible("humidity %d%% outside 0..100", o.Humidity)
	case !(o.WindKph >= 0 && o.WindKph <= MaxWindKph):
		return implausible("wind %g km/h outside 0..%g", o.WindKph, MaxWindKph)
	case o.ObservedAt.Before(now.Add(-maxAge)) || o.ObservedAt.After(now.Add(MaxObservationAhead)):
		return implausible("observation time %s outside %s before to %s after now",
			o.ObservedAt.UTC().Format(time.RFC3339), maxAge, MaxObservationAhead)
	}
	if err := cleanText("condition text", o.Condition, MaxConditionLen); err != nil {
		return err
	}
	return cleanText("condition code", o.ConditionCode, MaxConditionCodeLen)
}

// cleanText refuses text that is not valid UTF-8, holds a control
// character (NUL included) or is longer than limit characters.
func cleanText(name, s string, limit int) error {
	if !utf8.ValidString(s) {
		return implausible("%s is not valid UTF-8", name)
	}
	if strings.ContainsFunc(s, unicode.IsControl) {
		return implausible("%s holds a control character", name)
	}
	if n := utf8.RuneCountInString(s); n > limit {
		return implausible("%s of %d characters, over %d", name, n, limit)
	}
	return nil
}
