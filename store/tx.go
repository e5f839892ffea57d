package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/cockroachdb/cockroach-go/v2/crdb"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// maxAttempts bounds how often Tx re-runs a transaction that keeps conflicting.
const maxAttempts = 20

// Tx runs fn in a read-write transaction and commits it. When the engine reports a
// serialization failure (SQLSTATE 40001) or SQLite reports the database busy, at any
// statement or at COMMIT, the whole function runs again in a new transaction, so fn
// must not keep side effects outside the transaction, or must tolerate a re-run.
// An error returned by fn rolls back and is returned unchanged.
func (s *Store) Tx(ctx context.Context, fn func(tx *Tx) error) error {
	var err error
	if s.dialect.crdb {
		// CockroachDB: its savepoint protocol checks the COMMIT's error itself.
		err = crdb.ExecuteTx(ctx, s.rw, nil, func(t *sql.Tx) error {
			return fn(&Tx{tx: t, d: s.dialect})
		})
	} else {
		err = s.retryTx(ctx, fn)
	}
	s.noteError("tx", err)
	return err
}

// retryTx is the whole-transaction retry used on PostgreSQL and SQLite. Unlike
// crdb.ExecuteTx on plain PostgreSQL, it treats a failure at COMMIT like any other.
func (s *Store) retryTx(ctx context.Context, fn func(tx *Tx) error) error {
	opts := &sql.TxOptions{}
	if s.dialect.name == "postgres" {
		opts.Isolation = sql.LevelSerializable
	}
	attempts, err := withRetries(ctx, func() error { return s.runOnce(ctx, opts, fn) })
	if err != nil && retryable(err) {
		return fmt.Errorf("transaction gave up after %d attempts: %w", attempts, err)
	}
	return err
}

// withRetries runs fn until it succeeds, fails with an error that retryable rejects, or
// has run maxAttempts times, and returns the runs made and the last error. Between runs
// it waits a doubling interval with jitter, which spreads out callers that conflicted
// with each other.
func withRetries(ctx context.Context, fn func() error) (int, error) {
	backoff := 2 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || !retryable(err) || attempt == maxAttempts {
			return attempt, err
		}
		select {
		case <-ctx.Done():
			return attempt, ctx.Err()
		case <-time.After(backoff/2 + rand.N(backoff)):
		}
		backoff = min(backoff*2, 200*time.Millisecond)
	}
}

func (s *Store) runOnce(ctx context.Context, opts *sql.TxOptions, fn func(*Tx) error) error {
	t, err := s.rw.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	if err := fn(&Tx{tx: t, d: s.dialect}); err != nil {
		t.Rollback()
		return err
	}
	return t.Commit()
}

// retryable reports whether err is a conflict that a re-run of the transaction may
// resolve.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "40001" || pgErr.Code == "40P01"
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		code := liteErr.Code() & 0xff
		return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
	}
	return false
}
