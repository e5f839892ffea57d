package matcher

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
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

	mu   sync.RWMutex
	recs records
	free []int32
	// clients finds a provider's slot by client id; nets finds by network id the first
	// of the network's providers that offer a non-public mode, the rest following
	// through record.netNext.
	clients slotIndex
	nets    slotIndex
	// places caches the chains of the locations providers were set at, so that a move
	// costs one cache miss to resolve rather than the catalog's several.
	places chainCache
	levels [weightLevels + 1]int32
	// levelSet has bit l-1 set while levels[l] is positive.
	levelSet uint64
	// nodes holds the buckets and counts per catalog node. The slice is replaced when it
	// grows, so that searches can read counts from it without the lock.
	nodes atomic.Pointer[[]nodeState]
	// occupied lists the nodes with at least one public provider in segments by the
	// magnitude of that number (see Pool.magnitude), the largest first: segment k is
	// occupied[segEnd[k+1]:segEnd[k]], and a node changes segment by trading places
	// with a node at the border. So a search can visit the nodes with the most
	// providers first (see counter.byCount). occAt[v] is node v's position in it. The
	// segments below low are empty.
	occupied []int32
	segEnd   [maxMagnitude + 2]int32
	occAt    []int32
	low      int
	// segCities[k] is the number of cities in segment k, which tells searches how the
	// segments divide between cities and larger places (see fillsAt).
	segCities [maxMagnitude + 2]int32
	// touched keeps the sum of what rebucket reads only to bring it into the cache.
	touched int32
}

// nodeState is what the pool keeps per location, in one cache line. b[lane] lists the
// providers whose city, region or country is the node and that offer the lane's public
// mode, in no order; it changes under the pool's lock. n[l-1] counts the providers at
// the node in exactly the public lanes given by the bits of l (1, 2 or 3); it is atomic
// for lock-free readers.
type nodeState struct {
	b [lanes][]member
	n [3]atomic.Int32
}

// Public lanes: a provider offering ModePublic is in lane 0 of its city, region and
// country, one offering ModePublicStream in lane 1.
const (
	lanes    = 2
	maxChain = 3 // city, region, country
	maxSlots = math.MaxInt32
)

// member is a provider in a bucket. It carries what a sample needs to judge and return a
// candidate, so that a sample reads no record: at a million providers each record read
// is a cache miss.
type member struct {
	id    uuid.UUID // the client id
	slot  int32
	level uint8 // weight in 1/weightLevels
	both  bool  // in both public lanes
	// chain is the index of the bucket's node in the provider's chain, which tells a
	// removal where the record keeps the member's position without reading the record.
	chain uint8
}

func (r *record) asMember(slot int32, chain uint8) member {
	return member{id: r.client, slot: slot, level: r.level, both: r.lanes == 3, chain: chain}
}

// setMember makes m the member for the provider of r in slot, in the bucket at index
// chain of its chain.
func (r *record) setMember(m *member, slot int32, chain uint8) {
	m.id, m.slot, m.level, m.both, m.chain = r.client, slot, r.level, r.lanes == 3, chain
}

// record is one provider; slots of removed providers are reused.
type record struct {
	client, network uuid.UUID
	location        uuid.UUID
	chain           [maxChain]int32        // the location, its region and country
	pos             [lanes][maxChain]int32 // position in the bucket of (lane, chain[i])
	netPrev         int32                  // neighbours in the network's list, -1 at the
	netNext         int32                  // ends; netPrev is -2 when not in a list
	nchain          uint8
	modes           ModeSet
	lanes           uint8 // bit l: in lane l
	level           uint8 // weight in 1/weightLevels
}

// inNetList reports whether a provider belongs in its network's list: it offers a mode
// that only its network sees.
func (r *record) inNetList() bool {
	return r.modes&^publicModes != 0 && r.network != uuid.Nil
}

// records holds the records in chunks of a fixed size, so that the pool grows without
// copying every record under the write lock.
type records struct {
	chunks [][]record
	n      int32
}

