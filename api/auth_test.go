package api_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/byplatform/byplatform/store"
	"github.com/byplatform/byplatform/store/storetest"
)

func TestLoginAndUserAuthNormalization(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOptions{})

		t.Run("an unknown user gets the normalized user_auth back", func(t *testing.T) {
			res := e.call("/auth/login", "", map[string]string{"user_auth": "  New@Example.COM "})
			res.wantOK(t)
			if res.UserAuth != "new@example.com" || res.AuthAllowed != nil || res.Network != nil {
				t.Fatalf("login = %+v", res)
			}
		})

		t.Run("an email is trimmed and lower-cased everywhere", func(t *testing.T) {
			res := e.call("/auth/network-create", "", map[string]any{"user_name": "Alice",
				"user_auth": " Alice@Example.COM", "password": "alices password",
				"network_name": "alicesnetwork", "terms": true}).wantOK(t)
			if res.VerificationRequired.UserAuth != "alice@example.com" {
				t.Fatalf("verification_required = %+v", res.VerificationRequired)
			}
			code := e.lastCode("alice@example.com", verifyCodeRe)
			e.call("/auth/verify", "", map[string]string{"user_auth": "ALICE@example.com",
				"verify_code": code}).wantOK(t)
			res = e.call("/auth/login", "", map[string]string{"user_auth": "alice@EXAMPLE.com"})
			if res.UserName != "Alice" || res.UserAuth != "alice@example.com" ||
				len(res.AuthAllowed) != 1 || res.AuthAllowed[0] != "password" {
				t.Fatalf("login = %+v", res)
			}
			res = e.call("/auth/login-with-password", "", map[string]string{
				"user_auth": "Alice@Example.com ", "password": "alices password"}).wantOK(t)
			if res.Network == nil || res.Network.ByJWT == "" ||
				res.Network.Name != "alicesnetwork" {
				t.Fatalf("login-with-password = %+v", res)
			}
		})

		t.Run("a phone number is normalized to E.164 everywhere", func(t *testing.T) {
			res := e.call("/auth/network-create", "", map[string]any{"user_name": "Phil",
				"user_auth": "(415) 555-2671", "password": "phils password",
				"network_name": "philsnetwork", "terms": true}).wantOK(t)
			if res.VerificationRequired.UserAuth != "+14155552671" {
				t.Fatalf("verification_required = %+v", res.VerificationRequired)
			}
			code := e.lastCode("+14155552671", verifyCodeRe)
			e.call("/auth/verify", "", map[string]string{"user_auth": "+1 415 555 2671",
				"verify_code": code}).wantOK(t)
			for _, spelling := range []string{"4155552671", "+1 (415) 555-2671", "415.555.2671"} {
				res = e.call("/auth/login", "", map[string]string{"user_auth": spelling})
				if res.UserAuth != "+14155552671" || len(res.AuthAllowed) != 1 {
					t.Fatalf("login %q = %+v", spelling, res)
				}
			}
			res = e.call("/auth/login-with-password", "", map[string]string{
				"user_auth": "415-555-2671", "password": "phils password"}).wantOK(t)
			if res.Network == nil || res.Network.ByJWT == "" {
				t.Fatalf("login-with-password = %+v", res)
			}
			res = e.call("/auth/verify-send", "", map[string]string{
				"user_auth": "+44 20 7946 0958"})
			if res.wantOK(t).UserAuth != "+442079460958" {
				t.Fatalf("verify-send = %+v", res)
			}
		})

		t.Run("an invalid user_auth is an in-band error", func(t *testing.T) {
			for _, ua := range []string{"", "   ", "alice", "alice@", "@example.com",
				"alice@localhost", "Alice <alice@example.com>", "a b@example.com", "12",
				"+1 000", "555-CALL-NOW", "+999 1234 5678", "a\x00b@example.com"} {
				for _, path := range []string{"/auth/login", "/auth/verify-send",
					"/auth/password-reset"} {
					e.call(path, "", map[string]string{"user_auth": ua}).
						wantError(t, msgInvalidUserAuth)
				}
				e.call("/auth/network-create", "", map[string]any{"user_auth": ua,
					"password": "long enough", "network_name": "invalidauth", "terms": true}).
					wantError(t, msgInvalidUserAuth)
			}
		})
	})
}

