package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/quic-go/quic-go"
	"google.golang.org/protobuf/proto"

	"github.com/byplatform/byplatform/control"
	"github.com/byplatform/byplatform/control/pb"
	"github.com/byplatform/byplatform/engine"
)

// waitFor is how long a test waits for something that should happen at once.
const waitFor = 5 * time.Second

// testAuth maps token strings to identities, standing in for the engine's JWT checks.
type testAuth struct {
	mu     sync.Mutex
	tokens map[string]engine.ClientAuth
}

func (a *testAuth) AuthenticateClient(_ context.Context, jwt string) (engine.ClientAuth, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	auth, ok := a.tokens[jwt]
	if !ok {
		return engine.ClientAuth{}, errors.New("unknown token")
	}
	return auth, nil
}

// add registers a new client and returns its token.
func (a *testAuth) add() (string, engine.ClientAuth) {
	auth := engine.ClientAuth{
		ClientID:  uuid.New(),
		NetworkID: uuid.New(),
		UserID:    uuid.New(),
		SessionID: uuid.New(),
	}
	token := "token-" + auth.ClientID.String()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.tokens[token] = auth
	return token, auth
}

// testEnv is a running Server with both transports on loopback.
type testEnv struct {
	t        testing.TB
	srv      *Server
	auth     *testAuth
	reg      *prometheus.Registry
	wsURL    string
	quicAddr string
	control  *testControl
	observer *testObserver
}

// newEnv starts a Server with opts; Auth, Control, Observer and Registry are filled in.
func newEnv(t testing.TB, opts Options) *testEnv {
	t.Helper()
	e := &testEnv{
		t:        t,
		auth:     &testAuth{tokens: map[string]engine.ClientAuth{}},
		reg:      prometheus.NewRegistry(),
		control:  newTestControl(),
		observer: &testObserver{},
	}
	opts.Auth = e.auth
	if opts.Control == nil {
		opts.Control = e.control.open
	}
	if opts.Observer == nil {
		opts.Observer = e.observer
	}
	opts.Registry = e.reg
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv

	mux := http.NewServeMux()
	mux.Handle("/", srv)
	mux.Handle("/connect", srv)
	hs := httptest.NewServer(mux)
	e.wsURL = "ws" + strings.TrimPrefix(hs.URL, "http") + "/connect"

	tlsConf, _, err := LoadOrCreateTLS("", "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	addr, err := srv.ListenQUIC("127.0.0.1:0", tlsConf)
	if err != nil {
		t.Fatal(err)
	}
	e.quicAddr = addr.String()
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
	})
	return e
}

