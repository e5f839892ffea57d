package transport

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/byplatform/byplatform/engine"
)

// Authenticator checks the credentials a client presents when it connects. The engine
// implements it.
type Authenticator interface {
	// AuthenticateClient verifies a client JWT and that the client exists, is active and
	// belongs to the JWT's network.
	AuthenticateClient(ctx context.Context, jwt string) (engine.ClientAuth, error)
}

// ControlSession is the platform's control endpoint for one client presence.
type ControlSession interface {
	// Receive handles one TransferFrame addressed to the control id. The transport calls
	// it from the connection's read loop, so it must not wait for slow work; it must
	// not keep transferFrame after it returns, since the buffer is reused. ctx ends
	// when the connection closes.
	Receive(ctx context.Context, transferFrame []byte)
	// Close ends the session and may wait for its work to stop. The transport calls it
	// once when the presence ends, with no lock held.
	Close()
}

// ControlOpener opens the control session of a client presence; ctx ends when the
// Server closes. send delivers a serialized TransferFrame to one live connection of
// the client without blocking, takes ownership of the slice, and reports whether it
// was queued; it is safe for concurrent use and may be called after the session was
// closed (it then returns false). *control.Session satisfies ControlSession, so the
// opener can be a closure over control.Server.Open.
type ControlOpener func(
	ctx context.Context, clientID uuid.UUID, send func(transferFrame []byte) bool,
) ControlSession

// Observer learns about connections as they come and go, for example to track provider
// health. Calls for one connection arrive in order (Connected before Disconnected) from
// the connection's goroutine; calls for different connections may be concurrent.
type Observer interface {
	Connected(engine.ClientAuth, engine.Connection)
	Disconnected(engine.ClientAuth, engine.Connection)
}

// Defaults of Options.
const (
	DefaultKeepaliveInterval = 5 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultAuthTimeout       = 10 * time.Second
	DefaultWriteTimeout      = 10 * time.Second
	// DefaultMaxMessageSize is the largest length a QUIC frame header can express, so
	// both transports accept the same messages.
	DefaultMaxMessageSize = 65535
	DefaultSendQueueBytes = 256 << 10
)

// minMessageSize is what the protocol requires every transport to accept.
const minMessageSize = 4 << 10

// Options configures a Server. Zero durations and sizes take their defaults.
type Options struct {
	// Auth verifies client credentials. Required.
	Auth Authenticator
	// Control opens the control session of each client presence. When nil, frames for
	// the control id are dropped.
	Control ControlOpener
	// Observer, when set, is told about every authenticated connection.
	Observer Observer
	// Logger receives state changes; nil discards them.
	Logger *slog.Logger
	// Registry, when set, gets the transport's metrics registered on it.
	Registry *prometheus.Registry

	// KeepaliveInterval is how long a connection may go without an outbound message
	// before the platform sends an empty one (default 5 s; deployed clients drop a
	// connection after 10 s of silence).
	KeepaliveInterval time.Duration
	// ReadTimeout is how long a connection may stay silent before it is closed as dead
	// (default 30 s).
	ReadTimeout time.Duration
	// AuthTimeout bounds the whole handshake: reading the auth message, verifying it
	// and echoing it (default 10 s).
	AuthTimeout time.Duration
	// WriteTimeout bounds one batched write to a connection; a receiver that does not
	// take a batch in that time is closed (default 10 s).
	WriteTimeout time.Duration
	// MaxMessageSize is the largest inbound message in bytes (default 65535, at least
	// 4096 and at most 65535). Larger messages close the connection.
	MaxMessageSize int
	// SendQueueBytes bounds the bytes queued for one connection (default 256 KiB).
	// Frames that do not fit are dropped: clients resend.
	SendQueueBytes int
}

func (o *Options) setDefaults() error {
	if o.Auth == nil {
		return errors.New("transport: Options.Auth is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	setDuration(&o.KeepaliveInterval, DefaultKeepaliveInterval)
	setDuration(&o.ReadTimeout, DefaultReadTimeout)
	setDuration(&o.AuthTimeout, DefaultAuthTimeout)
	setDuration(&o.WriteTimeout, DefaultWriteTimeout)
	if o.MaxMessageSize == 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	if o.MaxMessageSize < minMessageSize || o.MaxMessageSize > DefaultMaxMessageSize {
		return errors.New("transport: MaxMessageSize must be between 4096 and 65535")
	}
	if o.SendQueueBytes == 0 {
		o.SendQueueBytes = DefaultSendQueueBytes
	}
	if o.SendQueueBytes < o.MaxMessageSize {
		return errors.New("transport: SendQueueBytes must hold at least one message")
	}
	return nil
}

func setDuration(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}
