package transport

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/byplatform/byplatform/control"
	"github.com/byplatform/byplatform/engine"
)

// QUIC flow-control windows. They bound what one connection buffers; a relay does not
// need the library's defaults of several megabytes per connection.
const (
	quicStreamWindow     = 512 << 10
	quicConnectionWindow = 768 << 10
)

// ListenQUIC accepts QUIC connections on the UDP address addr ("host:port"; port 0
// picks one) and returns the address it listens on. tlsConf must hold a certificate;
// its NextProtos and GetConfigForClient are replaced so that clients may offer any
// ALPN protocol or none. The listener runs until Close.
func (s *Server) ListenQUIC(addr string, tlsConf *tls.Config) (net.Addr, error) {
	if tlsConf == nil || (len(tlsConf.Certificates) == 0 && tlsConf.GetCertificate == nil) {
		return nil, errors.New("transport: QUIC needs a TLS certificate")
	}
	ln, err := quic.ListenAddr(addr, acceptAnyALPN(tlsConf), s.quicConfig())
	if err != nil {
		return nil, fmt.Errorf("transport: listen quic: %w", err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		ln.Close()
		return nil, errServerClosed
	}
	s.listeners = append(s.listeners, ln)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.acceptQUIC(ln)
	}()
	return ln.Addr(), nil
}

// acceptAnyALPN adapts a TLS configuration to deployed clients, which offer no ALPN
// protocol on QUIC. A Go QUIC server refuses such a client when NextProtos lists any
// protocol, and a Go QUIC client that offers protocols refuses a server that selects
// none, so the list is chosen per handshake: none for a client that offers none, else
// the client's first choice (the framing on the stream is the only application
// protocol).
func acceptAnyALPN(base *tls.Config) *tls.Config {
	conf := base.Clone()
	conf.NextProtos = nil
	conf.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		if len(hello.SupportedProtos) == 0 {
			return nil, nil
		}
		c := base.Clone()
		c.NextProtos = hello.SupportedProtos[:1]
		c.GetConfigForClient = nil
		return c, nil
	}
	return conf
}

func (s *Server) quicConfig() *quic.Config {
	return &quic.Config{
		HandshakeIdleTimeout: s.opts.AuthTimeout / 2,
		// Well past the read deadline, so that a silent client is closed by the read
		// loop, which tells it, rather than by the idle timeout, which does not.
		MaxIdleTimeout:                 2 * s.opts.ReadTimeout,
		MaxIncomingStreams:             1,
		MaxIncomingUniStreams:          -1,
		InitialStreamReceiveWindow:     quicStreamWindow / 4,
		MaxStreamReceiveWindow:         quicStreamWindow,
		InitialConnectionReceiveWindow: quicConnectionWindow / 4,
		MaxConnectionReceiveWindow:     quicConnectionWindow,
	}
}

// acceptQUIC accepts connections until the listener closes.
func (s *Server) acceptQUIC(ln *quic.Listener) {
	for {
		qc, err := ln.Accept(s.ctx)
		if err != nil {
			if s.ctx.Err() == nil && !errors.Is(err, quic.ErrServerClosed) {
				s.log.Error("quic accept", "err", err)
			}
			return
		}
		if !s.goTracked(func() { s.serveQUIC(qc) }) {
			qc.CloseWithError(0, "")
			return
		}
	}
}

// serveQUIC authenticates a QUIC connection and serves it until it closes.
func (s *Server) serveQUIC(qc *quic.Conn) {
	remote := udpAddrPort(qc.RemoteAddr())
	st, creds, auth, err := s.handshakeQUIC(qc)
	if err != nil {
		s.metrics.authFailQUIC.Inc()
		s.log.Debug("quic auth refused", "remote", remote, "err", err)
		qc.CloseWithError(0, "")
		return
	}

	info := newConnection(transportQUIC, creds.instanceID, remote)
	c := s.newConn(auth, info, &quicLink{qc: qc, st: st}, creds)
	s.metrics.connsQUIC.Inc()
	// A fresh goroutine for the read loop, as for WebSocket: see serveWS.
	read := func(c *conn) error { return s.readFramed(c, st, st.SetReadDeadline) }
	if !s.goTracked(func() { s.serveConn(c, read) }) {
		qc.CloseWithError(0, "")
	}
}

