package engine

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/byplatform/byplatform/internal/shareddata"
	"github.com/byplatform/byplatform/matcher"
	"github.com/byplatform/byplatform/store"
	"github.com/byplatform/byplatform/store/storetest"
)

func TestFindProvidersLimits(t *testing.T) {
	te, pr := newHealthEnv(t, berlinLocator(t))
	var all []uuid.UUID
	for i := range 12 {
		a := te.provider(ProvidePublic)
		te.connect(pr, a, fmt.Sprintf("127.0.0.1:%d", 40000+i))
		all = append(all, a.ClientID)
	}
	specs := []matcher.Spec{{LocationID: germany}}

	manySpecs := make([]matcher.Spec, maxSpecs+1)
	manyExcluded := make([]uuid.UUID, maxExclusions+1)
	for i := range manyExcluded {
		manyExcluded[i] = uuid.New()
	}
	for _, c := range []struct {
		name    string
		specs   []matcher.Spec
		count   int
		exclude []uuid.UUID
	}{
		{"negative count", specs, -1, nil},
		{"count over 1024", specs, maxProviderCount + 1, nil},
		{"too many specs", manySpecs, 1, nil},
		{"too many exclusions", specs, 1, manyExcluded},
	} {
		got, err := te.eng.FindProviders(nil, c.specs, c.count, c.exclude)
		if !isUserErr(err) || got != nil {
			t.Errorf("%s: %v, %v; want a user error", c.name, got, err)
		}
	}

	distinct := func(ids []uuid.UUID) bool {
		s := slices.Clone(ids)
		slices.SortFunc(s, uuidCompare)
		return len(slices.Compact(s)) == len(ids)
	}
	for _, c := range []struct {
		name        string
		specs       []matcher.Spec
		count, want int
		exclude     []uuid.UUID
	}{
		{"count zero means ten", specs, 0, 10, nil},
		{"count three", specs, 3, 3, nil},
		{"count past the providers", specs, maxProviderCount, 12, nil},
		{"the limits themselves", manySpecs[:maxSpecs], 5, 0, manyExcluded[:maxExclusions]},
		{"five excluded", specs, 20, 7, all[:5]},
		{"all excluded", specs, 20, 0, all},
		{"no specs", nil, 5, 0, nil},
		{"a group", []matcher.Spec{{LocationGroupID: matcher.GroupID("European Union")}},
			20, 12, nil},
		{"a client", []matcher.Spec{{ClientID: all[3]}}, 5, 1, nil},
		{"a country without providers", []matcher.Spec{{
			LocationID: matcher.CountryID("FR")}}, 5, 0, nil},
	} {
		got, err := te.eng.FindProviders(nil, c.specs, c.count, c.exclude)
		if err != nil || got == nil || len(got) != c.want || !distinct(got) {
			t.Errorf("%s: %d providers %v, %v; want %d distinct", c.name, len(got), got, err,
				c.want)
		}
		for _, id := range got {
			if slices.Contains(c.exclude, id) || !slices.Contains(all, id) {
				t.Errorf("%s: found %s, excluded or not a provider", c.name, id)
			}
		}
	}

	// Growing exclusions visit every provider exactly once, as deployed clients page.
	var seen []uuid.UUID
	for range len(all) + 1 {
		got, err := te.eng.FindProviders(nil, specs, 1, seen)
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, got...)
	}
	slices.SortFunc(seen, uuidCompare)
	want := slices.SortedFunc(slices.Values(all), uuidCompare)
	if !slices.Equal(seen, want) {
		t.Fatalf("paging with exclusions found %d providers, want each of %d once", len(seen),
			len(all))
	}

	if _, err := te.eng.FindLocations(nil, LocationQuery{Text: strings.Repeat("a",
		maxQueryLen+1)}); !isUserErr(err) {
		t.Fatalf("long location query: %v, want a user error", err)
	}
}

// providersIn connects n Public providers from the loopback range of a testPlaces
// entry, for example "127.0.2" for Paris.
func (te *testEnv) providersIn(pr *fakePresence, prefix string, n int,
	modes ...ProvideMode) []ClientAuth {
	te.tb.Helper()
	var out []ClientAuth
	for i := range n {
		a := te.provider(modes...)
		te.connect(pr, a, fmt.Sprintf("%s.%d:40000", prefix, i+1))
		out = append(out, a)
	}
	return out
}

