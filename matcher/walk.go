package matcher

import (
	"math/bits"
	"slices"
)

// The walk finds every owner of a segment within prefix edit distance d of a query. It
// runs the edit-distance table down the tree, one rune of depth at a time, for all
// live paths together: a level's frontier is processed in tree order, and the tree is
// stored breadth first, so the walk reads the tree roughly in sequence. At this scale
// memory latency, not arithmetic, sets the cost, so the walk drops a path as soon as a
// cheap test on data it already holds shows the path cannot match.
//
// A path's row of the table holds the distances between its runes and each query
// prefix, limited to the band of width w = 2d+1 around the diagonal, where values up
// to d can occur. Cell k of row i is column j = i-d+k; cells outside the table or the
// band hold inf = d+1, and values are capped there: a value within d is exact, anything
// larger reads as inf. A row's least cell never decreases along a path.
//
// Every test below only drops paths that cannot reach distance d; the property tests
// compare the walk with a brute-force scan of the definition. A path is dropped when:
//   - its row's least cell exceeds d;
//   - the query runes after a cell, minus those whose class occurs below the node, or
//     beyond the longest entry below it, cost more than the budget (bound);
//   - every live cell has spent the budget and the query rune that must come next
//     cannot (need, and the targeted children of spent paths);
//   - cells one short of the budget see neither of their next two query runes within
//     three runes (viable);
//   - the rune pairs below the node cannot hold enough of the query's (pairs).

// width is the largest band.
const width = 2*MaxDistance + 1

// item is a live path: it has consumed k runes of node v's edge, its row is row, and
// best is the least distance between the query and a prefix of the path.
type item struct {
	v, k int32
	best int32
	row  [width]int8
	// head is set once a prefix of the path is within a edits of q[:h] (see walker.h).
	head bool
}

// walker holds the state of one walk.
type walker struct {
	g       *segment
	sc      *scratch
	q       []rune
	m, d, w int32
	inf     int32
	// h and a, when h > 0, restrict the walk to paths with a prefix within a edits of
	// the query's first h runes (case A of a split search, see split.go). Column h of
	// the table holds those distances, and the least of a row's cells up to column h
	// never decreases along a path, so a path is dropped once that least cell exceeds a
	// before the column has held a value within a.
	h, a int32
	// touch keeps the runes that check reads ahead, so that the reads are not removed.
	touch byte
	// qmask has the class of every query rune; at[c] has bit k set when q[k] is of
	// class c. Both are zero for queries longer than 64 runes, which skip what uses
	// them.
	qmask uint64
	at    [64]uint64
	// grams[p] is the pair-set bit of query runes p and p+1.
	grams []uint32
}

// walk records in sc every owner of g whose names are within prefix edit distance d of q.
func (s *snapshot) walk(g *segment, sc *scratch, q []rune, d int) {
	s.walkPlan(g, sc, q, d, nil)
}

// walkPlan is walk with the given split, or with the one g.plan chooses when pl is nil;
// a plan without pieces walks without a split. Tests use it to try every split.
func (s *snapshot) walkPlan(g *segment, sc *scratch, q []rune, d int, pl *splitPlan) {
	if len(g.entries) == 0 {
		return
	}
	w := walker{g: g, sc: sc, q: q, m: int32(len(q)), d: int32(d), w: int32(2*d + 1)}
	w.inf = w.d + 1
	if w.m == 0 {
		w.collect(0, int32(len(g.entries)), 0) // the empty query is a prefix of everything
		return
	}
	if len(q) <= 64 {
		w.grams = sc.grams[:0]
		for k, r := range q {
			w.qmask |= 1 << class(r)
			w.at[class(r)] |= 1 << k
			if k > 0 {
				w.grams = append(w.grams, gram(q[k-1], r))
			}
		}
		sc.setQuery(q)
		sc.grams = w.grams
		if pl == nil {
			if p, ok := g.plan(q, d); ok {
				pl = &p
			}
		}
		if pl != nil && pl.n > 0 {
			w.h, w.a = int32(pl.h), int32(pl.a)
			w.candidates(*pl)
		}
	}
	root := item{best: w.inf, head: w.h == 0}
	if w.m <= w.d {
		root.best = w.m
	}
	for k := range w.w {
		j := k - w.d
		root.row[k] = int8(w.inf)
		if j >= 0 && j <= w.m {
			root.row[k] = int8(j)
		}
	}
	front := append(sc.level[:0], root)
	next := sc.below[:0]
	for i := int32(1); len(front) > 0; i++ {
		next = next[:0]
		for idx := range front {
			next = w.expand(&front[idx], i, next)
		}
		front, next = next, front
	}
	sc.level, sc.below = front, next
}

