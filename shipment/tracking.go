package shipment

import (
	"strings"
	"unicode"
)

// NormalizeTrackingNumber is the form a tracking number is stored and
// looked up by: no spaces anywhere, upper case. Carriers print tracking
// numbers in upper case and people type them any way, with spaces, so
// "tn 1234 5678" finds TN12345678. The shipment keeps its own spelling for
// answers (tracking_display).
func NormalizeTrackingNumber(tn string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return unicode.ToUpper(r)
	}, tn)
}
