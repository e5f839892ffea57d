package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/byplatform/byplatform/store"
)

// config is every setting of serve; migrate uses the database part.
type config struct {
	dataDir        string
	db             string
	httpAddr       string
	outboxDir      string
	smtpURL        string
	mailFrom       string
	jwtKeyFile     string
	trustedProxies string
	logLevel       string
	logFormat      string
	appleClientIDs string
	appleJWKSURL   string
	googleIDs      string
	googleJWKSURL  string
	maxBodyBytes   int64
	connectAddr    string
	quicAddr       string
	tlsCert        string
	tlsKey         string
	contractHMAC   string
	geoipDB        string
	defaultLoc     string
}

func (c *config) databaseFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.dataDir, "data-dir", "./data",
		"directory for the SQLite database, generated keys and the outbox")
	fs.StringVar(&c.db, "db", "",
		"database: empty for SQLite in the data dir, or a postgres:// URL for PostgreSQL "+
			"or CockroachDB")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
}

func (c *config) serveFlags(fs *flag.FlagSet) {
	c.databaseFlags(fs)
	fs.StringVar(&c.httpAddr, "http-addr", "127.0.0.1:8080", "address of the HTTP API")
	fs.StringVar(&c.outboxDir, "outbox-dir", "",
		"directory where verification and reset messages are written when no SMTP server "+
			"is set, one file per message (default <data-dir>/outbox)")
	fs.StringVar(&c.smtpURL, "smtp-url", "",
		"send email through this server, smtp://user:pass@host:port (SMS always goes to "+
			"the outbox)")
	fs.StringVar(&c.mailFrom, "mail-from", "noreply@localhost", "sender address of email")
	fs.StringVar(&c.jwtKeyFile, "jwt-key-file", "",
		"Ed25519 key that signs JWTs (default <data-dir>/jwt.key, generated on first start)")
	fs.StringVar(&c.trustedProxies, "trusted-proxy", "",
		"comma-separated CIDRs whose X-Forwarded-For header is believed")
	fs.StringVar(&c.appleClientIDs, "apple-client-ids", "",
		"comma-separated Apple client ids (token audiences); empty disables Apple sign-in")
	fs.StringVar(&c.appleJWKSURL, "apple-jwks-url", "https://appleid.apple.com/auth/keys",
		"where Apple's signing keys are fetched")
	fs.StringVar(&c.googleIDs, "google-client-ids", "",
		"comma-separated Google client ids (token audiences); empty disables Google sign-in")
	fs.StringVar(&c.googleJWKSURL, "google-jwks-url",
		"https://www.googleapis.com/oauth2/v3/certs", "where Google's signing keys are fetched")
	fs.Int64Var(&c.maxBodyBytes, "max-body-bytes", 64<<10, "largest accepted request body")
	fs.StringVar(&c.connectAddr, "connect-addr", "127.0.0.1:8081",
		"address of the connect WebSocket (served at / and /connect); may equal --http-addr, "+
			"empty disables it")
	fs.StringVar(&c.quicAddr, "quic-addr", "127.0.0.1:8443",
		"UDP address of the connect QUIC listener; empty disables it")
	fs.StringVar(&c.tlsCert, "tls-cert", "",
		"TLS certificate (PEM) for QUIC; empty generates a self-signed one into the data dir")
	fs.StringVar(&c.tlsKey, "tls-key", "", "TLS private key (PEM) for --tls-cert")
	fs.StringVar(&c.geoipDB, "geoip-db", "",
		"MaxMind-format city database(s) placing providers by address: a file, a directory "+
			"of .mmdb files or a comma-separated list (`make geoip` fetches DB-IP Lite)")
	fs.StringVar(&c.defaultLoc, "default-location", "",
		"where providers the GeoIP database does not know are placed, e.g. \"Berlin, Berlin, "+
			"DE\"; empty leaves them undiscoverable")
	fs.StringVar(&c.contractHMAC, "contract-hmac", "legacy",
		"contract HMAC form: legacy (what deployed clients verify) or standard")
}

func (c *config) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: want text or json, got %q", c.logFormat)
}

func (c *config) openStore(ctx context.Context, log *slog.Logger) (*store.Store, error) {
	if err := os.MkdirAll(c.dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	return store.Open(ctx, store.Options{DSN: c.db,
		SQLitePath: filepath.Join(c.dataDir, "byplatform.db"), Logger: log})
}

func (c *config) proxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range splitList(c.trustedProxies) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("--trusted-proxy: %w", err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// loadOrCreateSecret reads a random secret of n bytes from path, creating it on first
// use.
func loadOrCreateSecret(path string, n int) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) != n {
			return nil, fmt.Errorf("secret %s: want %d bytes, found %d", path, n, len(b))
		}
		return b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	b = make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return nil, err
	}
	if err := os.Link(tmp, path); err != nil {
		os.Remove(tmp)
		if errors.Is(err, fs.ErrExist) {
			// Another process created it first; use theirs.
			return loadOrCreateSecret(path, n)
		}
		return nil, err
	}
	os.Remove(tmp)
	return b, nil
}
