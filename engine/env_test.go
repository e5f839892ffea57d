package engine

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/byplatform/byplatform/geoip"
	"github.com/byplatform/byplatform/internal/testclock"
	"github.com/byplatform/byplatform/notify"
	"github.com/byplatform/byplatform/store"
	"github.com/byplatform/byplatform/token"
)

// testClock is the engine's clock in tests: fixed until a test moves it.
type testClock = testclock.Clock

func newTestClock() *testClock { return testclock.New() }

// envOptions change the defaults of newTestEnv.
type envOptions struct {
	presence  Presence
	locator   *geoip.Locator
	keepalive time.Duration
}

// testEnv is a real engine over a real store, with the collaborators a test needs to
// open a second engine on the same store.
type testEnv struct {
	tb      testing.TB
	ctx     context.Context
	store   *store.Store
	eng     *Engine
	clock   *testClock
	codeKey []byte
	signer  *token.Signer
	sender  notify.Sender
	opts    envOptions
}

func newTestEnv(tb testing.TB, st *store.Store, o envOptions) *testEnv {
	tb.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	outbox, err := notify.NewOutbox(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	te := &testEnv{tb: tb, ctx: context.Background(), store: st, clock: newTestClock(),
		codeKey: randomBytes(32), signer: token.NewSigner(priv), sender: outbox, opts: o}
	te.eng = te.newEngine(te.codeKey)
	return te
}

// newEngine starts another engine on the env's store, closed when the test ends.
func (te *testEnv) newEngine(codeKey []byte) *Engine {
	te.tb.Helper()
	cfg := Config{Store: te.store, Signer: te.signer, Sender: te.sender, CodeKey: codeKey,
		Presence: te.opts.presence, Locator: te.opts.locator,
		KeepaliveInterval: te.opts.keepalive, Now: te.clock.Now}
	e, err := New(te.ctx, cfg)
	if err != nil {
		te.tb.Fatal(err)
	}
	te.tb.Cleanup(e.Close)
	return e
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// network creates a network with a unique valid name.
func (te *testEnv) network() store.Network {
	te.tb.Helper()
	id := uuid.New()
	n := store.Network{ID: id, Name: "net" + fmt.Sprintf("%x", id[:6]), AdminUserID: uuid.New(),
		CreateTime: te.clock.Now()}
	te.tx(func(tx *store.Tx) error { return tx.InsertNetwork(te.ctx, n) })
	return n
}

// client creates an active client, with its device, in the network.
func (te *testEnv) client(networkID uuid.UUID) uuid.UUID {
	te.tb.Helper()
	now := te.clock.Now()
	d := store.Device{ID: uuid.New(), NetworkID: networkID, Name: "device", CreateTime: now}
	c := store.Client{ID: uuid.New(), NetworkID: networkID, DeviceID: d.ID,
		Description: "test client", CreateTime: now, AuthTime: now, Active: true}
	te.tx(func(tx *store.Tx) error {
		if err := tx.InsertDevice(te.ctx, d); err != nil {
			return err
		}
		return tx.InsertClient(te.ctx, c)
	})
	return c.ID
}

// balance inserts a transfer balance of n bytes valid from start to end.
func (te *testEnv) balance(networkID uuid.UUID, n int64, start, end time.Time) uuid.UUID {
	te.tb.Helper()
	b := store.Balance{ID: uuid.New(), NetworkID: networkID, StartTime: start, EndTime: end,
		StartBytes: n, Bytes: n, CreateTime: te.clock.Now()}
	te.tx(func(tx *store.Tx) error { return tx.InsertBalance(te.ctx, b) })
	return b.ID
}

// balances returns the bytes left in each of the network's balances.
func (te *testEnv) balances(networkID uuid.UUID) map[uuid.UUID]int64 {
	te.tb.Helper()
	bs, err := te.store.Balances(te.ctx, networkID)
	if err != nil {
		te.tb.Fatal(err)
	}
	out := make(map[uuid.UUID]int64, len(bs))
	for _, b := range bs {
		out[b.ID] = b.Bytes
	}
	return out
}

func (te *testEnv) earnings(networkID uuid.UUID) int64 {
	te.tb.Helper()
	n, err := te.store.NetworkEarnings(te.ctx, networkID)
	if err != nil {
		te.tb.Fatal(err)
	}
	return n
}

func (te *testEnv) contract(id uuid.UUID) store.Contract {
	te.tb.Helper()
	c, err := te.store.Contract(te.ctx, id)
	if err != nil {
		te.tb.Fatal(err)
	}
	return c
}

// escrow returns the escrow held for a contract, by balance.
func (te *testEnv) escrow(contractID uuid.UUID) map[uuid.UUID]int64 {
	te.tb.Helper()
	out := map[uuid.UUID]int64{}
	te.tx(func(tx *store.Tx) error {
		clear(out)
		es, err := tx.ContractEscrow(te.ctx, contractID)
		for _, e := range es {
			out[e.BalanceID] = e.Bytes
		}
		return err
	})
	return out
}

func (te *testEnv) tx(fn func(tx *store.Tx) error) {
	te.tb.Helper()
	if err := te.store.Tx(te.ctx, fn); err != nil {
		te.tb.Fatal(err)
	}
}

// provide makes the client a provider of the modes, each with a fresh 32-byte secret,
// and returns the secrets.
func (te *testEnv) provide(e *Engine, clientID uuid.UUID,
	modes ...ProvideMode) map[ProvideMode][]byte {
	te.tb.Helper()
	keys := make(map[ProvideMode][]byte, len(modes))
	for _, m := range modes {
		keys[m] = randomBytes(32)
	}
	if err := e.Provide(te.ctx, clientID, keys); err != nil {
		te.tb.Fatalf("Provide(%v): %v", modes, err)
	}
	return keys
}

// fakePresence is the transports' view of connections as the engine reads it: the
// connections a test opened, with a LastRead the test controls.
type fakePresence struct {
	mu           sync.Mutex
	conns        map[uuid.UUID][]Connection
	disconnected []uuid.UUID
}

func newFakePresence() *fakePresence {
	return &fakePresence{conns: map[uuid.UUID][]Connection{}}
}

func (p *fakePresence) Connections(clientID uuid.UUID) []Connection {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.conns[clientID])
}

func (p *fakePresence) Disconnect(clientID uuid.UUID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, clientID)
	p.disconnected = append(p.disconnected, clientID)
}

