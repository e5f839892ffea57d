package matcher

import (
	"sync"
)

// Users type the same places again and again, so a pool search keeps the matches of
// recent queries: which nodes a query finds and at what distance depends only on the
// catalog snapshot, the normalized text, the allowed distance and the limit, not on
// the providers, as long as the search does not ask for available ones only (where
// the counts decide how far the search widens). A cached entry holds that set; each
// search still ranks it with the counts of the moment, so results are the same as
// without the cache. Each snapshot has its own cache, so adding locations starts an
// empty one.
//
// cacheMaxNodes bounds the nodes of one entry: larger sets cost more to rank than a
// cache saves, and would crowd out the rest. cacheBudget bounds the nodes of all
// entries of one snapshot (16 bytes each); tests lower it.
const cacheMaxNodes = 4096

var cacheBudget = 1 << 20

// cacheKey identifies a cacheable search.
type cacheKey struct {
	text  string
	d     int
	limit int
}

// matchSet is the result of a search before ranking: the nodes found with what ranking
// needs of them apart from their provider counts.
type matchSet struct {
	matches []match
}

// match is a node found by a search: its distance, whether it matched exactly, and its
// rank in name order (see snapshot.rank).
type match struct {
	rank  uint64
	node  int32
	dist  uint8
	exact bool
}

// matchCache is a bounded map of match sets, safe for concurrent use. When full, it
// drops entries at random (Go's map order) until the new one fits.
type matchCache struct {
	mu    sync.Mutex
	sets  map[cacheKey]*matchSet
	nodes int
}

func (c *matchCache) get(k cacheKey) *matchSet {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sets[k]
}

func (c *matchCache) put(k cacheKey, m *matchSet) {
	if len(m.matches) > cacheMaxNodes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sets == nil {
		c.sets = map[cacheKey]*matchSet{}
	}
	if old, ok := c.sets[k]; ok {
		c.nodes -= len(old.matches)
	}
	for k2, old := range c.sets {
		if c.nodes+len(m.matches) <= cacheBudget {
			break
		}
		delete(c.sets, k2)
		c.nodes -= len(old.matches)
	}
	c.sets[k] = m
	c.nodes += len(m.matches)
}

// save returns the nodes matched in sc's current epoch as a match set; exact is the
// epoch of the exact matches.
func (s *snapshot) save(sc *scratch, exact uint32) *matchSet {
	ms := &matchSet{matches: make([]match, len(sc.touched))}
	for i, o := range sc.touched {
		ms.matches[i] = matchOf(s, sc, o, exact)
	}
	return ms
}
