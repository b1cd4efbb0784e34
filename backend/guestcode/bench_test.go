package guestcode

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

type benchResult struct {
	perSec  float64       // attempts per second
	checked int           // attempts that reached the code check
	p99     time.Duration // latency
}

// runRedeems does n redeems and measures them. guess(i) gives email, code, ip.
func runRedeems(b *testing.B, svc *Service, n int, guess func(i int) (string, string, string)) benchResult {
	ctx := context.Background()
	lat := make([]time.Duration, 0, n)
	checked := 0
	start := time.Now()
	for i := range n {
		email, code, ip := guess(i)
		t0 := time.Now()
		_, err := svc.Redeem(ctx, "m1", email, code, ip)
		lat = append(lat, time.Since(t0))
		var rl *RateLimitError
		switch {
		case err == nil, errors.Is(err, ErrInvalid):
			checked++
		case errors.As(err, &rl):
		default:
			b.Fatal(err)
		}
	}
	el := time.Since(start)
	slices.Sort(lat)
	return benchResult{perSec: float64(n) / el.Seconds(), checked: checked, p99: lat[len(lat)*99/100]}
}

func benchFixture(b *testing.B, opts Options) (*fixture, []Code) {
	f := newFixture(b, opts)
	f.svc.opts.Clock = func() time.Time { return start.Add(time.Since(benchEpoch)) } // real pace, inside the window
	codes := make([]Code, 200)
	for i := range codes {
		codes[i] = f.issue(b, "m1", InviteeID(fmt.Sprintf("inv%d", i)), fmt.Sprintf("g%d@example.org", i),
			Window{Start: start, End: start.Add(24 * time.Hour)})
	}
	return f, codes
}

var benchEpoch = time.Now()

// BenchmarkRedeemAttack: one client guesses wrong codes for 200 guests as
// fast as it can. With the budgets in place almost every guess is refused by
// the in-memory limiter before it reaches the database; with them disabled
// every guess costs a write transaction and the server's speed is the only
// limit. "checked" counts the guesses of b.N that were compared with a code:
// what an attacker actually gets to try.
func BenchmarkRedeemAttack(b *testing.B) {
	guess := func(i int) (string, string, string) {
		return fmt.Sprintf("g%d@example.org", i%200), "2222-2222", "203.0.113.66"
	}
	fl, _ := benchFixture(b, Options{})
	fu, _ := benchFixture(b, noBudgets)
	b.ResetTimer()
	lim := runRedeems(b, fl.svc, b.N, guess)
	unl := runRedeems(b, fu.svc, b.N, guess)
	b.StopTimer()
	b.ReportMetric(float64(lim.checked), "limited-checked")
	b.ReportMetric(float64(unl.checked), "unlimited-checked")
	b.ReportMetric(lim.perSec, "limited-attempts/s")
	b.ReportMetric(unl.perSec, "unlimited-attempts/s")
	b.ReportMetric(float64(lim.p99.Microseconds()), "limited-p99-µs")
	b.ReportMetric(float64(unl.p99.Microseconds()), "unlimited-p99-µs")
}

// BenchmarkRedeemLegit: guests redeeming their right codes (rejoins), with
// and without budgets, from a shared NAT address. Successes refund their
// token, so the limiter must cost honest guests next to nothing.
func BenchmarkRedeemLegit(b *testing.B) {
	fl, cl := benchFixture(b, Options{})
	fu, cu := benchFixture(b, noBudgets)
	pick := func(codes []Code) func(int) (string, string, string) {
		return func(i int) (string, string, string) {
			return fmt.Sprintf("g%d@example.org", i%200), codes[i%200].Reveal(), "198.51.100.1"
		}
	}
	b.ResetTimer()
	lim := runRedeems(b, fl.svc, b.N, pick(cl))
	unl := runRedeems(b, fu.svc, b.N, pick(cu))
	b.StopTimer()
	b.ReportMetric(lim.perSec, "limited-redeems/s")
	b.ReportMetric(unl.perSec, "unlimited-redeems/s")
	b.ReportMetric(float64(lim.p99.Microseconds()), "limited-p99-µs")
	b.ReportMetric(float64(unl.p99.Microseconds()), "unlimited-p99-µs")
	b.ReportMetric(lim.perSec/unl.perSec, "limited/unlimited")
}
