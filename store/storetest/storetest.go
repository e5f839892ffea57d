// Package storetest opens real stores for tests: a SQLite file in a temporary directory
// and a fresh database on the PostgreSQL server named by BYP_TEST_PG_URL.
//
// `make test` starts a throwaway PostgreSQL cluster and sets BYP_TEST_PG_URL. Run by hand
// without it, the PostgreSQL cases are skipped, except under CI, where they fail.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/byplatform/byplatform/store"
)

// Drivers are the names Each runs under.
var Drivers = []string{"sqlite", "postgres"}

// Each runs fn once per driver as a subtest, each with a new migrated store.
func Each(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	for _, d := range Drivers {
		t.Run(d, func(t *testing.T) {
			fn(t, Open(t, d))
		})
	}
}

// Open returns a new migrated store of the driver, closed when the test ends.
func Open(t testing.TB, driver string) *store.Store {
	t.Helper()
	dsn := DSN(t, driver)
	s, err := store.Open(context.Background(), store.Options{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// DSN returns a connection string for a new, empty database of the driver: a SQLite
// file in the test's temporary directory, or a database created on the test PostgreSQL
// server and dropped when the test ends.
func DSN(t testing.TB, driver string) string {
	t.Helper()
	switch driver {
	case "sqlite":
		return "sqlite:" + t.TempDir() + "/byplatform.db"
	case "postgres":
		return postgresDatabase(t)
	}
	t.Fatalf("unknown driver %q", driver)
	return ""
}

func postgresDatabase(t testing.TB) string {
	base := os.Getenv("BYP_TEST_PG_URL")
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("BYP_TEST_PG_URL is not set; run the tests with `make test`")
		}
		t.Skip("BYP_TEST_PG_URL is not set; `make test` starts a PostgreSQL for this")
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var b [6]byte
	rand.Read(b[:])
	name := "byp_test_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer admin.Close()
		admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
