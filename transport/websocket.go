package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/byplatform/byplatform/control"
	"github.com/byplatform/byplatform/engine"
)

// wsWritePool lends gorilla its write buffers only while a message is written, so an
// idle WebSocket connection holds none.
var wsWritePool sync.Pool

// Headers of the header style of authentication.
const (
	headerInstanceID       = "X-UR-InstanceId"
	headerAppVersion       = "X-UR-AppVersion"
	headerTransportVersion = "X-UR-TransportVersion"
)

// credentials are what a client presents to authenticate. jwt is a secret: never log it.
type credentials struct {
	jwt              string
	instanceID       uuid.UUID
	appVersion       string
	transportVersion string
}

// ServeHTTP accepts a WebSocket connection. Mount it where clients connect, typically
// at "/" and "/connect". A client authenticates either with an Authorization: Bearer
// header and X-UR-InstanceId on the upgrade request (refused with 401 when invalid), or
// with an auth frame as its first message, which the server echoes; an invalid auth
// frame closes the socket without a reply.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.ctx.Err() != nil {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	creds, inHeader, err := headerCredentials(r)
	var auth engine.ClientAuth
	if err == nil && inHeader {
		ctx, cancel := context.WithTimeout(r.Context(), s.opts.AuthTimeout)
		auth, err = s.opts.Auth.AuthenticateClient(ctx, creds.jwt)
		cancel()
	}
	if err != nil {
		s.metrics.authFailWS.Inc()
		s.log.Debug("websocket auth refused", "remote", r.RemoteAddr, "err", err)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}

	hw := &hijackWriter{ResponseWriter: w, timeout: s.opts.WriteTimeout}
	ws, err := s.upgrader.Upgrade(hw, r, nil)
	if err != nil {
		// The upgrader has answered the request.
		return
	}
	remote := remoteAddrPort(r.RemoteAddr)
	if !s.goTracked(func() { s.serveWS(ws, hw.conn, remote, inHeader, creds, auth) }) {
		ws.NetConn().Close()
	}
}

// headerCredentials reads the header style of authentication. ok is false when the
// request carries no Authorization header, so the client authenticates in-band.
func headerCredentials(r *http.Request) (creds credentials, ok bool, err error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return credentials{}, false, nil
	}
	scheme, token, _ := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return credentials{}, true, errors.New("authorization is not a bearer token")
	}
	id, err := uuid.Parse(r.Header.Get(headerInstanceID))
	if err != nil {
		return credentials{}, true, fmt.Errorf("instance id: %w", err)
	}
	return credentials{
		jwt:              token,
		instanceID:       id,
		appVersion:       r.Header.Get(headerAppVersion),
		transportVersion: r.Header.Get(headerTransportVersion),
	}, true, nil
}

// handshakeWS reads the auth frame that opens an in-band authenticated connection,
// verifies it and echoes it. It sends nothing when it fails.
func (s *Server) handshakeWS(ws *websocket.Conn) (credentials, engine.ClientAuth, error) {
	deadline := time.Now().Add(s.opts.AuthTimeout)
	ctx, cancel := context.WithDeadline(s.ctx, deadline)
	defer cancel()
	ws.SetReadDeadline(deadline)

	mt, r, err := ws.NextReader()
	if err != nil {
		return credentials{}, engine.ClientAuth{}, fmt.Errorf("read auth: %w", err)
	}
	if mt != websocket.BinaryMessage {
		return credentials{}, engine.ClientAuth{}, errors.New("auth frame is not binary")
	}
	// The read limit is applied here, not with SetReadLimit, because gorilla answers an
	// oversized message with a close frame and a refused client must get nothing.
	buf, n, err := readAll(io.LimitReader(r, control.MaxAuthFrameSize+1))
	if err != nil {
		return credentials{}, engine.ClientAuth{}, fmt.Errorf("read auth: %w", err)
	}
	defer buf.release()
	msg := buf.b[:n]

	creds, auth, err := s.authenticate(ctx, msg)
	if err != nil {
		return credentials{}, engine.ClientAuth{}, err
	}
	if err := ws.WriteMessage(websocket.BinaryMessage, msg); err != nil {
		return credentials{}, engine.ClientAuth{}, fmt.Errorf("echo auth: %w", err)
	}
	return creds, auth, nil
}

