package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/byplatform/byplatform/store"
	"github.com/byplatform/byplatform/store/storetest"
)

func TestAuthClient(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOptions{})
		ctx := context.Background()
		jwt := e.signUp("clients@example.com", "clients password", "clientsnetwork")
		laptop := e.newClient(jwt, "laptop")
		laptopID := claim(t, laptop, "client_id")

		t.Run("a client JWT names the client, its device and the sessions", func(t *testing.T) {
			c := jwtClaims(t, laptop)
			for _, k := range []string{"client_id", "device_id", "network_id", "user_id"} {
				if _, err := uuid.Parse(claim(t, laptop, k)); err != nil {
					t.Fatalf("claim %s = %v: %v", k, c[k], err)
				}
			}
			for _, k := range []string{"network_id", "network_name", "user_id",
				"auth_session_ids"} {
				if jsonText(c[k]) != jsonText(jwtClaims(t, jwt)[k]) {
					t.Fatalf("claim %s = %v, the network JWT has %v", k, c[k], jwtClaims(t, jwt)[k])
				}
			}
			if _, err := time.Parse(time.RFC3339, claim(t, laptop, "create_time")); err != nil {
				t.Fatalf("create_time: %v", err)
			}
			if _, ok := jwtClaims(t, jwt)["client_id"]; ok {
				t.Fatal("a network JWT carries a client_id")
			}
		})

		t.Run("the client is listed with its device", func(t *testing.T) {
			cs := e.clients(jwt)
			if len(cs) != 1 {
				t.Fatalf("%d clients, want 1", len(cs))
			}
			c := cs[0]
			if c.ClientID != laptopID || c.DeviceID != claim(t, laptop, "device_id") ||
				c.NetworkID != claim(t, jwt, "network_id") || c.Description != "laptop" ||
				c.DeviceName != "laptop" || c.DeviceSpec != "test device" ||
				c.ProvideMode == nil || *c.ProvideMode != 0 || c.Connections == nil ||
				len(c.Connections) != 0 {
				t.Fatalf("client %+v", c)
			}
			want := e.clock.Now().Format(time.RFC3339Nano)
			if c.CreateTime != want || c.AuthTime != want {
				t.Fatalf("times %s %s, want %s", c.CreateTime, c.AuthTime, want)
			}
			// A client JWT may read the list too.
			if got := e.clients(laptop); len(got) != 1 {
				t.Fatalf("the client JWT sees %d clients", len(got))
			}
		})

		t.Run("the network JWT re-authorizes a client", func(t *testing.T) {
			e.clock.Advance(time.Minute)
			res := e.call("/network/auth-client", jwt, map[string]string{"client_id": laptopID}).
				wantOK(t)
			if claim(t, res.ByClientJWT, "client_id") != laptopID ||
				claim(t, res.ByClientJWT, "device_id") != claim(t, laptop, "device_id") {
				t.Fatalf("re-authorized JWT names another client")
			}
			c := e.clients(jwt)[0]
			if c.AuthTime != e.clock.Now().Format(time.RFC3339Nano) || c.AuthTime == c.CreateTime {
				t.Fatalf("auth_time %s after re-authorization, create_time %s", c.AuthTime,
					c.CreateTime)
			}
		})

		phone := e.newClient(jwt, "phone")
		phoneID := claim(t, phone, "client_id")

		t.Run("a client JWT re-authorizes only its own client", func(t *testing.T) {
			res := e.call("/network/auth-client", laptop, map[string]string{"client_id": laptopID})
			if claim(t, res.wantOK(t).ByClientJWT, "client_id") != laptopID {
				t.Fatal("re-authorized JWT names another client")
			}
			e.call("/network/auth-client", laptop, map[string]string{"client_id": phoneID}).
				wantError(t, msgInvalidClient)
		})

		t.Run("a client made with a client JWT is derived from it", func(t *testing.T) {
			derived := e.newClient(laptop, "laptop browser")
			c, err := st.Client(ctx, uuid.MustParse(claim(t, derived, "client_id")))
			if err != nil || c.DerivedClientID.String() != laptopID {
				t.Fatalf("derived client %+v (%v), want derived from %s", c, err, laptopID)
			}
			// The client JWT implies its own client whatever the request says.
			other := e.call("/network/auth-client", laptop, map[string]string{
				"derived_client_id": phoneID}).wantOK(t).ByClientJWT
			c, _ = st.Client(ctx, uuid.MustParse(claim(t, other, "client_id")))
			if c.DerivedClientID.String() != laptopID {
				t.Fatalf("derived from %s, want %s", c.DerivedClientID, laptopID)
			}
		})

		t.Run("the network JWT records a named derived client", func(t *testing.T) {
			res := e.call("/network/auth-client", jwt, map[string]string{
				"derived_client_id": phoneID, "description": "phone hotspot"}).wantOK(t)
			c, err := st.Client(ctx, uuid.MustParse(claim(t, res.ByClientJWT, "client_id")))
			if err != nil || c.DerivedClientID.String() != phoneID {
				t.Fatalf("client %+v (%v), want derived from %s", c, err, phoneID)
			}
			plain, _ := st.Client(ctx, uuid.MustParse(phoneID))
			if plain.DerivedClientID != uuid.Nil {
				t.Fatalf("a client made without one has derived_client_id %s",
					plain.DerivedClientID)
			}
		})

		other := e.signUp("other@example.com", "other password", "othernetwork")
		otherClient := e.newClient(other, "other laptop")

		t.Run("clients of other networks are out of reach", func(t *testing.T) {
			for _, args := range []map[string]string{
				{"client_id": laptopID},
				{"derived_client_id": laptopID},
				{"client_id": uuid.NewString()},
				{"derived_client_id": uuid.NewString()},
			} {
				e.call("/network/auth-client", other, args).wantError(t, msgInvalidClient)
			}
			e.call("/network/remove-client", other, map[string]string{"client_id": laptopID}).
				wantError(t, msgInvalidClient)
			for _, c := range e.clients(other) {
				if c.NetworkID != claim(t, other, "network_id") {
					t.Fatalf("another network's client is listed: %+v", c)
				}
			}
			if len(e.clients(otherClient)) != 1 {
				t.Fatal("the other network lists more than its own client")
			}
		})

		t.Run("bad ids and oversized fields are in-band errors", func(t *testing.T) {
			for _, args := range []map[string]string{
				{"client_id": "not-a-uuid"},
				{"derived_client_id": "1234"},
			} {
				e.call("/network/auth-client", jwt, args).wantError(t, "Invalid client id.")
			}
			e.call("/network/auth-client", jwt, map[string]string{
				"description": strings.Repeat("d", 1025)}).
				wantError(t, "Description and device spec are limited to 1024 bytes.")
			e.call("/network/auth-client", jwt, map[string]string{
				"device_spec": strings.Repeat("s", 1025)}).
				wantError(t, "Description and device spec are limited to 1024 bytes.")
		})

		t.Run("free text keeps what the client sent", func(t *testing.T) {
			desc := "Zoë's \"laptop\" \u00a0 \u2603 <b>&amp;</b> \\ \x01"
			c := e.newClient(jwt, desc)
			got, err := st.Client(ctx, uuid.MustParse(claim(t, c, "client_id")))
			if err != nil || got.Description != desc {
				t.Fatalf("stored description %q (%v), want %q", got.Description, err, desc)
			}
		})
	})
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestRemoveClient(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOptions{})
		jwt := e.signUp("remove@example.com", "remove password", "removenetwork")
		laptop := e.newClient(jwt, "laptop")
		phone := e.newClient(jwt, "phone")
		laptopID := claim(t, laptop, "client_id")

		res := e.call("/network/remove-client", jwt, map[string]string{"client_id": laptopID})
		if res.wantOK(t).Error != nil {
			t.Fatal(res.Error)
		}
		if r := e.do(http.MethodGet, "/network/clients", laptop, "", nil); r.status != 401 {
			t.Fatalf("the removed client's JWT reads clients: %d", r.status)
		}
		if r := e.post("/network/auth-client", laptop, map[string]string{}); r.status != 401 {
			t.Fatalf("the removed client's JWT authorizes a client: %d", r.status)
		}
		cs := e.clients(jwt)
		if len(cs) != 1 || cs[0].ClientID != claim(t, phone, "client_id") {
			t.Fatalf("clients after removal: %+v", cs)
		}
		e.clients(phone)
		e.call("/network/remove-client", jwt, map[string]string{"client_id": laptopID}).
			wantError(t, msgInvalidClient)
		e.call("/network/auth-client", jwt, map[string]string{"client_id": laptopID}).
			wantError(t, msgInvalidClient)
		e.call("/network/remove-client", jwt, map[string]string{"client_id": "laptop"}).
			wantError(t, "Invalid client id.")
		e.call("/network/remove-client", jwt, map[string]string{"client_id": uuid.NewString()}).
			wantError(t, msgInvalidClient)
		// A client may remove itself; its token dies with it.
		e.call("/network/remove-client", phone, map[string]string{
			"client_id": claim(t, phone, "client_id")}).wantOK(t)
		if r := e.do(http.MethodGet, "/network/clients", phone, "", nil); r.status != 401 {
			t.Fatalf("a self-removed client's JWT still works: %d", r.status)
		}
		if cs := e.clients(jwt); len(cs) != 0 {
			t.Fatalf("clients after removing both: %+v", cs)
		}
	})
}

