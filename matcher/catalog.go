package matcher

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"
)

// Errors of the catalog and the pool. They are returned wrapped with detail; match them
// with errors.Is.
var (
	// ErrInvalidPlace reports a place that cannot become a location.
	ErrInvalidPlace = errors.New("invalid place")
	// ErrUnknownLocation reports a location id that is not in the catalog.
	ErrUnknownLocation = errors.New("unknown location")
)

// LocationType is the level of a location.
type LocationType uint8

// Location levels.
const (
	LocationCountry LocationType = iota + 1
	LocationRegion
	LocationCity
)

// String returns the API's name of t: "country", "region" or "city".
func (t LocationType) String() string {
	switch t {
	case LocationCountry:
		return "country"
	case LocationRegion:
		return "region"
	case LocationCity:
		return "city"
	}
	return fmt.Sprintf("LocationType(%d)", uint8(t))
}

// Location is a country, a region (first-level division) or a city. The names and ids
// of the levels at and above the location are set; those below it are empty. A city
// directly under its country has an empty Region and a nil RegionID.
type Location struct {
	ID          uuid.UUID
	Type        LocationType
	Name        string
	City        string
	CityID      uuid.UUID
	Region      string
	RegionID    uuid.UUID
	Country     string
	CountryID   uuid.UUID
	CountryCode string
}

// Group is a named set of locations. A group holds whole countries, and with each
// country its regions and cities.
type Group struct {
	ID   uuid.UUID
	Name string
	// Promoted groups are meant to be shown before the others.
	Promoted bool
	// Rule states in words which countries belong to the group and why.
	Rule string
	// CountryCodes are the ISO 3166-1 alpha-2 codes of the member countries, sorted.
	CountryCodes []string
}

// Place names a location to add: a city in a region of a country, a region (City empty)
// or a country (City and Region empty). Region is empty for a city directly under its
// country. Names are kept as given for display and compared in their Normalize form.
type Place struct {
	City        string
	Region      string
	Country     string
	CountryCode string
}

// nodeKind tells groups from the levels of locations.
type nodeKind uint8

const (
	kindGroup nodeKind = iota
	kindCountry
	kindRegion
	kindCity
)

// node is one location or group of the catalog. Nodes never change once published.
type node struct {
	id   uuid.UUID
	name string
	// norm is the Normalize form of name.
	norm string
	kind nodeKind
	// parent is the region or country above a city, the country above a region, -1 for
	// countries and groups.
	parent int32
	// country is the node's country (itself for a country), or the group's index in
	// groupDefs for a group.
	country int32
	// code is the country code of a location.
	code string
}

// Catalog is the set of locations and groups, with the search index over their names.
// It is safe for concurrent use: readers work on an immutable snapshot and never wait,
// writers are serialized.
type Catalog struct {
	mu   sync.Mutex // serializes writers
	snap atomic.Pointer[snapshot]
}

// snapshot is one published state of the catalog. Nodes below split are indexed by main,
// the others by delta; both indexes are immutable.
type snapshot struct {
	// nodes is append-only and shared with later snapshots, which only write past its
	// length; groups come first, at the index of their definition.
	nodes []node
	// parents[n] is nodes[n].parent, kept apart so that the pool's updates read a
	// small array; it is append-only like nodes.
	parents []int32
	ids     map[uuid.UUID]int32 // nodes below split
	recent  map[uuid.UUID]int32 // nodes from split on
	split   int32
	main    *segment
	delta   *segment   // nil when split == len(nodes)
	segs    []*segment // main, and delta if any
	// byName lists the main nodes in name order; mainRank is the inverse.
	byName   []int32
	mainRank []uint32
	// deltaRank orders the nodes from split on among the main nodes (see rank), and
	// deltaByName lists them in that order.
	deltaRank   []uint64
	deltaByName []int32
	maxLen      int
	cache       *matchCache // of pool searches, see cache.go
	// countries lists the country nodes; groupCountries[g] those in group g, sorted.
	countries      []int32
	groupCountries [][]int32
	// areas lists the regions and countries, sorted.
	areas []int32
}

// deltaMax is how many nodes the small index may hold before Add rebuilds the main one.
// A single Add rebuilds the small index, so this bounds its cost; a full rebuild is
// amortized over deltaMax adds. Tests lower it to reach rebuilds sooner.
var deltaMax = 1024

