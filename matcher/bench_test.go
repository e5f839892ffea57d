package matcher

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// heapMB returns the live heap in MB after a collection.
func heapMB() float64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / 1e6
}

// reportLatency reports the median and 99th percentile of lat in µs.
func reportLatency(b *testing.B, lat []time.Duration, unit string) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	scale := map[string]float64{"µs": 1e3, "ns": 1}[unit]
	b.ReportMetric(float64(lat[len(lat)/2])/scale, "p50-"+unit)
	b.ReportMetric(float64(lat[len(lat)*99/100])/scale, "p99-"+unit)
}

// BenchmarkCatalogBuild builds the world catalog (171,075 places, their regions and
// countries, and the index) per iteration and reports the heap it holds.
func BenchmarkCatalogBuild(b *testing.B) {
	places := worldPlaces(b)
	before := heapMB()
	b.ReportAllocs()
	var c *Catalog
	for b.Loop() {
		c = NewCatalog()
		if err := c.AddAll(places); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(heapMB()-before, "heap-MB")
	b.ReportMetric(float64(c.Len()), "locations")
	runtime.KeepAlive(c)
}

// realisticQueries returns a query mix like the one clients send while users type:
// prefixes of names, full names in their own spelling, names with one to three typos,
// names without their accents or in capitals, non-Latin names, and countries, codes and
// groups.
func realisticQueries(s *snapshot, n int, seed uint64) []Query {
	r := rand.New(rand.NewPCG(seed, seed))
	var nonLatin []int32
	for i := range s.nodes {
		for _, c := range s.nodes[i].name {
			if unicode.IsLetter(c) && !unicode.Is(unicode.Latin, c) {
				nonLatin = append(nonLatin, int32(i))
				break
			}
		}
	}
	pick := func() *node { return &s.nodes[len(groupDefs)+r.IntN(len(s.nodes)-len(groupDefs))] }
	prefix := func(name string) string {
		rs := []rune(name)
		return string(rs[:min(len(rs), 1+r.IntN(8))])
	}
	typos := func(name string) string {
		rs := []rune(strings.ToLower(name))
		for range 1 + r.IntN(3) {
			i := r.IntN(len(rs))
			c := rune('a' + r.IntN(26))
			switch r.IntN(4) {
			case 0:
				rs = slices.Insert(rs, i, c)
			case 1:
				if len(rs) > 3 {
					rs = slices.Delete(rs, i, i+1)
				}
			case 2:
				rs[i] = c
			default:
				if i+1 < len(rs) {
					rs[i], rs[i+1] = rs[i+1], rs[i]
				}
			}
		}
		return string(rs)
	}
	fixed := []string{"europe", "nordic", "european union", "us", "germany", "united states",
		"united kingdom", "japan", "brasil", "france", "de", "canada", "australia", "india"}
	qs := make([]Query, 0, n)
	for len(qs) < n {
		nd := pick()
		var text string
		switch k := r.IntN(100); {
		case k < 25:
			text = prefix(nd.name)
		case k < 45:
			text = nd.name
			if nd.kind == kindCity && r.IntN(2) == 0 {
				text += ", " + s.nodes[s.nodes[nd.country].country].name
			}
		case k < 70:
			if len([]rune(nd.name)) < 4 {
				continue
			}
			text = typos(nd.name)
		case k < 80:
			text = strings.ToUpper(Normalize(nd.name))
		case k < 90:
			name := s.nodes[nonLatin[r.IntN(len(nonLatin))]].name
			text = name
			if r.IntN(2) == 0 {
				text = prefix(name)
			}
		default:
			text = fixed[r.IntN(len(fixed))]
		}
		qs = append(qs, Query{Text: text})
	}
	return qs
}

var bruteOnce sync.Once

// BenchmarkSearch runs a realistic query mix against the world catalog and reports the
// latency percentiles. Once per run it also scans the catalog by brute force (the
// definition, with agnivade/levenshtein) for a sample of the same queries and reports
// that scan's mean time and the speed-up of the index over it on those queries, both
// on one goroutine.
func BenchmarkSearch(b *testing.B) {
	c := worldCatalog(b)
	s := c.snap.Load()
	qs := realisticQueries(s, 4000, 1)
	for _, q := range qs[:200] { // warm the automata and scratch space
		c.Search(q)
	}
	long := make([]bool, len(qs)) // d = 3: 11 runes or more
	for j, q := range qs {
		long[j] = utf8.RuneCountInString(Normalize(q.Text)) >= 11
	}
	b.ReportAllocs()
	lat := make([]time.Duration, 0, 1<<16)
	var short, far []time.Duration
	i := 0
	for b.Loop() {
		start := time.Now()
		c.Search(qs[i%len(qs)])
		d := time.Since(start)
		lat = append(lat, d)
		if long[i%len(qs)] {
			far = append(far, d)
		} else {
			short = append(short, d)
		}
		i++
	}
	b.StopTimer()
	reportLatency(b, lat, "µs")
	if len(short) > 0 && len(far) > 0 {
		slices.Sort(short)
		slices.Sort(far)
		b.ReportMetric(float64(short[len(short)*99/100])/1e3, "p99-under11-µs")
		b.ReportMetric(float64(far[len(far)*99/100])/1e3, "p99-11plus-µs")
		b.ReportMetric(float64(len(far))/float64(len(lat))*100, "%11plus")
	}
	bruteOnce.Do(func() {
		var brute, index time.Duration
		n := 0
		for j := 0; j < len(qs) && n < 12; j += 331 {
			q := qs[j]
			start := time.Now()
			bruteMatchesOn(s, Normalize(q.Text), q.AllowedDistance(), 1)
			brute += time.Since(start)
			start = time.Now()
			for range 20 {
				c.Search(q)
			}
			index += time.Since(start) / 20
			n++
		}
		b.ReportMetric(float64(brute.Microseconds())/float64(n)/1e3, "brute-ms/query")
		b.ReportMetric(float64(brute)/float64(index), "speedup")
	})
}

// A pool of a million providers over the world's cities, shared by the pool benchmarks.
var (
	bigOnce  sync.Once
	bigPool  *Pool
	bigIDs   []uuid.UUID
	bigHeap  float64
	bigBuild time.Duration
	cityIDs  []uuid.UUID
)

// randomID makes an id from r without the system's entropy source, which is slow.
func randomID(r *rand.Rand) uuid.UUID {
	var id uuid.UUID
	binary.LittleEndian.PutUint64(id[:8], r.Uint64())
	binary.LittleEndian.PutUint64(id[8:], r.Uint64())
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id
}

// bigProvider returns the i-th provider of the shared pool at loc: most providers offer
// ModePublic and their own network, some also ModePublicStream, some only their network.
// Its network and modes depend on i alone, so that setting it again elsewhere is a move
// and nothing else.
func bigProvider(i int, loc uuid.UUID) Provider {
	id := bigIDs[i]
	net := id
	net[0] ^= 0xff
	modes := Modes(ModePublic, ModeNetwork)
	switch i % 10 {
	case 0:
		modes = Modes(ModePublic, ModePublicStream, ModeNetwork)
	case 1:
		modes = Modes(ModeNetwork)
	}
	return Provider{ClientID: id, NetworkID: net, Modes: modes, LocationID: loc}
}

// millionProviders builds the shared pool of bigProvider.
func millionProviders(b *testing.B) *Pool {
	c := worldCatalog(b)
	bigOnce.Do(func() {
		s := c.snap.Load()
		for i := range s.nodes {
			if s.nodes[i].kind == kindCity {
				cityIDs = append(cityIDs, s.nodes[i].id)
			}
		}
		r := rand.New(rand.NewPCG(42, 42))
		before := heapMB()
		start := time.Now()
		p := NewPool(c)
		bigIDs = make([]uuid.UUID, 1_000_000)
		for i := range bigIDs {
			bigIDs[i] = randomID(r)
			pr := bigProvider(i, cityIDs[r.IntN(len(cityIDs))])
			pr.Weight = 0.5 + r.Float64()/2
			if err := p.Set(pr); err != nil {
				b.Fatal(err)
			}
		}
		bigBuild = time.Since(start)
		bigHeap = heapMB() - before
		bigPool = p
	})
	return bigPool
}

// sampleRequests returns requests shaped like find-providers calls: a country, a city,
// a region or a group, count 10, and 100 exclusions drawn from the same spec (the
// providers a client has already tried).
func sampleRequests(b *testing.B, p *Pool, n int) []SampleRequest {
	s := p.cat.snap.Load()
	r := rand.New(rand.NewPCG(5, 5))
	reqs := make([]SampleRequest, 0, n)
	for len(reqs) < n {
		var spec Spec
		switch k := r.IntN(10); {
		case k < 4:
			spec.LocationID = s.nodes[s.countries[r.IntN(len(s.countries))]].id
		case k < 7:
			spec.LocationID = cityIDs[r.IntN(len(cityIDs))]
		case k < 8:
			loc, _ := p.cat.Location(cityIDs[r.IntN(len(cityIDs))])
			spec.LocationID = cmpOr(loc.RegionID, loc.CountryID)
		default:
			spec.LocationGroupID = s.nodes[r.IntN(len(groupDefs))].id
		}
		specs := []Spec{spec}
		excl := p.Sample(SampleRequest{Specs: specs, Count: 100})
		for len(excl) < 100 {
			excl = append(excl, bigIDs[r.IntN(len(bigIDs))])
		}
		reqs = append(reqs, SampleRequest{Specs: specs, Count: 10, Exclude: excl})
	}
	return reqs
}

func cmpOr(a, b uuid.UUID) uuid.UUID {
	if a != uuid.Nil {
		return a
	}
	return b
}

// BenchmarkPoolBuild reports the time to add a million providers one Set at a time and
// the heap the pool holds (built once per run).
func BenchmarkPoolBuild(b *testing.B) {
	millionProviders(b)
	for b.Loop() {
	}
	b.ReportMetric(bigBuild.Seconds(), "build-s")
	b.ReportMetric(bigHeap, "heap-MB")
	b.ReportMetric(1e6/bigBuild.Seconds(), "sets/s")
}

// BenchmarkSample samples 10 providers with 100 exclusions from a million-provider
// pool and reports the latency percentiles.
func BenchmarkSample(b *testing.B) {
	p := millionProviders(b)
	reqs := sampleRequests(b, p, 2000)
	b.ReportAllocs()
	lat := make([]time.Duration, 0, 1<<20)
	buf := make([]uuid.UUID, 0, 16)
	i := 0
	for b.Loop() {
		start := time.Now()
		buf = p.AppendSample(buf[:0], reqs[i%len(reqs)])
		lat = append(lat, time.Since(start))
		i++
	}
	reportLatency(b, lat, "ns")
}

// BenchmarkPoolUpdate measures updates on one goroutine: moving a provider to another
// city, changing only its weight, and a provider leaving while another arrives.
func BenchmarkPoolUpdate(b *testing.B) {
	p := millionProviders(b)
	r := rand.New(rand.NewPCG(6, 6))
	b.Run("move", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			p.Set(bigProvider(i%len(bigIDs), cityIDs[r.IntN(len(cityIDs))]))
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
	})
	// The same moves applied in batches with SetAll, as a writer that drains a queue
	// of updates would.
	b.Run("move-batched", func(b *testing.B) {
		b.ReportAllocs()
		prs := make([]Provider, updateBatch)
		i := 0
		for b.Loop() {
			for k := range prs {
				prs[k] = bigProvider(i%len(bigIDs), cityIDs[r.IntN(len(cityIDs))])
				i++
			}
			if err := p.SetAll(prs); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "updates/s")
	})
	b.Run("weight", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			id := bigIDs[i%len(bigIDs)]
			pr, _ := p.Get(id)
			pr.Weight = r.Float64()
			p.Set(pr)
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
	})
	b.Run("churn", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			k := i / 2 % len(bigIDs) // removed, then back somewhere else
			if i%2 == 0 {
				p.Remove(bigIDs[k])
			} else {
				p.Set(bigProvider(k, cityIDs[r.IntN(len(cityIDs))]))
			}
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
	})
}

