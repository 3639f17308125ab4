package shipment

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Money is an exact amount in cents. Prices never pass through a float, so
// 19.99 stays 19.99.
type Money int64

// ErrInvalidMoney is returned by ParseMoney for text that is not a
// non-negative decimal with at most two fractional digits.
var ErrInvalidMoney = errors.New("not a price with at most 2 decimals")

// ParseMoney parses "800", "19.9" or "19.99" exactly.
func ParseMoney(s string) (Money, error) {
	s = strings.TrimSpace(s)
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || (hasDot && (frac == "" || len(frac) > 2)) || !digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("%q: %w", s, ErrInvalidMoney)
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > math.MaxInt64/100-1 {
		return 0, fmt.Errorf("%q: %w", s, ErrInvalidMoney)
	}
	for len(frac) < 2 {
		frac += "0"
	}
	f, _ := strconv.ParseInt(frac, 10, 64) // two ASCII digits: cannot fail
	return Money(w*100 + f), nil
}

func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// String formats the amount with two decimals: "800.00", "19.99".
func (m Money) String() string {
	sign := ""
	v := int64(m)
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
}
