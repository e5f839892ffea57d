// Package notify delivers verification and password-reset messages to users, by email over
// SMTP or, when no mail server is configured and for every phone number, into an outbox
// directory that an operator or a test reads.
//
// Message bodies carry one-time codes, so nothing in this package logs them and errors
// never quote them.
package notify

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"unicode/utf8"
)

// Limits on a Message, checked by Validate.
const (
	// MaxSubjectSize is the longest Subject, in bytes.
	MaxSubjectSize = 250
	// MaxBodySize is the longest Body, in bytes.
	MaxBodySize = 64 << 10
	// maxAddressSize is the longest To, in bytes: the longest email address that fits
	// the SMTP path limit.
	maxAddressSize = 254
)

// ErrInvalidMessage reports a Message that Validate refuses: a malformed recipient, a
// header with a line break, or an oversized part. Senders return it without sending.
var ErrInvalidMessage = errors.New("invalid message")

// Message is one message to one recipient.
type Message struct {
	// To is an email address (bare, without a display name) or a phone number in E.164
	// form ("+" and 7 to 15 digits).
	To string
	// Subject is a single line of UTF-8 text.
	Subject string
	// Body is UTF-8 text; line breaks may be LF or CRLF.
	Body string
}

// Sender delivers messages. Implementations are safe for concurrent use.
type Sender interface {
	// Send delivers m or returns why it could not. It returns an error wrapping
	// ErrInvalidMessage, without contacting anything, when m fails Validate.
	Send(ctx context.Context, m Message) error
}

// IsPhone reports whether the recipient to is a phone number rather than an email address.
func IsPhone(to string) bool { return strings.HasPrefix(to, "+") }

// Validate checks that m can be sent safely: To is a bare email address or an E.164 phone
// number, Subject is one line, and the sizes are within MaxSubjectSize and MaxBodySize.
func (m Message) Validate() error {
	if err := validateTo(m.To); err != nil {
		return err
	}
	if len(m.Subject) > MaxSubjectSize {
		return fmt.Errorf("%w: subject longer than %d bytes", ErrInvalidMessage, MaxSubjectSize)
	}
	if !utf8.ValidString(m.Subject) || strings.ContainsFunc(m.Subject, isControl) {
		// A line break here would let the text after it become a header of its own.
		return fmt.Errorf("%w: subject holds a control character or invalid UTF-8",
			ErrInvalidMessage)
	}
	if len(m.Body) > MaxBodySize {
		return fmt.Errorf("%w: body longer than %d bytes", ErrInvalidMessage, MaxBodySize)
	}
	if !utf8.ValidString(m.Body) {
		return fmt.Errorf("%w: body is not UTF-8", ErrInvalidMessage)
	}
	return nil
}

func validateTo(to string) error {
	if len(to) > maxAddressSize {
		return fmt.Errorf("%w: recipient longer than %d bytes", ErrInvalidMessage, maxAddressSize)
	}
	if strings.ContainsFunc(to, isControl) {
		return fmt.Errorf("%w: recipient holds a control character", ErrInvalidMessage)
	}
	if IsPhone(to) {
		if !isE164(to) {
			return fmt.Errorf("%w: recipient is not an E.164 phone number", ErrInvalidMessage)
		}
		return nil
	}
	a, err := mail.ParseAddress(to)
	if err != nil || a.Name != "" || a.Address != to {
		return fmt.Errorf("%w: recipient is not a bare email address", ErrInvalidMessage)
	}
	return nil
}

// isE164 reports whether s is "+" followed by 7 to 15 digits, the first not zero.
func isE164(s string) bool {
	digits := s[1:]
	if len(digits) < 7 || len(digits) > 15 || digits[0] == '0' {
		return false
	}
	for _, r := range digits {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// Router sends messages for phone numbers through Phone and all others through Email, so
// that email can go out over SMTP while phone numbers, for which there is no SMS gateway,
// go to an outbox.
type Router struct {
	// Email delivers messages to email addresses.
	Email Sender
	// Phone delivers messages to phone numbers, those whose To starts with "+".
	Phone Sender
}

// Send delivers m through the Sender for its kind of recipient.
func (r *Router) Send(ctx context.Context, m Message) error {
	s, kind := r.Email, "email"
	if IsPhone(m.To) {
		s, kind = r.Phone, "phone"
	}
	if s == nil {
		return fmt.Errorf("notify: no sender for %s recipients", kind)
	}
	return s.Send(ctx, m)
}

// NewFromConfig returns the Sender the server's configuration asks for. Phone numbers
// always go to the outbox in outboxDir, which is therefore required. Email goes over SMTP
// when smtpURL is set (see NewSMTP for its form and for from), and to the outbox otherwise.
func NewFromConfig(smtpURL, from, outboxDir string) (Sender, error) {
	if outboxDir == "" {
		return nil, errors.New("notify: an outbox directory is required")
	}
	outbox, err := NewOutbox(outboxDir)
	if err != nil {
		return nil, err
	}
	if smtpURL == "" {
		return outbox, nil
	}
	s, err := NewSMTP(smtpURL, from)
	if err != nil {
		return nil, err
	}
	return &Router{Email: s, Phone: outbox}, nil
}
