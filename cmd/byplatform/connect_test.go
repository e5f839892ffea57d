package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"github.com/quic-go/quic-go"
	"google.golang.org/protobuf/proto"

	"github.com/byplatform/byplatform/control"
	"github.com/byplatform/byplatform/control/pb"
	"github.com/byplatform/byplatform/notify"
	"github.com/byplatform/byplatform/store"
	"github.com/byplatform/byplatform/store/storetest"
)

// testServer is a real byplatform server on loopback ports.
type testServer struct {
	*server
	cfg    config
	cancel context.CancelFunc
	done   chan error
}

// wsURL is the connect WebSocket: on the API's listener when --connect-addr equals
// --http-addr, as it does for these tests, else on its own.
func (s *testServer) wsURL(path string) string {
	if s.wsLn != nil {
		return "ws://" + s.wsLn.Addr().String() + path
	}
	return "ws://" + s.httpLn.Addr().String() + path
}

func (s *testServer) url(path string) string {
	return "http://" + s.httpLn.Addr().String() + path
}

// startServer runs serve with args on loopback ports until stop or the test's end.
func startServer(t *testing.T, args ...string) *testServer {
	t.Helper()
	var c config
	fs := newFlagSet("serve", "test", io.Discard)
	c.serveFlags(fs)
	base := []string{"--http-addr", "127.0.0.1:0", "--connect-addr", "127.0.0.1:0",
		"--quic-addr", "127.0.0.1:0"}
	if err := fs.Parse(append(base, args...)); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := newServer(ctx, c, log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ts := &testServer{server: srv, cfg: c, cancel: cancel, done: make(chan error, 1)}
	go func() {
		ts.done <- srv.run(ctx)
		srv.close()
	}()
	t.Cleanup(ts.stop)
	return ts
}

func (s *testServer) stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	<-s.done
	s.cancel = nil
}

// post sends a JSON body as deployed clients do (Content-Type text/json) and decodes
// the answer into out.
func (s *testServer) post(t *testing.T, path, bearer string, body, out any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", s.url(path), bytes.NewReader(b))
	req.Header.Set("Content-Type", "text/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("POST %s: %d %s", path, resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		t.Fatalf("POST %s: %v in %s", path, err, data)
	}
}

var codeRE = regexp.MustCompile(`\b\d{6}\b`)

// signUp creates a network with an email user, verifies it through the outbox and
// returns the network token.
func (s *testServer) signUp(t *testing.T, name string) string {
	t.Helper()
	email := name + "@example.com"
	var created struct{ Error *struct{ Message string } }
	s.post(t, "/auth/network-create", "", map[string]any{"user_name": name,
		"user_auth": email, "password": "correct horse", "network_name": name,
		"terms": true}, &created)
	if created.Error != nil {
		t.Fatalf("network-create: %s", created.Error.Message)
	}
	outbox, err := notify.NewOutbox(filepath.Join(s.cfg.dataDir, "outbox"))
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := outbox.Messages()
	if err != nil {
		t.Fatal(err)
	}
	var code string
	for _, m := range msgs {
		if m.To == email {
			code = codeRE.FindString(m.Body)
		}
	}
	var verified struct {
		Network struct {
			ByJWT string `json:"by_jwt"`
		}
	}
	s.post(t, "/auth/verify", "", map[string]string{"user_auth": email, "verify_code": code},
		&verified)
	if verified.Network.ByJWT == "" {
		t.Fatalf("verify %s with %q gave no token", email, code)
	}
	return verified.Network.ByJWT
}

