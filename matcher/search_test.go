package matcher

import (
	"bytes"
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// findLocation returns the index of the first result named name in the country with
// the code, or -1.
func findLocation(r Results, typ LocationType, name, code string) int {
	for i, l := range r.Locations {
		if l.Type == typ && l.Name == name && l.CountryCode == code {
			return i
		}
	}
	return -1
}

func TestSearchExamples(t *testing.T) {
	c := worldCatalog(t)
	p := NewPool(c)
	london := CityID("GB", "England", "London")
	if _, ok := c.Location(london); !ok {
		t.Fatal("London, England is not in the catalog")
	}
	mustSet(t, p, Provider{ClientID: uuid.New(), Modes: Modes(ModePublic),
		LocationID: CityID("DE", "Bavaria", "Munich")})
	for i := range 3 {
		mustSet(t, p, Provider{ClientID: uuid.New(), LocationID: london, Modes: Modes(ModePublic)})
		mustSet(t, p, Provider{ClientID: uuid.New(), Modes: Modes(ModePublic),
			LocationID: []uuid.UUID{CityID("US", "New York", "New York City"),
				CityID("US", "Texas", "Austin"), CityID("DE", "State of Berlin", "Berlin")}[i]})
	}

	tests := []struct {
		query string
		typ   LocationType
		name  string
		code  string
		dist  int
		plain bool // found among the results without provider counts too
		first bool // first among locations when ranked with provider counts
	}{
		{"lond", LocationCity, "London", "GB", 0, true, true},
		{"LONDON", LocationCity, "London", "GB", 0, true, true},
		{"yor", LocationCity, "New York City", "US", 0, false, false},
		{"sao paulo", LocationCity, "São Paulo", "BR", 0, true, false},
		{"São Paulo", LocationRegion, "São Paulo", "BR", 0, true, false},
		{"untied states", LocationCountry, "United States", "US", 2, false, true},
		{"germny", LocationCountry, "Germany", "DE", 1, false, true},
		{"zurich", LocationCity, "Zürich", "CH", 0, true, false},
		{"Октябрьский", LocationCity, "Октябрьский", "BY", 0, true, false},
		{"new york city, usa", LocationCity, "New York City", "US", 2, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			check := func(r Results) int {
				t.Helper()
				i := findLocation(r, tt.typ, tt.name, tt.code)
				if i < 0 {
					t.Fatalf("no %s %s (%s) among %d results", tt.typ, tt.name, tt.code,
						len(r.Locations))
				}
				if d := r.Locations[i].MatchDistance; d != tt.dist {
					t.Fatalf("match distance %d, want %d", d, tt.dist)
				}
				return i
			}
			if tt.plain {
				check(c.Search(Query{Text: tt.query}))
			}
			counted := p.Search(Query{Text: tt.query})
			if i := check(counted); tt.first && i != 0 {
				t.Fatalf("ranked %d with provider counts, want first: %+v", i,
					counted.Locations[:3])
			}
		})
	}
}

func TestSearchGroups(t *testing.T) {
	c := worldCatalog(t)
	r := c.Search(Query{Text: "nordic"})
	if len(r.Groups) == 0 || r.Groups[0].Name != "Nordic" || !r.Groups[0].Promoted ||
		r.Groups[0].MatchDistance != 0 || r.Groups[0].ID != GroupID("Nordic") {
		t.Fatalf("nordic: groups %+v", r.Groups)
	}
	r = c.Search(Query{Text: "europ"})
	var names []string
	for _, g := range r.Groups {
		if g.MatchDistance == 0 {
			names = append(names, g.Name)
		}
	}
	for _, want := range []string{"Europe", "European Union", "Eastern Europe"} {
		if !slices.Contains(names, want) {
			t.Errorf("europ: exact groups %v lack %s", names, want)
		}
	}
	r = c.Search(Query{Text: "eu", EnableMaxDistanceFraction: true})
	if len(r.Groups) < 2 || r.Groups[0].Name != "Europe" || r.Groups[1].Name != "European Union" {
		t.Errorf("eu: groups %+v, want Europe and the European Union (by its alias) first",
			r.Groups)
	}
}

