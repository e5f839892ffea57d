package engine

import (
	"strings"
	"sync"
)

// Network name rules.
const (
	minNetworkNameLen = 8
	maxNetworkNameLen = 63 // a DNS label
	// minNameDistance is how many edits a new name must be from every existing one.
	minNameDistance = 3
)

// Errors of the network name rules.
var (
	ErrNameTooShort = &UserError{Msg: "Network name must have at least 8 characters."}
	ErrNameInvalid  = &UserError{
		Msg: "Network name may use only the letters a-z and the digits 0-9, up to 63 of them."}
	ErrNameTaken = &UserError{Msg: "Network name is not available."}
)

// NormalizeNetworkName lower-cases a network name and checks its form: at least 8
// characters, a valid DNS label of a-z and 0-9, no dash.
func NormalizeNetworkName(name string) (string, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	if len(name) < minNetworkNameLen {
		return "", ErrNameTooShort
	}
	if len(name) > maxNetworkNameLen {
		return "", ErrNameInvalid
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return "", ErrNameInvalid
		}
	}
	return name, nil
}

// nameIndex holds every network name in a trie, so that "is any name within two edits
// of this one" is a pruned walk rather than a scan. It is safe for concurrent use.
//
// Names being created are reserved: they count as taken until the creating transaction
// commits (Confirm) or fails (Release), so two concurrent requests for near-identical
// names cannot both pass the check.
type nameIndex struct {
	mu    sync.Mutex
	nodes []trieNode // nodes[0] is the root
	rows  []int      // scratch of within, guarded by mu
}

type trieNode struct {
	// children is a small sorted list; names use 36 symbols, most nodes have one child.
	labels   []byte
	children []int32
	terminal bool
}

func newNameIndex() *nameIndex {
	return &nameIndex{nodes: make([]trieNode, 1, 1024)}
}

// Add inserts a name that exists in the store.
func (x *nameIndex) Add(name string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.insert(name)
}

// Available reports whether name is at least minNameDistance edits from every name in
// the index.
func (x *nameIndex) Available(name string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return !x.within(name, minNameDistance-1)
}

// Reserve checks that name is available and holds it until Confirm or Release.
func (x *nameIndex) Reserve(name string) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.within(name, minNameDistance-1) {
		return ErrNameTaken
	}
	x.insert(name)
	return nil
}

// Release drops a reservation whose creation failed.
func (x *nameIndex) Release(name string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	n := int32(0)
	for i := 0; i < len(name); i++ {
		next := x.child(n, name[i])
		if next < 0 {
			return
		}
		n = next
	}
	x.nodes[n].terminal = false
}

func (x *nameIndex) insert(name string) {
	n := int32(0)
	for i := 0; i < len(name); i++ {
		next := x.child(n, name[i])
		if next < 0 {
			next = int32(len(x.nodes))
			x.nodes = append(x.nodes, trieNode{})
			node := &x.nodes[n]
			at := 0
			for at < len(node.labels) && node.labels[at] < name[i] {
				at++
			}
			node.labels = append(node.labels[:at], append([]byte{name[i]}, node.labels[at:]...)...)
			node.children = append(node.children[:at],
				append([]int32{next}, node.children[at:]...)...)
		}
		n = next
	}
	x.nodes[n].terminal = true
}

func (x *nameIndex) child(n int32, c byte) int32 {
	node := &x.nodes[n]
	for i, l := range node.labels {
		if l == c {
			return node.children[i]
		}
	}
	return -1
}

// within reports whether some name in the index is at most maxDist edits from name.
// It walks the trie carrying one row of the Levenshtein table per node and abandons a
// branch once every entry of its row exceeds maxDist. The caller holds x.mu.
func (x *nameIndex) within(name string, maxDist int) bool {
	width := len(name) + 1
	// A walk never goes deeper than len(name)+maxDist: below that every entry of a row
	// exceeds maxDist. One row per depth, reused, keeps a check free of allocations.
	if need := width * (len(name) + maxDist + 2); len(x.rows) < need {
		x.rows = make([]int, need)
	}
	for i := range width {
		x.rows[i] = i
	}
	return x.walk(0, name, x.rows, width, maxDist)
}

// walk continues the search below node n. rows[:width] is the Levenshtein row of n;
// the rows after it are free for the levels below. Only the band of a row within
// maxDist of its diagonal can hold an entry <= maxDist, so only the band is computed;
// the entries beside it are set to maxDist+1, which decides the same as the true
// values above maxDist would.
func (x *nameIndex) walk(n int32, name string, rows []int, width, maxDist int) bool {
	prev, row := rows[:width], rows[width:2*width]
	node := &x.nodes[n]
	// Outside the band prev holds stale entries; a name whose length differs by more
	// than maxDist is that many edits away anyway.
	if diff := len(name) - prev[0]; node.terminal && -maxDist <= diff && diff <= maxDist &&
		prev[len(name)] <= maxDist {
		return true
	}
	depth := prev[0] + 1
	lo, hi := max(1, depth-maxDist), min(len(name), depth+maxDist)
	if lo > 1 {
		row[lo-1] = maxDist + 1
	}
	if hi < len(name) {
		row[hi+1] = maxDist + 1
	}
	for i, c := range node.labels {
		row[0] = depth
		best := maxDist + 1
		if depth <= maxDist {
			best = depth
		}
		for j := lo; j <= hi; j++ {
			cost := 1
			if name[j-1] == c {
				cost = 0
			}
			row[j] = min(prev[j]+1, row[j-1]+1, prev[j-1]+cost)
			best = min(best, row[j])
		}
		if best <= maxDist && x.walk(node.children[i], name, rows[width:], width, maxDist) {
			return true
		}
	}
	return false
}
