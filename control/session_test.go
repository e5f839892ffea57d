package control_test

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"

	"github.com/byplatform/byplatform/control"
	"github.com/byplatform/byplatform/control/pb"
	"github.com/byplatform/byplatform/engine"
)

// harness is a session for the world's source client with its outbox. It runs inside
// a synctest bubble, so synctest.Wait means the session has handled everything.
type harness struct {
	t    *testing.T
	w    world
	srv  *control.Server
	ss   *control.Session
	box  *outbox
	seq  uuid.UUID
	ctx  context.Context
	done func()
}

func newHarness(t *testing.T, opts control.Options) *harness {
	w := newWorld(t)
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	srv := control.NewServer(w.eng, opts)
	box := &outbox{client: w.src}
	ctx := context.Background()
	ss := srv.Open(ctx, w.src, box.send)
	h := &harness{t: t, w: w, srv: srv, ss: ss, box: box, seq: uuid.New(), ctx: ctx}
	t.Cleanup(ss.Close)
	return h
}

// deliver passes packs to the session and waits until it has handled them.
func (h *harness) deliver(packs ...*pb.Pack) {
	for _, p := range packs {
		h.ss.Receive(h.ctx, packTransfer(h.t, h.w.src, p))
	}
	synctest.Wait()
}

// pack numbers a pack of the harness sequence whose frame closes a contract with acked
// set to n, so that the fake engine records the order of delivery.
func (h *harness) pack(n uint64, head bool) *pb.Pack {
	return clientPack(h.seq, n, head, closeFrame(h.t, uuid.New(), n))
}

// delivered returns the numbers of the packs handled so far, in order.
func (h *harness) delivered() []uint64 {
	var out []uint64
	for _, c := range h.w.eng.closed() {
		out = append(out, c.AckedByteCount)
	}
	return out
}

// acks returns what was sent, which must be acks only, as the message ids acked.
func (h *harness) acks() []uuid.UUID {
	h.t.Helper()
	var out []uuid.UUID
	for _, s := range h.box.take(h.t) {
		if s.ack == nil {
			h.t.Fatalf("sent a pack, want acks only")
		}
		if uuid.UUID(s.ack.SequenceId) != h.seq || s.ack.Selective {
			h.t.Fatalf("ack %v is not a cumulative ack of the sequence", s.ack)
		}
		out = append(out, uuid.UUID(s.ack.MessageId))
	}
	return out
}

func id(p *pb.Pack) uuid.UUID { return uuid.UUID(p.MessageId) }

func checkDelivered(t *testing.T, h *harness, want ...uint64) {
	t.Helper()
	if got := h.delivered(); !slices.Equal(got, want) {
		t.Errorf("delivered %v, want %v", got, want)
	}
}

func checkAcks(t *testing.T, h *harness, want ...uuid.UUID) {
	t.Helper()
	if got := h.acks(); !slices.Equal(got, want) {
		t.Errorf("acked %v, want %v", got, want)
	}
}