func TestNetworkClientsOldestFirst(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOptions{})
		jwt := e.signUp("order@example.com", "order password", "ordernetwork")
		var want []string
		for _, step := range []time.Duration{0, time.Second, time.Millisecond, time.Microsecond,
			time.Hour} {
			e.clock.Advance(step)
			want = append(want, claim(t, e.newClient(jwt, "client"), "client_id"))
		}
		// Re-authorizing the oldest does not move it.
		e.clock.Advance(time.Minute)
		e.call("/network/auth-client", jwt, map[string]string{"client_id": want[0]}).wantOK(t)
		cs := e.clients(jwt)
		if len(cs) != len(want) {
			t.Fatalf("%d clients, want %d", len(cs), len(want))
		}
		var prev time.Time
		for i, c := range cs {
			if c.ClientID != want[i] {
				t.Fatalf("client %d is %s, want %s", i, c.ClientID, want[i])
			}
			ct, err := time.Parse(time.RFC3339Nano, c.CreateTime)
			if err != nil || ct.Location() != time.UTC || ct.Before(prev) {
				t.Fatalf("create_time %q (%v) after %v", c.CreateTime, err, prev)
			}
			prev = ct
		}
	})
}

func TestClientLimits(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOptions{})

		t.Run("at most 128 active clients", func(t *testing.T) {
			jwt := e.signUp("active@example.com", "active password", "activenetwork")
			var first string
			for i := range 128 {
				c := e.newClient(jwt, "client")
				if i == 0 {
					first = claim(t, c, "client_id")
				}
			}
			res := e.call("/network/auth-client", jwt, map[string]string{"description": "129th"})
			res.wantError(t, msgClientLimit)
			if !res.Error.ClientLimitExceeded {
				t.Fatal("client_limit_exceeded is not set")
			}
			// Existing clients can still be authorized again.
			e.call("/network/auth-client", jwt, map[string]string{"client_id": first}).wantOK(t)
			e.call("/network/remove-client", jwt, map[string]string{"client_id": first}).wantOK(t)
			e.newClient(jwt, "replacement")
			e.call("/network/auth-client", jwt, map[string]string{}).wantError(t, msgClientLimit)
		})

		t.Run("at most 1024 new clients in 24 hours", func(t *testing.T) {
			jwt := e.signUp("daily@example.com", "daily password", "dailynetwork")
			networkID := uuid.MustParse(claim(t, jwt, "network_id"))
			// 1020 clients made and removed within the day, written straight to the store
			// to keep the test quick.
			seedRemovedClients(t, st, networkID, e.clock.Now(), 1020)
			for range 4 {
				e.newClient(jwt, "client")
			}
			res := e.call("/network/auth-client", jwt, map[string]string{})
			res.wantError(t, msgClientLimit)
			if !res.Error.ClientLimitExceeded {
				t.Fatal("client_limit_exceeded is not set")
			}
			e.clock.Advance(24*time.Hour - time.Second)
			e.call("/network/auth-client", jwt, map[string]string{}).wantError(t, msgClientLimit)
			e.clock.Advance(2 * time.Second)
			e.newClient(jwt, "a day later")
		})
	})
}

