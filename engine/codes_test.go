package engine

import (
	"regexp"
	"testing"

	"github.com/google/uuid"
)

func TestVerifyCodes(t *testing.T) {
	six := regexp.MustCompile(`^[0-9]{6}$`)
	seen := map[string]bool{}
	leadingZero := false
	for range 5000 {
		c, err := newVerifyCode()
		if err != nil || !six.MatchString(c) {
			t.Fatalf("code %q, %v", c, err)
		}
		seen[c] = true
		leadingZero = leadingZero || c[0] == '0'
	}
	// 5000 draws from a million repeat a code about 12 times on average.
	if len(seen) < 4900 {
		t.Fatalf("only %d distinct codes in 5000", len(seen))
	}
	if !leadingZero {
		t.Fatal("no code starts with 0: codes are not padded")
	}
}

func TestLongCodes(t *testing.T) {
	form := regexp.MustCompile(`^[a-z2-7]{32}$`)
	seen := map[string]bool{}
	for range 1000 {
		c, err := newLongCode()
		if err != nil || !form.MatchString(c) || seen[c] {
			t.Fatalf("code %q (seen before: %v), %v", c, seen[c], err)
		}
		seen[c] = true
	}
}

func TestCodeHash(t *testing.T) {
	key := make([]byte, 32)
	e := &Engine{cfg: Config{CodeKey: key}}
	user := uuid.New()
	h := e.codeHash("verify", user, "123456")
	if len(h) != 64 || h == "123456" {
		t.Fatalf("hash %q", h)
	}
	// Clients may send codes in another case or with spaces around them.
	if e.codeHash("verify", user, " 123456\n") != h ||
		e.codeHash("reset", uuid.Nil, "ABCdef") != e.codeHash("reset", uuid.Nil, "abcdef") {
		t.Fatal("the hash depends on case or surrounding space")
	}
	for name, other := range map[string]string{
		"another code":    e.codeHash("verify", user, "123457"),
		"another purpose": e.codeHash("reset", user, "123456"),
		"another user":    e.codeHash("verify", uuid.New(), "123456"),
		"another key": (&Engine{cfg: Config{CodeKey: append([]byte{1}, key[1:]...)}}).
			codeHash("verify", user, "123456"),
	} {
		if other == h {
			t.Fatalf("%s gives the same hash", name)
		}
	}
}
