package api_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// written remembers the golden files this run rewrote, so that with -update the second
// driver is compared against what the first one wrote instead of overwriting it.
var written sync.Map

var (
	uuidRe = regexp.MustCompile(
		`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	jwtRe = regexp.MustCompile(`^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$`)
)

// secretKeys are fields whose values are random secrets, replaced by a placeholder.
var secretKeys = map[string]string{"auth_code": "<auth-code>", "jti": "<jwt-id>",
	"kid": "<key-id>"}

// normalizer replaces what differs between runs with placeholders: ids become <id-N>,
// numbered in order of first appearance (keys sorted) so that equal ids stay equal; JWTs
// become <jwt>; times <time>; random codes a placeholder named after their field.
type normalizer struct {
	ids map[string]string
}

func (n *normalizer) value(key string, v any) any {
	switch v := v.(type) {
	case map[string]any:
		// Sorted keys number the ids the same way on every run.
		out := make(map[string]any, len(v))
		for _, k := range slices.Sorted(maps.Keys(v)) {
			out[k] = n.value(k, v[k])
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = n.value(key, x)
		}
		return out
	case string:
		return n.text(key, v)
	case float64:
		if key == "iat" {
			return "<unix-time>"
		}
	}
	return v
}

func (n *normalizer) text(key, s string) string {
	if p, ok := secretKeys[key]; ok && s != "" {
		return p
	}
	if uuidRe.MatchString(s) {
		if n.ids[s] == "" {
			n.ids[s] = fmt.Sprintf("<id-%d>", len(n.ids)+1)
		}
		return n.ids[s]
	}
	if jwtRe.MatchString(s) {
		return "<jwt>"
	}
	if _, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return "<time>"
	}
	return s
}

// normalizeJSON returns body, a JSON document, normalized and indented.
func normalizeJSON(tb testing.TB, body []byte) []byte {
	tb.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		tb.Fatalf("golden: %s is not JSON: %v", body, err)
	}
	n := &normalizer{ids: map[string]string{}}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(n.value("", v)); err != nil {
		tb.Fatal(err)
	}
	return out.Bytes()
}

// checkGolden compares a JSON answer, normalized, with testdata/<name>.json. With
// -update it writes the file instead (once per run; later calls compare).
func checkGolden(tb testing.TB, name string, body []byte) {
	tb.Helper()
	got := normalizeJSON(tb, body)
	path := filepath.Join("testdata", name+".json")
	if _, done := written.Load(path); *update && !done {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Fatal(err)
		}
		written.Store(path, true)
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("golden %s: %v (run go test -run %s -update to create it)", path, err,
			tb.Name())
	}
	if !bytes.Equal(got, want) {
		tb.Errorf("golden %s differs (run with -update if the change is intended)\n"+
			"got:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestNormalizeJSON(t *testing.T) {
	id := "3fa85f64-5717-4562-b3fc-2c963f66afa6"
	body := []byte(`{"a": "` + id + `", "b": ["` + id + `", "4fa85f64-5717-4562-b3fc-2c963f66afa6"],
		"t": "2024-04-02T10:00:00.123Z", "j": "eyJhbGciOiJFZERTQSJ9.eyJ4IjoxfQ.c2ln",
		"auth_code": "abc", "n": 1, "s": "plain"}`)
	want := `{
  "a": "<id-1>",
  "auth_code": "<auth-code>",
  "b": [
    "<id-1>",
    "<id-2>"
  ],
  "j": "<jwt>",
  "n": 1,
  "s": "plain",
  "t": "<time>"
}
`
	if got := string(normalizeJSON(t, body)); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}
