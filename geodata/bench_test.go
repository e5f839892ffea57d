package geodata

import "testing"

// BenchmarkLoad measures the first use: decompressing and parsing the embedded data.
func BenchmarkLoad(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(placesGz)))
	for b.Loop() {
		if _, err := parse(placesGz); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookupCountry measures a lookup by a canonical code and by one that must first
// be changed to upper case.
func BenchmarkLookupCountry(b *testing.B) {
	load()
	for _, code := range []string{"DE", "de"} {
		b.Run(code, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := LookupCountry(code); !ok {
					b.Fatalf("%s not found", code)
				}
			}
		})
	}
}

func BenchmarkCountryRegions(b *testing.B) {
	load()
	b.ReportAllocs()
	for b.Loop() {
		if len(CountryRegions("US")) == 0 {
			b.Fatal("no US regions")
		}
	}
}