func TestProviderSpec(t *testing.T) {
	te, pr := newHealthEnv(t, testLocator(t))
	te.providersIn(pr, "127.0.1", 4, ProvidePublic) // Germany
	te.providersIn(pr, "127.0.2", 3, ProvidePublic) // France
	te.providersIn(pr, "127.0.3", 2, ProvidePublic) // Netherlands
	te.providersIn(pr, "127.0.4", 1, ProvidePublic) // Italy
	// Five providers in Austria that only their own network may use.
	hidden := te.network()
	for i := range 5 {
		a := ClientAuth{ClientID: te.client(hidden.ID), NetworkID: hidden.ID}
		te.provide(te.eng, a.ClientID, ProvideNetwork)
		te.connect(pr, a, fmt.Sprintf("127.0.5.%d:40000", i+1))
	}

	country := func(code string) matcher.Spec {
		return matcher.Spec{LocationID: matcher.CountryID(code)}
	}
	best := []matcher.Spec{country("DE"), country("FR"), country("NL")}
	privacy := matcher.Spec{LocationGroupID: matcher.GroupID(
		"Strong Privacy Laws and Internet Freedom")}
	paris := matcher.Spec{LocationID: matcher.CityID("FR", "Île-de-France", "Paris")}

	for _, c := range []struct {
		text string
		want []matcher.Spec
		// exact says that want is the whole answer in order; else it is contained.
		exact bool
	}{
		{"I want to watch streaming in Germany", []matcher.Spec{country("DE")}, false},
		{"I want to watch streaming in Germany", best, false},
		{"privacy", []matcher.Spec{privacy}, true},
		{"I care about PRIVACY", []matcher.Spec{privacy}, false},
		{"gaming", best, true},
		{"low latency gaming", best, true},
		{"zxqv wkpj qqqq", best, true},
		{"", best, true},
		{"Germny", []matcher.Spec{country("DE")}, true},
		{"a server in Paris please", []matcher.Spec{paris}, false},
		{"European Union", []matcher.Spec{{LocationGroupID: matcher.GroupID(
			"European Union")}}, true},
	} {
		got, err := te.eng.ProviderSpec(nil, c.text)
		if err != nil {
			t.Fatalf("%q: %v", c.text, err)
		}
		ok := slices.Equal(got, c.want)
		if !c.exact {
			ok = true
			for _, s := range c.want {
				ok = ok && slices.Contains(got, s)
			}
		}
		if !ok {
			t.Errorf("ProviderSpec(%q) = %s, want %s (exact: %v)", c.text, specNames(te, got),
				specNames(te, c.want), c.exact)
		}
	}

	// The best countries are the caller's: Austria leads for its own network.
	got, err := te.eng.ProviderSpec(&Caller{NetworkID: hidden.ID}, "gaming")
	want := []matcher.Spec{country("AT"), country("DE"), country("FR")}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("gaming for the network of the Austrian providers = %s, %v",
			specNames(te, got), err)
	}

	if _, err := te.eng.ProviderSpec(nil, strings.Repeat("gaming ",
		200)); !isUserErr(err) {
		t.Errorf("long spec text: %v, want a user error", err)
	}
}

// TestProviderSpecWithoutProviders checks the answer of an empty pool: the places
// named, and for intents alone nothing rather than an error.
func TestProviderSpecWithoutProviders(t *testing.T) {
	te, _ := newHealthEnv(t, nil)
	got, err := te.eng.ProviderSpec(nil, "gaming")
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("gaming with no providers = %v, %v; want an empty list", got, err)
	}
	got, err = te.eng.ProviderSpec(nil, "streaming from Germany")
	if err != nil || !slices.Equal(got, []matcher.Spec{{LocationID: germany}}) {
		t.Fatalf("streaming from Germany with no providers = %s, %v", specNames(te, got), err)
	}
}

// specNames formats specs with the names of what they point at.
func specNames(te *testEnv, specs []matcher.Spec) string {
	var names []string
	for _, s := range specs {
		switch {
		case s.LocationGroupID != uuid.Nil:
			g, _ := te.eng.catalog.Group(s.LocationGroupID)
			names = append(names, "group "+g.Name)
		case s.LocationID != uuid.Nil:
			l, _ := te.eng.catalog.Location(s.LocationID)
			names = append(names, l.Type.String()+" "+l.Name)
		default:
			names = append(names, "client "+s.ClientID.String())
		}
	}
	return "[" + strings.Join(names, ", ") + "]"
}

const placesHeader = "city\tregion\tcountry\tcountry_code\tcontinent\tlatitude\tlongitude\n"

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// findCity reports whether a search for text finds the city.
func findCity(t testing.TB, e *Engine, text string, id uuid.UUID) bool {
	t.Helper()
	res, err := e.FindLocations(nil, LocationQuery{Text: text})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range res.Locations {
		if l.ID == id {
			if l.Type != matcher.LocationCity {
				t.Fatalf("%s found as a %s", text, l.Type)
			}
			return true
		}
	}
	return false
}

