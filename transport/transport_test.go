package transport

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/byplatform/byplatform/control/pb"
)

// dialer connects an authenticated test client of one kind.
type dialer struct {
	name string
	dial func(e *testEnv, token string, instance uuid.UUID) client
}

var dialers = []dialer{
	{"websocket in-band", func(e *testEnv, tok string, id uuid.UUID) client {
		return e.dialWS(tok, id)
	}},
	{"websocket header", func(e *testEnv, tok string, id uuid.UUID) client {
		return e.dialWSHeader(tok, id)
	}},
	{"quic without alpn", func(e *testEnv, tok string, id uuid.UUID) client {
		return e.dialQUIC(tok, id)
	}},
	{"quic with alpn", func(e *testEnv, tok string, id uuid.UUID) client {
		return e.dialQUIC(tok, id, "urnetwork")
	}},
}

func TestRelayBetweenClients(t *testing.T) {
	e := newEnv(t, Options{})
	for _, from := range dialers {
		for _, to := range dialers {
			t.Run(from.name+" to "+to.name, func(t *testing.T) {
				e.t = t
				tokA, a := e.auth.add()
				tokB, b := e.auth.add()
				ca := from.dial(e, tokA, uuid.New())
				cb := to.dial(e, tokB, uuid.New())

				ab := transferFrame(t, b.ClientID, a.ClientID, []byte("from a to b"))
				ba := transferFrame(t, a.ClientID, b.ClientID, bytes.Repeat([]byte{7}, 4096))
				assertRelay(t, ca, cb, ab)
				assertRelay(t, cb, ca, ba)
			})
		}
	}
}

// assertRelay sends frame from src and checks that dst gets exactly those bytes.
func assertRelay(t *testing.T, src, dst client, frame []byte) {
	t.Helper()
	if err := src.send(frame); err != nil {
		t.Fatal(err)
	}
	got, err := recvData(dst, waitFor)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	if !bytes.Equal(got, frame) {
		t.Fatalf("relayed frame differs: got %d bytes, want %d", len(got), len(frame))
	}
}

func TestRelayLargestMessage(t *testing.T) {
	e := newEnv(t, Options{})
	tokA, a := e.auth.add()
	tokB, b := e.auth.add()
	ca := e.dialWS(tokA, uuid.New())
	cb := e.dialQUIC(tokB, uuid.New())

	// The payload is sized so that the whole TransferFrame is exactly the limit.
	frame := transferFrame(t, b.ClientID, a.ClientID, nil)
	payload := make([]byte, DefaultMaxMessageSize-len(frame)-8)
	frame = transferFrame(t, b.ClientID, a.ClientID, payload)
	for len(frame) < DefaultMaxMessageSize {
		payload = append(payload, 1)
		frame = transferFrame(t, b.ClientID, a.ClientID, payload)
	}
	if len(frame) != DefaultMaxMessageSize {
		t.Fatalf("frame of %d bytes, want %d", len(frame), DefaultMaxMessageSize)
	}
	assertRelay(t, ca, cb, frame)
	assertRelay(t, cb, ca, transferFrame(t, a.ClientID, b.ClientID, payload))
}

