package api_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/byplatform/byplatform/store"
	"github.com/byplatform/byplatform/store/storetest"
	"github.com/byplatform/byplatform/token"
)

// The identity providers of the tests: issuers and our client ids at each.
const (
	appleIssuer    = "https://appleid.apple.com"
	appleAudience  = "com.example.byplatform"
	googleIssuer   = "https://accounts.google.com"
	googleAudience = "byplatform-test.apps.googleusercontent.com"
)

// RSA keys are slow to generate, so each test binary makes two: one the key server
// publishes from the start, one it publishes only when a test rotates keys.
var (
	ssoKeyA = sync.OnceValue(func() *rsa.PrivateKey { return newRSAKey() })
	ssoKeyB = sync.OnceValue(func() *rsa.PrivateKey { return newRSAKey() })
)

func newRSAKey() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

// keyServer is a JSON Web Key Set served on loopback, standing in for Apple's and
// Google's key endpoints. Tests change the published keys with publish.
type keyServer struct {
	*httptest.Server
	mu   sync.Mutex
	keys map[string]*rsa.PublicKey
}

func newKeyServer(tb testing.TB) *keyServer {
	ks := &keyServer{keys: map[string]*rsa.PublicKey{"key-a": &ssoKeyA().PublicKey}}
	ks.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		ks.mu.Lock()
		var set []map[string]string
		for kid, pub := range ks.keys {
			set = append(set, map[string]string{"kty": "RSA", "kid": kid, "use": "sig",
				"alg": "RS256", "n": b64(pub.N.Bytes()),
				"e": b64(big.NewInt(int64(pub.E)).Bytes())})
		}
		ks.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"keys": set})
	}))
	tb.Cleanup(ks.Close)
	return ks
}

func (ks *keyServer) publish(kid string, pub *rsa.PublicKey) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.keys[kid] = pub
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// verifiers returns Apple and Google verifiers that fetch keys from ks. MinRefetch is
// tiny so a token naming a just-published key makes them fetch again at once.
func (ks *keyServer) verifiers(tb testing.TB) map[string]*token.SSOVerifier {
	tb.Helper()
	out := map[string]*token.SSOVerifier{}
	for name, cfg := range map[string]token.SSOConfig{
		"apple":  {Issuers: []string{appleIssuer}, Audiences: []string{appleAudience}},
		"google": {Issuers: []string{googleIssuer}, Audiences: []string{googleAudience}},
	} {
		cfg.Name, cfg.JWKSURL, cfg.HTTPClient = name, ks.URL, ks.Client()
		cfg.MinRefetch = time.Nanosecond
		v, err := token.NewSSOVerifier(cfg)
		if err != nil {
			tb.Fatal(err)
		}
		out[name] = v
	}
	return out
}

// idToken is an identity token as a provider issues it.
type idToken struct {
	kid      string
	key      *rsa.PrivateKey
	issuer   string
	audience string
	email    string
	verified any // email_verified; nil leaves it out
	expires  time.Time
}

func appleToken(email string) idToken {
	return idToken{kid: "key-a", key: ssoKeyA(), issuer: appleIssuer, audience: appleAudience,
		email: email, verified: "true", expires: time.Now().Add(10 * time.Minute)}
}

func googleToken(email string) idToken {
	return idToken{kid: "key-a", key: ssoKeyA(), issuer: googleIssuer,
		audience: googleAudience, email: email, verified: true,
		expires: time.Now().Add(10 * time.Minute)}
}

