package engine

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormalizeUserAuth(t *testing.T) {
	for _, c := range []struct{ in, value, typ string }{
		{"alice@example.com", "alice@example.com", "email"},
		{"  Alice@Example.COM\t", "alice@example.com", "email"},
		{"alice+vpn@mail.example.co.uk", "alice+vpn@mail.example.co.uk", "email"},
		{"Zoë@Exämple.com", "zoë@exämple.com", "email"},
		{"(415) 555-2671", "+14155552671", "phone"},
		{"415.555.2671", "+14155552671", "phone"},
		{"+1 415 555 2671", "+14155552671", "phone"},
		{"4155552671", "+14155552671", "phone"},
		{"+44 20 7946 0958", "+442079460958", "phone"},
		{"+49 30 901820", "+4930901820", "phone"},
		{"+33 1 42 68 53 00", "+33142685300", "phone"},
	} {
		got, err := NormalizeUserAuth(c.in)
		if err != nil || got.Value != c.value || got.Type != c.typ {
			t.Errorf("NormalizeUserAuth(%q) = %+v, %v; want %s %s", c.in, got, err, c.typ,
				c.value)
		}
	}
	for _, in := range []string{
		"", "  ", "alice", "alice@", "@example.com", "alice@localhost", "alice@@example.com",
		"Alice <alice@example.com>", `"alice"@example.com`, "a b@example.com",
		"alice@example.com\nbcc@example.com", "a\x00b@example.com", "12", "+1 000",
		"555-CALL-NOW", "+999 1234 5678", "+1 415 555 2671 ext 3", "1-800-FLOWERS",
		strings.Repeat("a", 250) + "@example.com",
		// 207 bytes that lower-case to 307: too long for an address once normalized.
		strings.Repeat("Ⱥ", 100) + "@ex.com",
	} {
		if got, err := NormalizeUserAuth(in); err != ErrInvalidUserAuth {
			t.Errorf("NormalizeUserAuth(%q) = %+v, %v; want ErrInvalidUserAuth", in, got, err)
		}
	}
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)

// FuzzNormalizeUserAuth checks that normalizing never panics, that what it accepts is
// a lower-case email or an E.164 number that normalizes to itself, and so always names
// the same user.
func FuzzNormalizeUserAuth(f *testing.F) {
	for _, s := range []string{"alice@example.com", " Alice@Example.COM ", "(415) 555-2671",
		"+44 20 7946 0958", "İstanbul@example.com", "ß@example.com", "+", "@", "a@b.c",
		"\"a\"@b.c", "a@[127.0.0.1]", "+683 4002", "00 44 20 7946 0958",
		strings.Repeat("Ⱥ", 100) + "@ex.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ua, err := NormalizeUserAuth(s)
		if err != nil {
			if err != ErrInvalidUserAuth {
				t.Fatalf("error %v", err)
			}
			return
		}
		switch ua.Type {
		case "email":
			if ua.Value != strings.ToLower(ua.Value) || !utf8.ValidString(ua.Value) ||
				strings.ContainsAny(ua.Value, " \r\n\x00") || strings.Count(ua.Value, "@") != 1 {
				t.Fatalf("%q normalizes to the email %q", s, ua.Value)
			}
		case "phone":
			if !e164.MatchString(ua.Value) {
				t.Fatalf("%q normalizes to the phone number %q", s, ua.Value)
			}
		default:
			t.Fatalf("%q has type %q", s, ua.Type)
		}
		again, err := NormalizeUserAuth(ua.Value)
		if err != nil || again != ua {
			t.Fatalf("%q normalizes to %+v, which normalizes to %+v, %v", s, ua, again, err)
		}
	})
}
