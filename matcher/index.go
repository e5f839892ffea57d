package matcher

import (
	"slices"
	"sort"
	"strings"
)

// segment is an immutable search index over the names of some nodes: every word-aligned
// suffix of every name, sorted, with a radix tree over them. A tree node covers a range
// of the sorted suffixes that share its path, so a whole subtree is a slice of entries.
type segment struct {
	runes   []rune
	entries []entry  // word-aligned suffixes of all names, sorted
	tree    []tnode  // breadth first; tree[0] is the root, at depth 0
	firsts  []rune   // tree[v].first, packed for scanning and searching children
	nexts   []uint64 // tree[v].ahead[0], packed likewise
	// grams[v], for the upper nodes, is a 512-bit set of the hashed rune pairs (see
	// gram) on v's edge and below it, from the edge's start.
	grams [][gramWords]uint64
	// prim has the entries of the nodes' own names, sorted, and alias those of their
	// other primary names (a country's code, a group's aliases): a query that is a
	// prefix of either matches exactly.
	prim, alias []entry
	maxLen      int // longest suffix, in runes
	pos         *posIndex
}

// entry is one suffix: runes[off:off+n] of its segment, a suffix of a name of owner.
type entry struct {
	off, n int32
	owner  int32
}

// tnode is a radix tree node at depth runes from the root, sized to one cache line:
// a search pays for memory, not arithmetic, so what it needs of a node sits together.
// Entries lo..hi lie below the node and those before term end at it. Its children are
// tree[child:child+nchild], sorted by first rune. Its edge from the parent is
// runes[label:label+depth-parent's depth]; first and second are the edge's first two
// runes (second is the one after first on any path, when the edge has one rune and a
// single child; otherwise 0). mask has a bit for every rune class (see class) on the
// edge or below it, and maxLen is the length of the longest entry below. ahead has the
// classes of the runes that can follow first: [0] right after it, [1] one to three
// runes after it.
type tnode struct {
	lo, hi, term  int32
	depth         int32
	child, nchild int32
	label         int32
	maxLen        int32
	first, second rune
	mask          uint64
	ahead         [2]uint64
}

// Rune-pair sets are kept for the first gramNodes nodes, the upper levels of the tree,
// where a search explores the most paths.
const (
	gramWords = 8
	gramNodes = 1 << 17
)

// gram hashes the rune pair a, b to a bit of a pair set.
func gram(a, b rune) uint32 {
	return uint32(uint64(uint32(a)<<16^uint32(b))*0x9E3779B97F4A7C15>>55) % (gramWords * 64)
}

// class maps a rune to one of 64 classes: letters a to z, digits, space, and hashed
// buckets for everything else.
func class(r rune) uint {
	switch {
	case r >= 'a' && r <= 'z':
		return uint(r - 'a')
	case r >= '0' && r <= '9':
		return 26 + uint(r-'0')
	case r == ' ':
		return 36
	}
	return 37 + uint(r)%27
}

// names returns the normalized names of node n: primary names (its own name, a
// country's code, a group's aliases), of which a query that is a prefix matches exactly,
// and context names ("city region", "city country", "region country" and the country
// code of a city or region), which let a query name a location through its parents.
func names(nodes []node, n int32) (primary, context []string) {
	nd := &nodes[n]
	primary = append(primary, nd.norm)
	switch nd.kind {
	case kindGroup:
		for _, a := range groupDefs[nd.country].aliases {
			primary = append(primary, Normalize(a))
		}
		return primary, nil
	case kindCountry:
		return append(primary, strings.ToLower(nd.code)), nil
	}
	if p := &nodes[nd.parent]; p.kind == kindRegion {
		context = append(context, nd.norm+" "+p.norm)
	}
	context = append(context, nd.norm+" "+nodes[nd.country].norm, strings.ToLower(nd.code))
	return primary, context
}

// wordStarts calls fn with the index of every word start of the normalized name nm.
func wordStarts(nm []rune, fn func(i int)) {
	for i := range nm {
		if i == 0 || nm[i-1] == ' ' {
			fn(i)
		}
	}
}

// buildSegment indexes the names of owners.
func buildSegment(nodes []node, owners []int32) *segment {
	g := &segment{}
	var all, prim []entry
	for _, o := range owners {
		primary, context := names(nodes, o)
		all, prim = all[:0], prim[:0]
		own := int32(len(g.runes))
		for i, nm := range slices.Concat(primary, context) {
			off := int32(len(g.runes))
			for _, r := range nm {
				g.runes = append(g.runes, r)
			}
			rs := g.runes[off:]
			wordStarts(rs, func(w int) {
				e := entry{off: off + int32(w), n: int32(len(rs) - w), owner: o}
				all = append(all, e)
				if i < len(primary) && w == 0 {
					prim = append(prim, e)
				}
				g.maxLen = max(g.maxLen, int(e.n))
			})
		}
		g.entries = append(g.entries, g.essential(all)...)
		for _, e := range g.essential(prim) {
			if e.off == own {
				g.prim = append(g.prim, e)
			} else {
				g.alias = append(g.alias, e)
			}
		}
	}
	g.sort(g.entries)
	g.sort(g.prim)
	g.sort(g.alias)
	g.buildTree()
	g.pos = buildPosIndex(g)
	return g
}

// essential sorts the suffixes of one owner and drops each that is a prefix of another:
// its prefixes are the other's prefixes too, so it cannot change a distance.
func (g *segment) essential(es []entry) []entry {
	g.sort(es)
	out := es[:0]
	for i, e := range es {
		if i+1 < len(es) && g.hasPrefix(es[i+1], g.text(e)) {
			continue
		}
		out = append(out, e)
	}
	return out
}

