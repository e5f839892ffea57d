package control_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/byplatform/byplatform/control"
	"github.com/byplatform/byplatform/control/pb"
	"github.com/byplatform/byplatform/engine"
)

// world is a fake engine with a source client, a provider in its network, a public
// provider in another network, and a client of that network that provides nothing.
type world struct {
	eng                      *fakeEngine
	src, peer, pub, stranger uuid.UUID
	srcNet                   uuid.UUID
}

func newWorld(t testing.TB) world {
	t.Helper()
	e := newFakeEngine()
	netA, netB := uuid.New(), uuid.New()
	w := world{
		eng:      e,
		src:      e.addClient(netA),
		peer:     e.addClient(netA),
		pub:      e.addClient(netB),
		stranger: e.addClient(netB),
		srcNet:   netA,
	}
	ctx := context.Background()
	must(t, e.Provide(ctx, w.peer, map[engine.ProvideMode][]byte{engine.ProvideNetwork: secret(2)}))
	must(t, e.Provide(ctx, w.pub, map[engine.ProvideMode][]byte{
		engine.ProvidePublic: secret(1),
		engine.ProvideStream: secret(3),
	}))
	e.setBalance(netA, 1000)
	return w
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// expectedHMAC computes stored_contract_hmac as PROTOCOL.md defines it, without the
// package's code.
func expectedHMAC(form control.HMACForm, key, stored []byte) []byte {
	mac := hmac.New(sha256.New, key)
	if form == control.HMACStandard {
		mac.Write(stored)
		return mac.Sum(nil)
	}
	emptyMAC := mac.Sum(nil)
	return append(bytes.Clone(stored), emptyMAC...)
}

func TestCreateContractOutcomes(t *testing.T) {
	noPermission := pb.ContractError_NoPermission
	insufficient := pb.ContractError_InsufficientBalance
	setup := pb.ContractError_Setup
	engineDown := errors.New("database unavailable")

	cases := []struct {
		name      string
		dst       func(w world) uuid.UUID
		n         uint64
		companion bool
		prepare   func(w world)
		wantErr   *pb.ContractError // refusal in the result; nil for a contract
		wantFail  bool              // HandlePack reports a failure
		mode      pb.ProvideMode
		key       []byte
	}{
		{
			name: "public contract within the balance is signed with the public secret",
			dst:  func(w world) uuid.UUID { return w.pub }, n: 600,
			mode: pb.ProvideMode_Public, key: secret(1),
		},
		{
			name: "network contract needs no balance",
			dst:  func(w world) uuid.UUID { return w.peer }, n: 1 << 40,
			mode: pb.ProvideMode_Network, key: secret(2),
		},
		{
			name: "companion contract uses the stream secret",
			dst:  func(w world) uuid.UUID { return w.pub }, n: 10, companion: true,
			mode: pb.ProvideMode_Stream, key: secret(3),
		},
		{
			name: "destination that does not provide the mode is refused as NoPermission",
			dst:  func(w world) uuid.UUID { return w.stranger }, n: 10,
			wantErr: &noPermission,
		},
		{
			name: "public contract over the balance is refused as InsufficientBalance",
			dst:  func(w world) uuid.UUID { return w.pub }, n: 1001,
			wantErr: &insufficient,
		},
		{
			name: "engine failure is Setup and reported",
			dst:  func(w world) uuid.UUID { return w.pub }, n: 10,
			prepare: func(w world) { w.eng.failWith = engineDown },
			wantErr: &setup, wantFail: true,
		},
		{
			name: "grant without a secret is Setup and reported",
			dst:  func(w world) uuid.UUID { return w.pub }, n: 10,
			prepare: func(w world) { w.eng.noSecret = true },
			wantErr: &setup, wantFail: true,
		},
	}
	for _, form := range []control.HMACForm{control.HMACLegacy, control.HMACStandard} {
		t.Run(form.String(), func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					w := newWorld(t)
					if tc.prepare != nil {
						tc.prepare(w)
					}
					srv := control.NewServer(w.eng, control.Options{HMAC: form})
					dst := tc.dst(w)
					req := &pb.CreateContract{
						DestinationId: dst[:], TransferByteCount: tc.n, Companion: tc.companion,
					}
					pack := mustMarshal(t, &pb.Pack{Frames: []*pb.Frame{
						msgFrame(t, pb.MessageType_TransferCreateContract, req),
					}})

					replyBytes, err := srv.HandlePack(context.Background(), w.src, pack)
					if (err != nil) != tc.wantFail {
						t.Fatalf("HandlePack error = %v, want failure %v", err, tc.wantFail)
					}
					if tc.wantFail && tc.prepare != nil && w.eng.failWith != nil &&
						!errors.Is(err, engineDown) {
						t.Errorf("error %v does not wrap the engine's", err)
					}
					var reply pb.Pack
					must(t, proto.Unmarshal(replyBytes, &reply))
					if len(reply.Frames) != 1 {
						t.Fatalf("reply has %d frames, want 1", len(reply.Frames))
					}
					res := contractResult(t, reply.Frames[0])
					if !proto.Equal(res.GetCreateContract(), req) {
						t.Errorf("create_contract echo = %v, want %v", res.GetCreateContract(), req)
					}
					if tc.wantErr != nil {
						checkRefusal(t, reply.Frames[0], res, *tc.wantErr)
						return
					}
					checkContract(t, form, res, w.src, dst, tc.n, tc.mode, tc.key)
				})
			}
		})
	}
}