// seedRemovedClients stores n clients of the network created at now and removed.
func seedRemovedClients(t *testing.T, st *store.Store, networkID uuid.UUID, now time.Time,
	n int) {
	t.Helper()
	ctx := context.Background()
	err := st.Tx(ctx, func(tx *store.Tx) error {
		for range n {
			d := store.Device{ID: uuid.New(), NetworkID: networkID, Name: "old",
				CreateTime: now}
			c := store.Client{ID: uuid.New(), NetworkID: networkID, DeviceID: d.ID,
				CreateTime: now, AuthTime: now}
			if err := tx.InsertDevice(ctx, d); err != nil {
				return err
			}
			if err := tx.InsertClient(ctx, c); err != nil {
				return err
			}
			if err := tx.RemoveClient(ctx, networkID, c.ID, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAuthCodes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOptions{})
		jwt := e.signUp("codes@example.com", "codes password", "codesnetwork")
		create := func(args map[string]any) result {
			return e.call("/auth/code-create", jwt, args)
		}
		login := func(code string) result {
			return e.call("/auth/code-login", "", map[string]string{"auth_code": code})
		}

		t.Run("defaults are one minute and one use", func(t *testing.T) {
			res := create(map[string]any{}).wantOK(t)
			if res.AuthCode == "" || res.DurationMinutes != 1 || res.Uses != 1 {
				t.Fatalf("code-create = %+v", res)
			}
			by := login(res.AuthCode).wantOK(t).ByJWT
			for _, k := range []string{"network_id", "network_name", "user_id"} {
				if claim(t, by, k) != claim(t, jwt, k) {
					t.Fatalf("claim %s of the code login differs", k)
				}
			}
			sessions := jwtClaims(t, by)["auth_session_ids"].([]any)
			creator := jwtClaims(t, jwt)["auth_session_ids"].([]any)[0]
			if len(sessions) != 2 || sessions[1] != creator || sessions[0] == creator {
				t.Fatalf("auth_session_ids %v, want a new session and the creator's %v",
					sessions, creator)
			}
			e.clients(by)
			login(res.AuthCode).wantError(t, msgInvalidCode)
		})

		t.Run("duration and uses are honoured", func(t *testing.T) {
			res := create(map[string]any{"duration_minutes": 30, "uses": 3}).wantOK(t)
			if res.DurationMinutes != 30 || res.Uses != 3 {
				t.Fatalf("code-create = %+v", res)
			}
			e.clock.Advance(29 * time.Minute)
			for range 3 {
				login(res.AuthCode).wantOK(t)
			}
			login(res.AuthCode).wantError(t, msgInvalidCode)
		})

		t.Run("duration is at most 24 hours and uses at most 4", func(t *testing.T) {
			res := create(map[string]any{"duration_minutes": 100000, "uses": 100}).wantOK(t)
			if res.DurationMinutes != 24*60 || res.Uses != 4 {
				t.Fatalf("code-create = %+v", res)
			}
			e.clock.Advance(24*time.Hour - time.Second)
			login(res.AuthCode).wantOK(t)
			e.clock.Advance(time.Second)
			login(res.AuthCode).wantError(t, msgInvalidCode)
		})

		t.Run("fractional minutes are honoured", func(t *testing.T) {
			res := create(map[string]any{"duration_minutes": 0.5}).wantOK(t)
			if res.DurationMinutes != 0.5 {
				t.Fatalf("code-create = %+v", res)
			}
			e.clock.Advance(31 * time.Second)
			login(res.AuthCode).wantError(t, msgInvalidCode)
		})

		t.Run("a code expires", func(t *testing.T) {
			res := create(nil).wantOK(t)
			e.clock.Advance(time.Minute)
			login(res.AuthCode).wantError(t, msgInvalidCode)
		})

		t.Run("negative values are refused", func(t *testing.T) {
			create(map[string]any{"duration_minutes": -1}).
				wantError(t, "Duration and uses must not be negative.")
			create(map[string]any{"uses": -1}).
				wantError(t, "Duration and uses must not be negative.")
		})

		t.Run("a client JWT cannot create a code", func(t *testing.T) {
			client := e.newClient(jwt, "laptop")
			res := e.call("/auth/code-create", client, map[string]any{})
			res.wantError(t, msgClientJWT)
			if res.Error.AuthCodeLimitExceeded {
				t.Fatal("auth_code_limit_exceeded is set")
			}
		})

		t.Run("unknown and empty codes are refused", func(t *testing.T) {
			login("").wantError(t, msgInvalidCode)
			login("   ").wantError(t, msgInvalidCode)
			login(strings.Repeat("a", 32)).wantError(t, msgInvalidCode)
		})

		t.Run("code-create needs a token", func(t *testing.T) {
			e.post("/auth/code-create", "", map[string]any{}).wantStatus(t, 401)
		})
	})
}

func TestAuthCodeLimit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOptions{})
		jwt := e.signUp("limit@example.com", "limit password", "limitnetwork")
		var codes []string
		for range 100 {
			codes = append(codes, e.call("/auth/code-create", jwt, nil).wantOK(t).AuthCode)
		}
		res := e.call("/auth/code-create", jwt, nil)
		res.wantError(t, msgAuthCodeLimit)
		if !res.Error.AuthCodeLimitExceeded {
			t.Fatal("auth_code_limit_exceeded is not set")
		}
		// A session logged in with a code counts against its network's limit too.
		login := e.call("/auth/code-login", "", map[string]string{"auth_code": codes[0]}).wantOK(t)
		e.call("/auth/code-create", login.ByJWT, nil).wantOK(t) // a spent code frees a place
		e.call("/auth/code-create", login.ByJWT, nil).wantError(t, msgAuthCodeLimit)
		// Other networks have their own limit.
		other := e.signUp("unlimited@example.com", "other password", "othernetwork")
		e.call("/auth/code-create", other, nil).wantOK(t)
		// Expired codes do not count.
		e.clock.Advance(time.Minute)
		e.call("/auth/code-create", jwt, nil).wantOK(t)
	})
}

