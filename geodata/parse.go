package geodata

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// maxPlacesSize bounds the decompressed data in bytes. The real file is about 100 KB; the
// bound keeps a corrupt file from exhausting memory.
const maxPlacesSize = 8 << 20

// catalog is the parsed data.
type catalog struct {
	countries []Country // sorted by code, unique
	regions   []Region  // sorted by compareRegions, unique, each in a known country
}

// parse decompresses and parses the gzip-compressed data file written by internal/gen.
func parse(gz []byte) (*catalog, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	// Reading to EOF also verifies the gzip checksum.
	data, err := io.ReadAll(io.LimitReader(zr, maxPlacesSize+1))
	if err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	if len(data) > maxPlacesSize {
		return nil, fmt.Errorf("decompress: more than %d bytes", maxPlacesSize)
	}
	return parseText(string(data))
}

// parseText parses the decompressed data: lines starting with '#' are comments, then come
// "country\tCODE\tNAME\tCONTINENT" lines in increasing order of code, then
// "region\tCODE\tNAME" lines in increasing order of code and name. It rejects anything
// else, so that the lookups may rely on the order. The strings of the result share the
// memory of text, which keeps parsing to a few allocations.
func parseText(text string) (*catalog, error) {
	if !utf8.ValidString(text) {
		return nil, errors.New("not valid UTF-8")
	}
	c := &catalog{
		countries: make([]Country, 0, strings.Count(text, "\ncountry\t")),
		regions:   make([]Region, 0, strings.Count(text, "\nregion\t")),
	}
	for n := 1; text != ""; n++ {
		line, rest, ok := strings.Cut(text, "\n")
		if !ok {
			return nil, fmt.Errorf("line %d: no final newline", n)
		}
		text = rest
		if err := c.parseLine(line); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
	}
	return c, nil
}

// parseLine adds the country or region of one line to c.
func (c *catalog) parseLine(line string) error {
	if strings.HasPrefix(line, "#") {
		if len(c.countries) > 0 {
			return errors.New("comment after data")
		}
		return nil
	}
	kind, fields, _ := strings.Cut(line, "\t")
	switch kind {
	case "country":
		return c.addCountry(fields)
	case "region":
		return c.addRegion(fields)
	}
	return fmt.Errorf("unknown kind %q", kind)
}

func (c *catalog) addCountry(fields string) error {
	if len(c.regions) > 0 {
		return errors.New("country after regions")
	}
	var k Country
	if err := split(fields, &k.Code, &k.Name, &k.Continent); err != nil {
		return err
	}
	if n := len(c.countries); n > 0 && c.countries[n-1].Code >= k.Code {
		return fmt.Errorf("country %s out of order or repeated", k.Code)
	}
	c.countries = append(c.countries, k)
	return nil
}

func (c *catalog) addRegion(fields string) error {
	var r Region
	if err := split(fields, &r.CountryCode, &r.Name); err != nil {
		return err
	}
	if n := len(c.regions); n > 0 && compareRegions(c.regions[n-1], r) >= 0 {
		return fmt.Errorf("region %s %q out of order or repeated", r.CountryCode, r.Name)
	}
	if n := len(c.regions); n == 0 || c.regions[n-1].CountryCode != r.CountryCode {
		// Countries are sorted, so a new country code is checked once by binary search.
		if !c.hasCountry(r.CountryCode) {
			return fmt.Errorf("region %q of unknown country %s", r.Name, r.CountryCode)
		}
	}
	c.regions = append(c.regions, r)
	return nil
}

func (c *catalog) hasCountry(code string) bool {
	_, ok := searchCountry(c.countries, code)
	return ok
}

// searchCountry returns the index of the country with code in cs, sorted by code, or where
// it would be, and whether it is there.
func searchCountry(cs []Country, code string) (int, bool) {
	return slices.BinarySearchFunc(cs, code, func(c Country, code string) int {
		return strings.Compare(c.Code, code)
	})
}

// split stores the tab-separated fields of s in dst: exactly len(dst) non-empty fields,
// the first a country code of two upper-case ASCII letters.
func split(s string, dst ...*string) error {
	for i, d := range dst {
		f, rest, ok := strings.Cut(s, "\t")
		if ok == (i == len(dst)-1) {
			return fmt.Errorf("want %d fields", len(dst)+1)
		}
		if f == "" || strings.TrimSpace(f) != f || strings.ContainsRune(f, '\r') {
			return fmt.Errorf("field %d %q is empty or padded", i+2, f)
		}
		*d, s = f, rest
	}
	if c := *dst[0]; len(c) != 2 || !isUpper(c[0]) || !isUpper(c[1]) {
		return fmt.Errorf("country code %q is not two upper-case letters", *dst[0])
	}
	return nil
}
