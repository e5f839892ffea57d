// Package api is byplatform's HTTP/JSON front: routing, body decoding, bearer
// authentication, rate limits and the mapping of engine results and errors to the
// BringYour API's shapes and conventions.
//
// Conventions: request bodies are JSON whatever their Content-Type; a domain failure is
// HTTP 200 with {"error": {"message": ...}}; malformed JSON is 400; a missing, invalid
// or revoked bearer token on a protected route is 401; an unknown route 404, a wrong
// method 405; a body over the limit 413; too many attempts 429 with Retry-After; any
// other failure 500 with a message that leaks nothing, logged with the request id.
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/byplatform/byplatform/engine"
)

// Options configure the API front.
type Options struct {
	// MaxBodyBytes limits request bodies; zero means 64 KiB.
	MaxBodyBytes int64
	// TrustedProxies are the networks whose X-Forwarded-For header is believed.
	TrustedProxies []netip.Prefix
	// Limits are the sign-in rate limits; zero means DefaultLimits.
	Limits Limits
	// Registry receives the HTTP metrics; nil means none.
	Registry prometheus.Registerer
	// Ready reports whether the process can serve (the database answers); nil means
	// always. It backs GET /healthz.
	Ready func(context.Context) error
	// Control serves POST /connect/control; nil leaves the route out.
	Control PackHandler
	Logger  *slog.Logger
}

// Server serves the API. Create it with New; it is safe for concurrent use.
type Server struct {
	eng     *engine.Engine
	opts    Options
	log     *slog.Logger
	mux     *http.ServeMux
	limiter *limiter
	metrics *metrics
	frags   fragments // of location search answers
}

// New builds the API front over an engine.
func New(eng *engine.Engine, opts Options) *Server {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 64 << 10
	}
	if opts.Limits == (Limits{}) {
		opts.Limits = DefaultLimits
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{eng: eng, opts: opts, log: opts.Logger, mux: http.NewServeMux(),
		limiter: newLimiter(opts.Limits), metrics: newMetrics(opts.Registry)}
	s.routes()
	return s
}

// Handle adds a route served beside the API (the connect upgrade, /connect/control).
// The handler gets the API's request ids, logging, metrics and panic recovery.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.mux.Handle(pattern, h)
}

// ServeHTTP serves a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rid := newRequestID()
	w.Header().Set("X-Request-Id", rid)
	rw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	log := s.log.With("request_id", rid)
	r = r.WithContext(withRequest(r.Context(), log, rid))
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			log.Error("panic in handler", "path", r.URL.Path, "panic", p)
			if !rw.wrote {
				writeInternal(rw)
			}
		}
		_, route := s.mux.Handler(r)
		if route == "" {
			route = "unmatched"
		}
		s.metrics.observe(route, rw.status, time.Since(start))
		log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", rw.status,
			"dur", time.Since(start), "remote", s.clientAddr(r))
	}()
	s.mux.ServeHTTP(rw, r)
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /healthz", s.healthz)

	s.mux.HandleFunc("POST /auth/login", s.authLogin)
	s.mux.HandleFunc("POST /auth/login-with-password", s.authLoginWithPassword)
	s.mux.HandleFunc("POST /auth/verify", s.authVerify)
	s.mux.HandleFunc("POST /auth/verify-send", s.authVerifySend)
	s.mux.HandleFunc("POST /auth/password-reset", s.authPasswordReset)
	s.mux.HandleFunc("POST /auth/password-set", s.authPasswordSet)
	s.mux.HandleFunc("POST /auth/network-check", s.authNetworkCheck)
	s.mux.HandleFunc("POST /auth/network-create", s.authNetworkCreate)
	s.mux.HandleFunc("POST /auth/code-create", s.authed(s.authCodeCreate))
	s.mux.HandleFunc("POST /auth/code-login", s.authCodeLogin)

	s.mux.HandleFunc("POST /network/auth-client", s.authed(s.networkAuthClient))
	s.mux.HandleFunc("POST /network/remove-client", s.authed(s.networkRemoveClient))
	s.mux.HandleFunc("GET /network/clients", s.authed(s.networkClients))
	s.mux.HandleFunc("POST /preferences/set-preferences", s.authed(s.setPreferences))
	s.mux.HandleFunc("POST /feedback/send-feedback", s.authed(s.sendFeedback))

	s.mux.HandleFunc("GET /network/provider-locations", s.providerLocations)
	s.mux.HandleFunc("POST /network/find-provider-locations", s.findLocations(true))
	s.mux.HandleFunc("POST /network/find-locations", s.findLocations(false))
	s.mux.HandleFunc("POST /network/find-providers", s.findProviders)
	s.mux.HandleFunc("POST /network/find-providers2", s.findProviders2)
	s.mux.HandleFunc("POST /network/create-provider-spec", s.createProviderSpec)

	if s.opts.Control != nil {
		s.mux.HandleFunc("POST /connect/control", s.authed(s.connectControl))
	}
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if s.opts.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.opts.Ready(ctx); err != nil {
			requestLog(r.Context()).Warn("not ready", "err", err)
			http.Error(w, "database unavailable\n", http.StatusServiceUnavailable)
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (the WebSocket upgrade
// needs to hijack it).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func newRequestID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

type ctxKey int

const (
	logKey ctxKey = iota
	callerKey
)

func withRequest(ctx context.Context, log *slog.Logger, rid string) context.Context {
	return context.WithValue(ctx, logKey, log)
}

func requestLog(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(logKey).(*slog.Logger); ok {
		return l
	}
	return slog.New(slog.DiscardHandler)
}

// clientAddr is the request's client address: the peer, or the last address before
// the trusted proxies in X-Forwarded-For when the peer is one of them.
func (s *Server) clientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	addr := ap.Addr().Unmap()
	if !s.trusted(addr) {
		return addr
	}
	hops := splitForwarded(r.Header.Values("X-Forwarded-For"))
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(hops[i])
		if err != nil {
			return addr
		}
		addr = hop.Unmap()
		if !s.trusted(addr) {
			return addr
		}
	}
	return addr
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.opts.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
