package api_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/byplatform/byplatform/api"
	"github.com/byplatform/byplatform/engine"
	"github.com/byplatform/byplatform/internal/testclock"
	"github.com/byplatform/byplatform/notify"
	"github.com/byplatform/byplatform/store"
	"github.com/byplatform/byplatform/token"
)

// cheapPassword keeps argon2id fast in tests that do not measure its cost.
var cheapPassword = engine.PasswordParams{Time: 1, Memory: 64, Threads: 1}

// noLimits are rate limits no test reaches unless it means to.
var noLimits = api.Limits{AddrBurst: 1e9, AddrPerSecond: 1e9, AuthBurst: 1e9,
	AuthPerSecond: 1e9}

// testClock is the engine's clock in tests: fixed until a test moves it.
type testClock = testclock.Clock

func newTestClock() *testClock { return testclock.New() }

// logBuffer collects log output; it is safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// envOptions change the defaults of newEnv.
type envOptions struct {
	limits   api.Limits
	proxies  []netip.Prefix
	sso      map[string]*token.SSOVerifier
	password engine.PasswordParams
	// logLevel is the level of the captured log; zero is debug and up.
	logLevel slog.Level
	// signer, codeKey, outbox and clock are shared by the two halves of a restart test.
	signer  *token.Signer
	codeKey []byte
	outbox  *notify.Outbox
	clock   *testClock
}

// env is a real server for a test: the API over a real engine over a real store,
// served on a loopback socket, with an outbox that collects every message sent.
type env struct {
	tb     testing.TB
	store  *store.Store
	eng    *engine.Engine
	srv    *httptest.Server
	outbox *notify.Outbox
	clock  *testClock
	signer *token.Signer
	// codeKey keys the stored hashes of codes.
	codeKey []byte
	logs    *logBuffer
}

func newEnv(tb testing.TB, st *store.Store, o envOptions) *env {
	tb.Helper()
	if o.limits == (api.Limits{}) {
		o.limits = noLimits
	}
	if o.password == (engine.PasswordParams{}) {
		o.password = cheapPassword
	}
	if o.signer == nil {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		o.signer = token.NewSigner(priv)
	}
	if o.codeKey == nil {
		o.codeKey = make([]byte, 32)
		rand.Read(o.codeKey)
	}
	if o.outbox == nil {
		var err error
		if o.outbox, err = notify.NewOutbox(tb.TempDir()); err != nil {
			tb.Fatal(err)
		}
	}
	if o.clock == nil {
		o.clock = newTestClock()
	}
	e := &env{tb: tb, store: st, outbox: o.outbox, clock: o.clock, signer: o.signer,
		codeKey: o.codeKey, logs: &logBuffer{}}
	if o.logLevel == 0 {
		o.logLevel = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: o.logLevel}))
	var err error
	e.eng, err = engine.New(context.Background(), engine.Config{Store: st, Signer: o.signer,
		Sender: o.outbox, CodeKey: o.codeKey, SSO: o.sso, Password: o.password, Logger: log,
		Now: o.clock.Now})
	if err != nil {
		tb.Fatal(err)
	}
	front := api.New(e.eng, api.Options{Limits: o.limits, TrustedProxies: o.proxies,
		Ready: st.Ping, Logger: log})
	e.srv = httptest.NewServer(front)
	tb.Cleanup(e.srv.Close)
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("server log:\n%s", e.logs.String())
		}
	})
	return e
}

// response is an HTTP answer read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request with a raw body; bearer may be empty.
func (e *env) do(method, path, bearer, contentType string, body []byte) response {
	e.tb.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.tb.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return e.send(req)
}