func TestWebSocketInBandAuthRefused(t *testing.T) {
	e := newEnv(t, Options{AuthTimeout: time.Second})
	tok, _ := e.auth.add()
	cases := []struct {
		name  string
		first func(*websocket.Conn) error
	}{
		{"unknown token", func(ws *websocket.Conn) error {
			return ws.WriteMessage(websocket.BinaryMessage, authFrame(t, "bogus", uuid.Nil[:]))
		}},
		{"short instance id", func(ws *websocket.Conn) error {
			return ws.WriteMessage(websocket.BinaryMessage, authFrame(t, tok, make([]byte, 15)))
		}},
		{"missing instance id", func(ws *websocket.Conn) error {
			return ws.WriteMessage(websocket.BinaryMessage, authFrame(t, tok, nil))
		}},
		{"transfer frame instead of auth frame", func(ws *websocket.Conn) error {
			frame := pathFrame(t, &pb.TransferPath{}, []byte("x"))
			return ws.WriteMessage(websocket.BinaryMessage, frame)
		}},
		{"garbage", func(ws *websocket.Conn) error {
			return ws.WriteMessage(websocket.BinaryMessage, []byte{0xff, 0xff, 0xff})
		}},
		{"text message", func(ws *websocket.Conn) error {
			return ws.WriteMessage(websocket.TextMessage, authFrame(t, tok, uuid.Nil[:]))
		}},
		{"oversized auth frame", func(ws *websocket.Conn) error {
			// The server may close before it has read all of it, failing the write.
			ws.WriteMessage(websocket.BinaryMessage, make([]byte, 70000))
			return nil
		}},
		{"silence", func(*websocket.Conn) error { return nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			failures := e.counter("auth_failures_total", "ws")
			ws, _, err := e.dialWSRaw(nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			if err := tc.first(ws); err != nil {
				t.Fatal(err)
			}
			assertClosedSilently(t, ws)
			e.waitCounter("auth_failures_total", "ws", failures+1)
		})
	}
}

// assertClosedSilently checks that the server closed the socket without sending any
// message, not even a close frame.
func assertClosedSilently(t *testing.T, ws *websocket.Conn) {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(waitFor))
	mt, msg, err := ws.ReadMessage()
	if err == nil {
		t.Fatalf("got a message of type %d (%d bytes), want the socket closed", mt, len(msg))
	}
	// gorilla reports a socket closed without a close frame as code 1006, which is
	// never sent on the wire.
	var ce *websocket.CloseError
	if errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure {
		t.Fatalf("got close frame %v, want the socket closed without one", ce)
	}
	if isTimeout(err) {
		t.Fatal("socket still open")
	}
}

func TestWebSocketHeaderAuthRefused(t *testing.T) {
	e := newEnv(t, Options{})
	tok, _ := e.auth.add()
	cases := []struct {
		name   string
		header http.Header
	}{
		{"unknown token", http.Header{
			"Authorization": {"Bearer bogus"}, "X-Ur-Instanceid": {uuid.NewString()},
		}},
		{"not a bearer token", http.Header{
			"Authorization": {"Basic " + tok}, "X-Ur-Instanceid": {uuid.NewString()},
		}},
		{"empty token", http.Header{
			"Authorization": {"Bearer "}, "X-Ur-Instanceid": {uuid.NewString()},
		}},
		{"missing instance id", http.Header{"Authorization": {"Bearer " + tok}}},
		{"short instance id", http.Header{
			"Authorization": {"Bearer " + tok}, "X-Ur-Instanceid": {"0011223344556677"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			failures := e.counter("auth_failures_total", "ws")
			ws, resp, err := e.dialWSRaw(tc.header)
			if err == nil {
				ws.Close()
				t.Fatal("upgrade succeeded")
			}
			if resp == nil || resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("got %v, want 401", resp)
			}
			if got := e.counter("auth_failures_total", "ws"); got != failures+1 {
				t.Fatalf("auth failures %v, want %v", got, failures+1)
			}
		})
	}
}

func TestHeaderAuthSendsNoEcho(t *testing.T) {
	e := newEnv(t, Options{})
	tokA, a := e.auth.add()
	tokB, b := e.auth.add()
	ca := e.dialWSHeader(tokA, uuid.New())
	cb := e.dialWS(tokB, uuid.New())

	frame := transferFrame(t, a.ClientID, b.ClientID, []byte("first message"))
	if err := cb.send(frame); err != nil {
		t.Fatal(err)
	}
	got, err := recvData(ca, waitFor)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, frame) {
		t.Fatalf("first message is %x, want the relayed frame", got)
	}
}

func TestQUICAuthRefused(t *testing.T) {
	e := newEnv(t, Options{AuthTimeout: time.Second})
	tok, _ := e.auth.add()
	cases := []struct {
		name  string
		first []byte
	}{
		{"unknown token", authFrame(t, "bogus", uuid.Nil[:])},
		{"short instance id", authFrame(t, tok, make([]byte, 15))},
		{"garbage", []byte{0xff, 0xff, 0xff}},
		{"silence", nil},
	}
	for _, tc := range cases {
		for _, alpn := range [][]string{nil, {"urnetwork"}} {
			t.Run(fmt.Sprintf("%s alpn %q", tc.name, alpn), func(t *testing.T) {
				e.t = t
				failures := e.counter("auth_failures_total", "quic")
				c, err := e.dialQUICRaw(alpn)
				if err != nil {
					t.Fatal(err)
				}
				defer c.close()
				if tc.first != nil {
					if err := c.send(tc.first); err != nil {
						t.Fatal(err)
					}
				} else if _, err := c.st.Write(nil); err != nil {
					t.Fatal(err)
				}
				msg, err := c.recv(waitFor)
				if err == nil {
					t.Fatalf("got %d bytes, want the connection closed", len(msg))
				}
				if isTimeout(err) {
					t.Fatal("connection still open")
				}
				e.waitCounter("auth_failures_total", "quic", failures+1)
			})
		}
	}
}

