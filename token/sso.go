package token

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Defaults of SSOConfig.
const (
	// DefaultSSOLeeway is the default of SSOConfig.Leeway.
	DefaultSSOLeeway = time.Minute
	// DefaultSSOMinRefetch is the default of SSOConfig.MinRefetch.
	DefaultSSOMinRefetch = time.Minute
	// DefaultSSOMaxKeyAge is the default of SSOConfig.MaxKeyAge.
	DefaultSSOMaxKeyAge = time.Hour
	// DefaultSSOTimeout is the timeout of the HTTP client used when SSOConfig.HTTPClient
	// is nil.
	DefaultSSOTimeout = 10 * time.Second
)

// MaxJWKSSize is the largest key set document, in bytes, that an SSOVerifier accepts.
const MaxJWKSSize = 1 << 20

// ErrKeysUnavailable reports that an SSOVerifier could not obtain the provider's keys, so it
// could not tell whether a token is valid. It is a failure of the server or the provider,
// not of the token, and is never returned together with ErrInvalid.
var ErrKeysUnavailable = errors.New("sso keys unavailable")

// SSOConfig configures an SSOVerifier for one identity provider. AppleDefaults and
// GoogleDefaults fill in the provider's published endpoints.
type SSOConfig struct {
	// Name names the provider ("apple", "google") in errors.
	Name string
	// JWKSURL is where the provider publishes its signing keys as a JSON Web Key Set.
	JWKSURL string
	// Issuers lists the accepted values of the "iss" claim.
	Issuers []string
	// Audiences lists our client ids at the provider; a token's "aud" must contain one.
	// It must not be empty: without it a token issued to any app would be accepted.
	Audiences []string
	// HTTPClient fetches the key set. Nil means a client with a DefaultSSOTimeout timeout.
	HTTPClient *http.Client
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Leeway is the clock skew tolerated on "exp" and "iat". Zero means DefaultSSOLeeway.
	Leeway time.Duration
	// MinRefetch is the shortest interval between two fetches of the key set. An unknown
	// "kid" triggers a fetch, so this bounds how hard forged tokens can make us hit the
	// provider, at the price of rejecting tokens signed with a just-published key for up
	// to that long after an unrelated fetch. Zero means DefaultSSOMinRefetch.
	MinRefetch time.Duration
	// MaxKeyAge is how long a fetched key set is trusted before it is fetched again, so a
	// key the provider withdraws stops verifying. If that fetch fails the old set stays in
	// use. Zero means DefaultSSOMaxKeyAge.
	MaxKeyAge time.Duration
}

// AppleDefaults returns the configuration for Sign in with Apple, accepting tokens issued
// to any of audiences (the app's bundle id or services id).
func AppleDefaults(audiences []string) SSOConfig {
	return SSOConfig{
		Name:      "apple",
		JWKSURL:   "https://appleid.apple.com/auth/keys",
		Issuers:   []string{"https://appleid.apple.com"},
		Audiences: audiences,
	}
}

// GoogleDefaults returns the configuration for Google sign-in, accepting tokens issued to
// any of audiences (OAuth client ids).
func GoogleDefaults(audiences []string) SSOConfig {
	return SSOConfig{
		Name:      "google",
		JWKSURL:   "https://www.googleapis.com/oauth2/v3/certs",
		Issuers:   []string{"https://accounts.google.com", "accounts.google.com"},
		Audiences: audiences,
	}
}

// SSOIdentity is who an identity provider says signed in.
type SSOIdentity struct {
	// Subject is the provider's stable id of the user.
	Subject string
	// Email is the address the provider gave, as given.
	Email string
	// EmailVerified is true when the token says the provider verified Email. Tokens that
	// say nothing either way are accepted with EmailVerified false.
	EmailVerified bool
}

