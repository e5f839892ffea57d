package transport

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"

	"github.com/byplatform/byplatform/engine"
)

// recordLink records when each message was written, in fake time.
type recordLink struct {
	mu     sync.Mutex
	writes []recordedWrite
}

type recordedWrite struct {
	at   time.Time
	size int
}

func (l *recordLink) writeBatch(msgs []outMsg, _ time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range msgs {
		l.writes = append(l.writes, recordedWrite{at: time.Now(), size: len(m.data)})
	}
	return nil
}

func (l *recordLink) close() {}

func (l *recordLink) recorded() []recordedWrite {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]recordedWrite(nil), l.writes...)
}

func TestKeepaliveOnlyWhenIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = time.Second
		s, err := New(Options{Auth: &testAuth{}, KeepaliveInterval: interval})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		link := &recordLink{}
		c := s.newConn(engine.ClientAuth{ClientID: uuid.New()}, engine.Connection{}, link,
			credentials{})
		c.start()
		start := time.Now()

		// A frame every 0.9 intervals: never a keepalive.
		frame := make([]byte, 100)
		for range 10 {
			time.Sleep(interval * 9 / 10)
			if !c.enqueue(outMsg{data: frame}) {
				t.Fatal("enqueue failed")
			}
			synctest.Wait()
		}
		lastFrame := time.Now()
		// Then idle: a keepalive one interval after the last frame, and one per interval.
		time.Sleep(3*interval + interval/2)
		synctest.Wait()

		writes := link.recorded()
		if len(writes) != 13 {
			t.Fatalf("%d writes, want 10 frames and 3 keepalives", len(writes))
		}
		for i, w := range writes[:10] {
			if w.size != len(frame) {
				t.Fatalf("write %d at %v is a keepalive", i, w.at.Sub(start))
			}
		}
		for i, w := range writes[10:] {
			want := lastFrame.Add(time.Duration(i+1) * interval)
			if w.size != 0 || !w.at.Equal(want) {
				t.Fatalf("write %d: %d bytes at %v, want a keepalive at %v",
					10+i, w.size, w.at.Sub(start), want.Sub(start))
			}
		}
	})
}

func TestReadDeadlineRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const timeout = 8 * time.Second
		var set []time.Time
		d := readDeadline{
			set:     func(at time.Time) error { set = append(set, at); return nil },
			timeout: timeout,
		}
		start := time.Now()
		d.refresh()
		time.Sleep(timeout/refreshDeadline - time.Millisecond)
		d.refresh() // too soon to move it again
		time.Sleep(time.Millisecond)
		d.refresh()

		want := []time.Time{start.Add(9 * time.Second), start.Add(10 * time.Second)}
		if len(set) != len(want) {
			t.Fatalf("deadline set %d times, want %d", len(set), len(want))
		}
		for i := range want {
			if !set[i].Equal(want[i]) {
				t.Fatalf("deadline %d at %v, want %v", i, set[i].Sub(start), want[i].Sub(start))
			}
		}
	})
}
