package engine

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/agnivade/levenshtein"
)

func TestNormalizeNetworkName(t *testing.T) {
	for _, c := range []struct {
		in, want string
		err      error
	}{
		{"homenetwork", "homenetwork", nil},
		{"  HomeNetwork1 ", "homenetwork1", nil},
		{"12345678", "12345678", nil},
		{strings.Repeat("z", 63), strings.Repeat("z", 63), nil},
		{"seven77", "", ErrNameTooShort},
		{"", "", ErrNameTooShort},
		{strings.Repeat("z", 64), "", ErrNameInvalid},
		{"home-network", "", ErrNameInvalid},
		{"home_network", "", ErrNameInvalid},
		{"home.network", "", ErrNameInvalid},
		{"home network", "", ErrNameInvalid},
		{"heimnetzwörk", "", ErrNameInvalid},
		{"xn--bcher-kva", "", ErrNameInvalid},
	} {
		got, err := NormalizeNetworkName(c.in)
		if got != c.want || err != c.err {
			t.Errorf("NormalizeNetworkName(%q) = %q, %v; want %q, %v", c.in, got, err, c.want,
				c.err)
		}
	}
}

// randomName returns a name of length 8 to 15 over a tiny alphabet, so that random
// names are often within two edits of each other.
func randomName(rng *rand.Rand, alphabet string) string {
	b := make([]byte, 8+rng.IntN(8))
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

func nearAny(name string, names []string) bool {
	for _, n := range names {
		if levenshtein.ComputeDistance(name, n) < minNameDistance {
			return true
		}
	}
	return false
}

func TestNameIndexMatchesLevenshtein(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, alphabet := range []string{"ab", "abc", "abcdefghij0123456789"} {
		t.Run(alphabet, func(t *testing.T) {
			x := newNameIndex()
			var names []string
			for range 200 {
				n := randomName(rng, alphabet)
				x.Add(n)
				names = append(names, n)
			}
			for range 2000 {
				q := randomName(rng, alphabet)
				if got, want := x.Available(q), !nearAny(q, names); got != want {
					t.Fatalf("Available(%q) = %v, brute force says %v", q, got, want)
				}
			}
		})
	}
}

func TestNameIndexReserve(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	x := newNameIndex()
	var held []string
	for range 1000 {
		q := randomName(rng, "abc")
		err := x.Reserve(q)
		if want := nearAny(q, held); (err != nil) != want {
			t.Fatalf("Reserve(%q) = %v, brute force says near: %v", q, err, want)
		}
		if err == nil {
			held = append(held, q)
		}
	}
	if len(held) < 5 {
		t.Fatalf("only %d names reserved; the test proves little", len(held))
	}

	// A released name and its neighbours are free again, unless another name is near.
	for i := len(held) - 1; i >= 0; i-- {
		name := held[i]
		x.Release(name)
		held = held[:i]
		if got, want := x.Available(name), !nearAny(name, held); got != want {
			t.Fatalf("after Release(%q) Available = %v, brute force says %v", name, got, want)
		}
	}
	if !x.Available("aaaaaaaa") {
		t.Fatal("an empty index refuses a name")
	}
	// Releasing a name never reserved, or a prefix of one, changes nothing.
	x.Add("abcabcabca")
	x.Release("abcabcab")
	x.Release("zzzzzzzzzz")
	if x.Available("abcabcabca") {
		t.Fatal("releasing another name freed an existing one")
	}
}

func TestNameIndexConcurrentReserve(t *testing.T) {
	x := newNameIndex()
	x.Add("existingname")
	const n = 64
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = x.Reserve(fmt.Sprintf("racingname%02d", i)) })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
		} else if err != ErrNameTaken {
			t.Fatalf("Reserve: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d near-identical reservations succeeded, want 1", won, n)
	}
}

// benchNames returns n distinct names shaped like real network names: 4 to 8 spoken
// syllables, sometimes followed by digits, 8 to 19 characters. Many share prefixes,
// which is what makes a trie walk go deep.
func benchNames(rng *rand.Rand, n int) []string {
	const consonants, vowels = "bcdfghjklmnprstvwz", "aeiou"
	seen := make(map[string]bool, n)
	out := make([]string, 0, n)
	for len(out) < n {
		var b strings.Builder
		for range 4 + rng.IntN(5) {
			b.WriteByte(consonants[rng.IntN(len(consonants))])
			b.WriteByte(vowels[rng.IntN(len(vowels))])
		}
		if rng.IntN(3) == 0 {
			fmt.Fprintf(&b, "%d", rng.IntN(1000))
		}
		if name := b.String(); !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	return out
}

// edit returns name with its last k characters changed: k substitutions away.
func edit(name string, k int) string {
	b := []byte(name)
	for i := len(b) - k; i < len(b); i++ {
		if b[i] == 'x' {
			b[i] = 'y'
		} else {
			b[i] = 'x'
		}
	}
	return string(b)
}

// BenchmarkNetworkCheck checks names against an index of 100,000 existing names
// through Engine.NetworkCheck. The target is under 1 ms per check.
func BenchmarkNetworkCheck(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	existing := benchNames(rng, 100_000)
	e := &Engine{names: newNameIndex()}
	for _, n := range existing {
		e.names.Add(n)
	}
	cases := []struct {
		name  string
		query func(i int) string
	}{
		// A fresh name: the common case, answered after the whole pruned walk.
		{"new", func(int) string { return benchNames(rng, 1)[0] }},
		// One edit from an existing name: found, and the walk stops early.
		{"taken", func(i int) string { return edit(existing[i*97%len(existing)], 1) }},
		// Three edits at the end of an existing name: the walk follows that name's
		// whole path before it can answer.
		{"three-edits", func(i int) string { return edit(existing[i*89%len(existing)], 3) }},
	}
	for _, c := range cases {
		qs := make([]string, 1024)
		for i := range qs {
			qs[i] = c.query(i)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				e.NetworkCheck(qs[i%len(qs)])
				i++
			}
		})
	}
}
