package matcher

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"runtime"
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
	sm.taken.reset(len(r.Exclude) + min(r.Count, 64)) // it grows if more are picked
	sm.taken.addIDs(r.Exclude)

	p.rlock()
	defer p.mu.RUnlock()
	sm.gather(p, r.Filter)
	if sm.total == 0 {
		return dst
	}
	want := min(r.Count, sm.total)
	dst = slices.Grow(dst, want)
	out := dst[len(dst):] // picks go here, within the room just made
	// A provider appears at most mmax times among the candidates, so they number at
	// least total/mmax distinct. Draws with rejection pay off while that is at least 8/7
	// of the exclusions and picks, which leaves an eighth of them eligible: a draw costs
	// a cache miss of its own, while listing reads and hashes every candidate. (At 4/3,
	// a country or region of 150-180 providers with 100 exclusions was listed, and such
	// samples made most of BenchmarkSample's slowest percent.)
	mmax := bits.OnesCount8(sm.sel)
	if len(sm.list) > 0 {
		mmax++
	}
	if 7*sm.total > 8*mmax*(want+len(r.Exclude))+96 {
		out = sm.reject(p, out, want, mmax)
	}
	if len(out) < want {
		out = sm.enumerate(out, want, mmax)
	}
	return dst[:len(dst)+len(out)]
}

// rlock takes the read lock. While a writer holds or awaits it, a sample first retries
// for a few microseconds, yielding in between: a Set holds the lock for a microsecond
// or two, while a reader that blocks is parked and later woken by the scheduler, which
// costs more than that. TryRLock fails while a writer waits, so writers keep priority.
func (p *Pool) rlock() {
	for range 64 {
		if p.mu.TryRLock() {
			return
		}
		runtime.Gosched()
	}
	p.mu.RLock()
}

// Get returns the provider with the client id.
func (p *Pool) Get(clientID uuid.UUID) (Provider, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	slot, ok := p.clients.get(&p.recs, hashID(clientID), clientID)
	if !ok {
		return Provider{}, false
	}
	r := p.recs.at(slot)
	return Provider{
		ClientID: r.client, NetworkID: r.network, LocationID: r.location,
		Modes: r.modes, Weight: float64(r.level) / weightLevels,
	}, true
}

// sampler is the working memory of one Sample, reused through samplers.
type sampler struct {
	rng     *rand.Rand
	word    uint64 // random bits not yet used, spare halves of them
	spare   int
	nodes   []int32 // the specs' locations, sorted, none inside another
	all     []int32
	clients []uuid.UUID
	sel     uint8      // public lanes the filter selects
	ranges  [][]member // the buckets of (node, lane) to draw from
	ends    []int      // ends[i] is the total size of ranges[:i+1]
	total   int        // candidate entries: the ranges and the list
	list    []member   // explicit clients and own-network providers, each once
	inList  slotSet
	// taken holds the excluded ids and the picks, and in enumerate every candidate
	// listed, so that one probe tells whether a candidate may still be taken.
	taken idSet
	cands []member
	tree  []int // for pickWeighted
}

var samplers = sync.Pool{New: func() any { return new(sampler) }}

// release returns sm for reuse; very large tables are let go rather than kept.
func (sm *sampler) release() {
	clear(sm.ranges)
	sm.ranges, sm.ends, sm.nodes, sm.all = sm.ranges[:0], sm.ends[:0], sm.nodes[:0], sm.all[:0]
	sm.clients, sm.list, sm.total, sm.rng, sm.spare = sm.clients[:0], sm.list[:0], 0, nil, 0
	const large = 1 << 16
	if cap(sm.cands) > large || cap(sm.tree) > large || len(sm.taken.cells) > large ||
		len(sm.inList.keys) > large {
		*sm = sampler{}
	}
	samplers.Put(sm)
}

