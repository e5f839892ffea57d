package matcher

import (
	"os"
	"sync"
	"testing"

	"github.com/byplatform/byplatform/internal/shareddata"
)

// citiesPath returns the path of the shared world cities file.
func citiesPath(tb testing.TB) string { return shareddata.Cities(tb) }

var (
	placesOnce sync.Once
	allPlaces  []Place
	placesErr  error
)

// worldPlaces returns the rows of cities.tsv.gz, read once per test binary.
func worldPlaces(tb testing.TB) []Place {
	tb.Helper()
	path := citiesPath(tb)
	placesOnce.Do(func() {
		f, err := os.Open(path)
		if err != nil {
			placesErr = err
			return
		}
		defer f.Close()
		allPlaces, placesErr = ReadPlaces(f)
	})
	if placesErr != nil {
		tb.Fatal(placesErr)
	}
	return allPlaces
}

var (
	worldOnce sync.Once
	world     *Catalog
)

// worldCatalog returns a catalog of every place in cities.tsv.gz, built once per test
// binary. Tests must not add to it.
func worldCatalog(tb testing.TB) *Catalog {
	tb.Helper()
	places := worldPlaces(tb)
	worldOnce.Do(func() {
		c := NewCatalog()
		if err := c.AddAll(places); err != nil {
			tb.Fatal(err)
		}
		world = c
	})
	if world == nil {
		tb.Fatal("world catalog failed to build")
	}
	return world
}
