package token

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	testIssuer   = "https://id.example.test"
	testAudience = "net.bringyour.test"
)

// RSA key generation takes a noticeable fraction of a second, so the keys are made once
// per test binary.
var (
	rsaKeyA = sync.OnceValue(func() *rsa.PrivateKey { return genRSA(2048) })
	rsaKeyB = sync.OnceValue(func() *rsa.PrivateKey { return genRSA(2048) })
	ecKey   = sync.OnceValue(func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
)

func genRSA(bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	return k
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func rsaJWK(kid string, pub *rsa.PublicKey) map[string]string {
	return map[string]string{
		"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes()),
	}
}

func ecJWK(kid string, pub *ecdsa.PublicKey) map[string]string {
	point, err := pub.Bytes()
	if err != nil {
		panic(err)
	}
	return map[string]string{
		"kty": "EC", "kid": kid, "use": "sig", "alg": "ES256", "crv": "P-256",
		"x": b64(point[1:33]), "y": b64(point[33:]),
	}
}

// jwksServer is a real HTTP server on loopback that publishes a key set the test can change
// and counts how often it was fetched.
type jwksServer struct {
	*httptest.Server
	fetches atomic.Int64

	mu     sync.Mutex
	keys   []map[string]string
	status int
	body   []byte // served instead of keys when set
}

func newJWKSServer(t *testing.T, keys ...map[string]string) *jwksServer {
	js := &jwksServer{keys: keys, status: http.StatusOK}
	js.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		js.fetches.Add(1)
		js.mu.Lock()
		status, body := js.status, js.body
		if body == nil {
			var err error
			body, err = json.Marshal(map[string]any{"keys": js.keys})
			if err != nil {
				panic(err)
			}
		}
		js.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(js.Close)
	return js
}

func (js *jwksServer) set(status int, body []byte, keys ...map[string]string) {
	js.mu.Lock()
	defer js.mu.Unlock()
	js.status, js.body, js.keys = status, body, keys
}

// fakeClock is a settable clock, so that expiry and rate limits are tested without waiting.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newTestVerifier(t *testing.T, js *jwksServer) (*SSOVerifier, *fakeClock) {
	t.Helper()
	clock := &fakeClock{now: time.Now().Truncate(time.Second)}
	v, err := NewSSOVerifier(SSOConfig{
		Name:       "test",
		JWKSURL:    js.URL + "/keys",
		Issuers:    []string{testIssuer, "id.example.test"},
		Audiences:  []string{"other.app", testAudience},
		HTTPClient: js.Client(),
		Now:        clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return v, clock
}

func idClaims(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss":            testIssuer,
		"aud":            testAudience,
		"sub":            "001234.abcdef",
		"email":          "ada@example.com",
		"email_verified": true,
		"iat":            now.Unix(),
		"exp":            now.Add(10 * time.Minute).Unix(),
	}
}

func idToken(t *testing.T, method jwt.SigningMethod, key any, kid string,
	claims jwt.MapClaims) string {
	t.Helper()
	var header map[string]any
	if kid != "" {
		header = map[string]any{"kid": kid}
	}
	return signRaw(t, method, key, header, claims)
}

func TestSSOVerify(t *testing.T) {
	js := newJWKSServer(t, rsaJWK("rsa-a", &rsaKeyA().PublicKey), ecJWK("ec-1", &ecKey().PublicKey))
	v, clock := newTestVerifier(t, js)
	now := clock.Now()
	rs := func(f func(jwt.MapClaims)) string {
		c := idClaims(now)
		f(c)
		return idToken(t, jwt.SigningMethodRS256, rsaKeyA(), "rsa-a", c)
	}
	pubPEM := func() []byte {
		der, err := x509.MarshalPKIXPublicKey(&rsaKeyA().PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}()

	accepted := []struct {
		name         string
		token        string
		wantVerified bool
	}{
		{"an RS256 token", rs(func(jwt.MapClaims) {}), true},
		{"an ES256 token",
			idToken(t, jwt.SigningMethodES256, ecKey(), "ec-1", idClaims(now)), true},
		{"email_verified as the string Apple sends",
			rs(func(c jwt.MapClaims) { c["email_verified"] = "true" }), true},
		{"no email_verified claim",
			rs(func(c jwt.MapClaims) { delete(c, "email_verified") }), false},
		{"an audience list holding ours",
			rs(func(c jwt.MapClaims) { c["aud"] = []string{"x", testAudience} }), true},
		{"the second issuer", rs(func(c jwt.MapClaims) { c["iss"] = "id.example.test" }), true},
		{"an exp just inside the leeway",
			rs(func(c jwt.MapClaims) { c["exp"] = now.Add(-30 * time.Second).Unix() }), true},
	}
	for _, tc := range accepted {
		t.Run("accepts "+tc.name, func(t *testing.T) {
			id, err := v.Verify(context.Background(), tc.token)
			if err != nil {
				t.Fatal(err)
			}
			want := SSOIdentity{Subject: "001234.abcdef", Email: "ada@example.com",
				EmailVerified: tc.wantVerified}
			if id != want {
				t.Fatalf("identity = %+v, want %+v", id, want)
			}
		})
	}

	rejected := []struct {
		name  string
		token string
	}{
		{"a wrong audience", rs(func(c jwt.MapClaims) { c["aud"] = "someone.else" })},
		{"no audience", rs(func(c jwt.MapClaims) { delete(c, "aud") })},
		{"a wrong issuer", rs(func(c jwt.MapClaims) { c["iss"] = "https://evil.test" })},
		{"no issuer", rs(func(c jwt.MapClaims) { delete(c, "iss") })},
		{"an expired token",
			rs(func(c jwt.MapClaims) { c["exp"] = now.Add(-2 * time.Minute).Unix() })},
		{"no exp", rs(func(c jwt.MapClaims) { delete(c, "exp") })},
		{"an iat in the future",
			rs(func(c jwt.MapClaims) { c["iat"] = now.Add(time.Hour).Unix() })},
		{"no email", rs(func(c jwt.MapClaims) { delete(c, "email") })},
		{"an unverified email", rs(func(c jwt.MapClaims) { c["email_verified"] = false })},
		{"an unverified email as a string",
			rs(func(c jwt.MapClaims) { c["email_verified"] = "false" })},
		{"a strange email_verified", rs(func(c jwt.MapClaims) { c["email_verified"] = 1 })},
		{"no subject", rs(func(c jwt.MapClaims) { delete(c, "sub") })},
		{"no kid", idToken(t, jwt.SigningMethodRS256, rsaKeyA(), "", idClaims(now))},
		{"a signature by another key",
			idToken(t, jwt.SigningMethodRS256, rsaKeyB(), "rsa-a", idClaims(now))},
		{"an RSA key used for ES256",
			idToken(t, jwt.SigningMethodES256, ecKey(), "rsa-a", idClaims(now))},
		{"RS384", idToken(t, jwt.SigningMethodRS384, rsaKeyA(), "rsa-a", idClaims(now))},
		{"HS256 keyed with the public key PEM",
			idToken(t, jwt.SigningMethodHS256, pubPEM, "rsa-a", idClaims(now))},
		{"alg none", idToken(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType,
			"rsa-a", idClaims(now))},
		{"garbage", "not.a.token"},
		{"an oversized token", strings.Repeat("a", MaxTokenSize+1)},
	}
	for _, tc := range rejected {
		t.Run("rejects "+tc.name, func(t *testing.T) {
			id, err := v.Verify(context.Background(), tc.token)
			if err == nil {
				t.Fatalf("Verify accepted the token: %+v", id)
			}
			if !errors.Is(err, ErrInvalid) || errors.Is(err, ErrKeysUnavailable) {
				t.Fatalf("err = %v, want ErrInvalid only", err)
			}
		})
	}

	if n := js.fetches.Load(); n != 1 {
		t.Errorf("key set fetched %d times, want once", n)
	}
}

func TestSSOFetchesOnceOnKeyRotation(t *testing.T) {
	js := newJWKSServer(t, rsaJWK("a", &rsaKeyA().PublicKey))
	v, clock := newTestVerifier(t, js)
	ctx := context.Background()
	claims := idClaims(clock.Now())

	tokenA := idToken(t, jwt.SigningMethodRS256, rsaKeyA(), "a", claims)
	if _, err := v.Verify(ctx, tokenA); err != nil {
		t.Fatal(err)
	}
	clock.Advance(DefaultSSOMinRefetch)
	js.set(http.StatusOK, nil, rsaJWK("a", &rsaKeyA().PublicKey), rsaJWK("b", &rsaKeyB().PublicKey))

	// Requests that arrive together with the new kid share one fetch and all succeed.
	tokenB := idToken(t, jwt.SigningMethodRS256, rsaKeyB(), "b", claims)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := v.Verify(ctx, tokenB); err != nil {
				t.Errorf("verify with the new key: %v", err)
			}
		})
	}
	wg.Wait()
	if n := js.fetches.Load(); n != 2 {
		t.Fatalf("key set fetched %d times, want 2 (start, rotation)", n)
	}
}

