package engine

import (
	"bytes"
	"errors"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/byplatform/byplatform/store"
	"github.com/byplatform/byplatform/store/storetest"
)

// unit scales the byte counts of the contract tests: balances and contracts of tens of
// MiB, so that the 32 MiB settle rule is in range.
const (
	unit = 1 << 20
	day  = 24 * time.Hour
)

// publicPair is a source client and a provider of another network that provides
// Public, with the provider's secrets.
type publicPair struct {
	srcNet, dstNet store.Network
	src, dst       uuid.UUID
	keys           map[ProvideMode][]byte
}

func (te *testEnv) publicPair() publicPair {
	te.tb.Helper()
	p := publicPair{srcNet: te.network(), dstNet: te.network()}
	p.src, p.dst = te.client(p.srcNet.ID), te.client(p.dstNet.ID)
	p.keys = te.provide(te.eng, p.dst, ProvidePublic)
	return p
}

// threeBalances gives the network balances of 10, 20 and 30 units ending in one, two
// and three days, and returns their ids in that order.
func (te *testEnv) threeBalances(networkID uuid.UUID) [3]uuid.UUID {
	now := te.clock.Now()
	// Inserted out of order, so that the order of escrow is the store's doing.
	b3 := te.balance(networkID, 30*unit, now.Add(-time.Hour), now.Add(3*day))
	b1 := te.balance(networkID, 10*unit, now.Add(-time.Hour), now.Add(1*day))
	b2 := te.balance(networkID, 20*unit, now.Add(-time.Hour), now.Add(2*day))
	return [3]uuid.UUID{b1, b2, b3}
}

func (te *testEnv) create(req ContractRequest) ContractGrant {
	te.tb.Helper()
	g, err := te.eng.CreateContract(te.ctx, req)
	if err != nil {
		te.tb.Fatalf("CreateContract(%+v): %v", req, err)
	}
	return g
}

func (te *testEnv) close(client, contract uuid.UUID, acked uint64) {
	te.tb.Helper()
	err := te.eng.CloseContract(te.ctx, ContractClose{ClientID: client, ContractID: contract,
		AckedByteCount: acked})
	if err != nil {
		te.tb.Fatalf("CloseContract by %s with %d: %v", client, acked, err)
	}
}

func wantBalances(t *testing.T, got map[uuid.UUID]int64, want map[uuid.UUID]int64) {
	t.Helper()
	if !maps.Equal(got, want) {
		t.Fatalf("balances = %v, want %v", got, want)
	}
}

// contractCases are the contract rules, each run on a shared environment per driver.
var contractCases = []struct {
	name string
	run  func(*testing.T, *testEnv)
}{
	{"network contract escrows and earns nothing", testNetworkContract},
	{"public contract escrows earliest ending balances first", testEscrowOrder},
	{"insufficient balance leaves every balance untouched", testInsufficientBalance},
	{"settle charges the smaller count and refunds the rest", testSettle},
	{"settle charges at most the transfer byte count", testSettleCap},
	{"counts more than 32 MiB apart dispute the contract", testDispute},
	{"counts exactly 32 MiB apart settle", testSettleAtLimit},
	{"only a party may close", testCloseByNonParty},
	{"checkpoint closes settle nothing", testCheckpoint},
	{"no permission", testNoPermission},
	{"a wider mode serves a narrower relationship", testWiderMode},
	{"a companion needs stream mode", testCompanion},
	{"transfer byte count is bounded", testTransferBounds},
	{"provide validates modes and secrets", testProvideValidation},
	{"provide keys survive a restart sealed", testProvideKeysPersist},
	{"add balance", testAddBalance},
	{"peer audits are stored", testPeerAudit},
	{"concurrent contracts never overdraw a balance", testConcurrentEscrow},
	{"concurrent closes settle every contract once", testConcurrentSettle},
}

func TestContracts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		te := newTestEnv(t, st, envOptions{})
		for _, c := range contractCases {
			t.Run(c.name, func(t *testing.T) { c.run(t, te) })
		}
	})
}

func testNetworkContract(t *testing.T, te *testEnv) {
	net := te.network()
	src, dst := te.client(net.ID), te.client(net.ID)
	keys := te.provide(te.eng, dst, ProvideNetwork)
	b := te.balance(net.ID, 10*unit, te.clock.Now().Add(-time.Hour), te.clock.Now().Add(day))

	g := te.create(ContractRequest{Source: src, Destination: dst, TransferByteCount: 8 * unit})
	if g.Mode != ProvideNetwork || !bytes.Equal(g.Secret, keys[ProvideNetwork]) ||
		g.Source != src || g.Destination != dst || g.TransferByteCount != 8*unit {
		t.Fatalf("grant = %+v", g)
	}
	c := te.contract(g.ContractID)
	if c.Escrowed || c.Status != store.ContractOpen || c.ProvideMode != int(ProvideNetwork) {
		t.Fatalf("stored contract = %+v", c)
	}
	if esc := te.escrow(g.ContractID); len(esc) != 0 {
		t.Fatalf("network contract holds escrow %v", esc)
	}
	te.close(src, g.ContractID, 5*unit)
	te.close(dst, g.ContractID, 6*unit)
	c = te.contract(g.ContractID)
	if c.Status != store.ContractSettled || c.UsedBytes != 5*unit {
		t.Fatalf("after both closes: status %s, used %d", c.Status, c.UsedBytes)
	}
	wantBalances(t, te.balances(net.ID), map[uuid.UUID]int64{b: 10 * unit})
	if n := te.earnings(net.ID); n != 0 {
		t.Fatalf("network contract earned %d bytes", n)
	}
}

