package geoiptest_test

import (
	"net/netip"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/byplatform/byplatform/geoip"
	"github.com/byplatform/byplatform/geoip/geoiptest"
)

// TestWriteShapes reads written databases with the plain MaxMind reader and checks
// that their records and metadata have the shape of the real databases.
func TestWriteShapes(t *testing.T) {
	berlin := geoip.Place{City: "Berlin", Region: "Berlin", CountryCode: "DE"}
	tests := []struct {
		name      string
		layout    geoiptest.Layout
		nets      map[string]geoip.Place
		ipVersion uint
		addr      string
		want      map[string]any
	}{
		{
			name:      "GeoLite2 record",
			layout:    geoiptest.GeoLite2City,
			nets:      map[string]geoip.Place{"127.0.1.0/24": berlin},
			ipVersion: 6,
			addr:      "127.0.1.1",
			want: map[string]any{
				"city":         map[string]any{"names": map[string]any{"en": "Berlin"}},
				"country":      map[string]any{"iso_code": "DE"},
				"subdivisions": []any{map[string]any{"names": map[string]any{"en": "Berlin"}}},
			},
		},
		{
			name:      "DB-IP IPv4 file",
			layout:    geoiptest.DBIPCity,
			nets:      map[string]geoip.Place{"127.0.1.0/24": berlin},
			ipVersion: 4,
			addr:      "127.0.1.1",
			want:      map[string]any{"city": "Berlin", "state1": "Berlin", "country_code": "DE"},
		},
		{
			name:      "DB-IP IPv6 file",
			layout:    geoiptest.DBIPCity,
			nets:      map[string]geoip.Place{"fd00:1::/64": berlin},
			ipVersion: 6,
			addr:      "fd00:1::1",
			want:      map[string]any{"city": "Berlin", "state1": "Berlin", "country_code": "DE"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sub", "test.mmdb")
			geoiptest.WriteLayout(t, path, tt.layout, tt.nets)
			r, err := maxminddb.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if r.Metadata.IPVersion != tt.ipVersion {
				t.Errorf("ip_version = %d, want %d", r.Metadata.IPVersion, tt.ipVersion)
			}
			if r.Metadata.DatabaseType != tt.layout.String() {
				t.Errorf("database_type = %q, want %q", r.Metadata.DatabaseType, tt.layout)
			}
			var rec map[string]any
			if err := r.Lookup(netip.MustParseAddr(tt.addr)).Decode(&rec); err != nil {
				t.Fatal(err)
			}
			for key, want := range tt.want {
				if got := pick(rec[key], want); !reflect.DeepEqual(got, want) {
					t.Errorf("record[%q] = %#v, want %#v", key, rec[key], want)
				}
			}
		})
	}
}

// pick keeps of got only the map keys and slice elements that want has, so that a
// record can be compared with the fields a test cares about.
func pick(got, want any) any {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return got
		}
		out := map[string]any{}
		for k, v := range w {
			out[k] = pick(g[k], v)
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) < len(w) {
			return got
		}
		out := make([]any, len(w))
		for i := range w {
			out[i] = pick(g[i], w[i])
		}
		return out
	}
	return got
}
