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
	c := NewCatalog()
	if err := c.AddAll(some); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestIndexMatchesDefinition(t *testing.T) {
	step, queries := 60, 3000
	if testing.Short() || raceEnabled {
		step, queries = 250, 1000
	}
	s := sampleCatalog(t, step).snap.Load()
	g := newQueryGen(1, s)
	for range queries {
		checkMatches(t, s, g.query(g.next()))
	}
}