func TestImportLocations(t *testing.T) {
	plain := []byte(placesHeader +
		"Zzyzx\tCalifornia\tUnited States\tUS\tNorth America\t35.14\t-116.10\n" +
		"Qaqortoq\tKujalleq\tGreenland\tgl\tNorth America\t60.72\t-46.03\r\n" +
		"\n")
	zipped := gzipped(t, []byte(placesHeader+
		"Llanfairpwllgwyngyll\tWales\tUnited Kingdom\tGB\tEurope\t53.22\t-4.20\n"))
	zzyzx := matcher.CityID("US", "California", "Zzyzx")
	qaqortoq := matcher.CityID("GL", "Kujalleq", "Qaqortoq")
	llanfair := matcher.CityID("GB", "Wales", "Llanfairpwllgwyngyll")

	storetest.Each(t, func(t *testing.T, st *store.Store) {
		te := newTestEnv(t, st, envOptions{})
		if findCity(t, te.eng, "zzyzx", zzyzx) {
			t.Fatal("Zzyzx is found before the import")
		}
		for _, c := range []struct {
			name string
			data []byte
			n    int
		}{{"plain", plain, 2}, {"gzip", zipped, 1}, {"plain again", plain, 2}} {
			n, err := te.eng.ImportLocations(te.ctx, bytes.NewReader(c.data))
			if err != nil || n != c.n {
				t.Fatalf("import %s: %d places, %v; want %d", c.name, n, err, c.n)
			}
		}
		for _, e := range []*Engine{te.eng, te.newEngine(te.codeKey)} {
			for _, c := range []struct {
				text string
				id   uuid.UUID
			}{{"zzyzx", zzyzx}, {"Qaqortok", qaqortoq}, {"llanfairpwll", llanfair}} {
				if !findCity(t, e, c.text, c.id) {
					t.Fatalf("%q does not find the imported city", c.text)
				}
			}
		}
		l, ok := te.eng.catalog.Location(qaqortoq)
		if !ok || l.Country != "Greenland" || l.CountryCode != "GL" || l.Region != "Kujalleq" {
			t.Fatalf("imported city = %+v, %v", l, ok)
		}

		_, err := te.eng.ImportLocations(te.ctx, strings.NewReader("city\tregion\n"+
			"Nowhere\tNone\n"))
		if !isUserErr(err) {
			t.Fatalf("file without the needed columns: %v, want a user error", err)
		}
		_, err = te.eng.ImportLocations(te.ctx, bytes.NewReader(zipped[:len(zipped)/2]))
		if !isUserErr(err) {
			t.Fatalf("truncated gzip: %v, want a user error", err)
		}
	})
}

// TestImportWorldCities imports a slice of the world cities file as is, gzip and all.
func TestImportWorldCities(t *testing.T) {
	f, err := os.Open(filepath.Join(sharedData(t), "cities.tsv.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	const rows = 2000
	var head bytes.Buffer
	sc := bufio.NewScanner(zr)
	var last []string
	for i := 0; i <= rows && sc.Scan(); i++ {
		head.WriteString(sc.Text() + "\n")
		last = strings.Split(sc.Text(), "\t")
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	te := newTestEnv(t, storetest.Open(t, "sqlite"), envOptions{})
	n, err := te.eng.ImportLocations(te.ctx, bytes.NewReader(gzipped(t, head.Bytes())))
	if err != nil || n != rows {
		t.Fatalf("import: %d places, %v; want %d", n, err, rows)
	}
	id := matcher.CityID(last[3], last[1], last[0])
	e2 := te.newEngine(te.codeKey)
	if !findCity(t, e2, last[0]+" "+last[1], id) {
		t.Fatalf("the last imported city, %s, is not found after a restart", last[0])
	}
}

// sharedData returns the shared/data directory.
func sharedData(t testing.TB) string { return shareddata.Dir(t) }

// TestImportLocationsRejectsInvalidPlaces imports a file with a row the catalog
// refuses. The import must fail as the caller's error and leave the store able to
// start an engine.
func TestImportLocationsRejectsInvalidPlaces(t *testing.T) {
	st := storetest.Open(t, "sqlite")
	te := newTestEnv(t, st, envOptions{})
	for _, row := range []string{
		"Atlantis\tOcean\tNowhere\tXYZ\n",
		"Dash\t---\tGermany\tDE\n",
	} {
		_, err := te.eng.ImportLocations(te.ctx, strings.NewReader(
			"city\tregion\tcountry\tcountry_code\nBonn\tNorth Rhine-Westphalia\tGermany\tDE\n"+
				row))
		if !isUserErr(err) {
			t.Errorf("import of %q: %v, want a user error", row, err)
		}
	}
	e, err := New(context.Background(), Config{Store: st, Signer: te.signer,
		Sender: te.sender, CodeKey: te.codeKey})
	if err != nil {
		t.Fatalf("engine after a refused import: %v", err)
	}
	e.Close()
	var places []store.Place
	if err := st.Places(te.ctx, func(p store.Place) { places = append(places, p) }); err != nil {
		t.Fatal(err)
	}
	if len(places) != 0 {
		t.Fatalf("a refused import stored %v", places)
	}
}