// NewCatalog returns a catalog that holds the location groups and no locations.
func NewCatalog() *Catalog {
	nodes := make([]node, len(groupDefs))
	for i, d := range groupDefs {
		nodes[i] = node{
			id: GroupID(d.name), name: d.name, norm: Normalize(d.name), kind: kindGroup,
			parent: -1, country: int32(i),
		}
	}
	c := &Catalog{}
	c.snap.Store(rebuild(nodes, parentsOf(nodes)))
	return c
}

// Len returns the number of locations in the catalog, not counting groups.
func (c *Catalog) Len() int {
	return len(c.snap.Load().nodes) - len(groupDefs)
}

// Add adds the place and the region and country above it, where missing, and returns
// the most specific of them. Adding a place that exists returns it unchanged: the first
// spelling of a name is the one kept for display. Add rebuilds the small index of the
// recent additions (up to 1,024 locations; a few milliseconds) and, every 1,024 new
// locations, the whole index (seconds at world scale, while searches go on with the
// previous snapshot); use AddAll to add many.
func (c *Catalog) Add(p Place) (Location, error) {
	var loc Location
	err := c.update(func(b *builder) error {
		n, err := b.add(p)
		if err != nil {
			return err
		}
		loc = b.location(n)
		return nil
	})
	return loc, err
}

// AddAll adds the places as Add does, with one index rebuild for all of them. On an
// invalid place it adds none and returns the error.
func (c *Catalog) AddAll(places []Place) error {
	return c.update(func(b *builder) error {
		for i, p := range places {
			if _, err := b.add(p); err != nil {
				return fmt.Errorf("place %d: %w", i, err)
			}
		}
		return nil
	})
}

// update runs fn on a builder over the current snapshot and publishes the result.
func (c *Catalog) update(fn func(b *builder) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.snap.Load()
	b := &builder{s: s, nodes: s.nodes, parents: s.parents, added: map[uuid.UUID]int32{}}
	if err := fn(b); err != nil {
		return err
	}
	if len(b.nodes) == len(s.nodes) {
		return nil
	}
	if len(b.nodes)-int(s.split) > deltaMax {
		c.snap.Store(rebuild(b.nodes, b.parents))
		return nil
	}
	c.snap.Store(s.withDelta(b.nodes, b.parents, b.added))
	return nil
}

// Location returns the location with the id.
func (c *Catalog) Location(id uuid.UUID) (Location, bool) {
	s := c.snap.Load()
	n, ok := s.lookup(id)
	if !ok || s.nodes[n].kind == kindGroup {
		return Location{}, false
	}
	return s.location(n), true
}

// LocationAt returns the location whose LocationMatch.Key is key.
func (c *Catalog) LocationAt(key int32) (Location, bool) {
	s := c.snap.Load()
	if key < 0 || int(key) >= len(s.nodes) || s.nodes[key].kind == kindGroup {
		return Location{}, false
	}
	return s.location(key), true
}

// Group returns the group with the id.
func (c *Catalog) Group(id uuid.UUID) (Group, bool) {
	s := c.snap.Load()
	n, ok := s.lookup(id)
	if !ok || s.nodes[n].kind != kindGroup {
		return Group{}, false
	}
	return s.group(n), true
}

// Groups returns all location groups, promoted ones first.
func (c *Catalog) Groups() []Group {
	s := c.snap.Load()
	gs := make([]Group, len(groupDefs))
	for i := range groupDefs {
		gs[i] = s.group(int32(i))
	}
	slices.SortStableFunc(gs, func(a, b Group) int {
		switch {
		case a.Promoted == b.Promoted:
			return 0
		case a.Promoted:
			return -1
		}
		return 1
	})
	return gs
}

// GroupsOf returns the groups that contain the location with the id, in definition
// order, or nil for an unknown id.
func (c *Catalog) GroupsOf(id uuid.UUID) []Group {
	s := c.snap.Load()
	n, ok := s.lookup(id)
	if !ok || s.nodes[n].kind == kindGroup {
		return nil
	}
	var gs []Group
	for _, g := range groupsOfCode[s.nodes[n].code] {
		gs = append(gs, s.group(g))
	}
	return gs
}

// groupsOfCode maps a country code to the node indexes of its groups.
var groupsOfCode = func() map[string][]int32 {
	m := map[string][]int32{}
	for i, d := range groupDefs {
		for _, c := range d.memberCodes() {
			m[c] = append(m[c], int32(i))
		}
	}
	return m
}()

