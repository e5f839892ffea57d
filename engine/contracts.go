package engine

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/byplatform/byplatform/store"
)

// Contract rules.
const (
	// maxContractBytes bounds one contract's transfer_byte_count (1 TiB).
	maxContractBytes = 1 << 40
	// maxSettleDifference is how far the parties' closing counts may differ for a
	// contract to settle; past it the contract is disputed.
	maxSettleDifference = 32 << 20
	minSecretLen        = 16
	maxSecretLen        = 64
)

// ErrUnknownContract is returned when a client closes a contract that does not exist
// or that it is not a party to.
var ErrUnknownContract = &UserError{Msg: "Unknown contract."}

// provideKeys caches each provider's secrets in memory; the store holds them sealed.
type provideKeys struct {
	mu   sync.RWMutex
	keys map[uuid.UUID]map[ProvideMode][]byte
}

// Provide replaces the client's provide keys: the client becomes a provider for the
// modes it names, and for no others. Modes are a set; a secret is 16 to 64 bytes.
func (e *Engine) Provide(ctx context.Context, clientID uuid.UUID,
	keys map[ProvideMode][]byte) error {
	sealed := make([]store.ProvideKey, 0, len(keys))
	top := ProvideNone
	for mode, secret := range keys {
		if mode <= ProvideNone || mode > ProvidePublicStream {
			return &UserError{Msg: fmt.Sprintf("Unknown provide mode %d.", mode)}
		}
		if len(secret) < minSecretLen || len(secret) > maxSecretLen {
			return &UserError{Msg: "A provide secret must have 16 to 64 bytes."}
		}
		box, err := e.seal(clientID, mode, secret)
		if err != nil {
			return err
		}
		sealed = append(sealed, store.ProvideKey{Mode: int(mode), Sealed: box})
		if mode <= ProvidePublic {
			top = max(top, mode)
		}
	}
	if top == ProvideNone && len(keys) > 0 {
		top = ProvideStream
	}
	err := e.store.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.SetProvideKeys(ctx, clientID, sealed); err != nil {
			return err
		}
		return tx.SetClientProvideMode(ctx, clientID, int(top))
	})
	if errors.Is(err, store.ErrNotFound) {
		return ErrInvalidClient
	}
	if err != nil {
		return fmt.Errorf("provide: %w", err)
	}
	copied := make(map[ProvideMode][]byte, len(keys))
	for m, s := range keys {
		copied[m] = append([]byte(nil), s...)
	}
	e.provide.mu.Lock()
	e.provide.keys[clientID] = copied
	e.provide.mu.Unlock()
	e.providerChanged(ctx, clientID)
	return nil
}

// providerKeys returns the client's provide keys, from memory or the store.
func (e *Engine) providerKeys(ctx context.Context, clientID uuid.UUID) (
	map[ProvideMode][]byte, error) {
	e.provide.mu.RLock()
	keys, ok := e.provide.keys[clientID]
	e.provide.mu.RUnlock()
	if ok {
		return keys, nil
	}
	stored, err := e.store.ProvideKeys(ctx, clientID)
	if err != nil {
		return nil, err
	}
	keys = make(map[ProvideMode][]byte, len(stored))
	for _, k := range stored {
		secret, err := e.open(clientID, ProvideMode(k.Mode), k.Sealed)
		if err != nil {
			return nil, fmt.Errorf("provide key of %s: %w", clientID, err)
		}
		keys[ProvideMode(k.Mode)] = secret
	}
	e.provide.mu.Lock()
	defer e.provide.mu.Unlock()
	// A Provide that finished while the store was read holds newer keys: keep them.
	if newer, ok := e.provide.keys[clientID]; ok {
		return newer, nil
	}
	e.provide.keys[clientID] = keys
	return keys, nil
}

// forgetProvider drops a removed client's keys from memory.
func (e *Engine) forgetProvider(clientID uuid.UUID) {
	e.provide.mu.Lock()
	delete(e.provide.keys, clientID)
	e.provide.mu.Unlock()
}

// contractMode picks the mode of a contract and the destination's secret for it. The
// relationship decides the mode: Network inside one network, Public otherwise, Stream
// for a companion. A provider of a wider mode also serves the narrower ones (Public
// includes FriendsAndFamily includes Network), and the contract then carries the
// wider mode, whose secret signs it.
func contractMode(keys map[ProvideMode][]byte, rel ProvideMode) (ProvideMode, []byte, bool) {
	if secret, ok := keys[rel]; ok {
		return rel, secret, true
	}
	if rel > ProvidePublic {
		return ProvideNone, nil, false
	}
	for m := rel + 1; m <= ProvidePublic; m++ {
		if secret, ok := keys[m]; ok {
			return m, secret, true
		}
	}
	return ProvideNone, nil, false
}