const chunkBits = 12

func (rs *records) at(slot int32) *record {
	return &rs.chunks[slot>>chunkBits][slot&(1<<chunkBits-1)]
}

// add returns a new slot.
func (rs *records) add() int32 {
	if int(rs.n)>>chunkBits == len(rs.chunks) {
		rs.chunks = append(rs.chunks, make([]record, 1<<chunkBits))
	}
	rs.n++
	return rs.n - 1
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
	p := &Pool{cat: cat, low: lowMagnitude}
	p.nets.byNetwork = true
	p.nodes.Store(new([]nodeState))
	return p
}

// Len returns the number of providers in the pool.
func (p *Pool) Len() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.clients.n
}

// Set adds the provider or updates it in place. A provider with no known mode is
// removed. Set costs O(1): a change of weight, modes or network touches one record and
// its bucket entries, and a change of location moves the provider out of and into the
// buckets of its city, region and country.
func (p *Pool) Set(pr Provider) error {
	op, err := newSetOp(pr)
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
	ops := make([]setOp, len(prs))
	for i, pr := range prs {
		var err error
		if ops[i], err = newSetOp(pr); err != nil {
			return err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// Locations resolve through the pool's cache, which is quicker than the catalog.
	for i := range ops {
		if ops[i].modes != 0 {
			if err := p.resolve(&ops[i]); err != nil {
				return err
			}
		}
	}
	for i := range ops {
		if err := p.apply(&ops[i]); err != nil {
			return err
		}
	}
	return nil
}

// Remove removes the provider and reports whether it was in the pool.
func (p *Pool) Remove(clientID uuid.UUID) bool {
	h := hashID(clientID)
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.remove(clientID, h)
}

// setOp is a checked Set, ready to apply under the lock.
type setOp struct {
	pr    Provider
	hash  uint64 // of the client id
	modes ModeSet
	level uint8
	// chain is the location, its region and country, resolved when nchain > 0.
	chain  [maxChain]int32
	nchain int
}

// newSetOp checks pr; its location is resolved later, when needed (see Pool.resolve).
func newSetOp(pr Provider) (setOp, error) {
	op := setOp{pr: pr, hash: hashID(pr.ClientID), modes: pr.Modes & validModes,
		level: weightLevel(pr.Weight)}
	if pr.ClientID == uuid.Nil {
		return op, fmt.Errorf("%w: nil client id", ErrInvalidProvider)
	}
	return op, nil
}

// resolve finds the location of op in s.
func (op *setOp) resolve(s *snapshot) error {
	n, ok := s.lookup(op.pr.LocationID)
	if !ok || n < int32(len(groupDefs)) { // groups come first
		return fmt.Errorf("set provider %s: %w %s", op.pr.ClientID, ErrUnknownLocation,
			op.pr.LocationID)
	}
	op.nchain = len(s.chain(op.chain[:0], n))
	return nil
}

// resolve finds the location of op through the cache, or in the catalog and then caches
// it; the caller holds the write lock. A location's chain never changes.
func (p *Pool) resolve(op *setOp) error {
	h := hashID(op.pr.LocationID)
	if c := p.places.get(h, op.pr.LocationID); c != nil {
		op.chain, op.nchain = c.chain, int(c.n)
		return nil
	}
	if err := op.resolve(p.cat.snap.Load()); err != nil {
		return err
	}
	p.places.put(h, chainCell{id: op.pr.LocationID, chain: op.chain, n: int32(op.nchain)})
	return nil
}

// apply performs op; the caller holds the write lock. A provider that stays where it is
// needs no look-up in the catalog.
//
// At a million providers most steps touch memory that is not in the cache, so the order
// is chosen to let the misses overlap: the network list goes first, and the bucket work
// runs in phases (see rebucket).
func (p *Pool) apply(op *setOp) error {
	if op.modes == 0 {
		p.remove(op.pr.ClientID, op.hash)
		return nil
	}
	slot, ok := p.clients.get(&p.recs, op.hash, op.pr.ClientID)
	var r *record
	if ok {
		r = p.recs.at(slot)
	}
	moves := !ok || r.location != op.pr.LocationID
	if moves && op.nchain == 0 {
		if err := p.resolve(op); err != nil {
			return err
		}
	}
	lanes := laneMask(op.modes)
	if !ok {
		if slot, ok = p.alloc(); !ok {
			return fmt.Errorf("%w: pool holds %d providers", ErrInvalidProvider, maxSlots)
		}
		p.clients.put(op.hash, slot)
		r = p.recs.at(slot)
		*r = record{client: op.pr.ClientID, network: op.pr.NetworkID, location: op.pr.LocationID,
			netPrev: -2, netNext: -1, modes: op.modes, level: op.level}
		p.countLevel(op.level, 1)
		p.joinNet(slot)
		p.rebucket(slot, op.chain[:op.nchain], lanes)
		return nil
	}
	relink := r.network != op.pr.NetworkID || r.modes&^publicModes != op.modes&^publicModes
	if relink {
		p.leaveNet(slot)
	}
	r.network, r.modes = op.pr.NetworkID, op.modes
	if relink {
		p.joinNet(slot)
	}
	level := r.level != op.level
	if level {
		p.countLevel(r.level, -1)
		p.countLevel(op.level, 1)
		r.level = op.level
	}
	switch {
	case moves || lanes != r.lanes:
		chain := op.chain[:op.nchain]
		if !moves {
			chain = r.chain[:r.nchain]
		}
		p.rebucket(slot, chain, lanes)
		r.location = op.pr.LocationID
	case level:
		p.rewrite(slot) // only the weight in the members changes
	}
	return nil
}

// remove removes the provider; the caller holds the write lock.
func (p *Pool) remove(clientID uuid.UUID, h uint64) bool {
	slot, ok := p.clients.get(&p.recs, h, clientID)
	if !ok {
		return false
	}
	p.rebucket(slot, nil, 0)
	p.leaveNet(slot)
	p.clients.del(h, slot)
	r := p.recs.at(slot)
	p.countLevel(r.level, -1)
	*r = record{}
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

// countLevel adds d to the providers of weight level l.
func (p *Pool) countLevel(l uint8, d int32) {
	p.levels[l] += d
	if p.levels[l] > 0 {
		p.levelSet |= 1 << (l - 1)
	} else {
		p.levelSet &^= 1 << (l - 1)
	}
}

// alloc returns a free slot.
func (p *Pool) alloc() (int32, bool) {
	if n := len(p.free); n > 0 {
		slot := p.free[n-1]
		p.free = p.free[:n-1]
		return slot, true
	}
	if p.recs.n >= maxSlots {
		return 0, false
	}
	return p.recs.add(), true
}

// A provider is in at most maxBuckets buckets: one per public lane at each of its city,
// region and country.
const maxBuckets = lanes * maxChain

// buckets lists the buckets of the provider in r as (chain index, lane) pairs.
func (r *record) buckets() (is, ls [maxBuckets]uint8, n int) {
	for i := range r.nchain {
		for l := range uint8(lanes) {
			if r.lanes&(1<<l) != 0 {
				is[n], ls[n] = i, l
				n++
			}
		}
	}
	return is, ls, n
}

// rebucket takes the provider in slot out of the buckets and counts of its chain and
// lanes, and puts it into those of chain and lanes, which become its record's; the
// record's level must be the new one. A member taken out leaves its place to the
// bucket's last member. See apply for the order of the steps.
func (p *Pool) rebucket(slot int32, chain []int32, lanes uint8) {
	r := p.recs.at(slot)
	nodes := *p.nodes.Load()
	if lanes != 0 {
		nodes = p.grow(int(slices.Max(chain)) + 1)
	}

	// Loads: the last member of every bucket left, and the states of the nodes joined.
	// Everything else the stores below write is read here too, only to bring it into
	// the cache now, together with the rest: the provider's places in the buckets it
	// leaves, the ends of the buckets it joins and the records of the members that fill
	// its places. Otherwise the counters' atomic adds, and the unlock after them, would
	// wait for those misses one after another.
	var out struct {
		n    int
		v    [maxBuckets]int32
		l    [maxBuckets]uint8
		at   [maxBuckets]int32
		last [maxBuckets]int32 // the slot of the bucket's last member
		// lastChain is the last member's chain field.
		lastChain [maxBuckets]uint8
	}
	var touch int32
	is, ls, n := r.buckets()
	for k := range n {
		v, l := r.chain[is[k]], ls[k]
		b := nodes[v].b[l]
		at := r.pos[l][is[k]]
		last := &b[len(b)-1]
		out.v[k], out.l[k], out.at[k] = v, l, at
		out.last[k], out.lastChain[k] = last.slot, last.chain
		touch += b[at].slot
	}
	out.n = n
	if lanes != 0 {
		for _, v := range chain {
			ns := &nodes[v]
			touch += ns.n[0].Load()
			for l := range uint8(len(ns.b)) {
				if b := ns.b[l]; lanes&(1<<l) != 0 && len(b) > 0 {
					touch += b[len(b)-1].slot
				}
			}
		}
	}
	for k := range n {
		touch += p.recs.at(out.last[k]).pos[out.l[k]][out.lastChain[k]]
	}
	p.touched = touch

	// Counters, on cache lines now loaded.
	p.count(nodes, r.chain[:r.nchain], r.lanes, -1)
	p.count(nodes, chain, lanes, 1)

	// Stores. Members are copied from bucket to bucket and built in place: a member
	// copied through the stack is read back in overlapping halves, which cannot be
	// forwarded from the stores that wrote it and waits for them to reach the cache.
	for k := range out.n {
		v, l, at, last := out.v[k], out.l[k], out.at[k], out.last[k]
		b := nodes[v].b[l]
		if last != slot {
			b[at] = b[len(b)-1]
			p.recs.at(last).pos[l][out.lastChain[k]] = at
		}
		if b = b[:len(b)-1]; len(b) == 0 {
			b = nil // a location that empties gives its memory back
		}
		nodes[v].b[l] = b
	}
	var c [maxChain]int32 // chain may be the record's own
	copy(c[:], chain)
	r.chain, r.nchain, r.lanes = c, uint8(len(chain)), lanes
	is, ls, n = r.buckets()
	for k := range n {
		b := &nodes[r.chain[is[k]]].b[ls[k]]
		r.pos[ls[k]][is[k]] = int32(len(*b))
		*b = slices.Grow(*b, 1)[:len(*b)+1]
		r.setMember(&(*b)[len(*b)-1], slot, is[k])
	}
}

// count adds d, 1 or -1, to the counts of the nodes of chain for a provider in lanes,
// and keeps Pool.occupied current.
func (p *Pool) count(nodes []nodeState, chain []int32, lanes uint8, d int32) {
	if lanes == 0 {
		return
	}
	for _, v := range chain {
		ns := &nodes[v]
		ns.n[lanes-1].Add(d)
		total := ns.n[0].Load() + ns.n[1].Load() + ns.n[2].Load()
		if from, to := p.magnitude(total-d), p.magnitude(total); from != to {
			p.resegment(v, from, to)
		}
	}
}

// maxMagnitude is the largest magnitude of a count of providers.
const maxMagnitude = 31

// lowMagnitude is the magnitude of the last segment of Pool.occupied, which holds the
// nodes with fewer than 16 providers: searches take no more nodes than the segments
// above it hold in a pool of a million (see denseCopy), and a provider that moves from
// city to city would move the cities between smaller segments at one move in five. A
// variable so that tests can lower it before they make a pool.
var lowMagnitude = 4

// magnitude returns the segment of Pool.occupied for a node with n public providers:
// 0 (none) for 0, and k for 2^(k-1) <= n < 2^k, or p.low when k is smaller.
func (p *Pool) magnitude(n int32) int {
	if n == 0 {
		return 0
	}
	return max(bits.Len32(uint32(n)), p.low)
}

// resegment moves node v from segment from of Pool.occupied to segment to, the one
// before or after it; segment 0 is outside, and the segments below p.low are empty.
func (p *Pool) resegment(v int32, from, to int) {
	if p.cat.snap.Load().nodes[v].kind == kindCity {
		if from > 0 {
			p.segCities[from]--
		}
		if to > 0 {
			p.segCities[to]++
		}
	}
	switch {
	case from == 0: // into the last segment
		p.occAt[v] = int32(len(p.occupied))
		p.occupied = append(p.occupied, v)
		for k := 1; k <= to; k++ {
			p.segEnd[k]++
		}
	case to > from: // trade places with the first of its segment, a place that then
		// becomes the last of the segment before
		p.swapOccupied(p.occAt[v], p.segEnd[to])
		p.segEnd[to]++
	default: // with the last of its segment, a place that then becomes the first of the next
		p.swapOccupied(p.occAt[v], p.segEnd[from]-1)
		p.segEnd[from]--
		if to == 0 {
			p.occupied = p.occupied[:len(p.occupied)-1]
			for k := 1; k < from; k++ {
				p.segEnd[k]--
			}
		}
	}
}

// swapOccupied swaps the nodes at positions i and j of Pool.occupied.
func (p *Pool) swapOccupied(i, j int32) {
	a, b := p.occupied[i], p.occupied[j]
	p.occupied[i], p.occupied[j] = b, a
	p.occAt[a], p.occAt[b] = j, i
}

// joinNet puts the provider in slot at the head of its network's list if it belongs
// there and is not in it yet.
func (p *Pool) joinNet(slot int32) {
	r := p.recs.at(slot)
	if r.netPrev != -2 || !r.inNetList() {
		return
	}
	h := hashID(r.network)
	r.netPrev, r.netNext = -1, -1
	if head, ok := p.nets.get(&p.recs, h, r.network); ok {
		r.netNext = head
		p.recs.at(head).netPrev = slot
		p.nets.replace(h, head, slot)
		return
	}
	p.nets.put(h, slot)
}

// leaveNet takes the provider in slot out of its network's list, if it is in one.
func (p *Pool) leaveNet(slot int32) {
	r := p.recs.at(slot)
	if r.netPrev == -2 {
		return
	}
	if r.netNext >= 0 {
		p.recs.at(r.netNext).netPrev = r.netPrev
	}
	switch {
	case r.netPrev >= 0:
		p.recs.at(r.netPrev).netNext = r.netNext
	case r.netNext >= 0:
		p.nets.replace(hashID(r.network), slot, r.netNext)
	default:
		p.nets.del(hashID(r.network), slot)
	}
	r.netPrev, r.netNext = -2, -1
}

// rewrite refreshes the bucket entries of the provider in slot after its weight changed.
func (p *Pool) rewrite(slot int32) {
	r := p.recs.at(slot)
	nodes := *p.nodes.Load()
	is, ls, n := r.buckets()
	var ms [maxBuckets]*member
	for k := range n {
		ms[k] = &nodes[r.chain[is[k]]].b[ls[k]][r.pos[ls[k]][is[k]]]
	}
	for k := range n {
		ms[k].level = r.level
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
	p.occAt = append(p.occAt, make([]int32, len(nodes)-len(p.occAt))...)
	for i := range old {
		nodes[i].b = old[i].b
		for k := range old[i].n {
			nodes[i].n[k].Store(old[i].n[k].Load())
		}
	}
	p.nodes.Store(&nodes)
	return nodes
}

// hashSeed keys hashID, so that ids chosen to collide in one process do not collide in
// another.
var hashSeed = func() (s [2]uint64) {
	var b [16]byte
	rand.Read(b[:])
	return [2]uint64{binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])}
}()

// hashID hashes an id to 64 bits: the halves, keyed, multiplied to 128 bits and folded.
func hashID(id uuid.UUID) uint64 {
	hi, lo := bits.Mul64(binary.LittleEndian.Uint64(id[:8])^hashSeed[0],
		binary.LittleEndian.Uint64(id[8:])^hashSeed[1])
	return hi ^ lo
}

// slotIndex maps ids to slots by open addressing with linear probing. A cell holds 32
// bits of the id's hash beside the slot, so that a lookup reads a record only to confirm
// a matching hash, and the table rehashes without reading records. The table is split
// by the hash's top bits into parts that grow one at a time: a growth copies a part, not
// the whole index, under the write lock.
type slotIndex struct {
	parts [indexParts]indexPart
	n     int
	// byNetwork says the key of a slot is its record's network, not its client id.
	byNetwork bool
}

const indexParts = 256

type indexPart struct {
	cells []uint64 // hash<<32 | slot+1; 0 is an empty cell
	n     int
}

func (x *slotIndex) part(h uint64) *indexPart {
	return &x.parts[h>>(64-8)]
}

// get returns the slot whose key is id; h is hashID(id).
func (x *slotIndex) get(rs *records, h uint64, id uuid.UUID) (int32, bool) {
	pt := x.part(h)
	if pt.n == 0 {
		return -1, false
	}
	mask := uint32(len(pt.cells) - 1)
	for i := uint32(h) & mask; ; i = (i + 1) & mask {
		c := pt.cells[i]
		if c == 0 {
			return -1, false
		}
		if uint32(c>>32) != uint32(h) {
			continue
		}
		slot := int32(uint32(c)) - 1
		r := rs.at(slot)
		if !x.byNetwork && r.client == id || x.byNetwork && r.network == id {
			return slot, true
		}
	}
}

// put adds slot under hash h; the key must not be in the index.
func (x *slotIndex) put(h uint64, slot int32) {
	pt := x.part(h)
	if 2*(pt.n+1) > len(pt.cells) {
		old := pt.cells
		pt.cells = make([]uint64, max(16, 2*len(old)))
		mask := uint32(len(pt.cells) - 1)
		for _, c := range old {
			if c != 0 {
				i := uint32(c>>32) & mask
				for pt.cells[i] != 0 {
					i = (i + 1) & mask
				}
				pt.cells[i] = c
			}
		}
	}
	mask := uint32(len(pt.cells) - 1)
	i := uint32(h) & mask
	for pt.cells[i] != 0 {
		i = (i + 1) & mask
	}
	pt.cells[i] = h<<32 | uint64(uint32(slot+1))
	pt.n++
	x.n++
}

// find returns the cell of slot under hash h.
func (pt *indexPart) find(h uint64, slot int32) uint32 {
	mask := uint32(len(pt.cells) - 1)
	want := h<<32 | uint64(uint32(slot+1))
	i := uint32(h) & mask
	for pt.cells[i] != want {
		i = (i + 1) & mask
	}
	return i
}

// replace makes the key of hash h that maps to old map to slot.
func (x *slotIndex) replace(h uint64, old, slot int32) {
	pt := x.part(h)
	pt.cells[pt.find(h, old)] = h<<32 | uint64(uint32(slot+1))
}

// del removes slot, found under hash h, and shifts back the cells that probed past it so
// that every key stays reachable from its home cell.
func (x *slotIndex) del(h uint64, slot int32) {
	pt := x.part(h)
	mask := uint32(len(pt.cells) - 1)
	i := pt.find(h, slot)
	for j := (i + 1) & mask; pt.cells[j] != 0; j = (j + 1) & mask {
		// The cell at j may fill the hole at i unless its home lies cyclically in (i, j].
		if home := uint32(pt.cells[j]>>32) & mask; (j-home)&mask >= (j-i)&mask {
			pt.cells[i] = pt.cells[j]
			i = j
		}
	}
	pt.cells[i] = 0
	pt.n--
	x.n--
}

// chainCache maps location ids to their chains by open addressing with linear probing,
// split by the hash's top bits into parts that grow one at a time like slotIndex's.
type chainCache struct {
	parts [indexParts]chainPart
}

type chainPart struct {
	cells []chainCell
	n     int
}

// chainCell is a location and its chain, in half a cache line; n is 0 in an empty cell.
type chainCell struct {
	id    uuid.UUID
	chain [maxChain]int32
	n     int32
}

// get returns the cell of id, or nil; h is hashID(id).
func (c *chainCache) get(h uint64, id uuid.UUID) *chainCell {
	pt := &c.parts[h>>(64-8)]
	if pt.n == 0 {
		return nil
	}
	mask := uint32(len(pt.cells) - 1)
	for i := uint32(h) & mask; pt.cells[i].n != 0; i = (i + 1) & mask {
		if pt.cells[i].id == id {
			return &pt.cells[i]
		}
	}
	return nil
}

// put adds cell, whose id is not in the cache, under h.
func (c *chainCache) put(h uint64, cell chainCell) {
	pt := &c.parts[h>>(64-8)]
	if 4*(pt.n+1) > 3*len(pt.cells) {
		old := pt.cells
		pt.cells = make([]chainCell, max(16, 2*len(old)))
		for _, o := range old {
			if o.n != 0 {
				pt.insert(uint32(hashID(o.id)), o)
			}
		}
	}
	pt.insert(uint32(h), cell)
	pt.n++
}

func (pt *chainPart) insert(h uint32, cell chainCell) {
	mask := uint32(len(pt.cells) - 1)
	i := h & mask
	for pt.cells[i].n != 0 {
		i = (i + 1) & mask
	}
	pt.cells[i] = cell
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
	h := hashID(f.NetworkID)
	p.mu.RLock()
	defer p.mu.RUnlock()
	head, ok := p.nets.get(&p.recs, h, f.NetworkID)
	for slot := head; ok && slot >= 0; slot = p.recs.at(slot).netNext {
		r := p.recs.at(slot)
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
	if n < int32(len(groupDefs)) { // groups come first; this spares reading the node
		var v int32
		for _, country := range c.s.groupCountries[n] {
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

// dense reports whether the pool has public providers at many locations, where
// ranking by provider count pays (see snapshot.topByCount).
func (c *counter) dense() bool {
	if c == nil {
		return false
	}
	c.p.mu.RLock()
	n := len(c.p.occupied)
	c.p.mu.RUnlock()
	return n >= hugeMatch
}

// denseCopy is the most nodes byCount copies; a variable so that tests can lower it.
var denseCopy = 1 << 14

// segments returns the ends of the pool's segments (see Pool.occupied) and the number
// of cities in each.
func (c *counter) segments() (ends, cities [maxMagnitude + 2]int32) {
	c.p.mu.RLock()
	defer c.p.mu.RUnlock()
	return c.p.segEnd, c.p.segCities
}

// byCount copies into buf, under the read lock, the whole segments at the start of
// Pool.occupied that end within n nodes and denseCopy, and returns the copy with the
// ends of the pool's segments.
func (c *counter) byCount(buf []int32, n int) ([]int32, [maxMagnitude + 2]int32) {
	c.p.mu.RLock()
	defer c.p.mu.RUnlock()
	n = min(n, denseCopy)
	end := int32(0)
	for _, e := range c.p.segEnd[1:] { // the ends, last segment first
		if int(e) <= n {
			end = e
			break
		}
	}
	return append(buf[:0], c.p.occupied[:end]...), c.p.segEnd
}

// listed returns the number of nodes that candidates returns, or more.
func (c *counter) listed() int {
	if c == nil {
		return 0
	}
	c.p.mu.RLock()
	n := len(c.p.occupied)
	c.p.mu.RUnlock()
	return len(groupDefs) + n + len(c.extra)
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
