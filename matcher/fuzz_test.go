package matcher

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"unicode/utf8"
)

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"São Paulo", "Île-de-France", "ẞ", "İ", "Москва", "東京",
		"\xff", "a\u0301\u0302b", "ﬁ", "Ⅻ", "  x  ,, y ", "ǅ", "\u1e9e\u0130",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkNormalized(t, s, Normalize(s))
	})
}

var (
	fuzzOnce sync.Once
	fuzzSnap *snapshot
)

// fuzzCatalog is a small catalog from the world data for fuzzing searches.
func fuzzCatalog(t *testing.T) *snapshot {
	fuzzOnce.Do(func() { fuzzSnap = sampleCatalog(t, 1500).snap.Load() })
	return fuzzSnap
}

// FuzzSearch checks that no query makes search panic and that every query's matches
// agree with the definition.
func FuzzSearch(f *testing.F) {
	for _, s := range []string{"lond", "untied states", "", "ß", "\x00", "москва",
		"a b c d e f g h", "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"} {
		f.Add(s, 0.2, false, 10)
		f.Add(s, 1.0, true, 0)
	}
	f.Fuzz(func(t *testing.T, text string, frac float64, enable bool, limit int) {
		s := fuzzCatalog(t)
		q := Query{Text: text, MaxDistanceFraction: frac, EnableMaxDistanceFraction: enable,
			Limit: limit % 300}
		d := q.AllowedDistance()
		if d < 0 || d > MaxDistance {
			t.Fatalf("allowed distance %d", d)
		}
		r := s.search(q, nil)
		if n := len(r.Locations) + len(r.Groups); n > max(DefaultLimit, q.Limit) {
			t.Fatalf("%d results over the limit", n)
		}
		for _, l := range r.Locations {
			if l.MatchDistance > d || !utf8.ValidString(l.Name) {
				t.Fatalf("result %+v beyond distance %d", l, d)
			}
		}
		if utf8.RuneCountInString(Normalize(text)) <= 40 {
			checkMatches(t, s, q)
		}
	})
}

// FuzzReadPlaces checks that no input makes the places reader or the catalog panic,
// and that bad input is reported as such.
func FuzzReadPlaces(f *testing.F) {
	f.Add([]byte("city\tregion\tcountry\tcountry_code\nLisboa\tLisbon\tPortugal\tPT\n"))
	f.Add([]byte("country_code\tcity\tregion\tcountry\nPT\t\t\t\n\nXX\tA\tB\n"))
	f.Add([]byte("\x1f\x8b\x08\x00\x00\x00\x00\x00"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		places, err := ReadPlaces(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("ReadPlaces error %v is not ErrFormat", err)
			}
			return
		}
		c := NewCatalog()
		if err := c.AddAll(places); err != nil && !errors.Is(err, ErrInvalidPlace) {
			t.Fatalf("AddAll error %v is not ErrInvalidPlace", err)
		}
		c.Search(Query{Text: string(data)})
	})
}
