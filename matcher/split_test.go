package matcher

import (
	"maps"
	"math/bits"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/agnivade/levenshtein"
)

// randRunes returns n runes drawn from alphabet by r.
func randRunes(r *rand.Rand, alphabet []rune, n int) []rune {
	rs := make([]rune, n)
	for i := range rs {
		rs[i] = alphabet[r.IntN(len(alphabet))]
	}
	return rs
}

// The bit-parallel distance agrees with the definition: the least Levenshtein distance
// between the query and a prefix of the text, or inf above d.
func TestPrefixDistance(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	alphabet := []rune("abcab éø東")
	randText := func(n int) []rune { return randRunes(r, alphabet, n) }
	sc := getScratch(1)
	defer scratchPool.Put(sc)
	for range 20000 {
		q := randText(1 + r.IntN(64))
		if r.IntN(8) == 0 {
			q = q[:min(len(q), 1+r.IntN(3))]
		}
		text := randText(r.IntN(len(q) + 6))
		if r.IntN(2) == 0 { // a near copy, so that small distances occur
			text = append(append([]rune(nil), q[:r.IntN(len(q)+1)]...), randText(r.IntN(4))...)
		}
		d := r.IntN(MaxDistance + 1)
		sc.setQuery(q)
		w := walker{sc: sc, q: q, m: int32(len(q)), d: int32(d), inf: int32(d + 1)}
		want := d + 1
		for l := 0; l <= len(text); l++ {
			want = min(want, levenshtein.ComputeDistance(string(q), string(text[:l])))
		}
		if got := int(w.prefixDistance(text)); got != want {
			t.Fatalf("q %q text %q d %d: got %d, want %d", string(q), string(text), d, got,
				want)
		}
	}
}

// Over ASCII heads, which stand for themselves, the head distance is the definition
// too, also for long queries that stop early once they cannot match.
func TestHeadDistance(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	alphabet := "abcab de"
	randText := func(n int) []byte { return []byte(string(randRunes(r, []rune(alphabet), n))) }
	sc := getScratch(1)
	defer scratchPool.Put(sc)
	for range 20000 {
		q := []rune(string(randText(1 + r.IntN(30))))
		text := randText(r.IntN(len(q) + 6))
		if r.IntN(2) == 0 { // a near copy, so that small distances occur
			text = append([]byte(string(q[:r.IntN(len(q)+1)])), randText(r.IntN(4))...)
			for range r.IntN(4) {
				if len(text) > 0 {
					text[r.IntN(len(text))] = alphabet[r.IntN(len(alphabet))]
				}
			}
		}
		text = text[:min(len(text), headSize-1)]
		d := r.IntN(MaxDistance + 1)
		sc.setQuery(q)
		w := walker{sc: sc, q: q, m: int32(len(q)), d: int32(d), inf: int32(d + 1)}
		want := len(q)
		for l := 0; l <= len(text); l++ {
			want = min(want, levenshtein.ComputeDistance(string(q), string(text[:l])))
		}
		got := int(w.headDistance(text))
		if got != want && (got <= d || want <= d) {
			t.Fatalf("q %q text %q d %d: got %d, want %d", string(q), text, d, got, want)
		}
	}
}

// The positional index lists exactly the entries that have a trigram at a position.
func TestPosIndexWindow(t *testing.T) {
	g := sampleCatalog(t, 400).snap.Load().main
	r := rand.New(rand.NewPCG(3, 3))
	for range 300 {
		e := g.entries[r.IntN(len(g.entries))]
		text := g.text(e)
		if len(text) < 3 {
			continue
		}
		pos := r.IntN(min(len(text)-2, posSpan))
		k := [3]rune{text[pos], text[pos+1], text[pos+2]}
		lo, hi := max(0, pos-r.IntN(3)), min(posSpan-1, pos+r.IntN(3))
		want := map[int32]int{}
		for i, e := range g.entries {
			tx := g.text(e)
			for p := lo; p <= hi && p+3 <= len(tx); p++ {
				if [3]rune{tx[p], tx[p+1], tx[p+2]} == k {
					want[int32(i)]++
				}
			}
		}
		got := map[int32]int{}
		for _, i := range g.pos.window(k, lo, hi) {
			got[i]++
		}
		if !maps.Equal(got, want) {
			t.Fatalf("trigram %q at %d..%d: index lists %d entries, scan finds %d",
				string(k[:]), lo, hi, len(got), len(want))
		}
	}
}

