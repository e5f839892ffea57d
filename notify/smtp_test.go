package notify

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// delivery is what the fake server received in one DATA command.
type delivery struct {
	from   string
	to     []string
	data   []byte
	tls    bool
	authed string // the user that authenticated, if any
}

// fakeSMTP is a minimal SMTP server on a real loopback socket. It speaks EHLO, STARTTLS,
// AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP and QUIT, which is what net/smtp uses.
type fakeSMTP struct {
	fakeConfig
	ln net.Listener

	accepted  atomic.Int64
	acceptC   chan struct{} // receives once per accepted connection
	delivered chan delivery

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// fakeConfig is how a fakeSMTP behaves.
type fakeConfig struct {
	cert        *tls.Certificate // offer STARTTLS, or speak TLS at once if implicitTLS
	implicitTLS bool
	user, pass  string // require AUTH PLAIN with these when user is set
	rejectRcpt  bool
	silent      bool // accept connections but never answer
}

// startFakeSMTP starts srv on 127.0.0.1 and stops it, with all its connections, when the
// test ends.
func startFakeSMTP(t *testing.T, cfg fakeConfig) *fakeSMTP {
	t.Helper()
	srv := &fakeSMTP{fakeConfig: cfg}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.ln = ln
	srv.delivered = make(chan delivery, 64)
	srv.acceptC = make(chan struct{}, 64)
	srv.conns = make(map[net.Conn]struct{})
	srv.wg.Go(srv.acceptLoop)
	t.Cleanup(func() {
		ln.Close()
		srv.mu.Lock()
		for c := range srv.conns {
			c.Close()
		}
		srv.mu.Unlock()
		srv.wg.Wait()
	})
	return srv
}

func (srv *fakeSMTP) url(scheme, userinfo string) string {
	if userinfo != "" {
		userinfo += "@"
	}
	return scheme + "://" + userinfo + srv.ln.Addr().String()
}

func (srv *fakeSMTP) acceptLoop() {
	for {
		conn, err := srv.ln.Accept()
		if err != nil {
			return
		}
		srv.accepted.Add(1)
		select {
		case srv.acceptC <- struct{}{}:
		default:
		}
		srv.mu.Lock()
		srv.conns[conn] = struct{}{}
		srv.mu.Unlock()
		srv.wg.Go(func() {
			defer func() {
				srv.mu.Lock()
				delete(srv.conns, conn)
				srv.mu.Unlock()
				conn.Close()
			}()
			srv.serve(conn)
		})
	}
}

func (srv *fakeSMTP) tlsConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{*srv.cert}}
}

func (srv *fakeSMTP) serve(conn net.Conn) {
	if srv.silent {
		io.Copy(io.Discard, conn)
		return
	}
	isTLS := false
	if srv.implicitTLS {
		conn, isTLS = tls.Server(conn, srv.tlsConfig()), true
	}
	tc := textproto.NewConn(conn)
	tc.PrintfLine("220 fake.test ESMTP")
	var d delivery
	for {
		line, err := tc.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			ext := []string{"fake.test", "8BITMIME"}
			if srv.cert != nil && !isTLS {
				ext = append(ext, "STARTTLS")
			}
			if srv.user != "" {
				ext = append(ext, "AUTH PLAIN")
			}
			for i, e := range ext {
				sep := "-"
				if i == len(ext)-1 {
					sep = " "
				}
				tc.PrintfLine("250%s%s", sep, e)
			}
		case "STARTTLS":
			tc.PrintfLine("220 go ahead")
			conn, isTLS = tls.Server(conn, srv.tlsConfig()), true
			tc = textproto.NewConn(conn)
			d = delivery{}
		case "AUTH":
			d.authed = srv.checkPlain(arg)
			if d.authed == "" {
				tc.PrintfLine("535 authentication failed")
				continue
			}
			tc.PrintfLine("235 ok")
		case "MAIL":
			if srv.user != "" && d.authed == "" {
				tc.PrintfLine("530 authentication required")
				continue
			}
			// Parameters such as BODY=8BITMIME follow the address.
			addr, _, _ := strings.Cut(strings.TrimPrefix(arg, "FROM:"), " ")
			d.from, d.to = addr, nil
			tc.PrintfLine("250 ok")
		case "RCPT":
			if srv.rejectRcpt {
				tc.PrintfLine("550 no such user")
				continue
			}
			addr, _, _ := strings.Cut(strings.TrimPrefix(arg, "TO:"), " ")
			d.to = append(d.to, addr)
			tc.PrintfLine("250 ok")
		case "DATA":
			tc.PrintfLine("354 go ahead")
			data, err := tc.ReadDotBytes()
			if err != nil {
				return
			}
			d.data, d.tls = data, isTLS
			srv.delivered <- d
			tc.PrintfLine("250 queued")
		case "RSET", "NOOP":
			tc.PrintfLine("250 ok")
		case "QUIT":
			tc.PrintfLine("221 bye")
			return
		default:
			tc.PrintfLine("502 unknown command")
		}
	}
}

