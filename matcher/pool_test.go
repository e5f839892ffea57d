package matcher

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/uuid"
)

// filters are the caller views the tests check counts and samples under.
func testFilters(nets []uuid.UUID) []Filter {
	fs := []Filter{
		{}, {Modes: Modes(ModePublicStream)}, {Modes: Modes(ModePublic, ModePublicStream)},
	}
	for _, n := range nets {
		fs = append(fs, Filter{NetworkID: n, Modes: Modes(ModeNetwork)},
			Filter{NetworkID: n, Modes: Modes(ModePublic, ModeNetwork, ModeFriendsAndFamily)})
	}
	return fs
}

// checkCounts compares the pool's count of every location and group with a count by
// definition.
func checkCounts(t *testing.T, c *Catalog, p *Pool, all []Provider, fs []Filter) {
	t.Helper()
	s := c.snap.Load()
	for _, f := range fs {
		want := shadowCounts(c, all, f)
		cnt := p.counter(s, f) // what Count does, once for all nodes
		for n := range s.nodes {
			id := s.nodes[n].id
			got := int(cnt.count(int32(n)))
			if n%50 == 0 {
				got = p.Count(id, f)
			}
			if got != want[id] {
				t.Fatalf("filter %+v: count of %s = %d, want %d", f, s.nodes[n].name, got, want[id])
			}
		}
	}
}

func TestPoolCountsFollowUpdates(t *testing.T) {
	c, p, all := sampleWorld(t, 400, 1500, 11)
	s := c.snap.Load()
	r := rand.New(rand.NewPCG(4, 4))
	nets := []uuid.UUID{all[0].NetworkID, all[1].NetworkID, uuid.New()}
	modeSets := []ModeSet{Modes(ModePublic), Modes(ModeNetwork, ModePublicStream),
		Modes(ModeStream), Modes(ModePublic, ModePublicStream, ModeNetwork)}
	randomLocation := func() uuid.UUID {
		return s.nodes[len(groupDefs)+r.IntN(len(s.nodes)-len(groupDefs))].id
	}
	for round := range 6 {
		for range 1500 {
			i := r.IntN(len(all))
			switch r.IntN(5) {
			case 0: // move
				all[i].LocationID = randomLocation()
			case 1: // change modes and network
				all[i].Modes = modeSets[r.IntN(len(modeSets))]
				all[i].NetworkID = nets[r.IntN(len(nets))]
			case 2: // health changes only
				all[i].Weight = r.Float64()
			case 3: // leave
				if !p.Remove(all[i].ClientID) {
					t.Fatalf("Remove(%s) = false for a present provider", all[i].ClientID)
				}
				all = slices.Delete(all, i, i+1)
				continue
			case 4: // a new provider
				all = append(all, Provider{ClientID: uuid.New(), NetworkID: nets[r.IntN(3)],
					LocationID: randomLocation(), Modes: modeSets[r.IntN(len(modeSets))]})
				i = len(all) - 1
			}
			mustSet(t, p, all[i])
		}
		if p.Len() != len(all) {
			t.Fatalf("round %d: Len = %d, want %d", round, p.Len(), len(all))
		}
		checkCounts(t, c, p, all, testFilters(nets))
	}
	for _, pr := range all[:50] {
		got, ok := p.Get(pr.ClientID)
		want := pr
		want.Weight = float64(weightLevel(pr.Weight)) / weightLevels
		if !ok || got != want {
			t.Fatalf("Get = %+v, %v; want %+v", got, ok, want)
		}
	}
	for _, pr := range all {
		p.Remove(pr.ClientID)
	}
	checkCounts(t, c, p, nil, testFilters(nets))
	if p.Remove(all[0].ClientID) || p.Len() != 0 {
		t.Fatal("an emptied pool still holds providers")
	}
}

func TestPoolRejectsBadProviders(t *testing.T) {
	c := NewCatalog()
	loc, err := c.Add(Place{City: "Vila", Region: "Encamp", Country: "Andorra", CountryCode: "AD"})
	if err != nil {
		t.Fatal(err)
	}
	p := NewPool(c)
	for _, tt := range []struct {
		pr   Provider
		want error
	}{
		{Provider{LocationID: loc.ID, Modes: Modes(ModePublic)}, ErrInvalidProvider},
		{Provider{ClientID: uuid.New(), LocationID: uuid.New(), Modes: Modes(ModePublic)},
			ErrUnknownLocation},
		{Provider{ClientID: uuid.New(), LocationID: GroupID("Europe"), Modes: Modes(ModePublic)},
			ErrUnknownLocation},
	} {
		if err := p.Set(tt.pr); !errors.Is(err, tt.want) {
			t.Errorf("Set(%+v) = %v, want %v", tt.pr, err, tt.want)
		}
	}
	id := uuid.New()
	mustSet(t, p, Provider{ClientID: id, LocationID: loc.ID, Modes: Modes(ModePublic)})
	mustSet(t, p, Provider{ClientID: id, LocationID: loc.ID, Modes: Modes(Mode(9))})
	if p.Len() != 0 || p.Count(loc.CountryID, Filter{}) != 0 {
		t.Fatal("setting no known mode should remove the provider")
	}
}

