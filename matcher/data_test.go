package matcher

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// citiesPath walks up from the package directory to the shared/data directory that sits
// beside the checkout and returns the path of cities.tsv.gz.
func citiesPath(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "shared", "data", "cities.tsv.gz")
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("shared/data/cities.tsv.gz not found above the package directory")
		}
		dir = parent
	}
}

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
