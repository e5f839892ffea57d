package matcher

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"
)

func TestAddCreatesParents(t *testing.T) {
	c := NewCatalog()
	loc, err := c.Add(Place{City: "Paris", Region: "Île-de-France", Country: "France",
		CountryCode: "fr"})
	if err != nil {
		t.Fatal(err)
	}
	want := Location{
		ID: CityID("FR", "Île-de-France", "Paris"), Type: LocationCity, Name: "Paris",
		City: "Paris", CityID: CityID("FR", "Île-de-France", "Paris"),
		Region: "Île-de-France", RegionID: RegionID("FR", "Île-de-France"),
		Country: "France", CountryID: CountryID("FR"), CountryCode: "FR",
	}
	if loc != want {
		t.Fatalf("Add = %+v, want %+v", loc, want)
	}
	region, ok := c.Location(want.RegionID)
	if !ok || region.Type != LocationRegion || region.Name != "Île-de-France" ||
		region.City != "" || region.CountryID != want.CountryID {
		t.Fatalf("region = %+v, %v", region, ok)
	}
	country, ok := c.Location(want.CountryID)
	if !ok || country.Type != LocationCountry || country.Name != "France" ||
		country.Region != "" {
		t.Fatalf("country = %+v, %v", country, ok)
	}
	if c.Len() != 3 {
		t.Fatalf("Len = %d, want 3", c.Len())
	}

	again, err := c.Add(Place{City: "PARIS", Region: "ile de france", Country: "Frankreich",
		CountryCode: "FR"})
	if err != nil || again != want {
		t.Fatalf("adding the same place again = %+v, %v; want the first spelling", again, err)
	}
	if c.Len() != 3 {
		t.Fatalf("Len = %d after a repeated add, want 3", c.Len())
	}
}

func TestAddCityWithoutRegion(t *testing.T) {
	c := NewCatalog()
	loc, err := c.Add(Place{City: "Nancova", Country: "Angola", CountryCode: "AO"})
	if err != nil {
		t.Fatal(err)
	}
	if loc.RegionID != uuid.Nil || loc.Region != "" || loc.CountryID != CountryID("AO") ||
		loc.ID != CityID("AO", "", "Nancova") {
		t.Fatalf("Add = %+v", loc)
	}
}

func TestAddRejectsInvalidPlaces(t *testing.T) {
	c := NewCatalog()
	for _, p := range []Place{
		{City: "X", Country: "Nowhere", CountryCode: "N"},
		{City: "X", Country: "Nowhere", CountryCode: "N1"},
		{City: "X", Country: "Nowhere", CountryCode: "ÄB"},
		{City: "!!", Country: "Nowhere", CountryCode: "NW"},
		{City: "X", Region: "--", Country: "Nowhere", CountryCode: "NW"},
	} {
		if _, err := c.Add(p); !errors.Is(err, ErrInvalidPlace) {
			t.Errorf("Add(%+v) = %v, want ErrInvalidPlace", p, err)
		}
	}
	err := c.AddAll([]Place{{City: "Fine", CountryCode: "FN"}, {CountryCode: "?"}})
	if !errors.Is(err, ErrInvalidPlace) || c.Len() != 0 {
		t.Fatalf("AddAll with an invalid place = %v and added %d; want an error and none",
			err, c.Len())
	}
}

func TestGroupsFollowTheirRules(t *testing.T) {
	c := NewCatalog()
	add := func(city, region, country, code string) Location {
		t.Helper()
		loc, err := c.Add(Place{City: city, Region: region, Country: country, CountryCode: code})
		if err != nil {
			t.Fatal(err)
		}
		return loc
	}
	names := func(id uuid.UUID) []string {
		var out []string
		for _, g := range c.GroupsOf(id) {
			out = append(out, g.Name)
		}
		slices.Sort(out)
		return out
	}
	tests := []struct {
		loc  Location
		want []string
	}{
		{add("Paris", "Île-de-France", "France", "FR"), []string{"Europe", "European Union",
			"Strong Privacy Laws and Internet Freedom", "Western Europe"}},
		{add("Oslo", "Oslo", "Norway", "NO"), []string{"Europe", "Nordic", "Northern Europe",
			"Strong Privacy Laws and Internet Freedom"}},
		{add("Nuuk", "Sermersooq", "Greenland", "GL"), []string{"Americas", "Nordic",
			"Northern America"}},
		{add("Nairobi", "Nairobi", "Kenya", "KE"), []string{"Africa", "Eastern Africa",
			"Sub-Saharan Africa"}},
		{add("Denver", "Colorado", "United States", "US"), []string{"Americas",
			"Northern America"}},
		{add("St Helier", "St Helier", "Jersey", "JE"), []string{"Channel Islands", "Europe",
			"Northern Europe", "Strong Privacy Laws and Internet Freedom"}},
	}
	for _, tt := range tests {
		for _, id := range []uuid.UUID{tt.loc.ID, tt.loc.RegionID, tt.loc.CountryID} {
			if got := names(id); !slices.Equal(got, tt.want) {
				t.Errorf("groups of %s (%s) = %v, want %v", tt.loc.Name, id, got, tt.want)
			}
		}
	}
}

