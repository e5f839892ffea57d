package engine

import (
	"errors"
	"net/netip"
	"time"

	"github.com/google/uuid"
)

// ProvideMode is a way a provider offers its connection. Values follow the wire enum
// of the connect protocol: each mode includes the ones below it in the API's reading.
type ProvideMode int

// Provide modes as numbered on the wire.
const (
	ProvideNone             ProvideMode = 0
	ProvideNetwork          ProvideMode = 1
	ProvideFriendsAndFamily ProvideMode = 2
	ProvidePublic           ProvideMode = 3
	ProvideStream           ProvideMode = 4
	ProvidePublicStream     ProvideMode = 5
)

// ClientAuth is who an authenticated client JWT speaks for.
type ClientAuth struct {
	ClientID  uuid.UUID
	NetworkID uuid.UUID
	UserID    uuid.UUID
	SessionID uuid.UUID
}

// ContractRequest asks for a contract from Source to Destination.
type ContractRequest struct {
	Source            uuid.UUID
	Destination       uuid.UUID
	TransferByteCount uint64
	Companion         bool
}

// ContractGrant is a contract the engine created and persisted. The control package
// turns it into a StoredContract and signs it with Secret.
type ContractGrant struct {
	ContractID        uuid.UUID
	Source            uuid.UUID
	Destination       uuid.UUID
	TransferByteCount uint64
	Mode              ProvideMode
	// Secret is the destination's provide secret for Mode (32 bytes).
	Secret []byte
}

// ContractClose is one party's report that it is done with a contract.
type ContractClose struct {
	ClientID         uuid.UUID
	ContractID       uuid.UUID
	AckedByteCount   uint64
	UnackedByteCount uint64
	Checkpoint       bool
}

// PeerAudit is a client's report about a peer, stored as is.
type PeerAudit struct {
	ClientID uuid.UUID
	PeerID   uuid.UUID
	Duration time.Duration
	Abuse    bool
	Counters map[string]uint64
}

// Errors of the contract rules; the control path maps them to ContractError values.
var (
	ErrNoPermission        = errors.New("no permission")
	ErrInsufficientBalance = errors.New("insufficient balance")
)

// Connection describes one live transport connection of a client.
type Connection struct {
	ConnectionID uuid.UUID
	InstanceID   uuid.UUID
	ConnectTime  time.Time
	Remote       netip.AddrPort
	Transport    string // "ws" or "quic"
	// LastRead is when a message (a ping included) last arrived on the connection;
	// zero when the transport does not say.
	LastRead time.Time
}

// Presence is the live view of connected clients that the transports keep. The engine
// reads it for /network/clients and calls Disconnect when a client is removed.
// Implementations are safe for concurrent use and never block on I/O.
type Presence interface {
	// Connections returns the client's live connections, oldest first.
	Connections(clientID uuid.UUID) []Connection
	// Disconnect closes every connection of the client at once.
	Disconnect(clientID uuid.UUID)
}