func TestSSORateLimitsRefetch(t *testing.T) {
	js := newJWKSServer(t, rsaJWK("a", &rsaKeyA().PublicKey))
	v, clock := newTestVerifier(t, js)
	ctx := context.Background()
	forged := func() string {
		c := idClaims(clock.Now())
		return idToken(t, jwt.SigningMethodRS256, rsaKeyB(), "unknown", c)
	}

	// The first fetch loads the keys; the unknown kid right after it may not fetch again.
	for range 5 {
		if _, err := v.Verify(ctx, forged()); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("err = %v, want ErrUnknownKey", err)
		}
	}
	if n := js.fetches.Load(); n != 1 {
		t.Fatalf("key set fetched %d times within MinRefetch, want 1", n)
	}

	clock.Advance(DefaultSSOMinRefetch - time.Second)
	if _, err := v.Verify(ctx, forged()); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("err = %v, want ErrUnknownKey", err)
	}
	if n := js.fetches.Load(); n != 1 {
		t.Fatalf("key set fetched %d times before MinRefetch passed, want 1", n)
	}

	// Once MinRefetch has passed, many concurrent forged tokens still cause one fetch.
	clock.Advance(time.Second)
	tok := forged()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrUnknownKey) {
				t.Errorf("err = %v, want ErrUnknownKey", err)
			}
		})
	}
	wg.Wait()
	if n := js.fetches.Load(); n != 2 {
		t.Fatalf("key set fetched %d times, want 2", n)
	}

	good := idToken(t, jwt.SigningMethodRS256, rsaKeyA(), "a", idClaims(clock.Now()))
	if _, err := v.Verify(ctx, good); err != nil {
		t.Fatalf("a valid token after the forgeries: %v", err)
	}
}