// CreateContract applies the contract rules to a request from req.Source to send to
// req.Destination and persists the contract. Refusals wrap ErrNoPermission or
// ErrInsufficientBalance. Public contracts escrow TransferByteCount bytes from the
// source network's balances, earliest ending first; Network and companion contracts
// escrow nothing.
func (e *Engine) CreateContract(ctx context.Context, req ContractRequest) (ContractGrant,
	error) {
	if req.TransferByteCount == 0 || req.TransferByteCount > maxContractBytes {
		return ContractGrant{}, &UserError{Msg: "Transfer byte count must be 1 byte to 1 TiB."}
	}
	if req.Source == req.Destination {
		return ContractGrant{}, fmt.Errorf("%w: contract with itself", ErrNoPermission)
	}
	src, err := e.activeClient(ctx, req.Source)
	if err != nil {
		return ContractGrant{}, err
	}
	dst, err := e.activeClient(ctx, req.Destination)
	if err != nil {
		return ContractGrant{}, err
	}
	rel := ProvidePublic
	if src.NetworkID == dst.NetworkID {
		rel = ProvideNetwork
	}
	if req.Companion {
		rel = ProvideStream
	}
	keys, err := e.providerKeys(ctx, dst.ID)
	if err != nil {
		return ContractGrant{}, err
	}
	mode, secret, ok := contractMode(keys, rel)
	if !ok {
		return ContractGrant{}, fmt.Errorf("%w: destination does not provide mode %d",
			ErrNoPermission, rel)
	}
	c := store.Contract{ID: uuid.New(), SourceNetworkID: src.NetworkID, SourceID: src.ID,
		DestinationNetworkID: dst.NetworkID, DestinationID: dst.ID,
		TransferBytes: int64(req.TransferByteCount), ProvideMode: int(mode),
		Escrowed: rel == ProvidePublic, CreateTime: e.now()}
	err = e.store.Tx(ctx, func(tx *store.Tx) error {
		var escrow []store.Escrow
		if c.Escrowed {
			var err error
			if escrow, err = takeEscrow(ctx, tx, c.SourceNetworkID, c.TransferBytes,
				c.CreateTime); err != nil {
				return err
			}
		}
		return tx.InsertContract(ctx, c, escrow)
	})
	if err != nil {
		return ContractGrant{}, err
	}
	e.metrics.contracts.Add(1)
	return ContractGrant{ContractID: c.ID, Source: src.ID, Destination: dst.ID,
		TransferByteCount: req.TransferByteCount, Mode: mode, Secret: secret}, nil
}

// takeEscrow takes n bytes from the network's balances, earliest ending first.
func takeEscrow(ctx context.Context, tx *store.Tx, networkID uuid.UUID, n int64,
	now time.Time) ([]store.Escrow, error) {
	balances, err := tx.ActiveBalances(ctx, networkID, now)
	if err != nil {
		return nil, err
	}
	var escrow []store.Escrow
	need := n
	for _, b := range balances {
		if need == 0 {
			break
		}
		take := min(b.Bytes, need)
		escrow = append(escrow, store.Escrow{BalanceID: b.ID, Bytes: take})
		need -= take
	}
	if need > 0 {
		return nil, fmt.Errorf("%w: %d bytes short", ErrInsufficientBalance, need)
	}
	for _, es := range escrow {
		if err := tx.AddBalanceBytes(ctx, es.BalanceID, -es.Bytes); err != nil {
			return nil, err
		}
	}
	return escrow, nil
}

func (e *Engine) activeClient(ctx context.Context, id uuid.UUID) (store.Client, error) {
	c, err := e.store.Client(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !c.Active) {
		return c, fmt.Errorf("%w: client %s is not active", ErrNoPermission, id)
	}
	return c, err
}

// CloseContract records one party's closing count. When both parties have closed and
// their counts differ by at most 32 MiB the contract settles: the smaller count is the
// used bytes (neither party pays for bytes the other did not confirm), charged to the
// escrow, the rest of the escrow returns to its balances, and the provider's network is
// credited. Otherwise the contract is disputed and its escrow stays held. A checkpoint
// close reports progress only and settles nothing. Closing a settled or disputed
// contract again changes nothing.
func (e *Engine) CloseContract(ctx context.Context, cl ContractClose) error {
	acked := int64(min(cl.AckedByteCount, maxContractBytes))
	now := e.now()
	var outcome string
	var destination uuid.UUID
	err := e.store.Tx(ctx, func(tx *store.Tx) error {
		outcome = ""
		c, err := tx.Contract(ctx, cl.ContractID)
		if errors.Is(err, store.ErrNotFound) {
			return ErrUnknownContract
		}
		if err != nil {
			return err
		}
		destination = c.DestinationID
		isSource := cl.ClientID == c.SourceID
		if !isSource && cl.ClientID != c.DestinationID {
			return ErrUnknownContract
		}
		if c.Status != store.ContractOpen || cl.Checkpoint {
			return nil
		}
		if err := tx.SetContractAcked(ctx, c.ID, isSource, acked); err != nil {
			return err
		}
		if isSource {
			c.SourceAcked = acked
		} else {
			c.DestinationAcked = acked
		}
		if c.SourceAcked < 0 || c.DestinationAcked < 0 {
			return nil
		}
		outcome, err = settle(ctx, tx, c, now)
		return err
	})
	if err == nil && outcome != "" {
		e.log.Debug("contract closed", "contract_id", cl.ContractID, "status", outcome)
		if outcome == store.ContractDisputed {
			e.metrics.disputed.Add(1)
			e.contractFailed(destination)
		}
	}
	return err
}

