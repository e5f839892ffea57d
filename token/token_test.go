package token

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

func newTestSigner(t testing.TB) *Signer {
	t.Helper()
	s, err := LoadOrCreateKey(filepath.Join(t.TempDir(), "keys", "jwt.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func clientClaims() Claims {
	return Claims{
		NetworkID:   uuid.New(),
		UserID:      uuid.New(),
		NetworkName: "coffee-shop",
		ClientID:    uuid.New(),
		DeviceID:    uuid.New(),
		CreateTime:  time.Date(2024, 4, 1, 12, 30, 45, 0, time.UTC),
		SessionIDs:  []uuid.UUID{uuid.New(), uuid.New()},
	}
}

// segment decodes part i of a compact JWT into a map, as a client that reads claims
// without verifying them would.
func segment(t *testing.T, token string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSignVerifyRoundTrip(t *testing.T) {
	s := newTestSigner(t)
	network := clientClaims()
	network.ClientID, network.DeviceID, network.SessionIDs = uuid.Nil, uuid.Nil, nil
	cases := []struct {
		name string
		in   Claims
	}{
		{"client token", clientClaims()},
		{"network token", network},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := s.Sign(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Verify(tok)
			if err != nil {
				t.Fatal(err)
			}
			if got.NetworkID != tc.in.NetworkID || got.UserID != tc.in.UserID ||
				got.NetworkName != tc.in.NetworkName || got.ClientID != tc.in.ClientID ||
				got.DeviceID != tc.in.DeviceID || !got.CreateTime.Equal(tc.in.CreateTime) ||
				!slices.Equal(got.SessionIDs, tc.in.SessionIDs) {
				t.Fatalf("Verify(Sign(c)) = %+v, want %+v", got, tc.in)
			}
		})
	}
}

func TestSignedTokenCarriesClientReadableClaims(t *testing.T) {
	s := newTestSigner(t)
	c := clientClaims()
	c.CreateTime = time.Date(2024, 4, 1, 14, 30, 45, 987654321, time.FixedZone("CEST", 7200))
	tok, err := s.Sign(c)
	if err != nil {
		t.Fatal(err)
	}

	h := segment(t, tok, 0)
	if h["alg"] != "EdDSA" || h["kid"] != s.KeyID() {
		t.Errorf("header = %v, want alg EdDSA and kid %s", h, s.KeyID())
	}
	p := segment(t, tok, 1)
	want := map[string]string{
		"network_id":   c.NetworkID.String(),
		"network_name": c.NetworkName,
		"user_id":      c.UserID.String(),
		"client_id":    c.ClientID.String(),
		"device_id":    c.DeviceID.String(),
		"create_time":  "2024-04-01T12:30:45Z",
	}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("claim %s = %#v, want %q", k, p[k], v)
		}
	}
	ids, ok := p["auth_session_ids"].([]any)
	if !ok || len(ids) != 2 || ids[0] != c.SessionIDs[0].String() {
		t.Errorf("auth_session_ids = %#v", p["auth_session_ids"])
	}
	if _, ok := p["iat"].(float64); !ok {
		t.Errorf("iat = %#v, want a number", p["iat"])
	}
	if _, ok := p["exp"]; ok {
		t.Errorf("token has exp %v; platform tokens are revoked by session instead", p["exp"])
	}
}

func TestNetworkTokenOmitsClientClaims(t *testing.T) {
	s := newTestSigner(t)
	c := clientClaims()
	c.ClientID, c.DeviceID, c.SessionIDs = uuid.Nil, uuid.Nil, nil
	tok, err := s.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	p := segment(t, tok, 1)
	for _, k := range []string{"client_id", "device_id"} {
		if _, ok := p[k]; ok {
			t.Errorf("network token has %s", k)
		}
	}
	if ids, ok := p["auth_session_ids"].([]any); !ok || len(ids) != 0 {
		t.Errorf("auth_session_ids = %#v, want an empty array", p["auth_session_ids"])
	}
}