func TestQUICSilentClientRefused(t *testing.T) {
	// A client that opens the connection but never a stream is refused after the
	// auth timeout.
	e := newEnv(t, Options{AuthTimeout: time.Second})
	c, err := e.dialQUICRaw(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	select {
	case <-c.qc.Context().Done():
	case <-time.After(waitFor):
		t.Fatal("connection still open")
	}
	e.waitCounter("auth_failures_total", "quic", 1)
}

func TestDroppedFrames(t *testing.T) {
	e := newEnv(t, Options{})
	cases := []struct {
		name   string
		reason string // counter label; "" for the probe counter
		frame  func(t *testing.T, src, dst uuid.UUID) []byte
	}{
		{"spoofed source", dropSpoofed, func(t *testing.T, src, dst uuid.UUID) []byte {
			return transferFrame(t, dst, uuid.New(), []byte("spoofed"))
		}},
		{"missing source", dropSpoofed, func(t *testing.T, src, dst uuid.UUID) []byte {
			return pathFrame(t, &pb.TransferPath{DestinationId: dst[:]}, []byte("anonymous"))
		}},
		{"stream frame", dropStream, func(t *testing.T, src, dst uuid.UUID) []byte {
			stream := uuid.New()
			path := &pb.TransferPath{DestinationId: dst[:], SourceId: src[:], StreamId: stream[:]}
			return pathFrame(t, path, []byte("stream"))
		}},
		{"offline destination", dropOffline, func(t *testing.T, src, dst uuid.UUID) []byte {
			return transferFrame(t, uuid.New(), src, []byte("nobody home"))
		}},
		{"malformed path", dropMalformed, func(t *testing.T, src, dst uuid.UUID) []byte {
			return append([]byte{0x0a, 0x05}, bytes.Repeat([]byte{0x0a}, 20)...)
		}},
		{"probe-sized message", "", func(t *testing.T, src, dst uuid.UUID) []byte {
			// A valid path to dst fits in no 16 bytes; any short message is a probe.
			return bytes.Repeat([]byte{1}, 16)
		}},
	}
	for _, d := range []dialer{dialers[0], dialers[2]} {
		for _, tc := range cases {
			t.Run(d.name+" "+tc.name, func(t *testing.T) {
				e.t = t
				tokA, a := e.auth.add()
				tokB, b := e.auth.add()
				ca := d.dial(e, tokA, uuid.New())
				cb := d.dial(e, tokB, uuid.New())
				name, label := "frames_dropped_total", tc.reason
				if label == "" {
					name = "probes_ignored_total"
				}
				before := e.counter(name, label)

				if err := ca.send(tc.frame(t, a.ClientID, b.ClientID)); err != nil {
					t.Fatal(err)
				}
				// Frames of one connection are handled in order: if the good frame
				// arrives first, the bad one was not relayed.
				assertRelay(t, ca, cb, transferFrame(t, b.ClientID, a.ClientID, []byte("good")))
				if got := e.counter(name, label); got != before+1 {
					t.Fatalf("%s{%s} = %v, want %v", name, label, got, before+1)
				}
			})
		}
	}
}

func TestControlPath(t *testing.T) {
	e := newEnv(t, Options{})
	for _, d := range []dialer{dialers[0], dialers[2]} {
		t.Run(d.name, func(t *testing.T) {
			e.t = t
			tok, a := e.auth.add()
			instance := uuid.New()
			c1 := d.dial(e, tok, instance)
			c2 := d.dial(e, tok, instance)
			e.waitConnected(instance, 2)

			session := e.waitSessions(a.ClientID, 1)[0]

			frame := transferFrame(t, uuid.Nil, a.ClientID, []byte("to the platform"))
			if err := c2.send(frame); err != nil {
				t.Fatal(err)
			}
			eventually(t, func() bool { return len(session.frames()) == 1 }, "control frame")
			if !bytes.Equal(session.frames()[0], frame) {
				t.Fatal("control session got different bytes")
			}

			reply := transferFrame(t, a.ClientID, uuid.Nil, []byte("from the platform"))
			if !session.send(reply) {
				t.Fatal("send to a connected client failed")
			}
			if session.send(reply[:16]) {
				t.Fatal("a 16-byte message was sent")
			}
			got, err := recvData(c2, waitFor)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, reply) {
				t.Fatal("client got different bytes from the control session")
			}

			c1.close()
			c2.close()
			eventually(t, session.isClosed, "control session to close with the presence")
			if session.send(reply) {
				t.Fatal("send after the presence ended succeeded")
			}
		})
	}
}