// sort orders entries by text, then owner.
func (g *segment) sort(es []entry) {
	slices.SortFunc(es, func(a, b entry) int {
		if c := slices.Compare(g.text(a), g.text(b)); c != 0 {
			return c
		}
		return int(a.owner - b.owner)
	})
}

// text returns the runes of e.
func (g *segment) text(e entry) []rune {
	return g.runes[e.off : e.off+e.n]
}

// hasPrefix reports whether e's text starts with p.
func (g *segment) hasPrefix(e entry, p []rune) bool {
	return int(e.n) >= len(p) && slices.Equal(g.runes[e.off:e.off+int32(len(p))], p)
}

// at returns rune k of e.
func (g *segment) at(e entry, k int32) rune {
	return g.runes[e.off+k]
}

// buildTree builds the radix tree over the sorted entries breadth first, so that the
// upper levels, which every search visits, sit together in memory.
func (g *segment) buildTree() {
	g.tree = make([]tnode, 1, len(g.entries)+len(g.entries)/2+1)
	if len(g.entries) == 0 {
		return
	}
	type job struct{ v, lo, hi, pd int32 }
	queue := []job{{0, 0, int32(len(g.entries)), 0}}
	var bounds []int32
	for len(queue) > 0 {
		j := queue[0]
		queue = queue[1:]
		bounds = g.fill(j.v, j.lo, j.hi, j.pd, bounds[:0])
		child, depth := g.tree[j.v].child, g.tree[j.v].depth
		for k, b := range bounds {
			end := j.hi
			if k+1 < len(bounds) {
				end = bounds[k+1]
			}
			queue = append(queue, job{child + int32(k), b, end, depth})
		}
	}
	g.tree = slices.Clone(g.tree) // give back the room reserved for the worst case
	// Children come after their parent, so a backward pass sees them first. at[v][p]
	// has the classes of the runes p places after the first rune of v's edge.
	at := make([][4]uint64, len(g.tree))
	grams := make([][gramWords]uint64, len(g.tree))
	g.firsts = make([]rune, len(g.tree))
	g.nexts = make([]uint64, len(g.tree))
	for v := len(g.tree) - 1; v >= 0; v-- {
		t := &g.tree[v]
		edge := g.runes[t.label : t.label+t.depth-(t.label-g.entries[t.lo].off)]
		for _, r := range edge {
			t.mask |= 1 << class(r)
		}
		for p := range 4 {
			if p < len(edge) {
				at[v][p] = 1 << class(edge[p])
				continue
			}
			for _, c := range at[t.child : t.child+t.nchild] {
				at[v][p] |= c[p-len(edge)]
			}
		}
		t.ahead = [2]uint64{at[v][1], at[v][1] | at[v][2] | at[v][3]}
		g.firsts[v], g.nexts[v] = t.first, t.ahead[0]
		if len(edge) >= 2 {
			t.second = edge[1]
		}
		if t.term > t.lo {
			t.maxLen = t.depth
		}
		for _, c := range g.tree[t.child : t.child+t.nchild] {
			t.mask |= c.mask
			t.maxLen = max(t.maxLen, c.maxLen)
		}
		for k := 1; k < len(edge); k++ {
			b := gram(edge[k-1], edge[k])
			grams[v][b/64] |= 1 << (b % 64)
		}
		for ch := t.child; ch < t.child+t.nchild; ch++ {
			if len(edge) > 0 {
				b := gram(edge[len(edge)-1], g.tree[ch].first)
				grams[v][b/64] |= 1 << (b % 64)
			}
			for x := range gramWords {
				grams[v][x] |= grams[ch][x]
			}
		}
	}
	g.grams = slices.Clone(grams[:min(len(grams), gramNodes)])
}

// fill makes node v the one over entries lo..hi, which share their first pd runes (the
// parent's depth), appends slots for its children and returns their first entries in
// bounds. The root keeps depth 0 so that every search starts from an empty path.
func (g *segment) fill(v, lo, hi, pd int32, bounds []int32) []int32 {
	first, last := g.entries[lo], g.entries[hi-1]
	depth := pd
	// The entries are sorted, so when the first and last agree at depth all between do.
	for v > 0 && first.n > depth && last.n > depth && g.at(first, depth) == g.at(last, depth) {
		depth++
	}
	t := lo
	for t < hi && g.entries[t].n == depth {
		t++
	}
	for i := t; i < hi; {
		c := g.at(g.entries[i], depth)
		end := i + int32(sort.Search(int(hi-i), func(k int) bool {
			return g.at(g.entries[i+int32(k)], depth) > c
		}))
		bounds = append(bounds, i)
		i = end
	}
	g.tree[v] = tnode{
		lo: lo, hi: hi, term: t, depth: depth, child: int32(len(g.tree)),
		nchild: int32(len(bounds)), label: first.off + pd,
	}
	if depth > pd {
		g.tree[v].first = g.at(first, pd)
	}
	g.tree = append(g.tree, make([]tnode, len(bounds))...)
	return bounds
}

// prefixRange returns the range of sorted entries es whose text starts with q.
func (g *segment) prefixRange(es []entry, q []rune) (lo, hi int) {
	cmp := func(e entry) int { // <0: e before the range, 0: in it, >0: after it
		t := g.text(e)
		if len(t) > len(q) {
			t = t[:len(q)]
		}
		return slices.Compare(t, q)
	}
	lo = sort.Search(len(es), func(i int) bool { return cmp(es[i]) >= 0 })
	hi = lo + sort.Search(len(es)-lo, func(i int) bool { return cmp(es[lo+i]) > 0 })
	return lo, hi
}