func testEscrowOrder(t *testing.T, te *testEnv) {
	p := te.publicPair()
	now := te.clock.Now()
	bs := te.threeBalances(p.srcNet.ID)
	// Both would come first in end order if they were not out of their time.
	expired := te.balance(p.srcNet.ID, 100*unit, now.Add(-2*day), now.Add(-time.Second))
	future := te.balance(p.srcNet.ID, 100*unit, now.Add(time.Hour), now.Add(12*time.Hour))
	// An empty balance is passed over too.
	empty := te.balance(p.srcNet.ID, 0, now.Add(-time.Hour), now.Add(time.Hour))

	g := te.create(ContractRequest{Source: p.src, Destination: p.dst,
		TransferByteCount: 25 * unit})
	if g.Mode != ProvidePublic || !bytes.Equal(g.Secret, p.keys[ProvidePublic]) {
		t.Fatalf("grant mode %d, secret matches: %v", g.Mode,
			bytes.Equal(g.Secret, p.keys[ProvidePublic]))
	}
	if c := te.contract(g.ContractID); !c.Escrowed || c.TransferBytes != 25*unit {
		t.Fatalf("stored contract = %+v", c)
	}
	wantBalances(t, te.escrow(g.ContractID), map[uuid.UUID]int64{bs[0]: 10 * unit,
		bs[1]: 15 * unit})
	wantBalances(t, te.balances(p.srcNet.ID), map[uuid.UUID]int64{bs[0]: 0, bs[1]: 5 * unit,
		bs[2]: 30 * unit, expired: 100 * unit, future: 100 * unit, empty: 0})

	// The next contract starts where the first left off.
	g2 := te.create(ContractRequest{Source: p.src, Destination: p.dst,
		TransferByteCount: 7 * unit})
	wantBalances(t, te.escrow(g2.ContractID), map[uuid.UUID]int64{bs[1]: 5 * unit,
		bs[2]: 2 * unit})
	if b := te.balances(p.dstNet.ID); len(b) != 0 {
		t.Fatalf("provider network has balances %v", b)
	}
}

func testInsufficientBalance(t *testing.T, te *testEnv) {
	p := te.publicPair()
	bs := te.threeBalances(p.srcNet.ID)
	now := te.clock.Now()
	te.balance(p.srcNet.ID, 100*unit, now.Add(-2*day), now.Add(-time.Second))
	before := te.balances(p.srcNet.ID)

	_, err := te.eng.CreateContract(te.ctx, ContractRequest{Source: p.src, Destination: p.dst,
		TransferByteCount: 60*unit + 1})
	if !errors.Is(err, ErrInsufficientBalance) {
		t.Fatalf("CreateContract over the balance: %v, want ErrInsufficientBalance", err)
	}
	wantBalances(t, te.balances(p.srcNet.ID), before)

	// All of it can be had, to the byte.
	g := te.create(ContractRequest{Source: p.src, Destination: p.dst,
		TransferByteCount: 60 * unit})
	wantBalances(t, te.escrow(g.ContractID), map[uuid.UUID]int64{bs[0]: 10 * unit,
		bs[1]: 20 * unit, bs[2]: 30 * unit})
	_, err = te.eng.CreateContract(te.ctx, ContractRequest{Source: p.src, Destination: p.dst,
		TransferByteCount: 1})
	if !errors.Is(err, ErrInsufficientBalance) {
		t.Fatalf("CreateContract on an empty balance: %v, want ErrInsufficientBalance", err)
	}

	// A network without any balance.
	q := te.publicPair()
	_, err = te.eng.CreateContract(te.ctx, ContractRequest{Source: q.src, Destination: q.dst,
		TransferByteCount: 1})
	if !errors.Is(err, ErrInsufficientBalance) {
		t.Fatalf("CreateContract without balances: %v, want ErrInsufficientBalance", err)
	}
}

