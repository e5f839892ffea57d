package matcher

import (
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// fold maps letters that compatibility decomposition leaves whole to the Latin letters a
// user types for them, so that "Lodz" finds Łódź and "Strasse" finds Straße.
var fold = map[rune]string{
	'ø': "o", 'đ': "d", 'ð': "d", 'ħ': "h", 'ı': "i", 'ł': "l", 'ŧ': "t",
	'œ': "oe", 'æ': "ae", 'ß': "ss", 'þ': "th", 'ς': "σ",
}

// Normalize returns the search form of s: compatibility decomposition (NFKD) with accents
// and other nonspacing marks removed, lower case, a few letters without a decomposition
// folded to Latin (ł to l, ß to ss, ø to o), and every run of characters that are not
// letters, digits or spacing marks collapsed to a single space, trimmed at both ends.
// Invalid UTF-8 counts as punctuation. Queries and names go through the same function.
func Normalize(s string) string {
	return string(normalizeRunes(nil, s))
}

// normalizeRunes appends the search form of s to dst.
func normalizeRunes(dst []rune, s string) []rune {
	start := len(dst)
	if isPlainASCII(s) {
		return appendASCII(dst, s)
	}
	gap := false
	emit := func(r rune) {
		if gap && len(dst) > start {
			dst = append(dst, ' ')
		}
		gap = false
		dst = append(dst, r)
	}
	// Lower-casing can produce a letter that decomposes again (U+1E9E to ß, for one), so
	// a second decomposition pass keeps Normalize idempotent.
	for _, r := range norm.NFKD.String(lowerAll(s)) {
		switch {
		case unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf):
			// Accents and zero-width joiners vanish without splitting the word.
		case unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.Is(unicode.Mc, r):
			if f, ok := fold[r]; ok {
				for _, fr := range f {
					emit(fr)
				}
				continue
			}
			emit(r)
		default:
			gap = true
		}
	}
	return dst
}

// lowerAll lower-cases s after a first decomposition, so that a capital whose lower case
// is precomposed still loses its accent.
func lowerAll(s string) string {
	d := norm.NFKD.String(s)
	b := make([]byte, 0, len(d))
	for _, r := range d {
		if r == utf8.RuneError {
			b = append(b, ' ')
			continue
		}
		b = utf8.AppendRune(b, unicode.ToLower(r))
	}
	return string(b)
}

// isPlainASCII reports whether s is printable ASCII, the common case that needs no
// Unicode tables.
func isPlainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf || s[i] < ' ' || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// appendASCII is normalizeRunes for printable ASCII input.
func appendASCII(dst []rune, s string) []rune {
	start := len(dst)
	gap := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		default:
			gap = true
			continue
		}
		if gap && len(dst) > start {
			dst = append(dst, ' ')
		}
		gap = false
		dst = append(dst, rune(c))
	}
	return dst
}
