package api_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/byplatform/byplatform/store"
	"github.com/byplatform/byplatform/store/storetest"
)

// TestRestart writes through one server, closes it and its store, opens the same
// database again under a new engine and server, and finds everything where it was.
func TestRestart(t *testing.T) {
	for _, driver := range storetest.Drivers {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			dsn := storetest.DSN(t, driver)
			open := func() *store.Store {
				st, err := store.Open(ctx, store.Options{DSN: dsn})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				if _, err := st.Migrate(ctx); err != nil {
					t.Fatal(err)
				}
				return st
			}

			st := open()
			before := newEnv(t, st, envOptions{})
			jwt := before.signUp("restart@example.com", "restart password", "restartnetwork")
			laptop := before.newClient(jwt, "laptop")
			before.clock.Advance(time.Second)
			phone := before.newClient(jwt, "phone")
			before.call("/network/remove-client", jwt, map[string]string{
				"client_id": claim(t, phone, "client_id")}).wantOK(t)
			authCode := before.call("/auth/code-create", jwt, map[string]any{
				"duration_minutes": 60, "uses": 2}).wantOK(t).AuthCode
			before.call("/auth/password-reset", "", map[string]string{
				"user_auth": "restart@example.com"}).wantOK(t)
			resetCode := before.lastCode("restart@example.com", resetCodeRe)
			before.call("/preferences/set-preferences", jwt, map[string]bool{
				"product_updates": true}).wantOK(t)
			before.call("/auth/network-create", "", map[string]any{
				"user_auth": "pending@example.com", "password": "pending password",
				"network_name": "pendingnetwork", "terms": true}).wantOK(t)
			pendingCode := before.lastCode("pending@example.com", verifyCodeRe)
			clientsBefore := before.do(http.MethodGet, "/network/clients", jwt, "", nil)

			before.srv.Close()
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}

			st = open()
			after := newEnv(t, st, envOptions{signer: before.signer, codeKey: before.codeKey,
				outbox: before.outbox, clock: before.clock})

			t.Run("tokens and clients survive", func(t *testing.T) {
				r := after.do(http.MethodGet, "/network/clients", jwt, "", nil)
				if r.status != 200 || !bytes.Equal(r.body, clientsBefore.body) {
					t.Fatalf("clients after restart:\n%s\nbefore:\n%s", r.body, clientsBefore.body)
				}
				after.clients(laptop)
				r = after.do(http.MethodGet, "/network/clients", phone, "", nil)
				if r.status != 401 {
					t.Fatalf("the removed client's JWT works after restart: %d", r.status)
				}
			})

			t.Run("the user, password and preferences survive", func(t *testing.T) {
				res := after.call("/auth/login", "", map[string]string{
					"user_auth": "restart@example.com"})
				if len(res.AuthAllowed) != 1 || res.AuthAllowed[0] != "password" {
					t.Fatalf("login = %+v", res)
				}
				after.call("/auth/login-with-password", "", map[string]string{
					"user_auth": "restart@example.com", "password": "restart password"}).wantOK(t)
				u, err := st.UserByAuth(ctx, "restart@example.com")
				if err != nil || !u.ProductUpdates {
					t.Fatalf("user %+v (%v), want product_updates", u, err)
				}
			})

			t.Run("names are taken again", func(t *testing.T) {
				for _, name := range []string{"restartnetwork", "restartnetwrk", "pendingnetwork"} {
					res := after.call("/auth/network-check", "", map[string]string{
						"network_name": name})
					if *res.Available {
						t.Fatalf("%s is available after restart", name)
					}
				}
				after.call("/auth/network-create", "", map[string]any{
					"user_auth": "late@example.com", "password": "late password",
					"network_name": "restartnetwor", "terms": true}).wantError(t, msgNameTaken)
			})

			t.Run("codes survive", func(t *testing.T) {
				after.call("/auth/code-login", "", map[string]string{"auth_code": authCode}).
					wantOK(t)
				after.call("/auth/verify", "", map[string]string{
					"user_auth": "pending@example.com", "verify_code": pendingCode}).wantOK(t)
				after.call("/auth/password-set", "", map[string]string{
					"reset_code": resetCode, "password": "after restart"}).wantOK(t)
				r := after.do(http.MethodGet, "/network/clients", jwt, "", nil)
				if r.status != 401 {
					t.Fatalf("a session survived password-set: %d", r.status)
				}
			})
		})
	}
}
