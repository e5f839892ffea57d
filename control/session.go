package control

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/byplatform/byplatform/control/pb"
)

// Session is the in-band control endpoint of one client presence: it receives the
// client's sequences addressed to the control id, acks them, runs the handlers, and
// sends the replies on a sequence of its own, resending until they are acked.
//
// A Session owns one goroutine, which processes inbound packs in order and resends;
// it stops when Close is called or the context given to Open is done. Receive and
// Close are safe for concurrent use.
type Session struct {
	srv    *Server
	client uuid.UUID
	send   func([]byte) bool
	log    *slog.Logger

	ctx       context.Context
	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once

	// inbound carries packs from Receive to the session goroutine.
	inbound chan *pb.Pack

	// recv is the state of each inbound sequence, by sequence id. Only the session
	// goroutine touches it.
	recv    map[uuid.UUID]*recvSeq
	recvUse uint64
	// held is the encoded size of the packs all sequences hold ahead, in bytes.
	held int

	// mu guards out, which acks from Receive and the session goroutine both change.
	mu  sync.Mutex
	out sendSeq
}

// recvSeq is one inbound sequence of the client.
type recvSeq struct {
	next  uint64
	ahead map[uint64]heldPack
	used  uint64
}

// heldPack is a pack that arrived ahead of its turn, with its encoded size.
type heldPack struct {
	pack *pb.Pack
	size int
}

// sendSeq is the session's own sequence.
type sendSeq struct {
	id      uuid.UUID
	next    uint64
	unacked []*outPack
}

type outPack struct {
	pack      *pb.Pack
	messageID uuid.UUID
	first     time.Time
	last      time.Time
	// selective is set when the client acked this pack alone: it holds the pack but
	// not an earlier one, so resending it would only repeat it.
	selective bool
}

// Open starts the in-band endpoint for one client presence. send delivers a serialized
// TransferFrame to one live connection of the client and reports false if it was
// dropped; it must not block, takes ownership of the slice, and may be called from the
// session goroutine and from Receive. The session stops when ctx is done or Close is
// called.
func (s *Server) Open(
	ctx context.Context, clientID uuid.UUID, send func(transferFrame []byte) bool,
) *Session {
	ctx, cancel := context.WithCancel(ctx)
	ss := &Session{
		srv:     s,
		client:  clientID,
		send:    send,
		log:     s.log.With("client_id", clientID),
		ctx:     ctx,
		cancel:  cancel,
		done:    make(chan struct{}),
		inbound: make(chan *pb.Pack, s.opts.QueueSize),
		recv:    make(map[uuid.UUID]*recvSeq),
		out:     sendSeq{id: uuid.New()},
	}
	go ss.run()
	return ss
}

// Close stops the session goroutine and waits for it; replies not yet acked are
// dropped. It is safe to call more than once.
func (ss *Session) Close() {
	ss.closeOnce.Do(ss.cancel)
	<-ss.done
}

// Receive handles one inbound serialized TransferFrame addressed to the control id; the
// caller has checked the path. Acks are applied at once; packs are queued for the
// session goroutine, and dropped when the queue is full (the client resends them), so
// Receive never waits for the handlers. It does not retain transferFrame. It is safe
// for concurrent use; malformed frames are counted and dropped.
func (ss *Session) Receive(ctx context.Context, transferFrame []byte) {
	if len(transferFrame) > ss.srv.opts.MaxMessageSize || ss.ctx.Err() != nil {
		ss.srv.stats.packsDropped.Add(1)
		return
	}
	var tf pb.TransferFrame
	if err := proto.Unmarshal(transferFrame, &tf); err != nil {
		ss.srv.stats.packsDropped.Add(1)
		return
	}
	packs, acks := controlMessages(&tf)
	for _, a := range acks {
		ss.applyAck(a)
	}
	for _, p := range packs {
		select {
		case ss.inbound <- p:
			ss.srv.stats.packsReceived.Add(1)
		case <-ctx.Done():
			return
		default:
			ss.srv.stats.packsDropped.Add(1)
		}
	}
}

