package matcher

import (
	"slices"
	"sort"
	"strings"
)

// segment is an immutable search index over the names of some nodes: every word-aligned
// suffix of every name, sorted, with a radix tree over them. A tree node covers a range
// of the sorted suffixes that share its path, so a whole subtree is a slice of entries.
// The tree is stored in three parallel slices so that a search reads only what it needs:
// the first rune of each edge, the fields that steer the walk, and the entry ranges.
type segment struct {
	runes   []rune
	entries []entry // word-aligned suffixes of all names, sorted
	tree    []tnode // tree[0] is the root, at depth 0
	spans   []tspan
	firsts  []rune  // first rune of each node's edge
	prim    []entry // primary names, sorted
	maxLen  int     // longest suffix, in runes
}

// entry is one suffix: runes[off:off+n] of its segment, a suffix of a name of owner.
type entry struct {
	off, n int32
	owner  int32
}

// tnode is a radix tree node at depth runes from the root. Its children are
// tree[child:child+nchild], sorted by first rune. mask has a bit for every rune class
// (see class) that occurs on the node's edge or below it, and maxLen is the length of
// the longest entry below, so that a search can tell what the rest of a path can still
// match.
// The edge from the parent is runes[label:label+depth-parent's depth].
type tnode struct {
	depth         int32
	child, nchild int32
	maxLen        int32
	label         int32
	mask          uint64
}

// tspan holds where a node's entries are: entries lo..hi lie below it, and those before
// term end at it.
type tspan struct {
	lo, hi, term int32
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
		g.prim = append(g.prim, g.essential(prim)...)
	}
	g.sort(g.entries)
	g.sort(g.prim)
	g.buildTree()
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
	g.spans = make([]tspan, 1, cap(g.tree))
	g.firsts = make([]rune, 1, cap(g.tree))
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
	// Children come after their parent, so a backward pass sees them first.
	for v := len(g.tree) - 1; v >= 0; v-- {
		t, sp := &g.tree[v], &g.spans[v]
		pd := t.label - g.entries[sp.lo].off
		for _, r := range g.runes[t.label : t.label+t.depth-pd] {
			t.mask |= 1 << class(r)
		}
		if sp.term > sp.lo {
			t.maxLen = t.depth
		}
		for _, c := range g.tree[t.child : t.child+t.nchild] {
			t.mask |= c.mask
			t.maxLen = max(t.maxLen, c.maxLen)
		}
	}
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
		depth: depth, child: int32(len(g.tree)), nchild: int32(len(bounds)), label: first.off + pd,
	}
	g.spans[v] = tspan{lo: lo, hi: hi, term: t}
	if depth > pd {
		g.firsts[v] = g.at(first, pd)
	}
	g.tree = append(g.tree, make([]tnode, len(bounds))...)
	g.spans = append(g.spans, make([]tspan, len(bounds))...)
	g.firsts = append(g.firsts, make([]rune, len(bounds))...)
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
