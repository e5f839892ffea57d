package notify

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	ok := []Message{
		{To: "ada@example.test", Subject: "Your code", Body: "123456"},
		{To: "ada+vpn@sub.example.test", Subject: "", Body: ""},
		{To: "+14155550123", Subject: "Code", Body: "line\r\nline\n\ttab"},
		{To: "+491701234567", Subject: strings.Repeat("é", MaxSubjectSize/2),
			Body: strings.Repeat("x", MaxBodySize)},
	}
	for _, m := range ok {
		if err := m.Validate(); err != nil {
			t.Errorf("Validate(%q, %q): %v", m.To, m.Subject, err)
		}
	}

	bad := map[string]Message{
		"an empty recipient":       {To: ""},
		"a display name":           {To: "Ada <ada@example.test>"},
		"an angle address":         {To: "<ada@example.test>"},
		"two recipients":           {To: "a@example.test,b@example.test"},
		"no domain":                {To: "ada"},
		"a phone with letters":     {To: "+1415555CALL"},
		"a short phone":            {To: "+123456"},
		"a long phone":             {To: "+1234567890123456"},
		"a phone with a zero":      {To: "+04155550123"},
		"a phone with spaces":      {To: "+1 415 555 0123"},
		"a NUL in the recipient":   {To: "ada@example.test\x00"},
		"a long recipient":         {To: strings.Repeat("a", 250) + "@example.test"},
		"a line feed in subject":   {To: "a@b.test", Subject: "a\nb"},
		"a carriage return":        {To: "a@b.test", Subject: "a\rb"},
		"a tab in subject":         {To: "a@b.test", Subject: "a\tb"},
		"a DEL in subject":         {To: "a@b.test", Subject: "a\x7fb"},
		"invalid UTF-8 in subject": {To: "a@b.test", Subject: "\xff"},
		"a long subject": {
			To: "a@b.test", Subject: strings.Repeat("x", MaxSubjectSize+1),
		},
		"a long body":               {To: "a@b.test", Body: strings.Repeat("x", MaxBodySize+1)},
		"invalid UTF-8 in the body": {To: "a@b.test", Body: "\xc3"},
	}
	for name, m := range bad {
		if err := m.Validate(); !errors.Is(err, ErrInvalidMessage) {
			t.Errorf("Validate with %s = %v, want ErrInvalidMessage", name, err)
		}
	}
}

func TestRouterWithoutSender(t *testing.T) {
	o, err := NewOutbox(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := &Router{Email: o}
	ctx := context.Background()
	if err := r.Send(ctx, Message{To: "a@b.test"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Send(ctx, Message{To: "+14155550123"}); err == nil {
		t.Fatal("Router without a phone sender accepted a phone number")
	}
	if msgs, err := o.Messages(); err != nil || len(msgs) != 1 || msgs[0].To != "a@b.test" {
		t.Fatalf("outbox holds %+v (%v)", msgs, err)
	}
}
