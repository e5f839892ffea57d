package matcher

import (
	"math/bits"
	"slices"
)

// A search with d >= 1 splits the query q = q1 q2 at h. An alignment of q with a prefix p
// = p1 p2 of an entry within d edits spends e1 on q1 and e2 on q2 with e1 + e2 <= d, so
// for any a + b = d - 1 either e1 <= a or e2 <= b. The search takes both cases:
//
//   - A: the tree walk keeps only paths with a prefix within a edits of q1 (see
//     walker.h). With a at most 1, few paths pass: a path one edit off q1 can only go
//     on with the rune q1 needs next, which is looked up among the children.
//   - B: q2 is within b edits, so of b+1 disjoint pieces of q2 one is intact. An
//     intact piece at query position j lies at entry position j-d..j+d, since at most d
//     edits shift it. A positional index of the trigrams in the first posSpan runes of
//     every entry lists the entries that have a piece's rarest trigram there, a second
//     trigram of the piece at the same shift filters them, and each that passes is
//     checked against the whole query with a bit-parallel edit distance
//     (prefixDistance).
//
// Each case reports exact distances, so the union is exactly the plain walk's result.
// The split is used when its estimated cost beats the plain walk's; the estimate counts
// the candidates of the pieces and a cost for case A that falls with the length of q1.

// posSpan is the number of entry positions at which the positional index records
// trigrams: trigrams starting at runes 0..posSpan-1 of each entry.
const posSpan = 16

// posIndex maps a trigram and the entry position where it starts to the entries that
// have it there.
type posIndex struct {
	ids map[[3]rune]int32
	// starts[id*posSpan+t] is the first posting of trigram id at position t; the
	// postings of one trigram are ordered by position, so a window of positions is one
	// slice.
	starts []int32
	post   []int32 // entry indices
	heads  []byte  // the start of every entry, to reject candidates (see buildHeads)
}

// buildPosIndex indexes the trigrams of g's entries. Entries are sorted, so an entry
// shares the trigrams within its common prefix with the one before it.
func buildPosIndex(g *segment) *posIndex {
	p := &posIndex{ids: map[[3]rune]int32{}}
	var counts []int32
	grams := make([][posSpan]int32, len(g.entries)) // trigram ids by position
	var prev []rune
	for i, e := range g.entries {
		text := g.text(e)
		common := 0
		for common < len(prev) && common < len(text) && prev[common] == text[common] {
			common++
		}
		for t := 0; t < posSpan && t+3 <= len(text); t++ {
			if t+3 <= common {
				grams[i][t] = grams[i-1][t]
			} else {
				k := [3]rune{text[t], text[t+1], text[t+2]}
				id, ok := p.ids[k]
				if !ok {
					id = int32(len(p.ids))
					p.ids[k] = id
					counts = append(counts, make([]int32, posSpan)...)
				}
				grams[i][t] = id
			}
			counts[int(grams[i][t])*posSpan+t]++
		}
		prev = text
	}
	p.starts = make([]int32, len(counts)+1)
	for k, c := range counts {
		p.starts[k+1] = p.starts[k] + c
	}
	p.heads = buildHeads(g)
	p.post = make([]int32, p.starts[len(counts)])
	next := counts // reused as fill positions
	copy(next, p.starts[:len(counts)])
	for i, e := range g.entries {
		for t := 0; t < posSpan && t+3 <= int(e.n); t++ {
			k := int(grams[i][t])*posSpan + t
			p.post[next[k]] = int32(i)
			next[k]++
		}
	}
	return p
}

// headSize is the bytes kept per entry in posIndex.heads: headSize-1 runes and a length.
const headSize = 32

// buildHeads returns the heads of g's entries: for entry e, heads[e*headSize:] holds its
// first headSize-1 runes as bytes (see headByte) and, in the last byte, its length in
// runes up to 255. A candidate's head is one cache line away (large allocations are
// page aligned), against two dependent misses for its entry and then its runes.
func buildHeads(g *segment) []byte {
	heads := make([]byte, len(g.entries)*headSize)
	for i, e := range g.entries {
		h := heads[i*headSize : (i+1)*headSize]
		for k, r := range g.text(e)[:min(int(e.n), headSize-1)] {
			h[k] = headByte(r)
		}
		h[headSize-1] = byte(min(e.n, 255))
	}
	return heads
}