// handshakeQUIC accepts the connection's stream, reads the auth frame, verifies it and
// echoes the framed message byte for byte.
func (s *Server) handshakeQUIC(
	qc *quic.Conn,
) (*quic.Stream, credentials, engine.ClientAuth, error) {
	deadline := time.Now().Add(s.opts.AuthTimeout)
	ctx, cancel := context.WithDeadline(s.ctx, deadline)
	defer cancel()

	st, err := qc.AcceptStream(ctx)
	if err != nil {
		return nil, credentials{}, engine.ClientAuth{}, fmt.Errorf("accept stream: %w", err)
	}
	st.SetDeadline(deadline)
	var header [control.QUICHeaderSize]byte
	if _, err := io.ReadFull(st, header[:]); err != nil {
		return nil, credentials{}, engine.ClientAuth{}, fmt.Errorf("read auth: %w", err)
	}
	n := int(binary.BigEndian.Uint16(header[:]))
	if n > control.MaxAuthFrameSize {
		return nil, credentials{}, engine.ClientAuth{}, fmt.Errorf("auth frame of %d bytes", n)
	}
	framed := make([]byte, control.QUICHeaderSize+n)
	copy(framed, header[:])
	if _, err := io.ReadFull(st, framed[control.QUICHeaderSize:]); err != nil {
		return nil, credentials{}, engine.ClientAuth{}, fmt.Errorf("read auth: %w", err)
	}

	creds, auth, err := s.authenticate(ctx, framed[control.QUICHeaderSize:])
	if err != nil {
		return nil, credentials{}, engine.ClientAuth{}, err
	}
	if _, err := st.Write(framed); err != nil {
		return nil, credentials{}, engine.ClientAuth{}, fmt.Errorf("echo auth: %w", err)
	}
	st.SetDeadline(time.Time{})
	return st, creds, auth, nil
}

// readFramed is the read loop of a QUIC connection: each framed message on the stream
// is one TransferFrame. It reads the framing itself rather than with control.QUICReader
// so that frames land in pooled buffers.
func (s *Server) readFramed(c *conn, r io.Reader, setDeadline func(time.Time) error) error {
	dl := readDeadline{set: setDeadline, timeout: s.opts.ReadTimeout, heard: &c.lastRead}
	header := make([]byte, control.QUICHeaderSize)
	for {
		if err := dl.refresh(); err != nil {
			return err
		}
		if _, err := io.ReadFull(r, header); err != nil {
			return err
		}
		n := int(binary.BigEndian.Uint16(header))
		if n > s.opts.MaxMessageSize {
			s.metrics.dropOversize.Inc()
			return fmt.Errorf("%w: %d bytes", errMessageTooLarge, n)
		}
		if n == 0 {
			continue
		}
		buf := getBuffer(n)
		if _, err := io.ReadFull(r, buf.b[:n]); err != nil {
			buf.release()
			return err
		}
		s.route(c, buf, buf.b[:n])
	}
}

// quicLink writes to the stream of a QUIC connection.
type quicLink struct {
	qc *quic.Conn
	st *quic.Stream
}

// writeBatch frames the messages into one buffer and writes it with one call.
func (l *quicLink) writeBatch(msgs []outMsg, deadline time.Time) error {
	size := 0
	for i := range msgs {
		size += control.QUICHeaderSize + len(msgs[i].data)
	}
	buf := getBuffer(size)
	defer buf.release()
	out := buf.b[:0]
	for i := range msgs {
		// Only a message too long to frame fails, and none reaches a queue: the read
		// limit and sendControl refuse them.
		if next, err := control.AppendQUICMessage(out, msgs[i].data); err == nil {
			out = next
		}
	}
	l.st.SetWriteDeadline(deadline)
	_, err := l.st.Write(out)
	return err
}

func (l *quicLink) close() {
	l.qc.CloseWithError(0, "")
}

// udpAddrPort returns the address of a UDP peer, or the zero value.
func udpAddrPort(a net.Addr) netip.AddrPort {
	if u, ok := a.(*net.UDPAddr); ok {
		ap := u.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}
