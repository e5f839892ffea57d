package matcher

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"São Paulo", "sao paulo"},
		{"Île-de-France", "ile de france"},
		{"  New   York,, NY  ", "new york ny"},
		{"Łódź", "lodz"},
		{"Straße", "strasse"},
		{"ẞ", "ss"},
		{"Øresund", "oresund"},
		{"Reykjavík", "reykjavik"},
		{"İstanbul", "istanbul"},
		{"Москва", "москва"},
		{"Sha'biyyat", "sha biyyat"},
		{"東京", "東京"},
		{"ﬁnland", "finland"},
		{"Ⅻ", "xii"},
		{"no\u200dbreak", "nobreak"},
		{"bad\xffbyte", "bad byte"},
		{"!!!", ""},
		{"", ""},
		{"ΣΟΦΙΑ", "σοφια"},
		{"Αθήνα", "αθηνα"},
	}
	for _, tt := range tests {
		if got := Normalize(tt.in); got != tt.want {
			t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// checkNormalized asserts the invariants of a Normalize result.
func checkNormalized(t *testing.T, in, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Fatalf("Normalize(%q) = %q: invalid UTF-8", in, out)
	}
	if strings.Contains(out, "  ") || strings.HasPrefix(out, " ") || strings.HasSuffix(out, " ") {
		t.Fatalf("Normalize(%q) = %q: stray space", in, out)
	}
	if again := Normalize(out); again != out {
		t.Fatalf("Normalize(%q) = %q, but Normalize of that is %q", in, out, again)
	}
}

func TestNormalizeWorldNames(t *testing.T) {
	for _, p := range worldPlaces(t) {
		for _, name := range []string{p.City, p.Region, p.Country} {
			checkNormalized(t, name, Normalize(name))
		}
	}
}
