package store_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/byplatform/byplatform/store"
	"github.com/byplatform/byplatform/store/storetest"
)

func TestMigrateIsIdempotent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		applied, err := s.Migrate(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(applied) != 0 {
			t.Fatalf("second migrate applied %v, want nothing", applied)
		}
	})
}

func TestConcurrentMigrateAppliesOnce(t *testing.T) {
	for _, driver := range storetest.Drivers {
		t.Run(driver, func(t *testing.T) {
			dsn := storetest.DSN(t, driver)
			ctx := context.Background()
			var wg sync.WaitGroup
			errs := make([]error, 4)
			counts := make([]int, 4)
			for i := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s, err := store.Open(ctx, store.Options{DSN: dsn})
					if err != nil {
						errs[i] = err
						return
					}
					defer s.Close()
					applied, err := s.Migrate(ctx)
					errs[i], counts[i] = err, len(applied)
				}()
			}
			wg.Wait()
			total := 0
			for i, err := range errs {
				if err != nil {
					t.Fatalf("migrate %d: %v", i, err)
				}
				total += counts[i]
			}
			ms, _ := store.Migrations()
			if total != len(ms) {
				t.Fatalf("applied %d migrations in all, want %d", total, len(ms))
			}
		})
	}
}

// TestSerializableCounterLosesNothing runs many transactions that each read the highest
// value and insert the next one. Under serializable isolation with whole-transaction
// retries every transaction that reported success is there, with no gaps or
// duplicates; a serialization failure swallowed at COMMIT would show as a missing value.
func TestSerializableCounterLosesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		err := s.Tx(ctx, func(tx *store.Tx) error {
			_, err := tx.Exec(ctx, "CREATE TABLE skew (id TEXT PRIMARY KEY, n INTEGER NOT NULL)")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		const workers, each = 8, 10
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					errs <- s.Tx(ctx, func(tx *store.Tx) error {
						var top int
						err := tx.QueryRow(ctx, "SELECT COALESCE(MAX(n), 0) FROM skew").Scan(&top)
						if err != nil {
							return err
						}
						_, err = tx.Exec(ctx, "INSERT INTO skew (id, n) VALUES (?, ?)",
							uuid.NewString(), top+1)
						return err
					})
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		var got []int
		err = s.Tx(ctx, func(tx *store.Tx) error {
			got = got[:0]
			rows, err := tx.Query(ctx, "SELECT n FROM skew")
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var n int
				if err := rows.Scan(&n); err != nil {
					return err
				}
				got = append(got, n)
			}
			return rows.Err()
		})
		if err != nil {
			t.Fatal(err)
		}
		sort.Ints(got)
		if len(got) != workers*each {
			t.Fatalf("got %d rows, want %d", len(got), workers*each)
		}
		for i, n := range got {
			if n != i+1 {
				t.Fatalf("values not 1..%d: %v", workers*each, got)
			}
		}
	})
}

// TestWriteSkewIsPrevented is the classic on-call rule: at least one of two doctors
// stays on call. Each transaction checks that two are on call, then takes one off.
// Under snapshot isolation both could commit; serializable retries must leave one.
func TestWriteSkewIsPrevented(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		err := s.Tx(ctx, func(tx *store.Tx) error {
			if _, err := tx.Exec(ctx,
				"CREATE TABLE oncall (name TEXT PRIMARY KEY, "+
					"on_call BOOLEAN NOT NULL)"); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO oncall VALUES ('alice', TRUE), ('bob', TRUE)")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		errNotEnough := errors.New("not enough on call")
		var wg sync.WaitGroup
		results := make([]error, 2)
		start := make(chan struct{})
		for i, name := range []string{"alice", "bob"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[i] = s.Tx(ctx, func(tx *store.Tx) error {
					var n int
					err := tx.QueryRow(ctx, "SELECT count(*) FROM oncall WHERE on_call").Scan(&n)
					if err != nil {
						return err
					}
					if n < 2 {
						return errNotEnough
					}
					_, err = tx.Exec(ctx, "UPDATE oncall SET on_call = FALSE WHERE name = ?", name)
					return err
				})
			}()
		}
		close(start)
		wg.Wait()
		var n int
		s.Tx(ctx, func(tx *store.Tx) error {
			return tx.QueryRow(ctx, "SELECT count(*) FROM oncall WHERE on_call").Scan(&n)
		})
		if n != 1 {
			t.Fatalf("%d on call after both transactions (results %v), want 1", n, results)
		}
		ok := 0
		for _, err := range results {
			if err == nil {
				ok++
			} else if !errors.Is(err, errNotEnough) {
				t.Fatalf("unexpected error: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d transactions succeeded, want 1 (results %v)", ok, results)
		}
	})
}

