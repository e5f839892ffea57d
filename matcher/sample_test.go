package matcher

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"
)

// sampleFixture is a catalog with providers placed for sampling tests: many public ones
// in one country, spread over its cities and regions, some offering both public modes,
// plus private ones of one network.
type sampleFixture struct {
	c        *Catalog
	p        *Pool
	country  Location
	city     Location
	all      []Provider
	home     uuid.UUID
	rnd      *rand.Rand
	inCity   []uuid.UUID
	inRegion []uuid.UUID
}

func newSampleFixture(t *testing.T, n int) *sampleFixture {
	t.Helper()
	c := NewCatalog()
	var places []Place
	for _, p := range worldPlaces(t) {
		if p.CountryCode == "PT" || p.CountryCode == "ES" {
			places = append(places, p)
		}
	}
	// Spain at once, and Portugal (after it in the file) in a few batches, as places
	// arrive in a running engine: the samples then work on the small index.
	k := slices.IndexFunc(places, func(p Place) bool { return p.CountryCode == "PT" })
	for i := 0; i < len(places); i = max(k, i+200) {
		if err := c.AddAll(places[i:min(max(k, i+200), len(places))]); err != nil {
			t.Fatal(err)
		}
	}
	if c.snap.Load().delta == nil {
		t.Fatal("the fixture's places should end in the small index")
	}
	f := &sampleFixture{c: c, p: NewPool(c), home: uuid.New(), rnd: rand.New(rand.NewPCG(1, 2))}
	f.country, _ = c.Location(CountryID("PT"))
	f.city, _ = c.Location(CityID("PT", "Lisbon", "Lisbon"))
	var pt []Location
	for _, p := range places {
		if p.CountryCode == "PT" {
			loc, _ := c.Location(CityID(p.CountryCode, p.Region, p.City))
			pt = append(pt, loc)
		}
	}
	for i := range n {
		loc := pt[f.rnd.IntN(len(pt))]
		if i%5 == 0 {
			loc = f.city
		}
		modes := Modes(ModePublic)
		switch i % 7 {
		case 1:
			modes = Modes(ModePublic, ModePublicStream)
		case 2:
			modes = Modes(ModePublicStream)
		}
		pr := Provider{
			ClientID: uuid.New(), NetworkID: uuid.New(), LocationID: loc.ID, Modes: modes,
		}
		if i%11 == 3 {
			pr.NetworkID, pr.Modes = f.home, Modes(ModeNetwork)
		}
		mustSet(t, f.p, pr)
		f.all = append(f.all, pr)
	}
	return f
}

// visible returns the ids of the fixture's providers that the specs and filter select.
func (f *sampleFixture) visible(specs []Spec, fl Filter) []uuid.UUID {
	var out []uuid.UUID
	for _, pr := range f.all {
		if !fl.visible(pr.NetworkID, pr.Modes) {
			continue
		}
		loc, _ := f.c.Location(pr.LocationID)
		for _, sp := range specs {
			g, _ := f.c.Group(sp.LocationGroupID)
			if sp.ClientID == pr.ClientID || slices.Contains(g.CountryCodes, loc.CountryCode) ||
				sp.LocationID != uuid.Nil && (sp.LocationID == loc.ID ||
					sp.LocationID == loc.RegionID || sp.LocationID == loc.CountryID) {
				out = append(out, pr.ClientID)
				break
			}
		}
	}
	return out
}

// overlapping are specs whose sets overlap: a country, a city in it, a group holding
// it, and explicit clients, some of them in the city.
func (f *sampleFixture) overlapping() []Spec {
	return []Spec{
		{LocationID: f.country.ID}, {LocationID: f.city.ID},
		{LocationGroupID: GroupID("Southern Europe")},
		{ClientID: f.all[0].ClientID}, {ClientID: f.all[3].ClientID}, {ClientID: f.all[5].ClientID},
	}
}

var sampleFilters = []Filter{
	{},
	{Modes: Modes(ModePublic, ModePublicStream)},
	{Modes: Modes(ModePublicStream)},
}

