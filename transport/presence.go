package transport

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/byplatform/byplatform/control"
	"github.com/byplatform/byplatform/engine"
)

// presence is the set of live connections of one (client id, instance id). Its
// connection list is a copy-on-write snapshot, so the relay path reads it without a
// lock; the list changes only under the owning shard's lock.
type presence struct {
	clientID   uuid.UUID
	instanceID uuid.UUID
	conns      atomic.Pointer[[]*conn] // oldest first

	// mu guards the control session. It is held while the session opens, so frames of
	// a second connection wait for the session instead of missing it.
	mu      sync.Mutex
	session ControlSession
	opened  bool
	ended   bool
}

// deliverResult says what happened to a frame handed to a presence.
type deliverResult int

const (
	delivered deliverResult = iota
	deliverOffline
	deliverFull
)

// deliver queues m on one live connection, the newest that has room: a client that
// reconnects gets its frames on the new connection while the old one may be dying.
func (p *presence) deliver(m outMsg) deliverResult {
	conns := p.snapshot()
	if len(conns) == 0 {
		return deliverOffline
	}
	for i := len(conns) - 1; i >= 0; i-- {
		if conns[i].enqueue(m) {
			return delivered
		}
	}
	return deliverFull
}

func (p *presence) snapshot() []*conn {
	if conns := p.conns.Load(); conns != nil {
		return *conns
	}
	return nil
}

// openSession opens the control session once, unless the presence already ended.
func (p *presence) openSession(ctx context.Context, open ControlOpener) {
	if open == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.opened || p.ended || ctx.Err() != nil {
		return
	}
	p.opened = true
	p.session = open(ctx, p.clientID, p.sendControl)
}

// sendControl is the send function given to the control session.
func (p *presence) sendControl(frame []byte) bool {
	// The platform never sends data messages of 16 bytes or less: clients take those
	// sizes for transport probes. Longer than QUIC can frame is refused on every
	// transport, so a frame never depends on which connection it takes.
	if len(frame) <= probeMaxSize || len(frame) > control.MaxQUICMessageSize {
		return false
	}
	return p.deliver(outMsg{data: frame}) == delivered
}

// controlSession returns the open session, or nil.
func (p *presence) controlSession() ControlSession {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.session
}

// end marks the presence ended and returns its control session, or nil if it had none
// or was ended before; the caller closes the session, and the connections.
func (p *presence) end() ControlSession {
	p.mu.Lock()
	defer p.mu.Unlock()
	session := p.session
	p.session, p.ended = nil, true
	return session
}

// presenceShards spreads the presence map over several locks, so that readers relaying
// to different clients rarely meet.
const presenceShards = 64

type presenceShard struct {
	mu sync.RWMutex
	m  map[uuid.UUID]*presence
}

// presences maps client ids to their current presence.
type presences struct {
	shards [presenceShards]presenceShard
}

func (ps *presences) shard(clientID uuid.UUID) *presenceShard {
	// The last byte of a random or time-ordered UUID is random.
	return &ps.shards[clientID[15]%presenceShards]
}

func (ps *presences) lookup(clientID uuid.UUID) *presence {
	sh := ps.shard(clientID)
	sh.mu.RLock()
	p := sh.m[clientID]
	sh.mu.RUnlock()
	return p
}

// add joins c to the presence of its (client, instance). When the client's current
// presence has another instance id, it is replaced and returned as old: the caller ends
// it and closes its connections.
func (ps *presences) add(c *conn) (p, old *presence) {
	clientID := c.auth.ClientID
	sh := ps.shard(clientID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m == nil {
		sh.m = make(map[uuid.UUID]*presence)
	}
	p = sh.m[clientID]
	if p == nil || p.instanceID != c.info.InstanceID {
		old = p
		p = &presence{clientID: clientID, instanceID: c.info.InstanceID}
		sh.m[clientID] = p
	}
	conns := append(slices.Clip(p.snapshot()), c)
	p.conns.Store(&conns)
	c.pres = p
	return p, old
}

// remove takes c out of its presence and reports whether that ended the presence.
func (ps *presences) remove(c *conn) (ended bool) {
	p := c.pres
	sh := ps.shard(p.clientID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	conns := slices.DeleteFunc(slices.Clone(p.snapshot()), func(x *conn) bool { return x == c })
	p.conns.Store(&conns)
	if len(conns) > 0 {
		return false
	}
	if sh.m[p.clientID] == p {
		delete(sh.m, p.clientID)
	}
	return true
}

// take removes the client's presence and returns it, or nil.
func (ps *presences) take(clientID uuid.UUID) *presence {
	sh := ps.shard(clientID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	p := sh.m[clientID]
	delete(sh.m, clientID)
	return p
}

// all returns every current presence.
func (ps *presences) all() []*presence {
	var out []*presence
	for i := range ps.shards {
		sh := &ps.shards[i]
		sh.mu.RLock()
		for _, p := range sh.m {
			out = append(out, p)
		}
		sh.mu.RUnlock()
	}
	return out
}

// Connections returns the client's live connections, oldest first. It implements
// engine.Presence and is safe for concurrent use.
func (s *Server) Connections(clientID uuid.UUID) []engine.Connection {
	p := s.presences.lookup(clientID)
	if p == nil {
		return nil
	}
	conns := p.snapshot()
	out := make([]engine.Connection, 0, len(conns))
	for _, c := range conns {
		info := c.info
		if heard := c.lastRead.Load(); heard != 0 {
			info.LastRead = monoStart.Add(time.Duration(heard))
		}
		out = append(out, info)
	}
	return out
}

// Disconnect closes every connection of the client at once and ends its control
// session. It implements engine.Presence; it waits neither for the connections'
// goroutines nor for the session to finish.
func (s *Server) Disconnect(clientID uuid.UUID) {
	p := s.presences.take(clientID)
	if p == nil {
		return
	}
	s.endPresence(p)
}

// endPresence closes the presence's connections and its control session.
func (s *Server) endPresence(p *presence) {
	for _, c := range p.snapshot() {
		c.close()
	}
	s.closeSession(p.end())
}

// closeSession closes a control session in the background: Close may wait for work in
// progress, such as a database call, and neither Disconnect nor a connection's
// goroutine should wait for that. After Server.Close began, it closes in the caller.
func (s *Server) closeSession(session ControlSession) {
	if session != nil && !s.goTracked(session.Close) {
		session.Close()
	}
}

var _ engine.Presence = (*Server)(nil)
