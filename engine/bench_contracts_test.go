package engine

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/byplatform/byplatform/store/storetest"
)

// The contract benchmarks run the control path's database work on each store driver:
// a PostgreSQL one when BYP_TEST_PG_URL is set (./scripts/with-postgres.sh), skipped
// otherwise as in the tests.

// benchParallelism is goroutines per CPU in the parallel benchmarks: connect servers
// run many control requests at once, each mostly waiting on the database.
const benchParallelism = 8

// benchGoroutines is how many goroutines RunParallel starts at benchParallelism.
func benchGoroutines() int { return benchParallelism * runtime.GOMAXPROCS(0) }

// reportRate adds operations per second to a benchmark's results.
func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// contractSource is a client whose network can pay for about any number of contracts,
// from three balances as a network with a few purchases has.
func (te *testEnv) contractSource() uuid.UUID {
	net := te.network()
	now := te.clock.Now()
	for i := range 3 {
		te.balance(net.ID, 1<<55, now.Add(-time.Hour), now.Add(time.Duration(i+1)*30*day))
	}
	return te.client(net.ID)
}

func BenchmarkCreateContract(b *testing.B) {
	for _, driver := range storetest.Drivers {
		b.Run(driver, func(b *testing.B) {
			te := newTestEnv(b, storetest.Open(b, driver), envOptions{})
			provider := te.publicPair()
			peer := te.client(provider.dstNet.ID)
			te.provide(te.eng, provider.dst, ProvideNetwork, ProvidePublic)
			src := te.contractSource()
			for _, c := range []struct {
				name     string
				src      uuid.UUID
				wantMode ProvideMode
			}{
				{"public", src, ProvidePublic},
				{"network", peer, ProvideNetwork},
			} {
				b.Run(c.name, func(b *testing.B) {
					req := ContractRequest{Source: c.src, Destination: provider.dst,
						TransferByteCount: 8 << 20}
					b.ReportAllocs()
					for b.Loop() {
						g, err := te.eng.CreateContract(te.ctx, req)
						if err != nil || g.Mode != c.wantMode {
							b.Fatalf("mode %d, %v", g.Mode, err)
						}
					}
					reportRate(b)
				})
			}
		})
	}
}

// BenchmarkCreateContractParallel creates Public contracts from many networks at once,
// each with its own balances, to one provider.
func BenchmarkCreateContractParallel(b *testing.B) {
	for _, driver := range storetest.Drivers {
		b.Run(driver, func(b *testing.B) {
			te := newTestEnv(b, storetest.Open(b, driver), envOptions{})
			provider := te.publicPair()
			sources := make([]uuid.UUID, benchGoroutines())
			for i := range sources {
				sources[i] = te.contractSource()
			}
			var next atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(benchParallelism)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				src := sources[next.Add(1)-1]
				req := ContractRequest{Source: src, Destination: provider.dst,
					TransferByteCount: 8 << 20}
				for pb.Next() {
					if _, err := te.eng.CreateContract(te.ctx, req); err != nil {
						b.Error(err)
						return
					}
				}
			})
			reportRate(b)
		})
	}
}

// benchProviders creates n clients and two 32-byte secrets for each.
func benchProviders(te *testEnv, n int) ([]uuid.UUID, []map[ProvideMode][]byte) {
	net := te.network()
	clients := make([]uuid.UUID, n)
	keys := make([]map[ProvideMode][]byte, n)
	for i := range clients {
		clients[i] = te.client(net.ID)
		keys[i] = map[ProvideMode][]byte{ProvideNetwork: randomBytes(32),
			ProvidePublic: randomBytes(32)}
	}
	return clients, keys
}

// BenchmarkProvide replaces the provide keys of 64 clients in turn, as clients do each
// time they connect.
func BenchmarkProvide(b *testing.B) {
	for _, driver := range storetest.Drivers {
		b.Run(driver, func(b *testing.B) {
			te := newTestEnv(b, storetest.Open(b, driver), envOptions{})
			clients, keys := benchProviders(te, 64)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := te.eng.Provide(te.ctx, clients[i], keys[i]); err != nil {
					b.Fatal(err)
				}
				i = (i + 1) % len(clients)
			}
			reportRate(b)
		})
	}
}

// BenchmarkProvideParallel is BenchmarkProvide from many goroutines, each with its own
// clients.
func BenchmarkProvideParallel(b *testing.B) {
	for _, driver := range storetest.Drivers {
		b.Run(driver, func(b *testing.B) {
			te := newTestEnv(b, storetest.Open(b, driver), envOptions{})
			// Each goroutine owns its clients, so no two replace the same keys.
			const per = 16
			clients, keys := benchProviders(te, per*benchGoroutines())
			var next atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(benchParallelism)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				first := int(next.Add(1)-1) * per
				for i := 0; pb.Next(); i = (i + 1) % per {
					k := first + i
					if err := te.eng.Provide(te.ctx, clients[k], keys[k]); err != nil {
						b.Error(err)
						return
					}
				}
			})
			reportRate(b)
		})
	}
}
