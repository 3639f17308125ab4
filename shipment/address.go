package shipment

import (
	"strings"
	"unicode"
)

// ParseLocation extracts the receiver location from an address of the form
// "Street 10, 75001 Paris, France": the last comma-separated part is the
// country, the one before it is "<postal code> <city>". It reports false
// when the address does not have that shape; such addresses are stored
// with an unknown location rather than a guessed one.
func ParseLocation(address string) (Location, bool) {
	parts := strings.Split(address, ",")
	if len(parts) < 2 {
		return Location{}, false
	}
	country := strings.Join(strings.Fields(parts[len(parts)-1]), " ")
	fields := strings.Fields(parts[len(parts)-2])
	// The postal code is the leading run of tokens that contain a digit
	// (one token, or two as in UK "SW1A 1AA").
	n := 0
	for n < len(fields) && n < 2 && hasDigit(fields[n]) {
		n++
	}
	if n == 0 || n == len(fields) || country == "" || hasDigit(country) {
		return Location{}, false
	}
	city := strings.Join(fields[n:], " ")
	if hasDigit(city) {
		return Location{}, false
	}
	return Location{PostalCode: strings.Join(fields[:n], " "), City: city, Country: country}, true
}

func hasDigit(s string) bool {
	return strings.IndexFunc(s, unicode.IsDigit) >= 0
}

// Key identifies a location across shipments: case and spacing do not
// make two locations.
func (l Location) Key() string {
	return strings.ToLower(l.PostalCode + "|" + l.City + "|" + l.Country)
}

// PlaceKey identifies what the weather provider is asked about a location:
// its city and country (providers are queried by "City, Country", never by
// postal code), folded for case and spacing. Locations with one place key
// share one weather row and one provider call per window.
func (l Location) PlaceKey() string {
	fold := func(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }
	return fold(l.City) + "|" + fold(l.Country)
}