func TestReceiveSequence(t *testing.T) {
	t.Run("packs in order are handled and each acked", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t, control.Options{})
			p0, p1, p2 := h.pack(0, true), h.pack(1, false), h.pack(2, false)
			h.deliver(p0, p1, p2)
			checkDelivered(t, h, 0, 1, 2)
			checkAcks(t, h, id(p0), id(p1), id(p2))
		})
	})
	t.Run("reordered packs wait for the gap and are acked cumulatively", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t, control.Options{})
			p0, p1, p2, p3 := h.pack(0, true), h.pack(1, false), h.pack(2, false), h.pack(3, false)
			h.deliver(p0, p3, p2)
			checkDelivered(t, h, 0)
			checkAcks(t, h, id(p0))
			h.deliver(p1)
			checkDelivered(t, h, 0, 1, 2, 3)
			checkAcks(t, h, id(p3))
		})
	})
	t.Run("packs before the head are held until it arrives", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t, control.Options{})
			p0, p1 := h.pack(0, true), h.pack(1, false)
			h.deliver(p1)
			checkDelivered(t, h)
			checkAcks(t, h)
			h.deliver(p0)
			checkDelivered(t, h, 0, 1)
			checkAcks(t, h, id(p1))
		})
	})
	t.Run("duplicates are acked again and not handled again", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t, control.Options{})
			p0, p1 := h.pack(0, true), h.pack(1, false)
			h.deliver(p0, p1, p0, p1)
			checkDelivered(t, h, 0, 1)
			checkAcks(t, h, id(p0), id(p1), id(p0), id(p1))
			if got := h.srv.Stats().Duplicates; got != 2 {
				t.Errorf("Duplicates = %d, want 2", got)
			}
		})
	})
	t.Run("a head ahead of the expected number skips the gap", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t, control.Options{})
			p0, p2, p3 := h.pack(0, true), h.pack(2, false), h.pack(3, false)
			p5, p6 := h.pack(5, true), h.pack(6, false)
			h.deliver(p0, p2, p6)
			checkDelivered(t, h, 0)
			h.deliver(p5)
			checkDelivered(t, h, 0, 5, 6)
			checkAcks(t, h, id(p0), id(p6))
			// Packs the sender gave up on are behind the head now: acked, not handled.
			h.deliver(p3, p2)
			checkDelivered(t, h, 0, 5, 6)
			checkAcks(t, h, id(p3), id(p2))
		})
	})
	t.Run("a head behind the expected number is a resend, acked only", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t, control.Options{})
			p0, p1 := h.pack(0, true), h.pack(1, false)
			h.deliver(p0, p1)
			h.acks()
			again := h.pack(1, true)
			h.deliver(again)
			checkDelivered(t, h, 0, 1)
			checkAcks(t, h, id(again))
			p2 := h.pack(2, false)
			h.deliver(p2)
			checkDelivered(t, h, 0, 1, 2)
			checkAcks(t, h, id(p2))
		})
	})
	t.Run("nack packs are handled at once and never acked", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t, control.Options{})
			n := h.pack(7, false)
			n.Nack = true
			h.deliver(n)
			checkDelivered(t, h, 7)
			checkAcks(t, h)
			// A nack pack does not move the sequence.
			p0 := h.pack(0, true)
			h.deliver(p0)
			checkDelivered(t, h, 7, 0)
			checkAcks(t, h, id(p0))
		})
	})
	t.Run("sequences are independent", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t, control.Options{})
			other := uuid.New()
			a0 := h.pack(0, true)
			b0 := clientPack(other, 0, true, closeFrame(t, uuid.New(), 100))
			b1 := clientPack(other, 1, false, closeFrame(t, uuid.New(), 101))
			h.deliver(b1, a0, b0)
			checkDelivered(t, h, 0, 100, 101)
			sent := h.box.take(t)
			if len(sent) != 2 || uuid.UUID(sent[0].ack.SequenceId) != h.seq ||
				uuid.UUID(sent[1].ack.SequenceId) != other ||
				uuid.UUID(sent[1].ack.MessageId) != id(b1) {
				t.Errorf("acks = %v, want a0 then b1", sent)
			}
		})
	})
	t.Run("the later pack field is accepted", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t, control.Options{})
			p0 := h.pack(0, true)
			h.ss.Receive(h.ctx, packTransferField(t, h.w.src, p0))
			synctest.Wait()
			checkDelivered(t, h, 0)
			checkAcks(t, h, id(p0))
		})
	})
}

