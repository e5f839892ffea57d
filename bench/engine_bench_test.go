package bench

import (
	"testing"

	"github.com/byplatform/byplatform/engine"
)

// BenchmarkFindLocationsEngine is find-locations without HTTP: the engine's search of
// the 171k-city catalog with 100,000 providers, over the same typo-laden query mix as
// BenchmarkDiscoveryHTTP. Set-up takes about 40 s.
func BenchmarkFindLocationsEngine(b *testing.B) {
	st := newDiscoveryStack(b, 100_000, 171_075)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		q := st.queries[i%len(st.queries)]
		if _, err := st.eng.FindLocations(nil, engine.LocationQuery{Text: q}); err != nil {
			b.Fatal(err)
		}
	}
}
