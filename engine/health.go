package engine

import (
	"context"
	"math"
	"net/netip"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/byplatform/byplatform/matcher"
)

// Provider health.
//
// A provider is a client that sent Provide. It is a healthy candidate, and so in the
// matcher's pool, while all of these hold:
//   - it has at least one authenticated connection,
//   - some connection of it was heard from within two keepalive periods,
//   - its location is known (GeoIP of its first connection's address, or the default),
//   - it provides at least one mode,
//   - it has not been removed.
//
// Every change is pushed into the pool at once, so sampling never sees a provider that
// left. Within the pool, sampling is weighted by a health score in (0, 1]:
//
//	score = max(0.05, 0.5^(reconnects/4) × 0.5^(failures/2))
//
// where reconnects counts the provider's connections opened in the last 10 minutes
// beyond the first, and failures counts its disputed contracts in the last hour. A
// provider that reconnects four extra times in ten minutes is drawn half as often as a
// steady one; two disputes halve it again.
const (
	churnWindow   = 10 * time.Minute
	failureWindow = time.Hour
	minScore      = 0.05
)

// healthMonitor keeps per-provider live state and mirrors it into the pool.
type healthMonitor struct {
	mu        sync.Mutex
	providers map[uuid.UUID]*providerState
}

type providerState struct {
	networkID uuid.UUID
	conns     map[uuid.UUID]Connection
	// location is the city the provider is at; zero when unknown.
	location uuid.UUID
	modes    matcher.ModeSet
	// modesKnown is false until the provide keys were read.
	modesKnown bool
	connects   []time.Time
	failures   []time.Time
	// quiet is set by the sweeper when no connection was heard from in time.
	quiet  bool
	inPool bool
	weight float64
}

func (h *healthMonitor) get(clientID, networkID uuid.UUID) *providerState {
	p := h.providers[clientID]
	if p == nil {
		p = &providerState{networkID: networkID, conns: make(map[uuid.UUID]Connection)}
		h.providers[clientID] = p
	}
	return p
}

// score computes the sampling weight at now and drops events that left their window.
func (p *providerState) score(now time.Time) float64 {
	p.connects = recent(p.connects, now.Add(-churnWindow))
	p.failures = recent(p.failures, now.Add(-failureWindow))
	reconnects := max(len(p.connects)-1, 0)
	s := math.Pow(0.5, float64(reconnects)/4) * math.Pow(0.5, float64(len(p.failures))/2)
	return max(s, minScore)
}

func recent(ts []time.Time, since time.Time) []time.Time {
	i := 0
	for i < len(ts) && ts[i].Before(since) {
		i++
	}
	return ts[i:]
}

func (p *providerState) healthy() bool {
	return len(p.conns) > 0 && !p.quiet && p.location != uuid.Nil && p.modes != 0
}

// Connected is called by the transports for every authenticated connection.
func (e *Engine) Connected(auth ClientAuth, conn Connection) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	loc := e.locate(conn.Remote.Addr())
	modes, known := e.loadModes(ctx, auth.ClientID)
	now := e.now()
	e.health.mu.Lock()
	defer e.health.mu.Unlock()
	p := e.health.get(auth.ClientID, auth.NetworkID)
	// A provider that comes back after losing every connection may have moved.
	if len(p.conns) == 0 || p.location == uuid.Nil {
		p.location = loc
	}
	p.conns[conn.ConnectionID] = conn
	p.connects = append(p.connects, now)
	p.quiet = false
	if !p.modesKnown && known {
		p.modes, p.modesKnown = modes, true
	}
	e.syncPool(auth.ClientID, p, now)
}

// Disconnected is called by the transports when a connection ends.
func (e *Engine) Disconnected(auth ClientAuth, conn Connection) {
	e.health.mu.Lock()
	defer e.health.mu.Unlock()
	p := e.health.providers[auth.ClientID]
	if p == nil {
		return
	}
	delete(p.conns, conn.ConnectionID)
	now := e.now()
	e.syncPool(auth.ClientID, p, now)
	// Forget an offline provider once its churn and failures no longer count.
	p.score(now)
	if len(p.conns) == 0 && len(p.connects) == 0 && len(p.failures) == 0 {
		delete(e.health.providers, auth.ClientID)
	}
}