// SSOVerifier verifies ID tokens of one identity provider (RS256 or ES256 JWTs) against the
// provider's published keys. It caches the keys and fetches them again when they are old or
// a token names an unknown key, at most once per MinRefetch. It is safe for concurrent use.
type SSOVerifier struct {
	cfg    SSOConfig
	client *http.Client
	parser *jwt.Parser

	keys atomic.Pointer[keySet]

	// fetching holds a token while a goroutine decides whether to fetch and fetches; a
	// channel rather than a mutex so that waiters can give up when their context ends.
	fetching  chan struct{}
	lastFetch time.Time // guarded by fetching
}

// NewSSOVerifier returns a verifier for cfg. It does not contact the provider; the keys are
// fetched on first use.
func NewSSOVerifier(cfg SSOConfig) (*SSOVerifier, error) {
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("sso %s: %w", cfg.Name, err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = DefaultSSOLeeway
	}
	if cfg.MinRefetch == 0 {
		cfg.MinRefetch = DefaultSSOMinRefetch
	}
	if cfg.MaxKeyAge == 0 {
		cfg.MaxKeyAge = DefaultSSOMaxKeyAge
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: DefaultSSOTimeout}
	}
	cfg.Issuers = slices.Clone(cfg.Issuers)
	cfg.Audiences = slices.Clone(cfg.Audiences)
	return &SSOVerifier{
		cfg:    cfg,
		client: client,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{"RS256", "ES256"}),
			jwt.WithAudience(cfg.Audiences...),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(cfg.Leeway),
			jwt.WithTimeFunc(cfg.Now),
		),
		fetching: make(chan struct{}, 1),
	}, nil
}

func (c *SSOConfig) check() error {
	if c.Name == "" {
		return errors.New("config has no name")
	}
	u, err := url.Parse(c.JWKSURL)
	if err != nil {
		return fmt.Errorf("key set URL: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("key set URL %q is not an HTTP(S) URL", c.JWKSURL)
	}
	if len(c.Issuers) == 0 {
		return errors.New("config has no issuers")
	}
	if len(c.Audiences) == 0 || slices.Contains(c.Audiences, "") {
		return errors.New("config needs audiences, none of them empty")
	}
	if c.Leeway < 0 || c.MinRefetch < 0 || c.MaxKeyAge < 0 {
		return errors.New("config has a negative duration")
	}
	return nil
}

// Name returns the provider name of the configuration v was built from.
func (v *SSOVerifier) Name() string { return v.cfg.Name }

// ssoClaims are the claims of a provider's ID token that we read.
type ssoClaims struct {
	Email         string    `json:"email"`
	EmailVerified *flexBool `json:"email_verified"`
	jwt.RegisteredClaims
}

// flexBool is a JSON boolean that may also arrive as the string "true" or "false", as
// Apple sends it.
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	switch string(bytes.ToLower(data)) {
	case "true", `"true"`:
		*b = true
	case "false", `"false"`:
		*b = false
	default:
		return fmt.Errorf("email_verified: %s is not a boolean", clip(string(data)))
	}
	return nil
}

// Verify checks idToken's signature against the provider's keys and its "iss", "aud",
// "exp" and "iat" claims, requires a subject and an email address (verified, when the token
// says), and returns the identity. A token that fails verification yields an error wrapping
// ErrInvalid; a failure to fetch the keys yields one wrapping ErrKeysUnavailable. Verify
// may block on a fetch of the key set for up to the HTTP client's timeout or until ctx ends.
func (v *SSOVerifier) Verify(ctx context.Context, idToken string) (SSOIdentity, error) {
	if len(idToken) > MaxTokenSize {
		return SSOIdentity{}, fmt.Errorf("%w: sso %s: token is %d bytes, limit %d",
			ErrInvalid, v.cfg.Name, len(idToken), MaxTokenSize)
	}
	var c ssoClaims
	_, err := v.parser.ParseWithClaims(idToken, &c, func(t *jwt.Token) (any, error) {
		return v.keyFor(ctx, t)
	})
	if errors.Is(err, ErrKeysUnavailable) {
		return SSOIdentity{}, fmt.Errorf("sso %s: %w", v.cfg.Name, err)
	}
	if err == nil {
		err = c.check(v.cfg.Issuers)
	}
	if err != nil {
		return SSOIdentity{}, fmt.Errorf("%w: sso %s: %w", ErrInvalid, v.cfg.Name, err)
	}
	return SSOIdentity{
		Subject:       c.Subject,
		Email:         c.Email,
		EmailVerified: c.EmailVerified != nil && bool(*c.EmailVerified),
	}, nil
}

