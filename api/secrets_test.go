package api_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/byplatform/byplatform/store"
	"github.com/byplatform/byplatform/store/storetest"
)

// secrets collects what must never be logged or stored in plain text.
type secrets []string

func (s *secrets) add(tb testing.TB, values ...string) {
	tb.Helper()
	for _, v := range values {
		if v == "" {
			tb.Fatal("a secret of the flow is empty")
		}
		*s = append(*s, v)
		if parts := strings.Split(v, "."); len(parts) == 3 && strings.HasPrefix(v, "eyJ") {
			*s = append(*s, parts[2]) // a JWT's signature alone is enough to replay it
		}
	}
}

// find returns the secrets that occur in text. A short code counts only as a whole
// word: six digits turn up by chance inside longer numbers.
func (s secrets) find(text string) []string {
	var found []string
	for _, v := range s {
		hit := strings.Contains(text, v)
		if len(v) < 12 {
			hit = regexp.MustCompile(`\b` + regexp.QuoteMeta(v) + `\b`).MatchString(text)
		}
		if hit {
			found = append(found, v)
		}
	}
	return found
}

// TestNoSecretInLogsOrStore runs every sign-in flow with debug logging, then looks for
// each password, code and token of the flow in the log and in every row of every table.
func TestNoSecretInLogsOrStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ks := newKeyServer(t)
		e := newEnv(t, st, envOptions{sso: ks.verifiers(t)})
		var s secrets
		const ua = "secret@example.com"
		passwords := []string{"first secret password", "wrong secret password",
			"second secret password", "shorty7"}
		s.add(t, passwords...)

		e.call("/auth/network-create", "", map[string]any{"user_auth": ua,
			"password": passwords[0], "network_name": "secretnetwork", "terms": true}).wantOK(t)
		code := e.lastCode(ua, verifyCodeRe)
		wrong := otherCode(code)
		s.add(t, code, wrong)
		e.call("/auth/verify", "", map[string]string{"user_auth": ua, "verify_code": wrong})
		jwt := e.call("/auth/verify", "", map[string]string{"user_auth": ua,
			"verify_code": code}).wantOK(t).Network.ByJWT
		e.call("/auth/login-with-password", "", map[string]string{"user_auth": ua,
			"password": passwords[1]}).wantError(t, msgInvalidLogin)
		jwt2 := e.call("/auth/login-with-password", "", map[string]string{"user_auth": ua,
			"password": passwords[0]}).wantOK(t).Network.ByJWT
		client := e.newClient(jwt, "laptop")
		authCode := e.call("/auth/code-create", jwt, nil).wantOK(t).AuthCode
		jwt3 := e.call("/auth/code-login", "", map[string]string{"auth_code": authCode}).
			wantOK(t).ByJWT
		e.call("/auth/password-reset", "", map[string]string{"user_auth": ua}).wantOK(t)
		resetCode := e.lastCode(ua, resetCodeRe)
		e.call("/auth/password-set", "", map[string]string{"reset_code": resetCode,
			"password": passwords[3]}).wantError(t, msgPasswordShort)
		e.call("/auth/password-set", "", map[string]string{"reset_code": resetCode,
			"password": passwords[2]}).wantOK(t)
		s.add(t, jwt, jwt2, jwt3, client, authCode, resetCode)

		good := appleToken("sso-secret@example.com").sign(t)
		bad := appleToken("sso-secret@example.com")
		bad.audience = "com.example.other"
		badToken := bad.sign(t)
		s.add(t, good, badToken)
		e.call("/auth/login", "", map[string]string{"auth_jwt": badToken,
			"auth_jwt_type": "apple"}).wantError(t, msgInvalidSSO)
		ssoJWT := e.call("/auth/network-create", "", map[string]any{"auth_jwt": good,
			"auth_jwt_type": "apple", "network_name": "ssosecretnet", "terms": true}).
			wantOK(t).Network.ByJWT
		s.add(t, ssoJWT)
		// Refused requests carry secrets too.
		e.do(http.MethodPost, "/auth/login-with-password", "", "text/json",
			[]byte(`{"user_auth": "`+ua+`", "password": "`+passwords[1]+`"`)).wantStatus(t, 400)
		e.do(http.MethodGet, "/network/clients", jwt, "", nil).wantStatus(t, 401)
		e.do(http.MethodGet, "/network/clients", badToken, "", nil).wantStatus(t, 401)

		logs := e.logs.String()
		if !strings.Contains(logs, "level=DEBUG") || !strings.Contains(logs, "sso token refused") {
			t.Fatalf("the log does not hold the debug lines of the flow:\n%s", logs)
		}
		if found := s.find(logs); len(found) > 0 {
			t.Fatalf("secrets in the log: %q\n%s", found, logs)
		}
		if found := s.find(dumpTables(t, st)); len(found) > 0 {
			t.Fatalf("secrets stored in plain text: %q", found)
		}
	})
}

// dumpTables returns every row of every table as text.
func dumpTables(t *testing.T, st *store.Store) string {
	t.Helper()
	ctx := context.Background()
	list := "SELECT name FROM sqlite_master WHERE type = 'table'"
	if st.Driver() != "sqlite" {
		list = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
	}
	var out strings.Builder
	err := st.Tx(ctx, func(tx *store.Tx) error {
		out.Reset()
		tables, err := queryStrings(ctx, tx, list)
		if err != nil {
			return err
		}
		if len(tables) < 5 {
			return fmt.Errorf("found only tables %v", tables)
		}
		for _, table := range tables {
			rows, err := tx.Query(ctx, "SELECT * FROM "+table)
			if err != nil {
				return err
			}
			cols, _ := rows.Columns()
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			for rows.Next() {
				if err := rows.Scan(ptrs...); err != nil {
					rows.Close()
					return err
				}
				for _, v := range vals {
					if b, ok := v.([]byte); ok {
						v = string(b)
					}
					fmt.Fprintf(&out, "%v\t", v)
				}
				out.WriteByte('\n')
			}
			rows.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func queryStrings(ctx context.Context, tx *store.Tx, query string) ([]string, error) {
	rows, err := tx.Query(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
