package engine

import (
	"errors"
	"math"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"

	"github.com/byplatform/byplatform/geoip"
	"github.com/byplatform/byplatform/geoip/geoiptest"
	"github.com/byplatform/byplatform/matcher"
	"github.com/byplatform/byplatform/store/storetest"
)

// Places of the test GeoIP database, by loopback range.
var testPlaces = map[string]geoip.Place{
	"127.0.1.0/24": {City: "Berlin", Region: "Berlin", CountryCode: "DE"},
	"127.0.2.0/24": {City: "Paris", Region: "Île-de-France", CountryCode: "FR"},
	"127.0.3.0/24": {City: "Amsterdam", Region: "North Holland", CountryCode: "NL"},
	"127.0.4.0/24": {City: "Rome", Region: "Lazio", CountryCode: "IT"},
	"127.0.5.0/24": {City: "Vienna", Region: "Vienna", CountryCode: "AT"},
}

var (
	germany = matcher.CountryID("DE")
	berlin  = matcher.CityID("DE", "Berlin", "Berlin")
)

// berlinLocator places every address in Berlin, as --default-location does.
func berlinLocator(t testing.TB) *geoip.Locator {
	t.Helper()
	p, err := geoip.ParsePlace("Berlin, Berlin, DE")
	if err != nil {
		t.Fatal(err)
	}
	return &geoip.Locator{Default: p}
}

// testLocator places addresses by a small GeoIP database of testPlaces, with no
// fallback.
func testLocator(t testing.TB) *geoip.Locator {
	t.Helper()
	path := filepath.Join(t.TempDir(), "city.mmdb")
	geoiptest.Write(t, path, testPlaces)
	db, err := geoip.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &geoip.Locator{DB: db}
}

// newHealthEnv runs an engine over SQLite with a fake presence. The keepalive is an
// hour, so the sweeper stays out of the way; tests call checkQuiet themselves.
func newHealthEnv(t *testing.T, loc *geoip.Locator) (*testEnv, *fakePresence) {
	t.Helper()
	p := newFakePresence()
	te := newTestEnv(t, storetest.Open(t, "sqlite"), envOptions{presence: p, locator: loc,
		keepalive: time.Hour})
	return te, p
}

// provider creates a client of a new network that provides the modes.
func (te *testEnv) provider(modes ...ProvideMode) ClientAuth {
	te.tb.Helper()
	net := te.network()
	auth := ClientAuth{ClientID: te.client(net.ID), NetworkID: net.ID}
	te.provide(te.eng, auth.ClientID, modes...)
	return auth
}

// inPool reports whether the client is in the pool, checked through the pool and
// through a search for providers in Germany as an anonymous caller sees it.
func (te *testEnv) inPool(id uuid.UUID) bool {
	te.tb.Helper()
	_, pooled := te.eng.pool.Get(id)
	found, err := te.eng.FindProviders(nil, []matcher.Spec{{LocationID: germany}},
		maxProviderCount, nil)
	if err != nil {
		te.tb.Fatal(err)
	}
	if slices.Contains(found, id) != pooled {
		te.tb.Fatalf("pool holds %s: %v, but find-providers finds it: %v", id, pooled,
			!pooled)
	}
	return pooled
}

// locationCount returns the provider count of a location in ProviderLocations.
func locationCount(res matcher.Results, id uuid.UUID) int {
	for _, l := range res.Locations {
		if l.ID == id {
			return l.ProviderCount
		}
	}
	return 0
}

