package api

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// fragment is the JSON of a location up to its provider count, which is all that
// differs between two answers that list it (a location's names and ids never change:
// its id is derived from them), and the location's id, for the specs.
type fragment struct {
	id   uuid.UUID
	head []byte
}

// fragments keeps the fragment of each location by its key (matcher.LocationMatch.Key,
// dense and fixed for the engine's catalog), in chunks of slots made as keys appear, up
// to maxFragments fragments of a few hundred bytes each. It is safe for concurrent use
// without locks: a slot is written once.
type fragments struct {
	chunks [fragChunks]atomic.Pointer[[fragChunk]atomic.Pointer[fragment]]
	n      atomic.Int32
}

const (
	fragChunk    = 4096
	fragChunks   = 4096 // keys from 16 M on are not kept
	maxFragments = 1 << 18
)

// get returns the fragment of key, or nil.
func (f *fragments) get(key int32) *fragment {
	if key < 0 || key >= fragChunk*fragChunks {
		return nil
	}
	c := f.chunks[key/fragChunk].Load()
	if c == nil {
		return nil
	}
	return c[key%fragChunk].Load()
}

// put keeps fr as the fragment of key, if there is room.
func (f *fragments) put(key int32, fr *fragment) {
	if key < 0 || key >= fragChunk*fragChunks || f.n.Load() >= maxFragments {
		return
	}
	slot := &f.chunks[key/fragChunk]
	c := slot.Load()
	if c == nil {
		slot.CompareAndSwap(nil, new([fragChunk]atomic.Pointer[fragment]))
		c = slot.Load()
	}
	if c[key%fragChunk].CompareAndSwap(nil, fr) {
		f.n.Add(1)
	}
}

// writeLocations answers with the JSON of res, as writeJSON would. Locations that res
// names by key alone (res.Keys) are looked up in the engine's catalog.
func (s *Server) writeLocations(w http.ResponseWriter, res matcher.Results) {
	bp := bufPool.Get().(*[]byte)
	b := append(s.frags.appendLocations((*bp)[:0], res, s.eng.LocationAt), '\n')
	writeBody(w, http.StatusOK, b)
	if cap(b) <= 1<<20 { // keep the pool from holding rare huge buffers
		*bp = b
		bufPool.Put(bp)
	}
}

// appendLocations appends the JSON answer of a location search to b. The specs list the
// groups, then the locations, so that they can be passed to find-providers2 as they are.
// lookup finds the locations that res names by key alone (res.Keys); one it cannot find
// is left out.
func (f *fragments) appendLocations(b []byte, res matcher.Results,
	lookup func(key int32) (matcher.Location, bool)) []byte {
	type listed struct {
		fr          *fragment
		count, dist int
	}
	var stack [128]listed
	ls := stack[:0]
	for i := range res.Locations {
		l := &res.Locations[i]
		ls = append(ls, listed{f.fragment(l.Key, &l.Location, lookup), l.ProviderCount,
			l.MatchDistance})
	}
	for _, k := range res.Keys {
		ls = append(ls, listed{f.fragment(k.Key, nil, lookup), k.ProviderCount,
			int(k.MatchDistance)})
	}
	b = append(b, `{"specs":[`...)
	for i, g := range res.Groups {
		b = appendComma(b, i)
		b = append(b, `{"location_group_id":`...)
		b = append(appendUUID(b, g.ID), '}')
	}
	n := len(res.Groups)
	for _, l := range ls {
		if l.fr != nil {
			b = appendComma(b, n)
			b = append(b, `{"location_id":`...)
			b = append(appendUUID(b, l.fr.id), '}')
			n++
		}
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
	n = 0
	for _, l := range ls {
		if l.fr == nil {
			continue
		}
		b = appendComma(b, n)
		b = append(b, l.fr.head...)
		b = append(b, `,"provider_count":`...)
		b = strconv.AppendInt(b, int64(l.count), 10)
		b = append(b, `,"match_distance":`...)
		b = strconv.AppendInt(b, int64(l.dist), 10)
		b = append(b, '}')
		n++
	}
	return append(b, `],"devices":[]}`...)
}

// fragment returns the fragment of the location with key: the kept one, or one written
// from loc, or when loc is nil from the location lookup finds; nil when it finds none.
func (f *fragments) fragment(key int32, loc *matcher.Location,
	lookup func(key int32) (matcher.Location, bool)) *fragment {
	if fr := f.get(key); fr != nil && (loc == nil || loc.ID == fr.id) {
		return fr
	}
	if loc == nil {
		l, ok := lookup(key)
		if !ok {
			return nil
		}
		loc = &l
	}
	fr := &fragment{id: loc.ID, head: appendLocationHead(nil, loc)}
	f.put(key, fr)
	return fr
}

// appendLocationHead appends a location up to its provider count, leaving out the empty
// fields the contract marks optional.
func appendLocationHead(b []byte, l *matcher.Location) []byte {
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