func TestSSOKeysUnavailable(t *testing.T) {
	js := newJWKSServer(t, rsaJWK("a", &rsaKeyA().PublicKey))
	v, clock := newTestVerifier(t, js)
	ctx := context.Background()
	token := func() string {
		return idToken(t, jwt.SigningMethodRS256, rsaKeyA(), "a", idClaims(clock.Now()))
	}

	bodies := []struct {
		name   string
		status int
		body   []byte
	}{
		{"a server error", http.StatusInternalServerError, []byte("{}")},
		{"a body over the limit", http.StatusOK,
			[]byte(`{"keys":[],"pad":"` + strings.Repeat("x", MaxJWKSSize) + `"}`)},
		{"malformed JSON", http.StatusOK, []byte(`{"keys":[`)},
		{"no usable key", http.StatusOK, []byte(`{"keys":[{"kty":"oct","kid":"a","k":"AA"}]}`)},
	}
	for _, b := range bodies {
		t.Run(b.name, func(t *testing.T) {
			clock.Advance(DefaultSSOMinRefetch)
			js.set(b.status, b.body)
			before := js.fetches.Load()
			for range 2 {
				_, err := v.Verify(ctx, token())
				if !errors.Is(err, ErrKeysUnavailable) || errors.Is(err, ErrInvalid) {
					t.Fatalf("err = %v, want ErrKeysUnavailable only", err)
				}
			}
			if n := js.fetches.Load() - before; n != 1 {
				t.Fatalf("fetched %d times, want 1: failures are rate-limited too", n)
			}
		})
	}

	clock.Advance(DefaultSSOMinRefetch)
	js.set(http.StatusOK, nil, rsaJWK("a", &rsaKeyA().PublicKey))
	if _, err := v.Verify(ctx, token()); err != nil {
		t.Fatalf("after the provider recovered: %v", err)
	}
}

