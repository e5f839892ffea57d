package matcher

import (
	"cmp"
	"encoding/binary"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"sync"

	"github.com/google/uuid"
)

// Spec names providers to sample from: those at a location (with its regions and
// cities), those in a location group, or one client. The fields that are set are
// unioned; an id that names nothing contributes nothing.
type Spec struct {
	LocationID      uuid.UUID
	LocationGroupID uuid.UUID
	ClientID        uuid.UUID
}

// SampleRequest asks for Count distinct providers from the union of Specs, visible under
// Filter and not in Exclude.
type SampleRequest struct {
	Specs   []Spec
	Count   int
	Exclude []uuid.UUID
	Filter  Filter
	// Rand is the source of randomness; nil uses the runtime's generator. A Rand is not
	// safe for concurrent use, so each concurrent caller needs its own.
	Rand *rand.Rand
}

// Sample returns up to r.Count distinct client ids drawn at random from the providers of
// r.Specs that r.Filter sees, none of them in r.Exclude; fewer when fewer exist. Each
// pick is uniform among the providers not yet picked or excluded when their weights are
// equal, and proportional to weight otherwise (successive sampling without
// replacement). The order of the result is the order of the picks.
//
// The expected cost is O(r.Count + len(r.Exclude) + s) for s the number of locations the
// specs name (a group names its countries), plus a walk over the caller's own network's
// providers when r.Filter names a network; it does not grow with the pool. The package
// documentation describes the algorithm.
func (p *Pool) Sample(r SampleRequest) []uuid.UUID {
	return p.AppendSample(nil, r)
}

// AppendSample is Sample appending to dst, for callers that reuse a buffer.
func (p *Pool) AppendSample(dst []uuid.UUID, r SampleRequest) []uuid.UUID {
	if r.Count <= 0 || len(r.Specs) == 0 {
		return dst
	}
	s := p.cat.snap.Load()
	sm := samplers.Get().(*sampler)
	defer sm.release()
	sm.rng = r.Rand
	sm.resolve(s, r.Specs)

	p.mu.RLock()
	defer p.mu.RUnlock()
	sm.gather(p, r.Filter)
	if sm.total == 0 {
		return dst
	}
	sm.excl.reset(len(r.Exclude))
	sm.tags.reset(len(r.Exclude))
	for _, id := range r.Exclude {
		sm.excl.add(id)
		sm.tags.add(int32(idTag(id)))
	}
	want := min(r.Count, sm.total)
	dst = slices.Grow(dst, want)
	out := dst[len(dst):] // picks go here, within the room just made
	sm.chosen.reset(want)
	// A provider appears at most mmax times among the candidates, so they number at
	// least total/mmax distinct. Draws with rejection pay off while that is at least
	// twice the exclusions and picks; below, listing every candidate costs about as much.
	mmax := bits.OnesCount8(sm.sel)
	if len(sm.list) > 0 {
		mmax++
	}
	if sm.total > 2*mmax*(want+len(r.Exclude))+32 {
		out = sm.reject(p, out, want, mmax)
	}
	if len(out) < want {
		out = sm.enumerate(p, out, want)
	}
	return dst[:len(dst)+len(out)]
}

// Get returns the provider with the client id.
func (p *Pool) Get(clientID uuid.UUID) (Provider, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	// Loaded under the lock: the snapshot of any Set done before holds its location.
	s := p.cat.snap.Load()
	slot, ok := p.byClient[clientID]
	if !ok {
		return Provider{}, false
	}
	r := &p.recs[slot]
	return Provider{
		ClientID: r.client, NetworkID: r.network, LocationID: s.nodes[r.chain[0]].id,
		Modes: r.modes, Weight: float64(r.level) / weightLevels,
	}, true
}