// controlMessages returns the packs and acks a TransferFrame carries: in frame (field
// 2), as older clients send them, or in pack and ack (fields 4 and 5). Frames of other
// types, and frames that do not decode, are ignored.
func controlMessages(tf *pb.TransferFrame) ([]*pb.Pack, []*pb.Ack) {
	var packs []*pb.Pack
	var acks []*pb.Ack
	if tf.Pack != nil {
		packs = append(packs, tf.Pack)
	}
	if tf.Ack != nil {
		acks = append(acks, tf.Ack)
	}
	if f := tf.Frame; f != nil {
		switch f.GetMessageType() {
		case pb.MessageType_TransferPack:
			var p pb.Pack
			if proto.Unmarshal(f.GetMessageBytes(), &p) == nil {
				packs = append(packs, &p)
			}
		case pb.MessageType_TransferAck:
			var a pb.Ack
			if proto.Unmarshal(f.GetMessageBytes(), &a) == nil {
				acks = append(acks, &a)
			}
		}
	}
	return packs, acks
}

func (ss *Session) run() {
	defer close(ss.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var deadline time.Time

	for {
		select {
		case <-ss.ctx.Done():
			return
		case p := <-ss.inbound:
			ss.receivePack(p)
		case <-timer.C:
			deadline = time.Time{}
			ss.resend(time.Now())
		}
		// Rearm only when the earliest due time moved, so that a busy inbound queue
		// does not keep pushing resends back.
		if next := ss.nextDue(); !next.IsZero() && (deadline.IsZero() || next.Before(deadline)) {
			deadline = next
			timer.Reset(time.Until(next))
		}
	}
}

// receivePack sequences one inbound pack. A new sequence expects number 0; a head pack
// ahead of the expected number moves it forward (the client gave up on the packs
// between), while a head behind it is a resend of a pack already handled and is only
// acked again, so that no handler runs twice.
func (ss *Session) receivePack(p *pb.Pack) {
	if len(p.GetMessageId()) != 16 || len(p.GetSequenceId()) != 16 ||
		len(p.GetFrames()) > ss.srv.opts.MaxFrames {
		ss.srv.stats.packsDropped.Add(1)
		return
	}
	if p.GetNack() {
		ss.process(p)
		return
	}

	seqID := uuid.UUID(p.GetSequenceId())
	rs := ss.sequence(seqID)
	n := p.GetSequenceNumber()
	if p.GetHead() && n > rs.next {
		rs.next = n
		for k := range rs.ahead {
			if k < n {
				ss.release(rs, k)
			}
		}
	}

	switch {
	case n < rs.next:
		ss.srv.stats.duplicates.Add(1)
		ss.ack(uuid.UUID(p.GetMessageId()), seqID)
	case n == rs.next:
		last := p
		ss.process(p)
		rs.next++
		for {
			q := ss.release(rs, rs.next)
			if q == nil {
				break
			}
			ss.process(q)
			last = q
			rs.next++
		}
		ss.ack(uuid.UUID(last.GetMessageId()), seqID)
	case n-rs.next <= uint64(ss.srv.opts.MaxAhead) && ss.hold(rs, n, p):
	default:
		ss.srv.stats.packsDropped.Add(1)
	}
}

// hold keeps a pack that arrived ahead of its turn, within the per-sequence count and
// the per-session byte budget. A pack with the number of one already held replaces it.
func (ss *Session) hold(rs *recvSeq, n uint64, p *pb.Pack) bool {
	old, replacing := rs.ahead[n]
	if !replacing && len(rs.ahead) >= ss.srv.opts.MaxAhead {
		return false
	}
	size := proto.Size(p)
	if ss.held-old.size+size > ss.srv.opts.MaxHeldBytes {
		return false
	}
	ss.held += size - old.size
	rs.ahead[n] = heldPack{pack: p, size: size}
	return true
}

// release removes and returns the pack held for number n, or nil.
func (ss *Session) release(rs *recvSeq, n uint64) *pb.Pack {
	h, ok := rs.ahead[n]
	if !ok {
		return nil
	}
	delete(rs.ahead, n)
	ss.held -= h.size
	return h.pack
}

// sequence returns the state of an inbound sequence, forgetting the least recently
// used one when the session tracks too many.
func (ss *Session) sequence(id uuid.UUID) *recvSeq {
	ss.recvUse++
	if rs, ok := ss.recv[id]; ok {
		rs.used = ss.recvUse
		return rs
	}
	if len(ss.recv) >= ss.srv.opts.MaxSequences {
		var oldest uuid.UUID
		var oldestUse uint64 = ^uint64(0)
		for k, rs := range ss.recv {
			if rs.used < oldestUse {
				oldest, oldestUse = k, rs.used
			}
		}
		for _, h := range ss.recv[oldest].ahead {
			ss.held -= h.size
		}
		delete(ss.recv, oldest)
	}
	rs := &recvSeq{ahead: make(map[uint64]heldPack), used: ss.recvUse}
	ss.recv[id] = rs
	return rs
}

// process runs the handlers of a pack's frames and sends the replies on the session's
// sequence. Frame failures are logged here, once; they never stop the sequence.
func (ss *Session) process(p *pb.Pack) {
	replies, err := ss.srv.handleFrames(ss.ctx, ss.client, p.GetFrames())
	if err != nil {
		ss.log.Warn("control frame failed", "err", err)
	}
	if len(replies) > 0 {
		ss.enqueue(replies)
	}
}

// ack sends a cumulative ack for a pack of an inbound sequence.
func (ss *Session) ack(messageID, sequenceID uuid.UUID) {
	ss.send(AppendAckFrame(nil, ss.client, messageID, sequenceID, false))
}

// enqueue puts frames in a new pack on the session's sequence and sends it.
func (ss *Session) enqueue(frames []*pb.Frame) {
	now := time.Now()
	ss.mu.Lock()
	defer ss.mu.Unlock()

	if len(ss.out.unacked) >= ss.srv.opts.MaxUnacked {
		ss.srv.stats.gaveUp.Add(1)
		ss.log.Warn("control reply dropped: too many unacked", "unacked", len(ss.out.unacked))
		ss.out.unacked = slices.Delete(ss.out.unacked, 0, 1)
	}
	id := uuid.New()
	op := &outPack{
		pack: &pb.Pack{
			MessageId:      id[:],
			SequenceId:     ss.out.id[:],
			SequenceNumber: ss.out.next,
			Frames:         frames,
		},
		messageID: id,
		first:     now,
	}
	ss.out.next++
	ss.out.unacked = append(ss.out.unacked, op)
	ss.transmit(op, len(ss.out.unacked) == 1, now)
}

// transmit sends a held pack, marked head when it is the oldest unacked: that lets
// the client skip past packs the session gave up on. The caller holds mu.
func (ss *Session) transmit(op *outPack, head bool, now time.Time) {
	op.pack.Head = head
	op.last = now
	b, err := AppendPackFrame(nil, ss.client, op.pack)
	if err != nil {
		ss.log.Error("control reply not sent", "err", err)
		return
	}
	ss.send(b)
}

// resend gives up packs held longer than the resend timeout and sends again the ones
// due. The oldest is always sent when due, marked head, even if selectively acked.
func (ss *Session) resend(now time.Time) {
	ss.mu.Lock()
	defer ss.mu.Unlock()

	timeout := ss.srv.opts.ResendTimeout
	kept := ss.out.unacked[:0]
	for _, op := range ss.out.unacked {
		if now.Sub(op.first) >= timeout {
			ss.srv.stats.gaveUp.Add(1)
			ss.log.Warn("control reply given up without ack", "dur", now.Sub(op.first))
			continue
		}
		kept = append(kept, op)
	}
	clear(ss.out.unacked[len(kept):])
	ss.out.unacked = kept

	for i, op := range ss.out.unacked {
		if now.Sub(op.last) < ss.srv.opts.ResendInterval || (i > 0 && op.selective) {
			continue
		}
		ss.srv.stats.resends.Add(1)
		ss.transmit(op, i == 0, now)
	}
}

// nextDue returns when resend next has work, or zero when nothing is held.
func (ss *Session) nextDue() time.Time {
	ss.mu.Lock()
	defer ss.mu.Unlock()

	var due time.Time
	for i, op := range ss.out.unacked {
		t := op.first.Add(ss.srv.opts.ResendTimeout)
		if i == 0 || !op.selective {
			t = minTime(t, op.last.Add(ss.srv.opts.ResendInterval))
		}
		if due.IsZero() || t.Before(due) {
			due = t
		}
	}
	return due
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// applyAck removes the packs an ack covers: a cumulative ack covers its pack and every
// earlier one, a selective ack marks its pack only. Acks for other sequences or unknown
// messages are ignored.
func (ss *Session) applyAck(a *pb.Ack) {
	if len(a.GetSequenceId()) != 16 || len(a.GetMessageId()) != 16 {
		return
	}
	seqID, msgID := uuid.UUID(a.GetSequenceId()), uuid.UUID(a.GetMessageId())
	ss.mu.Lock()
	defer ss.mu.Unlock()

	if seqID != ss.out.id {
		return
	}
	i := slices.IndexFunc(ss.out.unacked, func(op *outPack) bool { return op.messageID == msgID })
	switch {
	case i < 0:
	case a.GetSelective():
		ss.out.unacked[i].selective = true
	default:
		clear(ss.out.unacked[:i+1])
		ss.out.unacked = ss.out.unacked[i+1:]
	}
}