func TestSSOKeySetExpires(t *testing.T) {
	js := newJWKSServer(t, rsaJWK("a", &rsaKeyA().PublicKey))
	v, clock := newTestVerifier(t, js)
	ctx := context.Background()
	token := func() string {
		return idToken(t, jwt.SigningMethodRS256, rsaKeyA(), "a", idClaims(clock.Now()))
	}
	if _, err := v.Verify(ctx, token()); err != nil {
		t.Fatal(err)
	}

	// An old key set is fetched again; while the provider fails, the old keys still serve.
	clock.Advance(DefaultSSOMaxKeyAge)
	js.set(http.StatusServiceUnavailable, []byte("down"))
	if _, err := v.Verify(ctx, token()); err != nil {
		t.Fatalf("stale keys while the provider is down: %v", err)
	}
	if n := js.fetches.Load(); n != 2 {
		t.Fatalf("fetched %d times, want 2", n)
	}

	// A withdrawn key stops verifying once a fetch succeeds.
	clock.Advance(DefaultSSOMinRefetch)
	js.set(http.StatusOK, nil, rsaJWK("b", &rsaKeyB().PublicKey))
	if _, err := v.Verify(ctx, token()); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("withdrawn key: err = %v, want ErrUnknownKey", err)
	}
}

func TestSSOVerifyHonoursContext(t *testing.T) {
	js := newJWKSServer(t, rsaJWK("a", &rsaKeyA().PublicKey))
	v, clock := newTestVerifier(t, js)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tok := idToken(t, jwt.SigningMethodRS256, rsaKeyA(), "a", idClaims(clock.Now()))
	if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrKeysUnavailable) ||
		!errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want ErrKeysUnavailable and context.Canceled", err)
	}
}

func TestNewSSOVerifierChecksConfig(t *testing.T) {
	good := GoogleDefaults([]string{"client.apps.googleusercontent.com"})
	cases := []struct {
		name   string
		mutate func(*SSOConfig)
	}{
		{"no name", func(c *SSOConfig) { c.Name = "" }},
		{"no URL", func(c *SSOConfig) { c.JWKSURL = "" }},
		{"a file URL", func(c *SSOConfig) { c.JWKSURL = "file:///etc/keys.json" }},
		{"no issuers", func(c *SSOConfig) { c.Issuers = nil }},
		{"no audiences", func(c *SSOConfig) { c.Audiences = nil }},
		{"an empty audience", func(c *SSOConfig) { c.Audiences = []string{""} }},
		{"a negative leeway", func(c *SSOConfig) { c.Leeway = -time.Second }},
	}
	for _, tc := range cases {
		t.Run("rejects "+tc.name, func(t *testing.T) {
			c := good
			tc.mutate(&c)
			if _, err := NewSSOVerifier(c); err == nil {
				t.Fatal("NewSSOVerifier accepted the config")
			}
		})
	}
	for _, c := range []SSOConfig{good, AppleDefaults([]string{"com.example.app"})} {
		v, err := NewSSOVerifier(c)
		if err != nil {
			t.Fatalf("defaults for %s: %v", c.Name, err)
		}
		if v.Name() != c.Name {
			t.Errorf("Name() = %q, want %q", v.Name(), c.Name)
		}
	}
}

