package api_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"io"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/byplatform/byplatform/api"
	"github.com/byplatform/byplatform/store"
	"github.com/byplatform/byplatform/store/storetest"
	"github.com/byplatform/byplatform/token"
)

// postRoutes are the fifteen operations but /network/clients, which is a GET.
var postRoutes = []string{
	"/auth/login", "/auth/login-with-password", "/auth/verify", "/auth/verify-send",
	"/auth/password-reset", "/auth/password-set", "/auth/network-check",
	"/auth/network-create", "/auth/code-create", "/auth/code-login", "/network/auth-client",
	"/network/remove-client", "/preferences/set-preferences", "/feedback/send-feedback",
}

// protected are the routes that need a bearer token.
var protected = map[string]string{
	"/auth/code-create": http.MethodPost, "/network/auth-client": http.MethodPost,
	"/network/remove-client": http.MethodPost, "/network/clients": http.MethodGet,
	"/preferences/set-preferences": http.MethodPost, "/feedback/send-feedback": http.MethodPost,
}

func TestConventions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOptions{})
		jwt := e.signUp("conventions@example.com", "conventions password", "conventionsnet")
		bearer := func(path string) string {
			if protected[path] != "" {
				return jwt
			}
			return ""
		}

		t.Run("malformed JSON is 400 on every route", func(t *testing.T) {
			for _, path := range postRoutes {
				for _, body := range []string{`{"user_auth":`, `{"a":1}}`, `[1,2]`, `"text"`, `42`,
					`{'single': 'quotes'}`, "\xff\xfe", `{"user_auth": "secret-input-1234"`} {
					r := e.do(http.MethodPost, path, bearer(path), "text/json", []byte(body))
					r.wantStatus(t, http.StatusBadRequest)
					if bytes.Contains(r.body, []byte("secret-input")) {
						t.Fatalf("%s: the 400 answer echoes the input: %s", path, r.body)
					}
				}
			}
		})

		t.Run("a field of the wrong type is 400", func(t *testing.T) {
			for path, body := range map[string]string{
				"/auth/network-create":         `{"terms": "yes"}`,
				"/auth/login":                  `{"user_auth": 5}`,
				"/auth/code-create":            `{"uses": 1.5}`,
				"/auth/network-check":          `{"network_name": ["a"]}`,
				"/preferences/set-preferences": `{"product_updates": 1}`,
			} {
				r := e.do(http.MethodPost, path, bearer(path), "text/json", []byte(body))
				r.wantStatus(t, http.StatusBadRequest)
			}
		})

		t.Run("an empty body reads as an empty object", func(t *testing.T) {
			for _, body := range []string{"", "  \n", "null"} {
				r := e.do(http.MethodPost, "/auth/network-check", "", "", []byte(body))
				if res := r.result(t); res.Available == nil || *res.Available {
					t.Fatalf("network-check with body %q = %s", body, r.body)
				}
			}
		})

		t.Run("the body is JSON whatever the Content-Type", func(t *testing.T) {
			body := []byte(`{"network_name": "freshnetworkname"}`)
			for _, ct := range []string{"text/json", "application/json",
				"application/json; charset=utf-8", "text/plain", "",
				"application/x-www-form-urlencoded", "multipart/form-data; boundary=x"} {
				r := e.do(http.MethodPost, "/auth/network-check", "", ct, body)
				if res := r.result(t); res.Available == nil || !*res.Available {
					t.Fatalf("Content-Type %q: %s", ct, r.body)
				}
			}
			r := e.do(http.MethodPost, "/network/auth-client", jwt, "text/json",
				[]byte(`{"description": "text json"}`))
			if r.result(t).wantOK(t).ByClientJWT == "" {
				t.Fatalf("auth-client with text/json: %s", r.body)
			}
		})

		t.Run("missing, bad and revoked tokens are 401", func(t *testing.T) {
			_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
			forged, err := token.NewSigner(otherKey).Sign(token.Claims{
				NetworkID:   uuid.MustParse(claim(t, jwt, "network_id")),
				NetworkName: "conventionsnet", UserID: uuid.MustParse(claim(t, jwt, "user_id")),
				CreateTime: time.Now(), SessionIDs: []uuid.UUID{uuid.MustParse(
					jwtClaims(t, jwt)["auth_session_ids"].([]any)[0].(string))}})
			if err != nil {
				t.Fatal(err)
			}
			noSession, err := e.signer.Sign(token.Claims{
				NetworkID:   uuid.MustParse(claim(t, jwt, "network_id")),
				NetworkName: "conventionsnet", UserID: uuid.MustParse(claim(t, jwt, "user_id")),
				CreateTime: time.Now(), SessionIDs: []uuid.UUID{uuid.New()}})
			if err != nil {
				t.Fatal(err)
			}
			parts := strings.Split(jwt, ".")
			tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(
				[]byte(`{"network_id":"`+uuid.NewString()+`"}`)) + "." + parts[2]
			headers := map[string]string{
				"no header":            "",
				"an empty bearer":      "Bearer ",
				"another scheme":       "Basic " + jwt,
				"a bearer of garbage":  "Bearer garbage",
				"a forged token":       "Bearer " + forged,
				"an unknown session":   "Bearer " + noSession,
				"a tampered token":     "Bearer " + tampered,
				"a huge token":         "Bearer " + strings.Repeat("a", 20000),
				"a token without sigs": "Bearer " + parts[0] + "." + parts[1] + ".",
			}
			for path, method := range protected {
				for name, h := range headers {
					req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader("{}"))
					if h != "" {
						req.Header.Set("Authorization", h)
					}
					r := e.send(req)
					if r.status != http.StatusUnauthorized {
						t.Fatalf("%s %s with %s: status %d, want 401", method, path, name,
							r.status)
					}
					r.wantStatus(t, http.StatusUnauthorized)
				}
			}
		})

		t.Run("unknown routes are 404 and wrong methods 405", func(t *testing.T) {
			for _, c := range []struct {
				method, path string
				status       int
			}{
				{http.MethodGet, "/nope", 404},
				{http.MethodPost, "/auth/nope", 404},
				{http.MethodPost, "/auth", 404},
				{http.MethodPost, "/auth/login/extra", 404},
				{http.MethodGet, "/auth/login", 405},
				{http.MethodPut, "/auth/network-create", 405},
				{http.MethodDelete, "/network/remove-client", 405},
				{http.MethodPost, "/network/clients", 405},
			} {
				r := e.do(c.method, c.path, jwt, "text/json", []byte("{}"))
				if r.status != c.status {
					t.Fatalf("%s %s: status %d, want %d", c.method, c.path, r.status, c.status)
				}
				if c.status == 405 && r.header.Get("Allow") == "" {
					t.Fatalf("%s %s: 405 without Allow", c.method, c.path)
				}
			}
		})

		t.Run("bodies over 64 KiB are 413", func(t *testing.T) {
			fits := jsonOfSize(64 << 10)
			r := e.do(http.MethodPost, "/auth/network-check", "", "text/json", fits)
			if res := r.result(t); res.Available == nil {
				t.Fatalf("a 64 KiB body: %s", r.body)
			}
			for _, path := range postRoutes {
				e.do(http.MethodPost, path, bearer(path), "text/json", jsonOfSize(64<<10+1)).
					wantStatus(t, http.StatusRequestEntityTooLarge)
			}
			// Without a Content-Length the limit holds as well.
			req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/auth/login",
				io.MultiReader(bytes.NewReader(jsonOfSize(1<<20))))
			req.ContentLength = -1
			e.send(req).wantStatus(t, http.StatusRequestEntityTooLarge)
		})

		t.Run("free text the databases cannot store is refused in band", func(t *testing.T) {
			for _, body := range []string{
				`{"description": "nul \u0000 inside"}`,
				`{"device_spec": "\u0000"}`,
			} {
				e.do(http.MethodPost, "/network/auth-client", jwt, "text/json", []byte(body)).
					result(t).wantError(t, "Description and device spec must not contain NUL.")
			}
			e.do(http.MethodPost, "/auth/network-create", "", "text/json",
				[]byte(`{"user_name": "a\u0000b", "user_auth": "nul@example.com",
					"password": "nul password", "network_name": "nulnetwork", "terms": true}`)).
				result(t).wantError(t, "User name must not contain NUL.")
			feedback := func(body string) result {
				return e.do(http.MethodPost, "/feedback/send-feedback", jwt, "text/json",
					[]byte(body)).result(t)
			}
			feedback("{\"needs\": {\"other\": \"\xff\xfe\"}}").
				wantError(t, "Feedback must be a JSON object.")
			feedback("null").wantError(t, "Feedback must be a JSON object.")
			// Escaped, a NUL is plain text to the store.
			feedback(`{"needs": {"other": "\u0000"}}`).wantOK(t)
		})

		t.Run("every answer has a request id", func(t *testing.T) {
			seen := map[string]bool{}
			for _, r := range []response{
				e.do(http.MethodGet, "/healthz", "", "", nil),
				e.do(http.MethodGet, "/nope", "", "", nil),
				e.do(http.MethodPost, "/auth/login", "", "", []byte("{")),
				e.do(http.MethodGet, "/network/clients", jwt, "", nil),
			} {
				id := r.header.Get("X-Request-Id")
				if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(id) || seen[id] {
					t.Fatalf("request id %q (seen before: %v)", id, seen[id])
				}
				seen[id] = true
				if !strings.Contains(e.logs.String(), "request_id="+id) {
					t.Fatalf("request id %s is in no log line", id)
				}
			}
		})

		t.Run("healthz is 200 while the database answers", func(t *testing.T) {
			r := e.do(http.MethodGet, "/healthz", "", "", nil)
			if r.status != 200 || string(r.body) != "ok\n" {
				t.Fatalf("healthz: %d %q", r.status, r.body)
			}
		})
	})
}

