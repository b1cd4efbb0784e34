package rules

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/motesvakt/motesvakt/classifiers"
	"github.com/motesvakt/motesvakt/locales"
)

// RecordDraft keeps a classified draft (subject, body, location, invitees)
// for dry runs, unless draft storage is off. The same draft classified again
// (the add-in classifies as the host types) only refreshes its timestamp
// and latest profile. The caller is the classify endpoint; the draft is
// personal data and is never logged.
func (s *Store) RecordDraft(ctx context.Context, ev classifiers.Event, res classifiers.Result, now time.Time) error {
	if s.cfg.KeepDrafts < 0 {
		return nil
	}
	kept := classifiers.Event{Subject: ev.Subject, Body: ev.Body, Location: ev.Location, Organizer: ev.Organizer, Attendees: ev.Attendees}
	b, err := json.Marshal(kept)
	if err != nil {
		return fmt.Errorf("rules: record draft: %w", err)
	}
	sum := sha256.Sum256(b)
	ms := now.UTC().UnixMilli()
	_, err = s.db.ExecContext(ctx, `INSERT INTO rule_drafts (id, first_seen, last_seen, event, profile, version) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen, profile = excluded.profile, version = excluded.version`,
		hex.EncodeToString(sum[:]), ms, ms, string(b), string(res.Profile), int64(s.Active()))
	if err != nil {
		return fmt.Errorf("rules: record draft: %w", err)
	}
	return nil
}

// Purge deletes drafts older than the retention, and every draft when
// storage is switched off.
func (s *Store) Purge(ctx context.Context, now time.Time) (int64, error) {
	q, args := `DELETE FROM rule_drafts WHERE last_seen < ?`, []any{now.Add(-s.cfg.KeepDrafts).UTC().UnixMilli()}
	if s.cfg.KeepDrafts < 0 {
		q, args = `DELETE FROM rule_drafts`, nil
	}
	r, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("rules: purge drafts: %w", err)
	}
	return r.RowsAffected()
}

// DryRunReport says what a candidate version would do to the drafts seen
// in the last Days days, compared with the active version.
type DryRunReport struct {
	Candidate Version `json:"candidate"`
	Active    Version `json:"active"`
	Days      int     `json:"days"`
	Drafts    int     `json:"drafts"`
	Changed   int     `json:"changed"`
	Stricter  int     `json:"stricter"`
	MoreOpen  int     `json:"more_open"`
	// Transitions counts changes per from→to pair, strictest first.
	Transitions []Transition `json:"transitions"`
	// Examples are up to MaxExamples changed drafts per transition.
	Examples []DryRunExample `json:"examples"`
	// Failed counts stored drafts that no longer pass input validation.
	Failed int `json:"failed,omitempty"`
}

// Transition is a count of drafts moving from one profile to another.
type Transition struct {
	From  classifiers.Profile `json:"from"`
	To    classifiers.Profile `json:"to"`
	Count int                 `json:"count"`
}

// DryRunExample is one draft whose profile would change.
type DryRunExample struct {
	DraftID string                 `json:"draft_id"`
	Seen    time.Time              `json:"seen"`
	Subject string                 `json:"subject"`
	From    classifiers.Profile    `json:"from"`
	To      classifiers.Profile    `json:"to"`
	Gained  []classifiers.Category `json:"gained"`
	Lost    []classifiers.Category `json:"lost"`
	Reasons []classifiers.Reason   `json:"reasons"`
}

// MaxExamples caps the examples per transition.
const MaxExamples = 5

// DryRun re-classifies the stored drafts of the last days under candidate
// and under the active version.
func (s *Store) DryRun(ctx context.Context, candidate Version, days int, now time.Time, lang locales.Lang) (*DryRunReport, error) {
	if days <= 0 {
		days = 30
	}
	cand, err := s.EngineFor(ctx, candidate)
	if err != nil {
		return nil, err
	}
	act, activeV, err := s.Engine(ctx)
	if err != nil {
		return nil, err
	}
	rep := &DryRunReport{Candidate: candidate, Active: Version(activeV), Days: days, Transitions: []Transition{}, Examples: []DryRunExample{}}
	since := now.Add(-time.Duration(days) * 24 * time.Hour).UTC().UnixMilli()
	rows, err := s.db.QueryContext(ctx, `SELECT id, last_seen, event FROM rule_drafts WHERE last_seen >= ? ORDER BY last_seen DESC, id`, since)
	if err != nil {
		return nil, fmt.Errorf("rules: dry run: %w", err)
	}
	defer rows.Close()
	counts := map[[2]classifiers.Profile]int{}
	shown := map[[2]classifiers.Profile]int{}
	for rows.Next() {
		var id, raw string
		var seen int64
		if err := rows.Scan(&id, &seen, &raw); err != nil {
			return nil, fmt.Errorf("rules: dry run: %w", err)
		}
		var ev classifiers.Event
		if err := json.Unmarshal([]byte(raw), &ev); err != nil {
			rep.Failed++
			continue
		}
		a, err1 := act.Classify(ev, lang)
		b, err2 := cand.Classify(ev, lang)
		if err1 != nil || err2 != nil {
			rep.Failed++
			continue
		}
		rep.Drafts++
		if a.Profile == b.Profile {
			continue
		}
		rep.Changed++
		if b.Profile.Rank() > a.Profile.Rank() {
			rep.Stricter++
		} else {
			rep.MoreOpen++
		}
		k := [2]classifiers.Profile{a.Profile, b.Profile}
		counts[k]++
		if shown[k] < MaxExamples {
			shown[k]++
			gained, lost := categoryDelta(a.Categories, b.Categories)
			rep.Examples = append(rep.Examples, DryRunExample{DraftID: id[:16], Seen: time.UnixMilli(seen).UTC(), Subject: ev.Subject,
				From: a.Profile, To: b.Profile, Gained: gained, Lost: lost, Reasons: b.Reasons})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("rules: dry run: %w", err)
	}
	for k, n := range counts {
		rep.Transitions = append(rep.Transitions, Transition{From: k[0], To: k[1], Count: n})
	}
	sort.Slice(rep.Transitions, func(i, j int) bool {
		a, b := rep.Transitions[i], rep.Transitions[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		if a.From != b.From {
			return a.From.Rank() > b.From.Rank()
		}
		return a.To.Rank() > b.To.Rank()
	})
	return rep, nil
}

func categoryDelta(a, b []classifiers.Category) (gained, lost []classifiers.Category) {
	in := func(xs []classifiers.Category, x classifiers.Category) bool {
		for _, y := range xs {
			if y == x {
				return true
			}
		}
		return false
	}
	gained, lost = []classifiers.Category{}, []classifiers.Category{}
	for _, x := range b {
		if !in(a, x) {
			gained = append(gained, x)
		}
	}
	for _, x := range a {
		if !in(b, x) {
			lost = append(lost, x)
		}
	}
	return gained, lost
}