func TestReceiveBounds(t *testing.T) {
	t.Run("packs too far ahead are dropped", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t, control.Options{MaxAhead: 2})
			p := make([]*pb.Pack, 6)
			for i := range p {
				p[i] = h.pack(uint64(i), i == 0)
			}
			// 1 and 2 fit the buffer; 3 does not; 5 is beyond the window.
			h.deliver(p[2], p[1], p[3], p[5])
			if got := h.srv.Stats().PacksDropped; got != 2 {
				t.Errorf("PacksDropped = %d, want 2", got)
			}
			h.deliver(p[0])
			checkDelivered(t, h, 0, 1, 2)
			checkAcks(t, h, id(p[2]))
			h.deliver(p[3], p[4], p[5])
			checkDelivered(t, h, 0, 1, 2, 3, 4, 5)
		})
	})
	t.Run("packs held ahead are bounded in bytes per session", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t, control.Options{MaxHeldBytes: 600})
			big := func(seq uuid.UUID, n uint64, head bool) *pb.Pack {
				return clientPack(seq, n, head, closeFrame(t, uuid.New(), n),
					&pb.Frame{
						MessageType:  pb.MessageType_TransferControlPing,
						MessageBytes: make([]byte, 150),
					})
			}
			other := uuid.New()
			p1, p2, o1 := big(h.seq, 1, false), big(h.seq, 2, false), big(other, 1, false)
			h.deliver(p1, o1, p2)
			if got := h.srv.Stats().PacksDropped; got != 1 {
				t.Fatalf("PacksDropped = %d, want 1 (the third pack over the budget)", got)
			}
			h.deliver(big(h.seq, 0, true))
			checkDelivered(t, h, 0, 1)
			// Delivering p1 freed its bytes, so pack 3 fits beside o1.
			h.deliver(big(h.seq, 3, false), p2)
			checkDelivered(t, h, 0, 1, 2, 3)
			h.deliver(big(other, 0, true))
			checkDelivered(t, h, 0, 1, 2, 3, 0, 1)
		})
	})
	t.Run("the least recently used sequence is forgotten", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t, control.Options{MaxSequences: 2})
			s1, s2, s3 := uuid.New(), uuid.New(), uuid.New()
			h.deliver(
				clientPack(s1, 0, true, closeFrame(t, uuid.New(), 10)),
				clientPack(s2, 0, true, closeFrame(t, uuid.New(), 20)),
				clientPack(s2, 1, false, closeFrame(t, uuid.New(), 21)),
				clientPack(s3, 0, true, closeFrame(t, uuid.New(), 30)),
			)
			checkDelivered(t, h, 10, 20, 21, 30)
			// s1 was forgotten: s2 goes on, while s1's next pack waits for a head.
			h.deliver(clientPack(s2, 2, false, closeFrame(t, uuid.New(), 22)))
			h.deliver(clientPack(s1, 1, false, closeFrame(t, uuid.New(), 11)))
			checkDelivered(t, h, 10, 20, 21, 30, 22)
			h.deliver(clientPack(s1, 2, true, closeFrame(t, uuid.New(), 12)))
			checkDelivered(t, h, 10, 20, 21, 30, 22, 12)
		})
	})
	t.Run("malformed frames are dropped", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t, control.Options{MaxMessageSize: 512})
			short := h.pack(0, true)
			short.MessageId = short.MessageId[:8]
			for _, b := range [][]byte{
				{0x12, 0x05, 1},
				make([]byte, 513),
				packTransfer(t, h.w.src, short),
			} {
				h.ss.Receive(h.ctx, b)
			}
			synctest.Wait()
			checkDelivered(t, h)
			checkAcks(t, h)
			if got := h.srv.Stats().PacksDropped; got != 3 {
				t.Errorf("PacksDropped = %d, want 3", got)
			}
		})
	})
	t.Run("a full queue drops packs without blocking", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			blocked := make(chan struct{})
			eng := &blockingEngine{fakeEngine: newFakeEngine(), release: blocked}
			srv := control.NewServer(eng, control.Options{QueueSize: 1, Logger: testLogger(t)})
			client := eng.addClient(uuid.New())
			box := &outbox{client: client}
			ss := srv.Open(context.Background(), client, box.send)
			seq := uuid.New()
			for n := range uint64(4) {
				p := clientPack(seq, n, n == 0, closeFrame(t, uuid.New(), n))
				ss.Receive(context.Background(), packTransfer(t, client, p))
				synctest.Wait()
			}
			// The first is in the engine, the second in the queue.
			if st := srv.Stats(); st.PacksReceived != 2 || st.PacksDropped != 2 {
				t.Errorf("stats = %+v, want 2 received and 2 dropped", st)
			}
			close(blocked)
			ss.Close()
		})
	})
}