// jsonOfSize returns a JSON object of exactly n bytes (n >= 20).
func jsonOfSize(n int) []byte {
	const head, tail = `{"network_name": "`, `"}`
	return []byte(head + strings.Repeat("x", n-len(head)-len(tail)) + tail)
}

// TestInternalErrors breaks the database under a running server: requests that need it
// get a 500 that says nothing about why, the log says why under the request's id, and
// healthz reports 503.
func TestInternalErrors(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOptions{})
		jwt := e.signUp("broken@example.com", "broken password", "brokennetwork")
		st.Close()

		for _, r := range []response{
			e.do(http.MethodGet, "/network/clients", jwt, "", nil),
			e.post("/auth/login", "", map[string]string{"user_auth": "broken@example.com"}),
			e.post("/auth/network-create", "", map[string]any{"user_auth": "new@example.com",
				"password": "new password", "network_name": "afterthebreak", "terms": true}),
		} {
			if r.status != http.StatusInternalServerError ||
				string(r.body) != `{"error":{"message":"internal error"}}`+"\n" {
				t.Fatalf("status %d body %q, want a bare 500", r.status, r.body)
			}
			rid := r.header.Get("X-Request-Id")
			line := logLine(e.logs.String(), "request_id="+rid, "request failed")
			if line == "" || !strings.Contains(line, "err=") {
				t.Fatalf("no log line says why request %s failed:\n%s", rid, e.logs.String())
			}
		}
		r := e.do(http.MethodGet, "/healthz", "", "", nil)
		if r.status != http.StatusServiceUnavailable {
			t.Fatalf("healthz with the database closed: %d", r.status)
		}
		// The name of the failed create is free again.
		res := e.call("/auth/network-check", "", map[string]string{"network_name": "afterthebreak"})
		if !*res.Available {
			t.Fatal("a failed create kept its name")
		}
	})
}

