package geoip

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxPlaceLen bounds the text ParsePlace accepts, in bytes. The longest real names
// (city, region and country code together) stay well under it.
const maxPlaceLen = 256

// Place is where an address is: a city, its first-level region (state, province,
// Land), and its country. Names are in English as the database spells them; a
// database may know only the country, leaving City and Region empty. CountryCode
// is an ISO 3166-1 alpha-2 code in upper case, such as "DE".
type Place struct {
	City        string
	Region      string
	CountryCode string
}

// String formats p as "City, Region, CC", leaving out empty names, so that
// ParsePlace(p.String()) returns p for every place ParsePlace can produce.
func (p Place) String() string {
	parts := make([]string, 0, 3)
	for _, s := range []string{p.City, p.Region, p.CountryCode} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ", ")
}

// ParsePlace parses a place written as "City, Region, CC", "City, CC" or "CC", the
// form of the --default-location setting (for example "Berlin, Berlin, DE"). The
// country code must be two ASCII letters and is returned in upper case; names are
// trimmed of surrounding space and may not be empty or contain control characters.
func ParsePlace(s string) (Place, error) {
	p, err := parsePlace(s)
	if err != nil {
		return Place{}, fmt.Errorf("parse place %q: %w", s, err)
	}
	return p, nil
}

func parsePlace(s string) (Place, error) {
	if len(s) > maxPlaceLen {
		return Place{}, fmt.Errorf("longer than %d bytes", maxPlaceLen)
	}
	if !utf8.ValidString(s) {
		return Place{}, errors.New("not valid UTF-8")
	}
	parts := strings.Split(s, ",")
	if len(parts) > 3 {
		return Place{}, errors.New(`want "City, Region, CC", "City, CC" or "CC"`)
	}
	for i, part := range parts {
		parts[i] = strings.TrimSpace(part)
		if parts[i] == "" {
			return Place{}, errors.New("empty name")
		}
		if strings.IndexFunc(parts[i], unicode.IsControl) >= 0 {
			return Place{}, errors.New("control character in name")
		}
	}

	cc, ok := countryCode(parts[len(parts)-1])
	if !ok {
		return Place{}, fmt.Errorf("country code %q is not two letters", parts[len(parts)-1])
	}
	p := Place{CountryCode: cc}
	switch len(parts) {
	case 2:
		p.City = parts[0]
	case 3:
		p.City, p.Region = parts[0], parts[1]
	}
	return p, nil
}

// countryCode returns s in upper case if it is two ASCII letters. It does not
// allocate when s is already upper case, which keeps Lookup free of allocations.
func countryCode(s string) (string, bool) {
	if len(s) != 2 {
		return "", false
	}
	upper := true
	for i := range 2 {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z':
		case 'a' <= c && c <= 'z':
			upper = false
		default:
			return "", false
		}
	}
	if upper {
		return s, true
	}
	return strings.ToUpper(s), true
}
