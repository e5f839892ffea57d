package matcher

import (
	"errors"
	"fmt"
	"maps"
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

// Counts and the segments of Pool.occupied follow updates, with segments for every
// magnitude as well as with the default last one.
func TestPoolCountsFollowUpdates(t *testing.T) {
	for _, low := range []int{lowMagnitude, 1} {
		t.Run(fmt.Sprintf("low=%d", low), func(t *testing.T) {
			defer func(v int) { lowMagnitude = v }(lowMagnitude)
			lowMagnitude = low
			testPoolCountsFollowUpdates(t)
		})
	}
}

func testPoolCountsFollowUpdates(t *testing.T) {
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
			case 1: // change modes and network, and perhaps the weight with them
				all[i].Modes = modeSets[r.IntN(len(modeSets))]
				all[i].NetworkID = nets[r.IntN(len(nets))]
				if r.IntN(2) == 0 {
					all[i].Weight = r.Float64()
				}
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
		checkPool(t, p)
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
	checkPool(t, p)
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

// SetAll leaves a pool as Set one update at a time would: batches that move, change,
// add and remove providers, with some providers set several times in one batch. A
// batch with an unknown location changes nothing.
func TestPoolSetAllMatchesSet(t *testing.T) {
	c, p, all := sampleWorld(t, 400, 300, 23)
	s := c.snap.Load()
	q := NewPool(c)
	byID := map[uuid.UUID]Provider{}
	for _, pr := range all {
		mustSet(t, q, pr)
		byID[pr.ClientID] = pr
	}
	r := rand.New(rand.NewPCG(24, 24))
	nets := []uuid.UUID{all[0].NetworkID, uuid.New()}
	modeSets := []ModeSet{0, Modes(ModePublic), Modes(ModeNetwork, ModePublicStream),
		Modes(ModePublic, ModePublicStream, ModeNetwork)}
	randomLocation := func() uuid.UUID {
		return s.nodes[len(groupDefs)+r.IntN(len(s.nodes)-len(groupDefs))].id
	}
	for round := range 20 {
		batch := make([]Provider, r.IntN(80))
		for i := range batch {
			var pr Provider
			switch k := r.IntN(10); {
			case k == 0 || len(all) == 0: // a new provider
				pr = Provider{ClientID: uuid.New(), NetworkID: nets[r.IntN(2)]}
				all = append(all, pr)
			case k == 1 && i > 0: // one set earlier in this batch
				pr = batch[r.IntN(i)]
			default:
				pr = all[r.IntN(len(all))]
			}
			pr.LocationID = cmpOr(pr.LocationID, randomLocation())
			if r.IntN(2) == 0 {
				pr.LocationID = randomLocation()
			}
			pr.Modes = modeSets[r.IntN(len(modeSets))]
			pr.Weight = r.Float64()
			batch[i] = pr
		}
		if round%5 == 4 { // nothing of this batch may apply
			bad := append(slices.Clone(batch), Provider{ClientID: uuid.New(),
				LocationID: uuid.New(), Modes: Modes(ModePublic)})
			if err := p.SetAll(bad); !errors.Is(err, ErrUnknownLocation) {
				t.Fatalf("round %d: SetAll with an unknown location = %v", round, err)
			}
		} else {
			if err := p.SetAll(batch); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			for _, pr := range batch {
				mustSet(t, q, pr)
				if pr.Modes == 0 {
					delete(byID, pr.ClientID)
				} else {
					byID[pr.ClientID] = pr
				}
			}
		}
		if p.Len() != q.Len() || p.Len() != len(byID) {
			t.Fatalf("round %d: SetAll's pool holds %d, Set's %d, want %d", round, p.Len(),
				q.Len(), len(byID))
		}
		for id := range byID {
			got, _ := p.Get(id)
			if want, _ := q.Get(id); got != want {
				t.Fatalf("round %d: SetAll gives %+v, Set %+v", round, got, want)
			}
		}
		checkPool(t, p)
	}
	checkCounts(t, c, p, slices.Collect(maps.Values(byID)), testFilters(nets))
}

// checkPool checks the pool's internal invariants: every provider's members sit at the
// positions its record holds and carry its id, weight and chain index; every member
// belongs to a record; counts match the buckets; occupied, the weight levels, both
// indexes and the network lists are consistent.
func checkPool(t *testing.T, p *Pool) {
	t.Helper()
	p.mu.RLock()
	defer p.mu.RUnlock()
	free := map[int32]bool{}
	for _, s := range p.free {
		free[s] = true
	}
	nodes := *p.nodes.Load()
	var levels [weightLevels + 1]int32
	live := 0
	for slot := range p.recs.n {
		if free[slot] {
			continue
		}
		live++
		r := p.recs.at(slot)
		levels[r.level]++
		if got, ok := p.clients.get(&p.recs, hashID(r.client), r.client); !ok || got != slot {
			t.Fatalf("slot %d: the client index finds %d, %v", slot, got, ok)
		}
		if r.lanes != laneMask(r.modes) {
			t.Fatalf("slot %d: lanes %b for modes %b", slot, r.lanes, r.modes)
		}
		is, ls, n := r.buckets()
		for k := range n {
			i, l := is[k], ls[k]
			m := nodes[r.chain[i]].b[l][r.pos[l][i]]
			want := r.asMember(slot, i)
			if m != want {
				t.Fatalf("slot %d: member %+v in bucket (%d, %d), want %+v", slot, m, i, l, want)
			}
		}
		if inList := r.netPrev != -2; inList != r.inNetList() {
			t.Fatalf("slot %d: in its network's list %v, belongs there %v", slot, inList,
				r.inNetList())
		}
		if r.netPrev == -2 {
			continue
		}
		head := slot
		for p.recs.at(head).netPrev >= 0 {
			head = p.recs.at(head).netPrev
		}
		if got, ok := p.nets.get(&p.recs, hashID(r.network), r.network); !ok || got != head {
			t.Fatalf("slot %d: the network index finds %d, %v; the list's head is %d", slot,
				got, ok, head)
		}
	}
	if live != p.clients.n {
		t.Fatalf("%d live records, the client index holds %d", live, p.clients.n)
	}
	for l := 1; l <= weightLevels; l++ {
		if levels[l] != p.levels[l] || (p.levelSet>>(l-1)&1 == 1) != (levels[l] > 0) {
			t.Fatalf("level %d: %d providers, counted %d, in the set %v", l, levels[l],
				p.levels[l], p.levelSet>>(l-1)&1 == 1)
		}
	}
	occupied := 0
	catalog := p.cat.snap.Load().nodes
	var cities [maxMagnitude + 2]int32
	for v := range nodes {
		ns := &nodes[v]
		for l := range lanes {
			for k, m := range ns.b[l] {
				r := p.recs.at(m.slot)
				if free[m.slot] || r.chain[m.chain] != int32(v) || r.pos[l][m.chain] != int32(k) {
					t.Fatalf("node %d lane %d: member %d (%+v) is not its record's", v, l, k, m)
				}
			}
		}
		n0, n1, n2 := ns.n[0].Load(), ns.n[1].Load(), ns.n[2].Load()
		if int(n0+n2) != len(ns.b[0]) || int(n1+n2) != len(ns.b[1]) {
			t.Fatalf("node %d: counts %d %d %d for buckets of %d and %d", v, n0, n1, n2,
				len(ns.b[0]), len(ns.b[1]))
		}
		if total := n0 + n1 + n2; total > 0 {
			occupied++
			at := p.occAt[v]
			if p.occupied[at] != int32(v) {
				t.Fatalf("node %d: occupied[%d] = %d", v, at, p.occupied[at])
			}
			k := p.magnitude(total)
			if at < p.segEnd[k+1] || at >= p.segEnd[k] {
				t.Fatalf("node %d with %d providers at %d, outside segment %d: %d to %d", v,
					total, at, k, p.segEnd[k+1], p.segEnd[k])
			}
			if catalog[v].kind == kindCity {
				cities[k]++
			}
		}
	}
	if occupied != len(p.occupied) || int(p.segEnd[1]) != len(p.occupied) {
		t.Fatalf("%d nodes hold public providers, occupied lists %d and ends at %d", occupied,
			len(p.occupied), p.segEnd[1])
	}
	if cities != p.segCities {
		t.Fatalf("cities by segment %v, counted %v", cities, p.segCities)
	}
}

// TestSlotIndexMatchesAMap runs random puts, replacements and deletions against a map.
// The hashes are chosen to collide in one part and a few home cells, so that probes
// wrap around the part's end and deletions shift long runs back.
func TestSlotIndexMatchesAMap(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	var rs records
	for range 3000 {
		rs.at(rs.add()).client = uuid.New()
	}
	tests := []struct {
		name string
		hash func(id uuid.UUID) uint64
	}{
		{"with spread hashes", hashID},
		{"with hashes in a few cells of one part", func(id uuid.UUID) uint64 {
			// Part 7, five tags, homes at the last two cells and the first.
			h := hashID(id)
			return 7<<56 | h%5<<32 | (0xffff_fffe+h%3)&0xffff_ffff
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var x slotIndex
			want := map[uuid.UUID]int32{}
			for range 20000 {
				slot := int32(r.IntN(int(rs.n)))
				id := rs.at(slot).client
				h := tt.hash(id)
				got, ok := x.get(&rs, h, id)
				if w, in := want[id]; ok != in || ok && got != w {
					t.Fatalf("get(%s) = %d, %v; want %d, %v", id, got, ok, w, in)
				}
				switch {
				case !ok:
					x.put(h, slot)
					want[id] = slot
				case r.IntN(2) == 0:
					x.del(h, got)
					delete(want, id)
				default:
					// Point the key at another slot and back: replace finds its cell by
					// the hash and the slot alone.
					x.replace(h, got, slot)
					x.replace(h, slot, got)
				}
				if x.n != len(want) {
					t.Fatalf("index holds %d keys, want %d", x.n, len(want))
				}
			}
			for id, w := range want {
				if got, ok := x.get(&rs, tt.hash(id), id); !ok || got != w {
					t.Fatalf("get(%s) = %d, %v; want %d", id, got, ok, w)
				}
			}
		})
	}
}

func TestChainCacheKeepsEveryLocation(t *testing.T) {
	var c chainCache
	ids := make([]uuid.UUID, 5000)
	for i := range ids {
		ids[i] = uuid.New()
		// Half the ids in one part, to make it grow many times.
		h := hashID(ids[i])
		if i%2 == 0 {
			h = h&^(0xff<<56) | 9<<56
		}
		c.put(h, chainCell{id: ids[i], chain: [maxChain]int32{int32(i), 1, 2}, n: 3})
	}
	for i, id := range ids {
		h := hashID(id)
		if i%2 == 0 {
			h = h&^(0xff<<56) | 9<<56
		}
		if cell := c.get(h, id); cell == nil || cell.chain[0] != int32(i) {
			t.Fatalf("location %d: cached %+v", i, cell)
		}
	}
	if c.get(hashID(uuid.New()), uuid.New()) != nil {
		t.Fatal("an unknown location is cached")
	}
}

// A pool over a catalog that grows one place at a time, as the engine adds the places
// providers appear at, counts and samples as by definition: through the small index,
// its rebuilds into the main one, and providers set at places as they arrive.
func TestPoolOverAGrowingCatalog(t *testing.T) {
	defer func(old int) { deltaMax = old }(deltaMax)
	deltaMax = 60
	places := worldPlaces(t)
	c := NewCatalog()
	p := NewPool(c)
	r := rand.New(rand.NewPCG(31, 31))
	nets := []uuid.UUID{uuid.New(), uuid.New()}
	modeSets := []ModeSet{Modes(ModePublic), Modes(ModePublic, ModePublicStream),
		Modes(ModeNetwork), Modes(ModePublicStream, ModeNetwork)}
	var all []Provider
	var locs []uuid.UUID
	for step := range 600 {
		loc, err := c.Add(places[r.IntN(len(places))])
		if err != nil {
			t.Fatal(err)
		}
		locs = append(locs, loc.ID, cmpOr(loc.RegionID, loc.CountryID))
		for range 2 {
			pr := Provider{ClientID: uuid.New(), NetworkID: nets[r.IntN(2)],
				LocationID: locs[r.IntN(len(locs))], Modes: modeSets[r.IntN(len(modeSets))]}
			if len(all) > 0 && r.IntN(3) == 0 { // a move instead
				pr = all[r.IntN(len(all))]
				pr.LocationID = locs[r.IntN(len(locs))]
			} else {
				all = append(all, pr)
			}
			mustSet(t, p, pr)
			for i := range all {
				if all[i].ClientID == pr.ClientID {
					all[i] = pr
				}
			}
		}
		if step%100 != 99 {
			continue
		}
		checkCounts(t, c, p, all, testFilters(nets))
		checkPool(t, p)
		s := c.snap.Load()
		g := newQueryGen(uint64(step), s)
		for k := range 20 {
			q := Query{Text: g.next(), OnlyAvailable: k%2 == 0}
			want := bruteSearch(c, all, q)
			if got := resultLines(p.Search(q), want); !slices.Equal(got, want) {
				t.Fatalf("step %d, query %+v:\n got %v\nwant %v", step, q, got, want)
			}
		}
		for _, n := range append(slices.Clone(s.countries), 0, 1, 2, 3) { // and some groups
			id := s.nodes[n].id
			spec := Spec{LocationID: id}
			if n < int32(len(groupDefs)) {
				spec = Spec{LocationGroupID: id}
			}
			got := p.Sample(SampleRequest{Specs: []Spec{spec}, Count: len(all)})
			if want := p.Count(id, Filter{}); len(got) != want || len(distinct(got)) != want {
				t.Fatalf("step %d: %s samples %d providers, %d distinct, want %d", step,
					s.nodes[n].name, len(got), len(distinct(got)), want)
			}
		}
	}
	if s := c.snap.Load(); s.delta == nil || s.split <= int32(len(groupDefs)) {
		t.Fatal("the adds should have rebuilt the main index and left some in the small one")
	}
}

// Searches, counts and samples on a pool run while the catalog grows under it and
// providers are set at the new places, as in the engine: nothing a reader finds lies
// outside its snapshot, and samples stay distinct.
func TestPoolWhileCatalogGrows(t *testing.T) {
	defer func(old int) { deltaMax = old }(deltaMax)
	deltaMax = 100 // rebuild the main index a few times while readers run
	defer func(v int) { hugeMatch = v }(hugeMatch)
	hugeMatch = 64 // and take the ways for large match sets
	places := worldPlaces(t)
	c := NewCatalog()
	p := NewPool(c)
	stop := runReaders(2, 41, func(r *rand.Rand, i int) error {
		q := Query{Text: []string{"san", "a", "", "paris france", "united"}[i%5],
			OnlyAvailable: i%2 == 0}
		for _, l := range p.Search(q).Locations {
			if _, ok := c.Location(l.ID); !ok {
				return fmt.Errorf("search found %s, which Location does not", l.ID)
			}
		}
		g := c.Groups()[r.IntN(len(c.Groups()))]
		got := p.Sample(SampleRequest{Specs: []Spec{{LocationGroupID: g.ID}}, Count: 50,
			Rand: r})
		if len(distinct(got)) != len(got) {
			return fmt.Errorf("group %s sampled %v, with repeats", g.Name, got)
		}
		p.Count(g.ID, Filter{})
		return nil
	})
	r := rand.New(rand.NewPCG(42, 42))
	var ids []uuid.UUID
	for i := range 600 {
		loc, err := c.Add(places[i*89%len(places)])
		if err != nil {
			t.Fatal(err)
		}
		pr := Provider{ClientID: uuid.New(), LocationID: loc.ID, Modes: Modes(ModePublic)}
		if len(ids) > 0 && r.IntN(3) == 0 { // move one there instead
			pr.ClientID = ids[r.IntN(len(ids))]
		} else {
			ids = append(ids, pr.ClientID)
		}
		mustSet(t, p, pr)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	checkPool(t, p)
}
