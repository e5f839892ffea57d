package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/byplatform/byplatform/store/storetest"
)

// fuzzAnswers are the statuses the conventions allow for a body of any bytes.
var fuzzAnswers = map[int]bool{200: true, 400: true, 401: true, 413: true, 429: true}

// FuzzRequestDecoding posts arbitrary bytes to every operation, with a valid token on
// the protected ones, and requires one of the conventions' answers: never a 500, a 404
// or 405, a panic, or a 200 that is not a JSON object. It runs on SQLite and, when
// BYP_TEST_PG_URL names a server, on PostgreSQL as well, whose text columns refuse
// bytes SQLite keeps.
func FuzzRequestDecoding(f *testing.F) {
	drivers := []string{"sqlite"}
	if os.Getenv("BYP_TEST_PG_URL") != "" {
		drivers = append(drivers, "postgres")
	}
	type target struct {
		env *env
		jwt string
	}
	var targets []target
	for _, d := range drivers {
		// Only warnings and errors are kept: a long fuzz run would pile up debug lines.
		e := newEnv(f, storetest.Open(f, d), envOptions{logLevel: slog.LevelWarn})
		targets = append(targets, target{e, e.signUp("fuzz@example.com", "fuzz password",
			"fuzznetwork")})
	}

	routes := append([]string{"/network/clients"}, postRoutes...)
	seeds := []string{
		``, `{}`, `null`, `[]`, `"x"`, `0`, `{`, `}`, `{"a":}`, "\xff\xfe\xfd",
		`{"user_auth": "fuzz@example.com"}`,
		`{"user_auth": "fuzz@example.com", "password": "fuzz password"}`,
		`{"user_auth": "+1 415 555 2671", "verify_code": "123456"}`,
		`{"reset_code": "abc", "password": "12345678"}`,
		`{"network_name": "fuzznetwork2"}`,
		`{"user_name": "F", "user_auth": "f2@example.com", "password": "fuzz password",
			"network_name": "seednetwork1", "terms": true}`,
		`{"duration_minutes": 1e308, "uses": 9223372036854775807}`,
		`{"duration_minutes": -0.0, "uses": -1}`,
		`{"uses": 1e400}`,
		`{"auth_code": "` + strings.Repeat("a", 5000) + `"}`,
		`{"client_id": "00000000-0000-0000-0000-000000000000"}`,
		`{"client_id": "{3fa85f64-5717-4562-b3fc-2c963f66afa6}"}`,
		`{"description": "\u0000", "device_spec": "\ud800"}`,
		`{"derived_client_id": "urn:uuid:3fa85f64-5717-4562-b3fc-2c963f66afa6"}`,
		`{"product_updates": true}`,
		`{"uses": {"personal": true}, "needs": {"private": "\u0000\uffff"}}`,
		"{\"needs\": {\"other\": \"\xc3\x28\"}}",
		`{"auth_jwt": "eyJhbGciOiJub25lIn0.e30.", "auth_jwt_type": "apple"}`,
		strings.Repeat("[", 20000) + strings.Repeat("]", 20000),
		`{"user_auth": "` + strings.Repeat("9", 70000) + `"}`,
	}
	for i := range routes {
		for _, seed := range seeds {
			f.Add(uint8(i), []byte(seed))
		}
	}

	// The fuzzer picks the route too, so that one input is one request per driver.
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		path := routes[int(route)%len(routes)]
		method := http.MethodPost
		if path == "/network/clients" {
			method = http.MethodGet
		}
		for _, tg := range targets {
			req, err := http.NewRequest(method, tg.env.srv.URL+path, bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "text/json")
			if protected[path] != "" {
				req.Header.Set("Authorization", "Bearer "+tg.jwt)
			}
			checkFuzzAnswer(t, tg.env, req)
		}
	})
}

func checkFuzzAnswer(t *testing.T, e *env, req *http.Request) {
	t.Helper()
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s: %v", req.URL.Path, err)
	}
	answer, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("%s: read answer: %v", req.URL.Path, err)
	}
	if !fuzzAnswers[resp.StatusCode] {
		t.Fatalf("%s %s: status %d %s\nserver log:\n%s", req.Method, req.URL.Path,
			resp.StatusCode, answer, e.logs.String())
	}
	var obj map[string]any
	if err := json.Unmarshal(answer, &obj); err != nil {
		t.Fatalf("%s: status %d answer %q is not a JSON object", req.URL.Path,
			resp.StatusCode, answer)
	}
}
