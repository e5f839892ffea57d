package geoip_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/byplatform/byplatform/geoip"
)

// openRealDB opens the database named by BYP_GEOIP_DB (as fetched by `make geoip`,
// e.g. data/geoip; a relative path is taken from the module root) and skips the
// test when the variable is unset.
func openRealDB(tb testing.TB) *geoip.DB {
	tb.Helper()
	path := os.Getenv("BYP_GEOIP_DB")
	if path == "" {
		tb.Skip("BYP_GEOIP_DB is not set; run `make geoip` and point it at data/geoip")
	}
	var parts []string
	for part := range strings.SplitSeq(path, ",") {
		part = strings.TrimSpace(part)
		if !filepath.IsAbs(part) {
			part = filepath.Join(findUp(tb, "go.mod"), part)
		}
		parts = append(parts, part)
	}
	db, err := geoip.Open(strings.Join(parts, ","))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// TestRealDatabase checks a downloaded database on well-known addresses whose
// country is stable across providers and releases.
func TestRealDatabase(t *testing.T) {
	db := openRealDB(t)
	tests := []struct {
		addr    string
		country string // "" for an address no public database places
	}{
		{"8.8.8.8", "US"},         // Google Public DNS
		{"::ffff:8.8.8.8", "US"},  // the same, IPv4-mapped
		{"81.2.69.142", "GB"},     // MaxMind's own test address
		{"193.99.144.80", "DE"},   // heise.de
		{"2a01:4f8::1", "DE"},     // Hetzner
		{"2001:67c:2e8::2", "NL"}, // RIPE NCC
		{"127.0.0.1", ""},
		{"10.1.2.3", ""},
		{"192.168.1.1", ""},
		{"2001:db8::1", ""},
		{"::1", ""},
	}
	cities := 0
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			p, ok := db.Lookup(netip.MustParseAddr(tt.addr))
			t.Logf("Lookup(%s) = %+v, %v", tt.addr, p, ok)
			if ok != (tt.country != "") || p.CountryCode != tt.country {
				t.Fatalf("Lookup(%s) = %+v, %v; want country %q", tt.addr, p, ok, tt.country)
			}
			if p.City != "" {
				cities++
			}
		})
	}
	// GeoLite2 leaves the city out for some of these, but a city database that
	// places none of them in a city is not one.
	if cities == 0 {
		t.Error("no address was placed in a city")
	}
}

// findUp returns the nearest directory, from the package directory upwards, that
// holds name.
func findUp(tb testing.TB, name string) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatalf("no %s above the package directory", name)
		}
		dir = parent
	}
}