func TestNewInstanceReplacesPresence(t *testing.T) {
	e := newEnv(t, Options{})
	tok, a := e.auth.add()
	tokB, b := e.auth.add()
	first := uuid.New()
	old1 := e.dialWS(tok, first)
	old2 := e.dialQUIC(tok, first)
	e.waitConnected(first, 2)
	oldSession := e.waitSessions(a.ClientID, 1)[0]

	second := uuid.New()
	cur := e.dialQUIC(tok, second)

	for _, c := range []client{old1, old2} {
		if _, err := recvData(c, waitFor); err == nil || isTimeout(err) {
			t.Fatalf("old connection still open: %v", err)
		}
	}
	eventually(t, oldSession.isClosed, "old control session to close")
	conns := e.srv.Connections(a.ClientID)
	if len(conns) != 1 || conns[0].InstanceID != second || conns[0].Transport != "quic" {
		t.Fatalf("connections %+v, want one of instance %s", conns, second)
	}
	e.waitSessions(a.ClientID, 2)
	cb := e.dialWS(tokB, uuid.New())
	assertRelay(t, cb, cur, transferFrame(t, a.ClientID, b.ClientID, []byte("to the new one")))
}

func TestDisconnect(t *testing.T) {
	e := newEnv(t, Options{})
	tok, a := e.auth.add()
	instance := uuid.New()
	clients := []client{e.dialWS(tok, instance), e.dialQUIC(tok, instance)}
	e.waitConnected(instance, 2)
	session := e.waitSessions(a.ClientID, 1)[0]
	if n := len(e.srv.Connections(a.ClientID)); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}

	start := time.Now()
	e.srv.Disconnect(a.ClientID)
	if n := len(e.srv.Connections(a.ClientID)); n != 0 {
		t.Fatalf("%d connections after Disconnect, want 0", n)
	}
	for _, c := range clients {
		if _, err := recvData(c, waitFor); err == nil || isTimeout(err) {
			t.Fatalf("connection still open: %v", err)
		}
	}
	// Well under the keepalive and read timeouts: the sockets were closed, not left
	// to time out.
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("closing took %v", d)
	}
	eventually(t, func() bool { return e.observer.count("disconnected", a.ClientID) == 2 },
		"two disconnect events")
	eventually(t, session.isClosed, "control session to close")
}

func TestConnectionsAndObserver(t *testing.T) {
	e := newEnv(t, Options{})
	tok, a := e.auth.add()
	instance := uuid.New()
	ws := e.dialWSHeader(tok, instance)
	e.dialQUIC(tok, instance)
	e.waitConnected(instance, 2)

	conns := e.srv.Connections(a.ClientID)
	if len(conns) != 2 || conns[0].Transport != "ws" || conns[1].Transport != "quic" {
		t.Fatalf("connections %+v, want ws then quic", conns)
	}
	for _, c := range conns {
		if c.InstanceID != instance || !c.Remote.Addr().IsLoopback() || c.ConnectTime.IsZero() {
			t.Fatalf("bad connection %+v", c)
		}
	}
	if conns[0].ConnectionID == conns[1].ConnectionID {
		t.Fatal("connection ids repeat")
	}
	if n := e.observer.count("connected", a.ClientID); n != 2 {
		t.Fatalf("%d connect events, want 2", n)
	}
	if got := e.counter("connections_open", "ws"); got != 1 {
		t.Fatalf("open ws connections %v, want 1", got)
	}

	ws.close()
	eventually(t, func() bool { return len(e.srv.Connections(a.ClientID)) == 1 },
		"one connection left")
	eventually(t, func() bool { return e.observer.count("disconnected", a.ClientID) == 1 },
		"a disconnect event")
	if e.waitSessions(a.ClientID, 1)[0].isClosed() {
		t.Fatal("control session ended while the presence lives")
	}
}

