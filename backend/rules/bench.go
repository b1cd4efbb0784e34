package rules

import (
	"context"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"golang.org/x/text/unicode/norm"

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
	texts := []struct{ field, raw string }{
		{"subject", ev.Subject}, {"location", ev.Location}, {"body", ev.Body}, {"attendees", attendeeNames(ev)},
	}
	out := []FieldText{}
	for _, f := range texts {
		if f.raw == "" {
			continue
		}
		raw := f.raw
		if f.field == "body" && looksLikeHTML(raw) {
			raw = htmlToText(raw)
		}
		t := normalizeText(raw)
		if t == "" {
			continue
		}
		var rs []classifiers.Reason
		for _, r := range reasons {
			if r.Field == f.field && r.Start >= 0 && r.End <= len(t) && r.Start < r.End {
				rs = append(rs, r)
			}
		}
		sort.SliceStable(rs, func(i, j int) bool { return rs[i].Start < rs[j].Start })
		ft := FieldText{Field: f.field}
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

// The functions below mirror classifiers' unexported text normalization,
// which reason offsets refer to. TestHighlightMatchesReasons keeps them in
// step; classifiers could export them and this copy would go.

func attendeeNames(ev classifiers.Event) string {
	var b strings.Builder
	add := func(n string) {
		if strings.TrimSpace(n) == "" {
			return
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(n)
	}
	add(ev.Organizer.Name)
	for _, a := range ev.Attendees {
		add(a.Name)
	}
	return b.String()
}

func normalizeText(s string) string {
	s = norm.NFC.String(s)
	var b strings.Builder
	space := true
	for _, r := range s {
		switch {
		case r == '\u00ad' || r == '\u200b' || r == '\u200c' || r == '\u200d' || r == '\u2060' || r == '\ufeff':
			continue
		case r < utf8.RuneSelf && (r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f' || r == '\v') || r >= utf8.RuneSelf && unicode.IsSpace(r):
			if !space {
				b.WriteByte(' ')
				space = true
			}
			continue
		}
		b.WriteRune(unicode.ToLower(r))
		space = false
	}
	return strings.TrimSuffix(b.String(), " ")
}

func looksLikeHTML(s string) bool {
	for i := strings.IndexByte(s, '<'); i >= 0 && i+1 < len(s); {
		c := s[i+1]
		if ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || c == '/' || c == '!' {
			return strings.IndexByte(s[i+1:], '>') >= 0
		}
		j := strings.IndexByte(s[i+1:], '<')
		if j < 0 {
			return false
		}
		i += 1 + j
	}
	return false
}

func htmlToText(s string) string {
	z := html.NewTokenizer(strings.NewReader(s))
	var b strings.Builder
	skip := 0
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return b.String()
		case html.TextToken:
			if skip == 0 {
				b.Write(z.Text())
			}
		case html.StartTagToken, html.EndTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			switch atom.Lookup(name) {
			case atom.Script, atom.Style, atom.Head, atom.Title, atom.Template, atom.Noscript:
				if tt == html.StartTagToken {
					skip++
				} else if tt == html.EndTagToken && skip > 0 {
					skip--
				}
			case atom.Br, atom.P, atom.Div, atom.Li, atom.Tr, atom.Td, atom.Th, atom.H1, atom.H2,
				atom.H3, atom.H4, atom.H5, atom.H6, atom.Table, atom.Ul, atom.Ol, atom.Blockquote,
				atom.Pre, atom.Hr, atom.Section, atom.Article, atom.Header, atom.Footer, atom.Dd, atom.Dt:
				b.WriteByte('\n')
			}
		}
	}
}
