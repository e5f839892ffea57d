package control

import (
	"crypto/hmac"
	"crypto/sha256"
)

// HMACForm is how stored_contract_hmac is computed from the destination's provide
// secret and the stored contract bytes.
type HMACForm int

const (
	// HMACLegacy is the stored bytes followed by HMAC-SHA256(secret, empty message).
	// The original platform passed the stored bytes to Sum, which appends the MAC to
	// its argument, and deployed clients verify exactly that; it authenticates nothing
	// but is what they accept. It is the default.
	HMACLegacy HMACForm = iota
	// HMACStandard is HMAC-SHA256(secret, stored bytes). The April 2024 clients reject
	// every contract signed this way; select it only for clients that accept it.
	HMACStandard
)

// String returns "legacy" or "standard".
func (f HMACForm) String() string {
	if f == HMACStandard {
		return "standard"
	}
	return "legacy"
}

// Sign returns stored_contract_hmac for stored signed with secret in form f.
func (f HMACForm) Sign(secret, stored []byte) []byte {
	mac := hmac.New(sha256.New, secret)
	if f == HMACStandard {
		mac.Write(stored)
		return mac.Sum(nil)
	}
	out := make([]byte, len(stored), len(stored)+sha256.Size)
	copy(out, stored)
	return mac.Sum(out)
}

// Verify reports whether sum is stored_contract_hmac for stored in form f, in constant
// time for a given length.
func (f HMACForm) Verify(secret, stored, sum []byte) bool {
	return hmac.Equal(sum, f.Sign(secret, stored))
}