func (p *fakePresence) add(clientID uuid.UUID, c Connection) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conns[clientID] = append(p.conns[clientID], c)
}

func (p *fakePresence) remove(clientID, connID uuid.UUID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conns[clientID] = slices.DeleteFunc(p.conns[clientID], func(c Connection) bool {
		return c.ConnectionID == connID
	})
}

// heard sets the LastRead of every connection of the client.
func (p *fakePresence) heard(clientID uuid.UUID, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.conns[clientID] {
		p.conns[clientID][i].LastRead = at
	}
}

func (p *fakePresence) wasDisconnected(clientID uuid.UUID) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Contains(p.disconnected, clientID)
}

// connect opens a connection of the client from remote, as the transports report it:
// into the presence first, then to the engine.
func (te *testEnv) connect(p *fakePresence, auth ClientAuth, remote string) Connection {
	te.tb.Helper()
	now := te.clock.Now()
	c := Connection{ConnectionID: uuid.New(), InstanceID: uuid.New(), ConnectTime: now,
		Remote: netip.MustParseAddrPort(remote), Transport: "ws", LastRead: now}
	p.add(auth.ClientID, c)
	te.eng.Connected(auth, c)
	return c
}

func (te *testEnv) disconnect(p *fakePresence, auth ClientAuth, c Connection) {
	p.remove(auth.ClientID, c.ConnectionID)
	te.eng.Disconnected(auth, c)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(tb testing.TB, what string, d time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within %v", what, d)
		}
		<-tick.C
	}
}

// isUserErr reports whether err is a domain failure, not an internal one.
func isUserErr(err error) bool {
	var ue *UserError
	return errors.As(err, &ue)
}