// expand moves it one rune deeper (to depth i): along its node's edge, or into each
// child at the node's end. Paths that can no longer match are dropped, subtrees that
// match whole are collected, and the rest go to next.
func (w *walker) expand(it *item, i int32, next []item) []item {
	t := &w.g.tree[it.v]
	edge := t.depth - (i - 1 - it.k) // the length of it.v's edge
	if it.k < edge {
		c := t.first
		switch {
		case it.k == 1:
			c = t.second
		case it.k > 1:
			c = w.g.runes[t.label+it.k]
		}
		return w.consider(it, it.v, it.k+1, edge, i, c, next)
	}
	firsts := w.g.firsts[t.child : t.child+t.nchild]
	if it.best > w.d && w.spent(&it.row, i-1) {
		// Every live cell has spent the budget, so the path can only go on with the
		// query rune after one of them.
		return w.targeted(it, t, firsts, i, w.m, w.d, next)
	}
	if !it.head && w.headSpent(&it.row, i-1) {
		// Likewise for the edits the walk allows in the query's head.
		return w.targeted(it, t, firsts, i, w.h, w.a, next)
	}
	nexts := w.g.nexts[t.child : t.child+t.nchild]
	for k, c := range firsts {
		var row [width]int8
		rowMin, whole := w.row(&row, &it.row, i, c)
		if rowMin > w.d {
			continue
		}
		if rowMin == w.d && min(it.best, whole) > w.d && w.need(&row, i)&nexts[k] == 0 {
			continue // every live cell needs the next query rune, and it cannot come
		}
		ch := t.child + int32(k)
		next = w.keep(it, ch, 1, w.g.tree[ch].depth-t.depth, i, &row, rowMin, whole, next)
	}
	return next
}

// targeted steps it, at the end of node t, into the children whose first rune is the
// query rune after a cell of its row (at depth i-1) that holds v, for columns before
// end: when no cell before end holds less, any other rune takes them all past v.
func (w *walker) targeted(it *item, t *tnode, firsts []rune, i, end, v int32,
	next []item) []item {
	var seen [width]rune
	n := 0
	for k := range w.w {
		j := i - 1 - w.d + k
		if j < 0 || j >= end || int32(it.row[k]) != v || slices.Contains(seen[:n], w.q[j]) {
			continue
		}
		seen[n] = w.q[j]
		n++
		if x, ok := slices.BinarySearch(firsts, w.q[j]); ok {
			next = w.child(it, t, t.child+int32(x), i, w.q[j], next)
		}
	}
	return next
}

// headSpent reports whether no cell of row i before column h holds less than a.
func (w *walker) headSpent(row *[width]int8, i int32) bool {
	for k := range w.w {
		if j := i - w.d + k; j >= 0 && j < w.h && int32(row[k]) < w.a {
			return false
		}
	}
	return true
}

// child steps it into child ch of t by its first rune c.
func (w *walker) child(it *item, t *tnode, ch, i int32, c rune, next []item) []item {
	var row [width]int8
	rowMin, whole := w.row(&row, &it.row, i, c)
	if rowMin > w.d {
		return next
	}
	return w.keep(it, ch, 1, w.g.tree[ch].depth-t.depth, i, &row, rowMin, whole, next)
}

// spent reports whether every cell of row i within the query holds d or more.
func (w *walker) spent(row *[width]int8, i int32) bool {
	for k := range w.w {
		if j := i - w.d + k; j <= w.m && int32(row[k]) < w.d {
			return false
		}
	}
	return true
}

// consider steps it by rune c into node v, having then consumed k of its edge's runes.
func (w *walker) consider(it *item, v, k, edge, i int32, c rune, next []item) []item {
	var row [width]int8
	rowMin, whole := w.row(&row, &it.row, i, c)
	if rowMin > w.d {
		return next
	}
	return w.keep(it, v, k, edge, i, &row, rowMin, whole, next)
}

// keep judges the path it extended to row (at depth i, k runes into node v's edge) and
// appends it to next while it can still lead to a match.
func (w *walker) keep(it *item, v, k, edge, i int32, row *[width]int8, rowMin, whole int32,
	next []item) []item {
	t := &w.g.tree[v]
	best := min(it.best, whole)
	bound := rowMin
	if miss := w.missing(t); miss != 0 || t.maxLen < w.m+w.d {
		bound = w.bound(row, i, miss, t)
	}
	// Nothing below can do better than bound: when best is already as good, the whole
	// subtree matches at best.
	if best <= w.d && bound >= best {
		w.collect(t.lo, t.hi, best)
		return next
	}
	// ahead describes the runes after an edge's first, so it judges a path just
	// entering v.
	if bound > w.d || k == 1 && rowMin == w.d-1 && best > w.d && !w.viable(row, i, &t.ahead) {
		return next
	}
	if best > w.d && int(v) < len(w.g.grams) && !w.pairs(row, i, &w.g.grams[v]) {
		return next
	}
	head := it.head || w.head(row, i)
	if !head && w.headLost(row, i) {
		return next
	}
	if k == edge && best <= w.d && t.lo < t.term {
		w.collect(t.lo, t.term, best)
	}
	return append(next, item{v: v, k: k, best: best, row: *row, head: head})
}

