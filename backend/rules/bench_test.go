package rules_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/motesvakt/motesvakt/backend/rules"
	"github.com/motesvakt/motesvakt/classifiers"
	"github.com/motesvakt/motesvakt/locales"
)

// TestCellOptionsMatchCompile keeps the editor's option lists in step with
// what Compile accepts.
func TestCellOptionsMatchCompile(t *testing.T) {
	c, _ := rules.DefaultContent(nil)
	for cell, opts := range rules.CellOptions {
		for _, v := range append(opts, "not_an_option") {
			op := rules.Op{Kind: rules.OpSetCells, Profile: "open", Cells: map[string]json.RawMessage{cell: json.RawMessage(`"` + v + `"`)}}
			cc := c.Clone()
			if err := op.Apply(&cc); err != nil {
				t.Fatalf("%s=%s: %v", cell, v, err)
			}
			_, err := cc.Compile()
			if (err == nil) != (v != "not_an_option") {
				t.Errorf("%s=%s: compile error %v", cell, v, err)
			}
		}
	}
}

// BenchmarkEngine: what the PolicySource adds to every classification,
// against a bare atomic pointer load as the baseline.
func BenchmarkEngine(b *testing.B) {
	s, _, _ := openStore(b, 0)
	ctx := context.Background()
	var p atomic.Pointer[classifiers.Engine]
	e, _, _ := s.Engine(ctx)
	p.Store(e)
	b.Run("baseline-atomic-load", func(b *testing.B) {
		for b.Loop() {
			if p.Load() == nil {
				b.Fatal()
			}
		}
	})
	b.Run("store-engine", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := s.Engine(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDryRun: a dry run over 1000 stored drafts, against classifying
// the same drafts twice in memory (the floor: a dry run classifies each
// draft under both versions).
func BenchmarkDryRun(b *testing.B) {
	s, _, clk := openStore(b, 0)
	ctx := context.Background()
	e, _, _ := s.Engine(ctx)
	var evs []classifiers.Event
	for i := range 1000 {
		ev := classifiers.Event{Subject: fmt.Sprintf("Möte %d om upphandling och budget", i), Body: "Agenda: genomgång av anbud, tidplan och övrigt. Välkomna!",
			Organizer: classifiers.Attendee{Email: "chef@kommun.se"}, Attendees: []classifiers.Attendee{{Email: "a@kommun.se"}, {Email: "b@extern.se"}}}
		r, _ := e.Classify(ev, locales.Swedish)
		if err := s.RecordDraft(ctx, ev, r, clk.Now().Add(-time.Duration(i)*time.Minute)); err != nil {
			b.Fatal(err)
		}
		evs = append(evs, ev)
	}
	b.Run("baseline-classify-twice", func(b *testing.B) {
		for b.Loop() {
			for _, ev := range evs {
				e.Classify(ev, locales.Swedish)
				e.Classify(ev, locales.Swedish)
			}
		}
	})
	b.Run("dry-run-1000", func(b *testing.B) {
		for b.Loop() {
			if rep, err := s.DryRun(ctx, 1, 30, clk.Now(), locales.Swedish); err != nil || rep.Drafts != 1000 {
				b.Fatal(rep, err)
			}
		}
	})
}
