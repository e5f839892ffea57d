package control_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/byplatform/byplatform/control"
	"github.com/byplatform/byplatform/control/pb"
)

// relayFrame is a TransferFrame as the data path sees it: a pack carrying one
// 1400-byte IP packet between two clients.
func relayFrame(b *testing.B, pathLast bool) []byte {
	pack := clientPack(idC, 12345, false, &pb.Frame{
		MessageType:  pb.MessageType_IpIpPacketToProvider,
		MessageBytes: make([]byte, 1400),
	})
	tf := &pb.TransferFrame{
		TransferPath: &pb.TransferPath{DestinationId: idA[:], SourceId: idB[:]},
		Frame:        msgFrame(b, pb.MessageType_TransferPack, pack),
	}
	if !pathLast {
		return mustMarshal(b, tf)
	}
	p := tf.TransferPath
	tf.TransferPath = nil
	return append(mustMarshal(b, tf), wire(nil).bytes(1, mustMarshal(b, p))...)
}

func BenchmarkParsePath(b *testing.B) {
	for _, bc := range []struct {
		name     string
		pathLast bool
	}{{"path_first", false}, {"path_last", true}} {
		b.Run(bc.name, func(b *testing.B) {
			frame := relayFrame(b, bc.pathLast)
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				p, err := control.ParsePath(frame)
				if err != nil || p.Destination != idA {
					b.Fatal(p, err)
				}
			}
		})
	}
}

// BenchmarkParsePathFullDecode is the cost ParsePath avoids: decoding the whole frame.
func BenchmarkParsePathFullDecode(b *testing.B) {
	frame := relayFrame(b, false)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		var tf pb.TransferFrame
		if err := proto.Unmarshal(frame, &tf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAckFrame(b *testing.B) {
	client, msg, seq := uuid.New(), uuid.New(), uuid.New()
	b.Run("append_reused", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 128)
		for b.Loop() {
			buf = control.AppendAckFrame(buf[:0], client, msg, seq, false)
		}
	})
	b.Run("new", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = control.AppendAckFrame(nil, client, msg, seq, false)
		}
	})
	b.Run("proto_marshal", func(b *testing.B) {
		zero := make([]byte, 16)
		b.ReportAllocs()
		for b.Loop() {
			ack, _ := proto.Marshal(&pb.Ack{MessageId: msg[:], SequenceId: seq[:]})
			_, err := proto.Marshal(&pb.TransferFrame{
				TransferPath: &pb.TransferPath{
					DestinationId: client[:], SourceId: zero, StreamId: zero,
				},
				Frame: &pb.Frame{MessageType: pb.MessageType_TransferAck, MessageBytes: ack},
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkHandlePackCreateContract(b *testing.B) {
	for _, form := range []control.HMACForm{control.HMACLegacy, control.HMACStandard} {
		b.Run(form.String(), func(b *testing.B) {
			w := newWorld(b)
			w.eng.setBalance(w.srcNet, 1<<62)
			srv := control.NewServer(w.eng, control.Options{HMAC: form})
			pack := mustMarshal(b, &pb.Pack{Frames: []*pb.Frame{
				createFrame(b, w.pub, 32<<20, false),
			}})
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := srv.HandlePack(ctx, w.src, pack); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSessionRoundTrip measures one in-band pack from Receive to its ack leaving
// through send, including the hand-off to the session goroutine.
func BenchmarkSessionRoundTrip(b *testing.B) {
	w := newWorld(b)
	srv := control.NewServer(w.eng, control.Options{})
	acked := make(chan struct{}, 1)
	ss := srv.Open(context.Background(), w.src, func([]byte) bool {
		acked <- struct{}{}
		return true
	})
	defer ss.Close()
	seq := uuid.New()
	ping := msgFrame(b, pb.MessageType_TransferControlPing, &pb.ControlPing{})
	frames := make([][]byte, 1024)
	var n uint64
	next := func() []byte {
		p := clientPack(seq, n, n == 0, ping)
		n++
		return packTransfer(b, w.src, p)
	}
	for i := range frames {
		frames[i] = next()
	}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == len(frames) {
			b.StopTimer()
			for j := range frames {
				frames[j] = next()
			}
			i = 0
			b.StartTimer()
		}
		ss.Receive(ctx, frames[i])
		<-acked
		i++
	}
}