// providerChanged is called when a client's provide keys change.
func (e *Engine) providerChanged(ctx context.Context, clientID uuid.UUID) {
	modes, known := e.loadModes(ctx, clientID)
	e.health.mu.Lock()
	defer e.health.mu.Unlock()
	p := e.health.providers[clientID]
	if p == nil || !known {
		return
	}
	p.modes, p.modesKnown = modes, true
	e.syncPool(clientID, p, e.now())
}

// providerRemoved takes a removed client out of the pool at once.
func (e *Engine) providerRemoved(clientID uuid.UUID) {
	e.health.mu.Lock()
	defer e.health.mu.Unlock()
	if p := e.health.providers[clientID]; p != nil {
		p.conns = map[uuid.UUID]Connection{}
		p.modes = 0
		e.syncPool(clientID, p, e.now())
		delete(e.health.providers, clientID)
	}
}

// contractFailed lowers a provider's score after a disputed contract.
func (e *Engine) contractFailed(clientID uuid.UUID) {
	e.health.mu.Lock()
	defer e.health.mu.Unlock()
	if p := e.health.providers[clientID]; p != nil {
		now := e.now()
		p.failures = append(p.failures, now)
		e.syncPool(clientID, p, now)
	}
}

// syncPool mirrors a provider's state into the pool. The caller holds health.mu.
func (e *Engine) syncPool(clientID uuid.UUID, p *providerState, now time.Time) {
	if !p.healthy() {
		if p.inPool {
			e.pool.Remove(clientID)
			p.inPool = false
			e.metrics.unhealthy.Add(1)
			e.log.Debug("provider became unhealthy", "client_id", clientID)
		}
		return
	}
	w := p.score(now)
	err := e.pool.Set(matcher.Provider{ClientID: clientID, NetworkID: p.networkID,
		LocationID: p.location, Modes: p.modes, Weight: w})
	if err != nil {
		e.log.Warn("provider not pooled", "client_id", clientID, "err", err)
		return
	}
	if !p.inPool {
		e.metrics.healthy.Add(1)
		e.log.Debug("provider became healthy", "client_id", clientID)
	}
	p.inPool, p.weight = true, w
}

// loadModes reads the modes a client provides from its keys.
func (e *Engine) loadModes(ctx context.Context, clientID uuid.UUID) (matcher.ModeSet, bool) {
	keys, err := e.providerKeys(ctx, clientID)
	if err != nil {
		e.log.Warn("provide keys unreadable", "client_id", clientID, "err", err)
		return 0, false
	}
	var modes matcher.ModeSet
	for m := range keys {
		modes |= matcher.Modes(matcher.Mode(m))
	}
	return modes, true
}

// sweepHealth marks providers whose connections all went quiet for two keepalive
// periods as unhealthy, and brings them back when they are heard from again. It runs
// until ctx is done.
func (e *Engine) sweepHealth(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.checkQuiet(2 * every)
		}
	}
}

func (e *Engine) checkQuiet(limit time.Duration) {
	pr := e.cfg.Presence
	now := e.now()
	e.health.mu.Lock()
	defer e.health.mu.Unlock()
	for id, p := range e.health.providers {
		if len(p.conns) == 0 {
			// Forget an offline provider once its churn and failures no longer count.
			if p.score(now); len(p.connects) == 0 && len(p.failures) == 0 {
				delete(e.health.providers, id)
			}
			continue
		}
		if pr == nil {
			continue
		}
		heard := false
		for _, c := range pr.Connections(id) {
			if c.LastRead.IsZero() || now.Sub(c.LastRead) <= limit {
				heard = true
				break
			}
		}
		if p.quiet != !heard {
			p.quiet = !heard
			e.syncPool(id, p, now)
		}
	}
}

// locate places an address in the catalog: its city, added to the catalog if new.
// It returns the zero id when the address cannot be placed.
func (e *Engine) locate(addr netip.Addr) uuid.UUID {
	if e.cfg.Locator == nil {
		return uuid.Nil
	}
	place, ok := e.cfg.Locator.Locate(addr)
	if !ok {
		return uuid.Nil
	}
	loc, err := e.catalog.Add(catalogPlace(place.City, place.Region, place.CountryCode))
	if err != nil {
		e.log.Warn("location not added", "place", place.String(), "err", err)
		return uuid.Nil
	}
	return loc.ID
}
