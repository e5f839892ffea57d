package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/byplatform/byplatform/control/pb"
	"github.com/byplatform/byplatform/engine"
)

// ContractEngine is what the control path needs from the engine; *engine.Engine
// implements it. Methods are called from many goroutines at once.
type ContractEngine interface {
	// Provide replaces the client's provide keys, mode to secret.
	Provide(ctx context.Context, clientID uuid.UUID, keys map[engine.ProvideMode][]byte) error
	// CreateContract applies the contract rules and persists a granted contract. Refusals
	// wrap engine.ErrNoPermission or engine.ErrInsufficientBalance.
	CreateContract(ctx context.Context, req engine.ContractRequest) (engine.ContractGrant, error)
	// CloseContract records one party's close of a contract.
	CloseContract(ctx context.Context, c engine.ContractClose) error
	// PeerAudit stores a client's report about a peer.
	PeerAudit(ctx context.Context, a engine.PeerAudit) error
}

// ErrMalformedPack reports a pack that cannot be decoded or exceeds a limit. HandlePack
// returns it for the pack as a whole, before any frame is handled.
var ErrMalformedPack = errors.New("malformed pack")

// Defaults of Options.
const (
	DefaultResendInterval = 2 * time.Second
	DefaultResendTimeout  = time.Minute
	DefaultMaxSequences   = 32
	DefaultMaxAhead       = 16
	DefaultMaxHeldBytes   = 256 << 10
	DefaultMaxUnacked     = 64
	DefaultQueueSize      = 64
	DefaultMaxFrames      = 64
	DefaultMaxMessageSize = 16 << 10
)

