// Package token issues and verifies the JWTs of the BringYour API and verifies the ID tokens
// of Apple and Google sign-in.
//
// The platform's own JWTs (by_jwt and by_client_jwt) are signed with an Ed25519 key that
// belongs to the server alone, never the TLS key, and name that key in the "kid" header so
// keys can be rotated. They carry no "exp": a token stays valid for as long as the auth
// sessions it lists are not revoked, which the caller checks against the store. The API has
// no route to refresh a token, so an expiry would simply sign clients out, and revoking a
// session ends its tokens at once, which an expiry alone would not.
package token

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// MaxTokenSize is the longest token, in bytes, that Verify and SSOVerifier.Verify will parse.
// Longer input is rejected before any decoding.
const MaxTokenSize = 16 << 10

// algEdDSA is the only algorithm the platform signs and accepts for its own tokens.
const algEdDSA = "EdDSA"

var (
	// ErrInvalid reports a token that failed verification: malformed, badly signed, signed
	// with an unexpected algorithm or key, expired, or missing a required claim. Errors
	// returned by Verify wrap it together with the specific cause.
	ErrInvalid = errors.New("invalid token")

	// ErrUnknownKey reports a token whose "kid" names no key the verifier knows. It is
	// always returned together with ErrInvalid.
	ErrUnknownKey = errors.New("unknown signing key")
)

// Claims are the claims of a platform JWT as the engine sees them. A by_jwt (network-level)
// token has a zero ClientID and DeviceID; a by_client_jwt names the client and its device.
type Claims struct {
	// NetworkID and UserID identify the network and the user the token was issued to.
	NetworkID, UserID uuid.UUID
	// NetworkName is the network's name as shown by clients.
	NetworkName string
	// ClientID and DeviceID are set on client JWTs only. A DeviceID without a ClientID is
	// not a valid combination.
	ClientID, DeviceID uuid.UUID
	// CreateTime is when the token was created. It travels as RFC 3339 in UTC with whole
	// seconds, the plainest form that any RFC 3339 parser takes, so Sign drops the
	// sub-second part.
	CreateTime time.Time
	// SessionIDs are the auth sessions the token belongs to; revoking any of them is the
	// caller's way to revoke the token.
	SessionIDs []uuid.UUID
}

// wireClaims is the JSON form of Claims. The names are the ones deployed clients read.
type wireClaims struct {
	NetworkID      string   `json:"network_id"`
	NetworkName    string   `json:"network_name"`
	UserID         string   `json:"user_id"`
	ClientID       string   `json:"client_id,omitempty"`
	DeviceID       string   `json:"device_id,omitempty"`
	CreateTime     string   `json:"create_time"`
	AuthSessionIDs []string `json:"auth_session_ids"`
	jwt.RegisteredClaims
}

// Signer signs platform JWTs with one Ed25519 private key and verifies tokens signed by that
// key or by any public key added with AddVerifyKey. A Signer is safe for concurrent use.
type Signer struct {
	priv   ed25519.PrivateKey
	kid    string
	parser *jwt.Parser

	mu   sync.RWMutex
	keys map[string]ed25519.PublicKey // by kid; guarded by mu
}

// NewSigner returns a Signer that signs with priv. Most callers use LoadOrCreateKey instead.
func NewSigner(priv ed25519.PrivateKey) *Signer {
	pub := priv.Public().(ed25519.PublicKey)
	kid := KeyIDOf(pub)
	return &Signer{
		priv: priv,
		kid:  kid,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{algEdDSA}),
			// Strict base64 rejects non-canonical encodings, so one signed token has
			// exactly one spelling.
			jwt.WithStrictDecoding(),
		),
		keys: map[string]ed25519.PublicKey{kid: pub},
	}
}

// KeyIDOf returns the key id of pub: the first 16 hex digits of the SHA-256 of its 32 bytes.
func KeyIDOf(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// KeyID returns the id of the signing key, the "kid" header of every token s signs.
func (s *Signer) KeyID() string { return s.kid }

// PublicKey returns the public half of the signing key, for example to hand to
// AddVerifyKey of the Signer that replaces s.
func (s *Signer) PublicKey() ed25519.PublicKey {
	return s.priv.Public().(ed25519.PublicKey)
}

// AddVerifyKey makes s accept tokens signed by pub, typically the key of a previous Signer
// during a key rotation. It returns the key id of pub. Adding a key twice is harmless.
func (s *Signer) AddVerifyKey(pub ed25519.PublicKey) (string, error) {
	if len(pub) != ed25519.PublicKeySize {
		return "", fmt.Errorf("add verify key: public key is %d bytes, want %d",
			len(pub), ed25519.PublicKeySize)
	}
	kid := KeyIDOf(pub)
	s.mu.Lock()
	s.keys[kid] = append(ed25519.PublicKey(nil), pub...)
	s.mu.Unlock()
	return kid, nil
}

// Sign returns a signed token carrying c. NetworkID, UserID, NetworkName and CreateTime are
// required; DeviceID requires ClientID.
func (s *Signer) Sign(c Claims) (string, error) {
	if err := c.check(); err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	w := wireClaims{
		NetworkID:      c.NetworkID.String(),
		NetworkName:    c.NetworkName,
		UserID:         c.UserID.String(),
		CreateTime:     c.CreateTime.UTC().Format(time.RFC3339),
		AuthSessionIDs: make([]string, len(c.SessionIDs)),
		RegisteredClaims: jwt.RegisteredClaims{
			IssuedAt: jwt.NewNumericDate(time.Now()),
			ID:       uuid.NewString(),
		},
	}
	if c.ClientID != uuid.Nil {
		w.ClientID = c.ClientID.String()
	}
	if c.DeviceID != uuid.Nil {
		w.DeviceID = c.DeviceID.String()
	}
	for i, id := range c.SessionIDs {
		w.AuthSessionIDs[i] = id.String()
	}

	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, &w)
	t.Header["kid"] = s.kid
	signed, err := t.SignedString(s.priv)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return signed, nil
}