// checkPlain returns the user of a valid "PLAIN <base64>" AUTH argument, or "".
func (srv *fakeSMTP) checkPlain(arg string) string {
	mech, resp, _ := strings.Cut(arg, " ")
	raw, err := base64.StdEncoding.DecodeString(resp)
	if mech != "PLAIN" || err != nil {
		return ""
	}
	parts := strings.Split(string(raw), "\x00")
	if len(parts) != 3 || parts[1] != srv.user || parts[2] != srv.pass {
		return ""
	}
	return parts[1]
}

// testCert returns a self-signed certificate for 127.0.0.1 and a pool that trusts it.
func testCert(t *testing.T) (*tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func newTestSMTP(t *testing.T, rawURL string, roots *x509.CertPool) *SMTP {
	t.Helper()
	s, err := NewSMTP(rawURL, "BringYour Test <no-reply@bringyour.test>")
	if err != nil {
		t.Fatal(err)
	}
	s.TLSConfig = &tls.Config{RootCAs: roots}
	s.Timeout = 10 * time.Second
	return s
}

func receive(t *testing.T, srv *fakeSMTP) delivery {
	t.Helper()
	select {
	case d := <-srv.delivered:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("no message reached the server")
		return delivery{}
	}
}

// testMessage has a non-ASCII subject, a line that starts with a dot (which SMTP must
// escape), long lines and trailing spaces, so that encoding mistakes show.
func testMessage() Message {
	return Message{
		To:      "ada@example.test",
		Subject: "Your BringYour code: 482 913 — Überprüfung",
		Body: "Hello,\n\nyour code is 482913.\n.\n..leading dots\ntrailing space \n" +
			strings.Repeat("long line ", 30) + "\nÜmlaut and emoji 🙂\n",
	}
}

func TestSMTPDelivers(t *testing.T) {
	cert, roots := testCert(t)
	cases := []struct {
		name     string
		srv      fakeConfig
		scheme   string
		userinfo string
		wantTLS  bool
	}{
		{"in plain text without auth", fakeConfig{}, "smtp", "", false},
		{"with PLAIN auth to localhost", fakeConfig{user: "mailer", pass: "p@ss:word"},
			"smtp", "mailer:p%40ss%3Aword", false},
		{"over STARTTLS with auth", fakeConfig{cert: cert, user: "mailer", pass: "secret"},
			"smtp", "mailer:secret", true},
		{"over implicit TLS", fakeConfig{cert: cert, implicitTLS: true, user: "m", pass: "s"},
			"smtps", "m:s", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := startFakeSMTP(t, tc.srv)
			s := newTestSMTP(t, srv.url(tc.scheme, tc.userinfo), roots)
			m := testMessage()
			if err := s.Send(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			d := receive(t, srv)
			if d.tls != tc.wantTLS {
				t.Errorf("delivered over TLS = %v, want %v", d.tls, tc.wantTLS)
			}
			if d.authed != tc.srv.user {
				t.Errorf("authenticated as %q, want %q", d.authed, tc.srv.user)
			}
			if d.from != "<no-reply@bringyour.test>" || len(d.to) != 1 ||
				d.to[0] != "<ada@example.test>" {
				t.Errorf("envelope from %s to %v", d.from, d.to)
			}
			checkDelivered(t, d.data, m)
		})
	}
}

// checkDelivered parses a delivered message as a mail client would and compares it with m.
func checkDelivered(t *testing.T, data []byte, m Message) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("delivered message does not parse: %v", err)
	}
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	if subject != m.Subject {
		t.Errorf("Subject = %q, want %q", subject, m.Subject)
	}
	if got := msg.Header.Get("To"); got != m.To {
		t.Errorf("To = %q, want %q", got, m.To)
	}
	from, err := msg.Header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Address != "no-reply@bringyour.test" ||
		from[0].Name != "BringYour Test" {
		t.Errorf("From = %v (%v)", from, err)
	}
	if _, err := msg.Header.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	if msg.Header.Get("Message-Id") == "" {
		t.Error("no Message-ID")
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.ReplaceAll(string(body), "\r\n", "\n"); got != m.Body {
		t.Errorf("body = %q, want %q", got, m.Body)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if len(line) > 78 {
			t.Errorf("line of %d characters: %q", len(line), line)
		}
	}
}