// headByte maps a rune to a byte: ASCII to itself and the rest to 128 plus a hash.
// Distinct runes may share a byte, which can only make a distance over bytes smaller
// than the one over runes, so the distance over heads is a lower bound.
func headByte(r rune) byte {
	if r >= 0 && r < 128 {
		return byte(r)
	}
	return 128 | byte((uint32(r)*0x9E3779B1)>>25)
}

// window returns the entries that have trigram k at a position from lo to hi, clipped
// to the indexed positions.
func (p *posIndex) window(k [3]rune, lo, hi int) []int32 {
	id, ok := p.ids[k]
	if !ok {
		return nil
	}
	lo, hi = max(lo, 0), min(hi, posSpan-1)
	if lo > hi {
		return nil
	}
	base := int(id) * posSpan
	return p.post[p.starts[base+lo]:p.starts[base+hi+1]]
}

// piece is a span of the query that case B requires intact, with the query positions of
// its rarest trigram (which lists the candidates) and of a second one (which filters
// them; -1 when the piece has one trigram).
type piece struct {
	list, filter int
}

// splitPlan is how one search splits its query: case A keeps paths with a prefix within
// a edits of q[:h]; case B checks the entries that have one of pieces intact.
type splitPlan struct {
	h, a   int
	pieces [2]piece
	n      int // pieces used
}

// Costs of the parts of a search in nanoseconds by distance. costWalk[d][h-2] is case
// A's walk at split point h (its last value for any larger h): the medians over the
// queries of the benchmark's mix at distance d, half of 4,000, timed at every feasible
// split point on the world catalog on the project's 2-core machine (2026-12-03), as the
// whole split search less case B alone. The walk's cost falls steeply with h while q1
// is short, since a prefix within a edits of two or three runes leaves much of the
// tree alive. A candidate costs a check, mostly a wait for its head (the estimate
// leaves out the share a filter trigram removes, which it cannot know: guessing it made
// worse choices); and the plain walk is what a split must beat. They steer only the
// speed: every choice finds the same matches.
//
// costPlainWalk[2] was 300,000, the median plain walk at distance 2; six-rune queries,
// the most common there, walk longer (TestPlanCosts: a median of 413 µs at 6 runes,
// 235 µs at 10), so 450,000 lets more of them split. In TestPlanCosts the whole mix's
// distance-2 walks took 1.06-1.07 times the best split per query with either value.
// costCheck[3] was 58: the second check of headDistance and the band table made a long
// query's candidates about a quarter cheaper (see headCut2), and with 44 the walks of
// the mix's distance-3 queries took 1.13-1.14 times the best split per query on
// average, against 1.20-1.21 (interleaved runs of TestPlanCosts on the AMD EPYC
// machine).
var (
	costWalk = [MaxDistance + 1][5]int{
		{},
		{4_000, 4_000, 4_000, 4_000, 4_000},
		{197_000, 83_000, 42_000, 34_000, 29_000},
		{714_000, 192_000, 73_000, 51_000, 49_000},
	}
	costCheck     = [MaxDistance + 1]int{0, 38, 31, 44}
	costPlainWalk = [MaxDistance + 1]int{0, 40_000, 450_000, 1_800_000}
)

// plan chooses the split for query q (at most 64 runes) and distance d with the least
// estimated cost. It reports false when no split is estimated to beat the plain walk.
func (g *segment) plan(q []rune, d int) (splitPlan, bool) {
	m := len(q)
	if d < 1 || m > 64 || g.pos == nil {
		return splitPlan{}, false
	}
	sizes := g.listSizes(q, d)
	best, bestCost := splitPlan{}, costPlainWalk[d]
	for h := 2; h <= lastSplit(m, d); h++ {
		if pl, cost, ok := splitAt(sizes[:m], d, h); ok && cost < bestCost {
			best, bestCost = pl, cost
		}
	}
	return best, best.n > 0
}

// listSizes returns the candidates of the trigram at each position j of q (at most 64
// runes) within d: the entries that have it at j-d..j+d, or -1 when some of those
// positions are not indexed.
func (g *segment) listSizes(q []rune, d int) (sizes [64]int) {
	for j := 0; j+3 <= len(q); j++ {
		sizes[j] = -1
		if j+d < posSpan {
			sizes[j] = len(g.pos.window([3]rune{q[j], q[j+1], q[j+2]}, j-d, j+d))
		}
	}
	return sizes
}

