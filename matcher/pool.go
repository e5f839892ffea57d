package matcher

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"
)

// ErrInvalidProvider reports a provider that cannot be added to a pool.
var ErrInvalidProvider = errors.New("invalid provider")

// Weight levels: weights are kept as multiples of 1/weightLevels.
const weightLevels = 64

// MinWeight is the smallest sampling weight a provider keeps; lower weights are raised to
// it so that a sample stays cheap. Remove a provider to stop sampling it.
const MinWeight = 1.0 / weightLevels

// Provider is a client that offers its connection at a location.
type Provider struct {
	ClientID uuid.UUID
	// NetworkID is the provider's network, which alone sees its non-public modes.
	NetworkID uuid.UUID
	// LocationID is a city, region or country of the catalog.
	LocationID uuid.UUID
	Modes      ModeSet
	// Weight scales the provider's chance to be sampled, in (0, 1], as a multiple of
	// MinWeight (rounded up). Zero means 1. Providers of equal weight are sampled
	// uniformly.
	Weight float64
}

// Pool tracks the available providers: where they are, in which modes, with what
// weight. It keeps the number of providers per location and group current and samples
// them at random. It is safe for concurrent use. Set and Remove hold a write lock for
// O(1) work; Sample holds a read lock for its own O(count + len(exclude)) work; searches
// read provider counts from atomics without a lock.
type Pool struct {
	cat *Catalog

	mu       sync.RWMutex
	recs     []record
	free     []int32
	byClient map[uuid.UUID]int32
	// nets maps a network to the first of its providers that offer a non-public mode;
	// the rest follow through record.netNext.
	nets   map[uuid.UUID]int32
	levels [weightLevels + 1]int32
	// nodes holds the buckets and counts per catalog node. The slice is replaced when it
	// grows, so that searches can read counts from it without the lock.
	nodes atomic.Pointer[[]nodeState]
	// occupied lists the nodes with at least one public provider, in no order.
	occupied []int32
}

// nodeState is what the pool keeps per location, in one cache line. b[lane] lists the
// providers whose city, region or country is the node and that offer the lane's public
// mode, as entries (see entryBits), in no order; it changes under the pool's lock. n[l-1]
// counts the providers at the node in exactly the public lanes given by the bits of l
// (1, 2 or 3); it is atomic for lock-free readers.
type nodeState struct {
	b [lanes][]entryBits
	n [3]atomic.Int32
	// at is the node's position in Pool.occupied while it holds a public provider.
	at int32
}

// Public lanes: a provider offering ModePublic is in lane 0 of its city, region and
// country, one offering ModePublicStream in lane 1.
const (
	lanes     = 2
	chainBits = 2 // bucket entries name the chain index of the bucket's node
	maxChain  = 3 // city, region, country
	maxSlots  = math.MaxUint32 >> chainBits
)

// entryBits is a bucket entry. The low 32 bits hold slot<<chainBits | chain index; the
// high bits what a sample needs to judge a candidate without reading its record, which
// at a million providers is a cache miss: its weight level (6 bits), whether it is in
// both lanes (1 bit) and a 25-bit tag of its client id.
type entryBits uint64

func makeEntry(slot int32, i int, r *record) entryBits {
	hi := uint64(r.level-1)<<26 | uint64(idTag(r.client)) // levels 1..64 fit 6 bits as 0..63
	if r.lanes == 3 {
		hi |= 1 << 25
	}
	return entryBits(hi<<32 | uint64(uint32(slot)<<chainBits|uint32(i)))
}

func (e entryBits) slot() int32     { return int32(uint32(e) >> chainBits) }
func (e entryBits) chain() int      { return int(uint32(e) & (1<<chainBits - 1)) }
func (e entryBits) level() int      { return int(e>>58) + 1 }
func (e entryBits) bothLanes() bool { return e>>57&1 != 0 }
func (e entryBits) tag() uint32     { return uint32(e>>32) & (1<<25 - 1) }

// idTag hashes a client id to 25 bits.
func idTag(id uuid.UUID) uint32 {
	h := binary.LittleEndian.Uint64(id[:8]) ^ binary.LittleEndian.Uint64(id[8:])
	return uint32(h * 0x9E3779B97F4A7C15 >> 39)
}