func TestCodeLoginSessionTiedToCreator(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOptions{})
		creator := e.signUp("tied@example.com", "tied password", "tiednetwork")
		sibling := e.call("/auth/login-with-password", "", map[string]string{
			"user_auth": "tied@example.com", "password": "tied password"}).wantOK(t).Network.ByJWT
		code := e.call("/auth/code-create", creator, map[string]any{"uses": 2}).wantOK(t).AuthCode
		spare := e.call("/auth/code-create", creator, map[string]any{"uses": 2}).wantOK(t).AuthCode
		child := e.call("/auth/code-login", "", map[string]string{"auth_code": code}).
			wantOK(t).ByJWT
		childClient := e.newClient(child, "app")
		e.clients(child)

		// Sign-out of the creator's session alone is not an operation of this API yet, so
		// the test revokes it in the store the way a sign-out would.
		creatorSession := jwtClaims(t, creator)["auth_session_ids"].([]any)[0].(string)
		err := st.Tx(context.Background(), func(tx *store.Tx) error {
			_, err := tx.Exec(context.Background(),
				"UPDATE auth_session SET revoke_time = ? WHERE session_id = ?",
				e.clock.Now().UnixMicro(), creatorSession)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		for name, jwt := range map[string]string{"creator": creator, "code login": child,
			"code login's client": childClient} {
			if r := e.do(http.MethodGet, "/network/clients", jwt, "", nil); r.status != 401 {
				t.Fatalf("the %s token works after the creator's session ended: %d", name,
					r.status)
			}
		}
		e.clients(sibling)
		e.call("/auth/code-login", "", map[string]string{"auth_code": spare}).
			wantError(t, msgInvalidCode)
	})
}