// intN returns a uniform random number in [0, n).
func (sm *sampler) intN(n int) int {
	if n > math.MaxUint32 {
		if sm.rng != nil {
			return sm.rng.IntN(n)
		}
		return rand.IntN(n)
	}
	// Lemire's multiply-and-shift with rejection, on 32 bits: exact, and one 64-bit
	// random word serves two draws.
	m := uint64(sm.uint32()) * uint64(n)
	if uint32(m) < uint32(n) {
		for t := uint32(-n) % uint32(n); uint32(m) < t; {
			m = uint64(sm.uint32()) * uint64(n)
		}
	}
	return int(m >> 32)
}

// uint32 returns 32 random bits.
func (sm *sampler) uint32() uint32 {
	if sm.spare == 0 {
		if sm.rng != nil {
			sm.word = sm.rng.Uint64()
		} else {
			sm.word = rand.Uint64()
		}
		sm.spare = 2
	}
	sm.spare--
	x := uint32(sm.word)
	sm.word >>= 32
	return x
}

// resolve turns the specs into location nodes and explicit client ids. A group stands
// for its countries; a location inside another named one adds nothing and is dropped,
// which leaves every provider under at most one of the nodes.
func (sm *sampler) resolve(s *snapshot, specs []Spec) {
	sources := 0
	for _, sp := range specs {
		if sp.LocationID != uuid.Nil {
			// Groups come first, at the index of their definition.
			if n, ok := s.lookup(sp.LocationID); ok && n >= int32(len(groupDefs)) {
				sm.all = append(sm.all, n)
				sources++
			}
		}
		if sp.LocationGroupID != uuid.Nil {
			if n, ok := s.lookup(sp.LocationGroupID); ok && n < int32(len(groupDefs)) {
				sm.all = append(sm.all, s.groupCountries[n]...)
				sources++
			}
		}
		if sp.ClientID != uuid.Nil {
			sm.clients = append(sm.clients, sp.ClientID)
		}
	}
	if sources <= 1 { // one location, or one group's countries: sorted and disjoint
		sm.nodes, sm.all = sm.all, sm.nodes
		return
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
		if slot, ok := p.clients.get(&p.recs, hashID(id), id); ok {
			if r := p.recs.at(slot); f.visible(r.network, r.modes) {
				sm.addList(p, slot)
			}
		}
	}
	if f.NetworkID == uuid.Nil || len(sm.nodes) == 0 {
		sm.total += len(sm.list)
		return
	}
	head, ok := p.nets.get(&p.recs, hashID(f.NetworkID), f.NetworkID)
	for slot := head; ok && slot >= 0; slot = p.recs.at(slot).netNext {
		r := p.recs.at(slot)
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
		sm.list = append(sm.list, p.recs.at(slot).asMember(slot, 0))
	}
}

// at returns the member at position t of the concatenated buckets and list.
func (sm *sampler) at(t int) *member {
	i, _ := slices.BinarySearch(sm.ends, t+1)
	if i == len(sm.ranges) {
		return &sm.list[t-sm.total+len(sm.list)]
	}
	if i > 0 {
		t -= sm.ends[i-1]
	}
	return &sm.ranges[i][t]
}

// multiplicity returns how many times the provider of e appears among the candidates:
// once per selected lane it offers when it is under a spec node, and once more in the
// list. Without a list, the member alone tells.
func (sm *sampler) multiplicity(p *Pool, e *member) int {
	if len(sm.list) == 0 {
		if sm.sel == 3 && e.both {
			return 2
		}
		return 1
	}
	r := p.recs.at(e.slot)
	m := 0
	if lanes := bits.OnesCount8(r.lanes & sm.sel); lanes > 0 && sm.under(r) {
		m = lanes
	}
	if sm.inList.has(e.slot) {
		m++
	}
	return m
}

// levelRange returns the smallest and largest weight level in the pool.
func (p *Pool) levelRange() (lo, hi int) {
	if p.levelSet == 0 {
		return weightLevels, weightLevels
	}
	return bits.TrailingZeros64(p.levelSet) + 1, 64 - bits.LeadingZeros64(p.levelSet)
}