func TestParseJWKSSkipsUnusableKeys(t *testing.T) {
	weak := genRSA(1024)
	good := rsaJWK("good", &rsaKeyA().PublicKey)
	ec := ecJWK("ec", &ecKey().PublicKey)
	offCurve := ecJWK("off-curve", &ecKey().PublicKey)
	offCurve["y"] = b64(make([]byte, 32))
	p384 := ecJWK("p384", &ecKey().PublicKey)
	p384["crv"] = "P-384"
	enc := rsaJWK("enc", &rsaKeyA().PublicKey)
	enc["use"] = "enc"
	rs512 := rsaJWK("rs512", &rsaKeyA().PublicKey)
	rs512["alg"] = "RS512"
	evenE := rsaJWK("even-e", &rsaKeyA().PublicKey)
	evenE["e"] = b64([]byte{1, 0, 0})
	noKid := rsaJWK("", &rsaKeyA().PublicKey)
	dup := rsaJWK("good", &rsaKeyB().PublicKey)

	set := map[string]any{"keys": []map[string]string{
		good, ec, rsaJWK("weak", &weak.PublicKey), offCurve, p384, enc, rs512, evenE, noKid, dup,
		{"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": b64(make([]byte, 32))},
	}}
	data, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := parseJWKS(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys["good"].alg != "RS256" || keys["ec"].alg != "ES256" {
		t.Fatalf("kept keys %v, want good (RS256) and ec (ES256)", keys)
	}
	if keys["good"].pub.(*rsa.PublicKey).N.Cmp(rsaKeyA().N) != 0 {
		t.Error("a later key with a duplicate kid replaced the first")
	}
}

func FuzzParseJWKS(f *testing.F) {
	for _, k := range []map[string]string{
		rsaJWK("a", &rsaKeyA().PublicKey), ecJWK("b", &ecKey().PublicKey),
	} {
		data, err := json.Marshal(map[string]any{"keys": []map[string]string{k}})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"keys":[{"kty":"RSA","kid":"x","n":"AQAB","e":"AQAB"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC","kid":"x","crv":"P-256","x":"","y":""}]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := parseJWKS(data)
		if err == nil && len(keys) == 0 {
			t.Fatal("parseJWKS returned no keys and no error")
		}
		for kid, k := range keys {
			switch pub := k.pub.(type) {
			case *rsa.PublicKey:
				if k.alg != "RS256" || pub.N.BitLen() < minRSABits {
					t.Fatalf("key %q: unexpected RSA key for %s", kid, k.alg)
				}
			case *ecdsa.PublicKey:
				if k.alg != "ES256" {
					t.Fatalf("key %q: EC key for %s", kid, k.alg)
				}
			default:
				t.Fatalf("key %q has type %T", kid, k.pub)
			}
		}
	})
}

// FuzzSSOVerify feeds arbitrary tokens to a verifier whose keys are already loaded and whose
// refetch is rate-limited, so no input reaches the network.
func FuzzSSOVerify(f *testing.F) {
	now := time.Now()
	v, err := NewSSOVerifier(SSOConfig{
		Name: "fuzz", JWKSURL: "http://127.0.0.1:9/keys", Issuers: []string{testIssuer},
		Audiences: []string{testAudience}, Now: func() time.Time { return now },
	})
	if err != nil {
		f.Fatal(err)
	}
	v.keys.Store(&keySet{fetched: now, keys: map[string]ssoKey{
		"a":  {alg: "RS256", pub: &rsaKeyA().PublicKey},
		"ec": {alg: "ES256", pub: &ecKey().PublicKey},
	}})
	v.lastFetch = now

	f.Add(signRaw(f, jwt.SigningMethodRS256, rsaKeyA(), map[string]any{"kid": "a"}, idClaims(now)))
	f.Add(signRaw(f, jwt.SigningMethodES256, ecKey(), map[string]any{"kid": "ec"}, idClaims(now)))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		id, err := v.Verify(context.Background(), token)
		if errors.Is(err, ErrKeysUnavailable) {
			t.Fatalf("fuzzing reached a key fetch: %v", err)
		}
		if err == nil && (id.Subject == "" || id.Email == "") {
			t.Fatalf("accepted an identity without subject or email: %+v", id)
		}
	})
}