func TestPreferencesAndFeedback(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOptions{})
		ctx := context.Background()
		jwt := e.signUp("prefs@example.com", "prefs password", "prefsnetwork")
		client := e.newClient(jwt, "laptop")

		for _, on := range []bool{true, false, true} {
			e.call("/preferences/set-preferences", jwt, map[string]bool{"product_updates": on}).
				wantOK(t)
			u, err := st.UserByAuth(ctx, "prefs@example.com")
			if err != nil || u.ProductUpdates != on {
				t.Fatalf("product_updates stored %v (%v), want %v", u.ProductUpdates, err, on)
			}
		}

		feedback := `{"uses":{"personal":true,"business":false},` +
			`"needs":{"private":true,"safe":false,"other":"faster \"exits\" ✓"}}`
		r := e.do(http.MethodPost, "/feedback/send-feedback", client, "text/json", []byte(feedback))
		r.result(t).wantOK(t)
		var stored []string
		err := st.Tx(ctx, func(tx *store.Tx) error {
			rows, err := tx.Query(ctx, "SELECT body FROM feedback WHERE user_id = ?",
				claim(t, jwt, "user_id"))
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var b string
				if err := rows.Scan(&b); err != nil {
					return err
				}
				stored = append(stored, b)
			}
			return rows.Err()
		})
		if err != nil || len(stored) != 1 || stored[0] != feedback {
			t.Fatalf("stored feedback %q (%v), want %q", stored, err, feedback)
		}
		e.post("/feedback/send-feedback", jwt, map[string]any{"uses": 5}).wantStatus(t, 400)
		e.post("/feedback/send-feedback", jwt, []int{1}).wantStatus(t, 400)
		e.post("/preferences/set-preferences", jwt, map[string]any{"product_updates": "yes"}).
			wantStatus(t, 400)
	})
}
