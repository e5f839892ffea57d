package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/byplatform/byplatform/control"
	"github.com/byplatform/byplatform/engine"
)

// probeMaxSize is the largest message size reserved for transport probes: inbound
// messages of 1 to 16 bytes are ignored, and the platform never sends a data message
// that short.
const probeMaxSize = 16

var (
	errMessageTooLarge = errors.New("message too large")
	errServerClosed    = errors.New("transport: server closed")
)

// Server accepts client connections over WebSocket and QUIC, authenticates them, keeps
// the presence of every connected client and relays transfer frames between clients
// and to the control path. It implements engine.Presence. A Server is safe for
// concurrent use; Close stops it.
type Server struct {
	opts    Options
	log     *slog.Logger
	metrics *metrics

	presences presences
	upgrader  websocket.Upgrader

	ctx    context.Context
	cancel context.CancelFunc

	// mu guards closed and listeners, and orders wg.Add before wg.Wait.
	mu        sync.Mutex
	closed    bool
	listeners []io.Closer
	wg        sync.WaitGroup
}

// New returns a Server configured by opts. It accepts nothing until it is mounted as an
// http.Handler (WebSocket) or given a QUIC listener with ListenQUIC.
func New(opts Options) (*Server, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	m, err := newMetrics(opts.Registry)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts:    opts,
		log:     opts.Logger,
		metrics: m,
		ctx:     ctx,
		cancel:  cancel,
	}
	s.upgrader = websocket.Upgrader{
		// Clients authenticate with a token, never with cookies, so a cross-origin page
		// gains nothing by opening a socket.
		CheckOrigin:     func(*http.Request) bool { return true },
		WriteBufferPool: &wsWritePool,
	}
	return s, nil
}

// Close stops accepting connections, closes every connection and control session, and
// waits for the server's goroutines to finish. It returns nil and may be called more
// than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	listeners := s.listeners
	s.listeners = nil
	s.mu.Unlock()

	s.cancel()
	for _, l := range listeners {
		l.Close()
	}
	for _, p := range s.presences.all() {
		s.endPresence(p)
	}
	s.wg.Wait()
	return nil
}

// goTracked runs f in a goroutine the server waits for on Close. It returns false, and
// does not run f, when the server is closed.
func (s *Server) goTracked(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// authenticate parses an auth frame and verifies its JWT.
func (s *Server) authenticate(
	ctx context.Context, frame []byte,
) (credentials, engine.ClientAuth, error) {
	a, err := control.ParseAuthFrame(frame)
	if err != nil {
		return credentials{}, engine.ClientAuth{}, err
	}
	auth, err := s.opts.Auth.AuthenticateClient(ctx, a.JWT)
	if err != nil {
		return credentials{}, engine.ClientAuth{}, fmt.Errorf("authenticate: %w", err)
	}
	creds := credentials{jwt: a.JWT, instanceID: a.InstanceID, appVersion: a.AppVersion}
	return creds, auth, nil
}

// serveConn runs an authenticated connection until it closes: it joins the client's
// presence, then reads with read until that fails. It runs on the connection's
// goroutine and returns when the connection is gone.
func (s *Server) serveConn(c *conn, read func(*conn) error) {
	p, old := s.presences.add(c)
	if old != nil {
		c.log.Info("presence replaced by a new instance", "instance_id", c.info.InstanceID)
		s.endPresence(old)
	}
	p.openSession(s.ctx, s.opts.Control)
	c.start()

	open := s.metrics.openWS
	if c.info.Transport == transportQUIC {
		open = s.metrics.openQUIC
	}
	open.Inc()
	c.log.Info("connected", "instance_id", c.info.InstanceID,
		"app_version", c.appVersion, "transport_version", c.transportVersion)
	if s.opts.Observer != nil {
		s.opts.Observer.Connected(c.auth, c.info)
	}

	err := read(c)

	c.close()
	if s.presences.remove(c) {
		s.closeSession(p.end())
	}
	open.Dec()
	c.log.Info("disconnected", "dur", time.Since(c.info.ConnectTime), "err", err)
	if s.opts.Observer != nil {
		s.opts.Observer.Disconnected(c.auth, c.info)
	}
}

// route handles one inbound message of c. msg lies in buf, which route owns: it hands
// it to a send queue or releases it.
func (s *Server) route(c *conn, buf *buffer, msg []byte) {
	switch {
	case len(msg) == 0:
		// A ping: reading it already refreshed the read deadline.
		buf.release()
		return
	case len(msg) <= probeMaxSize:
		s.metrics.ignored.Inc()
		buf.release()
		return
	}

	path, err := control.ParsePath(msg)
	switch {
	case err != nil:
		s.metrics.dropMalformed.Inc()
	case path.Source != c.auth.ClientID:
		s.metrics.dropSpoofed.Inc()
	case path.Stream != uuid.Nil:
		s.metrics.dropStream.Inc()
	case path.Destination == uuid.Nil:
		s.toControl(c, msg)
	default:
		s.relay(path.Destination, outMsg{data: msg, buf: buf})
		return
	}
	buf.release()
}

// relay queues m on one live connection of the destination client, or drops it.
func (s *Server) relay(dest uuid.UUID, m outMsg) {
	p := s.presences.lookup(dest)
	if p == nil {
		s.metrics.dropOffline.Inc()
		m.release()
		return
	}
	switch p.deliver(m) {
	case delivered:
		s.metrics.relayed.Inc()
	case deliverOffline:
		s.metrics.dropOffline.Inc()
		m.release()
	case deliverFull:
		s.metrics.dropQueueFull.Inc()
		m.release()
	}
}

// toControl passes the frame to the client's control session, which does not keep it.
func (s *Server) toControl(c *conn, msg []byte) {
	session := c.pres.controlSession()
	if session == nil {
		s.metrics.dropNoControl.Inc()
		return
	}
	s.metrics.toControl.Inc()
	session.Receive(c.ctx, msg)
}

// refreshDeadline is how often, as a fraction of ReadTimeout, the read deadline is moved
// forward; moving it on every message would cost a timer update per frame. The deadline
// is set that fraction beyond ReadTimeout, so a connection is closed after between
// ReadTimeout and 9/8 ReadTimeout of silence, never earlier.
const refreshDeadline = 8

// readDeadline tracks when a connection's read deadline was last moved.
type readDeadline struct {
	set func(time.Time) error
	// heard, when set, records the time of every refresh: the reader calls refresh
	// after each message, so it is when the connection was last heard from.
	heard   *atomic.Int64
	timeout time.Duration
	moved   bool
	last    int64 // monoNow when last moved
}

// refresh moves the deadline forward unless it was moved less than an eighth of
// ReadTimeout ago.
func (d *readDeadline) refresh() error {
	now := monoNow()
	if d.heard != nil {
		d.heard.Store(now)
	}
	slack := d.timeout / refreshDeadline
	if d.moved && time.Duration(now-d.last) < slack {
		return nil
	}
	d.moved, d.last = true, now
	return d.set(time.Now().Add(d.timeout + slack))
}

// newConnection describes a connection that authenticated just now.
func newConnection(
	transport string, instanceID uuid.UUID, remote netip.AddrPort,
) engine.Connection {
	return engine.Connection{
		ConnectionID: uuid.New(),
		InstanceID:   instanceID,
		ConnectTime:  time.Now(),
		Remote:       remote,
		Transport:    transport,
	}
}