func TestHealthConnectAndDisconnect(t *testing.T) {
	te, pr := newHealthEnv(t, berlinLocator(t))
	a := te.provider(ProvidePublic)
	if te.inPool(a.ClientID) {
		t.Fatal("a provider without a connection is in the pool")
	}

	c1 := te.connect(pr, a, "127.0.0.1:40001")
	if !te.inPool(a.ClientID) || te.eng.pool.Len() != 1 {
		t.Fatalf("connected provider: in pool %v, pool size %d", te.inPool(a.ClientID),
			te.eng.pool.Len())
	}
	res := te.eng.ProviderLocations(nil)
	if locationCount(res, berlin) != 1 || locationCount(res, germany) != 1 {
		t.Fatalf("provider locations: Berlin %d, Germany %d; want 1, 1",
			locationCount(res, berlin), locationCount(res, germany))
	}
	if got := te.eng.metrics.healthy.Load(); got != 1 {
		t.Fatalf("healthy transitions = %d, want 1", got)
	}

	// A second connection keeps the provider in when the first ends.
	c2 := te.connect(pr, a, "127.0.0.1:40002")
	te.disconnect(pr, a, c1)
	if !te.inPool(a.ClientID) {
		t.Fatal("provider left the pool with a connection still open")
	}
	// The last one takes it out at once.
	te.disconnect(pr, a, c2)
	if te.inPool(a.ClientID) || te.eng.pool.Len() != 0 {
		t.Fatal("provider without connections is still in the pool")
	}
	if res := te.eng.ProviderLocations(nil); len(res.Locations) != 0 || len(res.Groups) != 0 {
		t.Fatalf("provider locations without providers: %+v", res)
	}
	if got := te.eng.metrics.unhealthy.Load(); got != 1 {
		t.Fatalf("unhealthy transitions = %d, want 1", got)
	}
	// A late or repeated disconnect changes nothing.
	te.disconnect(pr, a, c2)
	te.eng.Disconnected(ClientAuth{ClientID: uuid.New()}, c2)

	// A client that connects first and provides later enters on Provide.
	b := ClientAuth{NetworkID: te.network().ID}
	b.ClientID = te.client(b.NetworkID)
	te.connect(pr, b, "127.0.0.1:40003")
	if te.inPool(b.ClientID) {
		t.Fatal("a client that never provided is in the pool")
	}
	te.provide(te.eng, b.ClientID, ProvidePublic)
	if !te.inPool(b.ClientID) {
		t.Fatal("a connected client that provides is not in the pool")
	}
	// Providing nothing takes it out at once.
	te.provide(te.eng, b.ClientID)
	if te.inPool(b.ClientID) {
		t.Fatal("a client that provides no mode is in the pool")
	}
}

func TestHealthQuietConnections(t *testing.T) {
	te, pr := newHealthEnv(t, berlinLocator(t))
	limit := 2 * te.eng.cfg.KeepaliveInterval
	a := te.provider(ProvidePublic)
	te.connect(pr, a, "127.0.0.1:40001")

	te.clock.Advance(limit)
	te.eng.checkQuiet(limit)
	if !te.inPool(a.ClientID) {
		t.Fatal("provider heard from exactly two keepalives ago left the pool")
	}
	te.clock.Advance(time.Second)
	te.eng.checkQuiet(limit)
	if te.inPool(a.ClientID) {
		t.Fatal("provider not heard from for over two keepalives is in the pool")
	}
	// A ping brings it back.
	pr.heard(a.ClientID, te.clock.Now())
	te.eng.checkQuiet(limit)
	if !te.inPool(a.ClientID) {
		t.Fatal("provider heard from again is not back in the pool")
	}

	// One live connection among quiet ones is enough.
	te.clock.Advance(limit + time.Second)
	te.connect(pr, a, "127.0.0.1:40002")
	te.eng.checkQuiet(limit)
	if !te.inPool(a.ClientID) {
		t.Fatal("provider with one fresh connection left the pool")
	}

	// A connection that was quiet when its provider went quiet and then reconnected:
	// the new connection clears the mark at once.
	b := te.provider(ProvidePublic)
	cb := te.connect(pr, b, "127.0.0.1:40003")
	te.clock.Advance(limit + time.Second)
	te.eng.checkQuiet(limit)
	if te.inPool(b.ClientID) {
		t.Fatal("quiet provider is in the pool")
	}
	te.disconnect(pr, b, cb)
	te.connect(pr, b, "127.0.0.1:40004")
	if !te.inPool(b.ClientID) {
		t.Fatal("provider that reconnected is not in the pool")
	}
}