func checkRefusal(t *testing.T, f *pb.Frame, res *pb.CreateContractResult, want pb.ContractError) {
	t.Helper()
	if res.Error == nil {
		t.Fatalf("result has no error, want %v", want)
	}
	if *res.Error != want {
		t.Errorf("error = %v, want %v", *res.Error, want)
	}
	if res.Contract != nil {
		t.Errorf("refused result carries a contract")
	}
	// The error is on the wire even when it is NoPermission, the zero value.
	if want := []byte{0x08, byte(want)}; !bytes.HasPrefix(f.MessageBytes, want) {
		t.Errorf("result bytes %x do not start with field 1 = %x", f.MessageBytes, want)
	}
}

func checkContract(
	t *testing.T, form control.HMACForm, res *pb.CreateContractResult,
	src, dst uuid.UUID, n uint64, mode pb.ProvideMode, key []byte,
) {
	t.Helper()
	if res.Error != nil {
		t.Fatalf("result error = %v, want a contract", *res.Error)
	}
	c := res.GetContract()
	if c.GetProvideMode() != mode {
		t.Errorf("provide_mode = %v, want %v", c.GetProvideMode(), mode)
	}
	var stored pb.StoredContract
	must(t, proto.Unmarshal(c.GetStoredContractBytes(), &stored))
	if len(stored.ContractId) != 16 || uuid.UUID(stored.ContractId) == uuid.Nil {
		t.Errorf("contract_id = %x, want a 16-byte id", stored.ContractId)
	}
	if stored.TransferByteCount != n || !bytes.Equal(stored.SourceId, src[:]) ||
		!bytes.Equal(stored.DestinationId, dst[:]) {
		t.Errorf("stored = %v, want %d bytes from %v to %v", &stored, n, src, dst)
	}
	want := expectedHMAC(form, key, c.GetStoredContractBytes())
	if !bytes.Equal(c.GetStoredContractHmac(), want) {
		t.Errorf("stored_contract_hmac = %x, want %x", c.GetStoredContractHmac(), want)
	}
	other := control.HMACStandard
	if form == control.HMACStandard {
		other = control.HMACLegacy
	}
	if bytes.Equal(c.GetStoredContractHmac(),
		expectedHMAC(other, key, c.GetStoredContractBytes())) {
		t.Errorf("hmac also matches the %v form", other)
	}
	if !form.Verify(key, c.GetStoredContractBytes(), c.GetStoredContractHmac()) {
		t.Errorf("%v.Verify rejects the contract", form)
	}
}