// sampler is the working memory of one Sample, reused through samplers.
type sampler struct {
	rng     *rand.Rand
	nodes   []int32 // the specs' locations, sorted, none inside another
	all     []int32
	clients []uuid.UUID
	sel     uint8         // public lanes the filter selects
	ranges  [][]entryBits // the buckets of (node, lane) to draw from
	ends    []int         // ends[i] is the total size of ranges[:i+1]
	total   int           // candidate entries: the ranges and the list
	list    []entryBits   // explicit clients and own-network providers, each once
	inList  slotSet
	excl    idSet
	tags    slotSet // tags of the excluded ids, to skip most records
	chosen  slotSet
	seen    slotSet
	cands   []entryBits
	keys    []keyed
}

// keyed is a candidate with its Efraimidis-Spirakis key.
type keyed struct {
	key  float64
	slot int32
}

var samplers = sync.Pool{New: func() any { return new(sampler) }}

// release drops references into the pool and returns sm for reuse; very large tables
// are let go rather than kept.
func (sm *sampler) release() {
	clear(sm.ranges)
	sm.ranges, sm.ends, sm.nodes, sm.all = sm.ranges[:0], sm.ends[:0], sm.nodes[:0], sm.all[:0]
	sm.clients, sm.list, sm.total, sm.rng = sm.clients[:0], sm.list[:0], 0, nil
	if cap(sm.cands) > 1<<16 || len(sm.excl.keys) > 1<<16 || len(sm.seen.keys) > 1<<16 {
		*sm = sampler{}
	}
	samplers.Put(sm)
}

func (sm *sampler) intN(n int) int {
	if sm.rng != nil {
		return sm.rng.IntN(n)
	}
	return rand.IntN(n)
}

func (sm *sampler) float() float64 {
	if sm.rng != nil {
		return sm.rng.Float64()
	}
	return rand.Float64()
}

// resolve turns the specs into location nodes and explicit client ids. A group stands
// for its countries; a location inside another named one adds nothing and is dropped,
// which leaves every provider under at most one of the nodes.
func (sm *sampler) resolve(s *snapshot, specs []Spec) {
	for _, sp := range specs {
		if n, ok := s.lookup(sp.LocationID); ok && s.nodes[n].kind != kindGroup {
			sm.all = append(sm.all, n)
		}
		if n, ok := s.lookup(sp.LocationGroupID); ok && s.nodes[n].kind == kindGroup {
			sm.all = append(sm.all, s.groupCountries[s.nodes[n].country]...)
		}
		if sp.ClientID != uuid.Nil {
			sm.clients = append(sm.clients, sp.ClientID)
		}
	}
	slices.Sort(sm.all)
	sm.all = slices.Compact(sm.all)
next:
	for _, n := range sm.all {
		for a := s.parents[n]; a >= 0; a = s.parents[a] {
			if _, ok := slices.BinarySearch(sm.all, a); ok {
				continue next
			}
		}
		sm.nodes = append(sm.nodes, n)
	}
}

// under reports whether the provider's location, region or country is a spec node.
func (sm *sampler) under(r *record) bool {
	for _, v := range r.chain[:r.nchain] {
		if _, ok := slices.BinarySearch(sm.nodes, v); ok {
			return true
		}
	}
	return false
}

// gather collects the candidates: the public buckets of the spec nodes, and in one list
// the explicit clients and the caller's network providers that only it can see.
func (sm *sampler) gather(p *Pool, f Filter) {
	modes := f.modes()
	sm.sel = laneMask(modes)
	nodes := *p.nodes.Load()
	for _, n := range sm.nodes {
		for l := range lanes {
			if sm.sel&(1<<l) == 0 || int(n) >= len(nodes) {
				continue
			}
			if b := nodes[n].b[l]; len(b) > 0 {
				sm.total += len(b)
				sm.ranges = append(sm.ranges, b)
				sm.ends = append(sm.ends, sm.total)
			}
		}
	}
	sm.inList.reset(len(sm.clients) + 8)
	for _, id := range sm.clients {
		slot, ok := p.byClient[id]
		if ok && f.visible(p.recs[slot].network, p.recs[slot].modes) {
			sm.addList(p, slot)
		}
	}
	head, ok := p.nets[f.NetworkID]
	if f.NetworkID == uuid.Nil || len(sm.nodes) == 0 {
		ok = false
	}
	for slot := head; ok && slot >= 0; slot = p.recs[slot].netNext {
		r := &p.recs[slot]
		// Providers visible through the public buckets are drawn there already.
		if r.modes&modes != 0 && r.modes&modes&publicModes == 0 && sm.under(r) {
			sm.addList(p, slot)
		}
	}
	sm.total += len(sm.list)
}

