// Package defaults fills unset settings: api.New and jobs.New take a zero
// or negative number as "the default", so that tests and library callers
// set only what they mean.
package defaults

// Positive returns v, or def when v is not above zero.
func Positive[T ~int | ~int64 | ~float64](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}
