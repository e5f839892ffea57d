package matcher

import (
	"math"
	"math/bits"
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
}

// Search returns the locations and groups that match q, ranked and capped as the
// package documentation describes, with zero provider counts. A query with
// OnlyAvailable finds nothing here; use Pool.Search. Search never blocks on writers.
func (c *Catalog) Search(q Query) Results {
	return c.snap.Load().search(q, nil)
}

// scratch is the per-search working memory, reused through scratchPool.
type scratch struct {
	epoch   uint32
	seen    []uint32 // epoch in which the node last matched
	dist    []uint8  // its distance in that epoch
	exact   []uint32 // epoch in which the node matched exactly
	touched []int32  // nodes matched in the current epoch
	rows    []int32
	states  []int32
	heap    []cand
	// ascii[r] and other hold the query positions of each rune, for automaton steps.
	ascii [128]uint64
	other []runeBits
}

// runeBits is a non-ASCII query rune and the positions where it occurs.
type runeBits struct {
	r    rune
	bits uint64
}

// setQuery records the positions of q's runes; q has at most 64 runes.
func (sc *scratch) setQuery(q []rune) {
	clear(sc.ascii[:])
	sc.other = sc.other[:0]
next:
	for k, r := range q {
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
	if len(sc.seen) < n || sc.epoch > math.MaxUint32-64 {
		n += n / 4
		sc.seen, sc.dist, sc.exact = make([]uint32, n), make([]uint8, n), make([]uint32, n)
		sc.epoch = 0
	}
	return sc
}

// next starts a new epoch with no node touched.
func (sc *scratch) next() uint32 {
	sc.epoch++
	sc.touched = sc.touched[:0]
	return sc.epoch
}

// match records that node o matches at distance d in the current epoch.
func (sc *scratch) match(o int32, d uint8) {
	switch {
	case sc.seen[o] != sc.epoch:
		sc.seen[o], sc.dist[o] = sc.epoch, d
		sc.touched = append(sc.touched, o)
	case d < sc.dist[o]:
		sc.dist[o] = d
	}
}

// segments returns the indexes of s.
func (s *snapshot) segments() []*segment {
	if s.delta == nil {
		return []*segment{s.main}
	}
	return []*segment{s.main, s.delta}
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

	// Exact matches form the best tier; when they fill the limit nothing else can rank.
	exact := sc.next()
	for _, g := range s.segments() {
		lo, hi := g.prefixRange(g.prim, text)
		for _, e := range g.prim[lo:hi] {
			sc.match(e.owner, 0)
			sc.exact[e.owner] = exact
		}
	}
	if s.available(sc, q, cnt) >= limit {
		return s.top(sc, q, cnt, limit, exact)
	}

	// Widen the distance until enough locations match: results rank by distance first,
	// so the nearer ones fill the limit before any farther one could enter it.
	for dd := 0; ; dd++ {
		sc.next()
		for _, g := range s.segments() {
			s.walk(g, sc, text, dd)
		}
		if dd >= d || s.available(sc, q, cnt) >= limit {
			return s.top(sc, q, cnt, limit, exact)
		}
	}
}

// available counts the touched nodes that pass q's availability condition.
func (s *snapshot) available(sc *scratch, q Query, cnt *counter) int {
	if !q.OnlyAvailable {
		return len(sc.touched)
	}
	n := 0
	for _, o := range sc.touched {
		if cnt.count(o) > 0 {
			n++
		}
	}
	return n
}

// list ranks every location and group (or every one with providers, when q asks for
// that) for an empty query.
func (s *snapshot) list(sc *scratch, q Query, cnt *counter, limit int) Results {
	exact := sc.next()
	if q.OnlyAvailable {
		for _, n := range cnt.candidates() {
			if int(n) < len(s.nodes) {
				sc.match(n, 0)
				sc.exact[n] = exact
			}
		}
	} else {
		for n := range s.nodes {
			sc.match(int32(n), 0)
			sc.exact[n] = exact
		}
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
		for _, g := range s.segments() {
			s.walk(g, sc, text, d)
		}
	}
	out := make(map[int32]int, len(sc.touched))
	for _, o := range sc.touched {
		out[o] = int(sc.dist[o])
	}
	return out
}

// walker holds the state of one walk of a segment's tree: the rows of the edit-distance
// table along the current path, limited to the band of width 2d+1 around the diagonal
// where values up to d can occur. The first d rows are computed in rows; deeper ones
// are automaton states, one per depth in states.
type walker struct {
	g       *segment
	sc      *scratch
	q       []rune
	m, d, w int32
	inf     int32
	rows    []int32
	au      *automaton // nil for queries longer than 64 runes
	states  []int32
	// qmask has the class of every query rune; at[c] has bit k set when q[k] is of
	// class c. Both are zero for queries longer than 64 runes, which skip the check.
	qmask uint64
	at    [64]uint64
}

// walk records in sc every owner of g whose names are within prefix edit distance d of q.
func (s *snapshot) walk(g *segment, sc *scratch, q []rune, d int) {
	if len(g.entries) == 0 {
		return
	}
	w := walker{g: g, sc: sc, q: q, m: int32(len(q)), d: int32(d), w: int32(2*d + 1)}
	w.inf = w.d + 1
	need := (g.maxLen + 1) * int(w.w)
	if cap(sc.rows) < need {
		sc.rows = make([]int32, need)
	}
	w.rows = sc.rows[:need]
	for k := int32(0); k < w.w; k++ {
		j := k - w.d
		w.rows[k] = j
		if j < 0 || j > w.m {
			w.rows[k] = w.inf
		}
	}
	if len(q) <= 64 {
		for k, r := range q {
			w.qmask |= 1 << class(r)
			w.at[class(r)] |= 1 << k
		}
		w.au = automatonFor(d)
		if cap(sc.states) < g.maxLen+1 {
			sc.states = make([]int32, g.maxLen+1)
		}
		w.states = sc.states[:g.maxLen+1]
		sc.setQuery(q)
		if d == 0 {
			w.intern(0)
		}
	}
	if w.m == 0 {
		w.collect(0, int32(len(g.entries)), 0) // the empty query is a prefix of everything
		return
	}
	best := w.inf
	if w.m <= w.d {
		best = w.m
	}
	w.descend(0, best, 0)
}

// descend walks the children of node v, whose row is computed, with best the least
// distance between the query and a prefix of the path so far and last the least cell
// of the row. A child's first step needs only its first rune, so most children are
// pruned without reading their node.
func (w *walker) descend(v, best, last int32) {
	t := &w.g.tree[v]
	i := t.depth + 1
	if last < w.d {
		for ch := t.child; ch < t.child+t.nchild; ch++ {
			if rowMin, whole := w.step(i, w.g.firsts[ch]); rowMin <= w.d {
				w.enter(ch, i, best, rowMin, whole)
			}
		}
		return
	}
	// Every live cell has spent the whole budget, so a path can only go on with the
	// query rune right after one of them: visit just those children.
	var seen [2*MaxDistance + 1]int32
	n := 0
	for k, val := range w.cells(t.depth) {
		j := t.depth - w.d + int32(k)
		if val != w.d || j >= w.m {
			continue
		}
		ch := w.child(t, w.q[j])
		if ch < 0 || slices.Contains(seen[:n], ch) {
			continue
		}
		seen[n] = ch
		n++
		// Other children may have overwritten row i since: recompute it.
		if rowMin, whole := w.step(i, w.q[j]); rowMin <= w.d {
			w.enter(ch, i, best, rowMin, whole)
		}
	}
}

// enter continues the walk into node v, whose edge's first rune gave row i with least
// cell rowMin and whole-query value whole.
func (w *walker) enter(v, i, best, rowMin, whole int32) {
	t := &w.g.tree[v]
	miss := w.missing(t)
	first := i
	for {
		best = min(best, whole)
		bound := rowMin
		if rowMin <= w.d && (miss != 0 || t.maxLen < w.m+w.d) {
			bound = w.bound(i, miss, t)
		}
		// Nothing below can do better than bound: when best is already as good, the
		// whole subtree matches at best.
		if best <= w.d && bound >= best {
			w.collect(w.g.spans[v].lo, w.g.spans[v].hi, best)
			return
		}
		if bound > w.d {
			return
		}
		if i == t.depth {
			break
		}
		i++
		rowMin, whole = w.step(i, w.g.runes[t.label+i-first])
	}
	if sp := &w.g.spans[v]; best <= w.d && sp.lo < sp.term {
		w.collect(sp.lo, sp.term, best)
	}
	w.descend(v, best, rowMin)
}

// child returns the child of t whose edge starts with r, or -1.
func (w *walker) child(t *tnode, r rune) int32 {
	kids := w.g.firsts[t.child : t.child+t.nchild]
	k, ok := slices.BinarySearch(kids, r)
	if !ok {
		return -1
	}
	return t.child + int32(k)
}

// step computes row i of the table, whose last path rune is c, and returns its least
// cell and its value for the whole query (inf when out of the band).
func (w *walker) step(i int32, c rune) (rowMin, whole int32) {
	if w.au == nil || i <= w.d {
		rowMin, whole = w.row(i, c)
		if w.au != nil && i == w.d {
			w.intern(i)
		}
		return rowMin, whole
	}
	match := int(w.sc.positions(c)>>uint(i-w.d-1)) & (1<<w.w - 1)
	s := int32(w.au.next[int(w.states[i-1])<<w.w|match])
	w.states[i] = s
	kmax := w.m - i + w.d // cells past kmax lie beyond the query
	switch {
	case kmax < 0:
		return w.inf, w.inf
	case kmax >= w.w:
		return w.au.rows[s].prefix[w.w], w.inf
	}
	return w.au.rows[s].prefix[kmax+1], w.au.rows[s].v[kmax]
}

// intern turns the computed row i into an automaton state. Cells beyond the query
// never feed cells within it, so they may hold anything; they are set to continue
// their left neighbour, as the automaton's own steps would.
func (w *walker) intern(i int32) {
	var v [2*MaxDistance + 1]int32
	copy(v[:], w.rows[i*w.w:(i+1)*w.w])
	for k := max(w.m-i+w.d+1, 1); k < w.w; k++ {
		v[k] = min(v[k-1]+1, w.inf)
	}
	w.states[i] = w.au.id[w.au.pack(v)]
}

// cells returns row i.
func (w *walker) cells(i int32) []int32 {
	if w.au == nil || i <= w.d {
		return w.rows[i*w.w : (i+1)*w.w]
	}
	return w.au.rows[w.states[i]].v[:w.w]
}

// missing returns the query positions whose rune class occurs nowhere below t: each of
// them costs an edit in any alignment with a path through t.
func (w *walker) missing(t *tnode) uint64 {
	var miss uint64
	for cs := w.qmask &^ t.mask; cs != 0; cs &= cs - 1 {
		miss |= w.at[bits.TrailingZeros64(cs)]
	}
	return miss
}

// bound returns a lower bound on the distance between the query and any prefix that
// extends the current path of length i below t: the least over the row's cells of the
// cell's value plus the edits the rest of the query needs at least, either for runes
// that occur nowhere below t or for runes beyond the longest entry below t.
func (w *walker) bound(i int32, miss uint64, t *tnode) int32 {
	b := w.inf
	for k, v := range w.cells(i) {
		j := i - w.d + int32(k)
		if v >= b || j > w.m {
			continue
		}
		extra := max(int32(bits.OnesCount64(miss>>j)), (w.m-j)-(t.maxLen-i))
		b = min(b, v+extra)
	}
	return b
}

// row computes table row i (the path's first i runes, the last being c) from row i-1
// and returns its minimum and its value for the whole query. Cell k of a row holds
// column j = i-d+k; cells outside the table or the band hold inf = d+1, and values are
// capped there: a value within d is exact, anything larger reads as inf.
func (w *walker) row(i int32, c rune) (rowMin, whole int32) {
	prev := w.rows[(i-1)*w.w : i*w.w]
	cur := w.rows[i*w.w : (i+1)*w.w]
	rowMin = w.inf
	for k := int32(0); k < w.w; k++ {
		j := i - w.d + k
		var v int32
		switch {
		case j < 0 || j > w.m:
			v = w.inf
		case j == 0:
			v = i
		default:
			v = prev[k]
			if w.q[j-1] != c {
				v++
			}
			if k+1 < w.w {
				v = min(v, prev[k+1]+1)
			}
			if k > 0 {
				v = min(v, cur[k-1]+1)
			}
			v = min(v, w.inf)
		}
		cur[k] = v
		rowMin = min(rowMin, v)
	}
	whole = w.inf
	if k := w.m - i + w.d; k >= 0 && k < w.w {
		whole = cur[k]
	}
	return rowMin, whole
}

// collect records entries lo..hi of the segment as matching at distance d.
func (w *walker) collect(lo, hi, d int32) {
	for _, e := range w.g.entries[lo:hi] {
		w.sc.match(e.owner, uint8(d))
	}
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

// top orders the touched nodes and returns the best limit of them.
func (s *snapshot) top(sc *scratch, q Query, cnt *counter, limit int, exact uint32) Results {
	h := sc.heap[:0]
	for _, o := range sc.touched {
		count := cnt.count(o)
		if q.OnlyAvailable && count <= 0 {
			continue
		}
		c := cand{node: o, count: count, dist: sc.dist[o], lo: s.rank(o)}
		c.hi = uint64(c.dist)<<33 | uint64(math.MaxUint32-uint32(max(count, 0)))
		if sc.exact[o] != exact {
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
	}
	sc.heap = h
	slices.SortFunc(h, func(a, b cand) int {
		if a.less(&b) {
			return -1
		}
		return 1
	})
	var r Results
	for _, c := range h {
		if s.nodes[c.node].kind == kindGroup {
			r.Groups = append(r.Groups, GroupMatch{
				Group: s.group(c.node), ProviderCount: int(c.count), MatchDistance: int(c.dist),
			})
			continue
		}
		r.Locations = append(r.Locations, LocationMatch{
			Location: s.location(c.node), ProviderCount: int(c.count), MatchDistance: int(c.dist),
		})
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