// record is one provider; slots of removed providers are reused.
type record struct {
	client, network uuid.UUID
	chain           [maxChain]int32        // the location, its region and country
	pos             [lanes][maxChain]int32 // position in the bucket of (lane, chain[i])
	netPrev         int32                  // neighbours in the network's list, -1 at the
	netNext         int32                  // ends; netPrev is -2 when not in a list
	nchain          uint8
	modes           ModeSet
	lanes           uint8 // bit l: in lane l
	level           uint8 // weight in 1/weightLevels
}

// laneMask returns the public lanes of modes.
func laneMask(modes ModeSet) uint8 {
	var l uint8
	if modes.Has(ModePublic) {
		l |= 1
	}
	if modes.Has(ModePublicStream) {
		l |= 2
	}
	return l
}

// NewPool returns an empty pool over the locations of cat.
func NewPool(cat *Catalog) *Pool {
	p := &Pool{cat: cat, byClient: map[uuid.UUID]int32{}, nets: map[uuid.UUID]int32{}}
	p.nodes.Store(new([]nodeState))
	return p
}

// Len returns the number of providers in the pool.
func (p *Pool) Len() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return len(p.byClient)
}

// Set adds the provider or updates it in place. A provider with no known mode is
// removed. Set costs O(1): a weight change touches one record, any other change moves
// the provider out of and into the buckets of its city, region and country.
func (p *Pool) Set(pr Provider) error {
	op, err := p.prepare(p.cat.snap.Load(), pr)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.apply(&op)
}

