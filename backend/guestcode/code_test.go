package guestcode

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestGenerate(t *testing.T) {
	seen := map[rune]int{}
	codes := map[string]bool{}
	for range 2000 {
		c, err := generate()
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := NormalizeCode(c); !ok || got != c {
			t.Fatalf("generated %q does not normalise to itself", c)
		}
		codes[c] = true
		for _, r := range c {
			seen[r]++
		}
	}
	if got, want := len(seen), len(Alphabet); got != want {
		t.Errorf("%d distinct symbols in 16000 draws, want all %d", got, want)
	}
	// 16000 draws over 30 symbols: ~533 each. A symbol far off means bias.
	for r, n := range seen {
		if n < 380 || n > 700 {
			t.Errorf("symbol %c drawn %d times, expected about 533", r, n)
		}
	}
	if len(codes) < 1999 {
		t.Errorf("only %d distinct codes in 2000", len(codes))
	}
	for _, bad := range "01OILU" {
		if strings.ContainsRune(Alphabet, bad) {
			t.Errorf("alphabet contains ambiguous %c", bad)
		}
	}
}

func TestNormalizeCode(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"ABCD-EFGH", "ABCDEFGH", true},
		{"abcd-efgh", "ABCDEFGH", true},
		{"  abcd efgh\n", "ABCDEFGH", true},
		{"AB CD\tEF-GH", "ABCDEFGH", true},
		{"ABCD–EFGH", "ABCDEFGH", true},      // en dash
		{"ABCD—EFGH", "ABCDEFGH", true},      // em dash
		{"ABCD−EFGH", "ABCDEFGH", true},      // minus sign
		{"ABCD_EFGH", "ABCDEFGH", true},      // underscore
		{"ABCD.EFGH", "ABCDEFGH", true},      // dot
		{"ABCD\u00a0EFGH", "ABCDEFGH", true}, // no-break space
		{"ABCD\u200bEFGH", "ABCDEFGH", true}, // zero-width space
		{"\ufeffABCDEFGH", "ABCDEFGH", true}, // BOM from a paste
		{"ＡＢＣＤ－ＥＦＧＨ", "ABCDEFGH", true},      // full-width
		{"АВСD-ЕFGН", "ABCDEFGH", true},      // Cyrillic А В С Е Н
		{"αβcd-εfgh", "ABCDEFGH", true},      // Greek lower case
		{"2345-6789", "23456789", true},
		{"ABCD-EFG", "ABCDEFG", false},     // short
		{"ABCD-EFGHJ", "ABCDEFGHJ", false}, // long
		{"ABCD-EFG0", "ABCDEFG0", false},   // 0 is not in the alphabet
		{"ABCD-EFGO", "ABCDEFGO", false},   // O neither
		{"ABCD-EFG1", "ABCDEFG1", false},   // nor 1
		{"ABCD-EFGÅ", "ABCDEFGÅ", false},   // nor Å
		{"", "", false},
		{strings.Repeat("A", maxInput+1), "", false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.in), func(t *testing.T) {
			got, ok := NormalizeCode(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Errorf("NormalizeCode(%q) = %q, %v, want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// FuzzNormalizeCode: never panics; a valid result is in the alphabet, is a
// fixed point, and survives Format.
func FuzzNormalizeCode(f *testing.F) {
	for _, s := range []string{"ABCD-EFGH", "abcd efgh", "ＡＢＣＤ－ＥＦＧＨ", "АВСD-ЕFGН", "\u200b", "ß", "ǅ", "\xff\xfe", "ﬀﬀﬀﬀ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := NormalizeCode(s)
		if !ok {
			return
		}
		if len(got) != Length {
			t.Fatalf("ok with length %d: %q", len(got), got)
		}
		for _, r := range got {
			if !strings.ContainsRune(Alphabet, r) {
				t.Fatalf("ok with %q outside the alphabet", r)
			}
		}
		if again, ok2 := NormalizeCode(Format(got)); !ok2 || again != got {
			t.Fatalf("not a fixed point: %q → %q", got, again)
		}
	})
}

func TestCodeNeverPrintsItself(t *testing.T) {
	c := Code{ID: "id1", Meeting: "m", Invitee: "i", ValidFrom: time.Unix(0, 0), ValidUntil: time.Unix(60, 0), plain: "ABCDEFGH"}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("issued", "code", c)
	js, _ := json.Marshal(c)
	for _, out := range []string{
		fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c), fmt.Sprintf("%v", &c), string(js), logs.String(),
	} {
		if strings.Contains(out, "ABCD") || strings.Contains(out, "EFGH") {
			t.Errorf("code leaked: %s", out)
		}
	}
	if got, want := c.Reveal(), "ABCD-EFGH"; got != want {
		t.Errorf("Reveal = %q, want %q", got, want)
	}
}

func TestLimiter(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	l := newLimiter(Budget{Burst: 3, Refill: 10 * time.Second, BaseBackoff: 5 * time.Second, MaxBackoff: 12 * time.Second})
	for i := range 3 {
		if ok, _ := l.take("k", now); !ok {
			t.Fatalf("attempt %d refused inside the burst", i+1)
		}
	}
	steps := []struct {
		advance time.Duration
		ok      bool
		wait    time.Duration
	}{
		{0, false, 5 * time.Second},                // empty: first backoff
		{time.Second, false, 4 * time.Second},      // still blocked
		{4 * time.Second, false, 10 * time.Second}, // unblocked but 5 s refilled only half a token: doubled
		{10 * time.Second, true, 0},                // 15 s since empty: 1.5 tokens
		{0, false, 12 * time.Second},               // 0.5 left: capped backoff
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		ok, wait := l.take("k", now)
		if ok != s.ok || wait != s.wait {
			t.Fatalf("step %d: take = %v, %v, want %v, %v", i, ok, wait, s.ok, s.wait)
		}
	}
	if ok, _ := l.take("other", now); !ok {
		t.Error("keys share a bucket")
	}
	// A full refill forgets the strikes.
	now = now.Add(time.Minute)
	for range 3 {
		l.take("k", now)
	}
	if _, wait := l.take("k", now); wait != 5*time.Second {
		t.Errorf("after a full refill backoff = %v, want the base 5s", wait)
	}
	// A success gives its token back.
	l2 := newLimiter(Budget{Burst: 1, Refill: time.Hour, BaseBackoff: time.Second, MaxBackoff: time.Second})
	for i := range 5 {
		if ok, _ := l2.take("k", now); !ok {
			t.Fatalf("refunded attempt %d refused", i)
		}
		l2.refund("k", now)
	}
	if ok, _ := newLimiter(Unlimited).take("k", now); !ok {
		t.Error("Unlimited refused")
	}
}

func TestIPKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.0.2.1", "192.0.2.1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
		{"nonsense", "invalid:nonsense"},
	}
	for _, tt := range tests {
		if got := ipKey(tt.in); got != tt.want {
			t.Errorf("ipKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