// addList adds slot to the list once.
func (sm *sampler) addList(p *Pool, slot int32) {
	if sm.inList.add(slot) {
		sm.list = append(sm.list, makeEntry(slot, 0, &p.recs[slot]))
	}
}

// at returns the entry at position t of the concatenated buckets and list.
func (sm *sampler) at(t int) entryBits {
	i, _ := slices.BinarySearch(sm.ends, t+1)
	if i == len(sm.ranges) {
		return sm.list[t-sm.total+len(sm.list)]
	}
	if i > 0 {
		t -= sm.ends[i-1]
	}
	return sm.ranges[i][t]
}

// excluded reports whether the provider of e is excluded; the tag spares most
// candidates a read of their record.
func (sm *sampler) excluded(p *Pool, e entryBits) bool {
	return sm.tags.has(int32(e.tag())) && sm.excl.has(p.recs[e.slot()].client)
}

// multiplicity returns how many times the provider of e appears among the candidates:
// once per selected lane it offers when it is under a spec node, and once more in the
// list. Without a list, the entry alone tells.
func (sm *sampler) multiplicity(p *Pool, e entryBits) int {
	if len(sm.list) == 0 {
		if sm.sel == 3 && e.bothLanes() {
			return 2
		}
		return 1
	}
	r := &p.recs[e.slot()]
	m := 0
	if lanes := bits.OnesCount8(r.lanes & sm.sel); lanes > 0 && sm.under(r) {
		m = lanes
	}
	if sm.inList.has(e.slot()) {
		m++
	}
	return m
}

// levelRange returns the smallest and largest weight level in the pool.
func (p *Pool) levelRange() (lo, hi int) {
	lo, hi = weightLevels, 1
	for l := 1; l <= weightLevels; l++ {
		if p.levels[l] > 0 {
			lo, hi = min(lo, l), max(hi, l)
		}
	}
	return lo, hi
}

// reject picks by drawing uniform positions among the candidates and accepting a
// provider found m times with probability 1/m times its weight over the largest weight,
// so that each draw yields any one candidate with the same probability (scaled by
// weight). Excluded and already picked providers are drawn again. After a budget of
// draws it stops and leaves the rest to enumerate.
func (sm *sampler) reject(p *Pool, out []uuid.UUID, want, mmax int) []uuid.UUID {
	// At least half the distinct candidates are eligible (Sample's threshold ensures
	// it), so a draw picks with probability at least lo/(2·mmax·top): the budget is
	// eight times the expected draws.
	lo, top := p.levelRange()
	budget := 1024 + 16*mmax*want*top/lo
	for draws := 0; len(out) < want && draws < budget; draws++ {
		e := sm.at(sm.intN(sm.total))
		if sm.chosen.has(e.slot()) || sm.excluded(p, e) {
			continue
		}
		if m := sm.multiplicity(p, e); m > 1 && sm.intN(m) != 0 {
			continue
		}
		if e.level() < top && sm.intN(top) >= e.level() {
			continue
		}
		sm.chosen.add(e.slot())
		out = append(out, p.recs[e.slot()].client)
	}
	return out
}

