package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// outboxNameLen is the length of an outbox file name: a 20-digit stamp and ".txt".
const outboxNameLen = 20 + len(".txt")

// maxOutboxFileSize is the largest file Send can write.
const maxOutboxFileSize = len("To: \nSubject: \n\n") + maxAddressSize + MaxSubjectSize + MaxBodySize

// maxLinkAttempts bounds the retries when another process sharing the directory took the
// name this one picked.
const maxLinkAttempts = 100

// Outbox is a Sender that writes each message as a file in a directory, for development
// setups without a mail server and for phone numbers, for which there is no SMS gateway.
//
// File names are a 20-digit stamp and ".txt". The stamp is the time of sending in Unix
// nanoseconds, raised where needed to stay above every earlier stamp in the directory, so
// that the names sort in sending order even for messages sent within one clock tick and
// across restarts with a clock that went back. Each file holds "To: ", "Subject: ", a blank
// line and the body, and appears whole (written aside, then linked into place) with mode
// 0600. An Outbox is safe for concurrent use; sends are serialised, so at any moment the
// files present are a prefix of the messages sent.
type Outbox struct {
	dir string
	now func() time.Time // replaced by tests

	mu   sync.Mutex
	last int64 // highest stamp used; guarded by mu
}

// NewOutbox returns an Outbox writing to dir, creating it with mode 0700 if needed.
func NewOutbox(dir string) (*Outbox, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	last, err := highestStamp(dir)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	return &Outbox{dir: dir, now: time.Now, last: last}, nil
}

// Dir returns the directory o writes to.
func (o *Outbox) Dir() string { return o.dir }

// Send writes m to a new file in the outbox.
func (o *Outbox) Send(ctx context.Context, m Message) error {
	if err := m.Validate(); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	data := "To: " + m.To + "\nSubject: " + m.Subject + "\n\n" + m.Body

	o.mu.Lock()
	defer o.mu.Unlock()
	tmp, err := writeTemp(o.dir, data)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	defer os.Remove(tmp)
	for range maxLinkAttempts {
		o.last = max(o.now().UnixNano(), o.last+1)
		// A link, unlike a rename, fails rather than replace a file another process
		// wrote under the same name.
		err = os.Link(tmp, filepath.Join(o.dir, stampName(o.last)))
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}

// Messages returns the messages in the outbox, oldest first. It is meant for tests and
// tools that read what was sent, such as the code in a verification message.
func (o *Outbox) Messages() ([]Message, error) {
	names, err := outboxNames(o.dir)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	msgs := make([]Message, 0, len(names))
	for _, name := range names {
		f, err := os.Open(filepath.Join(o.dir, name))
		if err != nil {
			return nil, fmt.Errorf("outbox: %w", err)
		}
		data, err := io.ReadAll(io.LimitReader(f, int64(maxOutboxFileSize)+1))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("outbox: %w", err)
		}
		if len(data) > maxOutboxFileSize {
			return nil, fmt.Errorf("outbox: %s: larger than any message", name)
		}
		m, err := parseOutboxFile(string(data))
		if err != nil {
			return nil, fmt.Errorf("outbox: %s: %w", name, err)
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

// parseOutboxFile reads back the file format Send writes.
func parseOutboxFile(data string) (Message, error) {
	head, body, ok := strings.Cut(data, "\n\n")
	if !ok {
		return Message{}, errors.New("no blank line after the header")
	}
	toLine, subjectLine, ok := strings.Cut(head, "\n")
	to, okTo := strings.CutPrefix(toLine, "To: ")
	subject, okSubject := strings.CutPrefix(subjectLine, "Subject: ")
	if !ok || !okTo || !okSubject {
		return Message{}, errors.New("header is not To and Subject")
	}
	return Message{To: to, Subject: subject, Body: body}, nil
}

func notDigit(r rune) bool { return r < '0' || r > '9' }

func stampName(stamp int64) string {
	return fmt.Sprintf("%020d.txt", stamp)
}

// outboxNames lists the message files in dir in sending order, skipping anything else.
func outboxNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if _, ok := parseStamp(e.Name()); ok && e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

func highestStamp(dir string) (int64, error) {
	names, err := outboxNames(dir)
	if err != nil || len(names) == 0 {
		return 0, err
	}
	stamp, _ := parseStamp(names[len(names)-1])
	return stamp, nil
}

func parseStamp(name string) (int64, bool) {
	digits, ok := strings.CutSuffix(name, ".txt")
	if !ok || len(name) != outboxNameLen || strings.ContainsFunc(digits, notDigit) {
		return 0, false
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	return n, err == nil
}

// writeTemp writes data to a new hidden file in dir, synced to disk, and returns its path.
// Hidden names never match the outbox pattern, so readers skip a file still being written.
func writeTemp(dir, data string) (string, error) {
	f, err := os.CreateTemp(dir, ".msg-*")
	if err != nil {
		return "", err
	}
	_, err = f.WriteString(data)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}