// newClient authorizes a new client id and returns its id and client token.
func (s *testServer) newClient(t *testing.T, networkJWT string) (uuid.UUID, string) {
	t.Helper()
	var res struct {
		ByClientJWT string `json:"by_client_jwt"`
	}
	s.post(t, "/network/auth-client", networkJWT, map[string]string{"description": "test"},
		&res)
	parts := strings.Split(res.ByClientJWT, ".")
	if len(parts) != 3 {
		t.Fatalf("auth-client gave %q", res.ByClientJWT)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct {
		ClientID string `json:"client_id"`
	}
	json.Unmarshal(payload, &claims)
	return uuid.MustParse(claims.ClientID), res.ByClientJWT
}

// peer is a connect client over either transport.
type peer struct {
	id   uuid.UUID
	send func([]byte) error
	recv chan []byte
	// controlSeq numbers the packs this peer sends to the control id.
	seqID  uuid.UUID
	seqNum uint64
	close  func()
}

func dialWebSocket(t *testing.T, s *testServer, id uuid.UUID, jwt string) *peer {
	t.Helper()
	return dialWebSocketFrom(t, s, id, jwt, netip.Addr{})
}

// dialWebSocketFrom connects from a local address, so that GeoIP places the client;
// the zero address lets the system choose.
func dialWebSocketFrom(t *testing.T, s *testServer, id uuid.UUID, jwt string,
	from netip.Addr) *peer {
	t.Helper()
	dialer := *websocket.DefaultDialer
	if from.IsValid() {
		local := &net.TCPAddr{IP: from.AsSlice()}
		dialer.NetDial = func(network, addr string) (net.Conn, error) {
			return (&net.Dialer{LocalAddr: local, Timeout: 5 * time.Second}).Dial(network, addr)
		}
	}
	h := http.Header{}
	h.Set("Authorization", "Bearer "+jwt)
	h.Set("X-UR-InstanceId", uuid.NewString())
	h.Set("X-UR-AppVersion", "test")
	conn, _, err := dialer.Dial(s.wsURL("/connect"), h)
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{id: id, recv: make(chan []byte, 64), seqID: uuid.New(),
		send:  func(b []byte) error { return conn.WriteMessage(websocket.BinaryMessage, b) },
		close: func() { conn.Close() }}
	go func() {
		defer close(p.recv)
		for {
			_, msg, err := conn.ReadMessage()
			if err != nil {
				return
			}
			if len(msg) > 0 {
				p.recv <- msg
			}
		}
	}()
	t.Cleanup(p.close)
	return p
}

func dialQUIC(t *testing.T, s *testServer, id uuid.UUID, jwt string) *peer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Deployed clients offer no ALPN.
	conn, err := quic.DialAddr(ctx, s.quicAddr.String(), &tls.Config{InsecureSkipVerify: true},
		&quic.Config{KeepAlivePeriod: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := conn.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	write := func(b []byte) error {
		mu.Lock()
		defer mu.Unlock()
		framed, err := control.AppendQUICMessage(nil, b)
		if err != nil {
			return err
		}
		_, err = stream.Write(framed)
		return err
	}
	auth, err := control.MarshalAuthFrame(control.Auth{JWT: jwt, AppVersion: "test",
		InstanceID: uuid.New()})
	if err != nil {
		t.Fatal(err)
	}
	if err := write(auth); err != nil {
		t.Fatal(err)
	}
	r := control.NewQUICReader(stream, 1<<16)
	echo, err := r.ReadMessage()
	if err != nil || !bytes.Equal(echo, auth) {
		t.Fatalf("auth echo: %v", err)
	}
	p := &peer{id: id, recv: make(chan []byte, 64), seqID: uuid.New(), send: write,
		close: func() { conn.CloseWithError(0, "") }}
	go func() {
		defer close(p.recv)
		for {
			msg, err := r.ReadMessage()
			if err != nil {
				return
			}
			if len(msg) > 0 {
				p.recv <- msg
			}
		}
	}()
	t.Cleanup(p.close)
	return p
}

func frame(t testing.TB, typ pb.MessageType, m proto.Message) *pb.Frame {
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return &pb.Frame{MessageType: typ, MessageBytes: b}
}

// toControl sends one frame in band to the control id and returns the message id.
func (p *peer) toControl(t *testing.T, f *pb.Frame) []byte {
	t.Helper()
	msgID := uuid.New()
	pack := &pb.Pack{MessageId: msgID[:], SequenceId: p.seqID[:],
		SequenceNumber: p.seqNum, Head: p.seqNum == 0, Frames: []*pb.Frame{f}}
	p.seqNum++
	tf := &pb.TransferFrame{TransferPath: &pb.TransferPath{DestinationId: make([]byte, 16),
		SourceId: p.id[:], StreamId: make([]byte, 16)},
		Frame: frame(t, pb.MessageType_TransferPack, pack)}
	b, _ := proto.Marshal(tf)
	if err := p.send(b); err != nil {
		t.Fatal(err)
	}
	return msgID[:]
}

// next waits for the next message to the peer.
func (p *peer) next(t *testing.T) *pb.TransferFrame {
	t.Helper()
	select {
	case b, ok := <-p.recv:
		if !ok {
			t.Fatal("connection closed")
		}
		var tf pb.TransferFrame
		if err := proto.Unmarshal(b, &tf); err != nil {
			t.Fatal(err)
		}
		return &tf
	case <-time.After(10 * time.Second):
		t.Fatal("nothing arrived in 10 s")
	}
	return nil
}

// controlExchange sends a frame to the control id and waits for its ack; when want is
// not zero it also waits for a pack from the control id carrying that frame type and
// acks it.
func (p *peer) controlExchange(t *testing.T, f *pb.Frame, want pb.MessageType) *pb.Frame {
	t.Helper()
	msgID := p.toControl(t, f)
	acked := false
	var got *pb.Frame
	for !acked || (want != 0 && got == nil) {
		tf := p.next(t)
		if !bytes.Equal(tf.TransferPath.SourceId, make([]byte, 16)) {
			continue
		}
		switch tf.Frame.MessageType {
		case pb.MessageType_TransferAck:
			var ack pb.Ack
			proto.Unmarshal(tf.Frame.MessageBytes, &ack)
			acked = acked || bytes.Equal(ack.MessageId, msgID)
		case pb.MessageType_TransferPack:
			var pack pb.Pack
			proto.Unmarshal(tf.Frame.MessageBytes, &pack)
			for _, pf := range pack.Frames {
				if pf.MessageType == want {
					got = pf
				}
			}
			ack := &pb.Ack{MessageId: pack.MessageId, SequenceId: pack.SequenceId}
			out := &pb.TransferFrame{TransferPath: &pb.TransferPath{
				DestinationId: make([]byte, 16), SourceId: p.id[:]},
				Frame: frame(t, pb.MessageType_TransferAck, ack)}
			b, _ := proto.Marshal(out)
			p.send(b)
		}
	}
	return got
}

func provideFrame(t *testing.T, keys map[pb.ProvideMode][]byte) *pb.Frame {
	var pk []*pb.ProvideKey
	for m, k := range keys {
		pk = append(pk, &pb.ProvideKey{Mode: m, ProvideSecretKey: k})
	}
	return frame(t, pb.MessageType_TransferProvide, &pb.Provide{Keys: pk})
}

func createContractFrame(t *testing.T, dest uuid.UUID, n uint64) *pb.Frame {
	return frame(t, pb.MessageType_TransferCreateContract,
		&pb.CreateContract{DestinationId: dest[:], TransferByteCount: n})
}

func randomSecret() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}

// controlOOB posts a pack of frames to /connect/control; asArray sends the pack as a
// one-element array, as the spec writes it.
func (s *testServer) controlOOB(t *testing.T, jwt string, asArray bool,
	frames ...*pb.Frame) (*pb.Pack, string) {
	t.Helper()
	id := uuid.New()
	b, _ := proto.Marshal(&pb.Pack{MessageId: id[:], SequenceId: id[:], Head: true,
		Frames: frames})
	var body any = map[string]any{"pack": base64.StdEncoding.EncodeToString(b)}
	if asArray {
		body = map[string]any{"pack": []string{base64.StdEncoding.EncodeToString(b)}}
	}
	var res struct {
		Pack  string
		Error *struct{ Message string }
	}
	s.post(t, "/connect/control", jwt, body, &res)
	raw, err := base64.StdEncoding.DecodeString(res.Pack)
	if err != nil {
		t.Fatal(err)
	}
	var reply pb.Pack
	if err := proto.Unmarshal(raw, &reply); err != nil {
		t.Fatal(err)
	}
	msg := ""
	if res.Error != nil {
		msg = res.Error.Message
	}
	return &reply, msg
}

func contractResult(t *testing.T, f *pb.Frame) *pb.CreateContractResult {
	t.Helper()
	if f == nil || f.MessageType != pb.MessageType_TransferCreateContractResult {
		t.Fatalf("want a CreateContractResult, got %v", f)
	}
	var r pb.CreateContractResult
	if err := proto.Unmarshal(f.MessageBytes, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

// checkLegacyHMAC verifies a contract the way deployed clients do: the stored bytes
// followed by HMAC-SHA256(secret, empty message).
func checkLegacyHMAC(t *testing.T, c *pb.Contract, secret []byte) *pb.StoredContract {
	t.Helper()
	mac := hmac.New(sha256.New, secret)
	want := append(append([]byte{}, c.StoredContractBytes...), mac.Sum(nil)...)
	if !hmac.Equal(c.StoredContractHmac, want) {
		t.Fatal("stored_contract_hmac is not the legacy form under the provider's secret")
	}
	var sc pb.StoredContract
	if err := proto.Unmarshal(c.StoredContractBytes, &sc); err != nil {
		t.Fatal(err)
	}
	return &sc
}

func balanceBytes(t *testing.T, st *store.Store, network uuid.UUID) int64 {
	t.Helper()
	bs, err := st.Balances(context.Background(), network)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, b := range bs {
		n += b.Bytes
	}
	return n
}

func networkID(t *testing.T, jwt string) uuid.UUID {
	parts := strings.Split(jwt, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct {
		NetworkID string `json:"network_id"`
	}
	json.Unmarshal(payload, &claims)
	return uuid.MustParse(claims.NetworkID)
}

// TestConnectEndToEnd drives the connect side through the real binary's server on both
// drivers: providers announce over WebSocket, consumers get contracts in band over QUIC
// and out of band over HTTP, frames relay across transports, contracts escrow, settle
// and dispute against real balances, and all of it survives a restart.
func TestConnectEndToEnd(t *testing.T) {
	for _, driver := range storetest.Drivers {
		t.Run(driver, func(t *testing.T) { testConnect(t, driver) })
	}
}

func testConnect(t *testing.T, driver string) {
	dataDir := t.TempDir()
	args := []string{"--data-dir", dataDir}
	if driver == "postgres" {
		args = append(args, "--db", storetest.DSN(t, "postgres"))
	}
	s := startServer(t, args...)
	ctx := context.Background()

	providerNet := s.signUp(t, "providernet")
	consumerNet := s.signUp(t, "consumerzone")
	providerID, providerJWT := s.newClient(t, providerNet)
	friendID, friendJWT := s.newClient(t, providerNet)
	consumerID, consumerJWT := s.newClient(t, consumerNet)

	networkSecret, publicSecret := randomSecret(), randomSecret()
	provider := dialWebSocket(t, s, providerID, providerJWT)
	provider.controlExchange(t, provideFrame(t, map[pb.ProvideMode][]byte{
		pb.ProvideMode_Network: networkSecret, pb.ProvideMode_Public: publicSecret}), 0)

	t.Run("a client of the same network gets a Network contract in band over QUIC",
		func(t *testing.T) {
			friend := dialQUIC(t, s, friendID, friendJWT)
			res := contractResult(t, friend.controlExchange(t,
				createContractFrame(t, providerID, 1<<20),
				pb.MessageType_TransferCreateContractResult))
			if res.Error != nil || res.Contract == nil {
				t.Fatalf("result %v", res)
			}
			if res.Contract.ProvideMode != pb.ProvideMode_Network {
				t.Fatalf("mode %v, want Network", res.Contract.ProvideMode)
			}
			sc := checkLegacyHMAC(t, res.Contract, networkSecret)
			if !bytes.Equal(sc.SourceId, friendID[:]) || !bytes.Equal(sc.DestinationId,
				providerID[:]) || sc.TransferByteCount != 1<<20 {
				t.Fatalf("stored contract %v", sc)
			}
		})

	t.Run("another network without balance is refused", func(t *testing.T) {
		reply, _ := s.controlOOB(t, consumerJWT, false, createContractFrame(t, providerID, 1<<20))
		res := contractResult(t, reply.Frames[0])
		if res.Error == nil || *res.Error != pb.ContractError_InsufficientBalance {
			t.Fatalf("result %v, want InsufficientBalance", res)
		}
	})

	var out bytes.Buffer
	err := run(ctx, append([]string{"balance", "add", "--network", "consumerzone",
		"--bytes", "100000000", "--days", "30"}, args...), &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, store.Options{DSN: s.cfg.db,
		SQLitePath: filepath.Join(dataDir, "byplatform.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	consumerNetID, providerNetID := networkID(t, consumerNet), networkID(t, providerNet)

	var contractID uuid.UUID
	t.Run("a Public contract escrows from the balance", func(t *testing.T) {
		reply, msg := s.controlOOB(t, consumerJWT, true, createContractFrame(t, providerID, 30e6))
		if msg != "" {
			t.Fatal(msg)
		}
		res := contractResult(t, reply.Frames[0])
		if res.Error != nil || res.Contract.ProvideMode != pb.ProvideMode_Public {
			t.Fatalf("result %v", res)
		}
		sc := checkLegacyHMAC(t, res.Contract, publicSecret)
		contractID = uuid.UUID(sc.ContractId)
		if got := balanceBytes(t, st, consumerNetID); got != 70e6 {
			t.Fatalf("balance %d after escrow, want 70000000", got)
		}
	})

	t.Run("frames relay unchanged across transports", func(t *testing.T) {
		consumer := dialQUIC(t, s, consumerID, consumerJWT)
		payload := bytes.Repeat([]byte("opaque ip packet "), 20)
		tf := &pb.TransferFrame{TransferPath: &pb.TransferPath{DestinationId: providerID[:],
			SourceId: consumerID[:]}, Frame: &pb.Frame{MessageType: pb.MessageType_TransferPack,
			MessageBytes: payload}}
		b, _ := proto.Marshal(tf)
		if err := consumer.send(b); err != nil {
			t.Fatal(err)
		}
		for {
			select {
			case got := <-provider.recv:
				if bytes.Equal(got, b) {
					return
				}
			case <-time.After(10 * time.Second):
				t.Fatal("relayed frame did not arrive")
			}
		}
	})

	closeFrame := func(id uuid.UUID, acked uint64) *pb.Frame {
		return frame(t, pb.MessageType_TransferCloseContract,
			&pb.CloseContract{ContractId: id[:], AckedByteCount: acked})
	}
	t.Run("both closes settle: used bytes charged, the rest returned, provider credited",
		func(t *testing.T) {
			_, msg := s.controlOOB(t, consumerJWT, false, closeFrame(contractID, 10e6))
			if msg != "" {
				t.Fatal(msg)
			}
			_, msg = s.controlOOB(t, providerJWT, true, closeFrame(contractID, 11e6))
			if msg != "" {
				t.Fatal(msg)
			}
			c, err := st.Contract(ctx, contractID)
			if err != nil {
				t.Fatal(err)
			}
			if c.Status != store.ContractSettled || c.UsedBytes != 10e6 {
				t.Fatalf("contract %+v, want settled with 10000000 used", c)
			}
			if got := balanceBytes(t, st, consumerNetID); got != 90e6 {
				t.Fatalf("balance %d after settling, want 90000000", got)
			}
			earned, _ := st.NetworkEarnings(ctx, providerNetID)
			if earned != 10e6 {
				t.Fatalf("provider earned %d, want 10000000", earned)
			}
		})

	var disputed uuid.UUID
	t.Run("closes that differ by more than 32 MiB dispute the contract", func(t *testing.T) {
		reply, _ := s.controlOOB(t, consumerJWT, false, createContractFrame(t, providerID, 50e6))
		sc := checkLegacyHMAC(t, contractResult(t, reply.Frames[0]).Contract, publicSecret)
		disputed = uuid.UUID(sc.ContractId)
		s.controlOOB(t, consumerJWT, false, closeFrame(disputed, 1e6))
		s.controlOOB(t, providerJWT, false, closeFrame(disputed, 45e6))
		c, _ := st.Contract(ctx, disputed)
		if c.Status != store.ContractDisputed {
			t.Fatalf("status %q, want disputed", c.Status)
		}
		if got := balanceBytes(t, st, consumerNetID); got != 40e6 {
			t.Fatalf("balance %d, want 40000000: a disputed escrow stays held", got)
		}
	})

	t.Run("network/clients shows live connections", func(t *testing.T) {
		var res struct {
			Clients []struct {
				ClientID    string `json:"client_id"`
				ProvideMode int    `json:"provide_mode"`
				Resident    *struct {
					InstanceID string `json:"instance_id"`
				}
				Connections []struct {
					ConnectionService string `json:"connection_service"`
				}
			}
		}
		req, _ := http.NewRequest("GET", s.url("/network/clients"), nil)
		req.Header.Set("Authorization", "Bearer "+providerNet)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&res)
		resp.Body.Close()
		for _, c := range res.Clients {
			if c.ClientID == providerID.String() {
				if len(c.Connections) != 1 || c.Resident == nil || c.ProvideMode != 3 {
					t.Fatalf("provider %+v, want one connection, a resident, mode 3", c)
				}
				return
			}
		}
		t.Fatal("provider not listed")
	})

	t.Run("removing a client closes its connections at once", func(t *testing.T) {
		doomedID, doomedJWT := s.newClient(t, providerNet)
		doomed := dialWebSocket(t, s, doomedID, doomedJWT)
		doomed.controlExchange(t, provideFrame(t, map[pb.ProvideMode][]byte{
			pb.ProvideMode_Network: randomSecret()}), 0)
		var res struct{ Error *struct{ Message string } }
		s.post(t, "/network/remove-client", providerNet,
			map[string]string{"client_id": doomedID.String()}, &res)
		if res.Error != nil {
			t.Fatal(res.Error.Message)
		}
		// Well inside the 5 s keepalive: the close comes from the removal.
		deadline := time.After(3 * time.Second)
		for open := true; open; {
			select {
			case _, open = <-doomed.recv:
			case <-deadline:
				t.Fatal("the removed client's connection is still open")
			}
		}
		h := http.Header{}
		h.Set("Authorization", "Bearer "+doomedJWT)
		h.Set("X-UR-InstanceId", uuid.NewString())
		if _, _, err := websocket.DefaultDialer.Dial(s.wsURL("/"), h); err == nil {
			t.Fatal("a removed client connected again")
		}
		reply, _ := s.controlOOB(t, consumerJWT, false, createContractFrame(t, doomedID, 1e6))
		if res := contractResult(t, reply.Frames[0]); res.Error == nil ||
			*res.Error != pb.ContractError_NoPermission {
			t.Fatalf("contract with a removed client: %v, want NoPermission", res)
		}
	})

	s.stop()
	st.Close()
	t.Run("a restart loses no contract and no byte of balance", func(t *testing.T) {
		s2 := startServer(t, args...)
		st2, err := store.Open(ctx, store.Options{DSN: s2.cfg.db,
			SQLitePath: filepath.Join(dataDir, "byplatform.db")})
		if err != nil {
			t.Fatal(err)
		}
		defer st2.Close()
		if got := balanceBytes(t, st2, consumerNetID); got != 40e6 {
			t.Fatalf("balance %d after restart, want 40000000", got)
		}
		for id, status := range map[uuid.UUID]string{contractID: store.ContractSettled,
			disputed: store.ContractDisputed} {
			if c, err := st2.Contract(ctx, id); err != nil || c.Status != status {
				t.Fatalf("contract %s: %+v %v, want %s", id, c, err, status)
			}
		}
		// The provider's sealed keys survived: a contract is granted before it
		// reconnects, signed with the same secret.
		reply, _ := s2.controlOOB(t, consumerJWT, false, createContractFrame(t, providerID, 1e6))
		checkLegacyHMAC(t, contractResult(t, reply.Frames[0]).Contract, publicSecret)
	})
}