// TestHealthSweeper runs the engine's own sweeper in a synctest bubble, on its fake
// clock, with the default keepalive of 5 s: a provider is quiet once none of its
// connections was heard from for more than 10 s, noticed at the next sweep.
func TestHealthSweeper(t *testing.T) {
	st := storetest.Open(t, "sqlite")
	outer := newTestEnv(t, st, envOptions{})
	a := outer.provider(ProvidePublic)
	synctest.Test(t, func(t *testing.T) {
		pr := newFakePresence()
		e, err := New(t.Context(), Config{Store: st, Signer: outer.signer,
			Sender: outer.sender, CodeKey: outer.codeKey, Presence: pr,
			Locator: berlinLocator(t)})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		pooled := func() bool {
			synctest.Wait()
			_, ok := e.pool.Get(a.ClientID)
			return ok
		}
		c := Connection{ConnectionID: uuid.New(), InstanceID: uuid.New(),
			ConnectTime: time.Now(), Remote: netip.MustParseAddrPort("127.0.0.1:40001"),
			Transport: "ws", LastRead: time.Now()}
		pr.add(a.ClientID, c)
		e.Connected(a, c)

		// Sweeps at 5 s and 10 s find it heard from within 10 s.
		time.Sleep(14 * time.Second)
		if !pooled() {
			t.Fatal("provider heard from 14 s ago left the pool before the sweep at 15 s")
		}
		time.Sleep(time.Second)
		if pooled() {
			t.Fatal("provider quiet for 15 s is in the pool after the sweep")
		}
		pr.heard(a.ClientID, time.Now())
		time.Sleep(5 * time.Second)
		if !pooled() {
			t.Fatal("provider heard from again is not back after the next sweep")
		}
	})
}

func TestHealthRemoveClient(t *testing.T) {
	te, pr := newHealthEnv(t, berlinLocator(t))
	a := te.provider(ProvidePublic)
	c := te.connect(pr, a, "127.0.0.1:40001")
	other := te.provider(ProvidePublic)
	te.connect(pr, other, "127.0.0.1:40002")

	if err := te.eng.RemoveClient(te.ctx, Caller{NetworkID: a.NetworkID},
		a.ClientID); err != nil {
		t.Fatal(err)
	}
	if te.inPool(a.ClientID) || !pr.wasDisconnected(a.ClientID) {
		t.Fatalf("removed client: in pool %v, connections closed %v",
			te.inPool(a.ClientID), pr.wasDisconnected(a.ClientID))
	}
	// The transports then report the closed connection; nothing comes back.
	te.eng.Disconnected(a, c)
	te.eng.checkQuiet(2 * te.eng.cfg.KeepaliveInterval)
	if te.inPool(a.ClientID) || !te.inPool(other.ClientID) || te.eng.pool.Len() != 1 {
		t.Fatalf("after removal: pool size %d", te.eng.pool.Len())
	}
	if err := te.eng.RemoveClient(te.ctx, Caller{NetworkID: a.NetworkID},
		a.ClientID); !errors.Is(err, ErrInvalidClient) {
		t.Fatalf("removing twice: %v, want ErrInvalidClient", err)
	}
}

func TestHealthScore(t *testing.T) {
	now := time.Date(2024, 4, 2, 10, 0, 0, 0, time.UTC)
	// times returns n times at the given age, oldest first.
	times := func(n int, age time.Duration) []time.Time {
		ts := make([]time.Time, n)
		for i := range ts {
			ts[i] = now.Add(-age + time.Duration(i)*time.Millisecond)
		}
		return ts
	}
	formula := func(reconnects, failures int) float64 {
		return max(0.05, math.Pow(0.5, float64(reconnects)/4)*
			math.Pow(0.5, float64(failures)/2))
	}
	for _, c := range []struct {
		name     string
		connects []time.Time
		failures []time.Time
		want     float64
	}{
		{"never connected", nil, nil, 1},
		{"one connection", times(1, time.Minute), nil, 1},
		{"four reconnects halve it", times(5, time.Minute), nil, 0.5},
		{"two reconnects", times(3, time.Minute), nil, formula(2, 0)},
		{"two failures halve it", times(1, time.Minute), times(2, time.Minute), 0.5},
		{"one failure", times(1, time.Minute), times(1, time.Minute), formula(0, 1)},
		{"both", times(5, time.Minute), times(2, time.Minute), 0.25},
		{"reconnects over ten minutes old are forgotten",
			append(times(8, 11*time.Minute), times(1, time.Minute)...), nil, 1},
		{"failures over an hour old are forgotten", times(1, time.Minute),
			append(times(6, 61*time.Minute), times(2, 59*time.Minute)...), 0.5},
		{"never below the floor", times(100, time.Minute), times(20, time.Minute), 0.05},
	} {
		p := &providerState{connects: c.connects, failures: c.failures}
		got := p.score(now)
		if math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: score = %v, want %v", c.name, got, c.want)
		}
		if got > 1 || got < minScore {
			t.Errorf("%s: score %v out of [%v, 1]", c.name, got, minScore)
		}
	}
	if formula(4, 0) != 0.5 || formula(0, 2) != 0.5 {
		t.Fatal("the documented formula does not halve at four reconnects or two failures")
	}
}

