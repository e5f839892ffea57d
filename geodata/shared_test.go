package geodata_test

import (
	"bufio"
	"compress/gzip"
	"os"
	"strings"
	"testing"

	"github.com/byplatform/byplatform/geodata"
	"github.com/byplatform/byplatform/internal/shareddata"
)

// sharedCities returns the path of the shared world cities file.
func sharedCities(t *testing.T) string { return shareddata.Cities(t) }

// TestCoversSharedCities checks the built-in data against the shared cities file, which
// was made from the same package versions: every country must be there with the same
// name and continent, and every region of a city must be a built-in region.
func TestCoversSharedCities(t *testing.T) {
	f, err := os.Open(sharedCities(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}

	regions := make(map[geodata.Region]bool)
	for _, r := range geodata.Regions() {
		regions[r] = true
	}
	seenCountries := make(map[string]bool)
	seenRegions := make(map[geodata.Region]bool)
	sc := bufio.NewScanner(zr)
	for n := 1; sc.Scan(); n++ {
		// city, region, country, country_code, continent, latitude, longitude
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) != 7 {
			t.Fatalf("line %d: %d fields, want 7", n, len(fields))
		}
		if n == 1 {
			continue // header
		}
		region, name, code, continent := fields[1], fields[2], fields[3], fields[4]
		if !seenCountries[code] {
			seenCountries[code] = true
			want := geodata.Country{Code: code, Name: name, Continent: continent}
			if got, ok := geodata.LookupCountry(code); !ok || got != want {
				t.Errorf("line %d: LookupCountry(%q) = %+v, %v; want %+v", n, code, got, ok, want)
			}
		}
		r := geodata.Region{CountryCode: code, Name: region}
		if region == "" || seenRegions[r] {
			continue
		}
		seenRegions[r] = true
		if !regions[r] {
			t.Errorf("line %d: region %q of %s missing", n, region, code)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(seenCountries) < 200 || len(seenRegions) < 3000 {
		t.Fatalf("shared file has only %d countries and %d regions; is it truncated?",
			len(seenCountries), len(seenRegions))
	}
	t.Logf("shared cities: %d countries, %d regions; built in: %d countries, %d regions",
		len(seenCountries), len(seenRegions), len(geodata.Countries()), len(regions))
}