// SetAll sets every provider as Set does, holding the write lock once for all of them,
// which spares concurrent samples a hand-over per update. It checks all providers first
// and changes nothing when one is invalid.
func (p *Pool) SetAll(prs []Provider) error {
	s := p.cat.snap.Load()
	ops := make([]setOp, len(prs))
	for i, pr := range prs {
		var err error
		if ops[i], err = p.prepare(s, pr); err != nil {
			return err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range ops {
		if err := p.apply(&ops[i]); err != nil {
			return err
		}
	}
	return nil
}

// Remove removes the provider and reports whether it was in the pool.
func (p *Pool) Remove(clientID uuid.UUID) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.remove(clientID)
}

// setOp is a checked Set, ready to apply under the lock.
type setOp struct {
	pr     Provider
	chain  [maxChain]int32
	nchain int
	modes  ModeSet
	level  uint8
}

// prepare checks pr and resolves its location in s, outside the lock.
func (p *Pool) prepare(s *snapshot, pr Provider) (setOp, error) {
	op := setOp{pr: pr, modes: pr.Modes & validModes, level: weightLevel(pr.Weight)}
	if pr.ClientID == uuid.Nil {
		return op, fmt.Errorf("%w: nil client id", ErrInvalidProvider)
	}
	if op.modes == 0 {
		return op, nil // a removal
	}
	n, ok := s.lookup(pr.LocationID)
	if !ok || n < int32(len(groupDefs)) { // groups come first
		return op, fmt.Errorf("set provider %s: %w %s", pr.ClientID, ErrUnknownLocation,
			pr.LocationID)
	}
	op.nchain = len(s.chain(op.chain[:0], n))
	return op, nil
}

// apply performs op; the caller holds the write lock.
func (p *Pool) apply(op *setOp) error {
	if op.modes == 0 {
		p.remove(op.pr.ClientID)
		return nil
	}
	slot, ok := p.byClient[op.pr.ClientID]
	if ok {
		r := &p.recs[slot]
		if r.chain[0] == op.chain[0] && r.modes == op.modes && r.network == op.pr.NetworkID {
			// Only the weight changes: no bucket moves, the entries are rewritten.
			p.levels[r.level]--
			p.levels[op.level]++
			r.level = op.level
			p.rewrite(slot)
			return nil
		}
		p.unlink(slot)
	} else {
		if slot, ok = p.alloc(); !ok {
			return fmt.Errorf("%w: pool holds %d providers", ErrInvalidProvider, maxSlots)
		}
		p.byClient[op.pr.ClientID] = slot
	}
	p.link(slot, op.pr, op.chain[:op.nchain], op.modes, op.level)
	return nil
}

// remove removes the provider; the caller holds the write lock.
func (p *Pool) remove(clientID uuid.UUID) bool {
	slot, ok := p.byClient[clientID]
	if !ok {
		return false
	}
	p.unlink(slot)
	delete(p.byClient, clientID)
	p.recs[slot] = record{}
	p.free = append(p.free, slot)
	return true
}

// weightLevel quantizes a weight: zero means full weight, anything else is rounded up to
// a multiple of MinWeight within [MinWeight, 1].
func weightLevel(w float64) uint8 {
	if w == 0 || math.IsNaN(w) || w >= 1 {
		return weightLevels
	}
	return uint8(max(1, min(weightLevels, math.Ceil(w*weightLevels-1e-9))))
}

// alloc returns a free slot.
func (p *Pool) alloc() (int32, bool) {
	if n := len(p.free); n > 0 {
		slot := p.free[n-1]
		p.free = p.free[:n-1]
		return slot, true
	}
	if len(p.recs) >= maxSlots {
		return 0, false
	}
	p.recs = append(p.recs, record{})
	return int32(len(p.recs) - 1), true
}

// link puts the provider in slot into the buckets, counts and network list.
func (p *Pool) link(slot int32, pr Provider, chain []int32, modes ModeSet, level uint8) {
	nodes := p.grow(int(slices.Max(chain)) + 1)
	r := &p.recs[slot]
	*r = record{
		client: pr.ClientID, network: pr.NetworkID, netPrev: -2, netNext: -1,
		nchain: uint8(len(chain)), modes: modes, lanes: laneMask(modes), level: level,
	}
	copy(r.chain[:], chain)
	p.levels[level]++
	if r.lanes != 0 {
		for i, v := range chain {
			ns := &nodes[v]
			for l := range lanes {
				if r.lanes&(1<<l) != 0 {
					r.pos[l][i] = int32(len(ns.b[l]))
					ns.b[l] = append(ns.b[l], makeEntry(slot, i, r))
				}
			}
			if ns.n[r.lanes-1].Add(1) == 1 && ns.n[0].Load()+ns.n[1].Load()+ns.n[2].Load() == 1 {
				ns.at = int32(len(p.occupied))
				p.occupied = append(p.occupied, v)
			}
		}
	}
	if modes&^publicModes != 0 && pr.NetworkID != uuid.Nil {
		head, ok := p.nets[pr.NetworkID]
		r.netPrev, r.netNext = -1, -1
		if ok {
			r.netNext = head
			p.recs[head].netPrev = slot
		}
		p.nets[pr.NetworkID] = slot
	}
}

// unlink takes the provider in slot out of the buckets, counts and network list; the
// record stays for the caller to reuse or clear.
func (p *Pool) unlink(slot int32) {
	r := &p.recs[slot]
	p.levels[r.level]--
	nodes := *p.nodes.Load()
	for i, v := range r.chain[:r.nchain] {
		if r.lanes == 0 {
			break
		}
		ns := &nodes[v]
		for l := range lanes {
			if r.lanes&(1<<l) == 0 {
				continue
			}
			b := ns.b[l]
			at, last := r.pos[l][i], b[len(b)-1]
			b[at] = last
			p.recs[last.slot()].pos[l][last.chain()] = at
			if b = b[:len(b)-1]; len(b) == 0 {
				b = nil // a location that empties gives its memory back
			}
			ns.b[l] = b
		}
		if ns.n[r.lanes-1].Add(-1) == 0 && ns.n[0].Load()+ns.n[1].Load()+ns.n[2].Load() == 0 {
			last := p.occupied[len(p.occupied)-1]
			p.occupied[ns.at], nodes[last].at = last, ns.at
			p.occupied = p.occupied[:len(p.occupied)-1]
		}
	}
	if r.netPrev == -2 {
		return
	}
	if r.netNext >= 0 {
		p.recs[r.netNext].netPrev = r.netPrev
	}
	switch {
	case r.netPrev >= 0:
		p.recs[r.netPrev].netNext = r.netNext
	case r.netNext >= 0:
		p.nets[r.network] = r.netNext
	default:
		delete(p.nets, r.network)
	}
	r.netPrev, r.netNext = -2, -1
}

// rewrite refreshes the bucket entries of the provider in slot after its weight changed.
func (p *Pool) rewrite(slot int32) {
	r := &p.recs[slot]
	nodes := *p.nodes.Load()
	for i, v := range r.chain[:r.nchain] {
		for l := range lanes {
			if r.lanes&(1<<l) != 0 {
				nodes[v].b[l][r.pos[l][i]] = makeEntry(slot, i, r)
			}
		}
	}
}

// grow makes the per-node table hold n nodes and returns it. The table is replaced, not
// resized in place, because searches read its counts without the lock.
func (p *Pool) grow(n int) []nodeState {
	old := *p.nodes.Load()
	if n <= len(old) {
		return old
	}
	nodes := make([]nodeState, max(n, len(old)*5/4, 1024))
	for i := range old {
		nodes[i].b, nodes[i].at = old[i].b, old[i].at
		for k := range old[i].n {
			nodes[i].n[k].Store(old[i].n[k].Load())
		}
	}
	p.nodes.Store(&nodes)
	return nodes
}

// Count returns the number of providers visible under f at the location or in the
// group with the id, or 0 for an unknown id.
func (p *Pool) Count(id uuid.UUID, f Filter) int {
	s := p.cat.snap.Load()
	n, ok := s.lookup(id)
	if !ok {
		return 0
	}
	return int(p.counter(s, f).count(n))
}

// Search is Catalog.Search with provider counts: ProviderCount is the number of
// providers visible under q.Filter, it ranks the results, and q.OnlyAvailable keeps only
// those where it is positive.
func (p *Pool) Search(q Query) Results {
	s := p.cat.snap.Load()
	return s.search(q, p.counter(s, q.Filter))
}

// counter reads provider counts under a filter for one search.
type counter struct {
	p     *Pool
	s     *snapshot
	nodes []nodeState
	mask  uint8           // the filter's public lanes
	extra map[int32]int32 // per node, the caller's network providers not counted public
}

// counter returns the counts under f. Public counts are read from the atomic table; the
// caller's own network adds those of its providers that are visible only to it,
// gathered once under the read lock.
func (p *Pool) counter(s *snapshot, f Filter) *counter {
	modes := f.modes()
	c := &counter{p: p, s: s, nodes: *p.nodes.Load(), mask: laneMask(modes)}
	if f.NetworkID == uuid.Nil {
		return c
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	head, ok := p.nets[f.NetworkID]
	for slot := head; ok && slot >= 0; slot = p.recs[slot].netNext {
		r := &p.recs[slot]
		if r.modes&modes == 0 || r.modes&modes&publicModes != 0 {
			continue
		}
		if c.extra == nil {
			c.extra = map[int32]int32{}
		}
		for _, v := range r.chain[:r.nchain] {
			c.extra[v]++
		}
	}
	return c
}

// count returns the visible providers at node n, or in group n the sum over its
// countries; a nil counter counts none.
func (c *counter) count(n int32) int32 {
	if c == nil {
		return 0
	}
	if c.s.nodes[n].kind == kindGroup {
		var v int32
		for _, country := range c.s.groupCountries[c.s.nodes[n].country] {
			v += c.count(country)
		}
		return v
	}
	var v int32
	if int(n) < len(c.nodes) {
		for l := uint8(1); l <= 3; l++ {
			if l&c.mask != 0 {
				v += c.nodes[n].n[l-1].Load()
			}
		}
	}
	if c.extra != nil {
		v += c.extra[n]
	}
	return v
}

// candidates returns the nodes that may have a provider visible to the counter: every
// group, the locations with a public provider, and those of the caller's network's own
// providers. The list is copied under the read lock.
func (c *counter) candidates() []int32 {
	if c == nil {
		return nil
	}
	var nodes []int32
	for g := range groupDefs {
		nodes = append(nodes, int32(g))
	}
	c.p.mu.RLock()
	nodes = append(nodes, c.p.occupied...)
	c.p.mu.RUnlock()
	for n := range c.extra {
		nodes = append(nodes, n)
	}
	return nodes
}
