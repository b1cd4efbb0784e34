package gcal

import (
	"context"
	"testing"
	"time"
)

func TestWorkQueue(t *testing.T) {
	q := NewWorkQueue[string](2)
	if !q.Add("a") || !q.Add("a") || !q.Add("b") {
		t.Fatal("Add refused while there was room (or for a duplicate)")
	}
	if q.Add("c") {
		t.Fatal("Add accepted beyond the queue's size")
	}
	ticks := make(chan time.Time)
	renewed := make(chan struct{}, 1)
	var got []string
	done := make(chan []string)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		q.Run(ctx, func(time.Duration) <-chan time.Time { return ticks }, time.Minute,
			func(k string) {
				got = append(got, k)
				if len(got) == 2 {
					done <- append([]string(nil), got...)
				}
			},
			func() { renewed <- struct{}{} })
	}()
	if g := <-done; len(g) != 2 || g[0] != "a" || g[1] != "b" {
		t.Errorf("worked %v, want [a b] (the duplicate coalesced)", g)
	}
	ticks <- time.Now()
	<-renewed
	// Drained: "a" can be queued again.
	if !q.Add("a") {
		t.Error("a drained item cannot be queued again")
	}
	cancel()
}
