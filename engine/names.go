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
// branch once every entry of its row exceeds maxDist.
func (x *nameIndex) within(name string, maxDist int) bool {
	row := make([]int, len(name)+1)
	for i := range row {
		row[i] = i
	}
	return x.walk(0, name, row, maxDist)
}

func (x *nameIndex) walk(n int32, name string, prev []int, maxDist int) bool {
	node := &x.nodes[n]
	if node.terminal && prev[len(name)] <= maxDist {
		return true
	}
	row := make([]int, len(prev))
	for i, c := range node.labels {
		row[0] = prev[0] + 1
		best := row[0]
		for j := 1; j <= len(name); j++ {
			cost := 1
			if name[j-1] == c {
				cost = 0
			}
			row[j] = min(prev[j]+1, row[j-1]+1, prev[j-1]+cost)
			best = min(best, row[j])
		}
		if best <= maxDist && x.walk(node.children[i], name, row, maxDist) {
			return true
		}
	}
	return false
}
