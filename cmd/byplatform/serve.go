package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/google/uuid"

	"github.com/byplatform/byplatform/api"
	"github.com/byplatform/byplatform/control"
	"github.com/byplatform/byplatform/engine"
	"github.com/byplatform/byplatform/geoip"
	"github.com/byplatform/byplatform/notify"
	"github.com/byplatform/byplatform/store"
	"github.com/byplatform/byplatform/token"
	"github.com/byplatform/byplatform/transport"
)

// shutdownTimeout bounds a graceful shutdown.
const shutdownTimeout = 10 * time.Second

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c config
	fs := newFlagSet("migrate", "Apply the embedded database migrations and exit", stdout)
	c.databaseFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	st, err := c.openStore(ctx, log)
	if err != nil {
		return err
	}
	defer st.Close()
	applied, err := st.Migrate(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "applied %d migrations on %s\n", len(applied), st.Driver())
	return nil
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c config
	fs := newFlagSet("serve", "Run the server", stdout)
	c.serveFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	srv, err := newServer(ctx, c, log)
	if err != nil {
		return err
	}
	defer srv.close()
	return srv.run(ctx)
}

// server is a running byplatform: its store, engine and listeners.
type server struct {
	log      *slog.Logger
	store    *store.Store
	engine   *engine.Engine
	registry *prometheus.Registry
	http     *http.Server
	httpLn   net.Listener
	control  *control.Server
	connect  *transport.Server
	// wsHTTP serves the connect WebSocket when it has an address of its own.
	wsHTTP *http.Server
	wsLn   net.Listener
	// quicAddr is where the QUIC listener is bound; nil when it is off.
	quicAddr net.Addr
}

func newServer(ctx context.Context, c config, log *slog.Logger) (*server, error) {
	s := &server{log: log, registry: prometheus.NewRegistry()}
	s.registry.MustRegister(collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var err error
	if s.store, err = c.openStore(ctx, log); err != nil {
		return nil, err
	}
	dbErrors := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "byplatform_db_errors_total", Help: "Database errors by operation.",
	}, []string{"op"})
	s.registry.MustRegister(dbErrors)
	s.store.OnError = func(op string, err error) { dbErrors.WithLabelValues(op).Inc() }
	if _, err := s.store.Migrate(ctx); err != nil {
		s.close()
		return nil, err
	}
	if s.engine, err = newEngine(ctx, c, s.store, log); err != nil {
		s.close()
		return nil, err
	}
	s.engine.RegisterMetrics(s.registry)
	proxies, err := c.proxies()
	if err != nil {
		s.close()
		return nil, err
	}
	if err := s.startConnect(c); err != nil {
		s.close()
		return nil, err
	}
	front := api.New(s.engine, api.Options{MaxBodyBytes: c.maxBodyBytes,
		TrustedProxies: proxies, Registry: s.registry, Ready: s.store.Ping, Logger: log,
		Control: s.control})
	front.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
	if c.connectAddr == c.httpAddr {
		front.Handle("GET /{$}", s.connect)
		front.Handle("GET /connect", s.connect)
	} else if c.connectAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /{$}", s.connect)
		mux.Handle("GET /connect", s.connect)
		s.wsHTTP = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		if s.wsLn, err = net.Listen("tcp", c.connectAddr); err != nil {
			s.close()
			return nil, fmt.Errorf("listen connect: %w", err)
		}
	}
	s.http = &http.Server{Handler: front, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second,
		IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	if s.httpLn, err = net.Listen("tcp", c.httpAddr); err != nil {
		s.close()
		return nil, fmt.Errorf("listen http: %w", err)
	}
	return s, nil
}

