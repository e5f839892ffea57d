package control

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/byplatform/byplatform/control/pb"
)

// QUICHeaderSize is the size of the header before each message on a QUIC stream: the
// message length as a big-endian uint16, then a uint16 split index that readers ignore.
const QUICHeaderSize = 4

// MaxQUICMessageSize is the largest message the QUIC framing can carry, in bytes.
const MaxQUICMessageSize = 1<<16 - 1

// ErrMessageTooLarge reports a message over the configured size limit.
var ErrMessageTooLarge = errors.New("message too large")

// QUICReader reads framed messages from a QUIC stream. It is not safe for concurrent
// use; a connection has one reader.
type QUICReader struct {
	r      io.Reader
	max    int
	header [QUICHeaderSize]byte
}

// NewQUICReader returns a reader that refuses messages longer than maxSize bytes. A
// maxSize of zero or above MaxQUICMessageSize means MaxQUICMessageSize.
func NewQUICReader(r io.Reader, maxSize int) *QUICReader {
	if maxSize <= 0 || maxSize > MaxQUICMessageSize {
		maxSize = MaxQUICMessageSize
	}
	return &QUICReader{r: r, max: maxSize}
}

// ReadMessage reads the next message into a new slice that the caller owns. An empty,
// non-nil message is a ping. It returns io.EOF only when the stream ends cleanly between
// messages, io.ErrUnexpectedEOF when it ends inside one, and an error wrapping
// ErrMessageTooLarge for an oversized message, after which the stream is out of step
// and must be closed.
func (r *QUICReader) ReadMessage() ([]byte, error) {
	if _, err := io.ReadFull(r.r, r.header[:]); err != nil {
		return nil, err
	}
	n := int(r.header[0])<<8 | int(r.header[1])
	if n > r.max {
		return nil, fmt.Errorf("quic frame: %w: %d bytes, limit %d", ErrMessageTooLarge, n, r.max)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(r.r, msg); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return msg, nil
}

// QUICWriter writes framed messages to a QUIC stream, each with a single Write call so
// that a message and its header are never split by a concurrent writer. It is not safe
// for concurrent use; a connection has one writer.
type QUICWriter struct {
	w   io.Writer
	max int
	buf []byte
}

// NewQUICWriter returns a writer that refuses messages longer than maxSize bytes, with
// the same defaults as NewQUICReader.
func NewQUICWriter(w io.Writer, maxSize int) *QUICWriter {
	if maxSize <= 0 || maxSize > MaxQUICMessageSize {
		maxSize = MaxQUICMessageSize
	}
	return &QUICWriter{w: w, max: maxSize}
}

// WriteMessage frames msg and writes it. An empty msg writes a ping.
func (w *QUICWriter) WriteMessage(msg []byte) error {
	if len(msg) > w.max {
		return fmt.Errorf("quic frame: %w: %d bytes, limit %d", ErrMessageTooLarge, len(msg), w.max)
	}
	w.buf = appendQUICHeader(w.buf[:0], len(msg))
	w.buf = append(w.buf, msg...)
	_, err := w.w.Write(w.buf)
	return err
}

// AppendQUICMessage appends msg with its QUIC frame header to dst.
func AppendQUICMessage(dst, msg []byte) ([]byte, error) {
	if len(msg) > MaxQUICMessageSize {
		return dst, fmt.Errorf("quic frame: %w: %d bytes", ErrMessageTooLarge, len(msg))
	}
	return append(appendQUICHeader(dst, len(msg)), msg...), nil
}

// appendQUICHeader writes the length and a zero split index.
func appendQUICHeader(dst []byte, n int) []byte {
	return append(dst, byte(n>>8), byte(n), 0, 0)
}

// MaxAuthFrameSize bounds the first message of a connection, in bytes. A client JWT is
// well under 2 KiB; the limit keeps a hostile first message from costing a decode of
// anything larger.
const MaxAuthFrameSize = 16 << 10

// ErrAuthFrame reports a first message that is not a well-formed auth frame.
var ErrAuthFrame = errors.New("bad auth frame")

// Auth is the content of the auth frame that opens a connection.
type Auth struct {
	// JWT is the client JWT, unverified. It is a secret: never log it.
	JWT        string
	AppVersion string
	InstanceID uuid.UUID
}

// ParseAuthFrame decodes the first message of a connection, a serialized
// Frame{TransferAuth, Auth}. It checks the shape only: a JWT is present and the instance
// id is 16 bytes; verifying the JWT is the caller's job. Errors wrap ErrAuthFrame and
// never quote the JWT.
func ParseAuthFrame(b []byte) (Auth, error) {
	if len(b) > MaxAuthFrameSize {
		return Auth{}, fmt.Errorf("%w: %d bytes, limit %d", ErrAuthFrame, len(b), MaxAuthFrameSize)
	}
	var frame pb.Frame
	if err := proto.Unmarshal(b, &frame); err != nil {
		return Auth{}, fmt.Errorf("%w: decode frame: %w", ErrAuthFrame, err)
	}
	if t := frame.GetMessageType(); t != pb.MessageType_TransferAuth {
		return Auth{}, fmt.Errorf("%w: message type %v, want TransferAuth", ErrAuthFrame, t)
	}
	var auth pb.Auth
	if err := proto.Unmarshal(frame.GetMessageBytes(), &auth); err != nil {
		return Auth{}, fmt.Errorf("%w: decode auth: %w", ErrAuthFrame, err)
	}
	if auth.GetByJwt() == "" {
		return Auth{}, fmt.Errorf("%w: missing by_jwt", ErrAuthFrame)
	}
	id := auth.GetInstanceId()
	if len(id) != 16 {
		return Auth{}, fmt.Errorf("%w: instance_id has %d bytes, want 16", ErrAuthFrame, len(id))
	}
	return Auth{
		JWT:        auth.GetByJwt(),
		AppVersion: auth.GetAppVersion(),
		InstanceID: uuid.UUID(id),
	}, nil
}

// MarshalAuthFrame builds the auth frame a client sends first. The platform only parses
// it; test clients and tools use this to speak to it.
func MarshalAuthFrame(a Auth) ([]byte, error) {
	auth, err := proto.Marshal(&pb.Auth{
		ByJwt:      a.JWT,
		AppVersion: a.AppVersion,
		InstanceId: a.InstanceID[:],
	})
	if err != nil {
		return nil, fmt.Errorf("marshal auth: %w", err)
	}
	return proto.Marshal(&pb.Frame{MessageType: pb.MessageType_TransferAuth, MessageBytes: auth})
}

// Field numbers of the messages that the append helpers write by hand.
const (
	frameTypeField  = 1
	frameBytesField = 2
	ackMessageField = 1
	ackSequence     = 2
	ackSelective    = 3
)

// idFieldSize is the encoded size of a 16-byte id field: tag, length, id.
const idFieldSize = 1 + 1 + 16

// pathSize is the encoded size of a TransferPath with all three ids written.
const pathSize = 3 * idFieldSize

// AppendAckFrame appends to dst a serialized TransferFrame from the control id to client
// that carries Ack{messageID, sequenceID, selective}, with all three path ids written as
// 16 explicit bytes. The bytes equal proto.Marshal of the same message, and the function
// allocates only when dst must grow.
func AppendAckFrame(dst []byte, client, messageID, sequenceID uuid.UUID, selective bool) []byte {
	var ack [2*idFieldSize + 2]byte
	b := appendID(ack[:0], ackMessageField, messageID)
	b = appendID(b, ackSequence, sequenceID)
	if selective {
		b = protowire.AppendTag(b, ackSelective, protowire.VarintType)
		b = protowire.AppendVarint(b, 1)
	}
	dst = appendControlHeader(dst, client, pb.MessageType_TransferAck, len(b))
	return append(dst, b...)
}

// AppendPackFrame appends to dst a serialized TransferFrame from the control id to
// client that carries pack in Frame{TransferPack, pack}, with all three path ids
// written as 16 explicit bytes.
func AppendPackFrame(dst []byte, client uuid.UUID, pack *pb.Pack) ([]byte, error) {
	size := proto.Size(pack)
	out := appendControlHeader(dst, client, pb.MessageType_TransferPack, size)
	out, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(out, pack)
	if err != nil {
		return dst, fmt.Errorf("marshal pack: %w", err)
	}
	return out, nil
}

// appendControlHeader writes TransferFrame{path: control → client, frame: Frame{t, msg}}
// up to the bytes of msg, which the caller appends next (exactly msgSize of them). It
// grows dst once to hold the whole frame.
// Fields go in number order and a zero message type is left out, as proto.Marshal does.
func appendControlHeader(dst []byte, client uuid.UUID, t pb.MessageType, msgSize int) []byte {
	frameSize := protowire.SizeTag(frameBytesField) + protowire.SizeBytes(msgSize)
	if t != 0 {
		frameSize += protowire.SizeTag(frameTypeField) + protowire.SizeVarint(uint64(t))
	}

	size := protowire.SizeTag(transferFramePathField) + protowire.SizeBytes(pathSize) +
		protowire.SizeTag(transferFrameFrameField) + protowire.SizeBytes(frameSize)
	dst = slices.Grow(dst, size)

	dst = protowire.AppendTag(dst, transferFramePathField, protowire.BytesType)
	dst = protowire.AppendVarint(dst, pathSize)
	dst = appendID(dst, transferPathDestination, client)
	dst = appendID(dst, transferPathSource, ControlID)
	dst = appendID(dst, transferPathStream, uuid.Nil)

	dst = protowire.AppendTag(dst, transferFrameFrameField, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(frameSize))
	if t != 0 {
		dst = protowire.AppendTag(dst, frameTypeField, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(t))
	}
	dst = protowire.AppendTag(dst, frameBytesField, protowire.BytesType)
	return protowire.AppendVarint(dst, uint64(msgSize))
}

func appendID(dst []byte, num protowire.Number, id uuid.UUID) []byte {
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	return protowire.AppendBytes(dst, id[:])
}
