package control_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/byplatform/byplatform/control"
	"github.com/byplatform/byplatform/control/pb"
)

var (
	idA = uuid.MustParse("0a0a0a0a-0a0a-4a0a-8a0a-0a0a0a0a0a0a")
	idB = uuid.MustParse("0b0b0b0b-0b0b-4b0b-8b0b-0b0b0b0b0b0b")
	idC = uuid.MustParse("0c0c0c0c-0c0c-4c0c-8c0c-0c0c0c0c0c0c")
)

// wire builds protobuf bytes field by field, so that tests can write what proto.Marshal
// never would: repeated singular fields, wrong wire types, truncations.
type wire []byte

func (w wire) bytes(num protowire.Number, v []byte) wire {
	w = protowire.AppendTag(w, num, protowire.BytesType)
	return protowire.AppendBytes(w, v)
}

func (w wire) varint(num protowire.Number, v uint64) wire {
	w = protowire.AppendTag(w, num, protowire.VarintType)
	return protowire.AppendVarint(w, v)
}

func (w wire) fixed32(num protowire.Number, v uint32) wire {
	w = protowire.AppendTag(w, num, protowire.Fixed32Type)
	return protowire.AppendFixed32(w, v)
}

func (w wire) fixed64(num protowire.Number, v uint64) wire {
	w = protowire.AppendTag(w, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(w, v)
}

func (w wire) group(num protowire.Number, inner wire) wire {
	w = protowire.AppendTag(w, num, protowire.StartGroupType)
	w = append(w, inner...)
	return protowire.AppendTag(w, num, protowire.EndGroupType)
}

func path(dst, src, stream []byte) wire {
	var w wire
	if dst != nil {
		w = w.bytes(1, dst)
	}
	if src != nil {
		w = w.bytes(2, src)
	}
	if stream != nil {
		w = w.bytes(3, stream)
	}
	return w
}

func TestParsePath(t *testing.T) {
	payload := mustMarshal(t, &pb.Frame{
		MessageType: pb.MessageType_TransferPack, MessageBytes: make([]byte, 100),
	})
	cases := []struct {
		name string
		in   []byte
		want control.Path
	}{
		{"empty frame has a zero path", nil, control.Path{}},
		{"all three ids", wire(nil).bytes(1, path(idA[:], idB[:], idC[:])),
			control.Path{Destination: idA, Source: idB, Stream: idC}},
		{"absent ids are zero", wire(nil).bytes(1, path(nil, idB[:], nil)),
			control.Path{Source: idB}},
		{"empty ids are zero", wire(nil).bytes(1, path([]byte{}, idB[:], []byte{})),
			control.Path{Source: idB}},
		{"path after the frame", wire(nil).bytes(2, payload).bytes(1, path(idA[:], idB[:], nil)),
			control.Path{Destination: idA, Source: idB}},
		{"unknown fields of every wire type are skipped",
			wire(nil).varint(3, 7).fixed32(9, 1).bytes(1, wire(nil).fixed64(7, 5).bytes(1, idA[:]).
				group(8, wire(nil).varint(1, 1)).bytes(2, idB[:])).fixed64(6, 2).
				group(10, wire(nil).bytes(1, idC[:])),
			control.Path{Destination: idA, Source: idB}},
		{"a repeated path merges, last id wins",
			wire(nil).bytes(1, path(idA[:], idA[:], nil)).bytes(2, payload).
				bytes(1, path(nil, idB[:], idC[:])),
			control.Path{Destination: idA, Source: idB, Stream: idC}},
		{"a repeated id in one path, last wins",
			wire(nil).bytes(1, wire(nil).bytes(1, idA[:]).bytes(1, idC[:])),
			control.Path{Destination: idC}},
		{"an empty id clears an earlier one",
			wire(nil).bytes(1, path(idA[:], nil, nil)).bytes(1, path([]byte{}, nil, nil)),
			control.Path{}},
		{"a bad id replaced by a good one is fine",
			wire(nil).bytes(1, path(idA[:3], nil, nil)).bytes(1, path(idB[:], nil, nil)),
			control.Path{Destination: idB}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := control.ParsePath(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("ParsePath = %+v, want %+v", got, tc.want)
			}
			// Same reading as a full decode.
			var tf pb.TransferFrame
			if err := proto.Unmarshal(tc.in, &tf); err != nil {
				t.Fatal(err)
			}
			p := tf.GetTransferPath()
			for _, pair := range [][2][]byte{
				{p.GetDestinationId(), tc.want.Destination[:]},
				{p.GetSourceId(), tc.want.Source[:]},
				{p.GetStreamId(), tc.want.Stream[:]},
			} {
				if !bytes.Equal(pair[0], pair[1]) &&
					!(len(pair[0]) == 0 && uuid.UUID(pair[1]) == uuid.Nil) {
					t.Errorf("proto decodes id %x, want %x", pair[0], pair[1])
				}
			}
		})
	}
}

func TestParsePathErrors(t *testing.T) {
	valid := wire(nil).bytes(1, path(idA[:], idB[:], nil))
	cases := []struct {
		name string
		in   []byte
	}{
		{"short destination", wire(nil).bytes(1, path(idA[:15], nil, nil))},
		{"long source", wire(nil).bytes(1, path(nil, append(idB[:], 0), nil))},
		{"short stream", wire(nil).bytes(1, path(nil, nil, []byte{1}))},
		{"a good id replaced by a bad one",
			append(valid, wire(nil).bytes(1, path(idA[:4], nil, nil))...)},
		{"path as a varint", wire(nil).varint(1, 5)},
		{"path as fixed64", wire(nil).fixed64(1, 5)},
		{"id as a varint", wire(nil).bytes(1, wire(nil).varint(2, 1))},
		{"id as fixed32", wire(nil).bytes(1, wire(nil).fixed32(1, 1))},
		{"truncated path", valid[:len(valid)-3]},
		{"truncated tag", []byte{0x80}},
		{"field number zero", []byte{0x02, 0x00}},
		{"truncated unknown field", wire(nil).bytes(2, make([]byte, 10))[:5]},
		{"unterminated group",
			append(valid, protowire.AppendTag(nil, 9, protowire.StartGroupType)...)},
		{"stray end group", append(valid, protowire.AppendTag(nil, 9, protowire.EndGroupType)...)},
		{"truncated id inside the path", wire(nil).bytes(1, wire(nil).bytes(1, idA[:])[:10])},
		{"reserved wire type", []byte{0x0e}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := control.ParsePath(tc.in)
			if !errors.Is(err, control.ErrMalformedPath) {
				t.Errorf("ParsePath = %+v, %v; want ErrMalformedPath", p, err)
			}
			if p != (control.Path{}) {
				t.Errorf("ParsePath returned %+v with an error", p)
			}
		})
	}
}

func TestParsePathReadsFramesFromControl(t *testing.T) {
	client := uuid.New()
	p, err := control.ParsePath(control.AppendAckFrame(nil, client, idA, idB, false))
	if err != nil || p != (control.Path{Destination: client}) {
		t.Errorf("ParsePath = %+v, %v; want destination %v only", p, err, client)
	}
}