func settle(ctx context.Context, tx *store.Tx, c store.Contract, now time.Time) (string,
	error) {
	diff := c.SourceAcked - c.DestinationAcked
	if diff < 0 {
		diff = -diff
	}
	if diff > maxSettleDifference {
		return store.ContractDisputed, tx.FinishContract(ctx, c.ID, store.ContractDisputed, 0,
			now)
	}
	used := min(c.SourceAcked, c.DestinationAcked, c.TransferBytes)
	if c.Escrowed {
		escrow, err := tx.ContractEscrow(ctx, c.ID)
		if err != nil {
			return "", err
		}
		charge := used
		for _, es := range escrow {
			take := min(es.Bytes, charge)
			charge -= take
			if refund := es.Bytes - take; refund > 0 {
				if err := tx.AddBalanceBytes(ctx, es.BalanceID, refund); err != nil {
					return "", err
				}
			}
		}
		if err := tx.InsertEarning(ctx, c.ID, c.DestinationNetworkID, used, now); err != nil {
			return "", err
		}
	}
	return store.ContractSettled, tx.FinishContract(ctx, c.ID, store.ContractSettled, used,
		now)
}

// PeerAudit stores a client's report about a peer.
func (e *Engine) PeerAudit(ctx context.Context, a PeerAudit) error {
	counters, err := json.Marshal(a.Counters)
	if err != nil {
		return err
	}
	return e.store.Tx(ctx, func(tx *store.Tx) error {
		return tx.InsertPeerAudit(ctx, store.PeerAuditRecord{ClientID: a.ClientID,
			PeerID: a.PeerID, DurationSeconds: int64(a.Duration / time.Second),
			Abuse: a.Abuse, Counters: string(counters), CreateTime: e.now()})
	})
}

// AddBalance gives a network a transfer balance of n bytes valid for d from now. It
// stands in for purchases and subscriptions until those exist.
func (e *Engine) AddBalance(ctx context.Context, networkName string, n int64,
	d time.Duration) (store.Balance, error) {
	if n <= 0 || d <= 0 {
		return store.Balance{}, &UserError{Msg: "Bytes and duration must be positive."}
	}
	net, err := e.store.NetworkByName(ctx, networkName)
	if errors.Is(err, store.ErrNotFound) {
		return store.Balance{}, &UserError{Msg: "Unknown network " + networkName + "."}
	}
	if err != nil {
		return store.Balance{}, err
	}
	now := e.now()
	b := store.Balance{ID: uuid.New(), NetworkID: net.ID, StartTime: now,
		EndTime: now.Add(d), StartBytes: n, Bytes: n, CreateTime: now}
	return b, e.store.Tx(ctx, func(tx *store.Tx) error { return tx.InsertBalance(ctx, b) })
}

// seal encrypts a provide secret for storage with AES-256-GCM under a key derived from
// the code key, bound to its client and mode.
func (e *Engine) seal(clientID uuid.UUID, mode ProvideMode, secret []byte) ([]byte, error) {
	aead, err := e.sealer()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(secret)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, secret, sealAD(clientID, mode)), nil
}

func (e *Engine) open(clientID uuid.UUID, mode ProvideMode, box []byte) ([]byte, error) {
	aead, err := e.sealer()
	if err != nil {
		return nil, err
	}
	if len(box) < aead.NonceSize() {
		return nil, errors.New("sealed secret too short")
	}
	n := aead.NonceSize()
	return aead.Open(nil, box[:n], box[n:], sealAD(clientID, mode))
}

func (e *Engine) sealer() (cipher.AEAD, error) {
	m := hmac.New(sha256.New, e.cfg.CodeKey)
	m.Write([]byte("byplatform provide-key seal v1"))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func sealAD(clientID uuid.UUID, mode ProvideMode) []byte {
	ad := make([]byte, 16, 24)
	copy(ad, clientID[:])
	return binary.BigEndian.AppendUint64(ad, uint64(mode))
}