func TestAllowedDistance(t *testing.T) {
	tests := []struct {
		q    Query
		want int
	}{
		{Query{Text: "a"}, 1},
		{Query{Text: "lond"}, 1},
		{Query{Text: "londo"}, 1},
		{Query{Text: "london"}, 2},
		{Query{Text: "united king"}, 3},
		{Query{Text: "a much longer query text"}, 3},
		{Query{Text: "united states", EnableMaxDistanceFraction: true}, 0},
		{Query{Text: "lond", EnableMaxDistanceFraction: true, MaxDistanceFraction: 0.5}, 2},
		{Query{Text: "abcdefghijklmno", EnableMaxDistanceFraction: true,
			MaxDistanceFraction: 0.2}, 3},
		{Query{Text: "abcde", EnableMaxDistanceFraction: true, MaxDistanceFraction: 2}, 3},
		{Query{Text: "abcde", MaxDistanceFraction: 2}, 1},
		{Query{Text: "É-é!", EnableMaxDistanceFraction: true, MaxDistanceFraction: 0.34}, 2},
		{Query{Text: "É-é!", EnableMaxDistanceFraction: true, MaxDistanceFraction: 0.33}, 1},
		{Query{Text: "  ", EnableMaxDistanceFraction: true, MaxDistanceFraction: 1}, 0},
	}
	for _, tt := range tests {
		if got := tt.q.AllowedDistance(); got != tt.want {
			t.Errorf("AllowedDistance(%+v) = %d, want %d", tt.q, got, tt.want)
		}
	}
}

func TestSearchLimitsAndTies(t *testing.T) {
	c := worldCatalog(t)
	for _, limit := range []int{1, 7, 100, 250} {
		r := c.Search(Query{Text: "san", Limit: limit})
		if n := len(r.Locations) + len(r.Groups); n != limit {
			t.Errorf("limit %d: %d results", limit, n)
		}
	}
	a := c.Search(Query{Text: "springfeld"})
	b := c.Search(Query{Text: "Springfeld!"})
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("queries that normalize alike gave different results")
	}
	if len(a.Locations) < 20 || a.Locations[0].MatchDistance != 1 ||
		findLocation(a, LocationCity, "Springfield", "US") < 0 {
		t.Fatalf("springfeld: %d results, first %+v", len(a.Locations), a.Locations[0])
	}
	if r := c.Search(Query{Text: strings.Repeat("x", 500)}); len(r.Locations) != 0 {
		t.Fatalf("a 500-rune query matched %d locations", len(r.Locations))
	}
}

// sampleWorld builds a small catalog and a pool with providers of varied modes,
// networks and weights, and returns them with the providers as set.
func sampleWorld(t testing.TB, step, providers int, seed uint64) (*Catalog, *Pool, []Provider) {
	t.Helper()
	c := sampleCatalog(t, step)
	p := NewPool(c)
	s := c.snap.Load()
	r := rand.New(rand.NewPCG(seed, 1))
	nets := []uuid.UUID{uuid.New(), uuid.New(), uuid.New()}
	modeSets := []ModeSet{Modes(ModePublic), Modes(ModePublic, ModeNetwork),
		Modes(ModeNetwork), Modes(ModePublicStream), Modes(ModePublic, ModePublicStream),
		Modes(ModeFriendsAndFamily, ModeStream)}
	var all []Provider
	for range providers {
		n := int32(len(groupDefs) + r.IntN(len(s.nodes)-len(groupDefs)))
		pr := Provider{
			ClientID: uuid.New(), NetworkID: nets[r.IntN(len(nets))], LocationID: s.nodes[n].id,
			Modes: modeSets[r.IntN(len(modeSets))],
		}
		mustSet(t, p, pr)
		all = append(all, pr)
	}
	return c, p, all
}

func mustSet(t testing.TB, p *Pool, pr Provider) {
	t.Helper()
	if err := p.Set(pr); err != nil {
		t.Fatal(err)
	}
}

