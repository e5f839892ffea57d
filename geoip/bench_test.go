package geoip_test

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/byplatform/byplatform/geoip"
	"github.com/byplatform/byplatform/geoip/geoiptest"
	"github.com/byplatform/byplatform/internal/shareddata"
)

// benchNets is the number of networks in the benchmark databases: each a /24 in
// its own real city, enough that the tree is deep and records are not all cached.
const benchNets = 20000

// readCities returns up to n places from the shared world cities data.
func readCities(tb testing.TB, n int) []geoip.Place {
	tb.Helper()
	path := shareddata.Cities(tb)
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	sc := bufio.NewScanner(zr)
	sc.Scan() // header: city, region, country, country_code, ...
	var places []geoip.Place
	for sc.Scan() && len(places) < n {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) < 4 {
			tb.Fatalf("%s: short line %q", path, sc.Text())
		}
		places = append(places, geoip.Place{City: cols[0], Region: cols[1], CountryCode: cols[3]})
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return places
}

// benchAddr returns an address in the i-th benchmark network, 1.0.0.0/24 upwards.
func benchAddr(i int, host byte) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], 1<<24+uint32(i)<<8+uint32(host))
	return netip.AddrFrom4(b)
}

func BenchmarkLookup(b *testing.B) {
	places := readCities(b, benchNets)
	nets := make(map[string]geoip.Place, len(places))
	for i, p := range places {
		nets[netip.PrefixFrom(benchAddr(i, 0), 24).String()] = p
	}
	rng := rand.New(rand.NewPCG(1, 2))
	addrs := make([]netip.Addr, 4096)
	for i := range addrs {
		addrs[i] = benchAddr(rng.IntN(len(places)), byte(rng.IntN(256)))
	}

	for _, layout := range layouts {
		path := filepath.Join(b.TempDir(), "bench.mmdb")
		geoiptest.WriteLayout(b, path, layout, nets)
		db, err := geoip.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("layout=%v/nets=%d", layout, len(places)), func(b *testing.B) {
			benchLookup(b, db, addrs)
		})
		db.Close()
	}
}

// BenchmarkLookupReal measures the database named by BYP_GEOIP_DB on random public
// IPv4 addresses, most of which it places.
func BenchmarkLookupReal(b *testing.B) {
	db := openRealDB(b)
	rng := rand.New(rand.NewPCG(1, 2))
	addrs := make([]netip.Addr, 4096)
	for i := range addrs {
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], rng.Uint32())
		a[0] = 1 + a[0]%223 // unicast, mostly public
		addrs[i] = netip.AddrFrom4(a)
	}
	benchLookup(b, db, addrs)
}

// benchLookup measures Lookup over addrs, one goroutine and then one per CPU.
func benchLookup(b *testing.B, db *geoip.DB, addrs []netip.Addr) {
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		found, i := 0, 0
		for b.Loop() {
			if _, ok := db.Lookup(addrs[i%len(addrs)]); ok {
				found++
			}
			i++
		}
		b.ReportMetric(float64(found)/float64(i), "found/op")
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				db.Lookup(addrs[i%len(addrs)])
				i++
			}
		})
	})
}