// reject picks by drawing uniform positions among the candidates and accepting a
// provider found m times with probability 1/m times its weight over the largest weight,
// so that each draw yields any one candidate with the same probability (scaled by
// weight). Excluded and already picked providers are drawn again. After a budget of
// draws it stops and leaves the rest to enumerate.
//
// The draws are independent of one another, so they are made a batch at a time and the
// batch's members loaded together: at a million providers each is a cache miss, and
// the misses of a batch overlap instead of following one another.
func (sm *sampler) reject(p *Pool, out []uuid.UUID, want, mmax int) []uuid.UUID {
	// At least an eighth of the distinct candidates are eligible (Sample's threshold
	// ensures it), so a draw picks with probability at least lo/(8·mmax·top): the
	// budget is four times the expected draws.
	lo, top := p.levelRange()
	budget := 1024 + 32*mmax*want*top/lo
	var at [drawBatch]*member
	var batch [drawBatch]member
	for draws := 0; len(out) < want && draws < budget; {
		n := min(drawBatch, budget-draws, 2*(want-len(out))+2)
		for j := range n {
			at[j] = sm.at(sm.intN(sm.total))
		}
		for j := range n {
			batch[j] = *at[j]
		}
		for j := 0; j < n && len(out) < want; j++ {
			draws++
			e := &batch[j]
			if sm.taken.has(&e.id) {
				continue
			}
			if m := sm.multiplicity(p, e); m > 1 && sm.intN(m) != 0 {
				continue
			}
			if int(e.level) < top && sm.intN(top) >= int(e.level) {
				continue
			}
			sm.taken.add(&e.id)
			out = append(out, e.id)
		}
	}
	return out
}

// drawBatch is the most draws reject makes at once.
const drawBatch = 16

// enumerate lists every remaining candidate once and picks from them: a partial
// Fisher-Yates shuffle when their weights are equal, otherwise successive weighted
// picks from a Fenwick tree of their weights.
func (sm *sampler) enumerate(out []uuid.UUID, want, mmax int) []uuid.UUID {
	sm.cands = sm.cands[:0]
	for _, b := range sm.ranges {
		if mmax == 1 { // no provider is listed twice: only the taken ones are skipped
			sm.cands = sm.taken.appendAbsent(sm.cands, b)
		} else {
			sm.cands = sm.taken.addNew(sm.cands, b)
		}
	}
	sm.cands = sm.taken.addNew(sm.cands, sm.list)
	c := sm.cands
	need := min(want-len(out), len(c))
	if slices.ContainsFunc(c, func(e member) bool { return e.level != c[0].level }) {
		return sm.pickWeighted(out, c, need)
	}
	for i := range need {
		j := i + sm.intN(len(c)-i)
		c[i], c[j] = c[j], c[i]
		out = append(out, c[i].id)
	}
	return out
}

// pickWeighted picks need of c in turn, each with probability proportional to its
// weight among those not yet picked. tree[i] holds the weight sum of c[i-i&-i : i], so
// that finding the candidate at a cumulative weight and removing one cost O(log n).
func (sm *sampler) pickWeighted(out []uuid.UUID, c []member, need int) []uuid.UUID {
	n := len(c)
	tree := slices.Grow(sm.tree[:0], n+1)[:n+1]
	clear(tree)
	total := 0
	for i := 1; i <= n; i++ {
		w := int(c[i-1].level)
		total += w
		tree[i] += w
		if j := i + i&-i; j <= n {
			tree[j] += tree[i]
		}
	}
	for range need {
		u, i := sm.intN(total), 0
		for step := 1 << (bits.Len(uint(n)) - 1); step > 0; step >>= 1 {
			if i+step <= n && tree[i+step] <= u {
				i += step
				u -= tree[i]
			}
		}
		// c[i] is the first candidate whose cumulative weight exceeds the draw.
		out = append(out, c[i].id)
		w := int(c[i].level)
		total -= w
		for j := i + 1; j <= n; j += j & -j {
			tree[j] -= w
		}
	}
	sm.tree = tree
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
	s.shift = resetCells(&s.keys, n, 16, 2)
	s.n = 0
}

