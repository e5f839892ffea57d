package transport

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/byplatform/byplatform/control"
	"github.com/byplatform/byplatform/control/pb"
)

// The control package's sessions plug in without an adapter type.
var _ ControlSession = (*control.Session)(nil)

func TestControlPackageSessionAcksPack(t *testing.T) {
	// No frame in this test reaches the contract rules, so the control server needs no
	// engine.
	cs := control.NewServer(nil, control.Options{Logger: slog.New(slog.DiscardHandler)})
	opener := func(ctx context.Context, id uuid.UUID, send func([]byte) bool) ControlSession {
		return cs.Open(ctx, id, send)
	}
	e := newEnv(t, Options{Control: opener})
	for _, d := range []dialer{dialers[0], dialers[2]} {
		t.Run(d.name, func(t *testing.T) {
			e.t = t
			tok, a := e.auth.add()
			c := d.dial(e, tok, uuid.New())

			messageID, sequenceID := uuid.New(), uuid.New()
			pack, err := proto.Marshal(&pb.Pack{
				MessageId:      messageID[:],
				SequenceId:     sequenceID[:],
				SequenceNumber: 0,
				Head:           true,
				Frames:         []*pb.Frame{{MessageType: pb.MessageType_TransferControlPing}},
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.send(transferFrame(t, control.ControlID, a.ClientID, pack)); err != nil {
				t.Fatal(err)
			}

			got, err := recvData(c, waitFor)
			if err != nil {
				t.Fatal(err)
			}
			want := control.AppendAckFrame(nil, a.ClientID, messageID, sequenceID, false)
			if !bytes.Equal(got, want) {
				t.Fatalf("got %x, want the ack %x", got, want)
			}
		})
	}
}