// Options configure a Server. The zero value is ready to use: every zero field takes
// its default.
type Options struct {
	// HMAC is the form of stored_contract_hmac. The default, HMACLegacy, is the only
	// form the April 2024 clients accept.
	HMAC HMACForm
	// ResendInterval is how long a pack the platform originated waits for an ack before
	// it is sent again. Default 2 s.
	ResendInterval time.Duration
	// ResendTimeout is how long after its first send a pack is given up. Default 1 min.
	ResendTimeout time.Duration
	// MaxSequences bounds the inbound sequences a session tracks; past it the least
	// recently used is forgotten, and the client's next head pack restarts it.
	// Default 32.
	MaxSequences int
	// MaxAhead bounds the packs a sequence buffers ahead of the one it expects; others
	// are dropped and the client resends them. Default 16.
	MaxAhead int
	// MaxHeldBytes bounds the encoded size of all packs a session buffers ahead, in
	// bytes, so that a client cannot pin MaxSequences × MaxAhead large packs.
	// Default 256 KiB.
	MaxHeldBytes int
	// MaxUnacked bounds the packs a session holds for resend; past it the oldest is
	// given up. Default 64.
	MaxUnacked int
	// QueueSize bounds the inbound packs waiting for a session's goroutine; past it
	// Receive drops packs and the client resends them. Default 64.
	QueueSize int
	// MaxFrames bounds the frames of one pack. Default 64.
	MaxFrames int
	// MaxMessageSize bounds a TransferFrame passed to Receive and a pack passed to
	// HandlePack, in bytes. Control packs are small (a CreateContract is about 60
	// bytes), so the default, 16 KiB, leaves room for large batches.
	MaxMessageSize int
	// Logger receives state changes and failures. Default slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	setDefault(&o.ResendInterval, DefaultResendInterval)
	setDefault(&o.ResendTimeout, DefaultResendTimeout)
	setDefault(&o.MaxSequences, DefaultMaxSequences)
	setDefault(&o.MaxAhead, DefaultMaxAhead)
	setDefault(&o.MaxHeldBytes, DefaultMaxHeldBytes)
	setDefault(&o.MaxUnacked, DefaultMaxUnacked)
	setDefault(&o.QueueSize, DefaultQueueSize)
	setDefault(&o.MaxFrames, DefaultMaxFrames)
	setDefault(&o.MaxMessageSize, DefaultMaxMessageSize)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Stats counts events of the control path since the server was created. Per-pack
// events are counted here rather than logged.
type Stats struct {
	// PacksReceived counts in-band packs accepted into a session's queue.
	PacksReceived uint64
	// PacksDropped counts in-band frames dropped: malformed, arriving at a full queue
	// or a closed session, or ahead of their turn past a bound.
	PacksDropped uint64
	// Duplicates counts in-band packs received again and re-acked.
	Duplicates uint64
	// Resends counts packs the platform sent again for want of an ack.
	Resends uint64
	// GaveUp counts packs the platform stopped resending without an ack.
	GaveUp uint64
	// FrameErrors counts frames whose handler failed.
	FrameErrors uint64
}

type stats struct {
	packsReceived, packsDropped, duplicates, resends, gaveUp, frameErrors atomic.Uint64
}

// Server runs the control handlers for every client. It is safe for concurrent use.
type Server struct {
	eng   ContractEngine
	opts  Options
	log   *slog.Logger
	stats stats
}

// NewServer returns a server that calls eng for the contract rules.
func NewServer(eng ContractEngine, opts Options) *Server {
	opts = opts.withDefaults()
	return &Server{eng: eng, opts: opts, log: opts.Logger}
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats {
	return Stats{
		PacksReceived: s.stats.packsReceived.Load(),
		PacksDropped:  s.stats.packsDropped.Load(),
		Duplicates:    s.stats.duplicates.Load(),
		Resends:       s.stats.resends.Load(),
		GaveUp:        s.stats.gaveUp.Load(),
		FrameErrors:   s.stats.frameErrors.Load(),
	}
}

// HandlePack runs the handlers on an out-of-band pack (POST /connect/control) from
// clientID and returns the serialized reply Pack, whose frames are the replies
// (CreateContractResult) in request order. Only the pack's frames are read; deployed
// clients set nothing else. err joins the failures of single frames (errors.Join); one
// failing frame does not stop the others, and the reply is valid whenever it is
// non-nil. A pack that cannot be decoded yields a nil reply and an error wrapping
// ErrMalformedPack.
func (s *Server) HandlePack(ctx context.Context, clientID uuid.UUID, pack []byte) ([]byte, error) {
	if len(pack) > s.opts.MaxMessageSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d",
			ErrMalformedPack, len(pack), s.opts.MaxMessageSize)
	}
	var p pb.Pack
	if err := proto.Unmarshal(pack, &p); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedPack, err)
	}
	if len(p.Frames) > s.opts.MaxFrames {
		return nil, fmt.Errorf("%w: %d frames, limit %d",
			ErrMalformedPack, len(p.Frames), s.opts.MaxFrames)
	}

	replies, err := s.handleFrames(ctx, clientID, p.Frames)

	reply, merr := proto.Marshal(&pb.Pack{Frames: replies})
	if merr != nil {
		return nil, errors.Join(err, fmt.Errorf("marshal reply: %w", merr))
	}
	return reply, err
}

// handleFrames runs each frame's handler in order and collects the replies and the
// failures, each prefixed with the frame's index and type.
func (s *Server) handleFrames(
	ctx context.Context, clientID uuid.UUID, frames []*pb.Frame,
) ([]*pb.Frame, error) {
	var replies []*pb.Frame
	var errs []error
	for i, f := range frames {
		reply, err := s.handleFrame(ctx, clientID, f)
		if reply != nil {
			replies = append(replies, reply)
		}
		if err != nil {
			s.stats.frameErrors.Add(1)
			errs = append(errs, fmt.Errorf("frame %d (%v): %w", i, f.GetMessageType(), err))
		}
	}
	return replies, errors.Join(errs...)
}

// handleFrame dispatches one frame. Types without a handler (pings, acks, messages for
// clients) are accepted and ignored so that a new client message never breaks a
// sequence.
func (s *Server) handleFrame(
	ctx context.Context, clientID uuid.UUID, f *pb.Frame,
) (*pb.Frame, error) {
	b := f.GetMessageBytes()
	switch f.GetMessageType() {
	case pb.MessageType_TransferProvide:
		return nil, s.provide(ctx, clientID, b)
	case pb.MessageType_TransferCreateContract:
		return s.createContract(ctx, clientID, b)
	case pb.MessageType_TransferCloseContract:
		return nil, s.closeContract(ctx, clientID, b)
	case pb.MessageType_TransferPeerAudit:
		return nil, s.peerAudit(ctx, clientID, b)
	default:
		return nil, nil
	}
}