// updateBatch is the number of updates BenchmarkPoolUpdate's batched runs apply per
// SetAll.
const updateBatch = 64

// BenchmarkSampleParallel samples from all GOMAXPROCS goroutines, alone and while one
// more goroutine moves providers at 100,000 updates per second, one Set at a time or in
// batches of a millisecond's worth with SetAll; run it with -cpu 1,2.
func BenchmarkSampleParallel(b *testing.B) {
	p := millionProviders(b)
	reqs := sampleRequests(b, p, 2000)
	for _, tt := range []struct {
		rate  int
		batch bool
	}{{0, false}, {100_000, false}, {100_000, true}} {
		b.Run(fmt.Sprintf("updates=%d/batched=%v", tt.rate, tt.batch), func(b *testing.B) {
			sampleParallel(b, p, reqs, tt.rate, tt.batch)
		})
	}
}

func sampleParallel(b *testing.B, p *Pool, reqs []SampleRequest, rate int, batch bool) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var updates int
	start := time.Now()
	wg.Go(func() {
		r := rand.New(rand.NewPCG(7, 7))
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			// Catch up on the updates due by now: the goroutine may wait a while for
			// a processor when the samplers hold them all.
			var prs []Provider
			for due := int(time.Since(start).Seconds() * float64(rate)); updates < due; updates++ {
				pr := bigProvider(r.IntN(len(bigIDs)), cityIDs[r.IntN(len(cityIDs))])
				if batch {
					prs = append(prs, pr)
				} else if err := p.Set(pr); err != nil {
					panic(err)
				}
			}
			if err := p.SetAll(prs); err != nil {
				panic(err)
			}
		}
	})
	b.ReportAllocs()
	b.ResetTimer()
	var next sync.Mutex
	seed := uint64(0)
	b.RunParallel(func(pb *testing.PB) {
		next.Lock()
		seed++
		i := int(seed) * 7919
		next.Unlock()
		buf := make([]uuid.UUID, 0, 16)
		for pb.Next() {
			buf = p.AppendSample(buf[:0], reqs[i%len(reqs)])
			i++
		}
	})
	b.StopTimer()
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "samples/s")
	b.ReportMetric(float64(updates)/time.Since(start).Seconds(), "updates/s")
}

