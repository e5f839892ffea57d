package api

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/byplatform/byplatform/matcher"
)

// Location searches answer with up to a hundred locations, each with four ids and
// several names: encoding/json spent more on that than ranking a search served from the
// matcher's cache of match sets (CPU profiles of BenchmarkDiscoveryHTTP). These
// appenders write, without reflection and into pooled buffers, the bytes encoding/json
// writes for the contract's shapes, which locations_json_test.go declares as structs
// and compares with them.

var bufPool = sync.Pool{New: func() any { return new([]byte) }}

// fragments keeps the JSON of locations up to their provider count, which is all that
// differs between two answers that list a location: a location's names and ids never
// change (its id is derived from them). It holds at most maxFragments, a few hundred
// bytes each, and is safe for concurrent use.
type fragments struct {
	mu sync.RWMutex
	m  map[uuid.UUID][]byte
}

const maxFragments = 1 << 16

// writeLocations answers with the JSON of res, as writeJSON would.
func (s *Server) writeLocations(w http.ResponseWriter, res matcher.Results) {
	bp := bufPool.Get().(*[]byte)
	b := append(s.frags.appendLocations((*bp)[:0], res), '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
	if cap(b) <= 1<<20 { // keep the pool from holding rare huge buffers
		*bp = b
		bufPool.Put(bp)
	}
}

// appendLocations appends the JSON answer of a location search to b. The specs list the
// groups, then the locations, so that they can be passed to find-providers2 as they are.
func (f *fragments) appendLocations(b []byte, res matcher.Results) []byte {
	b = append(b, `{"specs":[`...)
	for i, g := range res.Groups {
		b = appendComma(b, i)
		b = append(b, `{"location_group_id":`...)
		b = append(appendUUID(b, g.ID), '}')
	}
	for i, l := range res.Locations {
		b = appendComma(b, i+len(res.Groups))
		b = append(b, `{"location_id":`...)
		b = append(appendUUID(b, l.ID), '}')
	}
	b = append(b, `],"groups":[`...)
	for i, g := range res.Groups {
		b = appendComma(b, i)
		b = append(b, `{"location_group_id":`...)
		b = appendUUID(b, g.ID)
		b = append(b, `,"name":`...)
		b = appendString(b, g.Name)
		b = append(b, `,"provider_count":`...)
		b = strconv.AppendInt(b, int64(g.ProviderCount), 10)
		b = append(b, `,"promoted":`...)
		b = strconv.AppendBool(b, g.Promoted)
		b = append(b, `,"match_distance":`...)
		b = strconv.AppendInt(b, int64(g.MatchDistance), 10)
		b = append(b, '}')
	}
	b = append(b, `],"locations":[`...)
	b = f.appendList(b, res.Locations)
	return append(b, `],"devices":[]}`...)
}

// appendList appends the locations, copying the fragments it has and keeping those it
// writes, if there is room.
func (f *fragments) appendList(b []byte, ls []matcher.LocationMatch) []byte {
	type span struct {
		id         uuid.UUID
		start, end int
	}
	var fresh []span
	f.mu.RLock()
	for i := range ls {
		l := &ls[i]
		b = appendComma(b, i)
		if frag, ok := f.m[l.ID]; ok {
			b = append(b, frag...)
		} else {
			start := len(b)
			b = appendLocationHead(b, l)
			fresh = append(fresh, span{l.ID, start, len(b)})
		}
		b = append(b, `,"provider_count":`...)
		b = strconv.AppendInt(b, int64(l.ProviderCount), 10)
		b = append(b, `,"match_distance":`...)
		b = strconv.AppendInt(b, int64(l.MatchDistance), 10)
		b = append(b, '}')
	}
	full := len(f.m)+len(fresh) > maxFragments
	f.mu.RUnlock()
	if len(fresh) > 0 && !full {
		f.mu.Lock()
		if f.m == nil {
			f.m = map[uuid.UUID][]byte{}
		}
		for _, sp := range fresh {
			f.m[sp.id] = bytes.Clone(b[sp.start:sp.end])
		}
		f.mu.Unlock()
	}
	return b
}

// appendLocationHead appends a location up to its provider count, leaving out the empty
// fields the contract marks optional.
func appendLocationHead(b []byte, l *matcher.LocationMatch) []byte {
	b = append(b, `{"location_id":`...)
	b = appendUUID(b, l.ID)
	b = append(b, `,"location_type":`...)
	b = appendString(b, l.Type.String())
	b = append(b, `,"name":`...)
	b = appendString(b, l.Name)
	if l.City != "" {
		b = append(b, `,"city":`...)
		b = appendString(b, l.City)
	}
	if l.CityID != uuid.Nil {
		b = append(b, `,"city_location_id":`...)
		b = appendUUID(b, l.CityID)
	}
	if l.Region != "" {
		b = append(b, `,"region":`...)
		b = appendString(b, l.Region)
	}
	if l.RegionID != uuid.Nil {
		b = append(b, `,"region_location_id":`...)
		b = appendUUID(b, l.RegionID)
	}
	b = append(b, `,"country":`...)
	b = appendString(b, l.Country)
	b = append(b, `,"country_location_id":`...)
	if l.CountryID != uuid.Nil {
		b = appendUUID(b, l.CountryID)
	} else {
		b = append(b, `""`...)
	}
	b = append(b, `,"country_code":`...)
	return appendString(b, l.CountryCode)
}

func appendComma(b []byte, i int) []byte {
	if i > 0 {
		return append(b, ',')
	}
	return b
}

// appendUUID appends id as a quoted string in its canonical form.
func appendUUID(b []byte, id uuid.UUID) []byte {
	var s [38]byte
	s[0], s[37] = '"', '"'
	hex.Encode(s[1:9], id[0:4])
	s[9] = '-'
	hex.Encode(s[10:14], id[4:6])
	s[14] = '-'
	hex.Encode(s[15:19], id[6:8])
	s[19] = '-'
	hex.Encode(s[20:24], id[8:10])
	s[24] = '-'
	hex.Encode(s[25:37], id[10:16])
	return append(b, s[:]...)
}

// appendString appends s as a JSON string. Strings that encoding/json copies as they
// are (valid UTF-8 without control characters, quotes, backslashes, the characters it
// escapes for HTML, or U+2028 and U+2029) are copied; the rest go through
// encoding/json, so the bytes are always the same as its.
func appendString(b []byte, s string) []byte {
	plain, high := true, false
	for i := 0; i < len(s) && plain; i++ {
		c := s[i]
		plain = c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
		high = high || c >= utf8.RuneSelf
	}
	if plain && high {
		plain = utf8.ValidString(s) && !strings.ContainsAny(s, "\u2028\u2029")
	}
	if plain {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}