func testSettle(t *testing.T, te *testEnv) {
	p := te.publicPair()
	bs := te.threeBalances(p.srcNet.ID)
	g := te.create(ContractRequest{Source: p.src, Destination: p.dst,
		TransferByteCount: 25 * unit})

	te.close(p.dst, g.ContractID, 13*unit)
	if c := te.contract(g.ContractID); c.Status != store.ContractOpen ||
		c.DestinationAcked != 13*unit || c.SourceAcked != -1 {
		t.Fatalf("after one close: %+v", c)
	}
	te.close(p.src, g.ContractID, 12*unit)

	c := te.contract(g.ContractID)
	if c.Status != store.ContractSettled || c.UsedBytes != 12*unit || c.CloseTime.IsZero() {
		t.Fatalf("after both closes: %+v", c)
	}
	// 12 used: 10 from the first balance, 2 from the second, 13 back to the second.
	wantBalances(t, te.balances(p.srcNet.ID), map[uuid.UUID]int64{bs[0]: 0, bs[1]: 18 * unit,
		bs[2]: 30 * unit})
	if got := te.earnings(p.dstNet.ID); got != 12*unit {
		t.Fatalf("provider network earned %d, want %d", got, 12*unit)
	}
	if got := te.earnings(p.srcNet.ID); got != 0 {
		t.Fatalf("source network earned %d", got)
	}

	// Closing again, by either party and with any count, changes nothing.
	before := te.balances(p.srcNet.ID)
	te.close(p.src, g.ContractID, 25*unit)
	te.close(p.dst, g.ContractID, 0)
	if c2 := te.contract(g.ContractID); c2 != c {
		t.Fatalf("closing a settled contract changed it:\n%+v\n%+v", c, c2)
	}
	wantBalances(t, te.balances(p.srcNet.ID), before)
	if got := te.earnings(p.dstNet.ID); got != 12*unit {
		t.Fatalf("provider network earned %d after closing again, want %d", got, 12*unit)
	}
}

func testSettleCap(t *testing.T, te *testEnv) {
	p := te.publicPair()
	bs := te.threeBalances(p.srcNet.ID)
	g := te.create(ContractRequest{Source: p.src, Destination: p.dst,
		TransferByteCount: 25 * unit})
	te.close(p.src, g.ContractID, 40*unit)
	te.close(p.dst, g.ContractID, 41*unit)
	if c := te.contract(g.ContractID); c.Status != store.ContractSettled ||
		c.UsedBytes != 25*unit {
		t.Fatalf("status %s, used %d; want settled, %d", c.Status, c.UsedBytes, 25*unit)
	}
	wantBalances(t, te.balances(p.srcNet.ID), map[uuid.UUID]int64{bs[0]: 0, bs[1]: 5 * unit,
		bs[2]: 30 * unit})
	if got := te.earnings(p.dstNet.ID); got != 25*unit {
		t.Fatalf("provider network earned %d, want %d", got, 25*unit)
	}
}

func testDispute(t *testing.T, te *testEnv) {
	p := te.publicPair()
	bs := te.threeBalances(p.srcNet.ID)
	g := te.create(ContractRequest{Source: p.src, Destination: p.dst,
		TransferByteCount: 25 * unit})
	disputed := te.eng.metrics.disputed.Load()

	te.close(p.src, g.ContractID, 32*unit+1)
	te.close(p.dst, g.ContractID, 0)
	c := te.contract(g.ContractID)
	if c.Status != store.ContractDisputed || c.UsedBytes != 0 {
		t.Fatalf("status %s, used %d; want disputed, 0", c.Status, c.UsedBytes)
	}
	if got := te.eng.metrics.disputed.Load(); got != disputed+1 {
		t.Fatalf("disputed counter went from %d to %d", disputed, got)
	}
	// The escrow stays held: nothing refunded, nothing earned.
	want := map[uuid.UUID]int64{bs[0]: 0, bs[1]: 5 * unit, bs[2]: 30 * unit}
	wantBalances(t, te.balances(p.srcNet.ID), want)
	wantBalances(t, te.escrow(g.ContractID), map[uuid.UUID]int64{bs[0]: 10 * unit,
		bs[1]: 15 * unit})
	if got := te.earnings(p.dstNet.ID); got != 0 {
		t.Fatalf("provider network earned %d from a disputed contract", got)
	}

	// Agreeing later does not undo the dispute.
	te.close(p.dst, g.ContractID, 32*unit+1)
	if c2 := te.contract(g.ContractID); c2 != c {
		t.Fatalf("closing a disputed contract changed it:\n%+v\n%+v", c, c2)
	}
	wantBalances(t, te.balances(p.srcNet.ID), want)
}

func testSettleAtLimit(t *testing.T, te *testEnv) {
	p := te.publicPair()
	now := te.clock.Now()
	b := te.balance(p.srcNet.ID, 64*unit, now.Add(-time.Hour), now.Add(day))
	g := te.create(ContractRequest{Source: p.src, Destination: p.dst,
		TransferByteCount: 40 * unit})
	te.close(p.src, g.ContractID, 40*unit)
	te.close(p.dst, g.ContractID, 8*unit)
	if c := te.contract(g.ContractID); c.Status != store.ContractSettled ||
		c.UsedBytes != 8*unit {
		t.Fatalf("status %s, used %d; want settled, %d", c.Status, c.UsedBytes, 8*unit)
	}
	wantBalances(t, te.balances(p.srcNet.ID), map[uuid.UUID]int64{b: 56 * unit})
	if got := te.earnings(p.dstNet.ID); got != 8*unit {
		t.Fatalf("provider network earned %d, want %d", got, 8*unit)
	}
}

