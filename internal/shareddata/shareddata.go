// Package shareddata locates the project's reference data for tests and benchmarks: the
// shared/data directory that sits beside the checkout (../shared/data from the
// repository root, as laid out for developers and CI).
package shareddata

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the shared/data directory, found by walking up from the working
// directory (a package directory under go test). It fails the test when there is none.
func Dir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "shared", "data")
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("shared/data not found above the package directory")
		}
		dir = parent
	}
}

// Cities returns the path of the world cities file, shared/data/cities.tsv.gz.
func Cities(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(Dir(tb), "cities.tsv.gz")
}
