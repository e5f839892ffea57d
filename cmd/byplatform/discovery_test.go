package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/byplatform/byplatform/control/pb"
	"github.com/byplatform/byplatform/geoip"
	"github.com/byplatform/byplatform/geoip/geoiptest"
	"github.com/byplatform/byplatform/matcher"
)

// discoveryCities are where the test's providers connect from: 127.0.N.0/24 is the
// N-th city (N from 1).
var discoveryCities = []geoip.Place{
	{City: "Berlin", Region: "Berlin", CountryCode: "DE"},
	{City: "Paris", Region: "Île-de-France", CountryCode: "FR"},
	{City: "London", Region: "England", CountryCode: "GB"},
	{City: "New York City", Region: "New York", CountryCode: "US"},
	{City: "São Paulo", Region: "São Paulo", CountryCode: "BR"},
	{City: "Tokyo", Region: "Tokyo", CountryCode: "JP"},
	{City: "Sydney", Region: "New South Wales", CountryCode: "AU"},
	{City: "Toronto", Region: "Ontario", CountryCode: "CA"},
	{City: "Madrid", Region: "Madrid", CountryCode: "ES"},
	{City: "Rome", Region: "Lazio", CountryCode: "IT"},
	{City: "Amsterdam", Region: "North Holland", CountryCode: "NL"},
	{City: "Stockholm", Region: "Stockholm", CountryCode: "SE"},
	{City: "Oslo", Region: "Oslo", CountryCode: "NO"},
	{City: "Zurich", Region: "Zurich", CountryCode: "CH"},
	{City: "Reykjavik", Region: "Capital Region", CountryCode: "IS"},
	{City: "Mumbai", Region: "Maharashtra", CountryCode: "IN"},
	{City: "Seoul", Region: "Seoul", CountryCode: "KR"},
	{City: "Mexico City", Region: "Mexico City", CountryCode: "MX"},
	{City: "Cairo", Region: "Cairo", CountryCode: "EG"},
	{City: "Munich", Region: "Bavaria", CountryCode: "DE"},
}

func cityID(p geoip.Place) uuid.UUID { return matcher.CityID(p.CountryCode, p.Region, p.City) }

type locationsAnswer struct {
	Locations []struct {
		LocationID    string `json:"location_id"`
		LocationType  string `json:"location_type"`
		Name          string `json:"name"`
		ProviderCount int    `json:"provider_count"`
		MatchDistance int    `json:"match_distance"`
	} `json:"locations"`
	Groups []struct {
		Name          string `json:"name"`
		ProviderCount int    `json:"provider_count"`
	} `json:"groups"`
}

// get sends a GET with an optional bearer and decodes the answer.
func (s *testServer) get(t *testing.T, path, bearer string, out any) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.url(path), nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	decodeJSON(t, resp, out)
}

// sampleAll calls find-providers2 over specs, excluding everything seen so far, until
// it answers nothing, and returns how often each provider was drawn.
func (s *testServer) sampleAll(t *testing.T, bearer string,
	specs []map[string]string) map[string]int {
	t.Helper()
	seen := map[string]int{}
	var exclude []string
	for round := 0; round < 100; round++ {
		var res struct {
			Providers []struct {
				ClientID string `json:"client_id"`
			} `json:"providers"`
		}
		s.post(t, "/network/find-providers2", bearer, map[string]any{"specs": specs,
			"count": 7, "exclude_client_ids": exclude}, &res)
		if len(res.Providers) == 0 {
			return seen
		}
		for _, p := range res.Providers {
			seen[p.ClientID]++
			exclude = append(exclude, p.ClientID)
		}
	}
	t.Fatal("sampling did not run dry")
	return nil
}

