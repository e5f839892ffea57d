package matcher

import "sync"

// automaton is the universal Levenshtein automaton for one distance d: its states are
// the rows of the banded edit-distance table (w = 2d+1 cells, values 0 to d+1, where d+1
// stands for anything larger), and its input is the match vector of a rune against the
// w query runes under the band. It makes a step of the table walk two array reads.
//
// A row maps to the next one the same way at every depth as long as the band lies
// inside the table; the first d rows, where it does not, are computed directly.
type automaton struct {
	d, w int
	id   []int32 // packed row (see pack) to state, -1 for rows that are not states
	rows []autoRow
	next []uint16 // next[s<<w | match] is the state after a step
}

// autoRow is a state: its cells and the minimum of each prefix of them.
type autoRow struct {
	v      [2*MaxDistance + 1]int32
	prefix [2*MaxDistance + 2]int32 // prefix[t] is the least of v[:t]; prefix[0] = d+1
}

var automata [MaxDistance + 1]struct {
	once sync.Once
	a    *automaton
}

// automatonFor returns the automaton for distance d, building it on first use.
func automatonFor(d int) *automaton {
	e := &automata[d]
	e.once.Do(func() { e.a = buildAutomaton(d) })
	return e.a
}

// buildAutomaton enumerates every row whose neighbouring cells differ by at most one,
// which every row of the table does, and the step from each on each match vector.
func buildAutomaton(d int) *automaton {
	a := &automaton{d: d, w: 2*d + 1}
	base := d + 2
	size := 1
	for range a.w {
		size *= base
	}
	a.id = make([]int32, size)
	for i := range a.id {
		a.id[i] = -1
	}
	var row [2*MaxDistance + 1]int32
	var gen func(k int)
	gen = func(k int) {
		if k == a.w {
			a.add(row)
			return
		}
		for v := int32(0); v <= int32(d+1); v++ {
			if k > 0 && (v > row[k-1]+1 || v < row[k-1]-1) {
				continue
			}
			row[k] = v
			gen(k + 1)
		}
	}
	gen(0)
	a.next = make([]uint16, len(a.rows)<<a.w)
	for s := range a.rows {
		for match := range 1 << a.w {
			a.next[s<<a.w|match] = uint16(a.id[a.pack(a.step(&a.rows[s].v, match))])
		}
	}
	return a
}

// add makes row a state.
func (a *automaton) add(v [2*MaxDistance + 1]int32) {
	r := autoRow{v: v}
	r.prefix[0] = int32(a.d + 1)
	for k := range a.w {
		r.prefix[k+1] = min(r.prefix[k], v[k])
	}
	a.id[a.pack(v)] = int32(len(a.rows))
	a.rows = append(a.rows, r)
}

// pack numbers a row in base d+2.
func (a *automaton) pack(v [2*MaxDistance + 1]int32) int {
	key := 0
	for k := a.w - 1; k >= 0; k-- {
		key = key*(a.d+2) + int(v[k])
	}
	return key
}

// step computes the next row: cell k (column j) from the previous row's cells k (column
// j-1) and k+1 (column j) and this row's cell k-1, as walker.row does inside the table.
func (a *automaton) step(prev *[2*MaxDistance + 1]int32, match int) [2*MaxDistance + 1]int32 {
	inf := int32(a.d + 1)
	var cur [2*MaxDistance + 1]int32
	for k := range a.w {
		v := prev[k] + 1
		if match>>k&1 != 0 {
			v = prev[k]
		}
		if k+1 < a.w {
			v = min(v, prev[k+1]+1)
		}
		if k > 0 {
			v = min(v, cur[k-1]+1)
		}
		cur[k] = min(v, inf)
	}
	return cur
}