// lookup returns the node index of the location or group with the id.
func (s *snapshot) lookup(id uuid.UUID) (int32, bool) {
	if n, ok := s.recent[id]; ok {
		return n, true
	}
	n, ok := s.ids[id]
	return n, ok
}

// chain appends to dst the location n and the region and country that contain it.
func (s *snapshot) chain(dst []int32, n int32) []int32 {
	for ; n >= 0; n = s.parents[n] {
		dst = append(dst, n)
	}
	return dst
}

// setCountries records the country nodes of s and the groups' members among them.
func (s *snapshot) setCountries(countries []int32) {
	s.countries = countries
	s.groupCountries = make([][]int32, len(groupDefs))
	for _, c := range countries {
		for _, g := range groupsOfCode[s.nodes[c].code] {
			s.groupCountries[g] = append(s.groupCountries[g], c)
		}
	}
	for _, cs := range s.groupCountries {
		slices.Sort(cs)
	}
}

// location builds the Location of node n.
func (s *snapshot) location(n int32) Location {
	nd := &s.nodes[n]
	loc := Location{ID: nd.id, Name: nd.name, CountryCode: nd.code}
	for i := n; i >= 0; i = s.nodes[i].parent {
		x := &s.nodes[i]
		switch x.kind {
		case kindCity:
			loc.City, loc.CityID = x.name, x.id
		case kindRegion:
			loc.Region, loc.RegionID = x.name, x.id
		case kindCountry:
			loc.Country, loc.CountryID = x.name, x.id
		}
	}
	loc.Type = LocationType(nd.kind)
	return loc
}

// group builds the Group of node n.
func (s *snapshot) group(n int32) Group {
	d := groupDefs[s.nodes[n].country]
	return Group{
		ID: s.nodes[n].id, Name: d.name, Promoted: d.promoted, Rule: d.rule,
		CountryCodes: d.memberCodes(),
	}
}

// rank returns the position of node n in name order, comparable across main and delta.
// A main node at position i ranks (i+1)<<32. A delta node ranks j<<32 + 1 + its position
// among the delta nodes, where j is the number of main nodes before it: it falls between
// main positions j-1 and j and the delta nodes keep their own order there.
func (s *snapshot) rank(n int32) uint64 {
	if n < s.split {
		return uint64(s.mainRank[n]+1) << 32
	}
	return s.deltaRank[n-s.split]
}

// nameCompare orders nodes by normalized name, then displayed name, then kind (groups,
// countries, regions, cities), then id: the name order of search results.
func nameCompare(a, b *node) int {
	if c := strings.Compare(a.norm, b.norm); c != 0 {
		return c
	}
	if c := strings.Compare(a.name, b.name); c != 0 {
		return c
	}
	if a.kind != b.kind {
		return int(a.kind) - int(b.kind)
	}
	return bytes.Compare(a.id[:], b.id[:])
}

// parentsOf returns the parent of each node.
func parentsOf(nodes []node) []int32 {
	ps := make([]int32, len(nodes))
	for i := range nodes {
		ps[i] = nodes[i].parent
	}
	return ps
}

// rebuild indexes all nodes into a fresh main segment.
func rebuild(nodes []node, parents []int32) *snapshot {
	s := &snapshot{nodes: nodes, parents: parents, split: int32(len(nodes)),
		cache: new(matchCache)}
	s.ids = make(map[uuid.UUID]int32, len(nodes))
	owners := make([]int32, len(nodes))
	var countries []int32
	for i := range nodes {
		s.ids[nodes[i].id] = int32(i)
		owners[i] = int32(i)
		if nodes[i].kind == kindCountry {
			countries = append(countries, int32(i))
		}
		if nodes[i].kind == kindCountry || nodes[i].kind == kindRegion {
			s.areas = append(s.areas, int32(i))
		}
	}
	s.setCountries(countries)
	s.main = buildSegment(nodes, owners)
	s.segs = []*segment{s.main}
	s.maxLen = s.main.maxLen
	s.byName = slices.Clone(owners)
	slices.SortFunc(s.byName, func(a, b int32) int { return nameCompare(&nodes[a], &nodes[b]) })
	s.mainRank = make([]uint32, len(nodes))
	for pos, n := range s.byName {
		s.mainRank[n] = uint32(pos)
	}
	return s
}

