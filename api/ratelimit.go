package api

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Limits are token-bucket rates for the sign-in routes. Each route group has one
// bucket per client address and one per user authority; a request takes a token from
// both.
type Limits struct {
	// AddrBurst tokens per client address, refilled at AddrPerSecond.
	AddrBurst     float64
	AddrPerSecond float64
	// AuthBurst tokens per user authority, refilled at AuthPerSecond.
	AuthBurst     float64
	AuthPerSecond float64
}

// DefaultLimits allow a person a few mistakes and a script very little: per address 30
// attempts then one every 2 s; per user authority 10 then one every 30 s.
var DefaultLimits = Limits{AddrBurst: 30, AddrPerSecond: 0.5, AuthBurst: 10,
	AuthPerSecond: 1.0 / 30}

// limiter holds the buckets. Buckets that have refilled completely are forgotten, so
// its memory follows the number of recently active keys.
type limiter struct {
	limits Limits
	now    func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
	burst  float64
	rate   float64
}

func newLimiter(l Limits) *limiter {
	return &limiter{limits: l, now: time.Now, buckets: make(map[string]*bucket)}
}

// allow takes a token from each key's bucket and reports how long to wait when any of
// them is empty; then it takes none.
func (l *limiter) allow(addrKey, authKey string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.sweep(now)
	keys := []*bucket{l.get("a|"+addrKey, l.limits.AddrBurst, l.limits.AddrPerSecond, now)}
	if authKey != "" {
		keys = append(keys, l.get("u|"+authKey, l.limits.AuthBurst, l.limits.AuthPerSecond, now))
	}
	var wait time.Duration
	for _, b := range keys {
		b.refill(now)
		if b.tokens < 1 {
			need := time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
			wait = max(wait, need)
		}
	}
	if wait > 0 {
		return false, wait
	}
	for _, b := range keys {
		b.tokens--
	}
	return true, 0
}

func (l *limiter) get(key string, burst, rate float64, now time.Time) *bucket {
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: burst, at: now, burst: burst, rate: rate}
		l.buckets[key] = b
	}
	return b
}

func (b *bucket) refill(now time.Time) {
	if d := now.Sub(b.at).Seconds(); d > 0 {
		b.tokens = math.Min(b.burst, b.tokens+d*b.rate)
		b.at = now
	}
}

// sweep drops full buckets once a minute.
func (l *limiter) sweep(now time.Time) {
	if now.Sub(l.swept) < time.Minute {
		return
	}
	l.swept = now
	for k, b := range l.buckets {
		b.refill(now)
		if b.tokens >= b.burst {
			delete(l.buckets, k)
		}
	}
}

// limit applies the sign-in rate limits of a route group to a request; it answers 429
// with Retry-After and reports false when the caller must wait.
func (s *Server) limit(w http.ResponseWriter, r *http.Request, group, userAuth string) bool {
	authKey := ""
	if userAuth != "" {
		authKey = group + "|" + userAuth
	}
	ok, wait := s.limiter.allow(group+"|"+s.clientAddr(r).String(), authKey)
	if ok {
		return true
	}
	secs := int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	writeStatus(w, http.StatusTooManyRequests, "too many attempts, try again later")
	return false
}
