package control_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/byplatform/byplatform/control"
	"github.com/byplatform/byplatform/control/pb"
)

func TestQUICFramingRoundTrip(t *testing.T) {
	msgs := [][]byte{
		{}, []byte("x"), bytes.Repeat([]byte{7}, 4096),
		bytes.Repeat([]byte{9}, control.MaxQUICMessageSize),
	}
	var buf bytes.Buffer
	w := control.NewQUICWriter(&buf, 0)
	for _, m := range msgs {
		must(t, w.WriteMessage(m))
	}
	if want := 4*control.QUICHeaderSize + 1 + 4096 + control.MaxQUICMessageSize; buf.Len() != want {
		t.Fatalf("wrote %d bytes, want %d", buf.Len(), want)
	}
	if got := buf.Bytes()[4:8]; !bytes.Equal(got, []byte{0, 1, 0, 0}) {
		t.Errorf("second header = %x, want length 1 and split index 0", got)
	}

	readers := map[string]io.Reader{
		"whole":    bytes.NewReader(buf.Bytes()),
		"one byte": iotest.OneByteReader(bytes.NewReader(buf.Bytes())),
		"half":     iotest.HalfReader(bytes.NewReader(buf.Bytes())),
	}
	for name, r := range readers {
		t.Run(name, func(t *testing.T) {
			qr := control.NewQUICReader(r, 0)
			for i, want := range msgs {
				got, err := qr.ReadMessage()
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if !bytes.Equal(got, want) || got == nil {
					t.Fatalf("message %d has %d bytes, want %d", i, len(got), len(want))
				}
			}
			if _, err := qr.ReadMessage(); err != io.EOF {
				t.Errorf("after the last message: %v, want io.EOF", err)
			}
		})
	}
}

func TestQUICFramingOverLoopback(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	msgs := [][]byte{[]byte("auth"), {}, bytes.Repeat([]byte{1}, 2100)}
	errc := make(chan error, 1)
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			errc <- err
			return
		}
		defer c.Close()
		w := control.NewQUICWriter(c, 4096)
		for _, m := range msgs {
			if err := w.WriteMessage(m); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	c, err := ln.Accept()
	must(t, err)
	defer c.Close()
	r := control.NewQUICReader(c, 4096)
	for i, want := range msgs {
		got, err := r.ReadMessage()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("message %d = %d bytes, %v", i, len(got), err)
		}
	}
	must(t, <-errc)
	if _, err := r.ReadMessage(); err != io.EOF {
		t.Errorf("after close: %v, want io.EOF", err)
	}
}

func TestQUICReaderErrors(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		max  int
		want error
	}{
		{"over the limit", []byte{0, 101, 0, 0}, 100, control.ErrMessageTooLarge},
		{"header cut short", []byte{0, 5, 0}, 0, io.ErrUnexpectedEOF},
		{"body cut short", []byte{0, 5, 0, 0, 1, 2}, 0, io.ErrUnexpectedEOF},
		{"body missing", []byte{0, 5, 0, 0}, 0, io.ErrUnexpectedEOF},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := control.NewQUICReader(bytes.NewReader(tc.in), tc.max)
			var err error
			for err == nil {
				_, err = r.ReadMessage()
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("error = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("split index is ignored", func(t *testing.T) {
		r := control.NewQUICReader(bytes.NewReader([]byte{0, 2, 0xab, 0xcd, 'h', 'i'}), 0)
		if got, err := r.ReadMessage(); err != nil || string(got) != "hi" {
			t.Errorf("ReadMessage = %q, %v; want \"hi\"", got, err)
		}
	})
	t.Run("writer refuses what the reader would", func(t *testing.T) {
		w := control.NewQUICWriter(io.Discard, 100)
		if err := w.WriteMessage(make([]byte, 101)); !errors.Is(err, control.ErrMessageTooLarge) {
			t.Errorf("WriteMessage = %v, want ErrMessageTooLarge", err)
		}
		_, err := control.AppendQUICMessage(nil, make([]byte, control.MaxQUICMessageSize+1))
		if !errors.Is(err, control.ErrMessageTooLarge) {
			t.Errorf("AppendQUICMessage = %v, want ErrMessageTooLarge", err)
		}
	})
}