// Provide secrets outside these bounds are refused: a shorter key is guessable and
// makes contracts forgeable, and HMAC-SHA256 hashes a longer key down anyway. Deployed
// clients send 32 bytes.
const (
	minSecretSize = 16
	maxSecretSize = 64
)

func (s *Server) provide(ctx context.Context, clientID uuid.UUID, b []byte) error {
	var msg pb.Provide
	if err := proto.Unmarshal(b, &msg); err != nil {
		return fmt.Errorf("provide: decode: %w", err)
	}
	keys := make(map[engine.ProvideMode][]byte, len(msg.Keys))
	for _, k := range msg.Keys {
		mode, ok := provideMode(k.GetMode())
		if !ok {
			// A mode from a newer client, or None: nothing to provide under it.
			continue
		}
		secret := k.GetProvideSecretKey()
		if len(secret) < minSecretSize || len(secret) > maxSecretSize {
			return fmt.Errorf("provide: %v secret has %d bytes, want %d to %d",
				k.GetMode(), len(secret), minSecretSize, maxSecretSize)
		}
		keys[mode] = secret
	}
	if err := s.eng.Provide(ctx, clientID, keys); err != nil {
		return fmt.Errorf("provide: %w", err)
	}
	return nil
}

// provideMode maps a wire mode to the engine's; None and unknown modes map to false.
func provideMode(m pb.ProvideMode) (engine.ProvideMode, bool) {
	switch m {
	case pb.ProvideMode_Network, pb.ProvideMode_FriendsAndFamily, pb.ProvideMode_Public,
		pb.ProvideMode_Stream, pb.ProvideMode_PublicStream:
		return engine.ProvideMode(m), true
	default:
		return 0, false
	}
}

// createContract always answers with a CreateContractResult frame, so that the client
// learns the outcome. Refusals by the contract rules are outcomes, not failures; every
// other error is reported as Setup to the client and returned.
func (s *Server) createContract(
	ctx context.Context, clientID uuid.UUID, b []byte,
) (*pb.Frame, error) {
	var req pb.CreateContract
	if err := proto.Unmarshal(b, &req); err != nil {
		return s.contractResult(refused(nil, pb.ContractError_Setup),
			fmt.Errorf("create contract: decode: %w", err))
	}
	dst := req.GetDestinationId()
	if len(dst) != 16 {
		return s.contractResult(refused(&req, pb.ContractError_Setup),
			fmt.Errorf("create contract: destination_id has %d bytes, want 16", len(dst)))
	}

	grant, err := s.eng.CreateContract(ctx, engine.ContractRequest{
		Source:            clientID,
		Destination:       uuid.UUID(dst),
		TransferByteCount: req.GetTransferByteCount(),
		Companion:         req.GetCompanion(),
	})
	switch {
	case errors.Is(err, engine.ErrNoPermission):
		return s.contractResult(refused(&req, pb.ContractError_NoPermission), nil)
	case errors.Is(err, engine.ErrInsufficientBalance):
		return s.contractResult(refused(&req, pb.ContractError_InsufficientBalance), nil)
	case err != nil:
		return s.contractResult(refused(&req, pb.ContractError_Setup),
			fmt.Errorf("create contract: %w", err))
	}

	contract, err := s.signGrant(grant)
	if err != nil {
		return s.contractResult(refused(&req, pb.ContractError_Setup),
			fmt.Errorf("create contract: %w", err))
	}
	return s.contractResult(&pb.CreateContractResult{Contract: contract, CreateContract: &req}, nil)
}

func refused(req *pb.CreateContract, e pb.ContractError) *pb.CreateContractResult {
	return &pb.CreateContractResult{Error: &e, CreateContract: req}
}

// contractResult wraps a result in its frame and passes err through.
func (s *Server) contractResult(res *pb.CreateContractResult, err error) (*pb.Frame, error) {
	b, merr := proto.Marshal(res)
	if merr != nil {
		return nil, errors.Join(err, fmt.Errorf("create contract: marshal result: %w", merr))
	}
	return &pb.Frame{MessageType: pb.MessageType_TransferCreateContractResult, MessageBytes: b}, err
}

