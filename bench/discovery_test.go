// Package bench holds load benchmarks that drive the whole stack; see the README.
package bench

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/byplatform/byplatform/api"
	"github.com/byplatform/byplatform/bench/load"
	"github.com/byplatform/byplatform/engine"
	"github.com/byplatform/byplatform/geoip"
	"github.com/byplatform/byplatform/geoip/geoiptest"
	"github.com/byplatform/byplatform/internal/shareddata"
	"github.com/byplatform/byplatform/matcher"
	"github.com/byplatform/byplatform/notify"
	"github.com/byplatform/byplatform/store"
	"github.com/byplatform/byplatform/store/storetest"
	"github.com/byplatform/byplatform/token"
)

// citiesPath returns the path of the shared world cities file.
func citiesPath(tb testing.TB) string { return shareddata.Cities(tb) }

// discoveryStack is a real API server over an engine whose pool holds providers put
// there through the engine (Provide and Connected), placed by GeoIP across real cities.
type discoveryStack struct {
	srv       *httptest.Server
	eng       *engine.Engine
	cityIDs   []uuid.UUID
	countries []string
	queries   []string
	cityNames []string
}

const geoNetworks = 4096 // /24 networks in the test GeoIP database, one city each

func newDiscoveryStack(tb testing.TB, providers, catalogCities int) *discoveryStack {
	tb.Helper()
	ctx := context.Background()
	f, err := os.Open(citiesPath(tb))
	if err != nil {
		tb.Fatal(err)
	}
	places, err := matcher.ReadPlaces(f)
	f.Close()
	if err != nil {
		tb.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(places), func(i, j int) { places[i], places[j] = places[j], places[i] })
	places = places[:min(catalogCities, len(places))]

	dir := tb.TempDir()
	nets := map[string]geoip.Place{}
	st := &discoveryStack{}
	for i := 0; i < geoNetworks && i < len(places); i++ {
		p := places[i]
		nets[fmt.Sprintf("10.%d.%d.0/24", i/256, i%256)] = geoip.Place{City: p.City,
			Region: p.Region, CountryCode: p.CountryCode}
		st.cityIDs = append(st.cityIDs, matcher.CityID(p.CountryCode, p.Region, p.City))
		st.countries = append(st.countries, p.Country)
		st.queries = append(st.queries, typo(rng, p.City))
		st.cityNames = append(st.cityNames, p.City)
	}
	geoiptest.Write(tb, filepath.Join(dir, "geo.mmdb"), nets)
	db, err := geoip.Open(filepath.Join(dir, "geo.mmdb"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })

	s := storetest.Open(tb, "sqlite")
	_, key, _ := ed25519.GenerateKey(nil)
	outbox, _ := notify.NewOutbox(filepath.Join(dir, "outbox"))
	eng, err := engine.New(ctx, engine.Config{Store: s, Signer: token.NewSigner(key),
		Sender: outbox, CodeKey: make([]byte, 32), Locator: &geoip.Locator{DB: db},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(eng.Close)
	if _, err := eng.ImportLocations(ctx, placesTSV(places)); err != nil {
		tb.Fatal(err)
	}
	addProviders(tb, s, eng, providers)

	front := api.New(eng, api.Options{Limits: api.Limits{AddrBurst: 1e9, AddrPerSecond: 1e9,
		AuthBurst: 1e9, AuthPerSecond: 1e9}})
	front.Handle("GET /bench/trivial", http.HandlerFunc(func(w http.ResponseWriter,
		r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{}\n"))
	}))
	st.eng = eng
	st.srv = httptest.NewServer(front)
	tb.Cleanup(st.srv.Close)
	return st
}

// addProviders creates n clients and makes each a Public provider connected from an
// address of the GeoIP database, through the engine's own Provide and Connected.
func addProviders(tb testing.TB, s *store.Store, eng *engine.Engine, n int) {
	ctx := context.Background()
	network := uuid.New()
	ids := make([]uuid.UUID, n)
	const batch = 2000
	for i := 0; i < n; i += batch {
		err := s.Tx(ctx, func(tx *store.Tx) error {
			for j := i; j < min(i+batch, n); j++ {
				ids[j] = uuid.New()
				err := tx.InsertClient(ctx, store.Client{ID: ids[j], NetworkID: network,
					DeviceID: uuid.New(), CreateTime: time.Now(), AuthTime: time.Now()})
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	secret := make([]byte, 32)
	for i, id := range ids {
		err := eng.Provide(ctx, id, map[engine.ProvideMode][]byte{engine.ProvidePublic: secret})
		if err != nil {
			tb.Fatal(err)
		}
		net := i % geoNetworks
		addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(net / 256),
			byte(net % 256), byte(1 + i/geoNetworks%250)}), 40000)
		eng.Connected(engine.ClientAuth{ClientID: id, NetworkID: network},
			engine.Connection{ConnectionID: uuid.New(), Remote: addr, Transport: "ws",
				ConnectTime: time.Now()})
	}
}

// typo changes one letter of a name, or keeps it whole one time in four.
func typo(rng *rand.Rand, name string) string {
	r := []rune(name)
	if len(r) < 4 || rng.IntN(4) == 0 {
		return name
	}
	r[1+rng.IntN(len(r)-2)] = 'x'
	return string(r)
}

// freshTypo changes one letter of name to a letter, both chosen from the worker w and
// the request number i, so that a load run seldom sends the same query twice.
func freshTypo(name string, w, i int) string {
	r := []rune(name)
	if len(r) < 4 {
		return name
	}
	x := uint64(w)*0x9E3779B97F4A7C15 + uint64(i)*0xBF58476D1CE4E5B9
	r[1+int(x%uint64(len(r)-2))] = rune('a' + x>>32%26)
	return string(r)
}

// BenchmarkDiscoveryHTTP drives find-providers2 and find-locations over real HTTP on
// loopback, beside a trivial handler on the same server, with 100,000 providers in the
// pool and the 171k-city catalog. Each sub-benchmark is closed-loop load from 16
// keep-alive connections for BYP_BENCH_DURATION (default 5 s), whatever b.N is;
// compare req/s with the trivial handler's. find-locations repeats 4,096 typo-laden
// city names, as users repeat their searches, so it mostly hits the engine's cache of
// match sets; find-locations-uncached sends a fresh typo with every request.
//
//	go test -run '^$' -bench DiscoveryHTTP -benchtime 1x ./bench/
func BenchmarkDiscoveryHTTP(b *testing.B) {
	st := newDiscoveryStack(b, 100_000, 171_075)
	const workers = 16
	client := load.Client(workers)
	base := st.srv.URL
	results := map[string]load.Result{}
	run := func(name string, req load.Request) {
		b.Run(name, func(b *testing.B) {
			res := load.Run(context.Background(), name, client, workers, benchDuration(),
				req)
			results[name] = res
			b.ReportMetric(res.RPS(), "req/s")
			b.ReportMetric(float64(res.P50.Microseconds()), "p50-µs")
			b.ReportMetric(float64(res.P99.Microseconds()), "p99-µs")
			b.ReportMetric(float64(res.Errors), "errors")
			b.Log(res)
		})
	}
	run("trivial", func(w, i int) (string, string, []byte) {
		return "GET", base + "/bench/trivial", nil
	})
	run("find-providers2", func(w, i int) (string, string, []byte) {
		k := (w*7919 + i) % len(st.cityIDs)
		body, _ := json.Marshal(map[string]any{"count": 10, "specs": []map[string]string{
			{"location_id": st.cityIDs[k].String()}}})
		return "POST", base + "/network/find-providers2", body
	})
	// A server that has run a while has searched these before: warm the engine's
	// cache of match sets with one pass, as the other loops warm theirs by running.
	for _, q := range st.queries {
		if _, err := st.eng.FindLocations(nil, engine.LocationQuery{Text: q}); err != nil {
			b.Fatal(err)
		}
	}
	run("find-locations", func(w, i int) (string, string, []byte) {
		q := st.queries[(w*104729+i)%len(st.queries)]
		body, _ := json.Marshal(map[string]any{"query": q})
		return "POST", base + "/network/find-locations", body
	})
	// The same searches with a fresh typo each time, so that the engine's cache of
	// match sets (which the loop above mostly hits) rarely helps.
	run("find-locations-uncached", func(w, i int) (string, string, []byte) {
		k := (w*104729 + i) % len(st.cityNames)
		body, _ := json.Marshal(map[string]any{"query": freshTypo(st.cityNames[k], w, i)})
		return "POST", base + "/network/find-locations", body
	})
	if t := results["trivial"]; t.RPS() > 0 {
		for _, name := range []string{"find-providers2", "find-locations",
			"find-locations-uncached"} {
			b.Logf("%s ÷ trivial = %.2f", name, results[name].RPS()/t.RPS())
		}
	}
}

// benchDuration is how long each load run lasts: BYP_BENCH_DURATION, default 5 s.
func benchDuration() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("BYP_BENCH_DURATION")); err == nil {
		return d
	}
	return 5 * time.Second
}

// TestDiscoveryStackSmall runs the benchmark's harness at a small scale, so the
// benchmark cannot rot unnoticed: every request it makes must succeed.
func TestDiscoveryStackSmall(t *testing.T) {
	st := newDiscoveryStack(t, 300, 2000)
	client := load.Client(2)
	res := load.Run(context.Background(), "find-providers2", client, 2, 300*time.Millisecond,
		func(w, i int) (string, string, []byte) {
			body, _ := json.Marshal(map[string]any{"count": 5, "specs": []map[string]string{
				{"location_id": st.cityIDs[i%len(st.cityIDs)].String()}}})
			return "POST", st.srv.URL + "/network/find-providers2", body
		})
	if res.Requests == 0 || res.Errors != 0 {
		t.Fatalf("%v", res)
	}
	var out struct {
		Providers []struct {
			ClientID string `json:"client_id"`
		} `json:"providers"`
	}
	body := fmt.Sprintf(`{"count": 5, "specs": [{"location_id": %q}]}`, st.cityIDs[0])
	resp, err := http.Post(st.srv.URL+"/network/find-providers2", "text/json",
		stringsReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	json.NewDecoder(resp.Body).Decode(&out)
	if len(out.Providers) == 0 {
		t.Fatal("no provider found at a city that has some")
	}
}
