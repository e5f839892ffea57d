package notify

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// frozen returns a clock stuck at one instant, the worst case for ordering by time.
func frozen(t time.Time) func() time.Time { return func() time.Time { return t } }

func TestOutboxNamesSortInSendOrder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	o, err := NewOutbox(dir)
	if err != nil {
		t.Fatal(err)
	}
	o.now = frozen(time.Now())
	const n = 300
	ctx := context.Background()
	for i := range n {
		m := Message{To: "ada@example.test", Subject: fmt.Sprintf("message %d", i), Body: "x"}
		if err := o.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != n {
		t.Fatalf("outbox holds %d entries, want %d (temporary files left behind?)", len(entries), n)
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	slices.Sort(names)
	for i, name := range names {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("Subject: message %d\n", i); !strings.Contains(string(data), want) {
			t.Fatalf("file %d in name order (%s) is not message %d:\n%s", i, name, i, data)
		}
	}
}

func TestOutboxFileContent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "outbox")
	o, err := NewOutbox(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := Message{
		To:      "+14155550123",
		Subject: "Your code — 482913",
		Body:    "Your BringYour code is 482913.\n\nIt expires in 15 minutes.\n",
	}
	if err := o.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}

	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Fatalf("outbox holds %d entries (%v), want 1", len(entries), err)
	}
	path := filepath.Join(dir, entries[0].Name())
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "To: +14155550123\nSubject: Your code — 482913\n\n" + m.Body
	if string(data) != want {
		t.Errorf("file holds %q, want %q", data, want)
	}
	parsed, err := mail.ReadMessage(strings.NewReader(string(data)))
	if err != nil {
		t.Fatalf("file is not RFC 822-like: %v", err)
	}
	if parsed.Header.Get("To") != m.To {
		t.Errorf("To header = %q", parsed.Header.Get("To"))
	}

	for p, want := range map[string]os.FileMode{path: 0o600, dir: 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s has mode %v, want %v", p, got, want)
		}
	}

	msgs, err := o.Messages()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0] != m {
		t.Errorf("Messages() = %+v, want [%+v]", msgs, m)
	}
}

func TestOutboxOrderSurvivesRestartWithClockBehind(t *testing.T) {
	dir := t.TempDir()
	start := time.Now()
	ctx := context.Background()
	var sent []string
	// Each restart's clock is an hour behind the previous one's.
	for run := range 3 {
		o, err := NewOutbox(dir)
		if err != nil {
			t.Fatal(err)
		}
		o.now = frozen(start.Add(-time.Duration(run) * time.Hour))
		for i := range 3 {
			subject := fmt.Sprintf("run %d message %d", run, i)
			if err := o.Send(ctx, Message{To: "a@b.test", Subject: subject}); err != nil {
				t.Fatal(err)
			}
			sent = append(sent, subject)
		}
	}
	// Files that are not messages neither count nor disturb the order.
	for _, name := range []string{"99999999999999999999.txt.bak", "+9999999999999999999.txt"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	o, err := NewOutbox(dir)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := o.Messages()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range msgs {
		got = append(got, m.Subject)
	}
	if !slices.Equal(got, sent) {
		t.Fatalf("messages in name order: %q\nwant %q", got, sent)
	}
}

func TestOutboxConcurrentSends(t *testing.T) {
	o, err := NewOutbox(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 20
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				m := Message{To: "a@b.test", Subject: fmt.Sprintf("%d %d", w, i)}
				if err := o.Send(context.Background(), m); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()

	msgs, err := o.Messages()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != workers*each {
		t.Fatalf("outbox holds %d messages, want %d", len(msgs), workers*each)
	}
	// Each worker's own messages keep their order among everyone else's.
	next := make([]int, workers)
	for _, m := range msgs {
		var w, i int
		if _, err := fmt.Sscanf(m.Subject, "%d %d", &w, &i); err != nil {
			t.Fatal(err)
		}
		if i != next[w] {
			t.Fatalf("worker %d: message %d comes where %d should", w, i, next[w])
		}
		next[w]++
	}
}

func TestOutboxHonoursContext(t *testing.T) {
	o, err := NewOutbox(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := o.Send(ctx, Message{To: "a@b.test"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if msgs, _ := o.Messages(); len(msgs) != 0 {
		t.Fatal("a cancelled send wrote a message")
	}
}

func TestNewOutboxFailsOnAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewOutbox(path); err == nil {
		t.Fatal("NewOutbox accepted a regular file as its directory")
	}
}

func FuzzParseOutboxFile(f *testing.F) {
	f.Add("To: a@b.test\nSubject: hi\n\nbody")
	f.Add("To: +14155550123\nSubject: \n\n")
	f.Add("\n\n")
	f.Fuzz(func(t *testing.T, data string) {
		m, err := parseOutboxFile(data)
		if err != nil {
			return
		}
		if m.Validate() == nil {
			again := "To: " + m.To + "\nSubject: " + m.Subject + "\n\n" + m.Body
			if again != data {
				t.Fatalf("file %q reads as %+v, which writes as %q", data, m, again)
			}
		}
	})
}
