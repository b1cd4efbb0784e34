package classifiers

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/motesvakt/motesvakt/locales"
)

var update = flag.Bool("update", false, "rewrite want_reasons in testdata/corpus.jsonl (want_profile is never rewritten)")

// goldenReason is the part of a Reason the corpus pins down; offsets are
// checked separately against the match.
type goldenReason struct {
	Category Category `json:"category"`
	Field    string   `json:"field"`
	Match    string   `json:"match"`
}

type goldenCase struct {
	Name        string          `json:"name"`
	WantProfile Profile         `json:"want_profile"`
	Event       json.RawMessage `json:"event"`
	WantReasons []goldenReason  `json:"want_reasons"`
}

func testEngine(tb testing.TB) *Engine {
	tb.Helper()
	pol, err := DefaultPolicy("kommun.se")
	if err != nil {
		tb.Fatal(err)
	}
	e, err := Compile(pol)
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// TestGoldenCorpus runs every draft in testdata/corpus.jsonl. The expected
// profile is hand-written and is the contract; the expected reasons were
// generated with -update and reviewed.
func TestGoldenCorpus(t *testing.T) {
	path := filepath.Join("testdata", "corpus.jsonl")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	e := testEngine(t)
	var cases []goldenCase
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var gc goldenCase
		if err := json.Unmarshal(sc.Bytes(), &gc); err != nil {
			t.Fatalf("corpus line %d: %v", len(cases)+1, err)
		}
		cases = append(cases, gc)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 150 {
		t.Errorf("corpus has %d drafts, want at least 150", len(cases))
	}
	for i := range cases {
		gc := &cases[i]
		t.Run(gc.Name, func(t *testing.T) {
			ev, err := DecodeEvent(gc.Event)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			res, err := e.Classify(ev, locales.Swedish)
			if err != nil {
				t.Fatalf("classify: %v", err)
			}
			if got, want := res.Profile, gc.WantProfile; got != want {
				t.Errorf("profile = %s, want %s; reasons %+v", got, want, res.Reasons)
			}
			got := make([]goldenReason, 0, len(res.Reasons))
			for _, r := range res.Reasons {
				got = append(got, goldenReason{r.Category, r.Field, r.Match})
				checkOffsets(t, ev, r)
			}
			if *update {
				gc.WantReasons = got
				return
			}
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(gc.WantReasons)
			if !bytes.Equal(gj, wj) {
				t.Errorf("reasons\n got %s\nwant %s", gj, wj)
			}
		})
	}
	if *update {
		var buf bytes.Buffer
		for _, gc := range cases {
			if gc.WantReasons == nil {
				gc.WantReasons = []goldenReason{}
			}
			b, err := json.Marshal(gc)
			if err != nil {
				t.Fatal(err)
			}
			buf.Write(b)
			buf.WriteByte('\n')
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// checkOffsets: Start/End address the reason's match in the field's
// normalized text (masked for personal numbers).
func checkOffsets(t *testing.T, ev Event, r Reason) {
	t.Helper()
	var raw string
	switch r.Field {
	case "subject":
		raw = ev.Subject
	case "body":
		raw = ev.Body
		if looksLikeHTML(raw) {
			raw = htmlToText(raw)
		}
	case "location":
		raw = ev.Location
	case "attendees":
		raw = attendeeNames(ev)
	default:
		t.Fatalf("unknown field %q", r.Field)
	}
	norm, _ := normalize(nil, raw, nil)
	if r.Start < 0 || r.End > len(norm) || r.Start >= r.End {
		t.Fatalf("offsets [%d,%d) outside %q (len %d)", r.Start, r.End, norm, len(norm))
	}
	span := string(norm[r.Start:r.End])
	if r.Category == CategoryPersonalID {
		if got, want := maskPnr([]byte(span)), r.Match; got != want {
			t.Errorf("masked span = %q, want %q", got, want)
		}
		if strings.Count(r.Match, "*") != 4 {
			t.Errorf("match %q is not masked", r.Match)
		}
		return
	}
	if span != r.Match {
		t.Errorf("span [%d,%d) = %q, want %q", r.Start, r.End, span, r.Match)
	}
}