func (e *env) send(req *http.Request) response {
	e.tb.Helper()
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.tb.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.tb.Fatalf("%s %s: read body: %v", req.Method, req.URL.Path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

// post sends args as JSON the way deployed clients do (Content-Type text/json).
func (e *env) post(path, bearer string, args any) response {
	e.tb.Helper()
	body, err := json.Marshal(args)
	if err != nil {
		e.tb.Fatal(err)
	}
	return e.do(http.MethodPost, path, bearer, "text/json", body)
}

// call posts args and decodes the 200 answer.
func (e *env) call(path, bearer string, args any) result {
	e.tb.Helper()
	return e.post(path, bearer, args).result(e.tb)
}

// clients fetches /network/clients.
func (e *env) clients(bearer string) []clientResult {
	e.tb.Helper()
	return e.do(http.MethodGet, "/network/clients", bearer, "", nil).result(e.tb).Clients
}

// result is every field of every result of the fifteen operations.
type result struct {
	UserName             string          `json:"user_name"`
	UserAuth             string          `json:"user_auth"`
	AuthAllowed          []string        `json:"auth_allowed"`
	Available            *bool           `json:"available"`
	AuthCode             string          `json:"auth_code"`
	DurationMinutes      float64         `json:"duration_minutes"`
	Uses                 int             `json:"uses"`
	ByJWT                string          `json:"by_jwt"`
	ByClientJWT          string          `json:"by_client_jwt"`
	Network              *networkResult  `json:"network"`
	VerificationRequired *userAuthResult `json:"verification_required"`
	Error                *errorResult    `json:"error"`
	Clients              []clientResult  `json:"clients"`
}

type networkResult struct {
	ByJWT       string `json:"by_jwt"`
	Name        string `json:"name"`
	NetworkID   string `json:"network_id"`
	NetworkName string `json:"network_name"`
}

type userAuthResult struct {
	UserAuth string `json:"user_auth"`
}

type errorResult struct {
	Message               string `json:"message"`
	SuggestedUserAuth     string `json:"suggested_user_auth"`
	ClientLimitExceeded   bool   `json:"client_limit_exceeded"`
	AuthCodeLimitExceeded bool   `json:"auth_code_limit_exceeded"`
}

type clientResult struct {
	ClientID    string            `json:"client_id"`
	DeviceID    string            `json:"device_id"`
	NetworkID   string            `json:"network_id"`
	Description string            `json:"description"`
	DeviceName  string            `json:"device_name"`
	DeviceSpec  string            `json:"device_spec"`
	CreateTime  string            `json:"create_time"`
	AuthTime    string            `json:"auth_time"`
	ProvideMode *int              `json:"provide_mode"`
	Connections []json.RawMessage `json:"connections"`
}

// result decodes a 200 JSON answer.
func (r response) result(tb testing.TB) result {
	tb.Helper()
	if r.status != http.StatusOK {
		tb.Fatalf("status %d, want 200; body %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		tb.Fatalf("Content-Type %q, want application/json", ct)
	}
	var res result
	if err := json.Unmarshal(r.body, &res); err != nil {
		tb.Fatalf("decode %s: %v", r.body, err)
	}
	return res
}

// wantStatus checks the status of a conventions answer and that its body is the JSON
// error shape.
func (r response) wantStatus(tb testing.TB, status int) {
	tb.Helper()
	if r.status != status {
		tb.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	var body struct {
		Error *errorResult `json:"error"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil || body.Error == nil ||
		body.Error.Message == "" {
		tb.Fatalf("status %d body %q is not {\"error\": {\"message\": ...}}", status, r.body)
	}
}

// wantError checks that an answer is the in-band error with msg and no success fields.
func (res result) wantError(tb testing.TB, msg string) {
	tb.Helper()
	if res.Error == nil {
		tb.Fatalf("no error, want %q; result %+v", msg, res)
	}
	if res.Error.Message != msg {
		tb.Fatalf("error %q, want %q", res.Error.Message, msg)
	}
	if res.ByJWT != "" || res.ByClientJWT != "" || res.AuthCode != "" ||
		(res.Network != nil && res.Network.ByJWT != "") {
		tb.Fatalf("error result carries a token: %+v", res)
	}
}

// wantOK checks that an answer carries no in-band error.
func (res result) wantOK(tb testing.TB) result {
	tb.Helper()
	if res.Error != nil {
		tb.Fatalf("error %+v", *res.Error)
	}
	return res
}

// Messages of the in-band errors, as the engine words them.
var (
	msgInvalidUserAuth = engine.ErrInvalidUserAuth.Msg
	msgInvalidLogin    = engine.ErrInvalidLogin.Msg
	msgInvalidCode     = engine.ErrInvalidCode.Msg
	msgPasswordShort   = engine.ErrPasswordShort.Msg
	msgUserAuthTaken   = engine.ErrUserAuthTaken.Msg
	msgNameTaken       = engine.ErrNameTaken.Msg
	msgNameTooShort    = engine.ErrNameTooShort.Msg
	msgNameInvalid     = engine.ErrNameInvalid.Msg
	msgTermsRequired   = engine.ErrTermsRequired.Msg
	msgInvalidClient   = engine.ErrInvalidClient.Msg
	msgClientJWT       = engine.ErrClientJWT.Msg
	msgClientLimit     = engine.ErrClientLimit.Msg
	msgAuthCodeLimit   = engine.ErrAuthCodeLimit.Msg
	msgInvalidSSO      = engine.ErrInvalidSSO.Msg
	msgSSOUnavailable  = engine.ErrSSOUnavailable.Msg
)

var (
	verifyCodeRe = regexp.MustCompile(`verification code is ([0-9]+)\.`)
	resetCodeRe  = regexp.MustCompile(`reset code is ([a-z0-9]+)\.`)
)

// messagesTo returns the bodies of the messages sent to a recipient, oldest first.
func (e *env) messagesTo(to string) []string {
	e.tb.Helper()
	msgs, err := e.outbox.Messages()
	if err != nil {
		e.tb.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		if m.To == to {
			out = append(out, m.Body)
		}
	}
	return out
}

// lastCode returns the code of the newest message to a recipient that re matches.
func (e *env) lastCode(to string, re *regexp.Regexp) string {
	e.tb.Helper()
	msgs := e.messagesTo(to)
	for i := len(msgs) - 1; i >= 0; i-- {
		if m := re.FindStringSubmatch(msgs[i]); m != nil {
			return m[1]
		}
	}
	e.tb.Fatalf("no message to %s matches %s; messages %q", to, re, msgs)
	return ""
}

// signUp creates a network with an email or phone number and a password, verifies it
// with the code from the outbox and returns the network JWT.
func (e *env) signUp(userAuth, password, networkName string) string {
	e.tb.Helper()
	res := e.call("/auth/network-create", "", map[string]any{"user_name": "Test User",
		"user_auth": userAuth, "password": password, "network_name": networkName,
		"terms": true}).wantOK(e.tb)
	if res.VerificationRequired == nil {
		e.tb.Fatalf("network-create: no verification_required: %+v", res)
	}
	ua := res.VerificationRequired.UserAuth
	code := e.lastCode(ua, verifyCodeRe)
	res = e.call("/auth/verify", "", map[string]string{"user_auth": ua, "verify_code": code})
	res.wantOK(e.tb)
	if res.Network == nil || res.Network.ByJWT == "" {
		e.tb.Fatalf("verify: no by_jwt: %+v", res)
	}
	return res.Network.ByJWT
}

// randomName returns a network name that is, in all likelihood, far from every other.
func randomName() string {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 14)
	rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return "n" + string(b)
}

// newClient authorizes a new client and returns its client JWT.
func (e *env) newClient(bearer, description string) string {
	e.tb.Helper()
	res := e.call("/network/auth-client", bearer, map[string]string{
		"description": description, "device_spec": "test device"}).wantOK(e.tb)
	if res.ByClientJWT == "" {
		e.tb.Fatalf("auth-client: no by_client_jwt: %+v", res)
	}
	return res.ByClientJWT
}

// jwtClaims decodes the claims of a JWT without verifying it, as a client app does.
func jwtClaims(tb testing.TB, jwt string) map[string]any {
	tb.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		tb.Fatalf("%q is not a JWT", jwt)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		tb.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		tb.Fatal(err)
	}
	return claims
}

// claim returns a string claim of a JWT.
func claim(tb testing.TB, jwt, name string) string {
	tb.Helper()
	s, _ := jwtClaims(tb, jwt)[name].(string)
	return s
}
