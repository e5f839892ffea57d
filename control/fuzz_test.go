package control_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"testing/synctest"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/byplatform/byplatform/control"
	"github.com/byplatform/byplatform/control/pb"
	"github.com/byplatform/byplatform/engine"
)

func FuzzParsePath(f *testing.F) {
	client := uuid.New()
	f.Add([]byte{})
	f.Add(control.AppendAckFrame(nil, client, idA, idB, true))
	f.Add([]byte(wire(nil).bytes(1, path(idA[:], idB[:], nil)).
		bytes(1, path(nil, idC[:], []byte{}))))
	f.Add([]byte(wire(nil).varint(3, 1).group(9, wire(nil).bytes(1, idA[:])).
		bytes(1, path(idA[:7], nil, nil))))
	f.Add(packTransfer(f, client, clientPack(idC, 1, true, createFrame(f, idA, 9, false))))
	f.Add([]byte{0x0a, 0x12, 0x0a, 0x10})

	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := control.ParsePath(b)
		if err != nil {
			if !errors.Is(err, control.ErrMalformedPath) || p != (control.Path{}) {
				t.Fatalf("ParsePath = %+v, %v", p, err)
			}
			return
		}
		var tf pb.TransferFrame
		if proto.Unmarshal(b, &tf) != nil {
			// ParsePath skips the rest of the frame without checking what is inside.
			return
		}
		tp := tf.GetTransferPath()
		for _, pair := range []struct {
			got  uuid.UUID
			want []byte
		}{
			{p.Destination, tp.GetDestinationId()},
			{p.Source, tp.GetSourceId()},
			{p.Stream, tp.GetStreamId()},
		} {
			if len(pair.want) == 0 && pair.got == uuid.Nil {
				continue
			}
			if !bytes.Equal(pair.got[:], pair.want) {
				t.Fatalf("ParsePath id %x, proto decodes %x", pair.got, pair.want)
			}
		}
	})
}

func FuzzHandlePack(f *testing.F) {
	w := newWorld(f)
	w.eng.setBalance(w.srcNet, 1<<62)
	srv := control.NewServer(w.eng, control.Options{Logger: testLogger(f)})
	for _, frames := range [][]*pb.Frame{
		nil,
		{createFrame(f, w.pub, 100, false), createFrame(f, w.stranger, 1, true)},
		{
			provideFrame(f, map[pb.ProvideMode][]byte{pb.ProvideMode_Public: secret(4)}),
			closeFrame(f, idA, 1),
		},
		{msgFrame(f, pb.MessageType_TransferPeerAudit,
			&pb.PeerAudit{PeerId: idB[:], Duration: 1 << 63})},
		{{MessageType: pb.MessageType_TransferCreateContract, MessageBytes: []byte{0x0a, 0x10}}},
	} {
		f.Add(mustMarshal(f, &pb.Pack{Frames: frames}))
	}

	f.Fuzz(func(t *testing.T, b []byte) {
		reply, err := srv.HandlePack(context.Background(), w.src, b)
		if errors.Is(err, control.ErrMalformedPack) {
			if reply != nil {
				t.Fatalf("malformed pack got a reply")
			}
			return
		}
		var in, out pb.Pack
		if proto.Unmarshal(b, &in) != nil || proto.Unmarshal(reply, &out) != nil {
			t.Fatalf("accepted pack or its reply does not decode (err %v)", err)
		}
		creates := 0
		for _, fr := range in.Frames {
			if fr.GetMessageType() == pb.MessageType_TransferCreateContract {
				creates++
			}
		}
		if len(out.Frames) != creates {
			t.Fatalf("%d replies to %d CreateContract frames", len(out.Frames), creates)
		}
		for _, fr := range out.Frames {
			checkResult(t, w, fr)
		}
	})
}

// checkResult checks that a reply is a refusal or a contract signed with one of the
// secrets the world's providers hold.
func checkResult(t *testing.T, w world, fr *pb.Frame) {
	t.Helper()
	res := contractResult(t, fr)
	if (res.Error == nil) == (res.Contract == nil) {
		t.Fatalf("result %v has neither or both of error and contract", res)
	}
	if c := res.Contract; c != nil {
		for _, b := range []byte{1, 2, 3, 4} {
			if bytes.Equal(c.StoredContractHmac,
				expectedHMAC(control.HMACLegacy, secret(b), c.StoredContractBytes)) {
				return
			}
		}
		t.Fatalf("contract signed with no known secret")
	}
}