// Verify checks that token is an EdDSA JWT signed by a known key and carries well-formed
// claims, and returns them. Every failure wraps ErrInvalid together with its cause.
// Verify does not know about sessions: the caller must still check that none of the
// returned SessionIDs has been revoked.
func (s *Signer) Verify(token string) (Claims, error) {
	if len(token) > MaxTokenSize {
		return Claims{}, fmt.Errorf("%w: token is %d bytes, limit %d",
			ErrInvalid, len(token), MaxTokenSize)
	}
	var w wireClaims
	if _, err := s.parser.ParseWithClaims(token, &w, s.keyFor); err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	c, err := w.claims()
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return c, nil
}

// keyFor is the jwt.Keyfunc of Verify. The parser has already restricted the algorithm to
// EdDSA; checking it again here keeps the key and the algorithm tied together even if the
// parser options change.
func (s *Signer) keyFor(t *jwt.Token) (any, error) {
	if t.Method.Alg() != algEdDSA {
		return nil, fmt.Errorf("algorithm %q not accepted", t.Method.Alg())
	}
	kid, _ := t.Header["kid"].(string)
	s.mu.RLock()
	pub, ok := s.keys[kid]
	s.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: kid %q", ErrUnknownKey, clip(kid))
	}
	return pub, nil
}

func (c *Claims) check() error {
	switch {
	case c.NetworkID == uuid.Nil:
		return errors.New("network id is missing")
	case c.UserID == uuid.Nil:
		return errors.New("user id is missing")
	case c.NetworkName == "":
		return errors.New("network name is missing")
	case c.CreateTime.IsZero():
		return errors.New("create time is missing")
	case c.DeviceID != uuid.Nil && c.ClientID == uuid.Nil:
		return errors.New("device id without client id")
	}
	for _, id := range c.SessionIDs {
		if id == uuid.Nil {
			return errors.New("nil auth session id")
		}
	}
	return nil
}

// claims converts the wire form back, insisting on the exact spelling Sign produces for ids
// so that a token has one meaning however a client or a log reads it.
func (w *wireClaims) claims() (Claims, error) {
	var c Claims
	var err error
	if c.NetworkID, err = parseID("network_id", w.NetworkID, true); err != nil {
		return Claims{}, err
	}
	if c.UserID, err = parseID("user_id", w.UserID, true); err != nil {
		return Claims{}, err
	}
	if c.ClientID, err = parseID("client_id", w.ClientID, false); err != nil {
		return Claims{}, err
	}
	if c.DeviceID, err = parseID("device_id", w.DeviceID, false); err != nil {
		return Claims{}, err
	}
	c.NetworkName = w.NetworkName
	if c.CreateTime, err = time.Parse(time.RFC3339, w.CreateTime); err != nil {
		return Claims{}, fmt.Errorf("create_time: %w", err)
	}
	c.CreateTime = c.CreateTime.UTC()
	if len(w.AuthSessionIDs) > 0 {
		c.SessionIDs = make([]uuid.UUID, len(w.AuthSessionIDs))
	}
	for i, s := range w.AuthSessionIDs {
		if c.SessionIDs[i], err = parseID("auth_session_ids", s, true); err != nil {
			return Claims{}, err
		}
	}
	if err := c.check(); err != nil {
		return Claims{}, err
	}
	return c, nil
}

// parseID parses the canonical lowercase text form of a UUID. An empty s is the zero UUID
// unless required is set.
func parseID(name, s string, required bool) (uuid.UUID, error) {
	if s == "" && !required {
		return uuid.Nil, nil
	}
	// uuid.Parse also takes braces, URNs and upper case; only the form Sign writes is valid.
	id, err := uuid.Parse(s)
	if err != nil || len(s) != 36 || id.String() != s {
		return uuid.Nil, fmt.Errorf("%s: %q is not a lowercase UUID", name, clip(s))
	}
	if id == uuid.Nil {
		return uuid.Nil, fmt.Errorf("%s: nil UUID", name)
	}
	return id, nil
}

// clip shortens untrusted text that goes into an error message, so a hostile token cannot
// flood the logs of whoever reports the error.
func clip(s string) string {
	const limit = 40
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "..."
}