func TestSignRejectsIncompleteClaims(t *testing.T) {
	s := newTestSigner(t)
	cases := []struct {
		name   string
		mutate func(*Claims)
	}{
		{"without network id", func(c *Claims) { c.NetworkID = uuid.Nil }},
		{"without user id", func(c *Claims) { c.UserID = uuid.Nil }},
		{"without network name", func(c *Claims) { c.NetworkName = "" }},
		{"without create time", func(c *Claims) { c.CreateTime = time.Time{} }},
		{"with a device but no client", func(c *Claims) { c.ClientID = uuid.Nil }},
		{"with a nil session id", func(c *Claims) { c.SessionIDs[1] = uuid.Nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := clientClaims()
			tc.mutate(&c)
			if tok, err := s.Sign(c); err == nil {
				t.Fatalf("Sign succeeded: %s", tok)
			}
		})
	}
}

// signRaw signs arbitrary claims and header fields with method and key, for building
// tokens that Sign would never produce.
func signRaw(t testing.TB, method jwt.SigningMethod, key any, header map[string]any,
	claims jwt.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// validMap returns the claims of a valid client token as a map that tests can spoil.
func validMap(c Claims) jwt.MapClaims {
	return jwt.MapClaims{
		"network_id":       c.NetworkID.String(),
		"network_name":     c.NetworkName,
		"user_id":          c.UserID.String(),
		"client_id":        c.ClientID.String(),
		"device_id":        c.DeviceID.String(),
		"create_time":      c.CreateTime.Format(time.RFC3339),
		"auth_session_ids": []string{c.SessionIDs[0].String()},
		"iat":              time.Now().Unix(),
	}
}

func TestVerifyRejects(t *testing.T) {
	s := newTestSigner(t)
	other := newTestSigner(t)
	c := clientClaims()
	good, err := s.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	kid := map[string]any{"kid": s.KeyID()}

	tampered := validMap(c)
	tampered["network_id"] = uuid.NewString()
	tamperedPayload, err := json.Marshal(tampered)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	sig[10] ^= 1

	spoil := func(f func(jwt.MapClaims)) string {
		m := validMap(c)
		f(m)
		return signRaw(t, jwt.SigningMethodEdDSA, s.priv, kid, m)
	}

	cases := []struct {
		name    string
		token   string
		wantErr error
	}{
		{"an empty string", "", jwt.ErrTokenMalformed},
		{"two segments", parts[0] + "." + parts[1], jwt.ErrTokenMalformed},
		{"a changed payload",
			parts[0] + "." + base64.RawURLEncoding.EncodeToString(tamperedPayload) + "." + parts[2],
			jwt.ErrTokenSignatureInvalid},
		{"a changed signature",
			parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig),
			jwt.ErrTokenSignatureInvalid},
		{"HS256 keyed with the public key",
			signRaw(t, jwt.SigningMethodHS256, []byte(s.PublicKey()), kid, validMap(c)),
			jwt.ErrTokenSignatureInvalid},
		{"alg none",
			signRaw(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, kid, validMap(c)),
			jwt.ErrTokenSignatureInvalid},
		{"another server's key", mustSign(t, other, c), ErrUnknownKey},
		{"another key claiming our kid",
			signRaw(t, jwt.SigningMethodEdDSA, other.priv, kid, validMap(c)),
			jwt.ErrTokenSignatureInvalid},
		{"no kid", signRaw(t, jwt.SigningMethodEdDSA, s.priv, nil, validMap(c)), ErrUnknownKey},
		{"an upper-case id", spoil(func(m jwt.MapClaims) {
			m["user_id"] = strings.ToUpper(c.UserID.String())
		}), nil},
		{"a braced id", spoil(func(m jwt.MapClaims) {
			m["network_id"] = "{" + c.NetworkID.String() + "}"
		}), nil},
		{"a numeric id", spoil(func(m jwt.MapClaims) { m["user_id"] = 42 }), nil},
		{"no network id", spoil(func(m jwt.MapClaims) { delete(m, "network_id") }), nil},
		{"no network name", spoil(func(m jwt.MapClaims) { delete(m, "network_name") }), nil},
		{"a device without a client", spoil(func(m jwt.MapClaims) { delete(m, "client_id") }), nil},
		{"a bad create time", spoil(func(m jwt.MapClaims) { m["create_time"] = "yesterday" }), nil},
		{"a bad session id", spoil(func(m jwt.MapClaims) {
			m["auth_session_ids"] = []string{"x"}
		}), nil},
		{"an expired exp", spoil(func(m jwt.MapClaims) {
			m["exp"] = time.Now().Add(-time.Hour).Unix()
		}), jwt.ErrTokenExpired},
		{"an oversized token", good + strings.Repeat("A", MaxTokenSize), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Verify(tc.token)
			if err == nil {
				t.Fatalf("Verify accepted the token: %+v", got)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %v does not wrap %v", err, tc.wantErr)
			}
		})
	}
}

