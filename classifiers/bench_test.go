package classifiers

import (
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/motesvakt/motesvakt/locales"
)

// benchDraft is a typical draft: a subject, a ~2 KB Swedish body and 30
// attendees, some external. scripts/bench posts the same file to the HTTP
// API, so both measure one input.
func benchDraft() Event {
	b, err := os.ReadFile("testdata/bench_draft.json")
	if err != nil {
		panic(err)
	}
	ev, err := DecodeEvent(b)
	if err != nil {
		panic(err)
	}
	return ev
}

// BenchmarkClassify compares the engine with the naive baseline in the
// same run: one case-insensitive regexp alternation of every term of the
// default packs over the same text (no boundary rules, no personnummer).
func BenchmarkClassify(b *testing.B) {
	e := testEngine(b)
	ev := benchDraft()
	b.Run("engine", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(ev.Subject) + len(ev.Body) + len(ev.Location)))
		cpu := startCPU()
		for b.Loop() {
			if _, err := e.Classify(ev, locales.Swedish); err != nil {
				b.Fatal(err)
			}
		}
		cpu.report(b)
	})
	packs, err := DefaultPacks()
	if err != nil {
		b.Fatal(err)
	}
	var alts []string
	for _, p := range packs {
		for _, t := range p.Terms {
			alts = append(alts, regexp.QuoteMeta(t.Text))
		}
	}
	re := regexp.MustCompile(`(?i)(` + strings.Join(alts, "|") + `)`)
	b.Run("regexp_baseline", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(ev.Subject) + len(ev.Body) + len(ev.Location)))
		cpu := startCPU()
		defer cpu.report(b)
		for b.Loop() {
			n := 0
			for _, s := range []string{ev.Subject, ev.Location, ev.Body} {
				n += len(re.FindAllStringIndex(s, -1))
			}
			if n == 0 {
				b.Fatal("baseline found nothing")
			}
		}
	})
}

// cpuClock measures process CPU time (user+system) so the figures stay
// meaningful on a shared, overloaded machine where wall time per op is
// inflated by waiting for a core. Reported as cpu-ns/op next to ns/op.
type cpuClock struct{ start int64 }

func cpuNow() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func startCPU() cpuClock { return cpuClock{cpuNow()} }

func (c cpuClock) report(b *testing.B) {
	if b.N > 0 {
		b.ReportMetric(float64(cpuNow()-c.start)/float64(b.N), "cpu-ns/op")
	}
}