func TestPoolVisibility(t *testing.T) {
	c := NewCatalog()
	loc, err := c.Add(Place{City: "Vila", Region: "Encamp", Country: "Andorra", CountryCode: "AD"})
	if err != nil {
		t.Fatal(err)
	}
	p := NewPool(c)
	home, other := uuid.New(), uuid.New()
	providers := map[string]Provider{
		"public":    {ClientID: uuid.New(), NetworkID: other, Modes: Modes(ModePublic)},
		"stream":    {ClientID: uuid.New(), NetworkID: other, Modes: Modes(ModePublicStream)},
		"own net":   {ClientID: uuid.New(), NetworkID: home, Modes: Modes(ModeNetwork)},
		"other net": {ClientID: uuid.New(), NetworkID: other, Modes: Modes(ModeNetwork)},
		"own f&f":   {ClientID: uuid.New(), NetworkID: home, Modes: Modes(ModeFriendsAndFamily)},
		"own public": {
			ClientID: uuid.New(), NetworkID: home, Modes: Modes(ModePublic, ModeNetwork),
		},
	}
	for _, pr := range providers {
		pr.LocationID = loc.ID
		mustSet(t, p, pr)
	}
	tests := []struct {
		f    Filter
		want []string
	}{
		{Filter{}, []string{"public", "own public"}},
		{Filter{NetworkID: home}, []string{"public", "own public"}},
		{Filter{Modes: Modes(ModePublicStream)}, []string{"stream"}},
		{Filter{NetworkID: home, Modes: Modes(ModeNetwork)}, []string{"own net", "own public"}},
		{Filter{NetworkID: home, Modes: Modes(ModePublic, ModeNetwork, ModeFriendsAndFamily)},
			[]string{"public", "own net", "own f&f", "own public"}},
		{Filter{NetworkID: other, Modes: Modes(ModeNetwork)}, []string{"other net"}},
		{Filter{Modes: Modes(ModeNetwork)}, nil},
	}
	for _, tt := range tests {
		var want []uuid.UUID
		for _, name := range tt.want {
			want = append(want, providers[name].ClientID)
		}
		for _, id := range []uuid.UUID{loc.ID, loc.RegionID, loc.CountryID, GroupID("Europe")} {
			if got := p.Count(id, tt.f); got != len(want) {
				t.Errorf("filter %+v: Count(%s) = %d, want %d", tt.f, id, got, len(want))
			}
			got := p.Sample(SampleRequest{Specs: []Spec{{LocationID: id}, {LocationGroupID: id}},
				Count: 10, Filter: tt.f})
			if !sameSet(got, want) {
				t.Errorf("filter %+v: Sample(%s) = %v, want %v", tt.f, id, got, tt.want)
			}
		}
		r := p.Search(Query{Text: "vila", Filter: tt.f, OnlyAvailable: true})
		if len(want) == 0 && len(r.Locations) != 0 ||
			len(want) > 0 && (len(r.Locations) != 1 || r.Locations[0].ProviderCount != len(want)) {
			t.Errorf("filter %+v: search found %+v", tt.f, r.Locations)
		}
	}
}

// sameSet reports whether a and b hold the same ids, each once.
func sameSet(a, b []uuid.UUID) bool {
	seen := map[uuid.UUID]bool{}
	for _, id := range a {
		if seen[id] {
			return false
		}
		seen[id] = true
	}
	if len(seen) != len(b) {
		return false
	}
	for _, id := range b {
		if !seen[id] {
			return false
		}
	}
	return true
}

func TestPoolSetAll(t *testing.T) {
	c, p, all := sampleWorld(t, 400, 300, 21)
	s := c.snap.Load()
	moved := slices.Clone(all[:100])
	for i := range moved {
		moved[i].LocationID = s.nodes[len(groupDefs)+i].id
		moved[i].Weight = 0.5
	}
	bad := append(slices.Clone(moved), Provider{ClientID: uuid.New(), LocationID: uuid.New(),
		Modes: Modes(ModePublic)})
	if err := p.SetAll(bad); !errors.Is(err, ErrUnknownLocation) {
		t.Fatalf("SetAll with an unknown location = %v", err)
	}
	checkCounts(t, c, p, all, testFilters(nil)) // nothing applied
	gone := all[100]
	gone.Modes = 0
	if err := p.SetAll(append(moved, gone)); err != nil {
		t.Fatal(err)
	}
	all = append(moved, all[101:]...)
	checkCounts(t, c, p, all, testFilters(nil))
	if _, ok := p.Get(gone.ClientID); ok || p.Len() != len(all) {
		t.Fatalf("a provider set with no mode is still there, or Len = %d", p.Len())
	}
}
