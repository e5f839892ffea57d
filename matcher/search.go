package matcher

import (
	"math"
	"slices"
	"sync"
)

// Search defaults and bounds.
const (
	// DefaultLimit is the number of results a Query with a zero Limit returns.
	DefaultLimit = 100
	// DefaultMaxDistanceFraction is the edit-distance allowance per query character
	// when a Query does not enable its own.
	DefaultMaxDistanceFraction = 0.2
	// MaxDistance caps the edit distance any query allows.
	MaxDistance = 3
)

// Query is a location search: the meaning of the API's find-locations and
// find-provider-locations arguments plus the caller's view of the pool.
type Query struct {
	// Text is matched in its Normalize form. An empty one (after normalization) matches
	// every location and group at distance 0.
	Text string
	// MaxDistanceFraction is the allowed edit distance per query character when
	// EnableMaxDistanceFraction is set; otherwise DefaultMaxDistanceFraction applies.
	MaxDistanceFraction       float64
	EnableMaxDistanceFraction bool
	// Limit caps the number of results, groups and locations together; zero means
	// DefaultLimit.
	Limit int
	// Filter says whose providers the counts include.
	Filter Filter
	// OnlyAvailable drops locations and groups without a provider visible under Filter.
	OnlyAvailable bool
	// KeysOnly returns the locations found as Results.Keys, by key alone, for callers
	// that keep what they need of a location by key (see Catalog.LocationAt): the
	// search then builds no Location.
	KeysOnly bool
}

// AllowedDistance returns the largest edit distance that still matches for q: the
// ceiling of the fraction times the number of characters (runes) of the normalized
// text, at most MaxDistance. A fraction that is negative or not a number counts as 0.
func (q Query) AllowedDistance() int {
	return allowedDistance(len(normalizeRunes(nil, q.Text)), q)
}

func allowedDistance(m int, q Query) int {
	f := DefaultMaxDistanceFraction
	if q.EnableMaxDistanceFraction {
		f = q.MaxDistanceFraction
	}
	if !(f > 0) {
		return 0
	}
	// The tolerance keeps products such as 0.2 × 15 from rounding up past 3.
	d := math.Ceil(f*float64(m) - 1e-9)
	return int(min(d, MaxDistance))
}

// LocationMatch is a location found by a search.
type LocationMatch struct {
	Location
	// Key is the location's index in its catalog: small, dense from zero, and the same
	// for the life of the catalog (locations are never removed), so that callers can
	// keep data per location in a slice (see Catalog.LocationAt).
	Key int32
	// ProviderCount is the number of providers at the location visible under the
	// query's Filter; zero when searching a Catalog without a Pool.
	ProviderCount int
	// MatchDistance is the prefix edit distance between the query and the location.
	MatchDistance int
}

// GroupMatch is a location group found by a search.
type GroupMatch struct {
	Group
	ProviderCount int
	MatchDistance int
}

// Results are the matches of a search, each list in rank order.
type Results struct {
	Locations []LocationMatch
	Groups    []GroupMatch
	// Keys lists the locations found by a query with KeysOnly, in place of Locations.
	Keys []KeyMatch
}

// KeyMatch is a location found by a query with KeysOnly: LocationMatch without its
// Location.
type KeyMatch struct {
	Key           int32
	MatchDistance int32
	ProviderCount int
}

// Search returns the locations and groups that match q, ranked and capped as the
// package documentation describes, with zero provider counts. A query with
// OnlyAvailable finds nothing here; use Pool.Search. Search never blocks on writers.
func (c *Catalog) Search(q Query) Results {
	return c.snap.Load().search(q, nil)
}

// scratch is the per-search working memory, reused through scratchPool.
type scratch struct {
	epoch uint32
	// mark[n] is the epoch in which node n last matched, times 4, plus its distance
	// then: one word, so that recording a match touches one cache line.
	mark    []uint32
	exact   []uint32 // epoch in which the node matched exactly
	touched []int32  // nodes matched in the current epoch
	// rest is the tier (see tier) of every node not matched in the current epoch, or
	// -1 when those do not match: a search that matches every node leaves most of them
	// unmarked when the pool can rank them by count without (see topByCount).
	rest int
	// dense holds nodes copied from the pool (see topByCount).
	dense []int32
	level []item // the walk's frontier, and the one below it
	below []item
	grams []uint32 // the walk's query rune pairs
	heap  []cand
	// ascii[r] and other hold the query positions of each rune, for the walk's rows.
	ascii [128]uint64
	other []runeBits
	// bytes[b] holds the query positions of the runes that headByte maps to b.
	bytes [256]uint64
}

