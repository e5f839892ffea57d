// Package store is the durable state of byplatform over database/sql.
//
// One implementation serves two drivers: a pure-Go SQLite (modernc.org/sqlite), the
// embedded default, and pgx for PostgreSQL and CockroachDB. Queries are written with `?`
// placeholders in the SQL subset the three engines share; the few dialect differences
// (placeholders, the byte type, how a transaction is retried) live in dialect.go.
//
// Every read-write transaction goes through Store.Tx, which re-runs the whole function
// on serialization failures, including ones raised at COMMIT.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver
)

// ErrNotFound is returned by lookups that find no row.
var ErrNotFound = errors.New("not found")

// Store is the database handle. It is safe for concurrent use; Close releases it.
type Store struct {
	dialect dialect
	// rw runs every read-write transaction. On SQLite it holds one connection, so
	// writers queue in Go rather than spin on SQLITE_BUSY.
	rw *sql.DB
	// ro serves reads outside transactions. On PostgreSQL it is rw.
	ro  *sql.DB
	log *slog.Logger

	// OnError, when set, is called for each database error that reaches a caller
	// (not counting retried serialization failures). Metrics hang off it.
	OnError func(op string, err error)
}

// Options configure Open.
type Options struct {
	// DSN is a postgres:// or postgresql:// URL for PostgreSQL or CockroachDB. Empty
	// selects SQLite at SQLitePath.
	DSN string
	// SQLitePath is the database file used when DSN is empty.
	SQLitePath string
	Logger     *slog.Logger
}

// Open connects to the database named by opts. It does not apply migrations; call
// Migrate for that.
func Open(ctx context.Context, opts Options) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.DSN != "" && !strings.HasPrefix(opts.DSN, "sqlite:") {
		return openPostgres(ctx, opts.DSN, log)
	}
	path := strings.TrimPrefix(opts.DSN, "sqlite:")
	if path == "" {
		path = opts.SQLitePath
	}
	return openSQLite(ctx, path, log)
}

func openPostgres(ctx context.Context, dsn string, log *slog.Logger) (*Store, error) {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return nil, fmt.Errorf("open database: unsupported --db %q: want postgres:// or empty",
			redactDSN(dsn))
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	var version string
	if err := db.QueryRowContext(ctx, "SELECT version()").Scan(&version); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", redactDSN(dsn), err)
	}
	d := postgresDialect
	if strings.Contains(version, "CockroachDB") {
		d = cockroachDialect
	}
	return &Store{dialect: d, rw: db, ro: db, log: log}, nil
}

func openSQLite(ctx context.Context, path string, log *slog.Logger) (*Store, error) {
	if path == "" {
		return nil, errors.New("open database: no SQLite path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	pragmas := "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)"
	rw, err := sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	rw.SetMaxOpenConns(1)
	ro, err := sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_pragma=query_only(1)")
	if err != nil {
		rw.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	ro.SetMaxOpenConns(4)
	s := &Store{dialect: sqliteDialect, rw: rw, ro: ro, log: log}
	// The first statement creates the file and switches it to WAL before readers open it.
	// Processes that open a new file at once can meet SQLITE_BUSY there, which SQLite
	// reports without waiting out the busy timeout (a lock upgrade that could deadlock),
	// so the connection is retried.
	if _, err := withRetries(ctx, func() error { return rw.PingContext(ctx) }); err != nil {
		s.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	err := s.rw.Close()
	if s.ro != s.rw {
		err = errors.Join(err, s.ro.Close())
	}
	return err
}

// Driver names the database engine: "sqlite", "postgres" or "cockroach".
func (s *Store) Driver() string { return s.dialect.name }

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rw.PingContext(ctx); err != nil {
		return err
	}
	var one int
	return s.ro.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// Tx is a transaction handed to the function passed to Store.Tx. Its methods take `?`
// placeholders.
type Tx struct {
	tx *sql.Tx
	d  dialect
}

// Exec runs a statement in the transaction.
func (t *Tx) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, t.d.rebind(query), args...)
}

// Query runs a query in the transaction.
func (t *Tx) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, t.d.rebind(query), args...)
}

// QueryRow runs a query that returns at most one row.
func (t *Tx) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, t.d.rebind(query), args...)
}

// query runs a read outside any transaction.
func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	rows, err := s.ro.QueryContext(ctx, s.dialect.rebind(query), args...)
	if err != nil {
		s.noteError("query", err)
	}
	return rows, err
}

// queryRow runs a read of at most one row outside any transaction.
func (s *Store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return s.ro.QueryRowContext(ctx, s.dialect.rebind(query), args...)
}

func (s *Store) noteError(op string, err error) {
	if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, context.Canceled) {
		return
	}
	if s.OnError != nil {
		s.OnError(op, err)
	}
}

// redactDSN drops the password from a database URL so it can be logged.
func redactDSN(dsn string) string {
	at := strings.LastIndex(dsn, "@")
	scheme := strings.Index(dsn, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return dsn
	}
	userinfo := dsn[scheme+3 : at]
	if i := strings.Index(userinfo, ":"); i >= 0 {
		userinfo = userinfo[:i] + ":xxxxx"
	}
	return dsn[:scheme+3] + userinfo + dsn[at:]
}