func TestAuthFrame(t *testing.T) {
	const jwt = "eyJhbGciOiJFUzI1NiJ9.eyJjbGllbnRfaWQiOiJ4In0.c2lnbmF0dXJl"
	instance := uuid.New()
	b, err := control.MarshalAuthFrame(control.Auth{
		JWT: jwt, AppVersion: "2024.4.1", InstanceID: instance,
	})
	must(t, err)
	got, err := control.ParseAuthFrame(b)
	must(t, err)
	if got.JWT != jwt || got.AppVersion != "2024.4.1" || got.InstanceID != instance {
		t.Errorf("ParseAuthFrame = %+v", got)
	}

	authFrame := func(a *pb.Auth) []byte {
		return mustMarshal(t, &pb.Frame{
			MessageType: pb.MessageType_TransferAuth, MessageBytes: mustMarshal(t, a),
		})
	}
	cases := []struct {
		name string
		in   []byte
		want string
	}{
		{"not protobuf", []byte{0xff, 0xff}, "decode frame"},
		{"a transfer frame", mustMarshal(t, &pb.TransferFrame{TransferPath: clientPath(instance)}),
			"message type"},
		{"a pack frame", mustMarshal(t, &pb.Frame{MessageType: pb.MessageType_TransferPack}),
			"want TransferAuth"},
		{"auth bytes broken", mustMarshal(t, &pb.Frame{
			MessageType:  pb.MessageType_TransferAuth,
			MessageBytes: []byte{0x0a, 9},
		}), "decode auth"},
		{"no jwt", authFrame(&pb.Auth{InstanceId: instance[:]}), "missing by_jwt"},
		{"no instance id", authFrame(&pb.Auth{ByJwt: jwt}), "instance_id has 0 bytes"},
		{"short instance id", authFrame(&pb.Auth{ByJwt: jwt, InstanceId: instance[:15]}),
			"instance_id has 15 bytes"},
		{"jwt not UTF-8", mustMarshal(t, &pb.Frame{
			MessageType:  pb.MessageType_TransferAuth,
			MessageBytes: append([]byte{0x0a, 3, 'a', 0xff, 'b', 0x1a, 16}, instance[:]...),
		}), "decode auth"},
		{"too large", authFrame(&pb.Auth{
			ByJwt:      strings.Repeat("j", control.MaxAuthFrameSize),
			InstanceId: instance[:],
		}), "limit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := control.ParseAuthFrame(tc.in)
			if !errors.Is(err, control.ErrAuthFrame) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseAuthFrame error = %v, want ErrAuthFrame mentioning %q", err, tc.want)
			}
			if strings.Contains(err.Error(), jwt) {
				t.Errorf("error quotes the JWT: %v", err)
			}
		})
	}
}

func TestControlFramesMatchProtoMarshal(t *testing.T) {
	client, msg, seq := uuid.New(), uuid.New(), uuid.New()
	zero := make([]byte, 16)
	path := &pb.TransferPath{DestinationId: client[:], SourceId: zero, StreamId: zero}
	prefix := []byte("kept")

	for _, selective := range []bool{false, true} {
		ack := mustMarshal(t, &pb.Ack{MessageId: msg[:], SequenceId: seq[:], Selective: selective})
		want := mustMarshal(t, &pb.TransferFrame{
			TransferPath: path,
			Frame:        &pb.Frame{MessageType: pb.MessageType_TransferAck, MessageBytes: ack},
		})
		got := control.AppendAckFrame(bytes.Clone(prefix), client, msg, seq, selective)
		if !bytes.Equal(got, append(bytes.Clone(prefix), want...)) {
			t.Errorf("AppendAckFrame(selective %v) =\n%x, want\n%x", selective, got, want)
		}
	}

	pack := clientPack(seq, 3, true, createFrame(t, client, 5, false), closeFrame(t, msg, 1))
	want := mustMarshal(t, &pb.TransferFrame{
		TransferPath: path,
		Frame: &pb.Frame{
			MessageType:  pb.MessageType_TransferPack,
			MessageBytes: mustMarshal(t, pack),
		},
	})
	got, err := control.AppendPackFrame(bytes.Clone(prefix), client, pack)
	must(t, err)
	if !bytes.Equal(got, append(bytes.Clone(prefix), want...)) {
		t.Errorf("AppendPackFrame =\n%x, want\n%x", got, want)
	}
	var tf pb.TransferFrame
	must(t, proto.Unmarshal(got[len(prefix):], &tf))
	if !bytes.Equal(tf.GetTransferPath().GetSourceId(), zero) {
		t.Errorf("source id = %x, want 16 explicit zero bytes", tf.GetTransferPath().GetSourceId())
	}
}
