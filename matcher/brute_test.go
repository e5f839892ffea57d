package matcher

import (
	"maps"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/agnivade/levenshtein"
)

// bruteMatches computes the package's distance by its definition: for every node, the
// least Levenshtein distance (agnivade/levenshtein, by runes) between q and a prefix of a
// word-aligned suffix of one of its names. Prefixes whose length differs from q's by
// more than d are skipped, since their distance exceeds d; the result holds every node
// within d and its exact distance.
func bruteMatches(s *snapshot, q string, d int) map[int32]int {
	return bruteMatchesOn(s, q, d, runtime.GOMAXPROCS(0))
}

// bruteMatchesOn is bruteMatches on the given number of goroutines.
func bruteMatchesOn(s *snapshot, q string, d, workers int) map[int32]int {
	m := utf8.RuneCountInString(q)
	parts := make([]map[int32]int, workers)
	var wg sync.WaitGroup
	for w := range workers {
		parts[w] = map[int32]int{}
		wg.Go(func() {
			for n := w; n < len(s.nodes); n += workers {
				if best := bruteDistance(s, int32(n), q, m, d); best <= d {
					parts[w][int32(n)] = best
				}
			}
		})
	}
	wg.Wait()
	out := parts[0]
	for _, p := range parts[1:] {
		maps.Copy(out, p)
	}
	return out
}

// bruteDistance returns node n's distance from q (of m runes), or d+1 when above d.
func bruteDistance(s *snapshot, n int32, q string, m, d int) int {
	primary, context := names(s.nodes, n)
	best := d + 1
	for _, name := range append(primary, context...) {
		rs := []rune(name)
		for w := range rs {
			if w > 0 && rs[w-1] != ' ' {
				continue
			}
			suffix := rs[w:]
			for l := max(0, m-d); l <= min(len(suffix), m+d); l++ {
				best = min(best, levenshtein.ComputeDistance(q, string(suffix[:l])))
			}
		}
	}
	return best
}

// bruteExact reports whether q is a prefix of a primary name of node n.
func bruteExact(s *snapshot, q string, n int32) bool {
	primary, _ := names(s.nodes, n)
	for _, name := range primary {
		if strings.HasPrefix(name, q) {
			return true
		}
	}
	return false
}

// queryGen makes random queries shaped like what users type: pieces of real names with
// typos, accents and case changes, and some random text.
type queryGen struct {
	r     *rand.Rand
	s     *snapshot
	extra []rune
}

func newQueryGen(seed uint64, s *snapshot) *queryGen {
	return &queryGen{
		r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), s: s,
		extra: []rune("abcdefghijklmnopqrstuvwxyz  '-éüñøłßÅмосквაბ東京ق0123"),
	}
}

// next returns a query.
func (g *queryGen) next() string {
	if g.r.IntN(10) == 0 {
		n := 1 + g.r.IntN(14)
		rs := make([]rune, n)
		for i := range rs {
			rs[i] = g.extra[g.r.IntN(len(g.extra))]
		}
		return string(rs)
	}
	n := int32(g.r.IntN(len(g.s.nodes)))
	primary, context := names(g.s.nodes, n)
	all := append(primary, context...)
	rs := []rune(all[g.r.IntN(len(all))])
	var starts []int
	for w := range rs {
		if w == 0 || rs[w-1] == ' ' {
			starts = append(starts, w)
		}
	}
	rs = rs[starts[g.r.IntN(len(starts))]:]
	rs = rs[:1+g.r.IntN(len(rs))]
	for range g.r.IntN(4) {
		rs = g.typo(rs)
	}
	q := string(rs)
	switch g.r.IntN(6) {
	case 0:
		q = strings.ToUpper(q)
	case 1:
		q = strings.ReplaceAll(q, "e", "é")
	case 2:
		q = " " + strings.ReplaceAll(q, " ", ", ") + "!"
	}
	return q
}

// typo applies one random edit.
func (g *queryGen) typo(rs []rune) []rune {
	i := g.r.IntN(len(rs) + 1)
	c := g.extra[g.r.IntN(len(g.extra))]
	switch op := g.r.IntN(4); {
	case op == 0 || len(rs) == 0 || i == len(rs):
		return append(rs[:i:i], append([]rune{c}, rs[i:]...)...)
	case op == 1:
		return append(rs[:i:i], rs[i+1:]...)
	case op == 2:
		out := append([]rune(nil), rs...)
		out[i] = c
		return out
	case i+1 < len(rs):
		out := append([]rune(nil), rs...)
		out[i], out[i+1] = out[i+1], out[i]
		return out
	}
	return rs
}

// query returns a random Query around text.
func (g *queryGen) query(text string) Query {
	q := Query{Text: text}
	if g.r.IntN(3) == 0 {
		q.EnableMaxDistanceFraction = true
		q.MaxDistanceFraction = []float64{0, 0.1, 0.2, 0.25, 0.34, 0.5, 1, 2}[g.r.IntN(8)]
	}
	return q
}

// checkMatches compares the index with the definition for one query.
func checkMatches(t *testing.T, s *snapshot, q Query) {
	t.Helper()
	text := Normalize(q.Text)
	d := q.AllowedDistance()
	got := s.matches([]rune(text), d)
	want := bruteMatches(s, text, d)
	for n, wd := range want {
		if gd, ok := got[n]; !ok || gd != wd {
			t.Fatalf("query %q (d=%d): kind %d %q: index distance %d (found %v), definition %d",
				text, d, s.nodes[n].kind, s.nodes[n].name, gd, ok, wd)
		}
	}
	for n, gd := range got {
		if _, ok := want[n]; !ok {
			t.Fatalf("query %q (d=%d): index matches %q at %d, definition does not",
				text, d, s.nodes[n].name, gd)
		}
	}
}