func TestSampleExcludesExactly(t *testing.T) {
	f := newSampleFixture(t, 600)
	homeFilter := Filter{NetworkID: f.home, Modes: Modes(ModePublic, ModeNetwork)}
	for _, fl := range append(sampleFilters, homeFilter) {
		specs := f.overlapping()
		pool := f.visible(specs, fl)
		for _, nexcl := range []int{0, 10, len(pool) / 2, len(pool) - 3, len(pool) + 5} {
			excl := slices.Clone(pool[:min(nexcl, len(pool))])
			f.rnd.Shuffle(len(excl), func(i, j int) { excl[i], excl[j] = excl[j], excl[i] })
			excl = append(excl, uuid.New(), uuid.Nil)
			for _, count := range []int{1, 7, 40, len(pool) + 10} {
				got := f.p.Sample(SampleRequest{Specs: specs, Count: count, Exclude: excl,
					Filter: fl, Rand: f.rnd})
				want := min(count, len(pool)-min(nexcl, len(pool)))
				if len(got) != want {
					t.Fatalf("filter %+v, %d excluded, count %d: got %d providers, want %d",
						fl, nexcl, count, len(got), want)
				}
				seen := map[uuid.UUID]bool{}
				for _, id := range got {
					if seen[id] || slices.Contains(excl, id) || !slices.Contains(pool, id) {
						t.Fatalf("filter %+v: sampled %s: repeated %v, excluded %v, eligible %v",
							fl, id, seen[id], slices.Contains(excl, id), slices.Contains(pool, id))
					}
					seen[id] = true
				}
			}
		}
	}
}

// Sampling again and again, excluding every provider seen so far, visits each eligible
// provider exactly once, through both the rejection and the enumeration regimes.
func TestSampleVisitsEveryProviderOnce(t *testing.T) {
	f := newSampleFixture(t, 900)
	homeFilter := Filter{NetworkID: f.home, Modes: Modes(ModePublic, ModeNetwork)}
	cases := map[string][]Spec{
		"country":     {{LocationID: f.country.ID}},
		"overlapping": f.overlapping(),
		"group":       {{LocationGroupID: GroupID("European Union")}},
	}
	for name, specs := range cases {
		for _, fl := range append(sampleFilters, homeFilter) {
			want := f.visible(specs, fl)
			var seen []uuid.UUID
			for calls := 0; ; calls++ {
				got := f.p.Sample(SampleRequest{Specs: specs, Count: 1 + calls%13,
					Exclude: seen, Filter: fl})
				if len(got) == 0 {
					break
				}
				seen = append(seen, got...)
				if calls > len(want)+5 {
					t.Fatalf("%s: still sampling after %d calls", name, calls)
				}
			}
			if !sameSet(seen, want) {
				t.Fatalf("%s, filter %+v: visited %d providers (%d distinct), want the %d eligible",
					name, fl, len(seen), len(distinct(seen)), len(want))
			}
		}
	}
}

func distinct(ids []uuid.UUID) map[uuid.UUID]bool {
	m := map[uuid.UUID]bool{}
	for _, id := range ids {
		m[id] = true
	}
	return m
}

// chiSquare returns the statistic of observed counts against expected ones, and the
// threshold it stays below with probability about 1 - 1e-6 for a sampler that draws
// from the expected distribution (a normal approximation of the chi-square law with
// len(obs)-1 degrees of freedom, widened to 6 standard deviations for its skew).
func chiSquare(obs map[uuid.UUID]int, expected map[uuid.UUID]float64) (stat, limit float64) {
	for id, e := range expected {
		d := float64(obs[id]) - e
		stat += d * d / e
	}
	dof := float64(len(expected) - 1)
	return stat, dof + 6*math.Sqrt(2*dof)
}

