package matcher

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrFormat reports input that is not in the places TSV shape.
var ErrFormat = errors.New("bad places file")

// maxLineBytes bounds one line of a places file.
const maxLineBytes = 64 << 10

// ReadPlaces reads places from tab-separated text, plain or gzip-compressed (detected by
// its magic bytes). The first line is a header that names the columns; city, region,
// country and country_code are required, others (continent, latitude, ...) are ignored.
// Lines longer than 64 KiB, rows with fewer columns than the header, and invalid gzip
// data are errors that name the line.
func ReadPlaces(r io.Reader) ([]Place, error) {
	br := bufio.NewReader(r)
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrFormat, err)
		}
		defer zr.Close()
		r = zr
	} else {
		r = br
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLineBytes)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("%w: header: %w", ErrFormat, err)
		}
		return nil, fmt.Errorf("%w: no header", ErrFormat)
	}
	cols, err := placeColumns(sc.Text())
	if err != nil {
		return nil, err
	}
	var places []Place
	for line := 2; sc.Scan(); line++ {
		text := strings.TrimSuffix(sc.Text(), "\r")
		if text == "" {
			continue
		}
		f := strings.Split(text, "\t")
		if len(f) < cols.n {
			return nil, fmt.Errorf("%w: line %d: %d columns, want %d", ErrFormat, line, len(f),
				cols.n)
		}
		places = append(places, Place{
			City: f[cols.city], Region: f[cols.region], Country: f[cols.country],
			CountryCode: f[cols.code],
		})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: after line %d: %w", ErrFormat, len(places)+1, err)
	}
	return places, nil
}

// Load reads places as ReadPlaces does and adds them with AddAll. It returns the number
// of places read.
func (c *Catalog) Load(r io.Reader) (int, error) {
	places, err := ReadPlaces(r)
	if err != nil {
		return 0, err
	}
	if err := c.AddAll(places); err != nil {
		return 0, fmt.Errorf("load places: %w", err)
	}
	return len(places), nil
}

// columns are the indexes of the needed columns in a places file.
type columns struct {
	city, region, country, code int
	n                           int
}

// placeColumns finds the needed columns in the header line.
func placeColumns(header string) (columns, error) {
	header = strings.TrimSuffix(strings.TrimPrefix(header, "\ufeff"), "\r")
	idx := map[string]int{}
	names := strings.Split(header, "\t")
	for i, name := range names {
		idx[strings.ToLower(strings.TrimSpace(name))] = i
	}
	var c columns
	for _, want := range []struct {
		name string
		dst  *int
	}{{"city", &c.city}, {"region", &c.region}, {"country", &c.country},
		{"country_code", &c.code}} {
		i, ok := idx[want.name]
		if !ok {
			return columns{}, fmt.Errorf("%w: header has no %q column", ErrFormat, want.name)
		}
		*want.dst = i
		c.n = max(c.n, i+1)
	}
	return c, nil
}
