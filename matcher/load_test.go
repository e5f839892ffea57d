package matcher

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"strings"
	"testing"
)

func TestReadPlacesWorld(t *testing.T) {
	places := worldPlaces(t)
	if len(places) != 171075 {
		t.Fatalf("read %d places, want 171075", len(places))
	}
	if p := places[0]; p != (Place{City: "Vila", Region: "Encamp", Country: "Andorra",
		CountryCode: "AD"}) {
		t.Fatalf("first place = %+v", p)
	}
	c := worldCatalog(t)
	s := c.snap.Load()
	if len(s.countries) != 246 {
		t.Errorf("%d countries, want 246", len(s.countries))
	}
	// The file repeats some (city, region, country) triples, which become one location.
	if c.Len() < 165000 || c.Len() > 180000 {
		t.Errorf("catalog holds %d locations", c.Len())
	}
}

func TestReadPlacesPlainAndGzip(t *testing.T) {
	text := "country_code\tcity\tregion\tcountry\textra\r\n" +
		"PT\tLisboa\tLisbon\tPortugal\tx\r\n" +
		"\n" +
		"AO\tNancova\t\tAngola\ty\n"
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	zw.Write([]byte(text))
	zw.Close()
	want := []Place{
		{City: "Lisboa", Region: "Lisbon", Country: "Portugal", CountryCode: "PT"},
		{City: "Nancova", Country: "Angola", CountryCode: "AO"},
	}
	for name, r := range map[string]*bytes.Reader{
		"plain": bytes.NewReader([]byte(text)), "gzip": bytes.NewReader(zipped.Bytes()),
	} {
		got, err := ReadPlaces(r)
		if err != nil || len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
			t.Errorf("%s: ReadPlaces = %+v, %v", name, got, err)
		}
	}
	c := NewCatalog()
	if n, err := c.Load(strings.NewReader(text)); n != 2 || err != nil || c.Len() != 5 {
		t.Fatalf("Load = %d, %v; catalog holds %d", n, err, c.Len())
	}
}

func TestReadPlacesRejectsBadInput(t *testing.T) {
	long := "city\tregion\tcountry\tcountry_code\n" + strings.Repeat("x", maxLineBytes+1) + "\n"
	for name, in := range map[string]string{
		"empty":          "",
		"missing column": "city\tregion\tcountry\n",
		"short row":      "city\tregion\tcountry\tcountry_code\nA\tB\n",
		"long line":      long,
		"broken gzip":    "\x1f\x8b\x08\x00garbage",
	} {
		if _, err := ReadPlaces(strings.NewReader(in)); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: ReadPlaces = %v, want ErrFormat", name, err)
		}
	}
	_, err := NewCatalog().Load(strings.NewReader("city\tregion\tcountry\tcountry_code\n" +
		"A\tB\tC\tXYZ\n"))
	if !errors.Is(err, ErrInvalidPlace) {
		t.Errorf("Load with a bad country code = %v, want ErrInvalidPlace", err)
	}
}

func TestLoadWorldFile(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("the world catalog is loaded through worldCatalog in this mode")
	}
	f, err := os.Open(citiesPath(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := NewCatalog()
	n, err := c.Load(f)
	if err != nil || n != 171075 || c.Len() != worldCatalog(t).Len() {
		t.Fatalf("Load = %d, %v; %d locations", n, err, c.Len())
	}
}