func mustSign(t testing.TB, s *Signer, c Claims) string {
	t.Helper()
	tok, err := s.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestKeyRotation(t *testing.T) {
	old, cur := newTestSigner(t), newTestSigner(t)
	c := clientClaims()
	oldToken := mustSign(t, old, c)
	if _, err := cur.Verify(oldToken); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("before rotation: err = %v, want ErrUnknownKey", err)
	}

	kid, err := cur.AddVerifyKey(old.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if kid != old.KeyID() {
		t.Errorf("AddVerifyKey returned kid %s, want %s", kid, old.KeyID())
	}
	if _, err := cur.Verify(oldToken); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	if _, err := cur.Verify(mustSign(t, cur, c)); err != nil {
		t.Fatalf("current key: %v", err)
	}
	if _, err := cur.AddVerifyKey(ed25519.PublicKey("short")); err == nil {
		t.Error("AddVerifyKey accepted a 5-byte key")
	}
}

func TestLoadOrCreateKeyPersists(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "keys")
	path := filepath.Join(dir, "jwt.pem")
	first, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.KeyID()) != 16 || strings.Trim(first.KeyID(), "0123456789abcdef") != "" {
		t.Errorf("kid %q is not 16 lowercase hex digits", first.KeyID())
	}
	tok := mustSign(t, first, clientClaims())

	second, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if second.KeyID() != first.KeyID() {
		t.Fatalf("reloaded kid %s, want %s", second.KeyID(), first.KeyID())
	}
	if _, err := second.Verify(tok); err != nil {
		t.Fatalf("reloaded signer rejects a token of the first: %v", err)
	}

	for p, want := range map[string]os.FileMode{path: 0o600, dir: 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s has mode %v, want %v", p, got, want)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("key directory holds %d entries, want only the key", len(entries))
	}
}

func TestLoadOrCreateKeyConcurrentStartsAgree(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jwt.pem")
	const n = 8
	kids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, err := LoadOrCreateKey(path)
			if err != nil {
				t.Error(err)
				return
			}
			kids[i] = s.KeyID()
		})
	}
	wg.Wait()
	for _, k := range kids {
		if k != kids[0] {
			t.Fatalf("concurrent starts produced different keys: %v", kids)
		}
	}
}

func TestLoadOrCreateKeyRejectsBadFiles(t *testing.T) {
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"not PEM":          []byte("hello"),
		"a public key":     pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}}),
		"broken PKCS #8":   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}}),
		"an ECDSA key":     pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}),
		"an oversize file": make([]byte, maxKeyFileSize+1),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "jwt.pem")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadOrCreateKey(path); err == nil {
				t.Fatal("LoadOrCreateKey accepted the file")
			}
			got, err := os.ReadFile(path)
			if err != nil || len(got) != len(data) {
				t.Fatal("LoadOrCreateKey replaced a file it could not read")
			}
		})
	}
}

func BenchmarkSign(b *testing.B) {
	s := newTestSigner(b)
	c := clientClaims()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	s := newTestSigner(b)
	tok := mustSign(b, s, clientClaims())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzVerify(f *testing.F) {
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	s := NewSigner(priv)
	c := clientClaims()
	good := mustSign(f, s, c)
	parts := strings.Split(good, ".")
	f.Add(good)
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add(parts[0] + ".e30." + parts[2])
	f.Add("")
	f.Add("..")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add(signRaw(f, jwt.SigningMethodHS256, []byte(priv.Public().(ed25519.PublicKey)),
		map[string]any{"kid": s.KeyID()}, validMap(c)))
	f.Fuzz(func(t *testing.T, token string) {
		got, err := s.Verify(token)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if err := got.check(); err != nil {
			t.Fatalf("Verify accepted claims that Sign would refuse: %v", err)
		}
	})
}
