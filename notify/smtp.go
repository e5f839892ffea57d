package notify

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// DefaultSMTPTimeout bounds one SMTP delivery, from dialing to QUIT, when SMTP.Timeout is
// zero.
const DefaultSMTPTimeout = 30 * time.Second

// SMTP is a Sender that delivers email through a mail server, one connection per message.
// It upgrades with STARTTLS whenever the server offers it and fails rather than continue in
// plain text if that upgrade fails. It authenticates with PLAIN when the URL names a user;
// net/smtp allows that only over TLS or to a server on localhost, so a password never
// crosses the network in the clear. SMTP is safe for concurrent use once its fields are set.
type SMTP struct {
	// TLSConfig configures TLS, both implicit (smtps) and STARTTLS. Nil means the system
	// roots; an empty ServerName is set to the host of the URL.
	TLSConfig *tls.Config
	// Timeout bounds one delivery. Zero means DefaultSMTPTimeout.
	Timeout time.Duration
	// LocalName is the name sent with EHLO. Empty means "localhost".
	LocalName string
	// RequireTLS makes Send fail, before any message is sent, when a smtp:// server does
	// not offer STARTTLS. Without it such a server gets the message in plain text, which
	// an attacker on the path can force by hiding the offer.
	RequireTLS bool

	addr        string // host:port
	host        string
	implicitTLS bool
	user, pass  string
	hasUser     bool
	from        *mail.Address
}

// NewSMTP returns an SMTP sender for a server given as smtp://[user:password@]host[:port]
// (STARTTLS when offered, port 587 by default) or smtps://... (TLS from the first byte,
// port 465 by default). from is the sender address, with or without a display name, as in
// "BringYour <no-reply@example.com>".
func NewSMTP(rawURL, from string) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// The url.Error would quote the whole URL, password included.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("smtp URL: %w", err)
	}
	s := &SMTP{host: u.Hostname()}
	port := u.Port()
	switch u.Scheme {
	case "smtp":
		port = cmp.Or(port, "587")
	case "smtps":
		port = cmp.Or(port, "465")
		s.implicitTLS = true
	default:
		return nil, fmt.Errorf("smtp URL: scheme %q is not smtp or smtps", u.Scheme)
	}
	if s.host == "" {
		return nil, errors.New("smtp URL: no host")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Opaque != "" {
		return nil, errors.New("smtp URL: unexpected path or query")
	}
	s.addr = net.JoinHostPort(s.host, port)
	if u.User != nil {
		s.user, s.hasUser = u.User.Username(), true
		s.pass, _ = u.User.Password()
	}
	if s.from, err = mail.ParseAddress(from); err != nil {
		return nil, fmt.Errorf("smtp from address: %w", err)
	}
	return s, nil
}

// Send delivers m to the mail server. It blocks until the server has accepted the message,
// ctx ends, or Timeout passes. m.To must be an email address.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	if err := m.Validate(); err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	if IsPhone(m.To) {
		return fmt.Errorf("smtp: %w: recipient is a phone number", ErrInvalidMessage)
	}
	msg, err := s.format(m, time.Now())
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}

	timeout := s.Timeout
	if timeout == 0 {
		timeout = DefaultSMTPTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := s.deliver(ctx, m.To, msg); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("smtp %s: %w: %w", s.addr, ctxErr, err)
		}
		return fmt.Errorf("smtp %s: %w", s.addr, err)
	}
	return nil
}

// deliver runs one SMTP session. When ctx ends, the connection's deadline is moved to the
// past, which unblocks whatever read or write the session is in.
func (s *SMTP) deliver(ctx context.Context, to string, msg []byte) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return err
	}
	// The deadline is set only once ctx is done, so a timeout always shows as ctx.Err.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	tlsConfig := s.tlsConfig()
	if s.implicitTLS {
		tc := tls.Client(conn, tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return fmt.Errorf("TLS: %w", err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()

	if err := c.Hello(cmp.Or(s.LocalName, "localhost")); err != nil {
		return err
	}
	if !s.implicitTLS {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(tlsConfig); err != nil {
				return fmt.Errorf("STARTTLS: %w", err)
			}
		} else if s.RequireTLS {
			return errors.New("server does not offer STARTTLS and TLS is required")
		}
	}
	if s.hasUser {
		if err := c.Auth(smtp.PlainAuth("", s.user, s.pass, s.host)); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func (s *SMTP) tlsConfig() *tls.Config {
	var cfg *tls.Config
	if s.TLSConfig != nil {
		cfg = s.TLSConfig.Clone()
	} else {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = s.host
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	return cfg
}

// format builds the RFC 5322 message: UTF-8 text in quoted-printable, so that it passes
// servers without 8BITMIME and keeps every line short whatever the body holds. Line ends
// are LF here; the DATA writer of net/smtp turns them into CRLF and escapes leading dots.
func (s *SMTP) format(m Message, now time.Time) ([]byte, error) {
	var b bytes.Buffer
	domain := s.from.Address[strings.LastIndexByte(s.from.Address, '@')+1:]
	fmt.Fprintf(&b, "From: %s\n", s.from.String())
	fmt.Fprintf(&b, "To: %s\n", m.To)
	fmt.Fprintf(&b, "Subject: %s\n", encodeSubject(m.Subject))
	fmt.Fprintf(&b, "Date: %s\n", now.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\n", uuid.NewString(), domain)
	b.WriteString("MIME-Version: 1.0\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\n")
	b.WriteString("Content-Transfer-Encoding: quoted-printable\n\n")
	// Line ends become plain LF first: the quoted-printable writer mishandles a lone CR
	// that is followed, later on, by an LF.
	body := strings.ReplaceAll(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\r", "\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(body)); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// encodeSubject returns s as a Subject header value. Printable ASCII goes as it is; anything
// else, text with spaces at either end (which readers trim) and text that looks like an
// encoded word itself become RFC 2047 Q-encoded words folded onto lines of at most 76
// characters. mime.QEncoding would pass "=?...?=" through
// unencoded, letting a subject decode as something other than what was sent.
func encodeSubject(s string) string {
	if !strings.Contains(s, "=?") && !strings.ContainsFunc(s, notPrintableASCII) &&
		strings.Trim(s, " ") == s {
		return s
	}
	const (
		prefix, suffix = "=?utf-8?q?", "?="
		lineMax        = 76
	)
	var b strings.Builder
	line := len("Subject: ") + len(prefix)
	b.WriteString(prefix)
	var buf [3 * utf8.UTFMax]byte
	for _, r := range s {
		enc := qEncode(buf[:0], r)
		if line+len(enc)+len(suffix) > lineMax {
			// Words never split a character, so each decodes on its own.
			b.WriteString(suffix + "\n " + prefix)
			line = 1 + len(prefix)
		}
		b.Write(enc)
		line += len(enc)
	}
	b.WriteString(suffix)
	return b.String()
}

// qEncode appends the Q encoding of r to dst: letters, digits and a few marks as they are,
// space as "_", every other byte as "=XX".
func qEncode(dst []byte, r rune) []byte {
	const hex = "0123456789ABCDEF"
	if r == ' ' {
		return append(dst, '_')
	}
	if r < utf8.RuneSelf && (isAlnum(byte(r)) || strings.ContainsRune("!*+-/", r)) {
		return append(dst, byte(r))
	}
	var enc [utf8.UTFMax]byte
	for _, c := range enc[:utf8.EncodeRune(enc[:], r)] {
		dst = append(dst, '=', hex[c>>4], hex[c&0xf])
	}
	return dst
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func notPrintableASCII(r rune) bool { return r < ' ' || r > '~' }