func TestSMTPFailures(t *testing.T) {
	cert, roots := testCert(t)
	_, otherRoots := testCert(t)
	cases := []struct {
		name       string
		srv        fakeConfig
		userinfo   string
		roots      *x509.CertPool
		requireTLS bool
	}{
		{"a wrong password", fakeConfig{user: "mailer", pass: "secret"}, "mailer:guess", roots,
			false},
		{"a server that wants auth", fakeConfig{user: "mailer", pass: "secret"}, "", roots, false},
		{"a rejected recipient", fakeConfig{rejectRcpt: true}, "", roots, false},
		{"an untrusted STARTTLS certificate", fakeConfig{cert: cert}, "", otherRoots, false},
		{"no STARTTLS when TLS is required", fakeConfig{}, "", roots, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := startFakeSMTP(t, tc.srv)
			s := newTestSMTP(t, srv.url("smtp", tc.userinfo), tc.roots)
			s.RequireTLS = tc.requireTLS
			err := s.Send(context.Background(), testMessage())
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if strings.Contains(err.Error(), "482913") {
				t.Errorf("error quotes the message body: %v", err)
			}
			if len(srv.delivered) != 0 {
				t.Error("the server received the message anyway")
			}
		})
	}
}

func TestSMTPStopsAtDeadline(t *testing.T) {
	srv := startFakeSMTP(t, fakeConfig{silent: true})

	t.Run("of the context", func(t *testing.T) {
		s := newTestSMTP(t, srv.url("smtp", ""), nil)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if err := s.Send(ctx, testMessage()); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want context.DeadlineExceeded", err)
		}
	})
	t.Run("of Timeout", func(t *testing.T) {
		s := newTestSMTP(t, srv.url("smtp", ""), nil)
		s.Timeout = 200 * time.Millisecond
		err := s.Send(context.Background(), testMessage())
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want context.DeadlineExceeded", err)
		}
	})
	t.Run("when cancelled", func(t *testing.T) {
		srv := startFakeSMTP(t, fakeConfig{silent: true})
		s := newTestSMTP(t, srv.url("smtp", ""), nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Send(ctx, testMessage()) }()
		// Cancel only once the session is connected and waiting for the greeting.
		select {
		case <-srv.acceptC:
		case <-time.After(10 * time.Second):
			t.Fatal("Send did not connect")
		}
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Send did not return after cancel")
		}
	})
}