// BenchmarkPoolSearch runs the query mix of BenchmarkSearch with the provider counts of
// a million-provider pool, as find-provider-locations does (OnlyAvailable) and as
// find-locations does (counts only).
func BenchmarkPoolSearch(b *testing.B) {
	p := millionProviders(b)
	qs := realisticQueries(p.cat.snap.Load(), 4000, 1)
	for _, only := range []bool{false, true} {
		b.Run(fmt.Sprintf("available=%v", only), func(b *testing.B) {
			b.ReportAllocs()
			lat := make([]time.Duration, 0, 1<<16)
			i := 0
			for b.Loop() {
				q := qs[i%len(qs)]
				q.OnlyAvailable = only
				start := time.Now()
				p.Search(q)
				lat = append(lat, time.Since(start))
				i++
			}
			reportLatency(b, lat, "µs")
		})
	}
}

// BenchmarkSplitCandidates checks the candidates of case B of the split search (see
// split.go) for the "City, Country" queries of the search benchmark's mix, which list
// the most: their later words are shared by every city of the country. It reports the
// time per listed candidate.
func BenchmarkSplitCandidates(b *testing.B) {
	c := worldCatalog(b)
	s := c.snap.Load()
	type planned struct {
		q  []rune
		pl splitPlan
	}
	var qs []planned
	listed := 0
	for _, q := range realisticQueries(s, 4000, 1) {
		text := normalizeRunes(nil, q.Text)
		if !strings.Contains(q.Text, ", ") || len(text) < longQuery {
			continue
		}
		if pl, ok := s.main.plan(text, MaxDistance); ok {
			qs = append(qs, planned{text, pl})
			for _, p := range pl.pieces[:pl.n] {
				k := [3]rune{text[p.list], text[p.list+1], text[p.list+2]}
				listed += len(s.main.pos.window(k, p.list-MaxDistance, p.list+MaxDistance))
			}
		}
	}
	sc := getScratch(len(s.nodes))
	defer scratchPool.Put(sc)
	i := 0
	for b.Loop() {
		x := qs[i%len(qs)]
		sc.next()
		sc.setQuery(x.q)
		w := walker{g: s.main, sc: sc, q: x.q, m: int32(len(x.q)), d: MaxDistance,
			w: 2*MaxDistance + 1, inf: MaxDistance + 1}
		w.candidates(x.pl)
		i++
	}
	perQuery := float64(listed) / float64(len(qs))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/perQuery, "ns/listed")
	b.ReportMetric(float64(len(qs)), "queries")
}

// BenchmarkSearchHuge searches for texts that match thousands of nodes: a
// country's name (every place in it matches through "city, country"), one letter, and
// a letter after a modifier ("ʻE" matches half the catalog at distance 1).
func BenchmarkSearchHuge(b *testing.B) {
	c := worldCatalog(b)
	for _, text := range []string{"france", "germany", "united states", "s", "ʻe"} {
		b.Run(text, func(b *testing.B) {
			for b.Loop() {
				c.Search(Query{Text: text})
			}
		})
	}
}

// BenchmarkPoolSearchHuge runs the searches of BenchmarkSearchHuge, and "ʻ" (which every
// node matches: d = 1 for one rune) and "mut" (thousands at distance 1), with the counts
// of the million-provider pool, where nearly every location has providers.
func BenchmarkPoolSearchHuge(b *testing.B) {
	p := millionProviders(b)
	for _, text := range []string{"france", "germany", "united states", "s", "ʻe", "ʻ", "mut"} {
		b.Run(text, func(b *testing.B) {
			for b.Loop() {
				p.Search(Query{Text: text})
			}
		})
	}
}