func testCloseByNonParty(t *testing.T, te *testEnv) {
	p := te.publicPair()
	te.threeBalances(p.srcNet.ID)
	g := te.create(ContractRequest{Source: p.src, Destination: p.dst,
		TransferByteCount: 5 * unit})
	// Clients of either party's network are still not parties.
	for _, other := range []uuid.UUID{te.client(p.srcNet.ID), te.client(p.dstNet.ID),
		uuid.New()} {
		err := te.eng.CloseContract(te.ctx, ContractClose{ClientID: other,
			ContractID: g.ContractID, AckedByteCount: unit})
		if !errors.Is(err, ErrUnknownContract) {
			t.Fatalf("close by a non-party: %v, want ErrUnknownContract", err)
		}
	}
	if c := te.contract(g.ContractID); c.Status != store.ContractOpen || c.SourceAcked != -1 ||
		c.DestinationAcked != -1 {
		t.Fatalf("non-party closes changed the contract: %+v", c)
	}
	err := te.eng.CloseContract(te.ctx, ContractClose{ClientID: p.src, ContractID: uuid.New(),
		AckedByteCount: unit})
	if !errors.Is(err, ErrUnknownContract) || !isUserErr(err) {
		t.Fatalf("close of an unknown contract: %v, want ErrUnknownContract", err)
	}

	// After settling, a non-party is still refused.
	te.close(p.src, g.ContractID, unit)
	te.close(p.dst, g.ContractID, unit)
	err = te.eng.CloseContract(te.ctx, ContractClose{ClientID: uuid.New(),
		ContractID: g.ContractID})
	if !errors.Is(err, ErrUnknownContract) {
		t.Fatalf("close of a settled contract by a non-party: %v", err)
	}
}

func testCheckpoint(t *testing.T, te *testEnv) {
	p := te.publicPair()
	bs := te.threeBalances(p.srcNet.ID)
	g := te.create(ContractRequest{Source: p.src, Destination: p.dst,
		TransferByteCount: 25 * unit})
	escrowed := te.balances(p.srcNet.ID)
	for _, party := range []uuid.UUID{p.src, p.dst} {
		err := te.eng.CloseContract(te.ctx, ContractClose{ClientID: party,
			ContractID: g.ContractID, AckedByteCount: 3 * unit, Checkpoint: true})
		if err != nil {
			t.Fatal(err)
		}
	}
	c := te.contract(g.ContractID)
	if c.Status != store.ContractOpen || c.SourceAcked != -1 || c.DestinationAcked != -1 {
		t.Fatalf("checkpoints changed the contract: %+v", c)
	}
	wantBalances(t, te.balances(p.srcNet.ID), escrowed)
	if got := te.earnings(p.dstNet.ID); got != 0 {
		t.Fatalf("checkpoints earned %d", got)
	}

	// The real closes that follow settle as usual.
	te.close(p.src, g.ContractID, 20*unit)
	te.close(p.dst, g.ContractID, 20*unit)
	wantBalances(t, te.balances(p.srcNet.ID), map[uuid.UUID]int64{bs[0]: 0, bs[1]: 10 * unit,
		bs[2]: 30 * unit})
}

