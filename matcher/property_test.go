package matcher

import (
	"testing"
)

// sampleCatalog builds a catalog of every step-th place of the world data.
func sampleCatalog(t testing.TB, step int) *Catalog {
	t.Helper()
	places := worldPlaces(t)
	var some []Place
	for i := 0; i < len(places); i += step {
		some = append(some, places[i])
	}
	// The last places arrive in a few batches after the rest, as in a running engine,
	// so that the catalog ends with nodes, countries among them, in the small index.
	c := NewCatalog()
	k := max(0, len(some)-300)
	for i := 0; i < len(some); i = max(k, i+60) {
		if err := c.AddAll(some[i:min(max(k, i+60), len(some))]); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// The index agrees with a brute-force scan on which nodes match and at what distance,
// over thousands of random queries (typos, accents, case, other scripts) on a sample of
// the world's places.
func TestIndexMatchesDefinition(t *testing.T) {
	step, queries := 90, 2000
	if testing.Short() || raceEnabled {
		step, queries = 400, 500
	}
	s := sampleCatalog(t, step).snap.Load()
	g := newQueryGen(1, s)
	for range queries {
		checkMatches(t, s, g.query(g.next()))
	}
}

// The same on the whole world catalog, for a few queries: a scan of 171,075 places takes
// about a second per query, so this runs only in the normal (not short, not race) run.
func TestIndexMatchesDefinitionWorld(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("the full-catalog scan is too slow under -short and -race; " +
			"the sampled test covers them")
	}
	s := worldCatalog(t).snap.Load()
	g := newQueryGen(2, s)
	for range 10 {
		checkMatches(t, s, g.query(g.next()))
	}
	for _, q := range []string{"lond", "untied states", "sao paulo", "germny", "москва"} {
		checkMatches(t, s, Query{Text: q})
	}
}