func TestSlowReceiverDoesNotStallOthers(t *testing.T) {
	for _, d := range []dialer{dialers[0], dialers[2]} {
		t.Run(d.name, func(t *testing.T) {
			e := newEnv(t, Options{
				MaxMessageSize: 8 << 10,
				SendQueueBytes: 16 << 10,
				WriteTimeout:   time.Minute,
				ReadTimeout:    time.Minute,
			})
			tokA, a := e.auth.add()
			tokB, b := e.auth.add()
			tokS, slow := e.auth.add()
			ca := d.dial(e, tokA, uuid.New())
			cb := d.dial(e, tokB, uuid.New())
			d.dial(e, tokS, uuid.New()) // never reads

			// Send to the slow client until its socket buffers and queue are full and
			// frames are dropped, then some more; frames to b keep flowing throughout.
			toSlow := transferFrame(t, slow.ClientID, a.ClientID, make([]byte, 8000))
			more := 5
			for round := 0; more > 0; round++ {
				if round == 1000 {
					t.Fatal("no frame to the slow client was dropped")
				}
				for range 20 {
					if err := ca.send(toSlow); err != nil {
						t.Fatal(err)
					}
				}
				assertRelay(t, ca, cb,
					transferFrame(t, b.ClientID, a.ClientID, []byte(fmt.Sprint("round ", round))))
				if e.counter("frames_dropped_total", dropQueueFull) > 0 {
					more--
				}
			}
		})
	}
}

func TestKeepalive(t *testing.T) {
	e := newEnv(t, Options{KeepaliveInterval: 50 * time.Millisecond})
	for _, d := range []dialer{dialers[0], dialers[2]} {
		t.Run(d.name, func(t *testing.T) {
			e.t = t
			tok, _ := e.auth.add()
			c := d.dial(e, tok, uuid.New())
			for i := 0; i < 3; i++ {
				msg, err := c.recv(waitFor)
				if err != nil {
					t.Fatal(err)
				}
				if len(msg) != 0 {
					t.Fatalf("got %d bytes, want an empty keepalive", len(msg))
				}
			}
		})
	}
}

func TestSilentConnectionClosed(t *testing.T) {
	e := newEnv(t, Options{ReadTimeout: 200 * time.Millisecond})
	for _, d := range []dialer{dialers[0], dialers[2]} {
		t.Run(d.name, func(t *testing.T) {
			e.t = t
			tok, a := e.auth.add()
			c := d.dial(e, tok, uuid.New())
			start := time.Now()
			for {
				_, err := c.recv(waitFor)
				if err != nil {
					if isTimeout(err) {
						t.Fatal("connection still open")
					}
					break
				}
			}
			if d := time.Since(start); d < 200*time.Millisecond {
				t.Fatalf("closed after %v, before the read timeout", d)
			}
			eventually(t, func() bool { return len(e.srv.Connections(a.ClientID)) == 0 },
				"presence to end")
		})
	}
}

func TestPingsKeepConnectionOpen(t *testing.T) {
	// The read timeout is generous against scheduling delays on a loaded machine.
	e := newEnv(t, Options{ReadTimeout: time.Second})
	for _, d := range []dialer{dialers[0], dialers[2]} {
		t.Run(d.name, func(t *testing.T) {
			e.t = t
			tok, a := e.auth.add()
			c := d.dial(e, tok, uuid.New())
			// Ping every 50 ms for two read timeouts.
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for i := 0; i < 40; i++ {
				if err := c.send(nil); err != nil {
					t.Fatal(err)
				}
				<-tick.C
			}
			if n := len(e.srv.Connections(a.ClientID)); n != 1 {
				t.Fatalf("%d connections, want 1", n)
			}
		})
	}
}