// shadowCounts counts by definition the providers visible under f at each location and
// in each group.
func shadowCounts(c *Catalog, all []Provider, f Filter) map[uuid.UUID]int {
	counts := map[uuid.UUID]int{}
	for _, pr := range all {
		if !f.visible(pr.NetworkID, pr.Modes) {
			continue
		}
		loc, _ := c.Location(pr.LocationID)
		// A region's RegionID and a country's CountryID are its own ID.
		ids := []uuid.UUID{loc.ID, loc.RegionID, loc.CountryID}
		slices.SortFunc(ids, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
		for _, id := range slices.Compact(ids) {
			counts[id]++
		}
		for _, g := range c.GroupsOf(loc.ID) {
			counts[g.ID]++
		}
	}
	delete(counts, uuid.Nil)
	return counts
}

// bruteSearch ranks by definition: the matches of bruteMatches ordered by distance,
// exactness, provider count, normalized name, name, kind and id.
func bruteSearch(c *Catalog, all []Provider, q Query) []string {
	s := c.snap.Load()
	text := Normalize(q.Text)
	type hit struct {
		n           int32
		dist, count int
		exact       bool
	}
	var hits []hit
	counts := shadowCounts(c, all, q.Filter)
	for n, d := range bruteMatches(s, text, q.AllowedDistance()) {
		h := hit{n: n, dist: d, exact: bruteExact(s, text, n)}
		h.count = counts[s.nodes[n].id]
		if !q.OnlyAvailable || h.count > 0 {
			hits = append(hits, h)
		}
	}
	slices.SortFunc(hits, func(a, b hit) int {
		if c := cmp.Compare(a.dist, b.dist); c != 0 {
			return c
		}
		if a.exact != b.exact {
			if a.exact {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(b.count, a.count); c != 0 {
			return c
		}
		x, y := &s.nodes[a.n], &s.nodes[b.n]
		return cmp.Or(strings.Compare(x.norm, y.norm), strings.Compare(x.name, y.name),
			cmp.Compare(x.kind, y.kind), bytes.Compare(x.id[:], y.id[:]))
	})
	limit := cmp.Or(q.Limit, DefaultLimit)
	var out []string
	for _, h := range hits[:min(limit, len(hits))] {
		out = append(out, fmt.Sprintf("%s d=%d n=%d", s.nodes[h.n].id, h.dist, h.count))
	}
	return out
}

// resultLines renders results in rank order as bruteSearch does; groups and locations
// are merged back by their rank, which bruteSearch's order fixes.
func resultLines(r Results, order []string) []string {
	lines := map[string]bool{}
	for _, l := range r.Locations {
		lines[fmt.Sprintf("%s d=%d n=%d", l.ID, l.MatchDistance, l.ProviderCount)] = true
	}
	for _, g := range r.Groups {
		lines[fmt.Sprintf("%s d=%d n=%d", g.ID, g.MatchDistance, g.ProviderCount)] = true
	}
	var out []string
	for _, o := range order {
		if lines[o] {
			out = append(out, o)
			delete(lines, o)
		}
	}
	for l := range lines {
		out = append(out, "unexpected "+l)
	}
	return out
}

// The whole search (exact tier, widening distance, counts, ranking, cap) agrees with a
// ranking of the brute-force matches.
func TestSearchRanksByDefinition(t *testing.T) {
	step, queries := 120, 400
	if testing.Short() || raceEnabled {
		step, queries = 400, 120
	}
	c, p, all := sampleWorld(t, step, 3000, 3)
	s := c.snap.Load()
	g := newQueryGen(5, s)
	r := rand.New(rand.NewPCG(9, 9))
	nets := []uuid.UUID{uuid.Nil, all[0].NetworkID, all[1].NetworkID}
	for i := range queries {
		q := g.query(g.next())
		if i%10 == 0 {
			q.Text = ""
		}
		q = withRandomOptions(q, r, nets, 2)
		want := bruteSearch(c, all, q)
		res := p.Search(q)
		got := resultLines(res, want)
		if !slices.Equal(got, want) {
			t.Fatalf("query %+v:\n got %v\nwant %v", q, got, want)
		}
	}
}

// Large match sets are ranked from a few of their nodes (topHuge); with the threshold
// lowered so that short queries reach it, searches still rank by the definition, for
// pools (first searches, which are not served from the match-set cache) and catalogs.
func TestSearchRanksHugeMatchSets(t *testing.T) {
	defer func(v int) { hugeMatch = v }(hugeMatch)
	hugeMatch = 64
	c, p, all := sampleWorld(t, 120, 60, 4)
	r := rand.New(rand.NewPCG(10, 10))
	letters := []rune("abeilnorstuʻé")
	nets := []uuid.UUID{uuid.Nil, all[0].NetworkID}
	huge := 0
	for range 300 {
		text := make([]rune, 1+r.IntN(3))
		for i := range text {
			text[i] = letters[r.IntN(len(letters))]
		}
		q := Query{Text: string(text), EnableMaxDistanceFraction: r.IntN(2) == 0,
			MaxDistanceFraction: []float64{0.3, 0.5, 1}[r.IntN(3)],
			Limit:               []int{0, 1, 5, 40}[r.IntN(4)],
			OnlyAvailable:       r.IntN(4) == 0,
			Filter:              Filter{NetworkID: nets[r.IntN(len(nets))]}}
		want := bruteSearch(c, all, q)
		if got := resultLines(p.Search(q), want); !slices.Equal(got, want) {
			t.Fatalf("pool, query %+v:\n got %v\nwant %v", q, got, want)
		}
		if q.OnlyAvailable {
			continue
		}
		want = bruteSearch(c, nil, q)
		if got := resultLines(c.Search(q), want); !slices.Equal(got, want) {
			t.Fatalf("catalog, query %+v:\n got %v\nwant %v", q, got, want)
		}
		norm := []rune(Normalize(q.Text))
		if len(c.snap.Load().matches(norm, q.AllowedDistance())) >= 4*hugeMatch {
			huge++
		}
	}
	if huge < 50 {
		t.Fatalf("only %d queries matched %d nodes or more", huge, 4*hugeMatch)
	}
}

// In a pool with providers at most locations, searches that match many nodes or all of
// them are ranked from the locations with the most providers (topByCount), and still
// rank by the definition: short queries, queries that every node matches, the empty
// query, filters by lane and network, availability, and a copy of the pool's order
// that ends before the limit fills.
func TestSearchRanksByCountInDensePools(t *testing.T) {
	defer func(v, w, x, y int) { hugeMatch, denseCopy, scanPerMatch, lowMagnitude = v, w, x, y }(
		hugeMatch, denseCopy, scanPerMatch, lowMagnitude)
	hugeMatch, lowMagnitude = 256, 1
	step, providers, queries := 60, 20000, 300
	if testing.Short() || raceEnabled {
		step, providers, queries = 150, 8000, 120
	}
	c, p, all := sampleWorld(t, step, providers, 13)
	s := c.snap.Load()
	if !p.counter(s, Filter{}).dense() {
		t.Fatal("the pool is not dense")
	}
	g := newQueryGen(14, s)
	r := rand.New(rand.NewPCG(15, 15))
	letters := []rune("abeilnorstuʻé")
	nets := []uuid.UUID{uuid.Nil, all[0].NetworkID, all[1].NetworkID}
	ranked := 0
	for i := range queries {
		denseCopy = []int{1 << 14, 300, 1000}[i%3]
		scanPerMatch = []int{1, 1 << 10}[i/4%2]
		var q Query
		switch i % 4 {
		case 0:
			text := make([]rune, 1+r.IntN(3))
			for k := range text {
				text[k] = letters[r.IntN(len(letters))]
			}
			q.Text = string(text)
		case 1:
			q.Text = g.next()
		case 2: // every node matches
			q.Text = string(letters[r.IntN(len(letters))])
			q.EnableMaxDistanceFraction = r.IntN(2) == 0
			q.MaxDistanceFraction = 1
		}
		q = withRandomOptions(q, r, nets, 3)
		want := bruteSearch(c, all, q)
		if got := resultLines(p.Search(q), want); !slices.Equal(got, want) {
			t.Fatalf("query %+v, copy %d:\n got %v\nwant %v", q, denseCopy, got, want)
		}
		text := normalizeRunes(nil, q.Text)
		if len(text) == 0 || len(text) > s.maxLen+q.AllowedDistance() {
			continue
		}
		sc := getScratch(len(s.nodes))
		cnt := p.counter(s, q.Filter)
		limit := cmp.Or(q.Limit, DefaultLimit)
		exact, _ := s.find(sc, q, cnt, text, q.AllowedDistance(), limit)
		// Room past the copy holds a node that ranks first, which a ranking that read
		// beyond the copy would take.
		sc.dense = slices.Repeat([]int32{0}, 1<<15)[:0]
		if res, ok := s.topByCount(sc, q, cnt, limit, exact); ok {
			ranked++
			if got := resultLines(res, want); !slices.Equal(got, want) {
				t.Fatalf("topByCount, query %+v, copy %d:\n got %v\nwant %v", q, denseCopy,
					got, want)
			}
		}
		scratchPool.Put(sc)
	}
	if ranked < queries/5 {
		t.Fatalf("topByCount ranked %d searches of %d", ranked, queries)
	}
}

// A query that is a prefix of many nodes' own names, as one or two letters are, ranks
// exactly as the definition does when it is answered from a few of them (manyExact):
// name ties at the limit, codes, and the providers' nodes, which rank first, included.
// So does the empty query, which every node matches, answered likewise (list).
func TestSearchManyExactMatches(t *testing.T) {
	c, p, all := sampleWorld(t, 20, 20, 7)
	s := c.snap.Load()
	r := rand.New(rand.NewPCG(11, 11))
	letters := []rune("abcdeklmnoprstuvz")
	taken := map[bool]int{} // by whether the pool counts providers
	for i := range 48 {
		text := make([]rune, 1+r.IntN(2))
		for i := range text {
			text[i] = letters[r.IntN(len(letters))]
		}
		if i%6 == 0 {
			text = nil
		}
		q := Query{Text: string(text), Limit: []int{0, 1, 5, 20}[r.IntN(4)],
			Filter: Filter{NetworkID: all[r.IntN(len(all))].NetworkID}}
		for _, pool := range []bool{false, true} {
			var cnt *counter
			want := bruteSearch(c, nil, q)
			got := c.Search(q)
			if pool {
				cnt = p.counter(s, q.Filter)
				want, got = bruteSearch(c, all, q), p.Search(q)
			}
			if lines := resultLines(got, want); !slices.Equal(lines, want) {
				t.Fatalf("pool %v, query %+v:\n got %v\nwant %v", pool, q, lines, want)
			}
			if len(text) == 0 {
				continue
			}
			sc := getScratch(len(s.nodes))
			if _, ok := s.manyExact(sc, q, cnt, []rune(Normalize(q.Text)),
				cmp.Or(q.Limit, DefaultLimit)); ok {
				taken[pool]++
			}
			scratchPool.Put(sc)
		}
	}
	if taken[false] < 10 || taken[true] < 10 {
		t.Fatalf("manyExact answered %d catalog and %d pool searches of 40", taken[false],
			taken[true])
	}

	t.Run("names that tie at the limit", func(t *testing.T) {
		// Equal normalized names rank by displayed name, which puts the upper-case ones
		// added last before the others: the entries' order is not the name order.
		c := NewCatalog()
		for i, name := range strings.Fields(strings.Repeat("Springfield ", 6) +
			strings.Repeat("SPRINGFIELD ", 6)) {
			if _, err := c.Add(Place{City: name, Region: string(rune('A' + i)),
				Country: "United States", CountryCode: "US"}); err != nil {
				t.Fatal(err)
			}
		}
		for limit := 1; limit <= 3; limit++ {
			q := Query{Text: "spring", Limit: limit}
			want := bruteSearch(c, nil, q)
			if got := resultLines(c.Search(q), want); !slices.Equal(got, want) {
				t.Fatalf("limit %d:\n got %v\nwant %v", limit, got, want)
			}
		}
	})
}

// A search with KeysOnly ranks exactly as one without, and each key finds the location
// the full search returned (through Catalog.LocationAt), for pool and catalog alike.
func TestSearchKeysOnly(t *testing.T) {
	c := worldCatalog(t)
	p := NewPool(c)
	mustSet(t, p, Provider{ClientID: uuid.New(), Modes: Modes(ModePublic),
		LocationID: CityID("DE", "Bavaria", "Munich")})
	for _, text := range []string{"munich", "lond", "berln", "", "united states"} {
		for _, onlyAvailable := range []bool{false, true} {
			q := Query{Text: text, OnlyAvailable: onlyAvailable}
			full := p.Search(q)
			q.KeysOnly = true
			keys := p.Search(q)
			if len(keys.Keys) != len(full.Locations) || len(keys.Locations) != 0 ||
				len(keys.Groups) != len(full.Groups) {
				t.Fatalf("%q: %d/%d/%d results with keys only, %d/%d without", text,
					len(keys.Keys), len(keys.Locations), len(keys.Groups),
					len(full.Locations), len(full.Groups))
			}
			for i, k := range keys.Keys {
				f := full.Locations[i]
				if k.Key != f.Key || k.ProviderCount != f.ProviderCount ||
					int(k.MatchDistance) != f.MatchDistance {
					t.Fatalf("%q: result %d is %+v with keys only, %+v without", text, i, k, f)
				}
				if l, ok := c.LocationAt(k.Key); !ok || l != f.Location {
					t.Fatalf("%q: LocationAt(%d) = %+v, %v; want %+v", text, k.Key, l, ok,
						f.Location)
				}
			}
		}
	}
	for _, key := range []int32{-1, 0, int32(len(groupDefs) - 1), 1 << 30} {
		if l, ok := c.LocationAt(key); ok {
			t.Errorf("LocationAt(%d) = %+v, want none", key, l)
		}
	}
}

// withRandomOptions returns q with a random limit, filter (network from nets, modes) and,
// one time in availableOneIn, OnlyAvailable.
func withRandomOptions(q Query, r *rand.Rand, nets []uuid.UUID, availableOneIn int) Query {
	q.Limit = []int{0, 1, 5, 40}[r.IntN(4)]
	q.OnlyAvailable = r.IntN(availableOneIn) == 0
	q.Filter = Filter{NetworkID: nets[r.IntN(len(nets))],
		Modes: []ModeSet{0, Modes(ModeNetwork), Modes(ModePublicStream),
			Modes(ModePublic, ModeNetwork, ModeStream)}[r.IntN(4)]}
	return q
}
