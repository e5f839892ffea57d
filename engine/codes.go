package engine

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"math/big"
	"strings"

	"github.com/google/uuid"
)

// newVerifyCode returns a 6-digit code from crypto/rand.
func newVerifyCode() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", err
	}
	s := n.String()
	return strings.Repeat("0", 6-len(s)) + s, nil
}

// newLongCode returns a random code of 160 bits in lower-case base32, for reset and
// auth codes.
func newLongCode() (string, error) {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	enc := base32.StdEncoding.WithPadding(base32.NoPadding)
	return strings.ToLower(enc.EncodeToString(b)), nil
}

// codeHash is how a code is stored: HMAC-SHA256 under the server's code key, bound to
// what the code is for. A 6-digit code's hash without the key could be reversed by
// trying every code; with it, a stolen table reveals nothing.
func (e *Engine) codeHash(purpose string, scope uuid.UUID, code string) string {
	m := hmac.New(sha256.New, e.cfg.CodeKey)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write(scope[:])
	m.Write([]byte(strings.TrimSpace(strings.ToLower(code))))
	return hex.EncodeToString(m.Sum(nil))
}

func subtleEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