// signGrant serializes a granted contract and signs it with the destination's secret.
func (s *Server) signGrant(g engine.ContractGrant) (*pb.Contract, error) {
	if len(g.Secret) == 0 {
		return nil, errors.New("grant has no provide secret")
	}
	stored, err := proto.Marshal(&pb.StoredContract{
		ContractId:        g.ContractID[:],
		TransferByteCount: g.TransferByteCount,
		SourceId:          g.Source[:],
		DestinationId:     g.Destination[:],
	})
	if err != nil {
		return nil, fmt.Errorf("marshal stored contract: %w", err)
	}
	return &pb.Contract{
		StoredContractBytes: stored,
		StoredContractHmac:  s.opts.HMAC.Sign(g.Secret, stored),
		ProvideMode:         pb.ProvideMode(g.Mode),
	}, nil
}

func (s *Server) closeContract(ctx context.Context, clientID uuid.UUID, b []byte) error {
	var msg pb.CloseContract
	if err := proto.Unmarshal(b, &msg); err != nil {
		return fmt.Errorf("close contract: decode: %w", err)
	}
	id := msg.GetContractId()
	if len(id) != 16 {
		return fmt.Errorf("close contract: contract_id has %d bytes, want 16", len(id))
	}
	err := s.eng.CloseContract(ctx, engine.ContractClose{
		ClientID:         clientID,
		ContractID:       uuid.UUID(id),
		AckedByteCount:   msg.GetAckedByteCount(),
		UnackedByteCount: msg.GetUnackedByteCount(),
		Checkpoint:       msg.GetCheckpoint(),
	})
	if err != nil {
		return fmt.Errorf("close contract: %w", err)
	}
	return nil
}

// Counter names of an engine.PeerAudit, the wire field names.
const (
	AuditBadContractCount    = "bad_contract_count"
	AuditDiscardedByteCount  = "discarded_byte_count"
	AuditDiscardedCount      = "discarded_count"
	AuditBadMessageByteCount = "bad_message_byte_count"
	AuditBadMessageCount     = "bad_message_count"
	AuditSendByteCount       = "send_byte_count"
	AuditSendCount           = "send_count"
	AuditResendByteCount     = "resend_byte_count"
	AuditResendCount         = "resend_count"
)

// maxAuditSeconds keeps a reported duration within time.Duration.
const maxAuditSeconds = uint64(1<<63-1) / uint64(time.Second)

func (s *Server) peerAudit(ctx context.Context, clientID uuid.UUID, b []byte) error {
	var msg pb.PeerAudit
	if err := proto.Unmarshal(b, &msg); err != nil {
		return fmt.Errorf("peer audit: decode: %w", err)
	}
	id := msg.GetPeerId()
	if len(id) != 16 {
		return fmt.Errorf("peer audit: peer_id has %d bytes, want 16", len(id))
	}
	counters := make(map[string]uint64, 9)
	counters[AuditBadContractCount] = msg.GetBadContractCount()
	counters[AuditDiscardedByteCount] = msg.GetDiscardedByteCount()
	counters[AuditDiscardedCount] = msg.GetDiscardedCount()
	counters[AuditBadMessageByteCount] = msg.GetBadMessageByteCount()
	counters[AuditBadMessageCount] = msg.GetBadMessageCount()
	counters[AuditSendByteCount] = msg.GetSendByteCount()
	counters[AuditSendCount] = msg.GetSendCount()
	counters[AuditResendByteCount] = msg.GetResendByteCount()
	counters[AuditResendCount] = msg.GetResendCount()

	err := s.eng.PeerAudit(ctx, engine.PeerAudit{
		ClientID: clientID,
		PeerID:   uuid.UUID(id),
		Duration: time.Duration(min(msg.GetDuration(), maxAuditSeconds)) * time.Second,
		Abuse:    msg.GetAbuse(),
		Counters: counters,
	})
	if err != nil {
		return fmt.Errorf("peer audit: %w", err)
	}
	return nil
}