func TestCreateContractRejectsMalformedRequest(t *testing.T) {
	w := newWorld(t)
	srv := control.NewServer(w.eng, control.Options{})
	frames := []*pb.Frame{
		{MessageType: pb.MessageType_TransferCreateContract, MessageBytes: []byte{0x0a, 0x05, 1}},
		msgFrame(t, pb.MessageType_TransferCreateContract,
			&pb.CreateContract{DestinationId: []byte{1, 2, 3}}),
	}
	replyBytes, err := srv.HandlePack(context.Background(), w.src,
		mustMarshal(t, &pb.Pack{Frames: frames}))
	if err == nil {
		t.Fatal("HandlePack accepted malformed requests")
	}
	for _, want := range []string{
		"frame 0 (TransferCreateContract)", "frame 1", "destination_id has 3 bytes",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	var reply pb.Pack
	must(t, proto.Unmarshal(replyBytes, &reply))
	if len(reply.Frames) != 2 {
		t.Fatalf("reply has %d frames, want a Setup result for each request", len(reply.Frames))
	}
	for i, f := range reply.Frames {
		if res := contractResult(t, f); res.Error == nil || *res.Error != pb.ContractError_Setup {
			t.Errorf("result %d = %v, want Setup", i, res)
		}
	}
	if w.eng.creates != 0 {
		t.Errorf("engine called %d times for malformed requests", w.eng.creates)
	}
}

func TestHandlePackOneFailingFrameDoesNotStopOthers(t *testing.T) {
	w := newWorld(t)
	srv := control.NewServer(w.eng, control.Options{})
	contract, peer := uuid.New(), uuid.New()
	audit := &pb.PeerAudit{
		PeerId: peer[:], Duration: 90, Abuse: true,
		BadContractCount: 1, DiscardedByteCount: 2, DiscardedCount: 3, BadMessageByteCount: 4,
		BadMessageCount: 5, SendByteCount: 6, SendCount: 7, ResendByteCount: 8, ResendCount: 9,
	}
	frames := []*pb.Frame{
		provideFrame(t, map[pb.ProvideMode][]byte{pb.ProvideMode_Public: secret(9)}),
		closeFrame(t, uuid.UUID{}, 5),
		{
			MessageType:  pb.MessageType_TransferCloseContract,
			MessageBytes: []byte{0x0a, 0x03, 1, 2, 3},
		},
		createFrame(t, w.pub, 100, false),
		msgFrame(t, pb.MessageType_TransferPeerAudit, audit),
		msgFrame(t, pb.MessageType_TransferControlPing, &pb.ControlPing{}),
		msgFrame(t, pb.MessageType_TransferProvidePing, &pb.ProvidePing{}),
		{MessageType: 99, MessageBytes: []byte("not a protobuf \xff")},
		closeFrame(t, contract, 42),
	}
	replyBytes, err := srv.HandlePack(context.Background(), w.src,
		mustMarshal(t, &pb.Pack{Frames: frames}))
	if err == nil || !strings.Contains(err.Error(), "frame 2 (TransferCloseContract)") {
		t.Fatalf("HandlePack error = %v, want the failure of frame 2", err)
	}
	if strings.Contains(err.Error(), "frame 1 ") || strings.Contains(err.Error(), "frame 7") {
		t.Errorf("error %q reports frames that succeeded", err)
	}

	var reply pb.Pack
	must(t, proto.Unmarshal(replyBytes, &reply))
	if len(reply.Frames) != 1 || contractResult(t, reply.Frames[0]).GetContract() == nil {
		t.Fatalf("reply = %v, want one contract", &reply)
	}
	if got := w.eng.providedKeys(w.src); !bytes.Equal(got[engine.ProvidePublic], secret(9)) ||
		len(got) != 1 {
		t.Errorf("provided keys = %v, want public only", got)
	}
	closes := w.eng.closed()
	if len(closes) != 2 || closes[0].AckedByteCount != 5 || closes[1].ContractID != contract ||
		closes[1].AckedByteCount != 42 || closes[1].ClientID != w.src {
		t.Errorf("closes = %+v, want frames 1 and 8", closes)
	}
	audits := w.eng.audited()
	if len(audits) != 1 {
		t.Fatalf("audits = %+v, want one", audits)
	}
	a := audits[0]
	if a.ClientID != w.src || a.PeerID != peer || a.Duration != 90*time.Second || !a.Abuse {
		t.Errorf("audit = %+v", a)
	}
	for i, name := range []string{
		control.AuditBadContractCount, control.AuditDiscardedByteCount, control.AuditDiscardedCount,
		control.AuditBadMessageByteCount, control.AuditBadMessageCount, control.AuditSendByteCount,
		control.AuditSendCount, control.AuditResendByteCount, control.AuditResendCount,
	} {
		if a.Counters[name] != uint64(i+1) {
			t.Errorf("counter %s = %d, want %d", name, a.Counters[name], i+1)
		}
	}
	if st := srv.Stats(); st.FrameErrors != 1 {
		t.Errorf("FrameErrors = %d, want 1", st.FrameErrors)
	}
}

func TestHandlePackEngineErrorsUnwrap(t *testing.T) {
	w := newWorld(t)
	down := errors.New("store closed")
	w.eng.failWith = down
	srv := control.NewServer(w.eng, control.Options{})
	pack := mustMarshal(t, &pb.Pack{Frames: []*pb.Frame{closeFrame(t, uuid.New(), 1)}})
	if _, err := srv.HandlePack(context.Background(), w.src, pack); !errors.Is(err, down) {
		t.Errorf("error = %v, want it to wrap the engine's", err)
	}
}

func TestProvideTreatsModesAsASet(t *testing.T) {
	w := newWorld(t)
	srv := control.NewServer(w.eng, control.Options{})
	p := &pb.Provide{Keys: []*pb.ProvideKey{
		{Mode: pb.ProvideMode_Public, ProvideSecretKey: secret(1)},
		{Mode: pb.ProvideMode_Network, ProvideSecretKey: secret(2)},
		{Mode: pb.ProvideMode_Public, ProvideSecretKey: secret(3)},
		{Mode: pb.ProvideMode_None, ProvideSecretKey: secret(4)},
		{Mode: 42, ProvideSecretKey: secret(5)},
	}}
	pack := mustMarshal(t, &pb.Pack{Frames: []*pb.Frame{
		msgFrame(t, pb.MessageType_TransferProvide, p),
	}})
	if _, err := srv.HandlePack(context.Background(), w.src, pack); err != nil {
		t.Fatal(err)
	}
	got := w.eng.providedKeys(w.src)
	if len(got) != 2 || !bytes.Equal(got[engine.ProvidePublic], secret(3)) ||
		!bytes.Equal(got[engine.ProvideNetwork], secret(2)) {
		t.Errorf("keys = %v, want public (last) and network", got)
	}

	t.Run("a secret of the wrong size is refused and keeps the old keys", func(t *testing.T) {
		bad := provideFrame(t, map[pb.ProvideMode][]byte{pb.ProvideMode_Public: []byte("short")})
		_, err := srv.HandlePack(context.Background(), w.src,
			mustMarshal(t, &pb.Pack{Frames: []*pb.Frame{bad}}))
		if err == nil || !strings.Contains(err.Error(), "5 bytes") {
			t.Fatalf("error = %v, want a size error", err)
		}
		if strings.Contains(err.Error(), "short") {
			t.Errorf("error %q quotes the secret", err)
		}
		if got := w.eng.providedKeys(w.src); len(got) != 2 {
			t.Errorf("keys changed to %v", got)
		}
	})
	t.Run("no keys stops providing", func(t *testing.T) {
		empty := msgFrame(t, pb.MessageType_TransferProvide, &pb.Provide{})
		_, err := srv.HandlePack(context.Background(), w.src,
			mustMarshal(t, &pb.Pack{Frames: []*pb.Frame{empty}}))
		must(t, err)
		if got := w.eng.providedKeys(w.src); got == nil || len(got) != 0 {
			t.Errorf("keys = %v, want an empty set", got)
		}
	})
}

func TestHandlePackRejectsMalformedPacks(t *testing.T) {
	srv := control.NewServer(newFakeEngine(), control.Options{MaxFrames: 2, MaxMessageSize: 1024})
	ping := msgFrame(t, pb.MessageType_TransferControlPing, &pb.ControlPing{})
	cases := map[string][]byte{
		"truncated":       {0x2a, 0x10, 0x08},
		"broken frame":    {0x2a, 0x01, 0x08},
		"too many frames": mustMarshal(t, &pb.Pack{Frames: []*pb.Frame{ping, ping, ping}}),
		"too large":       make([]byte, 1025),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			reply, err := srv.HandlePack(context.Background(), uuid.New(), b)
			if !errors.Is(err, control.ErrMalformedPack) || reply != nil {
				t.Errorf("HandlePack = %x, %v; want nil, ErrMalformedPack", reply, err)
			}
		})
	}
	t.Run("an empty pack gets an empty reply", func(t *testing.T) {
		reply, err := srv.HandlePack(context.Background(), uuid.New(), nil)
		if err != nil || reply == nil || len(reply) != 0 {
			t.Errorf("HandlePack = %x, %v; want an empty pack", reply, err)
		}
	})
}