// drawFrequencies samples count providers draws times and counts how often each comes.
func drawFrequencies(p *Pool, req SampleRequest, draws int) map[uuid.UUID]int {
	obs := map[uuid.UUID]int{}
	for range draws {
		for _, id := range p.Sample(req) {
			obs[id]++
		}
	}
	return obs
}

func TestSampleIsUniform(t *testing.T) {
	f := newSampleFixture(t, 400)
	homeFilter := Filter{NetworkID: f.home, Modes: Modes(ModePublic, ModePublicStream, ModeNetwork)}
	tests := []struct {
		name    string
		specs   []Spec
		filter  Filter
		count   int
		exclude int
	}{
		{"one location", []Spec{{LocationID: f.country.ID}}, Filter{}, 1, 0},
		{"overlapping specs and lanes", f.overlapping(), homeFilter, 1, 0},
		{"several per call", f.overlapping(), homeFilter, 5, 30},
		{"mostly excluded", []Spec{{LocationID: f.country.ID}}, Filter{}, 3, -25},
		// As many exclusions as still leave drawing with rejection: an eighth to a
		// quarter of the candidates eligible at the last pick.
		{"most excluded, still drawn", []Spec{{LocationID: f.country.ID}}, Filter{}, 3, 1},
	}
	draws := 40000
	if raceEnabled {
		draws = 8000
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eligible := f.visible(tt.specs, tt.filter)
			var excl []uuid.UUID
			switch {
			case tt.exclude == 1: // the most that Sample's threshold still draws from
				n := (7*len(eligible)-96)/8 - tt.count - 1
				if n < len(eligible)*3/4 {
					t.Fatalf("%d eligible are too few for this case", len(eligible))
				}
				excl = eligible[:n]
			case tt.exclude > 0:
				excl = eligible[:tt.exclude]
			case tt.exclude < 0: // leave only -exclude candidates, to use enumeration
				excl = eligible[:len(eligible)+tt.exclude]
			}
			left := eligible[len(excl):]
			req := SampleRequest{Specs: tt.specs, Count: tt.count, Exclude: excl,
				Filter: tt.filter, Rand: rand.New(rand.NewPCG(7, uint64(len(tt.name))))}
			obs := drawFrequencies(f.p, req, draws)
			expected := map[uuid.UUID]float64{}
			for _, id := range left {
				expected[id] = float64(draws*tt.count) / float64(len(left))
			}
			if len(obs) != len(left) {
				t.Fatalf("sampled %d distinct providers, %d are eligible", len(obs), len(left))
			}
			if stat, limit := chiSquare(obs, expected); stat > limit {
				t.Fatalf("chi-square %.1f over %d providers exceeds %.1f", stat, len(left), limit)
			}
		})
	}
}

func TestSampleWeights(t *testing.T) {
	f := newSampleFixture(t, 0)
	ids := make([]uuid.UUID, 30)
	levels := map[uuid.UUID]float64{}
	for i := range ids {
		ids[i] = uuid.New()
		w := []float64{1, 0.5, 0.25}[i%3]
		levels[ids[i]] = w
		mustSet(t, f.p, Provider{ClientID: ids[i], LocationID: f.city.ID, Modes: Modes(ModePublic),
			Weight: w})
	}
	var sum float64
	for _, w := range levels {
		sum += w
	}
	draws := 80000
	if raceEnabled {
		draws = 12000
	}
	for _, extra := range []int{0, 120} { // enumeration, then rejection
		for range extra {
			id := uuid.New()
			levels[id] = 1
			sum++
			mustSet(t, f.p, Provider{ClientID: id, LocationID: f.city.ID, Modes: Modes(ModePublic),
				Weight: 1})
		}
		req := SampleRequest{Specs: []Spec{{LocationID: f.city.ID}}, Count: 1,
			Rand: rand.New(rand.NewPCG(3, uint64(extra)))}
		obs := drawFrequencies(f.p, req, draws)
		expected := map[uuid.UUID]float64{}
		for id, w := range levels {
			expected[id] = float64(draws) * w / sum
		}
		if stat, limit := chiSquare(obs, expected); stat > limit {
			t.Fatalf("%d more providers: weighted chi-square %.1f exceeds %.1f", extra, stat, limit)
		}
	}
	for id, w := range levels {
		if w == 1 && !slices.Contains(ids, id) {
			f.p.Remove(id)
		}
	}

	// Equal weights below 1 still sample uniformly.
	for _, id := range ids {
		mustSet(t, f.p, Provider{ClientID: id, LocationID: f.city.ID, Modes: Modes(ModePublic),
			Weight: 0.3})
	}
	obs := drawFrequencies(f.p, SampleRequest{Specs: []Spec{{LocationID: f.city.ID}}, Count: 2,
		Rand: rand.New(rand.NewPCG(5, 5))}, draws)
	expected := map[uuid.UUID]float64{}
	for _, id := range ids {
		expected[id] = float64(2*draws) / float64(len(ids))
	}
	if stat, limit := chiSquare(obs, expected); stat > limit {
		t.Fatalf("equal weights: chi-square %.1f exceeds %.1f", stat, limit)
	}
}

