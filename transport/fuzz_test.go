package transport

import (
	"bytes"
	"context"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/byplatform/byplatform/control"
	"github.com/byplatform/byplatform/engine"
)

// discardLink is a link that accepts every batch, for feeding a read loop directly.
type discardLink struct{}

func (discardLink) writeBatch([]outMsg, time.Time) error { return nil }
func (discardLink) close()                               {}

// fuzzServer returns a Server that knows one token, "good", and an authenticated
// connection of that client that writes nowhere.
func fuzzServer(f *testing.F) (*Server, *conn) {
	auth := engine.ClientAuth{ClientID: uuid.New()}
	s, err := New(Options{
		Auth:           &testAuth{tokens: map[string]engine.ClientAuth{"good": auth}},
		MaxMessageSize: 4096,
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	c := s.newConn(auth, newConnection(transportQUIC, uuid.New(), netip.AddrPort{}), discardLink{},
		credentials{})
	s.presences.add(c)
	return s, c
}

func FuzzReadFramed(f *testing.F) {
	s, c := fuzzServer(f)
	self := c.auth.ClientID
	frame := transferFrame(f, self, self, []byte("to myself"))
	framed, _ := control.AppendQUICMessage(nil, frame)
	f.Add(framed)
	f.Add(append(append([]byte{0, 0, 0, 0}, framed...), 0, 5, 0, 0, 1, 2, 3))
	f.Add([]byte{0x10, 0x01, 0, 0})
	f.Add([]byte{0, 3, 0xff, 0xff, 0x0a, 0x01})
	f.Add(framed[:len(framed)-1])

	f.Fuzz(func(t *testing.T, stream []byte) {
		err := s.readFramed(c, bytes.NewReader(stream), func(time.Time) error { return nil })
		if err == nil {
			t.Fatal("read loop ended without an error")
		}
	})
}

func FuzzAuthenticate(f *testing.F) {
	s, _ := fuzzServer(f)
	good, err := control.MarshalAuthFrame(control.Auth{JWT: "good", InstanceID: uuid.New()})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(authFrame(f, "good", make([]byte, 15)))
	f.Add(authFrame(f, "bad", make([]byte, 16)))
	f.Add([]byte{0x08, 0x04, 0x12, 0x00})
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, frame []byte) {
		creds, auth, err := s.authenticate(context.Background(), frame)
		parsed, parseErr := control.ParseAuthFrame(frame)
		switch {
		case err == nil && (parseErr != nil || parsed.JWT != "good"):
			t.Fatal("accepted a frame without the good token")
		case err == nil && (creds.instanceID != parsed.InstanceID || auth.ClientID == uuid.Nil):
			t.Fatal("credentials do not match the frame")
		case err != nil && parseErr == nil && parsed.JWT == "good":
			t.Fatalf("refused a good frame: %v", err)
		}
	})
}

func FuzzHeaderCredentials(f *testing.F) {
	f.Add("Bearer abc", uuid.NewString())
	f.Add("bearer  abc ", "{"+uuid.NewString()+"}")
	f.Add("Basic abc", uuid.NewString())
	f.Add("", "")
	f.Add("Bearer", "00112233")

	f.Fuzz(func(t *testing.T, authorization, instance string) {
		r := &http.Request{Header: http.Header{}}
		r.Header.Set("Authorization", authorization)
		r.Header.Set(headerInstanceID, instance)
		creds, ok, err := headerCredentials(r)
		if r.Header.Get("Authorization") == "" {
			if ok || err != nil {
				t.Fatal("no Authorization header must mean in-band auth")
			}
			return
		}
		if !ok {
			t.Fatal("an Authorization header must mean header auth")
		}
		if err != nil {
			return
		}
		if creds.jwt == "" || creds.jwt != strings.TrimSpace(creds.jwt) {
			t.Fatalf("token %q from %q", creds.jwt, authorization)
		}
		if id, perr := uuid.Parse(r.Header.Get(headerInstanceID)); perr != nil ||
			id != creds.instanceID {
			t.Fatalf("instance %v from %q", creds.instanceID, instance)
		}
	})
}
