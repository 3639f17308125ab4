// Package valid holds the one rule every text entering shiptrack passes,
// once, where it enters (an HTTP request's path, query, form or JSON, a
// CSV import's fields): valid UTF-8, no control characters, and at most a
// documented number of characters.
//
// The limits are the sizes of the database columns the texts are stored
// in or compared with (store's schema; a store test holds the two equal).
// PostgreSQL refuses NUL and invalid UTF-8 and enforces varchar(n), while
// SQLite enforces none of them: checking here gives both databases one
// rule, and bad input a 400 or a line and column instead of a database
// error.
package valid

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Maximum lengths in characters (Unicode code points, as PostgreSQL's
// varchar(n) counts them), one per stored text.
const (
	Carrier        = 64
	TrackingNumber = 64
	Status         = 64
	Address        = 500 // sender_address and receiver_address
	ArticleName    = 300
	SKU            = 100
	// The parts of a receiver address that make its location.
	PostalCode = 32
	City       = 200
	Country    = 200
	// LocationKey bounds "postal code|city|country" (lower case), the key
	// locations are unique by.
	LocationKey = 400
	// Cursor bounds a page cursor: opaque to clients, twice the carrier
	// and tracking number it holds, JSON-escaped and base64-encoded, with
	// room to spare.
	Cursor = 2048
	// The texts of a tracking event (issue 15). Status above bounds the
	// normalised status, which every carrier wording maps onto.
	EventID       = 128
	StatusText    = 256
	EventLocation = 300
	Message       = 1000
	EventSource   = 16
	// RequestID bounds a client's X-Request-Id, which is echoed in the
	// answer and in every log line of its request; a longer or bad one is
	// replaced by a new id.
	RequestID = 128
)

// Errors that Text wraps; check them with errors.Is.
var (
	ErrInvalidUTF8 = errors.New("is not valid UTF-8")
	ErrControl     = errors.New("contains a control character")
	ErrTooLong     = errors.New("too long")
)

// tooLongError says the limit; it is ErrTooLong to errors.Is.
type tooLongError struct{ max int }

func (e tooLongError) Error() string        { return fmt.Sprintf("longer than %d characters", e.max) }
func (e tooLongError) Is(target error) bool { return target == ErrTooLong }

// Text checks s against the rule: valid UTF-8, no control characters
// (U+0000–U+001F, U+007F–U+009F: NUL, tab, line breaks and the like), at
// most max characters. The error says what is wrong and where, for a
// problem's reason or an import error.
func Text(s string, max int) error {
	n := 0
	for i := 0; i < len(s); n++ {
		if n == max {
			// Stop here: a 10 MB field costs no more than a long one.
			return tooLongError{max}
		}
		c := s[i]
		if c >= 0x20 && c < 0x7f { // printable ASCII: the common case
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			return fmt.Errorf("%w (byte %d)", ErrInvalidUTF8, i+1)
		case unicode.IsControl(r):
			return fmt.Errorf("%w (U+%04X at character %d)", ErrControl, r, n+1)
		}
		i += size
	}
	return nil
}