// TestHealthScoreWeightsPool checks that churn and disputes reach the pool's weights.
func TestHealthScoreWeightsPool(t *testing.T) {
	te, pr := newHealthEnv(t, berlinLocator(t))
	a := te.provider(ProvidePublic)
	weight := func() float64 {
		t.Helper()
		p, ok := te.eng.pool.Get(a.ClientID)
		if !ok {
			t.Fatal("provider is not in the pool")
		}
		return p.Weight
	}
	for i := range 4 {
		c := te.connect(pr, a, "127.0.0.1:40001")
		te.clock.Advance(time.Second)
		if i < 3 {
			te.disconnect(pr, a, c)
		}
	}
	// Four connections: three reconnects.
	if got, want := weight(), math.Pow(0.5, 0.75); math.Abs(got-want) > matcher.MinWeight {
		t.Fatalf("weight after three reconnects = %v, want %v", got, want)
	}
	te.connect(pr, a, "127.0.0.1:40002")
	if got := weight(); got != 0.5 {
		t.Fatalf("weight after four reconnects = %v, want 0.5", got)
	}

	// Two disputed contracts halve it again.
	srcNet := te.network()
	src := te.client(srcNet.ID)
	te.balance(srcNet.ID, 100*unit, te.clock.Now().Add(-time.Hour), te.clock.Now().Add(day))
	for range 2 {
		g := te.create(ContractRequest{Source: src, Destination: a.ClientID,
			TransferByteCount: 40 * unit})
		te.close(src, g.ContractID, 0)
		te.close(a.ClientID, g.ContractID, 40*unit)
	}
	if got := weight(); got != 0.25 {
		t.Fatalf("weight after four reconnects and two disputes = %v, want 0.25", got)
	}

	// An hour later the churn and the disputes are forgotten at the next change.
	te.clock.Advance(time.Hour + time.Second)
	te.connect(pr, a, "127.0.0.1:40003")
	if got := weight(); got != 1 {
		t.Fatalf("weight an hour later = %v, want 1", got)
	}
}

func TestHealthNeedsLocation(t *testing.T) {
	t.Run("no locator", func(t *testing.T) {
		te, pr := newHealthEnv(t, nil)
		a := te.provider(ProvidePublic)
		te.connect(pr, a, "127.0.0.1:40001")
		te.provide(te.eng, a.ClientID, ProvidePublic, ProvideNetwork)
		te.eng.checkQuiet(2 * te.eng.cfg.KeepaliveInterval)
		if te.eng.pool.Len() != 0 {
			t.Fatal("a provider without a location is in the pool")
		}
		if res := te.eng.ProviderLocations(&Caller{NetworkID: a.NetworkID}); len(
			res.Locations) != 0 {
			t.Fatalf("provider locations: %+v", res.Locations)
		}
	})
	t.Run("address unknown without a fallback", func(t *testing.T) {
		te, pr := newHealthEnv(t, testLocator(t))
		a := te.provider(ProvidePublic)
		te.connect(pr, a, "127.0.9.1:40001")
		if te.eng.pool.Len() != 0 {
			t.Fatal("a provider at an unknown address is in the pool")
		}
		b := te.provider(ProvidePublic)
		te.connect(pr, b, "127.0.2.7:40001")
		paris := matcher.CityID("FR", "Île-de-France", "Paris")
		if p, ok := te.eng.pool.Get(b.ClientID); !ok || p.LocationID != paris {
			t.Fatalf("provider at a Paris address: %+v, %v", p, ok)
		}
	})
}