func (it idToken) sign(tb testing.TB) string {
	tb.Helper()
	claims := jwt.MapClaims{"iss": it.issuer, "aud": it.audience, "sub": "sub-" + it.email,
		"email": it.email, "iat": time.Now().Add(-time.Minute).Unix(), "exp": it.expires.Unix()}
	if it.verified != nil {
		claims["email_verified"] = it.verified
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = it.kid
	s, err := t.SignedString(it.key)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestSSOSignIn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ks := newKeyServer(t)
		e := newEnv(t, st, envOptions{sso: ks.verifiers(t)})

		t.Run("a new Apple user is told to create a network", func(t *testing.T) {
			res := e.call("/auth/login", "", map[string]string{
				"auth_jwt": appleToken("Anna@Example.COM").sign(t), "auth_jwt_type": "apple"})
			res.wantOK(t)
			if res.UserAuth != "anna@example.com" || res.Network != nil || res.AuthAllowed != nil {
				t.Fatalf("login of a new user = %+v, want only user_auth", res)
			}
		})

		var annaJWT string
		t.Run("network-create with an Apple token signs in at once", func(t *testing.T) {
			res := e.call("/auth/network-create", "", map[string]any{"user_name": "Anna",
				"auth_jwt": appleToken("anna@example.com").sign(t), "auth_jwt_type": "apple",
				"network_name": "annasnetwork", "terms": true}).wantOK(t)
			if res.VerificationRequired != nil || res.Network == nil || res.Network.ByJWT == "" {
				t.Fatalf("network-create = %+v, want a by_jwt and no verification", res)
			}
			annaJWT = res.Network.ByJWT
			if got := claim(t, annaJWT, "network_name"); got != "annasnetwork" {
				t.Fatalf("network_name claim %q", got)
			}
			e.do(http.MethodGet, "/network/clients", annaJWT, "", nil).result(t)
			if msgs := e.messagesTo("anna@example.com"); len(msgs) != 0 {
				t.Fatalf("an SSO sign-up sent %d messages", len(msgs))
			}
		})

		t.Run("an Apple user signs in with a new token", func(t *testing.T) {
			res := e.call("/auth/login", "", map[string]string{
				"auth_jwt": appleToken("anna@example.com").sign(t), "auth_jwt_type": "apple"})
			res.wantOK(t)
			if res.Network == nil || res.Network.ByJWT == "" || res.UserName != "Anna" ||
				res.UserAuth != "anna@example.com" {
				t.Fatalf("login = %+v", res)
			}
			e.do(http.MethodGet, "/network/clients", res.Network.ByJWT, "", nil).result(t)
		})

		t.Run("an email login lists apple as the method", func(t *testing.T) {
			res := e.call("/auth/login", "", map[string]string{"user_auth": "anna@example.com"})
			if len(res.AuthAllowed) != 1 || res.AuthAllowed[0] != "apple" || res.Network != nil {
				t.Fatalf("login = %+v, want auth_allowed [apple]", res)
			}
			res = e.call("/auth/login-with-password", "", map[string]string{
				"user_auth": "anna@example.com", "password": "anything at all"})
			res.wantError(t, msgInvalidLogin)
		})

		t.Run("the wrong provider is refused with the one to use", func(t *testing.T) {
			res := e.call("/auth/login", "", map[string]string{
				"auth_jwt": googleToken("anna@example.com").sign(t), "auth_jwt_type": "google"})
			res.wantError(t, "Sign in with the method this account was created with.")
			if res.Error.SuggestedUserAuth != "apple" {
				t.Fatalf("suggested_user_auth %q, want apple", res.Error.SuggestedUserAuth)
			}
		})

		t.Run("a Google user signs up and in", func(t *testing.T) {
			res := e.call("/auth/network-create", "", map[string]any{"user_name": "Gus",
				"auth_jwt": googleToken("gus@example.com").sign(t), "auth_jwt_type": "google",
				"network_name": "gussnetwork", "terms": true}).wantOK(t)
			if res.Network == nil || res.Network.ByJWT == "" {
				t.Fatalf("network-create = %+v", res)
			}
			res = e.call("/auth/login", "", map[string]string{
				"auth_jwt": googleToken("gus@example.com").sign(t), "auth_jwt_type": "google"})
			if res.wantOK(t).Network == nil {
				t.Fatalf("login = %+v, want a by_jwt", res)
			}
		})

		t.Run("a password user is pointed to the password", func(t *testing.T) {
			e.signUp("pat@example.com", "pats password", "patsnetwork")
			res := e.call("/auth/login", "", map[string]string{
				"auth_jwt": appleToken("pat@example.com").sign(t), "auth_jwt_type": "apple"})
			res.wantError(t, "Sign in with the method this account was created with.")
			if res.Error.SuggestedUserAuth != "password" {
				t.Fatalf("suggested_user_auth %q, want password", res.Error.SuggestedUserAuth)
			}
			res = e.call("/auth/network-create", "", map[string]any{
				"auth_jwt": appleToken("pat@example.com").sign(t), "auth_jwt_type": "apple",
				"network_name": "patsothernet", "terms": true})
			res.wantError(t, msgUserAuthTaken)
		})

		t.Run("a key published later is fetched on its first use", func(t *testing.T) {
			tok := appleToken("rotated@example.com")
			tok.kid, tok.key = "key-b", ssoKeyB()
			login := func() result {
				return e.call("/auth/login", "", map[string]string{
					"auth_jwt": tok.sign(t), "auth_jwt_type": "apple"})
			}
			login().wantError(t, msgInvalidSSO)
			ks.publish("key-b", &ssoKeyB().PublicKey)
			if res := login().wantOK(t); res.UserAuth != "rotated@example.com" {
				t.Fatalf("login with the rotated key = %+v", res)
			}
		})

		bad := map[string]func(*idToken){
			"another audience":   func(it *idToken) { it.audience = "com.example.other" },
			"another issuer":     func(it *idToken) { it.issuer = "https://evil.example" },
			"an expired token":   func(it *idToken) { it.expires = time.Now().Add(-time.Hour) },
			"an unverified mail": func(it *idToken) { it.verified = false },
			"no email":           func(it *idToken) { it.email = "" },
			"a bad email":        func(it *idToken) { it.email = "not an email" },
			"a forged signature": func(it *idToken) { it.key = newRSAKey() },
			"an unknown key id":  func(it *idToken) { it.kid = "key-z" },
		}
		for name, spoil := range bad {
			t.Run("a token with "+name+" is refused", func(t *testing.T) {
				tok := appleToken("anna@example.com")
				spoil(&tok)
				res := e.call("/auth/login", "", map[string]string{
					"auth_jwt": tok.sign(t), "auth_jwt_type": "apple"})
				res.wantError(t, msgInvalidSSO)
				res = e.call("/auth/network-create", "", map[string]any{
					"auth_jwt": tok.sign(t), "auth_jwt_type": "apple",
					"network_name": "spoilednetwork", "terms": true})
				res.wantError(t, msgInvalidSSO)
			})
		}

		t.Run("garbage and unconfigured providers are refused", func(t *testing.T) {
			res := e.call("/auth/login", "", map[string]string{
				"auth_jwt": "not.a.jwt", "auth_jwt_type": "google"})
			res.wantError(t, msgInvalidSSO)
			res = e.call("/auth/login", "", map[string]string{
				"auth_jwt": appleToken("anna@example.com").sign(t), "auth_jwt_type": "facebook"})
			res.wantError(t, msgSSOUnavailable)
			// An Apple token is not a Google token: the audience differs.
			res = e.call("/auth/login", "", map[string]string{
				"auth_jwt": appleToken("anna@example.com").sign(t), "auth_jwt_type": "google"})
			res.wantError(t, msgInvalidSSO)
		})
	})
}