// TestDiscoveryEndToEnd connects 200 providers over WebSocket from loopback addresses
// that a test GeoIP database maps to 20 cities, then searches and samples them through
// the HTTP API.
func TestDiscoveryEndToEnd(t *testing.T) {
	dir := t.TempDir()
	nets := map[string]geoip.Place{}
	for i, p := range discoveryCities {
		nets[fmt.Sprintf("127.0.%d.0/24", i+1)] = p
	}
	db := filepath.Join(dir, "geo.mmdb")
	geoiptest.Write(t, db, nets)
	s := startServer(t, "--data-dir", dir, "--geoip-db", db)

	// Four networks of 50 providers each; in the first, every fifth provider offers only
	// Network mode and must stay private to that network.
	const perNetwork, networks = 50, 4
	jwts := make([]string, networks)
	type provider struct {
		id      uuid.UUID
		network int
		city    int
		public  bool
		conn    *peer
	}
	var providers []*provider
	perCity := make([]int, len(discoveryCities))
	for n := range networks {
		jwts[n] = s.signUp(t, []string{"alphanetwork", "bravoproviders", "charliemesh",
			"deltafleet"}[n])
		for i := range perNetwork {
			k := n*perNetwork + i
			id, jwt := s.newClient(t, jwts[n])
			city := k % len(discoveryCities)
			host := byte(2 + k/len(discoveryCities))
			from := netip.AddrFrom4([4]byte{127, 0, byte(city + 1), host})
			p := &provider{id: id, network: n, city: city, public: !(n == 0 && i%5 == 0)}
			p.conn = dialWebSocketFrom(t, s, id, jwt, from)
			keys := map[pb.ProvideMode][]byte{pb.ProvideMode_Network: randomSecret()}
			if p.public {
				keys[pb.ProvideMode_Public] = randomSecret()
				perCity[city]++
			}
			p.conn.controlExchange(t, provideFrame(t, keys), 0)
			providers = append(providers, p)
		}
	}
	public := 0
	for _, p := range providers {
		if p.public {
			public++
		}
	}

	t.Run("provider-locations lists every city with its count", func(t *testing.T) {
		var res locationsAnswer
		s.get(t, "/network/provider-locations", "", &res)
		counts := map[string]int{}
		for _, l := range res.Locations {
			counts[l.LocationID] = l.ProviderCount
		}
		for i, p := range discoveryCities {
			if got := counts[cityID(p).String()]; got != perCity[i] {
				t.Errorf("%s: %d providers listed, want %d", p.City, got, perCity[i])
			}
		}
	})

	t.Run("searches with typos find the right cities with the right counts", func(t *testing.T) {
		for _, tc := range []struct {
			query string
			city  int
		}{{"berln", 0}, {"sao paolo", 4}, {"tokio", 5}, {"stockhlm", 11}, {"munchen", -1},
			{"reykjavik", 14}, {"mumbai", 15}} {
			var res locationsAnswer
			s.post(t, "/network/find-provider-locations", "",
				map[string]any{"query": tc.query}, &res)
			if tc.city < 0 {
				continue // another spelling: found or not, never a wrong count
			}
			want := cityID(discoveryCities[tc.city]).String()
			found := false
			for _, l := range res.Locations {
				if l.LocationID == want {
					found = true
					if l.ProviderCount != perCity[tc.city] {
						t.Errorf("%q: %d providers, want %d", tc.query, l.ProviderCount,
							perCity[tc.city])
					}
				}
			}
			if !found {
				t.Errorf("%q did not find %s: %+v", tc.query, discoveryCities[tc.city].City,
					res.Locations)
			}
		}
	})

	allCities := func() []map[string]string {
		var specs []map[string]string
		for _, p := range discoveryCities {
			specs = append(specs, map[string]string{"location_id": cityID(p).String()})
		}
		return specs
	}
	t.Run("find-providers2 with growing exclusions visits every provider once", func(t *testing.T) {
		seen := s.sampleAll(t, "", allCities())
		if len(seen) != public {
			t.Fatalf("visited %d providers, want the %d public ones", len(seen), public)
		}
		for _, p := range providers {
			n := seen[p.id.String()]
			if p.public && n != 1 {
				t.Fatalf("public provider drawn %d times", n)
			}
			if !p.public && n != 0 {
				t.Fatal("a Network-only provider was shown to an anonymous caller")
			}
		}
	})

	t.Run("Network-only providers stay private to their network", func(t *testing.T) {
		own := s.sampleAll(t, jwts[0], allCities())
		other := s.sampleAll(t, jwts[1], allCities())
		if len(own) != len(providers) {
			t.Fatalf("the first network sees %d providers, want all %d", len(own),
				len(providers))
		}
		if len(other) != public {
			t.Fatalf("another network sees %d providers, want the %d public", len(other),
				public)
		}
	})

	countAt := func(city int) int {
		var res locationsAnswer
		s.get(t, "/network/provider-locations", "", &res)
		for _, l := range res.Locations {
			if l.LocationID == cityID(discoveryCities[city]).String() {
				return l.ProviderCount
			}
		}
		return 0
	}
	waitCount := func(t *testing.T, city, want int, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for countAt(city) != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s still lists %d providers, want %d", discoveryCities[city].City,
					countAt(city), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	t.Run("a disconnected provider leaves the pool within two keepalive periods",
		func(t *testing.T) {
			var p *provider
			for _, q := range providers {
				if q.public && q.city == 2 {
					p = q
					break
				}
			}
			before := countAt(2)
			p.conn.close()
			waitCount(t, 2, before-1, 10*time.Second)
		})

	t.Run("a removed provider leaves the pool at once", func(t *testing.T) {
		var p *provider
		for _, q := range providers {
			if q.public && q.city == 3 && q.network == 1 {
				p = q
				break
			}
		}
		before := countAt(3)
		var res struct{ Error *struct{ Message string } }
		s.post(t, "/network/remove-client", jwts[p.network],
			map[string]string{"client_id": p.id.String()}, &res)
		if got := countAt(3); got != before-1 {
			t.Fatalf("%d providers after removal, want %d", got, before-1)
		}
	})
}

func decodeJSON(t *testing.T, resp *http.Response, out any) {
	t.Helper()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}