func TestOneNetworkPerUserAuthority(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOptions{})
		e.signUp("owner@example.com", "owner password", "firstnetwork")
		e.signUp("+14155552671", "phone password", "phonenetwork")

		for _, ua := range []string{"owner@example.com", " OWNER@Example.com", "415 555 2671"} {
			res := e.call("/auth/network-create", "", map[string]any{"user_auth": ua,
				"password": "another password", "network_name": "secondnetwork", "terms": true})
			res.wantError(t, msgUserAuthTaken)
		}
		// The failed attempts did not keep the name they asked for.
		res := e.call("/auth/network-check", "", map[string]string{"network_name": "secondnetwork"})
		if res.Available == nil || !*res.Available {
			t.Fatalf("network-check after failed creates = %+v, want available", res)
		}
		e.signUp("someone@example.com", "someone password", "secondnetwork")
	})
}

func TestPasswordRules(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOptions{})

		t.Run("a password needs 8 characters", func(t *testing.T) {
			res := e.call("/auth/network-create", "", map[string]any{"user_auth": "s@example.com",
				"password": "1234567", "network_name": "shortpassword", "terms": true})
			res.wantError(t, msgPasswordShort)
			e.signUp("s@example.com", "12345678", "shortpassword")
		})

		jwt := e.signUp("pw@example.com", "correct horse", "passwordnet")

		t.Run("the password is stored as an argon2id hash", func(t *testing.T) {
			u, err := st.UserByAuth(context.Background(), "pw@example.com")
			if err != nil {
				t.Fatal(err)
			}
			if !regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$`).
				MatchString(u.PasswordHash) {
				t.Fatalf("password hash %q", u.PasswordHash)
			}
			other, _ := st.UserByAuth(context.Background(), "s@example.com")
			if other.PasswordHash[:40] == u.PasswordHash[:40] {
				t.Fatal("two users share a salt")
			}
		})

		t.Run("unknown user and wrong password give the same answer", func(t *testing.T) {
			wrong := e.post("/auth/login-with-password", "", map[string]string{
				"user_auth": "pw@example.com", "password": "wrong horse"})
			unknown := e.post("/auth/login-with-password", "", map[string]string{
				"user_auth": "nobody@example.com", "password": "correct horse"})
			invalid := e.post("/auth/login-with-password", "", map[string]string{
				"user_auth": "not a user auth", "password": "correct horse"})
			empty := e.post("/auth/login-with-password", "", map[string]string{
				"user_auth": "pw@example.com", "password": ""})
			wrong.result(t).wantError(t, msgInvalidLogin)
			for _, r := range []response{unknown, invalid, empty} {
				if r.status != wrong.status || string(r.body) != string(wrong.body) {
					t.Fatalf("answer %d %s differs from the wrong password's %d %s",
						r.status, r.body, wrong.status, wrong.body)
				}
			}
		})

		t.Run("the right password signs in with a new session", func(t *testing.T) {
			res := e.call("/auth/login-with-password", "", map[string]string{
				"user_auth": "pw@example.com", "password": "correct horse"}).wantOK(t)
			if res.Network == nil || res.Network.Name != "passwordnet" {
				t.Fatalf("login-with-password = %+v", res)
			}
			if claim(t, res.Network.ByJWT, "user_id") != claim(t, jwt, "user_id") {
				t.Fatal("login signed in as another user")
			}
			if fmt.Sprint(jwtClaims(t, res.Network.ByJWT)["auth_session_ids"]) ==
				fmt.Sprint(jwtClaims(t, jwt)["auth_session_ids"]) {
				t.Fatal("a new sign-in reused the old session")
			}
		})

		t.Run("an unverified user must verify first", func(t *testing.T) {
			e.call("/auth/network-create", "", map[string]any{"user_auth": "unv@example.com",
				"password": "unverified pw", "network_name": "unverifiednet", "terms": true}).
				wantOK(t)
			res := e.call("/auth/login-with-password", "", map[string]string{
				"user_auth": "unv@example.com", "password": "unverified pw"}).wantOK(t)
			if res.VerificationRequired == nil || res.VerificationRequired.UserAuth !=
				"unv@example.com" || res.Network != nil {
				t.Fatalf("login-with-password = %+v, want verification_required", res)
			}
			e.call("/auth/login-with-password", "", map[string]string{
				"user_auth": "unv@example.com", "password": "wrong password"}).
				wantError(t, msgInvalidLogin)
		})
	})
}

func TestVerificationCodes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOptions{})
		create := func(t *testing.T, ua string) string {
			t.Helper()
			e.call("/auth/network-create", "", map[string]any{"user_auth": ua,
				"password": "a good password", "network_name": randomName(), "terms": true}).
				wantOK(t)
			return e.lastCode(ua, verifyCodeRe)
		}
		verify := func(ua, code string) result {
			return e.call("/auth/verify", "", map[string]string{"user_auth": ua,
				"verify_code": code})
		}

		t.Run("a code is 6 digits and works once", func(t *testing.T) {
			code := create(t, "once@example.com")
			if !regexp.MustCompile(`^[0-9]{6}$`).MatchString(code) {
				t.Fatalf("code %q is not 6 digits", code)
			}
			res := verify("once@example.com", code).wantOK(t)
			e.do(http.MethodGet, "/network/clients", res.Network.ByJWT, "", nil).result(t)
			verify("once@example.com", code).wantError(t, msgInvalidCode)
		})

		t.Run("five wrong tries use up a code", func(t *testing.T) {
			code := create(t, "five@example.com")
			for range 5 {
				verify("five@example.com", otherCode(code)).wantError(t, msgInvalidCode)
			}
			verify("five@example.com", code).wantError(t, msgInvalidCode)
			// A new code starts with no wrong tries.
			e.call("/auth/verify-send", "", map[string]string{"user_auth": "five@example.com"})
			verify("five@example.com", e.lastCode("five@example.com", verifyCodeRe)).wantOK(t)
		})

		t.Run("four wrong tries leave the right code working", func(t *testing.T) {
			code := create(t, "four@example.com")
			for range 4 {
				verify("four@example.com", otherCode(code)).wantError(t, msgInvalidCode)
			}
			verify("four@example.com", code).wantOK(t)
		})

		t.Run("concurrent wrong tries are counted exactly", func(t *testing.T) {
			code := create(t, "many@example.com")
			var wg sync.WaitGroup
			for range 20 {
				wg.Go(func() {
					verify("many@example.com", otherCode(code)).wantError(t, msgInvalidCode)
				})
			}
			wg.Wait()
			// Every try is compared and counted in one transaction, so no more than five
			// of the twenty were compared with the code.
			u, err := st.UserByAuth(context.Background(), "many@example.com")
			if err != nil {
				t.Fatal(err)
			}
			var attempts int
			err = st.Tx(context.Background(), func(tx *store.Tx) error {
				vc, err := tx.VerifyCode(context.Background(), u.ID)
				attempts = vc.Attempts
				return err
			})
			if err != nil || attempts != 5 {
				t.Fatalf("wrong tries counted %d (%v), want 5", attempts, err)
			}
			verify("many@example.com", code).wantError(t, msgInvalidCode)
		})

		t.Run("a code expires after 15 minutes", func(t *testing.T) {
			code := create(t, "late@example.com")
			e.clock.Advance(15*time.Minute + time.Second)
			verify("late@example.com", code).wantError(t, msgInvalidCode)
			e.call("/auth/verify-send", "", map[string]string{"user_auth": "late@example.com"})
			code = e.lastCode("late@example.com", verifyCodeRe)
			e.clock.Advance(14*time.Minute + 59*time.Second)
			verify("late@example.com", code).wantOK(t)
		})

		t.Run("a new code invalidates the older one", func(t *testing.T) {
			old := create(t, "twice@example.com")
			code := old
			for code == old { // one time in a million the new code repeats the old one
				e.call("/auth/verify-send", "", map[string]string{
					"user_auth": "twice@example.com"}).wantOK(t)
				code = e.lastCode("twice@example.com", verifyCodeRe)
			}
			verify("twice@example.com", old).wantError(t, msgInvalidCode)
			verify("twice@example.com", code).wantOK(t)
		})

		t.Run("verify-send answers alike for unknown users and sends nothing", func(t *testing.T) {
			res := e.call("/auth/verify-send", "", map[string]string{
				"user_auth": "Nobody@Example.com"})
			if res.wantOK(t).UserAuth != "nobody@example.com" {
				t.Fatalf("verify-send = %+v", res)
			}
			if msgs := e.messagesTo("nobody@example.com"); len(msgs) != 0 {
				t.Fatalf("sent %d messages to an unknown user", len(msgs))
			}
		})

		t.Run("a code of another user or of nobody is refused", func(t *testing.T) {
			code := create(t, "mine@example.com")
			create(t, "yours@example.com")
			verify("yours@example.com", code).wantError(t, msgInvalidCode)
			verify("nobody@example.com", code).wantError(t, msgInvalidCode)
			verify("mine@example.com", "").wantError(t, msgInvalidCode)
			verify("not a user", code).wantError(t, msgInvalidCode)
			verify("mine@example.com", code).wantOK(t)
		})
	})
}

// otherCode returns a 6-digit code that is not code.
func otherCode(code string) string {
	n, _ := strconv.Atoi(code)
	return fmt.Sprintf("%06d", (n+1+time.Now().Nanosecond()%999_998)%1_000_000)
}

func TestPasswordReset(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOptions{})
		first := e.signUp("reset@example.com", "first password", "resetnetwork")
		second := e.call("/auth/login-with-password", "", map[string]string{
			"user_auth": "reset@example.com", "password": "first password"}).wantOK(t).Network.ByJWT
		client := e.newClient(first, "phone")
		authCode := e.call("/auth/code-create", second, map[string]any{"uses": 2}).
			wantOK(t).AuthCode
		codeJWT := e.call("/auth/code-login", "", map[string]string{"auth_code": authCode}).
			wantOK(t).ByJWT
		reset := func(ua string) string {
			res := e.call("/auth/password-reset", "", map[string]string{"user_auth": ua})
			if res.wantOK(t).UserAuth != "reset@example.com" {
				t.Fatalf("password-reset = %+v", res)
			}
			return e.lastCode("reset@example.com", resetCodeRe)
		}
		set := func(code, password string) result {
			return e.call("/auth/password-set", "", map[string]string{"reset_code": code,
				"password": password})
		}

		t.Run("password-set revokes every session", func(t *testing.T) {
			rc := reset(" RESET@example.com")
			if len(rc) < 32 {
				t.Fatalf("reset code %q is short", rc)
			}
			set(rc, "short").wantError(t, msgPasswordShort)
			set(rc, "second password").wantOK(t)
			for name, jwt := range map[string]string{"sign-up": first, "login": second,
				"client": client, "code login": codeJWT} {
				r := e.do(http.MethodGet, "/network/clients", jwt, "", nil)
				if r.status != http.StatusUnauthorized {
					t.Fatalf("the %s token still works after password-set: %d", name, r.status)
				}
			}
			e.call("/auth/code-login", "", map[string]string{"auth_code": authCode}).
				wantError(t, msgInvalidCode)
			e.call("/auth/login-with-password", "", map[string]string{
				"user_auth": "reset@example.com", "password": "first password"}).
				wantError(t, msgInvalidLogin)
			e.call("/auth/login-with-password", "", map[string]string{
				"user_auth": "reset@example.com", "password": "second password"}).wantOK(t)
		})

		t.Run("a reset code works once", func(t *testing.T) {
			rc := reset("reset@example.com")
			set(rc, "third password").wantOK(t)
			set(rc, "fourth password").wantError(t, msgInvalidCode)
		})

		t.Run("a reset code expires after an hour", func(t *testing.T) {
			rc := reset("reset@example.com")
			e.clock.Advance(time.Hour + time.Second)
			set(rc, "fifth password").wantError(t, msgInvalidCode)
			rc = reset("reset@example.com")
			e.clock.Advance(59 * time.Minute)
			set(rc, "fifth password").wantOK(t)
		})

		t.Run("a wrong or empty code is refused", func(t *testing.T) {
			set("", "sixth password").wantError(t, msgInvalidCode)
			set("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "sixth password").wantError(t, msgInvalidCode)
		})

		t.Run("an unknown user gets the same answer and no message", func(t *testing.T) {
			res := e.call("/auth/password-reset", "", map[string]string{
				"user_auth": "Ghost@example.com"})
			if res.wantOK(t).UserAuth != "ghost@example.com" {
				t.Fatalf("password-reset = %+v", res)
			}
			if msgs := e.messagesTo("ghost@example.com"); len(msgs) != 0 {
				t.Fatalf("sent %d messages to an unknown user", len(msgs))
			}
		})

		t.Run("a reset proves the user authority", func(t *testing.T) {
			e.call("/auth/network-create", "", map[string]any{"user_auth": "+442079460958",
				"password": "never verified", "network_name": "neververified", "terms": true}).
				wantOK(t)
			e.call("/auth/password-reset", "", map[string]string{"user_auth": "+44 20 7946 0958"})
			set(e.lastCode("+442079460958", resetCodeRe), "now verified").wantOK(t)
			res := e.call("/auth/login-with-password", "", map[string]string{
				"user_auth": "+442079460958", "password": "now verified"}).wantOK(t)
			if res.Network == nil || res.Network.ByJWT == "" {
				t.Fatalf("login-with-password = %+v", res)
			}
		})
	})
}
