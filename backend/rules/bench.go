package rules

import (
	"context"
	"sort"

	"github.com/motesvakt/motesvakt/classifiers"
	"github.com/motesvakt/motesvakt/locales"
)

// BenchSide is one classification of the pasted draft.
type BenchSide struct {
	Version Version            `json:"version"`
	Result  classifiers.Result `json:"result"`
	// Fields are the normalized field texts cut into plain and matched
	// segments, ready to render with <mark>.
	Fields []FieldText `json:"fields"`
}

// FieldText is one field of the draft in the form reason offsets refer to.
type FieldText struct {
	Field    string    `json:"field"`
	Segments []Segment `json:"segments"`
}

// Segment is a run of text; Category is set on matched runs.
type Segment struct {
	Text     string               `json:"text"`
	Category classifiers.Category `json:"category,omitempty"`
}

// BenchResult compares a candidate version with the active one.
type BenchResult struct {
	Candidate BenchSide `json:"candidate"`
	Active    BenchSide `json:"active"`
	// ProfileChanged: the candidate decides a different profile.
	ProfileChanged bool                   `json:"profile_changed"`
	Gained         []classifiers.Category `json:"gained"`
	Lost           []classifiers.Category `json:"lost"`
	// Added and Removed are reasons only one side found.
	Added   []classifiers.Reason `json:"added"`
	Removed []classifiers.Reason `json:"removed"`
}

// TestBench classifies ev under candidate and under the active version.
// Input errors come back as *classifiers.InputError.
func (s *Store) TestBench(ctx context.Context, candidate Version, ev classifiers.Event, lang locales.Lang) (*BenchResult, error) {
	cand, err := s.EngineFor(ctx, candidate)
	if err != nil {
		return nil, err
	}
	act, av, err := s.Engine(ctx)
	if err != nil {
		return nil, err
	}
	rb, err := cand.Classify(ev, lang)
	if err != nil {
		return nil, err
	}
	ra, err := act.Classify(ev, lang)
	if err != nil {
		return nil, err
	}
	out := &BenchResult{
		Candidate:      BenchSide{Version: candidate, Result: rb, Fields: Highlight(ev, rb.Reasons)},
		Active:         BenchSide{Version: Version(av), Result: ra, Fields: Highlight(ev, ra.Reasons)},
		ProfileChanged: ra.Profile != rb.Profile,
	}
	out.Gained, out.Lost = categoryDelta(ra.Categories, rb.Categories)
	out.Added, out.Removed = reasonDelta(ra.Reasons, rb.Reasons), reasonDelta(rb.Reasons, ra.Reasons)
	return out, nil
}

// reasonDelta lists reasons of b not in a.
func reasonDelta(a, b []classifiers.Reason) []classifiers.Reason {
	key := func(r classifiers.Reason) string { return string(r.Category) + "|" + r.Field + "|" + r.Match }
	in := map[string]bool{}
	for _, r := range a {
		in[key(r)] = true
	}
	out := []classifiers.Reason{}
	for _, r := range b {
		if !in[key(r)] {
			out = append(out, r)
		}
	}
	return out
}

// Highlight cuts each non-empty field of ev into segments at the reasons'
// offsets. Personal identity numbers show their masked form, never the
// digits.
func Highlight(ev classifiers.Event, reasons []classifiers.Reason) []FieldText {
	out := []FieldText{}
	for _, f := range classifiers.NormalizedFields(ev) {
		t := f.Text
		var rs []classifiers.Reason
		for _, r := range reasons {
			if r.Field == f.Field && r.Start >= 0 && r.End <= len(t) && r.Start < r.End {
				rs = append(rs, r)
			}
		}
		sort.SliceStable(rs, func(i, j int) bool { return rs[i].Start < rs[j].Start })
		ft := FieldText{Field: f.Field}
		pos := 0
		for _, r := range rs {
			if r.Start < pos {
				// Overlapping findings ("contract award decision") merge
				// into one mark.
				if last := &ft.Segments[len(ft.Segments)-1]; r.End > pos && last.Category != classifiers.CategoryPersonalID {
					last.Text += t[pos:r.End]
					pos = r.End
				}
				continue
			}
			if r.Start > pos {
				ft.Segments = append(ft.Segments, Segment{Text: t[pos:r.Start]})
			}
			txt := t[r.Start:r.End]
			if r.Category == classifiers.CategoryPersonalID {
				txt = r.Match
			}
			ft.Segments = append(ft.Segments, Segment{Text: txt, Category: r.Category})
			pos = r.End
		}
		if pos < len(t) {
			ft.Segments = append(ft.Segments, Segment{Text: t[pos:]})
		}
		out = append(out, ft)
	}
	return out
}