func testNoPermission(t *testing.T, te *testEnv) {
	srcNet, dstNet := te.network(), te.network()
	src := te.client(srcNet.ID)
	te.balance(srcNet.ID, 100*unit, te.clock.Now().Add(-time.Hour), te.clock.Now().Add(day))
	before := te.balances(srcNet.ID)

	networkOnly := te.client(dstNet.ID)
	te.provide(te.eng, networkOnly, ProvideNetwork, ProvideFriendsAndFamily)
	notProvider := te.client(dstNet.ID)
	streamOnly := te.client(dstNet.ID)
	te.provide(te.eng, streamOnly, ProvideStream)
	removed := te.client(dstNet.ID)
	te.provide(te.eng, removed, ProvidePublic)
	if err := te.eng.RemoveClient(te.ctx, Caller{NetworkID: dstNet.ID}, removed); err != nil {
		t.Fatal(err)
	}
	removedSource := te.client(srcNet.ID)
	publicDst := te.client(dstNet.ID)
	te.provide(te.eng, publicDst, ProvidePublic)
	if err := te.eng.RemoveClient(te.ctx, Caller{NetworkID: srcNet.ID},
		removedSource); err != nil {
		t.Fatal(err)
	}
	selfProvider := te.client(srcNet.ID)
	te.provide(te.eng, selfProvider, ProvidePublic, ProvideNetwork)

	for _, c := range []struct {
		name     string
		src, dst uuid.UUID
	}{
		{"destination provides only modes of its own network", src, networkOnly},
		{"destination provides nothing", src, notProvider},
		{"destination provides only stream", src, streamOnly},
		{"destination is removed", src, removed},
		{"destination does not exist", src, uuid.New()},
		{"source is removed", removedSource, publicDst},
		{"destination is the source", selfProvider, selfProvider},
	} {
		_, err := te.eng.CreateContract(te.ctx, ContractRequest{Source: c.src,
			Destination: c.dst, TransferByteCount: unit})
		if !errors.Is(err, ErrNoPermission) {
			t.Errorf("%s: %v, want ErrNoPermission", c.name, err)
		}
	}
	wantBalances(t, te.balances(srcNet.ID), before)
	// The refusal of a removed destination holds after a restart, when its keys are
	// read from the store again.
	e2 := te.newEngine(te.codeKey)
	_, err := e2.CreateContract(te.ctx, ContractRequest{Source: src, Destination: removed,
		TransferByteCount: unit})
	if !errors.Is(err, ErrNoPermission) {
		t.Fatalf("removed destination after restart: %v, want ErrNoPermission", err)
	}
}

func testWiderMode(t *testing.T, te *testEnv) {
	net, other := te.network(), te.network()
	src := te.client(net.ID)
	b := te.balance(net.ID, 10*unit, te.clock.Now().Add(-time.Hour), te.clock.Now().Add(day))

	for _, c := range []struct {
		name     string
		provides []ProvideMode
		want     ProvideMode
	}{
		{"public only", []ProvideMode{ProvidePublic}, ProvidePublic},
		{"friends and family only", []ProvideMode{ProvideFriendsAndFamily},
			ProvideFriendsAndFamily},
		{"public and friends and family", []ProvideMode{ProvidePublic,
			ProvideFriendsAndFamily}, ProvideFriendsAndFamily},
		{"network and public", []ProvideMode{ProvideNetwork, ProvidePublic}, ProvideNetwork},
	} {
		dst := te.client(net.ID)
		keys := te.provide(te.eng, dst, c.provides...)
		g, err := te.eng.CreateContract(te.ctx, ContractRequest{Source: src, Destination: dst,
			TransferByteCount: 20 * unit})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if g.Mode != c.want || !bytes.Equal(g.Secret, keys[c.want]) {
			t.Errorf("%s: mode %d (secret of it: %v), want %d", c.name, g.Mode,
				bytes.Equal(g.Secret, keys[g.Mode]), c.want)
		}
		// Within one network there is no escrow, whatever the mode.
		if sc := te.contract(g.ContractID); sc.Escrowed || sc.ProvideMode != int(c.want) {
			t.Errorf("%s: stored contract %+v", c.name, sc)
		}
	}
	wantBalances(t, te.balances(net.ID), map[uuid.UUID]int64{b: 10 * unit})

	// A narrower mode never serves a wider relationship.
	ff := te.client(other.ID)
	te.provide(te.eng, ff, ProvideFriendsAndFamily, ProvideNetwork)
	_, err := te.eng.CreateContract(te.ctx, ContractRequest{Source: src, Destination: ff,
		TransferByteCount: unit})
	if !errors.Is(err, ErrNoPermission) {
		t.Fatalf("public request to a friends-and-family provider: %v", err)
	}
}

func testCompanion(t *testing.T, te *testEnv) {
	srcNet, dstNet := te.network(), te.network()
	src := te.client(srcNet.ID)
	b := te.balance(srcNet.ID, 10*unit, te.clock.Now().Add(-time.Hour),
		te.clock.Now().Add(day))

	public := te.client(dstNet.ID)
	te.provide(te.eng, public, ProvidePublic)
	_, err := te.eng.CreateContract(te.ctx, ContractRequest{Source: src, Destination: public,
		TransferByteCount: unit, Companion: true})
	if !errors.Is(err, ErrNoPermission) {
		t.Fatalf("companion to a public-only provider: %v, want ErrNoPermission", err)
	}

	stream := te.client(dstNet.ID)
	keys := te.provide(te.eng, stream, ProvidePublic, ProvideStream)
	g, err := te.eng.CreateContract(te.ctx, ContractRequest{Source: src, Destination: stream,
		TransferByteCount: 20 * unit, Companion: true})
	if err != nil {
		t.Fatal(err)
	}
	if g.Mode != ProvideStream || !bytes.Equal(g.Secret, keys[ProvideStream]) {
		t.Fatalf("companion grant mode %d", g.Mode)
	}
	if c := te.contract(g.ContractID); c.Escrowed {
		t.Fatal("companion contract is escrowed")
	}
	wantBalances(t, te.balances(srcNet.ID), map[uuid.UUID]int64{b: 10 * unit})

	// Without the companion flag the same pair makes a Public contract.
	g, err = te.eng.CreateContract(te.ctx, ContractRequest{Source: src, Destination: stream,
		TransferByteCount: unit})
	if err != nil || g.Mode != ProvidePublic || !bytes.Equal(g.Secret, keys[ProvidePublic]) {
		t.Fatalf("public grant: mode %d, %v", g.Mode, err)
	}
}

