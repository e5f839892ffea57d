package geoip

import (
	"fmt"
	"net/netip"
)

// Locator places connections: it asks its database first and falls back to a
// default place for addresses the database does not know, such as loopback and
// private addresses. Both parts are optional; with neither, nothing is placed. A
// nil *Locator places nothing. Locate is safe for concurrent use as long as the
// fields are not changed after the Locator is shared.
type Locator struct {
	// DB is the database consulted first, or nil for none.
	DB *DB
	// Default is the place of addresses that DB does not know. A Default without
	// a CountryCode, such as the zero Place, means no fallback: such addresses stay
	// unplaced and their providers cannot be found by location.
	Default Place
}

// OpenLocator builds a Locator from the --geoip-db and --default-location settings.
// An empty dbPath means no database (see Open for its forms) and an empty
// defaultLocation means no fallback (see ParsePlace for its forms). The caller
// must Close the Locator.
func OpenLocator(dbPath, defaultLocation string) (*Locator, error) {
	l := &Locator{}
	if defaultLocation != "" {
		p, err := ParsePlace(defaultLocation)
		if err != nil {
			return nil, fmt.Errorf("default location: %w", err)
		}
		l.Default = p
	}
	if dbPath != "" {
		db, err := Open(dbPath)
		if err != nil {
			return nil, err
		}
		l.DB = db
	}
	return l, nil
}

// Locate returns the place of addr from the database, else the default place, and
// reports false when it has neither.
func (l *Locator) Locate(addr netip.Addr) (Place, bool) {
	if l == nil {
		return Place{}, false
	}
	if p, ok := l.DB.Lookup(addr); ok {
		return p, true
	}
	if l.Default.CountryCode != "" {
		return l.Default, true
	}
	return Place{}, false
}

// Close closes the database of l, if any, under the same rule as DB.Close.
func (l *Locator) Close() error {
	if l == nil {
		return nil
	}
	return l.DB.Close()
}