// Every split finds what the plain walk finds, at the same distances: the chosen plan
// and random valid ones, at every distance, over random queries.
func TestSplitMatchesPlainWalk(t *testing.T) {
	queries := 600
	if testing.Short() || raceEnabled {
		queries = 150
	}
	s := sampleCatalog(t, 90).snap.Load()
	g := newQueryGen(5, s)
	r := rand.New(rand.NewPCG(5, 6))
	splits := 0
	for range queries {
		q := []rune(Normalize(g.next()))
		if len(q) == 0 || len(q) > 64 {
			continue
		}
		d := 1 + r.IntN(MaxDistance)
		plain := walkMatches(s, q, d, &splitPlan{})
		plans := []*splitPlan{nil}
		for range 4 {
			if pl, ok := randomPlan(r, len(q), d); ok {
				plans = append(plans, &pl)
				splits++
			}
		}
		for _, pl := range plans {
			if got := walkMatches(s, q, d, pl); !maps.Equal(got, plain) {
				t.Fatalf("query %q d=%d plan %+v: split finds %d nodes, plain walk %d",
					string(q), d, pl, len(got), len(plain))
			}
		}
	}
	if splits < queries/2 {
		t.Fatalf("only %d random splits tried over %d queries", splits, queries)
	}
}

// walkMatches walks s for q within d with plan pl and returns the nodes found and their
// distances.
func walkMatches(s *snapshot, q []rune, d int, pl *splitPlan) map[int32]int {
	sc := getScratch(len(s.nodes))
	defer scratchPool.Put(sc)
	sc.next()
	for _, g := range s.segs {
		s.walkPlan(g, sc, q, d, pl)
	}
	out := make(map[int32]int, len(sc.touched))
	for _, o := range sc.touched {
		out[o] = int(sc.dist(o))
	}
	return out
}

// randomPlan returns a valid split of a query of m runes at distance d, whatever its
// cost: a head of at least two runes and pieces of q2 whose listing trigram lies where
// the index reaches.
func randomPlan(r *rand.Rand, m, d int) (splitPlan, bool) {
	b := (d - 1) / 2
	if 2+3*(b+1) > m {
		return splitPlan{}, false
	}
	pl := splitPlan{a: d - 1 - b, n: b + 1}
	pl.h = 2 + r.IntN(m-3*(b+1)-1)
	spans := [][2]int{{pl.h, m}}
	if b == 1 {
		mid := pl.h + 3 + r.IntN(m-pl.h-5)
		spans = [][2]int{{pl.h, mid}, {mid, m}}
	}
	for i, sp := range spans {
		lo, hi := sp[0], sp[1]
		p := piece{list: lo + r.IntN(hi-lo-2), filter: -1}
		if p.list+d >= posSpan {
			return splitPlan{}, false
		}
		if hi-lo > 3 && r.IntN(3) > 0 {
			for p.filter = p.list; p.filter == p.list; {
				p.filter = lo + r.IntN(hi-lo-2)
			}
		}
		pl.pieces[i] = p
	}
	return pl, true
}

// gallop finds the first element at least x, as a binary search does.
func TestGallop(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	for range 2000 {
		s := make([]int32, r.IntN(70))
		for i := range s {
			s[i] = int32(r.IntN(100))
		}
		slices.Sort(s)
		x := int32(r.IntN(110) - 5)
		want, _ := slices.BinarySearch(s, x)
		if got := gallop(s, x); got != want {
			t.Fatalf("gallop(%v, %d) = %d, want %d", s, x, got, want)
		}
	}
}