func TestHeaderInjectionIsRejected(t *testing.T) {
	srv := startFakeSMTP(t, fakeConfig{})
	s := newTestSMTP(t, srv.url("smtp", ""), nil)
	outbox, err := NewOutbox(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cases := []Message{
		{To: "ada@example.test\r\nBcc: eve@evil.test", Subject: "hi", Body: "x"},
		{To: "ada@example.test\nBcc: eve@evil.test", Subject: "hi", Body: "x"},
		{To: "ada@example.test", Subject: "hi\r\nBcc: eve@evil.test", Body: "x"},
		{To: "ada@example.test", Subject: "hi\nContent-Type: text/html", Body: "x"},
		{To: "ada@example.test", Subject: "hi\rthere", Body: "x"},
		{To: "Ada <ada@example.test>", Subject: "hi", Body: "x"},
		{To: "ada@example.test, eve@evil.test", Subject: "hi", Body: "x"},
	}
	for _, sender := range []Sender{s, outbox} {
		for _, m := range cases {
			err := sender.Send(context.Background(), m)
			if !errors.Is(err, ErrInvalidMessage) {
				t.Errorf("%T.Send(%q, %q) = %v, want ErrInvalidMessage",
					sender, m.To, m.Subject, err)
			}
		}
	}
	if n := srv.accepted.Load(); n != 0 {
		t.Errorf("the SMTP server saw %d connections for invalid messages", n)
	}
	if msgs, err := outbox.Messages(); err != nil || len(msgs) != 0 {
		t.Errorf("outbox holds %d messages (%v)", len(msgs), err)
	}
}

func TestNewSMTP(t *testing.T) {
	cases := []struct {
		url      string
		wantAddr string
		wantTLS  bool
		wantUser string
	}{
		{"smtp://mail.example.test", "mail.example.test:587", false, ""},
		{"smtp://u:p@mail.example.test:25", "mail.example.test:25", false, "u"},
		{"smtps://mail.example.test", "mail.example.test:465", true, ""},
		{"smtps://[::1]:2465", "[::1]:2465", true, ""},
	}
	for _, tc := range cases {
		s, err := NewSMTP(tc.url, "no-reply@example.test")
		if err != nil {
			t.Errorf("NewSMTP(%q): %v", tc.url, err)
			continue
		}
		if s.addr != tc.wantAddr || s.implicitTLS != tc.wantTLS || s.user != tc.wantUser {
			t.Errorf("NewSMTP(%q) = addr %s, TLS %v, user %q",
				tc.url, s.addr, s.implicitTLS, s.user)
		}
	}

	bad := []struct{ url, from string }{
		{"http://mail.example.test", "no-reply@example.test"},
		{"smtp://", "no-reply@example.test"},
		{"smtp://mail.example.test/inbox", "no-reply@example.test"},
		{"smtp://user:hunter2@mail.example.test:bad", "no-reply@example.test"},
		{"smtp://mail.example.test", ""},
		{"smtp://mail.example.test", "not an address"},
	}
	for _, tc := range bad {
		_, err := NewSMTP(tc.url, tc.from)
		if err == nil {
			t.Errorf("NewSMTP(%q, %q) succeeded", tc.url, tc.from)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error reveals the password: %v", err)
		}
	}
}

func TestFromConfigRoutesByRecipient(t *testing.T) {
	srv := startFakeSMTP(t, fakeConfig{})
	dir := t.TempDir()
	sender, err := NewFromConfig(srv.url("smtp", ""), "no-reply@bringyour.test", dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	email := Message{To: "ada@example.test", Subject: "code", Body: "123456"}
	phone := Message{To: "+14155550123", Subject: "code", Body: "654321"}
	if err := sender.Send(ctx, email); err != nil {
		t.Fatal(err)
	}
	if err := sender.Send(ctx, phone); err != nil {
		t.Fatal(err)
	}
	d := receive(t, srv)
	if len(d.to) != 1 || d.to[0] != "<ada@example.test>" {
		t.Errorf("email went to %v", d.to)
	}
	outbox, err := NewOutbox(dir)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := outbox.Messages()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0] != phone {
		t.Errorf("outbox holds %+v, want only the phone message", msgs)
	}

	// Without a mail server everything goes to the outbox.
	dir = t.TempDir()
	sender, err = NewFromConfig("", "", dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []Message{email, phone} {
		if err := sender.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	outbox, err = NewOutbox(dir)
	if err != nil {
		t.Fatal(err)
	}
	if msgs, err := outbox.Messages(); err != nil || len(msgs) != 2 || msgs[0] != email {
		t.Errorf("outbox holds %+v (%v), want both messages", msgs, err)
	}

	if _, err := NewFromConfig(srv.url("smtp", ""), "no-reply@bringyour.test", ""); err == nil {
		t.Error("NewFromConfig accepted an empty outbox directory")
	}
}

func TestSMTPRefusesPhoneNumbers(t *testing.T) {
	srv := startFakeSMTP(t, fakeConfig{})
	s := newTestSMTP(t, srv.url("smtp", ""), nil)
	err := s.Send(context.Background(), Message{To: "+14155550123", Subject: "x", Body: "y"})
	if !errors.Is(err, ErrInvalidMessage) {
		t.Fatalf("err = %v, want ErrInvalidMessage", err)
	}
}

// FuzzSMTPFormat checks that any message Validate accepts becomes a mail that parses back
// to the same recipient, subject and body, and that has no header the message did not ask
// for.
func FuzzSMTPFormat(f *testing.F) {
	s, err := NewSMTP("smtp://127.0.0.1", "BringYour <no-reply@bringyour.test>")
	if err != nil {
		f.Fatal(err)
	}
	m := testMessage()
	f.Add(m.To, m.Subject, m.Body)
	f.Add("a@b.test", "=?utf-8?q?x?=", "=\r\n.\r\n")
	f.Add("a@b.test", "", "\r\r\n\n")
	f.Fuzz(func(t *testing.T, to, subject, body string) {
		m := Message{To: to, Subject: subject, Body: body}
		if m.Validate() != nil || IsPhone(to) {
			return
		}
		data, err := s.format(m, time.Unix(0, 0))
		if err != nil {
			t.Fatal(err)
		}
		msg, err := mail.ReadMessage(bufio.NewReader(bytes.NewReader(data)))
		if err != nil {
			t.Fatalf("message does not parse: %v\n%s", err, data)
		}
		for line := range strings.SplitSeq(string(data), "\n") {
			if len(line) > 998 {
				t.Fatalf("line of %d bytes", len(line))
			}
		}
		if len(msg.Header) != 8 {
			t.Fatalf("message has %d headers, want 8:\n%s", len(msg.Header), data)
		}
		if got := msg.Header.Get("To"); got != to {
			t.Fatalf("To = %q, want %q", got, to)
		}
		var dec mime.WordDecoder
		if got, err := dec.DecodeHeader(msg.Header.Get("Subject")); err != nil || got != subject {
			t.Fatalf("Subject = %q (%v), want %q", got, err, subject)
		}
		got, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
		if err != nil {
			t.Fatal(err)
		}
		want := strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\r", "\n")
		if g := strings.ReplaceAll(string(got), "\r\n", "\n"); g != want {
			t.Fatalf("body = %q, want %q", g, want)
		}
	})
}