// runeBits is a non-ASCII query rune and the positions where it occurs.
type runeBits struct {
	r    rune
	bits uint64
}

// setQuery records the positions of q's runes; q has at most 64 runes.
func (sc *scratch) setQuery(q []rune) {
	clear(sc.ascii[:])
	clear(sc.bytes[:])
	sc.other = sc.other[:0]
next:
	for k, r := range q {
		sc.bytes[headByte(r)] |= 1 << k
		if r < 128 {
			sc.ascii[r] |= 1 << k
			continue
		}
		for i := range sc.other {
			if sc.other[i].r == r {
				sc.other[i].bits |= 1 << k
				continue next
			}
		}
		sc.other = append(sc.other, runeBits{r, 1 << k})
	}
}

// positions returns the query positions that hold r.
func (sc *scratch) positions(r rune) uint64 {
	if r >= 0 && r < 128 {
		return sc.ascii[r]
	}
	for _, o := range sc.other {
		if o.r == r {
			return o.bits
		}
	}
	return 0
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// getScratch returns scratch space for n nodes.
func getScratch(n int) *scratch {
	sc := scratchPool.Get().(*scratch)
	// One search uses a few epochs; wrapping around before it starts keeps the exact
	// marks of the search valid to its end.
	if len(sc.mark) < n || sc.epoch > maxEpoch {
		n += n / 4
		sc.mark, sc.exact = make([]uint32, n), make([]uint32, n)
		sc.epoch = 0
	}
	return sc
}

// next starts a new epoch with no node touched.
func (sc *scratch) next() uint32 {
	sc.epoch++
	sc.touched = sc.touched[:0]
	sc.rest = -1
	return sc.epoch
}

// Tiers order matches before their provider counts do: tier 2d holds the exact matches
// at distance d (only d = 0 has any), 2d+1 the others.
const tiers = 2 * (MaxDistance + 1)

// tier returns the tier of node n, or -1 when it does not match; exact is the epoch of
// the exact matches.
func (sc *scratch) tier(n int32, exact uint32) int {
	if !sc.matched(n) {
		return sc.rest
	}
	t := 2 * int(sc.dist(n))
	if sc.exact[n] != exact {
		t++
	}
	return t
}

// maxEpoch is the last epoch a search may start in: epochs fill the upper 30 bits of
// scratch.mark, and one search uses a few. Distances fill the lower 2 bits; the
// constant below fails to compile if MaxDistance outgrows them.
const maxEpoch = 1<<30 - 64

const _ = uint(3 - MaxDistance)

// match records that node o matches at distance d in the current epoch.
func (sc *scratch) match(o int32, d uint8) {
	mark := sc.epoch<<2 | uint32(d)
	switch old := sc.mark[o]; {
	case old>>2 != sc.epoch:
		sc.mark[o] = mark
		sc.touched = append(sc.touched, o)
	case mark < old: // the same epoch: a nearer match
		sc.mark[o] = mark
	}
}

// matched reports whether node o matched in the current epoch.
func (sc *scratch) matched(o int32) bool {
	return sc.mark[o]>>2 == sc.epoch
}

// dist returns the distance of node o, which matched in the current epoch.
func (sc *scratch) dist(o int32) uint8 {
	return uint8(sc.mark[o] & 3)
}

// search runs q; cnt supplies provider counts and may be nil.
func (s *snapshot) search(q Query, cnt *counter) Results {
	text := normalizeRunes(nil, q.Text)
	m := len(text)
	d := allowedDistance(m, q)
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	if q.OnlyAvailable && cnt == nil || m > s.maxLen+d {
		return Results{}
	}
	sc := getScratch(len(s.nodes))
	defer scratchPool.Put(sc)
	if m == 0 {
		return s.list(sc, q, cnt, limit)
	}
	if r, ok := s.manyExact(sc, q, cnt, text, limit); ok {
		return r
	}
	// Pool searches that rank every match keep their match sets (see cache.go).
	cacheable := cnt != nil && !q.OnlyAvailable
	key := cacheKey{d: d, limit: limit}
	if cacheable {
		key.text = string(text)
		if ms := s.cache.get(key); ms != nil {
			return s.topOf(sc, q, cnt, limit, ms)
		}
	}
	exact, filled := s.find(sc, q, cnt, text, d, limit)
	if cacheable && !filled && len(sc.touched) <= cacheMaxNodes { // put keeps no more
		s.cache.put(key, s.save(sc, exact))
	}
	return s.top(sc, q, cnt, limit, exact)
}

// find records in sc the nodes that the search for the normalized text within d ranks,
// and returns the epoch of its exact matches. filled reports that it ranked nodes
// beyond those matched, chosen by their provider counts (see fill).
func (s *snapshot) find(sc *scratch, q Query, cnt *counter, text []rune, d, limit int,
) (exact uint32, filled bool) {
	m := len(text)
	// Exact matches form the best tier; when they fill the limit nothing else can rank.
	exact = sc.next()
	for _, g := range s.segs {
		for _, es := range [2][]entry{g.prim, g.alias} {
			lo, hi := g.prefixRange(es, text)
			for _, e := range es[lo:hi] {
				sc.match(e.owner, 0)
				sc.exact[e.owner] = exact
			}
		}
	}
	if s.available(sc, q, cnt, limit) >= limit {
		return exact, false
	}

	// Widen the distance until enough locations match: results rank by distance first,
	// so the nearer ones fill the limit before any farther one could enter it. A long
	// query whose distance 0 does not fill it goes straight to its full distance: the
	// walks at 1 and 2 almost never fill it then (on the benchmark's query mix, for 8 of
	// 1,157 queries at distance 3), and every walk finds exact distances, so skipping
	// them changes only the time.
	for dd := 0; ; dd++ {
		if dd == m {
			// Every node is within m (the empty prefix is), and those not found nearer
			// are exactly at m: add the best of them without walking everything.
			s.fill(sc, q, cnt, limit, uint8(m), exact)
			return exact, true
		}
		sc.next()
		for _, g := range s.segs {
			s.walk(g, sc, text, dd)
		}
		if dd >= d || s.available(sc, q, cnt, limit) >= limit {
			return exact, false
		}
		if dd == 0 && d == MaxDistance && m >= longQuery {
			dd = d - 1
		}
	}
}

// manyExact answers a query that is a prefix of the own names of many nodes, as a
// query of one or two letters is, from a few of them. Those nodes fill the limit at
// distance 0, so nothing else ranks; among them the nodes that can have providers rank
// first, and the others by name alone, which is the order of the own names' entries
// up to ties. So the first limit of those entries in each segment, the entries that
// tie with the last of them, the other primary names with the prefix, and the nodes
// the counter lists whose name has it hold the best limit. It reports false when the
// own names are too few for that, when the counter lists too many nodes for it to pay,
// or when q asks for providers, whose nodes may not fill the limit.
func (s *snapshot) manyExact(sc *scratch, q Query, cnt *counter, text []rune,
	limit int) (Results, bool) {
	if q.OnlyAvailable {
		return Results{}, false
	}
	own := 0
	for _, g := range s.segs {
		lo, hi := g.prefixRange(g.prim, text)
		own += hi - lo
	}
	if own < manyExactFactor*limit || cnt.listed() > own/manyExactFactor {
		return Results{}, false
	}
	exact := sc.next()
	add := func(n int32) {
		sc.match(n, 0)
		sc.exact[n] = exact
	}
	for _, g := range s.segs {
		lo, hi := g.prefixRange(g.prim, text)
		end := min(lo+limit, hi)
		for end < hi && end > lo && slices.Equal(g.text(g.prim[end]), g.text(g.prim[end-1])) {
			end++
		}
		for _, e := range g.prim[lo:end] {
			add(e.owner)
		}
		lo, hi = g.prefixRange(g.alias, text)
		for _, e := range g.alias[lo:hi] {
			add(e.owner)
		}
	}
	for _, n := range cnt.candidates() {
		if int(n) < len(s.nodes) && !sc.matched(n) && hasRunePrefix(s.nodes[n].norm, text) {
			add(n)
		}
	}
	return s.top(sc, q, cnt, limit, exact), true
}

// manyExactFactor is how many times the limit the own names with the query's prefix
// must number, and the nodes a counter lists must fall short of, for manyExact.
const manyExactFactor = 4

// hasRunePrefix reports whether s starts with the runes of p.
func hasRunePrefix(s string, p []rune) bool {
	k := 0
	for _, r := range s {
		if k == len(p) {
			return true
		}
		if r != p[k] {
			return false
		}
		k++
	}
	return k == len(p)
}

// longQuery is the length in runes from which a search skips the walks between
// distance 0 and MaxDistance.
const longQuery = 11

// fill makes every node not matched in this epoch match at distance dist, inexactly.
func (s *snapshot) fill(sc *scratch, q Query, cnt *counter, limit int, dist uint8, exact uint32) {
	sc.rest = 2*int(dist) + 1
	if !cnt.dense() {
		s.markRest(sc, q, cnt, limit, exact)
	}
}

// markRest marks, of the nodes that match as sc.rest says, those that rank first among
// them: every node with a visible provider, then, unless q asks for providers, limit
// more in name order. Ranking them all picks the same results as ranking every node of
// the tier would.
func (s *snapshot) markRest(sc *scratch, q Query, cnt *counter, limit int, exact uint32) {
	t := sc.rest
	sc.rest = -1
	add := func(n int32) {
		sc.match(n, uint8(t/2))
		if t%2 == 0 {
			sc.exact[n] = exact
		}
	}
	for _, n := range cnt.candidates() {
		if int(n) < len(s.nodes) && !sc.matched(n) {
			add(n)
		}
	}
	if q.OnlyAvailable {
		return
	}
	added := 0
	s.inNameOrder(func(n int32) bool {
		if !sc.matched(n) {
			add(n)
			added++
		}
		return added < limit
	})
}

// inNameOrder calls fn with nodes in name order (see nameCompare) while it returns true.
func (s *snapshot) inNameOrder(fn func(n int32) bool) {
	i, j := 0, 0
	for i < len(s.byName) || j < len(s.deltaByName) {
		var n int32
		if j == len(s.deltaByName) ||
			i < len(s.byName) && s.rank(s.byName[i]) < s.rank(s.deltaByName[j]) {
			n, i = s.byName[i], i+1
		} else {
			n, j = s.deltaByName[j], j+1
		}
		if !fn(n) {
			return
		}
	}
}

// available counts the touched nodes that pass q's availability condition, up to
// limit.
func (s *snapshot) available(sc *scratch, q Query, cnt *counter, limit int) int {
	if !q.OnlyAvailable {
		return len(sc.touched)
	}
	n := 0
	for _, o := range sc.touched {
		if cnt.count(o) > 0 {
			if n++; n == limit {
				break // the callers ask whether the limit is reached
			}
		}
	}
	return n
}

// list ranks every location and group (or every one with providers, when q asks for
// that) for an empty query. Every node matches it exactly: in a dense pool top ranks
// them from the locations with the most providers (topByCount); otherwise, those the
// counter does not list have no provider and rank by name alone, so the listed nodes
// and the first limit others in name order hold the best limit (markRest).
func (s *snapshot) list(sc *scratch, q Query, cnt *counter, limit int) Results {
	exact := sc.next()
	sc.rest = 0
	if !cnt.dense() {
		s.markRest(sc, q, cnt, limit, exact)
	}
	return s.top(sc, q, cnt, limit, exact)
}

// matches returns every node within distance d of the normalized text, with its
// distance, by one walk of the index. Tests compare it with the definition.
func (s *snapshot) matches(text []rune, d int) map[int32]int {
	sc := getScratch(len(s.nodes))
	defer scratchPool.Put(sc)
	sc.next()
	if len(text) <= s.maxLen+d {
		for _, g := range s.segs {
			s.walk(g, sc, text, d)
		}
	}
	out := make(map[int32]int, len(sc.touched))
	for _, o := range sc.touched {
		out[o] = int(sc.dist(o))
	}
	return out
}

// cand is a ranked candidate. Keys compare as (hi, lo): hi packs the distance, whether
// the match is inexact and the complement of the provider count; lo is the name rank.
type cand struct {
	hi, lo uint64
	node   int32
	count  int32
	dist   uint8
}

func (a *cand) less(b *cand) bool {
	return a.hi < b.hi || a.hi == b.hi && a.lo < b.lo
}

// tier returns the candidate's tier (see scratch.tier), which offer puts above the
// count in hi.
func (a *cand) tier() int {
	return int(a.hi >> 32)
}

// top orders the touched nodes and returns the best limit of them.
func (s *snapshot) top(sc *scratch, q Query, cnt *counter, limit int, exact uint32) Results {
	if sc.rest >= 0 || len(sc.touched) >= hugeMatch {
		if r, ok := s.topByCount(sc, q, cnt, limit, exact); ok {
			return r
		}
	}
	if sc.rest >= 0 {
		s.markRest(sc, q, cnt, limit, exact)
	}
	if len(sc.touched) >= hugeMatch {
		if r, ok := s.topHuge(sc, q, cnt, limit, exact); ok {
			return r
		}
	}
	h := sc.heap[:0]
	for _, o := range sc.touched {
		h = offer(h, q, cnt, limit, matchOf(s, sc, o, exact))
	}
	sc.heap = h
	return s.results(h, q.KeysOnly)
}

// topOf is top for a cached match set.
func (s *snapshot) topOf(sc *scratch, q Query, cnt *counter, limit int, ms *matchSet) Results {
	h := sc.heap[:0]
	for _, m := range ms.matches {
		h = offer(h, q, cnt, limit, m)
	}
	sc.heap = h
	return s.results(h, q.KeysOnly)
}

// hugeMatch is the number of touched nodes from which top tries topHuge: a short query
// with a typo can match half the catalog ("ʻE" at distance 1 matches 92,000 nodes), and
// ranking each of them took as long as finding them.
var hugeMatch = 4096 // a variable so that tests can lower it

// topHuge is top for many touched nodes, from a few of them. The nodes rank by tier
// (distance, then exact matches first), then provider count, then name. Every node of
// the better tiers is ranked, and of the last tier those that the counter lists as
// ones that can have providers and the first limit of the others in name order: the
// others have no provider, so they rank among themselves by name alone, and no other
// one can enter the best limit. The last tier is the farthest distance found; at
// distance 0 it is the inexact matches. It reports false when the counter lists too
// many nodes for this to pay, or every match is exact at distance 0.
func (s *snapshot) topHuge(sc *scratch, q Query, cnt *counter, limit int,
	exact uint32) (Results, bool) {
	if cnt.listed() > len(sc.touched)/4 {
		return Results{}, false
	}
	listed := cnt.candidates()
	var far uint8
	allExact := true
	for _, o := range sc.touched {
		far = max(far, sc.dist(o))
		allExact = allExact && sc.exact[o] == exact
	}
	if far == 0 && allExact {
		// The exact matches of a short prefix lie late in name order as often as
		// early: looking for the first of them there can cost more than ranking all.
		return Results{}, false
	}
	// The last tier: the farthest distance, inexact (beyond distance 0 every match is).
	last := func(n int32) bool { return sc.dist(n) == far && sc.exact[n] != exact }
	h := sc.heap[:0]
	for _, o := range sc.touched {
		if !last(o) {
			h = offer(h, q, cnt, limit, matchOf(s, sc, o, exact))
		}
	}
	slices.Sort(listed)
	listed = slices.Compact(listed) // a node can be listed twice
	at := func(n int32) bool {
		return int(n) < len(s.nodes) && sc.matched(n) && last(n)
	}
	for _, n := range listed {
		if at(n) {
			h = offer(h, q, cnt, limit, matchOf(s, sc, n, exact))
		}
	}
	if !q.OnlyAvailable {
		added := 0
		s.inNameOrder(func(n int32) bool {
			if _, isListed := slices.BinarySearch(listed, n); at(n) && !isListed {
				h = offer(h, q, cnt, limit, matchOf(s, sc, n, exact))
				added++
			}
			return added < limit
		})
	}
	sc.heap = h
	return s.results(h, q.KeysOnly), true
}

// topByCount is top for a pool where most locations have providers, when the matches
// are many or every node matches (sc.rest): it ranks few of them. Tiers come first, so
// every match in a tier before the one that reaches the limit ranks; call that one
// tier b. Within a tier the nodes with more providers rank first, and the pool lists
// its locations in segments of falling provider counts (see Pool.occupied). So the
// locations of tier b and later ones are taken in that order, along with the groups
// and the locations of the caller's network's providers, until the limit is full and
// its last has more providers than any location not taken yet can have, or is in a
// tier before b. It reports false when the pool is not dense, when the limit does not
// fill that way (too few providers, or too many locations to take, or more than there
// are matches when not every node matches), or when no tier reaches the limit. While
// providers come and go, the locations taken are those that had the most at the moment
// of the copy, and counts are read after it.
func (s *snapshot) topByCount(sc *scratch, q Query, cnt *counter, limit int,
	exact uint32) (Results, bool) {
	if !cnt.dense() {
		return Results{}, false
	}
	var sizes [tiers]int
	for _, o := range sc.touched {
		sizes[sc.tier(o, exact)]++
	}
	b, before := -1, 0
	for t, n := range sizes {
		if t == sc.rest || before+n >= limit {
			b = t
			break
		}
		before += n
	}
	if b < 0 {
		return Results{}, false
	}
	scan := denseCopy
	if b != sc.rest {
		// Ranking every match costs about as much per node as taking one from the
		// pool: take no more than there are matches, and none when the segments
		// where the limit should fill end later than that, were the tier's cities
		// spread evenly over the pool's cities and its other places over the others.
		// (A country's name matches its few regions and its many cities: spread
		// alike, they would fill the limit from the regions at the head.)
		scan = scanPerMatch * len(sc.touched)
		ends, segCities := cnt.segments()
		share := float64(sizes[b]-s.largerIn(sc, b, exact)) / float64(sizes[b])
		if fillsAt(ends, segCities, sizes[b], share, limit-before) > scan {
			return Results{}, false
		}
	}
	h := sc.heap[:0]
	offerAt := func(n int32) {
		t := sc.tier(n, exact)
		h = offer(h, q, cnt, limit, match{node: n, dist: uint8(t / 2), exact: t%2 == 0,
			rank: s.rank(n)})
	}
	for _, o := range sc.touched {
		if t := sc.tier(o, exact); t < b || o < int32(len(groupDefs)) {
			offerAt(o)
		}
	}
	if sc.rest >= 0 { // b is sc.rest or before it
		for g := range int32(len(groupDefs)) {
			if !sc.matched(g) {
				offerAt(g)
			}
		}
	}
	for n := range cnt.extra {
		if int(n) < len(s.nodes) && sc.tier(n, exact) >= b {
			offerAt(n)
		}
	}
	// full reports whether no location left can enter the limit, when none has more
	// than most providers: the limit is full and its last is in a tier before b, or in
	// b with more providers.
	full := func(most int64) bool {
		if len(h) < limit {
			return false
		}
		t := h[0].tier()
		return t < b || t == b && int64(h[0].count) > most
	}
	nodes, ends := cnt.byCount(sc.dense, scan)
	sc.dense = nodes
	done := false
	for k := maxMagnitude; k >= 1 && !done; k-- {
		if int(ends[k]) > len(nodes) {
			break // the copy ends within the segment: its nodes left out may rank first
		}
		most := int64(1)<<k - 1 // in segment k
		for _, n := range nodes[ends[k+1]:ends[k]] {
			if int(n) >= len(s.nodes) || sc.tier(n, exact) < b ||
				cnt.extra != nil && cnt.extra[n] > 0 {
				continue
			}
			if offerAt(n); full(most) {
				done = true
				break
			}
		}
		done = done || full(most>>1) // the segments after it
	}
	sc.heap = h
	if !done {
		return Results{}, false
	}
	return s.results(h, q.KeysOnly), true
}

// scanPerMatch is how many nodes topByCount may take from the pool per match when not
// every node matches; a variable so that tests can raise it.
var scanPerMatch = 1

// largerIn returns the number of places larger than a city (groups, regions and
// countries) in tier t of the matches: far fewer than the cities, so counted apart.
func (s *snapshot) largerIn(sc *scratch, t int, exact uint32) int {
	n := 0
	for g := range int32(len(groupDefs)) {
		if sc.tier(g, exact) == t {
			n++
		}
	}
	for _, a := range s.areas {
		if sc.tier(a, exact) == t {
			n++
		}
	}
	return n
}

// fillsAt returns the end of the first of the segments (see Pool.occupied) where need
// of size matches would all be taken, were they spread evenly over the locations with
// providers: a share of them over the cities, the rest over the other places. It
// returns the number of those locations when the need would not be met.
func fillsAt(ends, cities [maxMagnitude + 2]int32, size int, share float64, need int) int {
	all, allCities := ends[1], int32(0)
	for _, n := range cities[1:] {
		allCities += n
	}
	var c, o int32 // the cities and other places up to the end of segment k
	for k := maxMagnitude; k >= 1; k-- {
		c += cities[k]
		o += ends[k] - ends[k+1] - cities[k]
		taken := 0.0 // the expected share of the matches taken
		if allCities > 0 {
			taken += share * float64(c) / float64(allCities)
		}
		if others := all - allCities; others > 0 {
			taken += (1 - share) * float64(o) / float64(others)
		}
		if taken*float64(size) >= float64(need) {
			return int(ends[k])
		}
	}
	return int(all)
}

// matchOf returns what ranking needs of touched node o, apart from its count.
func matchOf(s *snapshot, sc *scratch, o int32, exact uint32) match {
	return match{node: o, dist: sc.dist(o), exact: sc.exact[o] == exact, rank: s.rank(o)}
}

// offer adds m to the max-heap h of the best limit candidates under q's filter and
// availability condition, and returns h.
func offer(h []cand, q Query, cnt *counter, limit int, m match) []cand {
	count := cnt.count(m.node)
	if q.OnlyAvailable && count <= 0 {
		return h
	}
	c := cand{node: m.node, count: count, dist: m.dist, lo: m.rank}
	// hi holds the tier (2 dist, plus 1 when inexact) above the count, inverted.
	c.hi = uint64(c.dist)<<33 | uint64(math.MaxUint32-uint32(max(count, 0)))
	if !m.exact {
		c.hi |= 1 << 32
	}
	switch {
	case len(h) < limit:
		h = append(h, c)
		siftUp(h, len(h)-1)
	case c.less(&h[0]):
		h[0] = c
		siftDown(h, 0)
	}
	return h
}

// results sorts the candidates of h and returns them as results.
func (s *snapshot) results(h []cand, keysOnly bool) Results {
	slices.SortFunc(h, func(a, b cand) int {
		if a.less(&b) {
			return -1
		}
		return 1
	})
	var r Results
	if keysOnly {
		r.Keys = make([]KeyMatch, 0, len(h))
	} else {
		// Locations are large values: growing the slice would copy them over and over.
		r.Locations = make([]LocationMatch, 0, len(h))
	}
	for _, c := range h {
		switch {
		case c.node < int32(len(groupDefs)):
			r.Groups = append(r.Groups, GroupMatch{
				Group: s.group(c.node), ProviderCount: int(c.count), MatchDistance: int(c.dist),
			})
		case keysOnly:
			r.Keys = append(r.Keys, KeyMatch{
				Key: c.node, ProviderCount: int(c.count), MatchDistance: int32(c.dist),
			})
		default:
			r.Locations = append(r.Locations, LocationMatch{Location: s.location(c.node),
				Key: c.node, ProviderCount: int(c.count), MatchDistance: int(c.dist)})
		}
	}
	return r
}

// siftUp and siftDown keep h a max-heap: the worst candidate at the root.
func siftUp(h []cand, i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h[p].less(&h[i]) {
			return
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
}

func siftDown(h []cand, i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		if r := l + 1; r < len(h) && h[l].less(&h[r]) {
			l = r
		}
		if !h[i].less(&h[l]) {
			return
		}
		h[i], h[l] = h[l], h[i]
		i = l
	}
}