func TestSampleEdgeCases(t *testing.T) {
	f := newSampleFixture(t, 50)
	if got := f.p.Sample(SampleRequest{Specs: []Spec{{LocationID: f.country.ID}}}); got != nil {
		t.Errorf("count 0 sampled %v", got)
	}
	if got := f.p.Sample(SampleRequest{Count: 3}); got != nil {
		t.Errorf("no specs sampled %v", got)
	}
	unknown := []Spec{{LocationID: uuid.New()}, {LocationGroupID: f.country.ID},
		{LocationID: GroupID("Europe")}, {ClientID: uuid.New()}}
	if got := f.p.Sample(SampleRequest{Specs: unknown, Count: 3}); got != nil {
		t.Errorf("specs naming nothing sampled %v", got)
	}
	one := f.all[0]
	got := f.p.Sample(SampleRequest{Specs: []Spec{{ClientID: one.ClientID}}, Count: 3})
	if !slices.Equal(got, []uuid.UUID{one.ClientID}) {
		t.Errorf("a client spec sampled %v, want %s", got, one.ClientID)
	}
}

func TestPoolConcurrentUse(t *testing.T) {
	f := newSampleFixture(t, 300)
	stop := runReaders(2, 9, func(r *rand.Rand, _ int) error {
		excl := []uuid.UUID{f.all[r.IntN(len(f.all))].ClientID}
		got := f.p.Sample(SampleRequest{Specs: f.overlapping(), Count: 5, Exclude: excl,
			Rand: r})
		if len(distinct(got)) != len(got) || slices.Contains(got, excl[0]) {
			return fmt.Errorf("sample %v repeats or holds the excluded %s", got, excl[0])
		}
		f.p.Search(Query{Text: "lisb", OnlyAvailable: true})
		f.p.Count(f.country.ID, Filter{})
		return nil
	})
	r := rand.New(rand.NewPCG(8, 8))
	for i := range 20000 {
		pr := f.all[r.IntN(len(f.all))]
		switch i % 4 {
		case 0:
			f.p.Remove(pr.ClientID)
		case 1:
			pr.Weight = r.Float64()
			mustSet(t, f.p, pr)
		default:
			pr.LocationID = []uuid.UUID{f.city.ID, f.country.ID, f.city.RegionID}[r.IntN(3)]
			mustSet(t, f.p, pr)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// runReaders calls step again and again on n goroutines, each with its own random
// source seeded from w and seed and a count of its calls, until the returned stop is
// called. stop waits for them and returns the first error a step returned; a reader
// that fails stops.
func runReaders(n int, seed uint64, step func(r *rand.Rand, i int) error) (stop func() error) {
	var wg sync.WaitGroup
	done := make(chan struct{})
	errs := make(chan error, n)
	for w := range n {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), seed))
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				if err := step(r, i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	return func() error {
		close(done)
		wg.Wait()
		close(errs)
		return <-errs // nil when none failed
	}
}

func TestIDSet(t *testing.T) {
	var s idSet
	for _, n := range []int{0, 3, 200} { // the last grows the table several times
		s.reset(1)
		ids := make([]uuid.UUID, n)
		for i := range ids {
			ids[i] = uuid.New()
		}
		s.addIDs(append(slices.Clone(ids[:n/2]), uuid.Nil))
		for i := range ids {
			if in := i < n/2; s.has(&ids[i]) != in {
				t.Fatalf("%d ids: has(id %d) = %v", n, i, !in)
			}
			if added := i >= n/2; s.add(&ids[i]) != added {
				t.Fatalf("%d ids: add(id %d) = %v", n, i, !added)
			}
		}
		var nilID uuid.UUID
		if s.add(&nilID) || s.has(&nilID) || len(s.ids) != n {
			t.Fatalf("%d ids: the set holds %d, or the nil id", n, len(s.ids))
		}
		ms := make([]member, 2*n)
		for i := range ms {
			ms[i].id = ids[i%max(n, 1)]
			if n == 0 {
				ms[i].id = uuid.New()
			}
		}
		if got := s.appendAbsent(nil, ms); n > 0 && len(got) != 0 {
			t.Fatalf("%d ids: %d members absent from a set that holds them all", n, len(got))
		}
	}
}

func TestIntNIsExact(t *testing.T) {
	sm := &sampler{rng: rand.New(rand.NewPCG(1, 1))}
	for _, n := range []int{1, 2, 3, 7, 1000, 1<<31 + 1, math.MaxUint32, 1 << 40} {
		for range 1000 {
			if v := sm.intN(n); v < 0 || v >= n {
				t.Fatalf("intN(%d) = %d", n, v)
			}
		}
	}
	// With n = 3·2^30, multiply-and-shift on 32 bits maps four inputs to three values
	// and would make the multiples of 3 twice as likely as the others; rejection makes
	// every value as likely.
	const n, draws = 3 << 30, 300000
	var mod [3]int
	for range draws {
		mod[sm.intN(n)%3]++
	}
	obs, expected := map[uuid.UUID]int{}, map[uuid.UUID]float64{}
	for i, c := range mod {
		id := uuid.UUID{byte(i)}
		obs[id], expected[id] = c, draws/3
	}
	if stat, limit := chiSquare(obs, expected); stat > limit {
		t.Fatalf("values by remainder mod 3 %v: chi-square %.1f exceeds %.1f", mod, stat, limit)
	}
}

// TestPickWeightedOrdersPairs checks the first two of successive weighted picks against
// their exact law: P(i then j) = w_i/W · w_j/(W − w_i).
func TestPickWeightedOrdersPairs(t *testing.T) {
	ws := []uint8{64, 32, 16, 9, 1, 40}
	c := make([]member, len(ws))
	var total float64
	for i, w := range ws {
		c[i] = member{id: uuid.UUID{byte(i + 1)}, level: w}
		total += float64(w)
	}
	sm := &sampler{rng: rand.New(rand.NewPCG(2, 2))}
	draws := 200000
	if raceEnabled {
		draws = 40000
	}
	obs, expected := map[uuid.UUID]int{}, map[uuid.UUID]float64{}
	for range draws {
		got := sm.pickWeighted(nil, slices.Clone(c), 2)
		obs[uuid.UUID{got[0][0], got[1][0]}]++
	}
	for i, wi := range ws {
		for j, wj := range ws {
			if i != j {
				p := float64(wi) / total * float64(wj) / (total - float64(wi))
				expected[uuid.UUID{byte(i + 1), byte(j + 1)}] = p * float64(draws)
			}
		}
	}
	if stat, limit := chiSquare(obs, expected); stat > limit || len(obs) != len(expected) {
		t.Fatalf("%d ordered pairs seen of %d: chi-square %.1f exceeds %.1f", len(obs),
			len(expected), stat, limit)
	}
}