// enumerate lists every remaining candidate once and picks from them: a partial
// Fisher-Yates shuffle when their weights are equal, otherwise the largest keys
// log(u)/w (Efraimidis and Spirakis), which orders them as successive weighted picks.
// Only the picked providers' records are read.
func (sm *sampler) enumerate(p *Pool, out []uuid.UUID, want int) []uuid.UUID {
	sm.seen.reset(sm.total)
	sm.cands = sm.cands[:0]
	equal := true
	consider := func(e entryBits) {
		if !sm.seen.add(e.slot()) || sm.chosen.has(e.slot()) || sm.excluded(p, e) {
			return
		}
		if len(sm.cands) > 0 && e.level() != sm.cands[0].level() {
			equal = false
		}
		sm.cands = append(sm.cands, e)
	}
	for _, b := range sm.ranges {
		for _, e := range b {
			consider(e)
		}
	}
	for _, e := range sm.list {
		consider(e)
	}
	need := min(want-len(out), len(sm.cands))
	c := sm.cands
	if !equal {
		sm.keys = sm.keys[:0]
		for _, e := range c {
			k := math.Log(1-sm.float()) / float64(e.level())
			sm.keys = append(sm.keys, keyed{key: k, slot: e.slot()})
		}
		slices.SortFunc(sm.keys, func(a, b keyed) int { return cmp.Compare(b.key, a.key) })
		for _, k := range sm.keys[:need] {
			out = append(out, p.recs[k.slot].client)
		}
		return out
	}
	for i := range need {
		j := i + sm.intN(len(c)-i)
		c[i], c[j] = c[j], c[i]
		out = append(out, p.recs[c[i].slot()].client)
	}
	return out
}

// slotSet is a set of provider slots by open addressing, sized per use.
type slotSet struct {
	keys  []uint32 // slot+1; 0 is empty
	shift uint
	n     int
}

// reset empties the set and sizes it for about n elements.
func (s *slotSet) reset(n int) {
	size := 16
	for size < 2*n {
		size *= 2
	}
	if cap(s.keys) >= size {
		s.keys = s.keys[:size]
		clear(s.keys)
	} else {
		s.keys = make([]uint32, size)
	}
	s.shift = uint(64 - bits.TrailingZeros(uint(size)))
	s.n = 0
}

func (s *slotSet) find(k uint32) int {
	mask := len(s.keys) - 1
	i := int(uint64(k)*0x9E3779B97F4A7C15>>s.shift) & mask
	for s.keys[i] != 0 && s.keys[i] != k {
		i = (i + 1) & mask
	}
	return i
}

// add inserts slot and reports whether it was new.
func (s *slotSet) add(slot int32) bool {
	if 2*(s.n+1) > len(s.keys) {
		old := s.keys
		s.keys = nil
		s.reset(2 * (s.n + 1))
		for _, k := range old {
			if k != 0 {
				s.keys[s.find(k)] = k
				s.n++
			}
		}
	}
	k := uint32(slot) + 1
	i := s.find(k)
	if s.keys[i] == k {
		return false
	}
	s.keys[i] = k
	s.n++
	return true
}

func (s *slotSet) has(slot int32) bool {
	if len(s.keys) == 0 {
		return false
	}
	k := uint32(slot) + 1
	return s.keys[s.find(k)] == k
}

// idSet is a set of client ids by open addressing; uuid.Nil is never a member.
type idSet struct {
	keys  []uuid.UUID
	shift uint
	n     int
}

func (s *idSet) reset(n int) {
	size := 16
	for size < 2*n {
		size *= 2
	}
	if cap(s.keys) >= size {
		s.keys = s.keys[:size]
		clear(s.keys)
	} else {
		s.keys = make([]uuid.UUID, size)
	}
	s.shift = uint(64 - bits.TrailingZeros(uint(size)))
	s.n = 0
}

func (s *idSet) find(id uuid.UUID) int {
	mask := len(s.keys) - 1
	h := binary.LittleEndian.Uint64(id[:8]) ^ binary.LittleEndian.Uint64(id[8:])
	i := int(h*0x9E3779B97F4A7C15>>s.shift) & mask
	for s.keys[i] != uuid.Nil && s.keys[i] != id {
		i = (i + 1) & mask
	}
	return i
}

// add inserts id. reset must have sized the set for every id added.
func (s *idSet) add(id uuid.UUID) {
	if id == uuid.Nil {
		return
	}
	if i := s.find(id); s.keys[i] != id {
		s.keys[i] = id
		s.n++
	}
}

func (s *idSet) has(id uuid.UUID) bool {
	if len(s.keys) == 0 || id == uuid.Nil {
		return false
	}
	return s.keys[s.find(id)] == id
}