// serveWS runs the in-band handshake unless the upgrade request authenticated, then
// serves the connection until it closes.
func (s *Server) serveWS(
	ws *websocket.Conn, bc *batchConn, remote netip.AddrPort,
	authenticated bool, creds credentials, auth engine.ClientAuth,
) {
	if !authenticated {
		var err error
		if creds, auth, err = s.handshakeWS(ws); err != nil {
			s.metrics.authFailWS.Inc()
			s.log.Debug("websocket auth refused", "remote", remote, "err", err)
			ws.NetConn().Close()
			return
		}
	}

	ws.SetReadLimit(int64(s.opts.MaxMessageSize))
	info := newConnection(transportWS, creds.instanceID, remote)
	c := s.newConn(auth, info, &wsLink{ws: ws, bc: bc}, creds)
	s.metrics.connsWS.Inc()
	// The read loop gets a fresh goroutine: the handshake grew this one's stack, and an
	// idle connection would keep twice the stack its read loop needs.
	read := func(c *conn) error { return s.readWS(c, ws) }
	if !s.goTracked(func() { s.serveConn(c, read) }) {
		ws.NetConn().Close()
	}
}

// readWS is the read loop of a WebSocket connection: one binary message is one
// TransferFrame.
func (s *Server) readWS(c *conn, ws *websocket.Conn) error {
	dl := readDeadline{set: ws.SetReadDeadline, timeout: s.opts.ReadTimeout, heard: &c.lastRead}
	for {
		if err := dl.refresh(); err != nil {
			return err
		}
		mt, r, err := ws.NextReader()
		if err != nil {
			return s.readError(err)
		}
		buf, n, err := readAll(r)
		if err != nil {
			return s.readError(err)
		}
		if mt != websocket.BinaryMessage {
			s.metrics.dropMalformed.Inc()
			buf.release()
			continue
		}
		s.route(c, buf, buf.b[:n])
	}
}

// readError counts a message over the read limit, which ends the connection.
func (s *Server) readError(err error) error {
	if errors.Is(err, websocket.ErrReadLimit) || errors.Is(err, errMessageTooLarge) {
		s.metrics.dropOversize.Inc()
	}
	return err
}

// wsLink writes to a WebSocket connection.
type wsLink struct {
	ws *websocket.Conn
	bc *batchConn
}

// writeBatch writes each message as one binary WebSocket message. Several messages are
// gathered by the batchConn and reach the socket in one write.
func (l *wsLink) writeBatch(msgs []outMsg, deadline time.Time) error {
	if len(msgs) == 1 {
		return l.ws.WriteMessage(websocket.BinaryMessage, msgs[0].data)
	}
	l.bc.startBatch()
	for i := range msgs {
		if err := l.ws.WriteMessage(websocket.BinaryMessage, msgs[i].data); err != nil {
			l.bc.flush(deadline)
			return err
		}
	}
	return l.bc.flush(deadline)
}

func (l *wsLink) close() {
	l.ws.NetConn().Close()
}

// hijackWriter hands gorilla a batchConn in place of the hijacked connection.
type hijackWriter struct {
	http.ResponseWriter
	timeout time.Duration
	conn    *batchConn
}

// Hijack implements http.Hijacker.
func (h *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.conn = &batchConn{Conn: nc, timeout: h.timeout}
	return h.conn, brw, nil
}

// batchConn sits between gorilla and the socket. gorilla writes every message with its
// own system call; between startBatch and flush, batchConn gathers those writes so a
// batch of messages costs one call. Outside a batch it writes through, with a deadline
// of its own: gorilla's per-write deadlines are ignored, because a pong written from
// the read loop would otherwise move the deadline of a batch being flushed.
type batchConn struct {
	net.Conn
	timeout time.Duration

	mu       sync.Mutex
	batching bool
	buf      *buffer
	out      []byte
}

// SetWriteDeadline ignores gorilla's deadlines; see batchConn.
func (b *batchConn) SetWriteDeadline(time.Time) error { return nil }

// Write implements net.Conn.
func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.batching {
		b.out = append(b.out, p...)
		return len(p), nil
	}
	b.Conn.SetWriteDeadline(time.Now().Add(b.timeout))
	return b.Conn.Write(p)
}

func (b *batchConn) startBatch() {
	b.mu.Lock()
	b.batching = true
	b.buf = getBuffer(maxBatchBytes)
	b.out = b.buf.b[:0]
	b.mu.Unlock()
}

// flush writes what the batch gathered and ends it.
func (b *batchConn) flush(deadline time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.out
	b.batching, b.out = false, nil
	defer func() {
		b.buf.release()
		b.buf = nil
	}()
	b.Conn.SetWriteDeadline(deadline)
	_, err := b.Conn.Write(out)
	return err
}

// remoteAddrPort parses an http.Request's RemoteAddr; it returns the zero value for
// anything but an IP and port.
func remoteAddrPort(addr string) netip.AddrPort {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