// lastSplit is the last split point of a query of m runes at distance d: q2 must hold
// the (d-1)/2+1 pieces of three runes or more that case B needs.
func lastSplit(m, d int) int {
	return m - 3*((d-1)/2+1)
}

// splitAt returns the split of a query at h, given its listSizes, with its pieces and
// estimated cost; ok is false when q2 has no piece that can be listed.
func splitAt(sizes []int, d, h int) (pl splitPlan, cost int, ok bool) {
	m := len(sizes)
	b := (d - 1) / 2
	pl = splitPlan{h: h, a: d - 1 - b, n: b + 1}
	c := -1
	if b == 0 {
		pl.pieces[0], c = choosePiece(sizes, h, m, costCheck[d])
	} else {
		for mid := h + 3; mid+3 <= m; mid++ {
			p1, c1 := choosePiece(sizes, h, mid, costCheck[d])
			p2, c2 := choosePiece(sizes, mid, m, costCheck[d])
			if c1 >= 0 && c2 >= 0 && (c < 0 || c1+c2 < c) {
				pl.pieces, c = [2]piece{p1, p2}, c1+c2
			}
		}
	}
	if c < 0 {
		return pl, 0, false
	}
	return pl, costWalk[d][min(h-2, len(costWalk[d])-1)] + c, true
}