// Every country of the world data sits in exactly one UN region and one sub-region, and
// every group code names a country of the data or a known territory.
func TestGroupsCoverTheWorld(t *testing.T) {
	c := worldCatalog(t)
	regions := map[string]bool{"Africa": true, "Americas": true, "Asia": true,
		"Europe": true, "Oceania": true}
	subregions := map[string]bool{}
	for _, d := range groupDefs[3:] {
		if !regions[d.name] && !slices.Contains([]string{"Sub-Saharan Africa",
			"Latin America and the Caribbean"}, d.name) && d.name != "Channel Islands" &&
			!slices.Contains([]string{"Eastern Africa", "Middle Africa", "Southern Africa",
				"Western Africa", "Caribbean", "Central America", "South America"}, d.name) {
			subregions[d.name] = true
		}
	}
	s := c.snap.Load()
	for _, n := range s.countries {
		var inRegion, inSub int
		for _, g := range c.GroupsOf(s.nodes[n].id) {
			if regions[g.Name] {
				inRegion++
			}
			if subregions[g.Name] || g.Name == "Sub-Saharan Africa" ||
				g.Name == "Latin America and the Caribbean" {
				inSub++
			}
		}
		if inRegion != 1 || inSub != 1 {
			t.Errorf("%s (%s) is in %d UN regions and %d sub-regions, want 1 and 1",
				s.nodes[n].name, s.nodes[n].code, inRegion, inSub)
		}
	}
	if len(c.Groups()) != len(groupDefs) || !c.Groups()[0].Promoted {
		t.Fatalf("Groups() = %d groups, promoted first: %v", len(c.Groups()),
			c.Groups()[0].Promoted)
	}
	if g, ok := c.Group(GroupID("Nordic")); !ok || g.Name != "Nordic" || !g.Promoted ||
		len(g.CountryCodes) != 9 || g.Rule == "" {
		t.Fatalf("Group(Nordic) = %+v, %v", g, ok)
	}
	if _, ok := c.Group(CountryID("DE")); ok {
		t.Fatal("Group found a country")
	}
	if _, ok := c.Location(GroupID("Nordic")); ok {
		t.Fatal("Location found a group")
	}
}

// Adding one place at a time, through the small index and its rebuilds into the main
// one, yields the same catalog and the same matches as adding all at once.
func TestAddOneAtATimeMatchesBulk(t *testing.T) {
	places := worldPlaces(t)
	defer func(old int) { deltaMax = old }(deltaMax)
	deltaMax = 200
	// About two new nodes per place: enough for a few rebuilds and a full small index.
	n := 500
	var some []Place
	for i := 0; len(some) < n; i += 37 {
		some = append(some, places[i%len(places)])
	}
	bulk, single := NewCatalog(), NewCatalog()
	if err := bulk.AddAll(some); err != nil {
		t.Fatal(err)
	}
	for _, p := range some {
		if _, err := single.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	if bulk.Len() != single.Len() {
		t.Fatalf("Len: bulk %d, one at a time %d", bulk.Len(), single.Len())
	}
	s := single.snap.Load()
	if s.delta == nil || s.split <= int32(len(groupDefs)) {
		t.Fatal("the adds should have rebuilt the main index and left some in the small one")
	}
	// The groups hold each country once, as in the bulk catalog: a pool counts and
	// samples a group through them.
	b := bulk.snap.Load()
	if !slices.Equal(s.countries, b.countries) ||
		!slices.EqualFunc(s.groupCountries, b.groupCountries, slices.Equal) {
		t.Fatalf("countries %v, by group %v; in bulk %v, %v", s.countries, s.groupCountries,
			b.countries, b.groupCountries)
	}
	p := NewPool(single)
	var all []Provider
	for _, pl := range some {
		loc, _ := single.Add(pl)
		pr := Provider{ClientID: uuid.New(), LocationID: loc.ID, Modes: Modes(ModePublic)}
		mustSet(t, p, pr)
		all = append(all, pr)
	}
	want := shadowCounts(single, all, Filter{})
	for _, g := range single.Groups() {
		if got := p.Count(g.ID, Filter{}); got != want[g.ID] {
			t.Fatalf("group %s counts %d providers, want %d", g.Name, got, want[g.ID])
		}
		got := p.Sample(SampleRequest{Specs: []Spec{{LocationGroupID: g.ID}}, Count: 1000})
		if len(got) != want[g.ID] || len(distinct(got)) != len(got) {
			t.Fatalf("group %s samples %d providers, %d distinct, want %d", g.Name, len(got),
				len(distinct(got)), want[g.ID])
		}
	}
	if !slices.Equal(s.areas, b.areas) || !slices.Equal(s.parents, b.parents) {
		t.Fatalf("areas %v, parents %v; in bulk %v, %v", s.areas, s.parents, b.areas,
			b.parents)
	}
	g := newQueryGen(7, s)
	for range 150 {
		q := g.query(g.next())
		checkMatches(t, s, q)
		a, b := bulk.Search(q), single.Search(q)
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Fatalf("query %q: bulk and one-at-a-time results differ:\n%v\n%v", q.Text, a, b)
		}
	}
}

func TestSearchWhileAdding(t *testing.T) {
	places := worldPlaces(t)
	defer func(old int) { deltaMax = old }(deltaMax)
	deltaMax = 100 // rebuild the main index a few times while searches run
	c := NewCatalog()
	var wg sync.WaitGroup
	done := make(chan struct{})
	for range 2 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				r := c.Search(Query{Text: []string{"san", "lond", "paris france"}[i%3]})
				for _, l := range r.Locations {
					if _, ok := c.Location(l.ID); !ok {
						t.Errorf("search found %s, which Location does not", l.ID)
						return
					}
				}
			}
		})
	}
	for i := 0; i < 300; i++ {
		if _, err := c.Add(places[i*97%len(places)]); err != nil {
			t.Error(err)
		}
	}
	close(done)
	wg.Wait()
}