// counter returns the value of a transport counter or gauge with the given label value
// ("" for none).
func (e *testEnv) counter(name, label string) float64 {
	e.t.Helper()
	families, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "byplatform_transport_"+name {
			continue
		}
		for _, m := range f.GetMetric() {
			if label != "" && (len(m.GetLabel()) == 0 || m.GetLabel()[0].GetValue() != label) {
				continue
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// waitCounter polls until the counter reaches at least want.
func (e *testEnv) waitCounter(name, label string, want float64) {
	e.t.Helper()
	eventually(e.t, func() bool { return e.counter(name, label) >= want },
		"counter %s{%s} >= %v", name, label, want)
}

// eventually polls cond until it holds or waitFor passes.
func eventually(t testing.TB, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for "+format, args...)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// client is a test client on either transport.
type client interface {
	// send writes one message (a TransferFrame, or anything for negative tests).
	send(msg []byte) error
	// recv returns the next message, empty ones (keepalives) included.
	recv(timeout time.Duration) ([]byte, error)
	close()
}

// recvData returns the next non-empty message.
func recvData(c client, timeout time.Duration) ([]byte, error) {
	deadline := time.Now().Add(timeout)
	for {
		msg, err := c.recv(time.Until(deadline))
		if err != nil || len(msg) > 0 {
			return msg, err
		}
	}
}

// authFrame returns the serialized auth frame for token and instance.
func authFrame(t testing.TB, token string, instance []byte) []byte {
	t.Helper()
	a, err := proto.Marshal(&pb.Auth{ByJwt: token, AppVersion: "test", InstanceId: instance})
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(&pb.Frame{MessageType: pb.MessageType_TransferAuth, MessageBytes: a})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// transferFrame returns a serialized TransferFrame from src to dst carrying payload in
// a Pack frame.
func transferFrame(t testing.TB, dst, src uuid.UUID, payload []byte) []byte {
	t.Helper()
	return pathFrame(t, &pb.TransferPath{DestinationId: dst[:], SourceId: src[:]}, payload)
}

func pathFrame(t testing.TB, path *pb.TransferPath, payload []byte) []byte {
	t.Helper()
	b, err := proto.Marshal(&pb.TransferFrame{
		TransferPath: path,
		Frame:        &pb.Frame{MessageType: pb.MessageType_TransferPack, MessageBytes: payload},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wsClient is a gorilla/websocket client.
type wsClient struct {
	ws *websocket.Conn
}

// dialWSRaw opens a WebSocket without authenticating.
func (e *testEnv) dialWSRaw(header http.Header) (*websocket.Conn, *http.Response, error) {
	d := websocket.Dialer{HandshakeTimeout: waitFor}
	return d.Dial(e.wsURL, header)
}

// dialWS connects and authenticates in-band, checking the echo.
func (e *testEnv) dialWS(token string, instance uuid.UUID) *wsClient {
	e.t.Helper()
	ws, _, err := e.dialWSRaw(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	c := &wsClient{ws: ws}
	e.t.Cleanup(c.close)
	frame := authFrame(e.t, token, instance[:])
	if err := c.send(frame); err != nil {
		e.t.Fatal(err)
	}
	echo, err := c.recv(waitFor)
	if err != nil {
		e.t.Fatalf("auth echo: %v", err)
	}
	if string(echo) != string(frame) {
		e.t.Fatalf("auth echo differs: got %x, want %x", echo, frame)
	}
	e.waitConnected(instance, 1)
	return c
}

// dialWSHeader connects and authenticates with headers.
func (e *testEnv) dialWSHeader(token string, instance uuid.UUID) *wsClient {
	e.t.Helper()
	h := http.Header{}
	h.Set("Authorization", "Bearer "+token)
	h.Set("X-UR-InstanceId", instance.String())
	h.Set("X-UR-AppVersion", "test")
	h.Set("X-UR-TransportVersion", "1")
	ws, _, err := e.dialWSRaw(h)
	if err != nil {
		e.t.Fatal(err)
	}
	c := &wsClient{ws: ws}
	e.t.Cleanup(c.close)
	e.waitConnected(instance, 1)
	return c
}

// waitConnected waits until some presence with the instance id has n connections. A
// client's frames are only routed to it once it has joined its presence, which happens
// just after the echo.
func (e *testEnv) waitConnected(instance uuid.UUID, n int) {
	e.t.Helper()
	eventually(e.t, func() bool {
		count := 0
		for _, p := range e.srv.presences.all() {
			if p.instanceID == instance {
				count += len(p.snapshot())
			}
		}
		return count >= n
	}, "instance %s to have %d connections", instance, n)
}

func (c *wsClient) send(msg []byte) error {
	return c.ws.WriteMessage(websocket.BinaryMessage, msg)
}

func (c *wsClient) recv(timeout time.Duration) ([]byte, error) {
	c.ws.SetReadDeadline(time.Now().Add(timeout))
	_, msg, err := c.ws.ReadMessage()
	return msg, err
}

func (c *wsClient) close() { c.ws.Close() }

// quicClient is a quic-go client speaking the framed stream.
type quicClient struct {
	qc *quic.Conn
	st *quic.Stream
}

// dialQUICRaw opens a QUIC connection and its stream, offering the given ALPN protocols.
func (e *testEnv) dialQUICRaw(alpn []string) (*quicClient, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	tlsConf := &tls.Config{InsecureSkipVerify: true, NextProtos: alpn}
	qc, err := quic.DialAddr(ctx, e.quicAddr, tlsConf, &quic.Config{})
	if err != nil {
		return nil, err
	}
	st, err := qc.OpenStreamSync(ctx)
	if err != nil {
		qc.CloseWithError(0, "")
		return nil, err
	}
	return &quicClient{qc: qc, st: st}, nil
}

// dialQUIC connects and authenticates, checking the echo.
func (e *testEnv) dialQUIC(token string, instance uuid.UUID, alpn ...string) *quicClient {
	e.t.Helper()
	c, err := e.dialQUICRaw(alpn)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(c.close)
	frame := authFrame(e.t, token, instance[:])
	if err := c.send(frame); err != nil {
		e.t.Fatal(err)
	}
	echo, err := c.recv(waitFor)
	if err != nil {
		e.t.Fatalf("auth echo: %v", err)
	}
	if string(echo) != string(frame) {
		e.t.Fatalf("auth echo differs: got %x, want %x", echo, frame)
	}
	e.waitConnected(instance, 1)
	return c
}

func (c *quicClient) send(msg []byte) error {
	b, err := control.AppendQUICMessage(nil, msg)
	if err != nil {
		return err
	}
	_, err = c.st.Write(b)
	return err
}

func (c *quicClient) recv(timeout time.Duration) ([]byte, error) {
	c.st.SetReadDeadline(time.Now().Add(timeout))
	var header [control.QUICHeaderSize]byte
	if _, err := io.ReadFull(c.st, header[:]); err != nil {
		return nil, err
	}
	msg := make([]byte, binary.BigEndian.Uint16(header[:]))
	if _, err := io.ReadFull(c.st, msg); err != nil {
		return nil, err
	}
	return msg, nil
}

func (c *quicClient) close() { c.qc.CloseWithError(0, "") }

// isTimeout reports whether err is a read deadline passing, which a test takes for
// the server having left the connection open.
func isTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded)
}

// testControl is a control endpoint that records what reaches it.
type testControl struct {
	mu       sync.Mutex
	sessions []*testSession
}

type testSession struct {
	clientID uuid.UUID
	send     func([]byte) bool

	mu       sync.Mutex
	received [][]byte
	closed   bool
}

func newTestControl() *testControl { return &testControl{} }

func (tc *testControl) open(
	_ context.Context, clientID uuid.UUID, send func([]byte) bool,
) ControlSession {
	s := &testSession{clientID: clientID, send: send}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tc.sessions = append(tc.sessions, s)
	return s
}

// forClient returns the sessions opened for the client, oldest first.
func (tc *testControl) forClient(id uuid.UUID) []*testSession {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	var out []*testSession
	for _, s := range tc.sessions {
		if s.clientID == id {
			out = append(out, s)
		}
	}
	return out
}

// waitSessions waits until n sessions were opened for the client and returns them. A
// presence opens its session just after its first connection joins it.
func (e *testEnv) waitSessions(id uuid.UUID, n int) []*testSession {
	e.t.Helper()
	eventually(e.t, func() bool { return len(e.control.forClient(id)) >= n },
		"%d control sessions", n)
	sessions := e.control.forClient(id)
	if len(sessions) != n {
		e.t.Fatalf("%d control sessions, want %d", len(sessions), n)
	}
	return sessions
}

func (s *testSession) Receive(_ context.Context, frame []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// The transport reuses the buffer once Receive returns.
	s.received = append(s.received, bytes.Clone(frame))
}

func (s *testSession) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
}

func (s *testSession) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *testSession) frames() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.received...)
}

// testObserver records connection events.
type testObserver struct {
	mu     sync.Mutex
	events []string
}

func (o *testObserver) Connected(a engine.ClientAuth, c engine.Connection) {
	o.record("connected", a, c)
}

func (o *testObserver) Disconnected(a engine.ClientAuth, c engine.Connection) {
	o.record("disconnected", a, c)
}

func (o *testObserver) record(what string, a engine.ClientAuth, c engine.Connection) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events = append(o.events, what+" "+a.ClientID.String()+" "+c.ConnectionID.String())
}

func (o *testObserver) count(what string, clientID uuid.UUID) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, ev := range o.events {
		if strings.HasPrefix(ev, what+" "+clientID.String()) {
			n++
		}
	}
	return n
}