// head reports whether row i holds a value within a at column h.
func (w *walker) head(row *[width]int8, i int32) bool {
	k := w.h - i + w.d
	return k >= 0 && k < w.w && int32(row[k]) <= w.a
}

// headLost reports whether no extension of the path can bring column h within a: every
// cell of row i up to column h exceeds a.
func (w *walker) headLost(row *[width]int8, i int32) bool {
	for k := int32(0); k <= min(w.h-i+w.d, w.w-1); k++ {
		if int32(row[k]) <= w.a {
			return false
		}
	}
	return true
}

// row computes row i of the table into cur from prev, the last path rune being c, and
// returns its least cell and its value for the whole query (inf when out of the band).
// Cells beyond the query's end get values too, which never feed cells within it and
// are left out of the results.
func (w *walker) row(cur, prev *[width]int8, i int32, c rune) (rowMin, whole int32) {
	kmax := w.m - i + w.d // cells past kmax lie beyond the query
	if kmax < 0 {
		return w.inf, w.inf
	}
	var match uint64 // bit k: cell k's query rune is c
	if w.qmask != 0 {
		pos := w.sc.positions(c)
		if s := i - w.d - 1; s >= 0 {
			match = pos >> uint(s)
		} else {
			match = pos << uint(-s)
		}
	} else {
		for k := range w.w {
			if j := i - w.d + k; j >= 1 && j <= w.m && w.q[j-1] == c {
				match |= 1 << k
			}
		}
	}
	left := w.inf
	rowMin = w.inf
	for k := range w.w {
		j := i - w.d + k
		var v int32
		switch {
		case j < 0:
			v = w.inf
		case j == 0:
			v = i
		default:
			v = int32(prev[k]) + 1 - int32(match>>k&1)
			if k+1 < w.w {
				v = min(v, int32(prev[k+1])+1)
			}
			v = min(v, left+1, w.inf)
		}
		cur[k], left = int8(v), v
		if k <= kmax {
			rowMin = min(rowMin, v)
		}
	}
	whole = w.inf
	if kmax < w.w {
		whole = int32(cur[kmax])
	}
	return rowMin, whole
}

// need returns the class bits of the query runes that must come next for an exact
// continuation from a cell of row that holds d.
func (w *walker) need(row *[width]int8, i int32) uint64 {
	var need uint64
	for k := range w.w {
		if j := i - w.d + k; int32(row[k]) == w.d && j < w.m {
			need |= 1 << class(w.q[j])
		}
	}
	return need
}

// viable reports whether a path can go on from row i to a match, judged by the runes
// that may come next (see tnode.ahead). A cell that holds d must be followed by the
// query rune after it; a cell that holds d-1 must see one of the next two query runes
// within three runes (of those two, one is matched, at most one edit away). Cells that
// hold less, or that can still reach the query's end by deletions, are not judged.
func (w *walker) viable(row *[width]int8, i int32, ahead *[2]uint64) bool {
	for k := range w.w {
		j := i - w.d + k
		r := w.d - int32(row[k])
		switch {
		case r < 0 || j > w.m:
		case r >= 2 || w.m-j <= r:
			return true
		case r == 0 && ahead[0]&(1<<class(w.q[j])) != 0:
			return true
		case r == 1 && ahead[1]&(1<<class(w.q[j])|1<<class(w.q[j+1])) != 0:
			return true
		}
	}
	return false
}

// pairs reports whether the rune pairs below a node leave row i a way to a match. A
// query rest of n runes aligned with at most r edits keeps at least n-1-2r of its n-1
// rune pairs (an edit breaks two at most), and those must occur below the node.
func (w *walker) pairs(row *[width]int8, i int32, set *[gramWords]uint64) bool {
	if len(w.grams) == 0 {
		return true
	}
	var present uint64 // bit p: the pair at query position p occurs below
	for p, b := range w.grams {
		present |= (set[b/64] >> (b % 64) & 1) << p
	}
	for k := range w.w {
		j := i - w.d + k
		r := w.d - int32(row[k])
		if r < 0 || j > w.m {
			continue
		}
		if int32(bits.OnesCount64(present>>j)) >= w.m-j-1-2*r {
			return true
		}
	}
	return false
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
func (w *walker) bound(row *[width]int8, i int32, miss uint64, t *tnode) int32 {
	b := w.inf
	for k := range w.w {
		v := int32(row[k])
		j := i - w.d + k
		if v >= b || j > w.m {
			continue
		}
		extra := max(int32(bits.OnesCount64(miss>>j)), (w.m-j)-(t.maxLen-i))
		b = min(b, v+extra)
	}
	return b
}

// collect records entries lo..hi of the segment as matching at distance d.
func (w *walker) collect(lo, hi, d int32) {
	for _, e := range w.g.entries[lo:hi] {
		w.sc.match(e.owner, uint8(d))
	}
}
