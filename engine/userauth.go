package engine

import (
	"net/mail"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// UserAuth is a normalized user authority: an email or a phone number.
type UserAuth struct {
	// Value is the lower-cased email or the E.164 phone number.
	Value string
	// Type is "email" or "phone".
	Type string
}

// NormalizeUserAuth trims and lower-cases an email address, or normalizes a phone
// number to E.164. Phone numbers without a country prefix are read as US numbers.
func NormalizeUserAuth(s string) (UserAuth, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 254 {
		return UserAuth{}, ErrInvalidUserAuth
	}
	if strings.Contains(s, "@") {
		email := strings.ToLower(s)
		if len(email) > 254 { // lower-casing can lengthen: Ⱥ is 2 bytes, ⱥ is 3
			return UserAuth{}, ErrInvalidUserAuth
		}
		addr, err := mail.ParseAddress(email)
		if err != nil || addr.Address != email || addr.Name != "" {
			return UserAuth{}, ErrInvalidUserAuth
		}
		local, domain, _ := strings.Cut(email, "@")
		if local == "" || !strings.Contains(domain, ".") || strings.ContainsAny(email, " \r\n") {
			return UserAuth{}, ErrInvalidUserAuth
		}
		return UserAuth{Value: email, Type: "email"}, nil
	}
	for _, r := range s {
		if !strings.ContainsRune("+0123456789 -().", r) {
			return UserAuth{}, ErrInvalidUserAuth
		}
	}
	num, err := phonenumbers.Parse(s, "US")
	if err != nil || !phonenumbers.IsValidNumber(num) {
		return UserAuth{}, ErrInvalidUserAuth
	}
	return UserAuth{Value: phonenumbers.Format(num, phonenumbers.E164), Type: "phone"}, nil
}
