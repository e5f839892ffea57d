package store

import (
	"context"
	"strings"
)

// Place is an imported place of the location catalog.
type Place struct {
	CountryCode string
	Region      string
	City        string
}

// InsertPlaces stores places, skipping those already stored.
func (t *Tx) InsertPlaces(ctx context.Context, places []Place) error {
	if len(places) == 0 {
		return nil
	}
	args := make([]any, 0, 3*len(places))
	for _, p := range places {
		args = append(args, p.CountryCode, p.Region, p.City)
	}
	values := strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", len(places)), ", ")
	_, err := t.Exec(ctx, `INSERT INTO place (country_code, region, city) VALUES `+values+
		` ON CONFLICT (country_code, region, city) DO NOTHING`, args...)
	return err
}

// Places calls fn with every imported place.
func (s *Store) Places(ctx context.Context, fn func(Place)) error {
	rows, err := s.query(ctx, "SELECT country_code, region, city FROM place")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var p Place
		if err := rows.Scan(&p.CountryCode, &p.Region, &p.City); err != nil {
			return err
		}
		fn(p)
	}
	return rows.Err()
}