// resetCells empties *cells and sizes it to the smallest power of two, at least
// minSize, that holds n elements at most 1/load full, and returns the shift that maps
// a 64-bit hash to a cell.
func resetCells(cells *[]uint32, n, minSize, load int) uint {
	size := minSize
	for size < load*n {
		size *= 2
	}
	if cap(*cells) >= size {
		*cells = (*cells)[:size]
		clear(*cells)
	} else {
		*cells = make([]uint32, size)
	}
	return uint(64 - bits.TrailingZeros(uint(size)))
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

// idSet is a set of client ids: an open-addressing table of positions in ids, kept at
// most a quarter full so that most probes for an absent id stop at the first cell.
// uuid.Nil is never a member. The bulk methods keep the table in locals: through the
// pointer, every store to ids would make the compiler reload the table.
type idSet struct {
	cells []uint32 // 1 + index in ids; 0 is empty
	ids   []uuid.UUID
	shift uint
}

// reset empties the set and sizes it for n ids.
func (s *idSet) reset(n int) {
	s.shift = resetCells(&s.cells, n, 64, 4)
	s.ids = s.ids[:0]
}

// reserve makes room for n more ids.
func (s *idSet) reserve(n int) {
	if 4*(len(s.ids)+n) <= len(s.cells) {
		return
	}
	ids := s.ids
	s.reset(len(ids) + n)
	s.ids = ids
	for k := range ids {
		s.cells[probe(s.cells, ids, int(hashID(ids[k])>>s.shift), &ids[k])] = uint32(k + 1)
	}
}

// probe returns the cell of id in a table of ids, or the empty cell where it would go,
// starting from id's home cell i.
func probe(cells []uint32, ids []uuid.UUID, i int, id *uuid.UUID) int {
	for c := cells[i]; c != 0 && ids[c-1] != *id; c = cells[i] {
		i = (i + 1) & (len(cells) - 1)
	}
	return i
}

func (s *idSet) has(id *uuid.UUID) bool {
	return s.cells[probe(s.cells, s.ids, int(hashID(*id)>>s.shift), id)] != 0
}

// add inserts id and reports whether it was new.
func (s *idSet) add(id *uuid.UUID) bool {
	if *id == uuid.Nil {
		return false
	}
	s.reserve(1)
	i := probe(s.cells, s.ids, int(hashID(*id)>>s.shift), id)
	if s.cells[i] != 0 {
		return false
	}
	s.ids = append(s.ids, *id)
	s.cells[i] = uint32(len(s.ids))
	return true
}

// addIDs inserts the ids of src.
func (s *idSet) addIDs(src []uuid.UUID) {
	s.reserve(len(src))
	cells, ids, shift := s.cells, s.ids, s.shift
	for k := range src {
		i := probe(cells, ids, int(hashID(src[k])>>shift), &src[k])
		if cells[i] == 0 && src[k] != uuid.Nil {
			ids = append(ids, src[k])
			cells[i] = uint32(len(ids))
		}
	}
	s.ids = ids
}

// appendAbsent appends to dst the members of src whose id is not in the set.
func (s *idSet) appendAbsent(dst, src []member) []member {
	cells, ids, shift := s.cells, s.ids, s.shift
	for k := range src {
		if cells[probe(cells, ids, int(hashID(src[k].id)>>shift), &src[k].id)] == 0 {
			dst = append(dst, src[k])
		}
	}
	return dst
}

// addNew inserts the ids of src and appends to dst the members whose id was new.
func (s *idSet) addNew(dst, src []member) []member {
	s.reserve(len(src))
	cells, ids, shift := s.cells, s.ids, s.shift
	for k := range src {
		if i := probe(cells, ids, int(hashID(src[k].id)>>shift), &src[k].id); cells[i] == 0 {
			ids = append(ids, src[k].id)
			cells[i] = uint32(len(ids))
			dst = append(dst, src[k])
		}
	}
	s.ids = ids
	return dst
}
