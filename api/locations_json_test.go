package api

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/byplatform/byplatform/matcher"
)

// The shapes of a location search's answer as the API contract gives them; the
// appenders of locations_json.go must write what encoding/json writes for these.

type groupJSON struct {
	LocationGroupID string `json:"location_group_id"`
	Name            string `json:"name"`
	ProviderCount   int    `json:"provider_count"`
	Promoted        bool   `json:"promoted"`
	MatchDistance   int    `json:"match_distance"`
}

type locationJSON struct {
	LocationID        string `json:"location_id"`
	LocationType      string `json:"location_type"`
	Name              string `json:"name"`
	City              string `json:"city,omitempty"`
	CityLocationID    string `json:"city_location_id,omitempty"`
	Region            string `json:"region,omitempty"`
	RegionLocationID  string `json:"region_location_id,omitempty"`
	Country           string `json:"country"`
	CountryLocationID string `json:"country_location_id"`
	CountryCode       string `json:"country_code"`
	ProviderCount     int    `json:"provider_count"`
	MatchDistance     int    `json:"match_distance"`
}

type deviceJSON struct {
	ClientID   string `json:"client_id"`
	DeviceName string `json:"device_name"`
}

type locationsResult struct {
	Specs     []specJSON     `json:"specs"`
	Groups    []groupJSON    `json:"groups"`
	Locations []locationJSON `json:"locations"`
	Devices   []deviceJSON   `json:"devices"`
}

// locationsJSON shapes search results; specs list the groups, then the locations, so
// they can be passed to find-providers2 as they are.
func locationsJSON(res matcher.Results) locationsResult {
	out := locationsResult{Specs: []specJSON{}, Groups: []groupJSON{},
		Locations: []locationJSON{}, Devices: []deviceJSON{}}
	for _, g := range res.Groups {
		out.Groups = append(out.Groups, groupJSON{LocationGroupID: g.ID.String(),
			Name: g.Name, ProviderCount: g.ProviderCount, Promoted: g.Promoted,
			MatchDistance: g.MatchDistance})
		out.Specs = append(out.Specs, specJSON{LocationGroupID: g.ID.String()})
	}
	for _, l := range res.Locations {
		out.Locations = append(out.Locations, locationJSON{LocationID: l.ID.String(),
			LocationType: l.Type.String(), Name: l.Name, City: l.City,
			CityLocationID: idText(l.CityID), Region: l.Region,
			RegionLocationID: idText(l.RegionID), Country: l.Country,
			CountryLocationID: idText(l.CountryID), CountryCode: l.CountryCode,
			ProviderCount: l.ProviderCount, MatchDistance: l.MatchDistance})
		out.Specs = append(out.Specs, specJSON{LocationID: l.ID.String()})
	}
	return out
}

// sampleKey makes the keys of sampled locations distinct, as a catalog's are.
var sampleKey int32

// sampleResults returns search results that reach every branch of appendLocations:
// groups and locations, empty and set optional fields, and names that need escaping.
func sampleResults(names ...string) matcher.Results {
	var r matcher.Results
	for i, n := range names {
		sampleKey++
		r.Groups = append(r.Groups, matcher.GroupMatch{
			Group:         matcher.Group{ID: uuid.New(), Name: n, Promoted: i%2 == 0},
			ProviderCount: i * 7, MatchDistance: i % 4,
		})
		l := matcher.LocationMatch{Location: matcher.Location{ID: uuid.New(),
			Type: matcher.LocationType(1 + i%3), Name: n, Country: n, CountryCode: "DE",
			CountryID: uuid.New()}, Key: sampleKey, ProviderCount: i, MatchDistance: 3 - i%4}
		if i%3 > 0 {
			l.Region, l.RegionID = n+" region", uuid.New()
		}
		if i%3 == 2 {
			l.City, l.CityID = n, l.ID
		}
		if i == 1 {
			l.CountryID = uuid.Nil
		}
		r.Locations = append(r.Locations, l)
	}
	return r
}

// The appender writes what encoding/json writes for the same results.
func TestAppendLocationsMatchesEncodingJSON(t *testing.T) {
	cases := []matcher.Results{
		{},
		sampleResults("Berlin"),
		sampleResults("München", "São Paulo", `Say "hi" \ <b>&</b>`, "tab\tnew\nline\x01",
			"bad \xff utf8", "sep \u2028 \u2029", "東京", ""),
	}
	var f fragments
	known := map[int32]matcher.Location{}
	lookup := func(key int32) (matcher.Location, bool) {
		l, ok := known[key]
		return l, ok
	}
	for _, res := range cases {
		want, err := json.Marshal(locationsJSON(res))
		if err != nil {
			t.Fatal(err)
		}
		// Written fresh, then from the kept fragments with other counts, then from
		// results that name locations by key alone.
		for round := range 3 {
			in := res
			if round == 2 {
				in.Locations = nil
				for _, l := range res.Locations {
					known[l.Key] = l.Location
					in.Keys = append(in.Keys, matcher.KeyMatch{Key: l.Key,
						ProviderCount: l.ProviderCount, MatchDistance: int32(l.MatchDistance)})
				}
			}
			if got := f.appendLocations(nil, in, lookup); !bytes.Equal(got, want) {
				t.Errorf("round %d:\n got %s\nwant %s", round, got, want)
			}
			for i := range res.Locations {
				res.Locations[i].ProviderCount += 3
				res.Locations[i].MatchDistance = (res.Locations[i].MatchDistance + 1) % 4
			}
			want, _ = json.Marshal(locationsJSON(res))
		}
	}
	if f.n.Load() == 0 {
		t.Fatal("no fragment was kept")
	}
}

// A location that results name by a key the lookup does not know is left out of the
// specs and the list alike, and the answer stays well formed.
func TestAppendLocationsUnknownKey(t *testing.T) {
	res := sampleResults("Alpha", "Beta", "Gamma")
	in := matcher.Results{Groups: res.Groups}
	for _, l := range res.Locations {
		in.Keys = append(in.Keys, matcher.KeyMatch{Key: l.Key, ProviderCount: l.ProviderCount,
			MatchDistance: int32(l.MatchDistance)})
	}
	unknown := res.Locations[1].Key
	var f fragments
	got := f.appendLocations(nil, in, func(key int32) (matcher.Location, bool) {
		for _, l := range res.Locations {
			if l.Key == key && key != unknown {
				return l.Location, true
			}
		}
		return matcher.Location{}, false
	})
	res.Locations = slices.Delete(res.Locations, 1, 2)
	want, _ := json.Marshal(locationsJSON(res))
	if !bytes.Equal(got, want) {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	if fr := f.get(res.Locations[0].Key); fr == nil || fr.id != res.Locations[0].ID {
		t.Fatalf("fragment of the first location: %+v", fr)
	}
	if fr := f.get(unknown); fr != nil {
		t.Fatalf("fragment kept for an unknown key: %+v", fr)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "Köln", `"\`, "<&>", "\u2028", "\xff", "\x00\x1f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
		}
	})
}