func testTransferBounds(t *testing.T, te *testEnv) {
	p := te.publicPair()
	te.balance(p.srcNet.ID, 2<<40, te.clock.Now().Add(-time.Hour), te.clock.Now().Add(day))
	for _, n := range []uint64{0, 1<<40 + 1, 1 << 63, ^uint64(0)} {
		_, err := te.eng.CreateContract(te.ctx, ContractRequest{Source: p.src,
			Destination: p.dst, TransferByteCount: n})
		if !isUserErr(err) {
			t.Errorf("transfer byte count %d: %v, want a user error", n, err)
		}
	}
	if _, err := te.eng.CreateContract(te.ctx, ContractRequest{Source: p.src,
		Destination: p.dst, TransferByteCount: 1 << 40}); err != nil {
		t.Fatalf("1 TiB contract: %v", err)
	}
}

func testProvideValidation(t *testing.T, te *testEnv) {
	net := te.network()
	client := te.client(net.ID)
	keys := te.provide(te.eng, client, ProvidePublic)
	for _, c := range []struct {
		name string
		keys map[ProvideMode][]byte
	}{
		{"mode none", map[ProvideMode][]byte{ProvideNone: randomBytes(32)}},
		{"mode 6", map[ProvideMode][]byte{6: randomBytes(32)}},
		{"negative mode", map[ProvideMode][]byte{-1: randomBytes(32)}},
		{"15-byte secret", map[ProvideMode][]byte{ProvidePublic: randomBytes(15)}},
		{"65-byte secret", map[ProvideMode][]byte{ProvidePublic: randomBytes(65)}},
		{"empty secret", map[ProvideMode][]byte{ProvidePublic: nil}},
		{"one bad key among good ones", map[ProvideMode][]byte{
			ProvideNetwork: randomBytes(32), ProvidePublic: randomBytes(8)}},
	} {
		if err := te.eng.Provide(te.ctx, client, c.keys); !isUserErr(err) {
			t.Errorf("%s: %v, want a user error", c.name, err)
		}
	}
	if err := te.eng.Provide(te.ctx, uuid.New(), map[ProvideMode][]byte{
		ProvidePublic: randomBytes(32)}); !errors.Is(err, ErrInvalidClient) {
		t.Errorf("unknown client: %v, want ErrInvalidClient", err)
	}
	// A refused Provide left the previous keys in place, in memory and in the store.
	for _, e := range []*Engine{te.eng, te.newEngine(te.codeKey)} {
		got, err := e.providerKeys(te.ctx, client)
		if err != nil || !maps.EqualFunc(got, keys, bytes.Equal) {
			t.Fatalf("keys after refused Provides: %v, %v", got, err)
		}
	}

	// The bounds themselves are accepted, and every mode on the wire.
	for _, n := range []int{16, 64} {
		all := map[ProvideMode][]byte{}
		for m := ProvideNetwork; m <= ProvidePublicStream; m++ {
			all[m] = randomBytes(n)
		}
		if err := te.eng.Provide(te.ctx, client, all); err != nil {
			t.Fatalf("%d-byte secrets for every mode: %v", n, err)
		}
	}
	// An empty set of keys makes the client provide nothing.
	if err := te.eng.Provide(te.ctx, client, nil); err != nil {
		t.Fatal(err)
	}
	stored, err := te.store.ProvideKeys(te.ctx, client)
	if err != nil || len(stored) != 0 {
		t.Fatalf("keys after providing nothing: %v, %v", stored, err)
	}
	src := te.client(net.ID)
	_, err = te.eng.CreateContract(te.ctx, ContractRequest{Source: src, Destination: client,
		TransferByteCount: 1})
	if !errors.Is(err, ErrNoPermission) {
		t.Fatalf("contract with a client that stopped providing: %v", err)
	}
}

