// Package engine holds byplatform's domain rules and live state. Every front (the HTTP
// API, the connect transports, a future admin tool) calls the same Engine methods with
// typed arguments and results; the engine never imports a front.
//
// Durable state goes through the store. Live state (presence, provider health, the
// matcher's indexes) is rebuilt from the store and from connections at start.
package engine

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/byplatform/byplatform/geoip"
	"github.com/byplatform/byplatform/matcher"
	"github.com/byplatform/byplatform/notify"
	"github.com/byplatform/byplatform/store"
	"github.com/byplatform/byplatform/token"
)

// Config holds the engine's collaborators and settings. Store, Signer, Sender and
// CodeKey are required.
type Config struct {
	Store  *store.Store
	Signer *token.Signer
	// Sender delivers verification and reset codes.
	Sender notify.Sender
	// CodeKey (32 random bytes) keys the hashes under which codes are stored.
	CodeKey []byte
	// SSO verifies Apple and Google identity tokens, by "apple" or "google". A
	// provider without an entry is refused.
	SSO map[string]*token.SSOVerifier
	// Presence is the transports' view of live connections; nil until they run.
	Presence Presence
	// Locator places providers by their connection's address; nil places nobody, and
	// no provider becomes discoverable.
	Locator *geoip.Locator
	// KeepaliveInterval is the transports' keepalive period; a provider none of whose
	// connections was heard from for two of them leaves the pool. Zero means 5 s.
	KeepaliveInterval time.Duration
	// Password costs; zero means DefaultPasswordParams.
	Password PasswordParams
	Logger   *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Limits of the account rules.
const (
	maxActiveClients    = 128
	maxNewClientsPerDay = 1024
	maxLiveAuthCodes    = 100
	verifyCodeLife      = 15 * time.Minute
	verifyCodeMaxTries  = 5
	resetCodeLife       = time.Hour
	authCodeMaxLife     = 24 * time.Hour
	authCodeMaxUses     = 4
)

// Engine is the core. It is safe for concurrent use.
type Engine struct {
	cfg   Config
	store *store.Store
	log   *slog.Logger
	names *nameIndex

	provide provideKeys
	catalog *matcher.Catalog
	pool    *matcher.Pool
	health  healthMonitor
	metrics engineMetrics
	stop    context.CancelFunc
	done    chan struct{}
}

// New builds an engine and loads its in-memory indexes from the store.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	if cfg.Store == nil || cfg.Signer == nil || cfg.Sender == nil || len(cfg.CodeKey) < 16 {
		return nil, fmt.Errorf("engine: Store, Signer, Sender and CodeKey are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Password == (PasswordParams{}) {
		cfg.Password = DefaultPasswordParams
	}
	e := &Engine{cfg: cfg, store: cfg.Store, log: cfg.Logger, names: newNameIndex()}
	e.provide.keys = make(map[uuid.UUID]map[ProvideMode][]byte)
	e.health.providers = make(map[uuid.UUID]*providerState)
	e.catalog = matcher.NewCatalog()
	e.pool = matcher.NewPool(e.catalog)
	if cfg.KeepaliveInterval <= 0 {
		cfg.KeepaliveInterval = 5 * time.Second
		e.cfg.KeepaliveInterval = cfg.KeepaliveInterval
	}
	if err := cfg.Store.NetworkNames(ctx, e.names.Add); err != nil {
		return nil, fmt.Errorf("engine: load network names: %w", err)
	}
	if err := e.loadCatalog(ctx); err != nil {
		return nil, fmt.Errorf("engine: load location catalog: %w", err)
	}
	sweepCtx, stop := context.WithCancel(context.Background())
	e.stop, e.done = stop, make(chan struct{})
	go func() {
		defer close(e.done)
		e.sweepHealth(sweepCtx, cfg.KeepaliveInterval)
	}()
	return e, nil
}

// Close stops the engine's background work. The store stays open.
func (e *Engine) Close() {
	e.stop()
	<-e.done
}

// SetPresence connects the transports' presence once they run.
func (e *Engine) SetPresence(p Presence) { e.cfg.Presence = p }

func (e *Engine) now() time.Time { return e.cfg.Now().UTC() }

// Caller is who an authenticated request speaks for, read from its bearer token.
type Caller struct {
	NetworkID   uuid.UUID
	NetworkName string
	UserID      uuid.UUID
	// ClientID is set for client tokens.
	ClientID   uuid.UUID
	DeviceID   uuid.UUID
	SessionIDs []uuid.UUID
}

// IsClient reports whether the caller used a client token.
func (c Caller) IsClient() bool { return c.ClientID != uuid.Nil }

// Authenticate verifies a bearer token and that its sessions are live and, for a
// client token, that the client is still active in the token's network. It returns
// ErrUnauthorized for anything it refuses.
func (e *Engine) Authenticate(ctx context.Context, bearer string) (Caller, error) {
	claims, err := e.cfg.Signer.Verify(bearer)
	if err != nil {
		return Caller{}, fmt.Errorf("%w: %v", ErrUnauthorized, err)
	}
	ok, err := e.store.SessionsActive(ctx, claims.SessionIDs)
	if err != nil {
		return Caller{}, err
	}
	if !ok {
		return Caller{}, fmt.Errorf("%w: session revoked", ErrUnauthorized)
	}
	c := Caller{NetworkID: claims.NetworkID, NetworkName: claims.NetworkName,
		UserID: claims.UserID, ClientID: claims.ClientID, DeviceID: claims.DeviceID,
		SessionIDs: claims.SessionIDs}
	if c.IsClient() {
		client, err := e.store.Client(ctx, c.ClientID)
		if err == store.ErrNotFound || (err == nil && (!client.Active ||
			client.NetworkID != c.NetworkID)) {
			return Caller{}, fmt.Errorf("%w: client not active", ErrUnauthorized)
		}
		if err != nil {
			return Caller{}, err
		}
	}
	return c, nil
}

// AuthenticateClient verifies a client token for the connect transports: the token
// must carry a client id, and the client must exist, be active and belong to the
// token's network.
func (e *Engine) AuthenticateClient(ctx context.Context, jwt string) (ClientAuth, error) {
	c, err := e.Authenticate(ctx, jwt)
	if err != nil {
		return ClientAuth{}, err
	}
	if !c.IsClient() {
		return ClientAuth{}, fmt.Errorf("%w: not a client token", ErrUnauthorized)
	}
	var session uuid.UUID
	if len(c.SessionIDs) > 0 {
		session = c.SessionIDs[0]
	}
	return ClientAuth{ClientID: c.ClientID, NetworkID: c.NetworkID, UserID: c.UserID,
		SessionID: session}, nil
}
