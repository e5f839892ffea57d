package control_test

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/byplatform/byplatform/control/pb"
)

func mustMarshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func msgFrame(t testing.TB, typ pb.MessageType, m proto.Message) *pb.Frame {
	return &pb.Frame{MessageType: typ, MessageBytes: mustMarshal(t, m)}
}

func provideFrame(t testing.TB, keys map[pb.ProvideMode][]byte) *pb.Frame {
	var p pb.Provide
	for mode, secret := range keys {
		p.Keys = append(p.Keys, &pb.ProvideKey{Mode: mode, ProvideSecretKey: secret})
	}
	return msgFrame(t, pb.MessageType_TransferProvide, &p)
}

func createFrame(t testing.TB, dst uuid.UUID, n uint64, companion bool) *pb.Frame {
	return msgFrame(t, pb.MessageType_TransferCreateContract, &pb.CreateContract{
		DestinationId:     dst[:],
		TransferByteCount: n,
		Companion:         companion,
	})
}

// closeFrame builds a CloseContract; tests use acked to tell frames apart.
func closeFrame(t testing.TB, contract uuid.UUID, acked uint64) *pb.Frame {
	return msgFrame(t, pb.MessageType_TransferCloseContract, &pb.CloseContract{
		ContractId:     contract[:],
		AckedByteCount: acked,
	})
}

func secret(b byte) []byte {
	return bytes.Repeat([]byte{b}, 32)
}

// clientPack builds a pack of a client's sequence with a fresh message id.
func clientPack(seq uuid.UUID, n uint64, head bool, frames ...*pb.Frame) *pb.Pack {
	id := uuid.New()
	return &pb.Pack{
		MessageId:      id[:],
		SequenceId:     seq[:],
		SequenceNumber: n,
		Head:           head,
		Frames:         frames,
	}
}

func clientPath(client uuid.UUID) *pb.TransferPath {
	return &pb.TransferPath{DestinationId: make([]byte, 16), SourceId: client[:]}
}

// packTransfer wraps a pack as older clients do, in Frame{TransferPack, pack}.
func packTransfer(t testing.TB, client uuid.UUID, p *pb.Pack) []byte {
	return mustMarshal(t, &pb.TransferFrame{
		TransferPath: clientPath(client),
		Frame:        msgFrame(t, pb.MessageType_TransferPack, p),
	})
}

// packTransferField wraps a pack as later clients may, in TransferFrame.pack.
func packTransferField(t testing.TB, client uuid.UUID, p *pb.Pack) []byte {
	return mustMarshal(t, &pb.TransferFrame{TransferPath: clientPath(client), Pack: p})
}

func ackTransfer(t testing.TB, client uuid.UUID, p *pb.Pack, selective bool) []byte {
	return mustMarshal(t, &pb.TransferFrame{
		TransferPath: clientPath(client),
		Frame: msgFrame(t, pb.MessageType_TransferAck, &pb.Ack{
			MessageId:  p.MessageId,
			SequenceId: p.SequenceId,
			Selective:  selective,
		}),
	})
}

// outbox records what a session sends to its client.
type outbox struct {
	mu     sync.Mutex
	client uuid.UUID
	sent   [][]byte
}

func (o *outbox) send(b []byte) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent = append(o.sent, b)
	return true
}

// sent is one decoded TransferFrame from the control id.
type sent struct {
	ack  *pb.Ack
	pack *pb.Pack
}

// take decodes and clears what was sent, checking every path: to the client, from the
// control id, no stream, all three ids written as 16 explicit bytes.
func (o *outbox) take(t testing.TB) []sent {
	t.Helper()
	o.mu.Lock()
	raw := o.sent
	o.sent = nil
	o.mu.Unlock()

	var out []sent
	for _, b := range raw {
		var tf pb.TransferFrame
		if err := proto.Unmarshal(b, &tf); err != nil {
			t.Fatalf("sent frame does not decode: %v", err)
		}
		p := tf.GetTransferPath()
		zero := make([]byte, 16)
		if !bytes.Equal(p.GetDestinationId(), o.client[:]) || !bytes.Equal(p.GetSourceId(), zero) ||
			!bytes.Equal(p.GetStreamId(), zero) {
			t.Fatalf("sent path = %x/%x/%x, want %x/0*16/0*16",
				p.GetDestinationId(), p.GetSourceId(), p.GetStreamId(), o.client)
		}
		f := tf.GetFrame()
		switch f.GetMessageType() {
		case pb.MessageType_TransferAck:
			var a pb.Ack
			if err := proto.Unmarshal(f.GetMessageBytes(), &a); err != nil {
				t.Fatal(err)
			}
			out = append(out, sent{ack: &a})
		case pb.MessageType_TransferPack:
			var pk pb.Pack
			if err := proto.Unmarshal(f.GetMessageBytes(), &pk); err != nil {
				t.Fatal(err)
			}
			out = append(out, sent{pack: &pk})
		default:
			t.Fatalf("sent frame of type %v", f.GetMessageType())
		}
	}
	return out
}

// contractResult decodes the CreateContractResult a reply frame carries.
func contractResult(t testing.TB, f *pb.Frame) *pb.CreateContractResult {
	t.Helper()
	if f.GetMessageType() != pb.MessageType_TransferCreateContractResult {
		t.Fatalf("reply type %v, want TransferCreateContractResult", f.GetMessageType())
	}
	var r pb.CreateContractResult
	if err := proto.Unmarshal(f.GetMessageBytes(), &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

// testLogger shows the server's log with the output of a failing or verbose test.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}