func TestHealthNetworkOnlyVisibility(t *testing.T) {
	te, pr := newHealthEnv(t, berlinLocator(t))
	a := te.provider(ProvideNetwork)
	te.connect(pr, a, "127.0.0.1:40001")
	pub := te.provider(ProvidePublic)
	te.connect(pr, pub, "127.0.0.1:40002")
	own := &Caller{NetworkID: a.NetworkID}
	stranger := &Caller{NetworkID: te.network().ID}
	specs := []matcher.Spec{{LocationID: germany}}

	for _, c := range []struct {
		name   string
		caller *Caller
		want   []uuid.UUID
	}{
		{"anonymous", nil, []uuid.UUID{pub.ClientID}},
		{"another network", stranger, []uuid.UUID{pub.ClientID}},
		{"its own network", own, []uuid.UUID{a.ClientID, pub.ClientID}},
	} {
		got, err := te.eng.FindProviders(c.caller, specs, 10, nil)
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(got, uuidCompare)
		slices.SortFunc(c.want, uuidCompare)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s finds %v, want %v", c.name, got, c.want)
		}
		if n := locationCount(te.eng.ProviderLocations(c.caller), berlin); n != len(c.want) {
			t.Errorf("%s sees %d providers in Berlin, want %d", c.name, n, len(c.want))
		}
	}
}

func uuidCompare(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) }

// TestHealthModeChangeWhileConnected changes the modes of a provider that is in the
// pool: the pool must follow, or a provider that withdrew Public stays visible to
// everyone and one that added it stays hidden.
func TestHealthModeChangeWhileConnected(t *testing.T) {
	te, pr := newHealthEnv(t, berlinLocator(t))
	a := te.provider(ProvidePublic)
	te.connect(pr, a, "127.0.0.1:40001")
	specs := []matcher.Spec{{LocationID: germany}}
	find := func(c *Caller) []uuid.UUID {
		t.Helper()
		got, err := te.eng.FindProviders(c, specs, 10, nil)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := find(nil); !slices.Equal(got, []uuid.UUID{a.ClientID}) {
		t.Fatalf("public provider: anonymous search finds %v", got)
	}

	te.provide(te.eng, a.ClientID, ProvideNetwork)
	if got := find(nil); len(got) != 0 {
		t.Errorf("provider now of Network only: anonymous search still finds %v", got)
	}
	if p, _ := te.eng.pool.Get(a.ClientID); p.Modes != matcher.Modes(matcher.ModeNetwork) {
		t.Errorf("pool modes %08b, want Network only", p.Modes)
	}

	b := te.provider(ProvideNetwork)
	te.connect(pr, b, "127.0.0.1:40002")
	te.provide(te.eng, b.ClientID, ProvideNetwork, ProvidePublic)
	if got := find(&Caller{NetworkID: te.network().ID}); !slices.Contains(got, b.ClientID) {
		t.Errorf("provider now also Public: another network finds %v", got)
	}
}

// TestHealthLocationFollowsReconnect moves a provider: it drops every connection in
// Berlin and comes back from Paris. Its only live connection is in Paris.
func TestHealthLocationFollowsReconnect(t *testing.T) {
	te, pr := newHealthEnv(t, testLocator(t))
	a := te.provider(ProvidePublic)
	c := te.connect(pr, a, "127.0.1.9:40001")
	if p, ok := te.eng.pool.Get(a.ClientID); !ok || p.LocationID != berlin {
		t.Fatalf("provider connected from Berlin: %+v, %v", p, ok)
	}
	te.disconnect(pr, a, c)
	te.connect(pr, a, "127.0.2.9:40001")
	paris := matcher.CityID("FR", "Île-de-France", "Paris")
	if p, ok := te.eng.pool.Get(a.ClientID); !ok || p.LocationID != paris {
		t.Errorf("provider reconnected from Paris is pooled at %v (Berlin: %v), want Paris",
			p.LocationID, p.LocationID == berlin)
	}
}