func TestOversizeMessageRefused(t *testing.T) {
	e := newEnv(t, Options{MaxMessageSize: 8 << 10})
	for _, d := range []dialer{dialers[0], dialers[2]} {
		t.Run(d.name, func(t *testing.T) {
			e.t = t
			tokA, a := e.auth.add()
			tokB, b := e.auth.add()
			ca := d.dial(e, tokA, uuid.New())
			cb := d.dial(e, tokB, uuid.New())
			before := e.counter("frames_dropped_total", dropOversize)

			frame := transferFrame(t, b.ClientID, a.ClientID, make([]byte, 8<<10))
			if err := ca.send(frame); err != nil {
				t.Fatal(err)
			}
			if _, err := recvData(ca, waitFor); err == nil || isTimeout(err) {
				t.Fatalf("connection still open: %v", err)
			}
			e.waitCounter("frames_dropped_total", dropOversize, before+1)
			if msg, err := cb.recv(100 * time.Millisecond); err == nil {
				t.Fatalf("receiver got %d bytes", len(msg))
			}
		})
	}
}

func TestCloseStopsEverything(t *testing.T) {
	e := newEnv(t, Options{})
	tok, a := e.auth.add()
	instance := uuid.New()
	clients := []client{e.dialWS(tok, instance), e.dialQUIC(tok, instance)}
	e.waitConnected(instance, 2)
	session := e.waitSessions(a.ClientID, 1)[0]

	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		if _, err := recvData(c, waitFor); err == nil || isTimeout(err) {
			t.Fatalf("connection still open: %v", err)
		}
	}
	if n := len(e.srv.Connections(a.ClientID)); n != 0 {
		t.Fatalf("%d connections after Close", n)
	}
	if !session.isClosed() {
		t.Fatal("control session open after Close")
	}
	if _, _, err := e.dialWSRaw(nil); err == nil {
		t.Fatal("upgrade accepted after Close")
	}
	if _, err := e.srv.ListenQUIC("127.0.0.1:0", nil); err == nil {
		t.Fatal("ListenQUIC accepted a nil TLS config")
	}
}

func TestOptionsValidated(t *testing.T) {
	cases := []Options{
		{},
		{Auth: &testAuth{}, MaxMessageSize: 1000},
		{Auth: &testAuth{}, MaxMessageSize: 70000},
		{Auth: &testAuth{}, MaxMessageSize: 8192, SendQueueBytes: 4096},
	}
	for _, o := range cases {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}

func TestQUICNegotiatesOfferedALPN(t *testing.T) {
	e := newEnv(t, Options{})
	for _, tc := range []struct {
		offer []string
		want  string
	}{
		{nil, ""},
		{[]string{"urnetwork"}, "urnetwork"},
		{[]string{"b", "a"}, "b"},
	} {
		c, err := e.dialQUICRaw(tc.offer)
		if err != nil {
			t.Fatalf("offer %q: %v", tc.offer, err)
		}
		if got := c.qc.ConnectionState().TLS.NegotiatedProtocol; got != tc.want {
			t.Errorf("offer %q: negotiated %q, want %q", tc.offer, got, tc.want)
		}
		c.close()
	}
}

func TestBurstArrivesInOrder(t *testing.T) {
	// Many frames queued at once are written in batches; each must still arrive as one
	// message, whole and in order.
	e := newEnv(t, Options{SendQueueBytes: 8 << 20})
	for _, from := range []dialer{dialers[0], dialers[2]} {
		for _, to := range []dialer{dialers[0], dialers[2]} {
			t.Run(from.name+" to "+to.name, func(t *testing.T) {
				e.t = t
				tokA, a := e.auth.add()
				tokB, b := e.auth.add()
				ca := from.dial(e, tokA, uuid.New())
				cb := to.dial(e, tokB, uuid.New())
				frames := make([][]byte, 2000)
				for i := range frames {
					payload := bytes.Repeat([]byte{byte(i)}, 20+i%1500)
					frames[i] = transferFrame(t, b.ClientID, a.ClientID, payload)
				}
				go func() {
					for _, f := range frames {
						if ca.send(f) != nil {
							return
						}
					}
				}()
				for i, want := range frames {
					got, err := recvData(cb, waitFor)
					if err != nil {
						t.Fatalf("frame %d: %v", i, err)
					}
					if !bytes.Equal(got, want) {
						t.Fatalf("frame %d differs", i)
					}
				}
			})
		}
	}
}
