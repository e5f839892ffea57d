package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/byplatform/byplatform/notify"
	"github.com/byplatform/byplatform/store/storetest"
)

// syncBuffer is a log sink that is safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// listeningAddr finds the API's address in the "listening" lines of a JSON log.
func listeningAddr(log string) string {
	for _, line := range strings.Split(log, "\n") {
		var rec struct {
			Msg  string `json:"msg"`
			HTTP string `json:"http"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" &&
			rec.HTTP != "" {
			return rec.HTTP
		}
	}
	return ""
}

// serving is `byplatform serve` running in the test process through run.
type serving struct {
	addr   string
	log    *syncBuffer
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// startServe runs run(ctx, args...) until the test stops it, and waits for the
// "listening" log line, which has the address of the HTTP API.
func startServe(t *testing.T, args ...string) *serving {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &serving{log: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- run(ctx, args, io.Discard, s.log) }()
	t.Cleanup(func() { s.stop(t) })
	deadline := time.After(60 * time.Second)
	for s.addr == "" {
		select {
		case err := <-s.done:
			t.Fatalf("serve ended before listening: %v\n%s", err, s.log)
		case <-deadline:
			t.Fatalf("serve did not log its address within a minute:\n%s", s.log)
		case <-time.After(10 * time.Millisecond):
			s.addr = listeningAddr(s.log.String())
		}
	}
	return s
}

// stop cancels serve's context, as SIGINT does, and returns what run returned.
func (s *serving) stop(t *testing.T) error {
	t.Helper()
	s.once.Do(func() {
		s.cancel()
		select {
		case s.err = <-s.done:
		case <-time.After(shutdownTimeout + 5*time.Second):
			s.err = errors.New("serve did not stop in time")
		}
	})
	return s.err
}

// call posts args as JSON (text/json, as deployed clients send it) and decodes the
// answer, which must be a 200.
func (s *serving) call(t *testing.T, path, bearer string, args any) map[string]any {
	t.Helper()
	body, _ := json.Marshal(args)
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.addr+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "text/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: status %d %s", path, resp.StatusCode, answer)
	}
	var out map[string]any
	if err := json.Unmarshal(answer, &out); err != nil {
		t.Fatalf("%s: %s: %v", path, answer, err)
	}
	if out["error"] != nil {
		t.Fatalf("%s: %s", path, answer)
	}
	return out
}

func (s *serving) get(t *testing.T, path, bearer string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+s.addr+path, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// field digs a string out of a decoded answer.
func field(t *testing.T, m map[string]any, path ...string) string {
	t.Helper()
	var v any = m
	for _, p := range path {
		obj, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("no %v in %v", path, m)
		}
		v = obj[p]
	}
	s, ok := v.(string)
	if !ok || s == "" {
		t.Fatalf("no %v in %v", path, m)
	}
	return s
}

// lastCode reads the newest code to a recipient from the outbox.
func lastCode(t *testing.T, dir, to string, re *regexp.Regexp) string {
	t.Helper()
	box, err := notify.NewOutbox(dir)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := box.Messages()
	if err != nil {
		t.Fatal(err)
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		if m := re.FindStringSubmatch(msgs[i].Body); m != nil && msgs[i].To == to {
			return m[1]
		}
	}
	t.Fatalf("no message to %s in %s matches %s", to, dir, re)
	return ""
}

// loopbackPorts are the listener flags that keep a test server off fixed ports.
var loopbackPorts = []string{"--http-addr", "127.0.0.1:0", "--connect-addr", "127.0.0.1:0",
	"--quic-addr", "127.0.0.1:0"}

var (
	verifyCodeRe = regexp.MustCompile(`verification code is ([0-9]+)\.`)
	resetCodeRe  = regexp.MustCompile(`reset code is ([a-z0-9]+)\.`)
)

// TestServeRestart runs the real serve twice on one data directory: what the first run
// wrote (users, sessions, clients, codes, the JWT key and the code key) is there in the
// second. SQLite uses the default file in the data directory; PostgreSQL runs with --db.
func TestServeRestart(t *testing.T) {
	for _, driver := range storetest.Drivers {
		t.Run(driver, func(t *testing.T) {
			dir := t.TempDir()
			args := append([]string{"serve", "--data-dir", dir, "--log-format", "json",
				"--log-level", "debug"}, loopbackPorts...)
			if driver == "postgres" {
				args = append(args, "--db", storetest.DSN(t, driver))
			}
			const ua, pw = "serve@example.com", "serve password"
			outbox := filepath.Join(dir, "outbox")

			first := startServe(t, args...)
			if code, body := first.get(t, "/healthz", ""); code != 200 || body != "ok\n" {
				t.Fatalf("healthz: %d %q", code, body)
			}
			first.call(t, "/auth/network-create", "", map[string]any{"user_name": "Serve",
				"user_auth": ua, "password": pw, "network_name": "servenetwork", "terms": true})
			jwt := field(t, first.call(t, "/auth/verify", "", map[string]string{"user_auth": ua,
				"verify_code": lastCode(t, outbox, ua, verifyCodeRe)}), "network", "by_jwt")
			client := field(t, first.call(t, "/network/auth-client", jwt,
				map[string]string{"description": "laptop"}), "by_client_jwt")
			authCode := field(t, first.call(t, "/auth/code-create", jwt,
				map[string]any{"duration_minutes": 60}), "auth_code")
			first.call(t, "/auth/password-reset", "", map[string]string{"user_auth": ua})
			resetCode := lastCode(t, outbox, ua, resetCodeRe)
			verified := `byplatform_http_requests_total{route="POST /auth/verify",status="200"} 1`
			if code, body := first.get(t, "/metrics", ""); code != 200 ||
				!strings.Contains(body, verified) {
				t.Fatalf("metrics: %d\n%s", code, body)
			}
			if err := first.stop(t); err != nil {
				t.Fatalf("serve returned %v", err)
			}
			if !strings.Contains(first.log.String(), `"msg":"shutting down"`) {
				t.Fatalf("no shutdown in the log:\n%s", first.log)
			}
			for _, name := range []string{"jwt.key", "code.key"} {
				if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
			}
			_, err := os.Stat(filepath.Join(dir, "byplatform.db"))
			if (err == nil) != (driver == "sqlite") {
				t.Fatalf("byplatform.db in the data dir with %s: %v", driver, err)
			}

			second := startServe(t, args...)
			code, body := second.get(t, "/network/clients", jwt)
			if code != 200 || !strings.Contains(body, claimOf(t, client, "client_id")) {
				t.Fatalf("clients after restart: %d %s", code, body)
			}
			if code, _ := second.get(t, "/network/clients", client); code != 200 {
				t.Fatalf("the client JWT after restart: %d", code)
			}
			res := second.call(t, "/auth/network-check", "", map[string]string{
				"network_name": "servenetwrk"})
			if res["available"] != false {
				t.Fatalf("network-check after restart: %v", res)
			}
			second.call(t, "/auth/login-with-password", "", map[string]string{"user_auth": ua,
				"password": pw})
			second.call(t, "/auth/code-login", "", map[string]string{"auth_code": authCode})
			second.call(t, "/auth/password-set", "", map[string]string{"reset_code": resetCode,
				"password": "new serve password"})
			if code, _ := second.get(t, "/network/clients", jwt); code != 401 {
				t.Fatalf("a session survived password-set: %d", code)
			}
			if err := second.stop(t); err != nil {
				t.Fatalf("serve returned %v", err)
			}
		})
	}
}

// claimOf reads a string claim of a JWT without verifying it.
func claimOf(t *testing.T, jwt, name string) string {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("%q is not a JWT", jwt)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	s, _ := claims[name].(string)
	return s
}

func TestServeReadsTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("BYP_DATA_DIR", dir)
	t.Setenv("BYP_HTTP_ADDR", "127.0.0.1:0")
	t.Setenv("BYP_CONNECT_ADDR", "127.0.0.1:0")
	t.Setenv("BYP_QUIC_ADDR", "127.0.0.1:0")
	t.Setenv("BYP_LOG_FORMAT", "json")
	t.Setenv("BYP_OUTBOX_DIR", filepath.Join(dir, "mail"))
	s := startServe(t)
	s.call(t, "/auth/network-create", "", map[string]any{"user_auth": "env@example.com",
		"password": "env password", "network_name": "envnetwork", "terms": true})
	lastCode(t, filepath.Join(dir, "mail"), "env@example.com", verifyCodeRe)
	if err := s.stop(t); err != nil {
		t.Fatal(err)
	}
	// A flag on the command line wins over the environment.
	t.Setenv("BYP_LOG_FORMAT", "yaml")
	err := run(context.Background(), []string{"serve"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--log-format") {
		t.Fatalf("serve with BYP_LOG_FORMAT=yaml: %v", err)
	}
	s = startServe(t, "--log-format", "json")
	s.stop(t)
}

func TestCommands(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, &out, io.Discard); err != nil ||
		out.String() != "byplatform "+version+"\n" {
		t.Fatalf("version: %q, %v", out.String(), err)
	}

	out.Reset()
	err := run(context.Background(), []string{"--help"}, &out, io.Discard)
	if !errors.Is(err, flag.ErrHelp) || exitCode(err) != 0 {
		t.Fatalf("--help: %v", err)
	}
	for _, c := range []string{"serve", "migrate", "version"} {
		if !strings.Contains(out.String(), c) {
			t.Fatalf("--help does not list %s:\n%s", c, out.String())
		}
	}

	out.Reset()
	err = run(context.Background(), []string{"serve", "--help"}, &out, io.Discard)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("serve --help: %v", err)
	}
	for _, f := range []string{"data-dir", "db", "http-addr", "outbox-dir", "smtp-url",
		"jwt-key-file", "trusted-proxy", "log-level", "log-format"} {
		help := out.String()
		if !strings.Contains(help, "--"+f+" ") || !strings.Contains(help, envName(f)) {
			t.Fatalf("serve --help does not explain --%s:\n%s", f, out.String())
		}
	}

	err = run(context.Background(), []string{"frobnicate"}, io.Discard, io.Discard)
	if err == nil || exitCode(err) != 1 {
		t.Fatalf("an unknown command: %v", err)
	}

	dir := t.TempDir()
	out.Reset()
	err = run(context.Background(), []string{"migrate", "--data-dir", dir}, &out, io.Discard)
	if err != nil || !regexp.MustCompile(`^applied [1-9][0-9]* migrations on sqlite\n$`).
		MatchString(out.String()) {
		t.Fatalf("migrate: %q, %v", out.String(), err)
	}
	out.Reset()
	err = run(context.Background(), []string{"migrate", "--data-dir", dir}, &out, io.Discard)
	if err != nil || out.String() != "applied 0 migrations on sqlite\n" {
		t.Fatalf("second migrate: %q, %v", out.String(), err)
	}
}

// TestServeStopsOnSignals builds the binary and stops it with SIGTERM and SIGINT: it
// exits 0 within the shutdown bound.
func TestServeStopsOnSignals(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "byplatform")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(bin, append([]string{"serve", "--data-dir", t.TempDir(),
				"--log-format", "json"}, loopbackPorts...)...)
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			addr := make(chan string, 1)
			go func() {
				sc := bufio.NewScanner(stderr)
				for sc.Scan() {
					if a := listeningAddr(sc.Text()); a != "" {
						addr <- a
					}
				}
				close(addr)
			}()
			var a string
			select {
			case a = <-addr:
			case <-time.After(60 * time.Second):
				t.Fatal("the binary did not log its address within a minute")
			}
			if a == "" {
				t.Fatal("the binary exited before listening")
			}
			s := &serving{addr: a}
			if code, _ := s.get(t, "/healthz", ""); code != 200 {
				t.Fatalf("healthz: %d", code)
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("exit after %s: %v", sig, err)
				}
			case <-time.After(shutdownTimeout + 5*time.Second):
				t.Fatalf("still running %s after %s", shutdownTimeout+5*time.Second, sig)
			}
		})
	}
}
