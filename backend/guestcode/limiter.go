package guestcode

import (
	"net/netip"
	"sync"
	"time"
)

// Budget is a token bucket with exponential backoff: Burst attempts back to
// back, one more per Refill; when the bucket is empty the key is blocked for
// BaseBackoff, doubling on each further exhaustion up to MaxBackoff, and the
// doubling resets once the bucket has refilled completely (NIST 800-63B
// §3.2.2: "30 seconds up to an hour").
//
// An attempt takes a token before it is checked and a success gives it back,
// so concurrent guesses cannot all slip past an almost empty bucket, and
// guests who type their code right never use up their NAT's budget.
type Budget struct {
	Burst       int // < 0 disables the budget
	Refill      time.Duration
	BaseBackoff time.Duration
	MaxBackoff  time.Duration
}

// Unlimited disables a budget (benchmarks, tests of the per-guest lock).
var Unlimited = Budget{Burst: -1}

// Defaults. Per IP: 20 attempts, then one per 30 s (≤ 140 in the first hour).
// Per meeting: 100, then one per 6 s (≤ 700/h across every guest and IP).
// The meeting budget also throttles honest guests while a meeting is under
// attack; that is the price of stopping guesses spread across IPs and guests.
var (
	DefaultIPBudget      = Budget{Burst: 20, Refill: 30 * time.Second, BaseBackoff: 30 * time.Second, MaxBackoff: time.Hour}
	DefaultMeetingBudget = Budget{Burst: 100, Refill: 6 * time.Second, BaseBackoff: 10 * time.Second, MaxBackoff: 15 * time.Minute}
)

type bucket struct {
	tokens       float64
	last         time.Time
	strikes      int
	blockedUntil time.Time
}

// limiter keeps buckets in memory. That is enough for one backend process:
// a restart forgets the budgets but not the per-guest failure counts, which
// live in the database. Several replicas need a shared store (later).
type limiter struct {
	b       Budget
	mu      sync.Mutex
	buckets map[string]*bucket
}

const maxBuckets = 100_000

func newLimiter(b Budget) *limiter { return &limiter{b: b, buckets: map[string]*bucket{}} }

func (l *limiter) refill(k *bucket, now time.Time) {
	if el := now.Sub(k.last); el > 0 && l.b.Refill > 0 {
		k.tokens += float64(el) / float64(l.b.Refill)
		k.last = now
	}
	if k.tokens >= float64(l.b.Burst) {
		k.tokens, k.strikes = float64(l.b.Burst), 0
	}
}

// take spends one attempt for key, or says how long to wait.
func (l *limiter) take(key string, now time.Time) (ok bool, retryAfter time.Duration) {
	if l.b.Burst < 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	k := l.buckets[key]
	if k == nil {
		if len(l.buckets) >= maxBuckets {
			l.sweep(now)
		}
		k = &bucket{tokens: float64(l.b.Burst), last: now}
		l.buckets[key] = k
	}
	if now.Before(k.blockedUntil) {
		return false, k.blockedUntil.Sub(now)
	}
	l.refill(k, now)
	if k.tokens >= 1 {
		k.tokens--
		return true, 0
	}
	k.strikes++
	d := l.b.BaseBackoff << min(k.strikes-1, 30)
	if d > l.b.MaxBackoff || d <= 0 {
		d = l.b.MaxBackoff
	}
	k.blockedUntil = now.Add(d)
	return false, d
}

// refund returns the token of an attempt that succeeded.
func (l *limiter) refund(key string, now time.Time) {
	if l.b.Burst < 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if k := l.buckets[key]; k != nil {
		l.refill(k, now)
		k.tokens = min(k.tokens+1, float64(l.b.Burst))
	}
}

// sweep drops buckets that are full and unblocked: they hold no state that a
// fresh bucket would not. Called with mu held when the map is large, so a
// flood of spoofed keys cannot grow memory without bound.
func (l *limiter) sweep(now time.Time) {
	for key, k := range l.buckets {
		l.refill(k, now)
		if !now.Before(k.blockedUntil) && k.tokens >= float64(l.b.Burst) {
			delete(l.buckets, key)
		}
	}
}

// ipKey buckets IPv6 clients by /64: one host usually owns a whole /64, so
// per-address budgets would be free to sidestep.
func ipKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "invalid:" + ip
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