func FuzzSessionReceive(f *testing.F) {
	seq := uuid.New()
	// The input is a series of QUIC-framed TransferFrames; seeds are built for a fixed
	// client and destination that the fuzz function also uses.
	client := uuid.MustParse("11111111-1111-4111-8111-111111111111")
	pub := uuid.MustParse("22222222-2222-4222-8222-222222222222")
	series := func(msgs ...[]byte) []byte {
		var out []byte
		for _, m := range msgs {
			out, _ = control.AppendQUICMessage(out, m)
		}
		return out
	}
	p0 := clientPack(seq, 0, true, createFrame(f, pub, 10, false))
	p1 := clientPack(seq, 1, false, closeFrame(f, idA, 1))
	p2 := clientPack(seq, 2, false, createFrame(f, pub, 10, true))
	nack := clientPack(seq, 9, false, createFrame(f, pub, 1, false))
	nack.Nack = true
	f.Add(series(packTransfer(f, client, p0), packTransfer(f, client, p1)))
	f.Add(series(packTransfer(f, client, p2), packTransferField(f, client, p1),
		packTransfer(f, client, p0)))
	f.Add(series(packTransfer(f, client, nack), ackTransfer(f, client, p0, true),
		[]byte{0x12, 0x01}))

	f.Fuzz(func(t *testing.T, b []byte) {
		synctest.Test(t, func(t *testing.T) {
			eng := newFakeEngine()
			eng.network[client] = uuid.New()
			eng.network[pub] = uuid.New()
			eng.keys[pub] = map[engine.ProvideMode][]byte{engine.ProvidePublic: secret(1)}
			eng.balance[eng.network[client]] = 1 << 20
			srv := control.NewServer(eng, control.Options{
				MaxAhead: 4, MaxSequences: 4, Logger: testLogger(t),
			})
			box := &outbox{client: client}
			ss := srv.Open(context.Background(), client, box.send)
			defer ss.Close()

			r := control.NewQUICReader(bytes.NewReader(b), 0)
			for range 64 {
				msg, err := r.ReadMessage()
				if err != nil {
					break
				}
				ss.Receive(context.Background(), msg)
			}
			synctest.Wait()
			for _, s := range box.take(t) {
				if s.pack != nil {
					for _, fr := range s.pack.Frames {
						res := contractResult(t, fr)
						if (res.Error == nil) == (res.Contract == nil) {
							t.Fatalf("result %v has neither or both of error and contract", res)
						}
					}
				}
			}
		})
	})
}

func FuzzAuthFrame(f *testing.F) {
	good, err := control.MarshalAuthFrame(control.Auth{
		JWT: "a.b.c", AppVersion: "1", InstanceID: idA,
	})
	must(f, err)
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add([]byte{0x08, 0x04})
	f.Add(mustMarshal(f, &pb.Frame{
		MessageType: pb.MessageType_TransferAuth, MessageBytes: []byte{0x0a, 1, 0xff},
	}))

	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := control.ParseAuthFrame(b)
		if err != nil {
			if !errors.Is(err, control.ErrAuthFrame) {
				t.Fatalf("error %v does not wrap ErrAuthFrame", err)
			}
			return
		}
		if a.JWT == "" {
			t.Fatal("accepted an auth frame without a JWT")
		}
		again, err := control.MarshalAuthFrame(a)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := control.ParseAuthFrame(again); err != nil || back != a {
			t.Fatalf("round trip = %+v, %v; want %+v", back, err, a)
		}
	})
}

func FuzzQUICFrame(f *testing.F) {
	var two []byte
	two, _ = control.AppendQUICMessage(two, []byte("hello"))
	two, _ = control.AppendQUICMessage(two, nil)
	f.Add(two, uint16(0))
	f.Add(two, uint16(4))
	f.Add([]byte{0xff, 0xff, 0, 0, 1}, uint16(0))
	f.Add([]byte{0, 3, 9, 9, 1, 2}, uint16(10))

	f.Fuzz(func(t *testing.T, b []byte, limit uint16) {
		r := control.NewQUICReader(bytes.NewReader(b), int(limit))
		var msgs [][]byte
		consumed := 0
		var err error
		for {
			var m []byte
			if m, err = r.ReadMessage(); err != nil {
				break
			}
			if limit != 0 && len(m) > int(limit) {
				t.Fatalf("read %d bytes past the limit %d", len(m), limit)
			}
			msgs = append(msgs, m)
			consumed += control.QUICHeaderSize + len(m)
		}
		if consumed > len(b) || (err == io.EOF) != (consumed == len(b)) {
			t.Fatalf("consumed %d of %d bytes, ended with %v", consumed, len(b), err)
		}

		var buf bytes.Buffer
		wr := control.NewQUICWriter(&buf, int(limit))
		for _, m := range msgs {
			if err := wr.WriteMessage(m); err != nil {
				t.Fatal(err)
			}
		}
		r = control.NewQUICReader(&buf, int(limit))
		for i, want := range msgs {
			if got, err := r.ReadMessage(); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("message %d after rewrite = %x, %v; want %x", i, got, err, want)
			}
		}
	})
}
