package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migration is one versioned schema change, embedded in the binary.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations lists the embedded migrations in version order. File names are
// NNNN_name.sql.
func Migrations() ([]Migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, e := range entries {
		base := strings.TrimSuffix(e.Name(), ".sql")
		num, name, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", e.Name())
		}
		text, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: name, SQL: string(text)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	return ms, nil
}

// Migrate applies every embedded migration the database has not seen, each in its own
// transaction, and returns the versions it applied. Instances starting together are
// safe: the version row is written first, so a second writer conflicts and retries.
func (s *Store) Migrate(ctx context.Context) ([]int, error) {
	const create = `CREATE TABLE IF NOT EXISTS schema_migration (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_time BIGINT NOT NULL)`
	// Two instances creating the table at once can collide in PostgreSQL's catalog;
	// the loser finds the table there on its second try.
	if _, err := s.rw.ExecContext(ctx, create); err != nil {
		if _, err := s.rw.ExecContext(ctx, create); err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
	}
	ms, err := Migrations()
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var applied []int
	for _, m := range ms {
		did, err := s.apply(ctx, m)
		if errors.Is(err, ErrDuplicate) {
			// Another instance applied it between our check and our insert.
			did, err = s.apply(ctx, m)
		}
		if err != nil {
			return applied, fmt.Errorf("migrate %04d_%s: %w", m.Version, m.Name, err)
		}
		if did {
			s.log.Info("migration applied", "version", m.Version, "name", m.Name)
			applied = append(applied, m.Version)
		}
	}
	return applied, nil
}

func (s *Store) apply(ctx context.Context, m Migration) (bool, error) {
	did := false
	err := s.Tx(ctx, func(tx *Tx) error {
		did = false
		var n int
		err := tx.QueryRow(ctx, "SELECT count(*) FROM schema_migration WHERE version = ?",
			m.Version).Scan(&n)
		if err != nil || n > 0 {
			return err
		}
		_, err = tx.Exec(ctx,
			"INSERT INTO schema_migration (version, name, applied_time) VALUES (?, ?, ?)",
			m.Version, m.Name, micros(time.Now()))
		if err = duplicate(err); err != nil {
			return err
		}
		for _, stmt := range splitStatements(s.dialect.schema(m.SQL)) {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("%s: %w", firstLine(stmt), err)
			}
		}
		did = true
		return nil
	})
	return did, err
}

// splitStatements splits migration text on semicolons that end a line, dropping
// comment lines. Migrations keep to that shape.
func splitStatements(text string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(trimmed, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if rest := strings.TrimSpace(cur.String()); rest != "" {
		out = append(out, rest)
	}
	return out
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