func newEngine(ctx context.Context, c config, st *store.Store, log *slog.Logger) (
	*engine.Engine, error) {
	keyFile := c.jwtKeyFile
	if keyFile == "" {
		keyFile = filepath.Join(c.dataDir, "jwt.key")
	}
	signer, err := token.LoadOrCreateKey(keyFile)
	if err != nil {
		return nil, fmt.Errorf("jwt key: %w", err)
	}
	codeKey, err := loadOrCreateSecret(filepath.Join(c.dataDir, "code.key"), 32)
	if err != nil {
		return nil, fmt.Errorf("code key: %w", err)
	}
	outbox := c.outboxDir
	if outbox == "" {
		outbox = filepath.Join(c.dataDir, "outbox")
	}
	sender, err := notify.NewFromConfig(c.smtpURL, c.mailFrom, outbox)
	if err != nil {
		return nil, err
	}
	sso := map[string]*token.SSOVerifier{}
	for _, p := range []struct {
		name     string
		ids, url string
		defaults func([]string) token.SSOConfig
	}{
		{"apple", c.appleClientIDs, c.appleJWKSURL, token.AppleDefaults},
		{"google", c.googleIDs, c.googleJWKSURL, token.GoogleDefaults},
	} {
		if ids := splitList(p.ids); len(ids) > 0 {
			cfg := p.defaults(ids)
			cfg.JWKSURL = p.url
			if sso[p.name], err = token.NewSSOVerifier(cfg); err != nil {
				return nil, fmt.Errorf("%s sign-in: %w", p.name, err)
			}
		}
	}
	locator, err := geoip.OpenLocator(c.geoipDB, c.defaultLoc)
	if err != nil {
		return nil, fmt.Errorf("geoip: %w", err)
	}
	return engine.New(ctx, engine.Config{Store: st, Signer: signer, Sender: sender,
		CodeKey: codeKey, SSO: sso, Locator: locator, Logger: log})
}

// startConnect starts the control path and the connect transports.
func (s *server) startConnect(c config) error {
	var form control.HMACForm
	switch c.contractHMAC {
	case "legacy":
		form = control.HMACLegacy
	case "standard":
		form = control.HMACStandard
	default:
		return fmt.Errorf("--contract-hmac: want legacy or standard, got %q", c.contractHMAC)
	}
	s.control = control.NewServer(s.engine, control.Options{HMAC: form, Logger: s.log})
	registerControlStats(s.registry, s.control)
	var err error
	s.connect, err = transport.New(transport.Options{Auth: s.engine, Logger: s.log,
		Registry: s.registry, Observer: s.engine,
		Control: func(ctx context.Context, id uuid.UUID,
			send func([]byte) bool) transport.ControlSession {
			return s.control.Open(ctx, id, send)
		}})
	if err != nil {
		return err
	}
	s.engine.SetPresence(s.connect)
	if c.quicAddr == "" {
		return nil
	}
	tlsConf, fingerprint, err := transport.LoadOrCreateTLS(c.tlsCert, c.tlsKey, c.dataDir)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	if s.quicAddr, err = s.connect.ListenQUIC(c.quicAddr, tlsConf); err != nil {
		return fmt.Errorf("listen quic: %w", err)
	}
	s.log.Info("listening", "quic", s.quicAddr.String(), "tls_sha256", fingerprint)
	return nil
}

// run serves until ctx is done, then shuts down within shutdownTimeout.
func (s *server) run(ctx context.Context) error {
	errc := make(chan error, 2)
	go func() { errc <- s.http.Serve(s.httpLn) }()
	s.log.Info("listening", "http", s.httpLn.Addr().String(), "db", s.store.Driver())
	if s.wsHTTP != nil {
		go func() { errc <- s.wsHTTP.Serve(s.wsLn) }()
		s.log.Info("listening", "connect", s.wsLn.Addr().String())
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	// Connections first: their control sessions call into the engine and the store.
	err := s.connect.Close()
	if s.wsHTTP != nil {
		err = errors.Join(err, s.wsHTTP.Shutdown(sctx))
	}
	err = errors.Join(err, s.http.Shutdown(sctx))
	return err
}

func (s *server) close() {
	if s.connect != nil {
		s.connect.Close()
	}
	if s.engine != nil {
		s.engine.Close()
	}
	if s.store != nil {
		s.store.Close()
	}
}

// registerControlStats exports the control path's counters.
func registerControlStats(reg *prometheus.Registry, c *control.Server) {
	for name, read := range map[string]func(control.Stats) uint64{
		"packs_received": func(s control.Stats) uint64 { return s.PacksReceived },
		"packs_dropped":  func(s control.Stats) uint64 { return s.PacksDropped },
		"duplicates":     func(s control.Stats) uint64 { return s.Duplicates },
		"resends":        func(s control.Stats) uint64 { return s.Resends },
		"gave_up":        func(s control.Stats) uint64 { return s.GaveUp },
		"frame_errors":   func(s control.Stats) uint64 { return s.FrameErrors },
	} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "byplatform_control_" + name + "_total",
			Help: "Control path counter: " + strings.ReplaceAll(name, "_", " ") + ".",
		}, func() float64 { return float64(read(c.Stats())) }))
	}
}
