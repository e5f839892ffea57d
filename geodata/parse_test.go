package geodata

import (
	"bytes"
	"compress/gzip"
	"slices"
	"strings"
	"testing"
)

const validText = "# comment\n" +
	"country\tDE\tGermany\tEurope\n" +
	"country\tFR\tFrance\tEurope\n" +
	"region\tDE\tBavaria\n" +
	"region\tDE\tHesse\n" +
	"region\tFR\tÎle-de-France\n"

func TestParseText(t *testing.T) {
	c, err := parseText(validText)
	if err != nil {
		t.Fatal(err)
	}
	wantCountries := []Country{{"DE", "Germany", "Europe"}, {"FR", "France", "Europe"}}
	wantRegions := []Region{{"DE", "Bavaria"}, {"DE", "Hesse"}, {"FR", "Île-de-France"}}
	if !slices.Equal(c.countries, wantCountries) || !slices.Equal(c.regions, wantRegions) {
		t.Errorf("parseText = %+v, %+v; want %+v, %+v",
			c.countries, c.regions, wantCountries, wantRegions)
	}
}

func TestParseTextRejectsMalformedData(t *testing.T) {
	tests := []struct {
		name, text, err string
	}{
		{"no final newline", "country\tDE\tGermany\tEurope", "line 1: no final newline"},
		{"unknown kind", "city\tDE\tBerlin\n", `line 1: unknown kind "city"`},
		{"empty line", "country\tDE\tGermany\tEurope\n\n", `line 2: unknown kind ""`},
		{"too few fields", "country\tDE\tGermany\n", "line 1: want 4 fields"},
		{"too many fields", "region\tDE\tBavaria\tEurope\n", "line 1: want 3 fields"},
		{"empty name", "country\tDE\t\tEurope\n", `line 1: field 3 "" is empty`},
		{"padded name", "country\tDE\tGermany \tEurope\n", "is empty or padded"},
		{"carriage return", "country\tDE\tGermany\tEurope\r\n", "is empty or padded"},
		{"lower-case code", "country\tde\tGermany\tEurope\n", "not two upper-case letters"},
		{"long code", "country\tDEU\tGermany\tEurope\n", "not two upper-case letters"},
		{"countries out of order", "country\tFR\tFrance\tEurope\ncountry\tDE\tGermany\tEurope\n",
			"line 2: country DE out of order"},
		{"repeated country", "country\tDE\tGermany\tEurope\ncountry\tDE\tGermany\tEurope\n",
			"line 2: country DE out of order or repeated"},
		{"regions out of order", "country\tDE\tGermany\tEurope\n" +
			"region\tDE\tHesse\nregion\tDE\tBavaria\n", `line 3: region DE "Bavaria" out of order`},
		{"repeated region", "country\tDE\tGermany\tEurope\n" +
			"region\tDE\tHesse\nregion\tDE\tHesse\n",
			"line 3: region DE \"Hesse\" out of order or repeated"},
		{"region of unknown country", "country\tDE\tGermany\tEurope\nregion\tFR\tCorsica\n",
			"line 2: region \"Corsica\" of unknown country FR"},
		{"country after regions", "country\tDE\tGermany\tEurope\nregion\tDE\tHesse\n" +
			"country\tFR\tFrance\tEurope\n", "line 3: country after regions"},
		{"comment after data", "country\tDE\tGermany\tEurope\n# late\n",
			"line 2: comment after data"},
		{"invalid UTF-8", "country\tDE\tGerm\xffany\tEurope\n", "not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseText(tt.text)
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parseText error = %v, want one containing %q", err, tt.err)
			}
		})
	}
}

func TestParseRejectsBrokenGzip(t *testing.T) {
	good := gzipped(t, validText)
	corrupt := bytes.Clone(good)
	corrupt[len(corrupt)-6] ^= 0xff // inside the CRC-32 of the trailer
	big := gzipped(t, strings.Repeat("# padding\n", maxPlacesSize/10+1))

	tests := []struct {
		name string
		data []byte
		err  string
	}{
		{"not gzip", []byte(validText), "decompress"},
		{"empty", nil, "decompress"},
		{"truncated", good[:len(good)-10], "decompress"},
		{"bad checksum", corrupt, "decompress"},
		{"too large", big, "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(tt.data)
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parse error = %v, want one containing %q", err, tt.err)
			}
		})
	}
	if _, err := parse(good); err != nil {
		t.Errorf("parse of the valid data: %v", err)
	}
}

func TestEmbeddedDataParses(t *testing.T) {
	c, err := parse(placesGz)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.countries) == 0 || len(c.regions) == 0 {
		t.Fatalf("%d countries, %d regions", len(c.countries), len(c.regions))
	}
}

// FuzzParseText checks that no input panics and that accepted input holds the invariants
// the lookups rely on.
func FuzzParseText(f *testing.F) {
	f.Add(validText)
	f.Add("country\tDE\tGermany\tEurope\nregion\tDE\tBavaria\nregion\tDE\tBavaria\n")
	f.Add("region\tDE\tBavaria\n")
	f.Add("country\tDE\tGermany\n")
	f.Add("#\n\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, text string) {
		c, err := parseText(text)
		if err != nil {
			return
		}
		for i, k := range c.countries {
			if i > 0 && c.countries[i-1].Code >= k.Code {
				t.Fatalf("countries out of order: %+v", c.countries)
			}
			if k.Name == "" || k.Continent == "" {
				t.Fatalf("country with empty field: %+v", k)
			}
		}
		for i, r := range c.regions {
			if i > 0 && compareRegions(c.regions[i-1], r) >= 0 {
				t.Fatalf("regions out of order: %+v", c.regions)
			}
			if _, ok := searchCountry(c.countries, r.CountryCode); !ok || r.Name == "" {
				t.Fatalf("region in unknown country or without a name: %+v", r)
			}
		}
	})
}

func gzipped(t *testing.T, text string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write([]byte(text)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