func testProvideKeysPersist(t *testing.T, te *testEnv) {
	p := te.publicPair()
	te.threeBalances(p.srcNet.ID)
	netKeys := te.provide(te.eng, p.dst, ProvideNetwork, ProvidePublic)
	peer := te.client(p.dstNet.ID)

	stored, err := te.store.ProvideKeys(te.ctx, p.dst)
	if err != nil || len(stored) != 2 {
		t.Fatalf("stored keys: %v, %v", stored, err)
	}
	for _, k := range stored {
		secret := netKeys[ProvideMode(k.Mode)]
		if bytes.Contains(k.Sealed, secret) || bytes.Contains(k.Sealed, secret[:16]) {
			t.Fatalf("mode %d: the stored key holds the secret in plain", k.Mode)
		}
	}

	// A new engine on the same store and code key signs with the same secrets.
	e2 := te.newEngine(te.codeKey)
	g, err := e2.CreateContract(te.ctx, ContractRequest{Source: p.src, Destination: p.dst,
		TransferByteCount: unit})
	if err != nil || g.Mode != ProvidePublic || !bytes.Equal(g.Secret, netKeys[ProvidePublic]) {
		t.Fatalf("after restart: mode %d, %v", g.Mode, err)
	}
	g, err = e2.CreateContract(te.ctx, ContractRequest{Source: peer, Destination: p.dst,
		TransferByteCount: unit})
	if err != nil || g.Mode != ProvideNetwork ||
		!bytes.Equal(g.Secret, netKeys[ProvideNetwork]) {
		t.Fatalf("network contract after restart: mode %d, %v", g.Mode, err)
	}

	// Sealed under the code key: an engine with another key cannot open them.
	e3 := te.newEngine(randomBytes(32))
	g, err = e3.CreateContract(te.ctx, ContractRequest{Source: p.src, Destination: p.dst,
		TransferByteCount: unit})
	if err == nil || isUserErr(err) || bytes.Equal(g.Secret, netKeys[ProvidePublic]) {
		t.Fatalf("engine with another code key: %v", err)
	}
}

func testAddBalance(t *testing.T, te *testEnv) {
	net := te.network()
	b, err := te.eng.AddBalance(te.ctx, net.Name, 3*unit, 30*day)
	if err != nil {
		t.Fatal(err)
	}
	now := te.clock.Now()
	if b.NetworkID != net.ID || b.Bytes != 3*unit || b.StartBytes != 3*unit ||
		!b.StartTime.Equal(now) || !b.EndTime.Equal(now.Add(30*day)) {
		t.Fatalf("balance = %+v", b)
	}
	wantBalances(t, te.balances(net.ID), map[uuid.UUID]int64{b.ID: 3 * unit})
	for _, c := range []struct {
		name string
		n    int64
		d    time.Duration
	}{{"no bytes", 0, day}, {"negative bytes", -1, day}, {"no time", unit, 0}} {
		if _, err := te.eng.AddBalance(te.ctx, net.Name, c.n, c.d); !isUserErr(err) {
			t.Errorf("%s: %v, want a user error", c.name, err)
		}
	}
	if _, err := te.eng.AddBalance(te.ctx, "nosuchnetwork", unit, day); !isUserErr(err) {
		t.Errorf("unknown network: %v, want a user error", err)
	}

	// A balance starts now: usable at once, and not after it ends.
	dst := te.client(te.network().ID)
	te.provide(te.eng, dst, ProvidePublic)
	src := te.client(net.ID)
	if _, err := te.eng.CreateContract(te.ctx, ContractRequest{Source: src, Destination: dst,
		TransferByteCount: unit}); err != nil {
		t.Fatal(err)
	}
	te.clock.Advance(30 * day)
	_, err = te.eng.CreateContract(te.ctx, ContractRequest{Source: src, Destination: dst,
		TransferByteCount: unit})
	te.clock.Advance(-30 * day)
	if !errors.Is(err, ErrInsufficientBalance) {
		t.Fatalf("contract on an ended balance: %v", err)
	}
}