func (c *ssoClaims) check(issuers []string) error {
	switch {
	case !slices.Contains(issuers, c.Issuer):
		return fmt.Errorf("issuer %q not accepted", clip(c.Issuer))
	case c.Subject == "":
		return errors.New("token has no subject")
	case c.Email == "":
		return errors.New("token has no email")
	case c.EmailVerified != nil && !bool(*c.EmailVerified):
		return errors.New("email is not verified")
	}
	return nil
}

// keyFor is the jwt.Keyfunc of Verify: it finds the key named by the token's "kid",
// fetching the key set when needed, and insists that the key is meant for the token's
// algorithm.
func (v *SSOVerifier) keyFor(ctx context.Context, t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return nil, errors.New("token has no kid")
	}
	set := v.keys.Load()
	var fetchErr error
	if set == nil || v.cfg.Now().Sub(set.fetched) >= v.cfg.MaxKeyAge || !set.has(kid) {
		var fresh *keySet
		fresh, fetchErr = v.refresh(ctx, set)
		if fresh != nil {
			set = fresh
		}
	}
	if set == nil {
		return nil, fetchErr
	}
	key, ok := set.keys[kid]
	if !ok {
		if fetchErr != nil {
			return nil, fetchErr
		}
		return nil, fmt.Errorf("%w: kid %q", ErrUnknownKey, clip(kid))
	}
	if alg := t.Method.Alg(); alg != key.alg {
		return nil, fmt.Errorf("key %q is for %s, token uses %s", clip(kid), key.alg, alg)
	}
	return key.pub, nil
}

func (s *keySet) has(kid string) bool {
	_, ok := s.keys[kid]
	return ok
}

// refresh fetches the key set unless another caller replaced seen while this one waited or
// the last fetch was less than MinRefetch ago. It returns the newest key set it knows, which
// is seen itself when nothing newer could be had, and the fetch error if any.
func (v *SSOVerifier) refresh(ctx context.Context, seen *keySet) (*keySet, error) {
	select {
	case v.fetching <- struct{}{}:
	case <-ctx.Done():
		return seen, fmt.Errorf("%w: %w", ErrKeysUnavailable, ctx.Err())
	}
	defer func() { <-v.fetching }()

	if cur := v.keys.Load(); cur != seen {
		return cur, nil
	}
	now := v.cfg.Now()
	if !v.lastFetch.IsZero() && now.Sub(v.lastFetch) < v.cfg.MinRefetch {
		if seen == nil {
			return nil, fmt.Errorf("%w: last fetch failed less than %s ago",
				ErrKeysUnavailable, v.cfg.MinRefetch)
		}
		return seen, nil
	}
	v.lastFetch = now
	keys, err := v.fetch(ctx)
	if err != nil {
		return seen, fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
	}
	set := &keySet{keys: keys, fetched: now}
	v.keys.Store(set)
	return set, nil
}

func (v *SSOVerifier) fetch(ctx context.Context) (map[string]ssoKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.cfg.JWKSURL, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch key set: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch key set: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch key set: HTTP status %s", resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSSize+1))
	if err != nil {
		return nil, fmt.Errorf("fetch key set: %w", err)
	}
	if len(data) > MaxJWKSSize {
		return nil, fmt.Errorf("fetch key set: larger than %d bytes", MaxJWKSSize)
	}
	return parseJWKS(data)
}
