package transport

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/byplatform/byplatform/engine"
)

// maxBatchBytes bounds how many queued bytes one write carries, so that a long queue
// is written as a few large writes rather than one huge buffer. Each message counts
// with frameOverhead for its WebSocket or QUIC header.
const (
	maxBatchBytes = 64 << 10
	frameOverhead = 10
)

// queueOverhead is what each queued message costs on top of its length, so that a
// queue of tiny messages is bounded too.
const queueOverhead = 64

// outMsg is one message waiting in a send queue. buf, when set, is the pooled buffer
// that holds data; the writer releases it once written or dropped.
type outMsg struct {
	data []byte
	buf  *buffer
}

func (m *outMsg) release() {
	m.buf.release()
	*m = outMsg{}
}

// link is the transport-specific side of a connection.
type link interface {
	// writeBatch writes the messages in order; an empty message is a keepalive. Only
	// the connection's writer calls it, never concurrently.
	writeBatch(msgs []outMsg, deadline time.Time) error
	// close tears the connection down at once, sending nothing more. It is safe to call
	// more than once and concurrently with writeBatch and with the reader.
	close()
}

// conn is one authenticated connection. Its reader is a goroutine of its own, started
// after the handshake; its writer is started on demand when messages are queued and
// exits when the queue is empty, so an idle connection costs one goroutine.
type conn struct {
	srv  *Server
	auth engine.ClientAuth
	info engine.Connection
	log  *slog.Logger
	link link

	// appVersion and transportVersion are what the client reported, for the log.
	appVersion, transportVersion string

	// ctx is cancelled when the connection closes; the control path gets it.
	ctx    context.Context
	cancel context.CancelFunc

	// pres is the presence the connection belongs to; set once before the reader runs.
	pres *presence

	mu      sync.Mutex
	queue   []outMsg
	queued  int  // bytes in queue, including queueOverhead per message
	ping    bool // a keepalive is due
	writing bool // a writer goroutine is running
	closed  bool

	// lastSend is when the last batch was written, in nanoseconds since monoStart.
	lastSend atomic.Int64
	// lastRead is when a message last arrived, in nanoseconds since monoStart.
	lastRead  atomic.Int64
	keepalive *time.Timer
}

// monoStart anchors monotonic timestamps kept as integers.
var monoStart = time.Now()

func monoNow() int64 { return int64(time.Since(monoStart)) }

func (s *Server) newConn(
	auth engine.ClientAuth, info engine.Connection, l link, creds credentials,
) *conn {
	ctx, cancel := context.WithCancel(s.ctx)
	c := &conn{
		srv:              s,
		auth:             auth,
		info:             info,
		link:             l,
		appVersion:       creds.appVersion,
		transportVersion: creds.transportVersion,
		ctx:              ctx,
		cancel:           cancel,
		log: s.log.With(
			"conn_id", info.ConnectionID, "client_id", auth.ClientID,
			"remote", info.Remote, "transport", info.Transport,
		),
	}
	c.lastSend.Store(monoNow())
	return c
}

// start arms the keepalive and ties the connection to its context, so that shutting
// the server down closes it.
func (c *conn) start() {
	c.mu.Lock()
	c.keepalive = time.AfterFunc(c.srv.opts.KeepaliveInterval, c.keepaliveTick)
	c.mu.Unlock()
	context.AfterFunc(c.ctx, c.close)
}

// enqueue queues a message for the writer. It never blocks on I/O; it returns false
// when the connection is closed or its queue is full, and then the caller still owns
// the message.
func (c *conn) enqueue(m outMsg) bool {
	size := len(m.data) + queueOverhead
	c.mu.Lock()
	if c.closed || c.queued+size > c.srv.opts.SendQueueBytes {
		c.mu.Unlock()
		return false
	}
	c.queue = append(c.queue, m)
	c.queued += size
	c.kickLocked()
	c.mu.Unlock()
	return true
}

// kickLocked starts the writer unless it runs. c.mu is held and c is open, so the
// reader has not finished and the server's WaitGroup is above zero.
func (c *conn) kickLocked() {
	if c.writing {
		return
	}
	c.writing = true
	c.srv.wg.Add(1)
	go c.writeLoop()
}

// writeLoop drains the queue in batches until it is empty or the connection closes.
func (c *conn) writeLoop() {
	defer c.srv.wg.Done()
	var batch []outMsg
	for {
		c.mu.Lock()
		if c.closed || (len(c.queue) == 0 && !c.ping) {
			c.writing = false
			c.mu.Unlock()
			return
		}
		batch, c.queue = c.queue, batch[:0]
		c.queued = 0
		if len(batch) == 0 {
			// A keepalive is only due when nothing else was sent: an empty message.
			batch = append(batch, outMsg{})
		}
		c.ping = false
		c.mu.Unlock()

		err := c.writeQueued(batch)
		for i := range batch {
			batch[i].release()
		}
		if err != nil {
			c.log.Debug("write", "err", err)
			c.close()
			return
		}
		c.lastSend.Store(monoNow())
	}
}

// writeQueued writes a drained queue in batches of at most maxBatchBytes.
func (c *conn) writeQueued(msgs []outMsg) error {
	for len(msgs) > 0 {
		n, size := 0, 0
		for n < len(msgs) && (n == 0 || size+len(msgs[n].data)+frameOverhead <= maxBatchBytes) {
			size += len(msgs[n].data) + frameOverhead
			n++
		}
		deadline := time.Now().Add(c.srv.opts.WriteTimeout)
		if err := c.link.writeBatch(msgs[:n], deadline); err != nil {
			return err
		}
		msgs = msgs[n:]
	}
	return nil
}

// keepaliveTick runs on the keepalive timer: it queues an empty message when nothing
// was sent for a whole interval, then re-arms the timer for the next due time.
func (c *conn) keepaliveTick() {
	interval := c.srv.opts.KeepaliveInterval
	idle := time.Duration(monoNow() - c.lastSend.Load())
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if idle < interval && !c.writing {
		c.keepalive.Reset(interval - idle)
		return
	}
	if !c.writing {
		c.ping = true
		c.kickLocked()
	}
	c.keepalive.Reset(interval)
}

// close tears the connection down at once and drops what is queued. It is safe to
// call from any goroutine and more than once.
func (c *conn) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	queue := c.queue
	c.queue, c.queued = nil, 0
	keepalive := c.keepalive
	c.mu.Unlock()

	for i := range queue {
		queue[i].release()
	}
	if keepalive != nil {
		keepalive.Stop()
	}
	c.cancel()
	c.link.close()
}

// isClosed reports whether close was called.
func (c *conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}
