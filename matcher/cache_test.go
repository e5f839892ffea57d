package matcher

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/uuid"
)

// Cached match sets give the same results as the definition while providers come and
// go between repeats of the same queries: the cache keeps what matched, and every
// search ranks it with the counts of the moment.
func TestSearchCacheFollowsPool(t *testing.T) {
	c, p, all := sampleWorld(t, 400, 2000, 11)
	s := c.snap.Load()
	g := newQueryGen(13, s)
	r := rand.New(rand.NewPCG(13, 14))
	nets := []uuid.UUID{uuid.Nil, all[0].NetworkID}
	var qs []Query
	for len(qs) < 60 {
		q := g.query(g.next())
		q.Limit = []int{0, 3, 20}[r.IntN(3)]
		q.Filter = Filter{NetworkID: nets[r.IntN(2)]}
		qs = append(qs, q)
	}
	for round := range 3 {
		for _, q := range qs {
			want := bruteSearch(c, all, q)
			if got := resultLines(p.Search(q), want); !slices.Equal(got, want) {
				t.Fatalf("round %d, query %+v:\n got %v\nwant %v", round, q, got, want)
			}
		}
		if len(s.cache.sets) == 0 {
			t.Fatal("no match set was cached")
		}
		// Move a third of the providers elsewhere and drop another third.
		kept := all[:0]
		for i, pr := range all {
			switch i % 3 {
			case 0:
				pr.LocationID = all[r.IntN(len(all))].LocationID
				mustSet(t, p, pr)
			case 1:
				p.Remove(pr.ClientID)
				continue
			}
			kept = append(kept, pr)
		}
		all = kept
	}
}

// The cache keeps within its budget and leaves out sets too large to pay.
func TestMatchCacheBounds(t *testing.T) {
	defer func(b int) { cacheBudget = b }(cacheBudget)
	cacheBudget = 100
	var c matchCache
	set := func(n int) *matchSet {
		return &matchSet{matches: make([]match, n)}
	}
	c.put(cacheKey{text: "huge"}, set(cacheMaxNodes+1))
	if c.get(cacheKey{text: "huge"}) != nil {
		t.Fatal("a set above cacheMaxNodes was cached")
	}
	for i := range 50 {
		k := cacheKey{text: "q", limit: i}
		c.put(k, set(7))
		if c.get(k) == nil {
			t.Fatalf("entry %d was not kept", i)
		}
		total := 0
		for _, m := range c.sets {
			total += len(m.matches)
		}
		if total != c.nodes || c.nodes > cacheBudget {
			t.Fatalf("after %d puts: %d nodes held, %d counted, budget %d", i+1, total,
				c.nodes, cacheBudget)
		}
	}
}
