package control_test

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/google/uuid"

	"github.com/byplatform/byplatform/control"
	"github.com/byplatform/byplatform/engine"
)

// fakeEngine applies a small version of the contract rules in memory: a contract is
// Network between clients of one network, Stream for a companion, Public otherwise;
// the destination must have provided that mode; Public contracts take the bytes from
// the source network's balance.
type fakeEngine struct {
	mu       sync.Mutex
	keys     map[uuid.UUID]map[engine.ProvideMode][]byte
	network  map[uuid.UUID]uuid.UUID
	balance  map[uuid.UUID]uint64
	closes   []engine.ContractClose
	audits   []engine.PeerAudit
	creates  int
	failWith error // when set, CreateContract and CloseContract fail with it
	noSecret bool  // when set, grants come without a secret
}

func newFakeEngine() *fakeEngine {
	return &fakeEngine{
		keys:    make(map[uuid.UUID]map[engine.ProvideMode][]byte),
		network: make(map[uuid.UUID]uuid.UUID),
		balance: make(map[uuid.UUID]uint64),
	}
}

// addClient registers a client in a network and returns its id.
func (e *fakeEngine) addClient(network uuid.UUID) uuid.UUID {
	e.mu.Lock()
	defer e.mu.Unlock()
	id := uuid.New()
	e.network[id] = network
	return id
}

func (e *fakeEngine) setBalance(network uuid.UUID, n uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.balance[network] = n
}

func (e *fakeEngine) providedKeys(client uuid.UUID) map[engine.ProvideMode][]byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.keys[client]
}

func (e *fakeEngine) closed() []engine.ContractClose {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]engine.ContractClose(nil), e.closes...)
}

func (e *fakeEngine) audited() []engine.PeerAudit {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]engine.PeerAudit(nil), e.audits...)
}

func (e *fakeEngine) Provide(
	_ context.Context, client uuid.UUID, keys map[engine.ProvideMode][]byte,
) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.network[client]; !ok {
		return errors.New("unknown client")
	}
	e.keys[client] = keys
	return nil
}

func (e *fakeEngine) CreateContract(
	_ context.Context, req engine.ContractRequest,
) (engine.ContractGrant, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.creates++
	if e.failWith != nil {
		return engine.ContractGrant{}, e.failWith
	}
	srcNet, ok := e.network[req.Source]
	if !ok {
		return engine.ContractGrant{}, errors.New("unknown source")
	}
	mode := engine.ProvidePublic
	switch {
	case req.Companion:
		mode = engine.ProvideStream
	case e.network[req.Destination] == srcNet:
		mode = engine.ProvideNetwork
	}
	secret, ok := e.keys[req.Destination][mode]
	if !ok {
		return engine.ContractGrant{}, fmt.Errorf("destination mode %d: %w",
			mode, engine.ErrNoPermission)
	}
	if mode == engine.ProvidePublic {
		if e.balance[srcNet] < req.TransferByteCount {
			return engine.ContractGrant{}, fmt.Errorf("escrow: %w", engine.ErrInsufficientBalance)
		}
		e.balance[srcNet] -= req.TransferByteCount
	}
	if e.noSecret {
		secret = nil
	}
	return engine.ContractGrant{
		ContractID:        uuid.New(),
		Source:            req.Source,
		Destination:       req.Destination,
		TransferByteCount: req.TransferByteCount,
		Mode:              mode,
		Secret:            secret,
	}, nil
}

func (e *fakeEngine) CloseContract(_ context.Context, c engine.ContractClose) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.failWith != nil {
		return e.failWith
	}
	e.closes = append(e.closes, c)
	return nil
}

func (e *fakeEngine) PeerAudit(_ context.Context, a engine.PeerAudit) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.audits = append(e.audits, a)
	return nil
}

// The real engine serves the control path.
var _ control.ContractEngine = (*engine.Engine)(nil)