// withDelta returns a snapshot that shares s's main index and indexes the nodes from
// s.split on in a new delta segment. added maps the ids of the nodes new since s.
func (s *snapshot) withDelta(nodes []node, parents []int32, added map[uuid.UUID]int32,
) *snapshot {
	t := &snapshot{
		nodes: nodes, parents: parents, ids: s.ids, split: s.split, main: s.main,
		byName: s.byName, mainRank: s.mainRank, cache: new(matchCache),
	}
	t.recent = make(map[uuid.UUID]int32, len(s.recent)+len(added))
	for id, n := range s.recent {
		t.recent[id] = n
	}
	for id, n := range added {
		t.recent[id] = n
	}
	// The delta segment holds every node from s.split on; s lists the countries and
	// areas among its own nodes already.
	owners := make([]int32, 0, len(nodes)-int(s.split))
	for n := s.split; n < int32(len(nodes)); n++ {
		owners = append(owners, n)
	}
	countries, areas := slices.Clip(s.countries), slices.Clip(s.areas)
	for n := int32(len(s.nodes)); n < int32(len(nodes)); n++ {
		if nodes[n].kind == kindCountry {
			countries = append(countries, n)
		}
		if nodes[n].kind == kindCountry || nodes[n].kind == kindRegion {
			areas = append(areas, n)
		}
	}
	t.areas = areas
	t.setCountries(countries)
	t.delta = buildSegment(nodes, owners)
	t.segs = []*segment{t.main, t.delta}
	t.maxLen = max(s.main.maxLen, t.delta.maxLen)
	slices.SortFunc(owners, func(a, b int32) int { return nameCompare(&nodes[a], &nodes[b]) })
	t.deltaByName = owners
	t.deltaRank = make([]uint64, len(owners))
	for pos, n := range owners {
		j, _ := slices.BinarySearchFunc(s.byName, n, func(m, n int32) int {
			return nameCompare(&nodes[m], &nodes[n])
		})
		t.deltaRank[n-s.split] = uint64(j)<<32 | uint64(pos+1)
	}
	return t
}

// builder adds nodes on top of a snapshot; it is confined to the writer holding the lock.
type builder struct {
	s       *snapshot
	nodes   []node
	parents []int32
	added   map[uuid.UUID]int32
}

// lookup finds a node in the snapshot or among those added since.
func (b *builder) lookup(id uuid.UUID) (int32, bool) {
	if n, ok := b.added[id]; ok {
		return n, true
	}
	return b.s.lookup(id)
}

// location builds the Location of node n, which may be new.
func (b *builder) location(n int32) Location {
	s := *b.s
	s.nodes, s.parents = b.nodes, b.parents
	return s.location(n)
}

// add adds p and its missing parents and returns the most specific node.
func (b *builder) add(p Place) (int32, error) {
	code := normalizeCode(p.CountryCode)
	if len(code) != 2 || !isUpperASCII(code[0]) || !isUpperASCII(code[1]) {
		return -1, fmt.Errorf("%w: country code %q is not two letters", ErrInvalidPlace,
			p.CountryCode)
	}
	region, city := strings.TrimSpace(p.Region), strings.TrimSpace(p.City)
	for _, name := range []string{region, city} {
		if name != "" && Normalize(name) == "" {
			return -1, fmt.Errorf("%w: name %q has no letter or digit", ErrInvalidPlace, name)
		}
	}
	country := strings.TrimSpace(p.Country)
	if Normalize(country) == "" {
		country = code
	}
	n := b.ensure(CountryID(code), kindCountry, country, code, -1)
	if region != "" {
		n = b.ensure(RegionID(code, region), kindRegion, region, code, n)
	}
	if city != "" {
		n = b.ensure(CityID(code, region, city), kindCity, city, code, n)
	}
	return n, nil
}

// ensure returns the node with the id, appending it when missing.
func (b *builder) ensure(id uuid.UUID, kind nodeKind, name, code string, parent int32) int32 {
	if n, ok := b.lookup(id); ok {
		return n
	}
	n := int32(len(b.nodes))
	country := n
	if parent >= 0 {
		country = b.nodes[parent].country
	}
	b.parents = append(b.parents, parent)
	b.nodes = append(b.nodes, node{
		id: id, name: name, norm: Normalize(name), kind: kind, parent: parent,
		country: country, code: code,
	})
	b.added[id] = n
	return n
}

func isUpperASCII(c byte) bool { return c >= 'A' && c <= 'Z' }