func TestAccountsRoundTrip(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Microsecond)
		net := store.Network{ID: uuid.New(), Name: "examplenet", AdminUserID: uuid.New(),
			CreateTime: now}
		user := store.User{ID: net.AdminUserID, NetworkID: net.ID, Name: "Ann",
			Auth: "ann@example.com", AuthType: "email", PasswordHash: "hash", CreateTime: now}
		err := s.Tx(ctx, func(tx *store.Tx) error {
			if err := tx.InsertNetwork(ctx, net); err != nil {
				return err
			}
			return tx.InsertUser(ctx, user)
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.UserByAuth(ctx, "ann@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if got != user {
			t.Fatalf("got %+v, want %+v", got, user)
		}
		err = s.Tx(ctx, func(tx *store.Tx) error {
			return tx.InsertNetwork(ctx, store.Network{ID: uuid.New(), Name: "examplenet",
				AdminUserID: uuid.New(), CreateTime: now})
		})
		if !errors.Is(err, store.ErrDuplicate) {
			t.Fatalf("duplicate network name: got %v, want ErrDuplicate", err)
		}
		if _, err := s.UserByAuth(ctx, "nobody@example.com"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown user: got %v, want ErrNotFound", err)
		}
	})
}

func TestSessionsRevokeWithChildren(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Now()
		user, other := uuid.New(), uuid.New()
		parent := store.Session{ID: uuid.New(), UserID: user, NetworkID: uuid.New(),
			CreateTime: now}
		child := store.Session{ID: uuid.New(), UserID: user, NetworkID: parent.NetworkID,
			ParentID: parent.ID, CreateTime: now}
		stranger := store.Session{ID: uuid.New(), UserID: other, NetworkID: uuid.New(),
			CreateTime: now}
		err := s.Tx(ctx, func(tx *store.Tx) error {
			for _, sess := range []store.Session{parent, child, stranger} {
				if err := tx.InsertSession(ctx, sess); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		active := func(ids ...uuid.UUID) bool {
			ok, err := s.SessionsActive(ctx, ids)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if !active(parent.ID, child.ID) || !active(stranger.ID) {
			t.Fatal("new sessions are not active")
		}
		if active(uuid.New()) {
			t.Fatal("an unknown session is active")
		}
		err = s.Tx(ctx, func(tx *store.Tx) error {
			return tx.RevokeUserSessions(ctx, user, now)
		})
		if err != nil {
			t.Fatal(err)
		}
		if active(parent.ID) || active(child.ID) {
			t.Fatal("revoked sessions are still active")
		}
		if !active(stranger.ID) {
			t.Fatal("another user's session was revoked")
		}
	})
}

func TestClientCountsAndRemoval(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		networkID := uuid.New()
		base := time.Now().Add(-time.Hour)
		var ids []uuid.UUID
		err := s.Tx(ctx, func(tx *store.Tx) error {
			ids = ids[:0]
			for i := 0; i < 3; i++ {
				c := store.Client{ID: uuid.New(), NetworkID: networkID, DeviceID: uuid.New(),
					Description: fmt.Sprint("client ", i),
					CreateTime:  base.Add(time.Duration(i) * time.Minute),
					AuthTime:    base}
				if err := tx.InsertClient(ctx, c); err != nil {
					return err
				}
				ids = append(ids, c.ID)
			}
			return tx.RemoveClient(ctx, networkID, ids[1], time.Now())
		})
		if err != nil {
			t.Fatal(err)
		}
		clients, err := s.NetworkClients(ctx, networkID)
		if err != nil {
			t.Fatal(err)
		}
		if len(clients) != 2 || clients[0].ID != ids[0] || clients[1].ID != ids[2] {
			t.Fatalf("clients %+v, want the first and third, oldest first", clients)
		}
		s.Tx(ctx, func(tx *store.Tx) error {
			active, _ := tx.CountActiveClients(ctx, networkID)
			created, _ := tx.CountClientsCreatedSince(ctx, networkID, base)
			if active != 2 || created != 3 {
				t.Errorf("active %d created %d, want 2 and 3", active, created)
			}
			if err := tx.RemoveClient(ctx, networkID, ids[1], time.Now()); !errors.Is(err,
				store.ErrNotFound) {
				t.Errorf("removing twice: %v, want ErrNotFound", err)
			}
			return nil
		})
	})
}