// bandMin, which reads the band's later rows from a table, agrees with reading every
// row of the band.
func TestBandMin(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for range 100000 {
		pv := r.Uint64()
		mv := r.Uint64() &^ pv // a row steps by +1, -1 or 0
		m, d := int32(1+r.IntN(64)), int32(r.IntN(MaxDistance+1))
		j := int32(r.IntN(int(m) + 2*MaxDistance + 2))
		w := walker{m: m, d: d, inf: d + 1}
		want := w.inf
		for i := max(0, j-d); i <= min(m, j+d); i++ {
			below := uint64(1)<<i - 1
			want = min(want, j+int32(bits.OnesCount64(pv&below))-int32(bits.OnesCount64(mv&below)))
		}
		if got := w.bandMin(pv, mv, j); got != want {
			t.Fatalf("pv %x mv %x m %d d %d j %d: got %d, want %d", pv, mv, m, d, j, got, want)
		}
	}
}

// TestPlanCosts times, on the world catalog, the plain walk and every split of each
// query of the search benchmark's mix at distance 2 or 3 (the fastest of three runs),
// and reports the walks' times with the splits the cost estimates choose and with the
// best split of each query, and the plain walk's median by query length: what the
// cost estimates of plan (split.go) are checked and set against. It runs only when
// asked, as
// MATCHER_PLAN_COSTS=1 go test -run PlanCosts -v ./matcher/, since it takes a minute.
func TestPlanCosts(t *testing.T) {
	if os.Getenv("MATCHER_PLAN_COSTS") == "" {
		t.Skip("set MATCHER_PLAN_COSTS=1 to run")
	}
	s := worldCatalog(t).snap.Load()
	g := s.main
	sc := getScratch(len(s.nodes))
	defer scratchPool.Put(sc)
	timed := func(q []rune, d int, pl *splitPlan) time.Duration {
		best := time.Hour
		for range 3 {
			sc.next()
			start := time.Now()
			s.walkPlan(g, sc, q, d, pl)
			best = min(best, time.Since(start))
		}
		return best
	}
	chosen := map[int][]time.Duration{}
	best := map[int][]time.Duration{}
	plain := map[[2]int][]time.Duration{}
	for _, query := range realisticQueries(s, 4000, 1) {
		q := normalizeRunes(nil, query.Text)
		d := allowedDistance(len(q), query)
		if d < 2 || len(q) > 64 {
			continue
		}
		p := timed(q, d, &splitPlan{})
		plain[[2]int{d, len(q)}] = append(plain[[2]int{d, len(q)}], p)
		c, fastest := p, p
		pl, planned := g.plan(q, d)
		sizes := g.listSizes(q, d)
		for h := 2; h <= lastSplit(len(q), d); h++ {
			split, _, ok := splitAt(sizes[:len(q)], d, h)
			if !ok {
				continue
			}
			x := timed(q, d, &split)
			fastest = min(fastest, x)
			if planned && split == pl {
				c = x
			}
		}
		chosen[d] = append(chosen[d], c)
		best[d] = append(best[d], fastest)
	}
	at := func(ts []time.Duration, f float64) time.Duration { return ts[int(f*float64(len(ts)-1))] }
	for d := 2; d <= MaxDistance; d++ {
		for _, r := range []struct {
			name string
			ts   []time.Duration
		}{{"estimates' choice", chosen[d]}, {"best per query", best[d]}} {
			slices.Sort(r.ts)
			var sum time.Duration
			for _, x := range r.ts {
				sum += x
			}
			t.Logf("d=%d %-17s %4d queries: mean %v p50 %v p90 %v p97 %v p99 %v", d, r.name,
				len(r.ts), sum/time.Duration(len(r.ts)), at(r.ts, .5), at(r.ts, .9),
				at(r.ts, .97), at(r.ts, .99))
		}
	}
	keys := slices.Collect(maps.Keys(plain))
	slices.SortFunc(keys, func(a, b [2]int) int { return a[0]*100 + a[1] - b[0]*100 - b[1] })
	for _, k := range keys {
		if ts := plain[k]; len(ts) >= 10 {
			slices.Sort(ts)
			t.Logf("d=%d, %d runes: plain walk median %v over %d queries", k[0], k[1],
				at(ts, .5), len(ts))
		}
	}
}