// logLine returns the first line of logs that holds every one of parts.
func logLine(logs string, parts ...string) string {
	for _, line := range strings.Split(logs, "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return line
		}
	}
	return ""
}

// limitedRoutes are the routes with sign-in rate limits and a request body for each;
// %s is replaced by a user authority.
var limitedRoutes = map[string]string{
	"/auth/login":               `{"user_auth": "%s"}`,
	"/auth/login-with-password": `{"user_auth": "%s", "password": "guess guess"}`,
	"/auth/verify":              `{"user_auth": "%s", "verify_code": "123456"}`,
	"/auth/verify-send":         `{"user_auth": "%s"}`,
	"/auth/password-reset":      `{"user_auth": "%s"}`,
	"/auth/network-create":      `{"user_auth": "%s", "password": "guess guess"}`,
	"/auth/password-set":        `{"reset_code": "%s", "password": "guess guess"}`,
	"/auth/code-login":          `{"auth_code": "%s"}`,
}

// perUserAuth are the limited routes that also count per user authority.
var perUserAuth = []string{"/auth/login", "/auth/login-with-password", "/auth/verify",
	"/auth/verify-send", "/auth/password-reset", "/auth/network-create"}

func TestRateLimits(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		try := func(e *env, path, userAuth, forwarded string) response {
			body := strings.Replace(limitedRoutes[path], "%s", userAuth, 1)
			req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(body))
			req.Header.Set("Content-Type", "text/json")
			if forwarded != "" {
				req.Header.Set("X-Forwarded-For", forwarded)
			}
			return e.send(req)
		}
		want429 := func(t *testing.T, r response) {
			t.Helper()
			r.wantStatus(t, http.StatusTooManyRequests)
			secs, err := strconv.Atoi(r.header.Get("Retry-After"))
			if err != nil || secs < 1 {
				t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
			}
		}

		t.Run("per user authority", func(t *testing.T) {
			e := newEnv(t, st, envOptions{limits: api.Limits{AddrBurst: 1000,
				AddrPerSecond: 1000, AuthBurst: 3, AuthPerSecond: 0.01}})
			for _, path := range perUserAuth {
				for range 3 {
					if r := try(e, path, "target@example.com", ""); r.status != 200 {
						t.Fatalf("%s: status %d within the limit", path, r.status)
					}
				}
				r := try(e, path, " Target@Example.COM", "")
				want429(t, r)
				if secs, _ := strconv.Atoi(r.header.Get("Retry-After")); secs < 90 || secs > 100 {
					t.Fatalf("Retry-After %d, want about 100 s at 0.01 per second", secs)
				}
				if r := try(e, path, "bystander@example.com", ""); r.status != 200 {
					t.Fatalf("%s: another user authority is limited too: %d", path, r.status)
				}
			}
		})

		t.Run("per address", func(t *testing.T) {
			e := newEnv(t, st, envOptions{limits: api.Limits{AddrBurst: 3, AddrPerSecond: 0.001,
				AuthBurst: 1000, AuthPerSecond: 1000}})
			for path := range limitedRoutes {
				for i := range 3 {
					ua := "user" + strconv.Itoa(i) + "@example.com"
					if r := try(e, path, ua, ""); r.status != 200 {
						t.Fatalf("%s: status %d within the limit", path, r.status)
					}
				}
				want429(t, try(e, path, "user9@example.com", ""))
				// A client cannot claim another address unless the peer is a trusted proxy.
				want429(t, try(e, path, "user9@example.com", "198.51.100.7"))
			}
			// Routes without sign-in limits are not affected.
			res := e.call("/auth/network-check", "", map[string]string{"network_name": "unlimited"})
			if res.Available == nil {
				t.Fatal("network-check is limited")
			}
		})

		t.Run("behind a trusted proxy the forwarded address counts", func(t *testing.T) {
			e := newEnv(t, st, envOptions{limits: api.Limits{AddrBurst: 2, AddrPerSecond: 0.001,
				AuthBurst: 1000, AuthPerSecond: 1000},
				proxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
			for range 2 {
				if r := try(e, "/auth/login", "a@example.com", "198.51.100.7"); r.status != 200 {
					t.Fatalf("status %d within the limit", r.status)
				}
			}
			want429(t, try(e, "/auth/login", "a@example.com", "198.51.100.7"))
			want429(t, try(e, "/auth/login", "a@example.com", "203.0.113.9, 198.51.100.7"))
			if r := try(e, "/auth/login", "a@example.com", "198.51.100.8"); r.status != 200 {
				t.Fatalf("another forwarded address is limited: %d", r.status)
			}
		})
	})
}
