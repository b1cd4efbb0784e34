package classifiers

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/motesvakt/motesvakt/locales"
)

// unmasked finds a full personal number shape in output: six or eight
// digits, an optional separator, four digits.
var unmasked = regexp.MustCompile(`\d{6}(\d{2})?[-+ ]?\d{4}`)

func FuzzClassify(f *testing.F) {
	for _, s := range []string{"HR-möte med Ahrén", "personnummer 811218-9876", "<p>anbud&nbsp;811218-9876</p>",
		"Incidentfri säkerhetsincident", "Arbetsmiljö\u00adärende", "İSTANBUL ǅ ß ẞ", "a\u0308\u0308\u0308", "<script>"} {
		f.Add(s, s, "a@kommun.se")
	}
	e := testEngine(f)
	f.Fuzz(func(t *testing.T, subject, body, email string) {
		ev := Event{Subject: subject, Body: body, Attendees: []Attendee{{Email: email, Name: subject}}}
		res, err := e.Classify(ev, locales.Swedish)
		if err != nil {
			if ValidateEvent(ev) == nil {
				t.Fatalf("classify failed on valid input: %v", err)
			}
			return
		}
		fields := map[string]string{"subject": subject, "body": body, "attendees": attendeeNames(ev)}
		for _, r := range res.Reasons {
			raw := fields[r.Field]
			if r.Field == "body" && looksLikeHTML(raw) {
				raw = htmlToText(raw)
			}
			norm, _ := normalize(nil, raw, nil)
			if r.Start < 0 || r.End > len(norm) || r.Start > r.End {
				t.Fatalf("reason %+v outside normalized %s (len %d)", r, r.Field, len(norm))
			}
			if !utf8.Valid(norm[r.Start:r.End]) {
				t.Fatalf("reason %+v splits a rune", r)
			}
		}
		out, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		// No personal number the detector found may appear unmasked.
		for _, h := range findAllPnr(subject, body, attendeeNames(ev)) {
			if strings.Contains(string(out), h) {
				t.Fatalf("output contains unmasked %q", h)
			}
		}
		for _, r := range res.Reasons {
			if r.Category == CategoryPersonalID && unmasked.MatchString(r.Match) {
				t.Fatalf("unmasked match %q", r.Match)
			}
		}
	})
}

// findAllPnr returns the raw (normalized) numbers the detector accepts.
func findAllPnr(texts ...string) []string {
	var out []string
	for _, s := range texts {
		if looksLikeHTML(s) {
			s = htmlToText(s)
		}
		norm, _ := normalize(nil, s, nil)
		for _, h := range findPersonnummer(norm, pnrKeys, 300, nil) {
			out = append(out, string(norm[h.start:h.end]))
		}
	}
	return out
}

func FuzzPersonnummer(f *testing.F) {
	for _, s := range []string{"640823-3234", "19640823-3234", "701063-2391", "556677-8899", "070-123 45 67", "8112189876", "+46 640823 3234"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		norm, _ := normalize(nil, s, nil)
		for _, h := range findPersonnummer(norm, pnrKeys, 300, nil) {
			if h.start < 0 || h.end > len(norm) || h.start >= h.end {
				t.Fatalf("span [%d,%d) out of %d", h.start, h.end, len(norm))
			}
			span := norm[h.start:h.end]
			var digits []byte
			for _, c := range span {
				if isDigit(c) {
					digits = append(digits, c)
				}
			}
			if len(digits) != 10 && len(digits) != 12 {
				t.Fatalf("hit %q has %d digits", span, len(digits))
			}
			if !validPnr(digits) {
				t.Fatalf("hit %q fails validation", span)
			}
			if strings.Count(h.masked, "*") != 4 || unmasked.MatchString(h.masked) {
				t.Fatalf("mask %q leaks", h.masked)
			}
		}
	})
}