func testPeerAudit(t *testing.T, te *testEnv) {
	net := te.network()
	client, peer := te.client(net.ID), uuid.New()
	for range 2 {
		err := te.eng.PeerAudit(te.ctx, PeerAudit{ClientID: client, PeerID: peer,
			Duration: 90 * time.Second, Abuse: true,
			Counters: map[string]uint64{"send_byte_count": 1 << 40, "bad_message_count": 3}})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n, err := te.store.PeerAudits(te.ctx, peer); err != nil || n != 2 {
		t.Fatalf("stored audits: %d, %v", n, err)
	}
}

// testConcurrentEscrow has many goroutines ask for Public contracts against one balance
// worth 20 of them and a half, while another goroutine watches the balance.
func testConcurrentEscrow(t *testing.T, te *testEnv) {
	const (
		size       = 1000
		workers    = 16
		perWorker  = 8
		affordable = 20
	)
	p := te.publicPair()
	initial := int64(affordable*size + size/2)
	b := te.balance(p.srcNet.ID, initial, te.clock.Now().Add(-time.Hour),
		te.clock.Now().Add(day))

	var (
		mu      sync.Mutex
		granted []uuid.UUID
		errs    []error
		wg      sync.WaitGroup
	)
	done := make(chan struct{})
	watched := make(chan int64, 1)
	go func() {
		lowest := initial
		defer func() { watched <- lowest }()
		for {
			if bs, err := te.store.Balances(te.ctx, p.srcNet.ID); err == nil && len(bs) == 1 {
				lowest = min(lowest, bs[0].Bytes)
			}
			select {
			case <-done:
				return
			default:
			}
		}
	}()
	for range workers {
		wg.Go(func() {
			for range perWorker {
				g, err := te.eng.CreateContract(te.ctx, ContractRequest{Source: p.src,
					Destination: p.dst, TransferByteCount: size})
				mu.Lock()
				if err == nil {
					granted = append(granted, g.ContractID)
				} else if !errors.Is(err, ErrInsufficientBalance) {
					errs = append(errs, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(done)
	lowest := <-watched

	if len(errs) > 0 {
		t.Fatalf("%d requests failed other than for the balance, first: %v", len(errs),
			errs[0])
	}
	if lowest < 0 {
		t.Fatalf("the balance went down to %d", lowest)
	}
	var held int64
	for _, id := range granted {
		held += te.escrow(id)[b]
	}
	left := te.balances(p.srcNet.ID)[b]
	if len(granted) != affordable || held != affordable*size || left != initial-held {
		t.Fatalf("%d contracts granted holding %d, %d left of %d; want %d, %d, %d",
			len(granted), held, left, initial, affordable, affordable*size, size/2)
	}
}

// TestProvideRecordsMode checks the provide_mode recorded for /network/clients: the
// highest of the Network, FriendsAndFamily and Public modes provided, Stream only for a
// client that provides nothing else, and the same every time for the same keys.
func TestProvideRecordsMode(t *testing.T) {
	te := newTestEnv(t, storetest.Open(t, "sqlite"), envOptions{})
	client := te.client(te.network().ID)
	for _, c := range []struct {
		modes []ProvideMode
		want  ProvideMode
	}{
		{[]ProvideMode{ProvideNetwork}, ProvideNetwork},
		{[]ProvideMode{ProvideNetwork, ProvidePublic}, ProvidePublic},
		{[]ProvideMode{ProvideStream}, ProvideStream},
		{[]ProvideMode{ProvideStream, ProvideNetwork}, ProvideNetwork},
		{[]ProvideMode{ProvideStream, ProvidePublic}, ProvidePublic},
		{nil, ProvideNone},
	} {
		// Map order varies from call to call; 16 tries show a dependence on it.
		seen := map[int]bool{}
		for range 16 {
			te.provide(te.eng, client, c.modes...)
			cl, err := te.store.Client(te.ctx, client)
			if err != nil {
				t.Fatal(err)
			}
			seen[cl.ProvideMode] = true
		}
		if len(seen) != 1 || !seen[int(c.want)] {
			t.Errorf("provide %v recorded modes %v, want only %d", c.modes, seen, c.want)
		}
	}
}

// testConcurrentSettle creates contracts and has both parties of each close at once,
// while other contracts are created from the same balances. Every contract settles once:
// the balances end short of exactly the used bytes, which the provider network earned.
func testConcurrentSettle(t *testing.T, te *testEnv) {
	const contracts = 24
	p := te.publicPair()
	bs := te.threeBalances(p.srcNet.ID)
	initial := te.balances(p.srcNet.ID)

	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	ids := make([]uuid.UUID, contracts)
	used := make([]int64, contracts)
	for i := range contracts {
		wg.Go(func() {
			g, err := te.eng.CreateContract(te.ctx, ContractRequest{Source: p.src,
				Destination: p.dst, TransferByteCount: 2 * unit})
			if err != nil {
				fail(err)
				return
			}
			ids[i] = g.ContractID
			// Counts a few bytes apart, both under the transfer byte count.
			srcCount, dstCount := uint64(unit+i*1000), uint64(unit+i*1000+7*(i%3))
			used[i] = int64(min(srcCount, dstCount))
			var closes sync.WaitGroup
			for _, cl := range []ContractClose{
				{ClientID: p.src, ContractID: g.ContractID, AckedByteCount: srcCount},
				{ClientID: p.dst, ContractID: g.ContractID, AckedByteCount: dstCount},
			} {
				closes.Go(func() {
					if err := te.eng.CloseContract(te.ctx, cl); err != nil {
						fail(err)
					}
				})
			}
			closes.Wait()
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d calls failed, first: %v", len(errs), errs[0])
	}
	var total int64
	for i, id := range ids {
		c := te.contract(id)
		if c.Status != store.ContractSettled || c.UsedBytes != used[i] {
			t.Fatalf("contract %d: status %s, used %d; want settled, %d", i, c.Status,
				c.UsedBytes, used[i])
		}
		total += used[i]
	}
	var left, before int64
	got := te.balances(p.srcNet.ID)
	for _, b := range bs {
		left += got[b]
		before += initial[b]
	}
	if left != before-total {
		t.Fatalf("balances hold %d after %d used of %d", left, total, before)
	}
	if earned := te.earnings(p.dstNet.ID); earned != total {
		t.Fatalf("provider network earned %d, want %d", earned, total)
	}
}