// blockingEngine holds CloseContract until release is closed.
type blockingEngine struct {
	*fakeEngine
	release chan struct{}
}

func (e *blockingEngine) CloseContract(ctx context.Context, c engine.ContractClose) error {
	select {
	case <-e.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return e.fakeEngine.CloseContract(ctx, c)
}

func TestSendSequence(t *testing.T) {
	// request asks in band for a contract to the public provider.
	request := func(h *harness, n uint64) *pb.Pack {
		p := clientPack(h.seq, n, n == 0, createFrame(h.t, h.w.pub, 10, false))
		h.deliver(p)
		return p
	}
	// replies returns the packs sent, dropping the acks of the client's requests.
	replies := func(h *harness) []*pb.Pack {
		var out []*pb.Pack
		for _, s := range h.box.take(h.t) {
			if s.pack != nil {
				out = append(out, s.pack)
			}
		}
		return out
	}
	ack := func(h *harness, p *pb.Pack, selective bool) {
		h.ss.Receive(h.ctx, ackTransfer(h.t, h.w.src, p, selective))
	}

	t.Run("a reply is resent every interval until acked", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t, control.Options{})
			request(h, 0)
			first := replies(h)
			if len(first) != 1 || first[0].SequenceNumber != 0 || !first[0].Head ||
				len(first[0].SequenceId) != 16 {
				t.Fatalf("reply = %v, want one head pack numbered 0", first)
			}
			res := contractResult(t, first[0].Frames[0])
			if res.GetContract() == nil {
				t.Fatalf("result = %v, want a contract", res)
			}

			time.Sleep(control.DefaultResendInterval - time.Millisecond)
			synctest.Wait()
			if got := replies(h); len(got) != 0 {
				t.Fatalf("resent %d packs before the interval", len(got))
			}
			time.Sleep(time.Millisecond)
			synctest.Wait()
			again := replies(h)
			if len(again) != 1 || uuid.UUID(again[0].MessageId) != uuid.UUID(first[0].MessageId) ||
				!again[0].Head {
				t.Fatalf("resend = %v, want the same head pack", again)
			}

			ack(h, first[0], false)
			time.Sleep(10 * control.DefaultResendInterval)
			synctest.Wait()
			if got := replies(h); len(got) != 0 {
				t.Errorf("resent %d packs after the ack", len(got))
			}
			if st := h.srv.Stats(); st.Resends != 1 || st.GaveUp != 0 {
				t.Errorf("stats = %+v, want 1 resend", st)
			}
		})
	})
	t.Run("an unacked reply is given up after the timeout", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t, control.Options{
				ResendInterval: time.Second, ResendTimeout: 10 * time.Second,
			})
			start := time.Now()
			request(h, 0)
			sends := len(replies(h))
			var last time.Time
			for time.Since(start) < 20*time.Second {
				time.Sleep(500 * time.Millisecond)
				synctest.Wait()
				if n := len(replies(h)); n > 0 {
					sends += n
					last = time.Now()
				}
			}
			// Sent at 0 s, resent at 1..9 s, given up at 10 s.
			if sends != 10 || last.Sub(start) != 9*time.Second {
				t.Errorf("sent %d times, last at %v; want 10 times, last at 9s",
					sends, last.Sub(start))
			}
			if st := h.srv.Stats(); st.GaveUp != 1 || st.Resends != 9 {
				t.Errorf("stats = %+v, want 9 resends and 1 given up", st)
			}
		})
	})
	t.Run("a cumulative ack covers earlier packs and head moves to the oldest", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t, control.Options{})
			request(h, 0)
			request(h, 1)
			request(h, 2)
			sent := replies(h)
			if len(sent) != 3 {
				t.Fatalf("sent %d replies, want 3", len(sent))
			}
			for i, p := range sent {
				sameSeq := uuid.UUID(p.SequenceId) == uuid.UUID(sent[0].SequenceId)
				if p.SequenceNumber != uint64(i) || p.Head != (i == 0) || !sameSeq {
					t.Errorf("reply %d = number %d head %v, want number %d on one sequence",
						i, p.SequenceNumber, p.Head, i)
				}
			}
			ack(h, sent[1], false)
			time.Sleep(control.DefaultResendInterval)
			synctest.Wait()
			again := replies(h)
			if len(again) != 1 || again[0].SequenceNumber != 2 || !again[0].Head {
				t.Fatalf("resent %v, want pack 2 as head", again)
			}
		})
	})
	t.Run("a selectively acked pack is not resent unless oldest", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t, control.Options{})
			request(h, 0)
			request(h, 1)
			sent := replies(h)
			ack(h, sent[1], true)
			time.Sleep(control.DefaultResendInterval)
			synctest.Wait()
			again := replies(h)
			if len(again) != 1 || again[0].SequenceNumber != 0 {
				t.Fatalf("resent %v, want pack 0 only", again)
			}
			// Once pack 0 is acked alone, the selectively acked pack is the oldest and
			// goes again as head, so the client can move past anything it lost.
			ack(h, sent[0], true)
			h.ss.Receive(h.ctx, ackTransfer(t, h.w.src, sent[0], false))
			time.Sleep(control.DefaultResendInterval)
			synctest.Wait()
			again = replies(h)
			if len(again) != 1 || again[0].SequenceNumber != 1 || !again[0].Head {
				t.Fatalf("resent %v, want pack 1 as head", again)
			}
		})
	})
	t.Run("the later ack field is accepted", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t, control.Options{})
			request(h, 0)
			sent := replies(h)
			h.ss.Receive(h.ctx, mustMarshal(t, &pb.TransferFrame{
				TransferPath: clientPath(h.w.src),
				Ack:          &pb.Ack{MessageId: sent[0].MessageId, SequenceId: sent[0].SequenceId},
			}))
			time.Sleep(time.Minute)
			synctest.Wait()
			if got := replies(h); len(got) != 0 {
				t.Errorf("resent %d packs after the ack", len(got))
			}
		})
	})
	t.Run("acks for another sequence are ignored", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t, control.Options{})
			request(h, 0)
			sent := replies(h)
			wrong := &pb.Pack{MessageId: sent[0].MessageId, SequenceId: h.seq[:]}
			ack(h, wrong, false)
			time.Sleep(control.DefaultResendInterval)
			synctest.Wait()
			if got := replies(h); len(got) != 1 {
				t.Errorf("resent %d packs, want 1", len(got))
			}
		})
	})
	t.Run("too many unacked replies drop the oldest", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t, control.Options{MaxUnacked: 2})
			for n := range uint64(3) {
				request(h, n)
			}
			replies(h)
			time.Sleep(control.DefaultResendInterval)
			synctest.Wait()
			again := replies(h)
			if len(again) != 2 || again[0].SequenceNumber != 1 || !again[0].Head ||
				again[1].SequenceNumber != 2 {
				t.Errorf("resent %v, want packs 1 (head) and 2", again)
			}
			if got := h.srv.Stats().GaveUp; got != 1 {
				t.Errorf("GaveUp = %d, want 1", got)
			}
		})
	})
}

func TestSessionStopsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t)
		srv := control.NewServer(w.eng, control.Options{Logger: testLogger(t)})
		ctx, cancel := context.WithCancel(context.Background())
		box := &outbox{client: w.src}
		ss := srv.Open(ctx, w.src, box.send)
		cancel()
		synctest.Wait()
		// The goroutine is gone; Close returns at once, twice.
		ss.Close()
		ss.Close()
		ss.Receive(context.Background(), packTransfer(t, w.src, clientPack(uuid.New(), 0, true)))
	})
}
