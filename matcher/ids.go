package matcher

import (
	"crypto/sha256"
	"strings"

	"github.com/google/uuid"
)

// Name spaces of the derived ids. They are fixed forever: changing one changes every id.
var (
	locationSpace = uuid.MustParse("9d071994-db66-4418-a225-0d4bab59cfdb")
	groupSpace    = uuid.MustParse("9b33663a-4fb1-4a3e-985d-7feae333594d")
)

// CountryID returns the id of the country with the ISO 3166-1 alpha-2 code. The code is
// compared without case and surrounding space.
func CountryID(code string) uuid.UUID {
	return locationID("country", code, "", "")
}

// RegionID returns the id of a region (first-level division) of the country with the
// code. Names are compared in their Normalize form, so "Île-de-France" and
// "ile de france" name the same region.
func RegionID(code, region string) uuid.UUID {
	return locationID("region", code, region, "")
}

// CityID returns the id of a city in a region of the country with the code; region is
// empty for a city directly under its country. Names are compared in their Normalize
// form.
func CityID(code, region, city string) uuid.UUID {
	return locationID("city", code, region, city)
}

// GroupID returns the id of the location group with the name, compared in its Normalize
// form.
func GroupID(name string) uuid.UUID {
	return uuid.NewHash(sha256.New(), groupSpace, []byte(Normalize(name)), 8)
}

// locationID hashes the kind and the normalized parts into a version 8 (SHA-256, name
// based) UUID. Parts are NUL-separated, and Normalize never yields a NUL, so distinct
// part lists never hash the same text.
func locationID(kind, code, region, city string) uuid.UUID {
	data := kind + "\x00" + normalizeCode(code) + "\x00" + Normalize(region) + "\x00" +
		Normalize(city)
	return uuid.NewHash(sha256.New(), locationSpace, []byte(data), 8)
}

// normalizeCode is the canonical form of a country code: trimmed, upper case.
func normalizeCode(code string) string {
	return strings.ToUpper(strings.TrimSpace(code))
}
