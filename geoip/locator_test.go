package geoip_test

import (
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/byplatform/byplatform/geoip"
	"github.com/byplatform/byplatform/geoip/geoiptest"
)

func TestLocatorFallback(t *testing.T) {
	path := filepath.Join(t.TempDir(), "test.mmdb")
	geoiptest.Write(t, path, testNets4)
	db, err := geoip.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	known := netip.MustParseAddr("127.0.1.1")
	unknown := netip.MustParseAddr("127.0.9.1")
	tests := []struct {
		name string
		l    *geoip.Locator
		addr netip.Addr
		want geoip.Place
		ok   bool
	}{
		{"database knows the address", &geoip.Locator{DB: db, Default: paris}, known, berlin, true},
		{"default for an unknown address", &geoip.Locator{DB: db, Default: paris},
			unknown, paris, true},
		{"unknown address without default", &geoip.Locator{DB: db}, unknown, geoip.Place{}, false},
		{"default without database", &geoip.Locator{Default: paris}, known, paris, true},
		{"default of a country only", &geoip.Locator{Default: japan}, known, japan, true},
		{"default without country is none", &geoip.Locator{Default: geoip.Place{City: "X"}},
			known, geoip.Place{}, false},
		{"neither", &geoip.Locator{}, known, geoip.Place{}, false},
		{"nil locator", nil, known, geoip.Place{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.l.Locate(tt.addr)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("Locate(%s) = %+v, %v; want %+v, %v", tt.addr, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestOpenLocator(t *testing.T) {
	path := filepath.Join(t.TempDir(), "test.mmdb")
	geoiptest.WriteLayout(t, path, geoiptest.DBIPCity, testNets4)

	l, err := geoip.OpenLocator(path, "Paris, Île-de-France, fr")
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := l.Locate(netip.MustParseAddr("127.0.1.1")); !ok || got != berlin {
		t.Errorf("Locate(known) = %+v, %v; want %+v", got, ok, berlin)
	}
	if got, ok := l.Locate(netip.MustParseAddr("10.1.2.3")); !ok || got != paris {
		t.Errorf("Locate(unknown) = %+v, %v; want %+v", got, ok, paris)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l, err = geoip.OpenLocator("", "")
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := l.Locate(netip.MustParseAddr("127.0.1.1")); ok {
		t.Errorf("empty Locator placed an address at %+v", got)
	}
	l.Close()

	if _, err := geoip.OpenLocator(path, "Paris"); err == nil ||
		!strings.Contains(err.Error(), "default location") {
		t.Errorf("OpenLocator with a bad default: %v", err)
	}
	if _, err := geoip.OpenLocator(path+".missing", ""); err == nil {
		t.Error("OpenLocator with a missing database succeeded")
	}
}

// TestLocateConnection places real TCP clients by the source address the server
// sees, the way the transport places providers.
func TestLocateConnection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "test.mmdb")
	geoiptest.Write(t, path, testNets4)
	l, err := geoip.OpenLocator(path, "Tokyo, Tokyo, JP")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	for src, want := range map[string]geoip.Place{
		"127.0.1.5": berlin, "127.0.2.77": paris, "127.0.9.9": tokyo,
	} {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		client, err := d.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatalf("dial from %s: %v", src, err)
		}
		server, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		remote := server.RemoteAddr().(*net.TCPAddr).AddrPort().Addr()
		got, ok := l.Locate(remote)
		client.Close()
		server.Close()
		if remote.String() != src || !ok || got != want {
			t.Errorf("client from %s seen as %s placed at %+v, %v; want %+v",
				src, remote, got, ok, want)
		}
	}
}
