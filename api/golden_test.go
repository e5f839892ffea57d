package api_test

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/byplatform/byplatform/api"
	"github.com/byplatform/byplatform/store"
	"github.com/byplatform/byplatform/store/storetest"
)

// TestResponseShapes walks through every operation and compares each answer, with ids,
// tokens and times replaced by placeholders, to its golden file under testdata/. Both
// drivers must give the same answers. Run with -update to rewrite the files.
func TestResponseShapes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ks := newKeyServer(t)
		e := newEnv(t, st, envOptions{sso: ks.verifiers(t)})
		golden := func(name string, r response) response {
			t.Helper()
			if r.status != http.StatusOK {
				t.Fatalf("%s: status %d %s", name, r.status, r.body)
			}
			checkGolden(t, name, r.body)
			return r
		}
		post := func(name, path, bearer string, args any) result {
			t.Helper()
			return golden(name, e.post(path, bearer, args)).result(t)
		}
		const ua, pw = "golden@example.com", "golden password"

		post("auth-login-new-user", "/auth/login", "", map[string]string{"user_auth": ua})
		post("auth-network-check", "/auth/network-check", "",
			map[string]string{"network_name": "goldennetwork"})
		post("auth-network-create-verification-required", "/auth/network-create", "",
			map[string]any{"user_name": "Goldie", "user_auth": ua, "password": pw,
				"network_name": "goldennetwork", "terms": true})
		post("auth-network-create-error", "/auth/network-create", "",
			map[string]any{"user_name": "Goldie", "user_auth": "x@example.com", "password": pw,
				"network_name": "goldennetwrk", "terms": true})
		post("auth-login-existing-user", "/auth/login", "", map[string]string{"user_auth": ua})
		post("auth-login-with-password-verification-required", "/auth/login-with-password", "",
			map[string]string{"user_auth": ua, "password": pw})
		post("auth-verify-send", "/auth/verify-send", "", map[string]string{"user_auth": ua})
		post("auth-verify-error", "/auth/verify", "", map[string]string{"user_auth": ua,
			"verify_code": "not a code"})
		code := e.lastCode(ua, verifyCodeRe)
		post("auth-verify", "/auth/verify", "", map[string]string{"user_auth": ua,
			"verify_code": code})
		jwt := post("auth-login-with-password", "/auth/login-with-password", "",
			map[string]string{"user_auth": ua, "password": pw}).Network.ByJWT
		post("auth-login-with-password-error", "/auth/login-with-password", "",
			map[string]string{"user_auth": ua, "password": "wrong password"})

		checkGolden(t, "jwt-network", jwtParts(t, jwt))
		client := post("network-auth-client", "/network/auth-client", jwt, map[string]string{
			"description": "golden laptop", "device_spec": "linux/amd64"}).ByClientJWT
		checkGolden(t, "jwt-client", jwtParts(t, client))
		e.clock.Advance(90 * time.Second)
		phone := e.newClient(client, "golden phone")
		post("network-auth-client-error", "/network/auth-client", jwt,
			map[string]string{"client_id": "00000000-0000-4000-8000-000000000000"})
		golden("network-clients", e.do(http.MethodGet, "/network/clients", jwt, "", nil))
		post("network-remove-client", "/network/remove-client", jwt,
			map[string]string{"client_id": claim(t, phone, "client_id")})
		post("network-remove-client-error", "/network/remove-client", jwt,
			map[string]string{"client_id": claim(t, phone, "client_id")})

		authCode := post("auth-code-create", "/auth/code-create", jwt,
			map[string]any{"duration_minutes": 5, "uses": 2}).AuthCode
		post("auth-code-create-error", "/auth/code-create", client, map[string]any{})
		post("auth-code-login", "/auth/code-login", "", map[string]string{"auth_code": authCode})
		post("auth-code-login-error", "/auth/code-login", "", map[string]string{"auth_code": "x"})
		for range 99 {
			e.call("/auth/code-create", jwt, nil).wantOK(t)
		}
		post("auth-code-create-limit", "/auth/code-create", jwt, map[string]any{})

		post("preferences-set-preferences", "/preferences/set-preferences", jwt,
			map[string]bool{"product_updates": true})
		post("feedback-send-feedback", "/feedback/send-feedback", jwt,
			map[string]any{"uses": map[string]bool{"personal": true},
				"needs": map[string]any{"private": true, "other": "more exits"}})

		post("auth-login-sso-new-user", "/auth/login", "", map[string]string{
			"auth_jwt": appleToken("sso@example.com").sign(t), "auth_jwt_type": "apple"})
		post("auth-network-create-sso", "/auth/network-create", "", map[string]any{
			"user_name": "Sso", "auth_jwt": appleToken("sso@example.com").sign(t),
			"auth_jwt_type": "apple", "network_name": "ssonetwork", "terms": true})
		post("auth-login-sso", "/auth/login", "", map[string]string{
			"auth_jwt": appleToken("sso@example.com").sign(t), "auth_jwt_type": "apple"})
		post("auth-login-sso-error", "/auth/login", "", map[string]string{
			"auth_jwt": googleToken("sso@example.com").sign(t), "auth_jwt_type": "google"})

		for range 127 {
			e.newClient(jwt, "filler")
		}
		post("network-auth-client-limit", "/network/auth-client", jwt, map[string]string{})

		post("auth-password-reset", "/auth/password-reset", "", map[string]string{"user_auth": ua})
		post("auth-password-set", "/auth/password-set", "", map[string]string{
			"reset_code": e.lastCode(ua, resetCodeRe), "password": "new golden password"})
		post("auth-password-set-error", "/auth/password-set", "", map[string]string{
			"reset_code": "nothing", "password": "new golden password"})

		statuses := map[string]response{
			"status-400": e.do(http.MethodPost, "/auth/login", "", "text/json", []byte("{")),
			"status-401": e.do(http.MethodGet, "/network/clients", "", "", nil),
			"status-413": e.do(http.MethodPost, "/auth/login", "", "text/json",
				jsonOfSize(1<<17)),
		}
		limited := newEnv(t, st, envOptions{limits: api.Limits{AddrBurst: 1, AddrPerSecond: 1e-3,
			AuthBurst: 1, AuthPerSecond: 1e-3}})
		limited.call("/auth/login", "", map[string]string{"user_auth": ua})
		statuses["status-429"] = limited.post("/auth/login", "", map[string]string{"user_auth": ua})
		for name, r := range statuses {
			if want, _ := strconv.Atoi(name[len("status-"):]); r.status != want {
				t.Fatalf("%s: status %d", name, r.status)
			}
			checkGolden(t, name, r.body)
		}
	})
}

// jwtParts returns a JWT's header and claims as one JSON document.
func jwtParts(t *testing.T, jwt string) []byte {
	t.Helper()
	parts := strings.Split(jwt, ".")
	header, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	claims, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return []byte(`{"header": ` + string(header) + `, "claims": ` + string(claims) + `}`)
}
