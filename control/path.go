package control

import (
	"errors"
	"fmt"

	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protowire"
)

// ControlID is the id of the platform itself: sixteen zero bytes. Frames addressed to it
// take the control path; frames the platform originates carry it as their source.
var ControlID = uuid.Nil

// Field numbers of TransferFrame and TransferPath that ParsePath reads.
const (
	transferFramePathField  = 1
	transferFrameFrameField = 2
	transferPathDestination = 1
	transferPathSource      = 2
	transferPathStream      = 3
)

// ErrMalformedPath reports a TransferFrame whose path cannot be read: broken protobuf
// encoding, a path field of the wrong wire type, or an id that is not 16 bytes long.
var ErrMalformedPath = errors.New("malformed transfer path")

// Path is the address of a TransferFrame. Ids absent on the wire are the zero UUID.
type Path struct {
	Destination uuid.UUID
	Source      uuid.UUID
	Stream      uuid.UUID
}

// ParsePath reads only the TransferPath of a serialized TransferFrame, skipping every
// other field without decoding it, and allocates nothing unless it fails. It follows
// protobuf merge rules: if the path or one of its ids appears more than once, the last
// occurrence of each id wins. The returned errors wrap ErrMalformedPath.
func ParsePath(b []byte) (Path, error) {
	var dst, src, stream []byte
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return Path{}, pathError("tag", n)
		}
		b = b[n:]
		if num != transferFramePathField {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return Path{}, pathError("field", n)
			}
			b = b[n:]
			continue
		}
		if typ != protowire.BytesType {
			return Path{}, fmt.Errorf("%w: transfer_path has wire type %d", ErrMalformedPath, typ)
		}
		msg, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return Path{}, pathError("transfer_path", n)
		}
		b = b[n:]
		if err := mergePath(msg, &dst, &src, &stream); err != nil {
			return Path{}, err
		}
	}

	var p Path
	if err := setID(&p.Destination, dst, "destination_id"); err != nil {
		return Path{}, err
	}
	if err := setID(&p.Source, src, "source_id"); err != nil {
		return Path{}, err
	}
	if err := setID(&p.Stream, stream, "stream_id"); err != nil {
		return Path{}, err
	}
	return p, nil
}

// mergePath applies one serialized TransferPath over the ids read so far.
func mergePath(b []byte, dst, src, stream *[]byte) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return pathError("path tag", n)
		}
		b = b[n:]
		var id *[]byte
		switch num {
		case transferPathDestination:
			id = dst
		case transferPathSource:
			id = src
		case transferPathStream:
			id = stream
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return pathError("path field", n)
			}
			b = b[n:]
			continue
		}
		if typ != protowire.BytesType {
			return fmt.Errorf("%w: id field %d has wire type %d", ErrMalformedPath, num, typ)
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return pathError("id", n)
		}
		b = b[n:]
		*id = v
	}
	return nil
}

// setID copies a 16-byte id into u; an empty id leaves u zero.
func setID(u *uuid.UUID, b []byte, name string) error {
	switch len(b) {
	case 0:
		return nil
	case len(u):
		copy(u[:], b)
		return nil
	default:
		return fmt.Errorf("%w: %s has %d bytes, want 16", ErrMalformedPath, name, len(b))
	}
}

func pathError(what string, n int) error {
	return fmt.Errorf("%w: %s: %w", ErrMalformedPath, what, protowire.ParseError(n))
}