// choosePiece picks, for the piece q[lo:hi], the listable trigram with the fewest
// candidates and a filter trigram with the next fewest, one that does not overlap it if
// there is one, and returns them with the estimated cost of checking the piece; the
// cost is negative when no trigram of the piece can be listed.
func choosePiece(sizes []int, lo, hi, check int) (piece, int) {
	p := piece{list: -1, filter: -1}
	for j := lo; j+3 <= hi; j++ {
		if sizes[j] >= 0 && (p.list < 0 || sizes[j] < sizes[p.list]) {
			p.list = j
		}
	}
	if p.list < 0 {
		return p, -1
	}
	better := func(j, than int) bool {
		if than < 0 {
			return true
		}
		apart, thanApart := abs(j-p.list) >= 3, abs(than-p.list) >= 3
		if apart != thanApart {
			return apart
		}
		return sizes[j] >= 0 && (sizes[than] < 0 || sizes[j] < sizes[than])
	}
	for j := lo; j+3 <= hi; j++ {
		if j != p.list && better(j, p.filter) {
			p.filter = j
		}
	}
	return p, sizes[p.list] * check
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// candidates checks the entries that hold one of the plan's pieces intact (case B)
// against the whole query and records those within d.
func (w *walker) candidates(pl splitPlan) {
	g, q, d := w.g, w.q, int(w.d)
	var batch [checkBatch]int32
	n := 0
	for _, p := range pl.pieces[:pl.n] {
		lk := [3]rune{q[p.list], q[p.list+1], q[p.list+2]}
		var fk [3]rune
		if p.filter >= 0 {
			fk = [3]rune{q[p.filter], q[p.filter+1], q[p.filter+2]}
		}
		for shift := -d; shift <= d; shift++ {
			t := p.list + shift
			if t < 0 || t >= posSpan {
				continue
			}
			var filter []int32
			ft := p.filter + shift
			filtered := p.filter >= 0 && ft >= 0 && ft < posSpan
			if p.filter >= 0 && ft < 0 {
				continue // the piece cannot start before the entry
			}
			if filtered {
				filter = g.pos.window(fk, ft, ft)
			}
			for _, e := range g.pos.window(lk, t, t) {
				if filtered {
					// Both lists are sorted: look for e from where the last search
					// ended, galloping, so that the filter is read once at most.
					k := gallop(filter, e)
					if filter = filter[k:]; len(filter) == 0 {
						break
					}
					if filter[0] != e {
						continue
					}
				}
				batch[n] = e
				if n++; n == len(batch) {
					w.check(&batch)
					n = 0
				}
			}
		}
	}
	for _, e := range batch[:n] {
		w.check1(e)
	}
}

// gallop returns the index of the first element of the sorted s that is at least x, or
// len(s), in O(log i) steps for an answer i: it doubles a step from the start until it
// passes x, then searches the last step's span.
func gallop(s []int32, x int32) int {
	if len(s) == 0 || s[0] >= x {
		return 0
	}
	lo, step := 0, 1 // s[lo] < x
	for lo+step < len(s) && s[lo+step] < x {
		lo += step
		step *= 2
	}
	k, _ := slices.BinarySearch(s[lo+1:min(lo+step+1, len(s))], x)
	return lo + 1 + k
}

// checkBatch is how many candidates check reads together.
const checkBatch = 16

// check checks a batch of candidates. It first touches the head of each (see
// buildHeads), so that their cache misses overlap instead of following one another,
// then rejects those whose head is farther than d from the query; the few left are
// checked on their runes.
func (w *walker) check(batch *[checkBatch]int32) {
	heads := w.g.pos.heads
	var touch byte
	for _, e := range batch {
		touch |= heads[int(e)*headSize]
	}
	w.touch = touch
	for _, e := range batch {
		w.check1(e)
	}
}

// check1 checks one candidate, as check does.
func (w *walker) check1(e int32) {
	h, ok := w.headOf(e)
	if !ok {
		w.exact(e)
		return
	}
	dist := w.headDistance(h)
	switch {
	case dist > w.d:
	case ascii(h):
		// Bytes below 128 stand for themselves and no other rune maps to one, so
		// over a head of them the distance is the distance over the runes.
		w.sc.match(w.g.entries[e].owner, uint8(dist))
	default:
		w.exact(e)
	}
}

// headOf returns the runes of e's head that a prefix within d of the query can have, as
// bytes (see buildHeads); ok is false when the head does not hold them all.
func (w *walker) headOf(e int32) (text []byte, ok bool) {
	h := w.g.pos.heads[int(e)*headSize : (int(e)+1)*headSize]
	n := int32(h[headSize-1])
	if n >= headSize && w.m+w.d >= headSize {
		return nil, false
	}
	return h[:min(n, headSize-1, w.m+w.d)], true
}

// ascii reports whether every byte of b is below 128.
func ascii(b []byte) bool {
	var or byte
	for _, c := range b {
		or |= c
	}
	return or < 128
}

// exact records the owner of entry e when e is within d of the query.
func (w *walker) exact(e int32) {
	en := w.g.entries[e]
	if dist := w.prefixDistance(w.g.runes[en.off : en.off+en.n]); dist <= w.d {
		w.sc.match(en.owner, uint8(dist))
	}
}

// prefixDistance returns the least edit distance between the query and a prefix of
// text, or inf when it exceeds d. It runs Myers' bit-parallel algorithm in Hyyrö's
// form for the distance from the start of both strings: one machine word holds a
// column of the table as vertical deltas (the query has at most 64 runes), and each
// text rune updates it in a few word operations (see myersStep).
func (w *walker) prefixDistance(text []rune) int32 {
	pv, mv, last := ^uint64(0), uint64(0), uint8(w.m-1) // column 0 is 0, 1, 2, ...
	score, best := w.m, w.m
	for _, c := range text[:min(int32(len(text)), w.m+w.d)] {
		var delta int32
		pv, mv, delta = myersStep(pv, mv, w.sc.positions(c), last)
		score += delta
		best = min(best, score)
	}
	if best > w.d {
		return w.inf
	}
	return best
}

// headDistance is prefixDistance over a head's bytes (see headByte), without the
// limit: at most the distance over the runes they stand for, or inf when that is
// known to exceed d.
//
// A long query stops after headCut or headCut2 bytes when it can no longer come within
// d (see longHeadDistance): every alignment with a longer prefix crosses the current
// column at some row, and distances never fall along an alignment, so the column's
// least value bounds all that follow. Rows more than d from the column's index hold
// more than d, so only the band between is read. Most candidates of a long query share
// only its later words with the query ("... United States"), and differ within its
// first runes.
func (w *walker) headDistance(text []byte) int32 {
	if w.m >= longQuery && len(text) > headCut+2 {
		return w.longHeadDistance(text)
	}
	pv, mv, last := ^uint64(0), uint64(0), uint8(w.m-1)
	score, best := w.m, w.m
	for _, c := range text {
		var delta int32
		pv, mv, delta = myersStep(pv, mv, w.sc.bytes[c], last)
		score += delta
		best = min(best, score)
	}
	return best
}

// longHeadDistance is headDistance for a query of at least longQuery runes and a text
// of more than headCut+2. A prefix of at most headCut runes is more than
// longQuery-headCut > d from such a query, so the first headCut runes only move the
// vertical deltas; the score of column headCut is then read from the deltas.
func (w *walker) longHeadDistance(text []byte) int32 {
	eqs := &w.sc.bytes
	pv, mv := ^uint64(0), uint64(0)
	for _, c := range (*[headCut]byte)(text) {
		pv, mv, _ = myersStep(pv, mv, eqs[c], 0)
	}
	if w.bandMin(pv, mv, headCut) > w.d {
		return w.inf
	}
	rows := uint64(1)<<uint(w.m) - 1 // rows 1..m (all 64 when m is 64)
	score := int32(headCut) + int32(bits.OnesCount64(pv&rows)) - int32(bits.OnesCount64(mv&rows))
	best, last := score, uint8(w.m-1)
	for j := headCut; j < len(text); j++ {
		var delta int32
		pv, mv, delta = myersStep(pv, mv, eqs[text[j]], last)
		score += delta
		best = min(best, score)
		if j+1 == headCut2 && j+1 < len(text) && best > w.d && w.bandMin(pv, mv, headCut2) > w.d {
			return w.inf
		}
	}
	return best
}

// headCut is where headDistance asks whether a long query can still match: at 5, four
// edits among the first five runes can show, and in interleaved runs of the search
// benchmark's queries (each timed thrice, keeping the fastest) 5 gave a lower p99 than
// 6 in three of four pairs, and 6 than 8 in four of four.
const headCut = 5

// headCut2 is where a long query asks again: of the candidates that pass at headCut
// (a fifth to a half of them for "City, Country" queries), most fail here. On the
// project's 2-core AMD EPYC machine, BenchmarkSplitCandidates took 53-68 ns per listed
// candidate with the second check and the band table, 74-83 ns before; 7, 8 and 9
// did about equally well, 11 worse.
const headCut2 = 8

// bandMin returns the least distance between a query prefix of j-d to j+d runes and
// the j text runes read so far, from the vertical deltas pv and mv of column j, or inf
// when it exceeds d.
func (w *walker) bandMin(pv, mv uint64, j int32) int32 {
	// Row i holds j plus the +1s less the -1s of rows 1..i, bit i-1 of pv and mv: the
	// band's first row from the bits below it, and the least of the rest from the
	// table of the bits between.
	lo, hi := uint(max(0, j-w.d)), uint(min(w.m, j+w.d))
	if hi < lo {
		return w.inf
	}
	below := uint64(1)<<lo - 1 // all 64 when lo is 64: the shift gives 0
	v := j + int32(bits.OnesCount64(pv&below)) - int32(bits.OnesCount64(mv&below))
	span := uint64(1)<<(hi-lo) - 1
	return min(w.inf, v+int32(bandLeast[(pv>>lo&span)|(mv>>lo&span)<<bandSteps]))
}

// bandSteps is the most rows after a band's first: 2 * MaxDistance.
const bandSteps = 2 * MaxDistance

// bandLeast[p | m<<bandSteps] is the least running sum, from 0, of the steps +p_k-m_k
// for the bits k = 0, 1, ... of p and m: how far below its first row a band reaches.
var bandLeast = func() (t [1 << (2 * bandSteps)]int8) {
	for i := range t {
		p, m := i&(1<<bandSteps-1), i>>bandSteps
		sum, least := 0, 0
		for k := range bandSteps {
			sum += p>>k&1 - m>>k&1
			least = min(least, sum)
		}
		t[i] = int8(least)
	}
	return t
}()

// myersStep advances Myers' algorithm by one text rune, given as the query positions
// eq that hold it: pv and mv are the vertical deltas of the current column as bit
// vectors of +1s and -1s, and delta is the change of the distance from the whole query
// (position last) to the text read so far. It is small enough to be inlined, so that
// the state stays in registers.
func myersStep(pv, mv, eq uint64, last uint8) (npv, nmv uint64, delta int32) {
	xv := eq | mv
	xh := ((eq & pv) + pv) ^ pv | eq
	ph := mv | ^(xh | pv)
	mh := pv & xh
	// At most one of the two is set; no branch, since the score moves unpredictably.
	delta = int32(ph>>last&1) - int32(mh>>last&1)
	ph = ph<<1 | 1 // row 0 grows by one per text rune
	mh <<= 1
	return mh | ^(xv | ph), ph & xv, delta
}
