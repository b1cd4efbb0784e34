package classifiers

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	ahocorasick "github.com/petar-dambovaliev/aho-corasick"
)

// Policy is everything Compile needs: the packs, the profile table and the
// organisation's own domains.
type Policy struct {
	Packs    []Pack
	Profiles map[Profile]Settings
	// InternalDomains are the organisation's mail domains; subdomains count
	// as internal. When empty, the organizer's domain is taken as internal.
	InternalDomains []string
	// FreeMailDomains flags private addresses; nil means the built-in list.
	FreeMailDomains []string
}

// DefaultPolicy is the embedded packs and the DESIGN.md profile table.
func DefaultPolicy(internalDomains ...string) (Policy, error) {
	packs, err := DefaultPacks()
	if err != nil {
		return Policy{}, err
	}
	return Policy{Packs: packs, Profiles: DefaultProfiles(), InternalDomains: internalDomains}, nil
}

// termRef ties an automaton pattern back to the term(s) it came from; one
// pattern text may belong to several packs or languages.
type termRef struct {
	pack   int
	text   string // normalized term
	lang   string
	mode   MatchMode
	weight float64
}

// Engine is a compiled policy. It is immutable and safe for concurrent use.
type Engine struct {
	packs     []Pack
	profiles  map[Profile]Settings
	internal  []string
	freeMail  map[string]bool
	ac        ahocorasick.AhoCorasick
	patterns  []string
	refs      [][]termRef // by pattern index
	pnrPack   int         // index of the personnummer pack, -1 if none
	pnrKeys   []string    // normalized keywords
	pnrWindow int
	packByCat map[Category]int
	bufs      sync.Pool
}

// Compile validates a policy and builds the matcher. Every problem is
// reported at once in a *ValidationError.
func Compile(p Policy) (*Engine, error) {
	var probs []Problem
	e := &Engine{pnrPack: -1, packByCat: map[Category]int{}}
	if p.Profiles == nil {
		p.Profiles = DefaultProfiles()
	}
	for _, prof := range Profiles {
		s, ok := p.Profiles[prof]
		if !ok {
			probs = append(probs, Problem{Profile: prof, Key: "classify.rules.missing_profile"})
			continue
		}
		probs = append(probs, s.problems(prof)...)
	}
	for prof := range p.Profiles {
		if !prof.Valid() {
			probs = append(probs, Problem{Profile: prof, Key: "classify.rules.bad_profile", Value: string(prof)})
		}
	}
	e.profiles = p.Profiles

	patIndex := map[string]int{}
	var scratch []byte
	for pi, pk := range p.Packs {
		if pk.Category == "" || !validName(string(pk.Category)) {
			probs = append(probs, Problem{Pack: pk.Category, Field: "category", Value: string(pk.Category), Key: "classify.rules.bad_category"})
		}
		if _, dup := e.packByCat[pk.Category]; dup {
			probs = append(probs, Problem{Pack: pk.Category, Key: "classify.rules.duplicate_category"})
		}
		e.packByCat[pk.Category] = pi
		if !pk.Profile.Valid() {
			probs = append(probs, Problem{Pack: pk.Category, Field: "profile", Value: string(pk.Profile), Key: "classify.rules.bad_profile"})
		}
		if pk.Downgrade != DowngradeAllowedWithReason && pk.Downgrade != DowngradeForbidden {
			probs = append(probs, Problem{Pack: pk.Category, Field: "downgrade", Value: pk.Downgrade, Key: "classify.rules.bad_downgrade"})
		}
		switch pk.Detector {
		case "":
			if len(pk.Terms) == 0 {
				probs = append(probs, Problem{Pack: pk.Category, Key: "classify.rules.no_terms"})
			}
		case DetectorPersonnummer:
			if e.pnrPack >= 0 {
				probs = append(probs, Problem{Pack: pk.Category, Field: "detector", Value: pk.Detector, Key: "classify.rules.duplicate_detector"})
			}
			e.pnrPack = pi
			e.pnrWindow = pk.ProximityChars
			if e.pnrWindow <= 0 {
				e.pnrWindow = 300
			}
			for _, k := range pk.Keywords {
				var nk []byte
				nk, scratch = normalize(nil, k, scratch)
				if len(nk) == 0 {
					probs = append(probs, Problem{Pack: pk.Category, Field: "keywords", Key: "classify.rules.empty_term"})
					continue
				}
				e.pnrKeys = append(e.pnrKeys, string(nk))
			}
		default:
			probs = append(probs, Problem{Pack: pk.Category, Field: "detector", Value: pk.Detector, Key: "classify.rules.bad_detector"})
		}
		seen := map[string]bool{}
		for _, t := range pk.Terms {
			var nb []byte
			nb, scratch = normalize(nil, t.Text, scratch)
			nt := string(nb)
			bad := false
			if nt == "" {
				probs = append(probs, Problem{Pack: pk.Category, Term: t.Text, Key: "classify.rules.empty_term"})
				continue
			}
			if !wordAt(nb, 0) || !wordBefore(nb, len(nb)) {
				// A term must begin and end with a letter or digit, or the
				// boundary rules below have nothing to anchor on.
				probs = append(probs, Problem{Pack: pk.Category, Term: t.Text, Key: "classify.rules.bad_term"})
				bad = true
			}
			if t.Lang != LangSwedish && t.Lang != LangEnglish {
				probs = append(probs, Problem{Pack: pk.Category, Term: t.Text, Field: "lang", Value: t.Lang, Key: "classify.rules.bad_lang"})
				bad = true
			}
			switch t.Match {
			case MatchToken, MatchPrefix, MatchStem:
				if t.Match != MatchToken && utf8.RuneCountInString(nt) <= 3 {
					probs = append(probs, Problem{Pack: pk.Category, Term: t.Text, Field: "match", Value: string(t.Match), Key: "classify.rules.short_term_mode"})
					bad = true
				}
			default:
				probs = append(probs, Problem{Pack: pk.Category, Term: t.Text, Field: "match", Value: string(t.Match), Key: "classify.rules.bad_mode"})
				bad = true
			}
			if !(t.Weight > 0 && t.Weight <= 10) {
				probs = append(probs, Problem{Pack: pk.Category, Term: t.Text, Field: "weight", Value: fmt.Sprint(t.Weight), Key: "classify.rules.bad_weight"})
				bad = true
			}
			key := t.Lang + "\x00" + nt
			if seen[key] {
				probs = append(probs, Problem{Pack: pk.Category, Term: t.Text, Key: "classify.rules.duplicate_term"})
				bad = true
			}
			seen[key] = true
			if bad {
				continue
			}
			idx, ok := patIndex[nt]
			if !ok {
				idx = len(e.patterns)
				patIndex[nt] = idx
				e.patterns = append(e.patterns, nt)
				e.refs = append(e.refs, nil)
			}
			e.refs[idx] = append(e.refs[idx], termRef{pack: pi, text: nt, lang: t.Lang, mode: t.Match, weight: t.Weight})
		}
	}
	for _, d := range p.InternalDomains {
		nd := normalizeDomain(d)
		if !validDomain(nd) {
			probs = append(probs, Problem{Field: "internal_domains", Value: d, Key: "classify.rules.bad_domain"})
			continue
		}
		e.internal = append(e.internal, nd)
	}
	fm := p.FreeMailDomains
	if fm == nil {
		fm = builtinFreeMail
	}
	e.freeMail = make(map[string]bool, len(fm))
	for _, d := range fm {
		e.freeMail[normalizeDomain(d)] = true
	}
	if len(probs) > 0 {
		return nil, &ValidationError{Problems: probs}
	}
	e.packs = p.Packs
	// StandardMatch + overlapping iteration: a pattern rejected by the
	// boundary rules must not hide an overlapping one that passes (leftmost-
	// longest would report only one). DFA: O(n) per byte with no backtracking;
	// the automaton is a few hundred KB for our packs. We do our own
	// rune-aware boundary checks; the library's MatchOnlyWholeWords inspects
	// single bytes and would treat "ö" as a boundary.
	b := ahocorasick.NewAhoCorasickBuilder(ahocorasick.Opts{MatchKind: ahocorasick.StandardMatch, DFA: true})
	e.ac = b.Build(e.patterns)
	e.bufs.New = func() any { return new(workspace) }
	return e, nil
}

func validName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r == '_' || r >= '0' && r <= '9') {
			return false
		}
	}
	return s != ""
}

// Swedish inflection endings (nouns: definite/plural/genitive; adjectives;
// participles). Kept as a closed list so a stem does not match an
// arbitrary longer word.
var svSuffixes = setOf("a", "e", "n", "t", "s", "r",
	"en", "et", "er", "ar", "or", "na", "ns", "ts", "rs", "es", "as",
	"ens", "ets", "ers", "ars", "ors", "ena", "nas", "ade", "ad", "at", "ande", "ende", "andet",
	"erna", "arna", "orna", "ernas", "arnas", "ornas", "arens", "aren", "are",
	"iga", "igt", "ig", "lig", "liga", "ligt", "ell", "ella", "ellt", "isk", "iska", "iskt",
	"är", "ära", "ärt", "ära", "ärer", "ärerna", "erad", "erat", "erade", "era", "erar", "ering", "eringen")

// English inflection endings. "tender" matches "tenders", "tendered",
// "tendering" but not "tenderness"; "incident" not "incidental".
var enSuffixes = setOf("s", "es", "ed", "d", "ing", "ings", "er", "ers", "ies", "ied")

// Compound tails that negate the head: "incidentfri" (incident-free) is
// good news, not an incident.
var negatingTails = []string{"fri", "lös"}

func setOf(xs ...string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// matchKind grades how a term met the text.
type matchKind int

const (
	matchExact    matchKind = iota // whole token(s)
	matchInflect                   // stem + inflection ending
	matchCompound                  // part of a closed compound
)

// accept decides whether the pattern occurrence t[s:e] is a real use of
// the term, applying the word-boundary rules of its mode and language.
func (r termRef) accept(t []byte, s, e int) (matchKind, bool) {
	kind := matchExact
	if wordBefore(t, s) {
		// Inside a word on the left: only Swedish stems may be a compound
		// tail, and the head must be at least two letters ("dataintrång").
		if r.mode != MatchStem || r.lang != LangSwedish {
			return 0, false
		}
		ts := tokenStart(t, s)
		if ts < 0 || utf8.RuneCount(t[ts:s]) < 2 {
			return 0, false
		}
		kind = matchCompound
	}
	if !wordAt(t, e) {
		return kind, true
	}
	if r.mode == MatchToken {
		return 0, false
	}
	te := tokenEnd(t, e)
	if te < 0 {
		return 0, false
	}
	rest := string(t[e:te])
	if r.lang == LangEnglish {
		if enSuffixes[rest] {
			return max(kind, matchInflect), true
		}
		return 0, false
	}
	if svSuffixes[rest] {
		return max(kind, matchInflect), true
	}
	// Compound head: optional linking s, then at least three letters.
	tail := rest
	if strings.HasPrefix(tail, "s") && utf8.RuneCountInString(tail) > 4 {
		tail = tail[1:]
	}
	if utf8.RuneCountInString(tail) < 3 {
		return 0, false
	}
	for _, n := range negatingTails {
		if strings.HasPrefix(rest, n) || strings.HasPrefix(tail, n) {
			return 0, false
		}
	}
	return matchCompound, true
}

type workspace struct {
	norm    []byte
	scratch []byte
	hits    []hit
}

// hit is one accepted match before reasons are built.
type hit struct {
	pack       int
	field      string
	start, end int // word-extended span in the normalized field
	match      string
	weight     float64
	confidence string
}

func (e *Engine) scanTerms(ws *workspace, field string, t []byte) {
	if len(e.patterns) == 0 || len(t) == 0 {
		return
	}
	it := e.ac.IterOverlappingByte(t)
	for m := it.Next(); m != nil; m = it.Next() {
		s, en := m.Start(), m.End()
		for _, r := range e.refs[m.Pattern()] {
			kind, ok := r.accept(t, s, en)
			if !ok {
				continue
			}
			ws0, we := tokenStart(t, s), tokenEnd(t, en)
			if ws0 < 0 || we < 0 {
				continue
			}
			conf := "high"
			switch {
			case r.weight < 0.5:
				conf = "low"
			case r.weight < 1 || kind == matchCompound:
				conf = "medium"
			}
			ws.hits = append(ws.hits, hit{pack: r.pack, field: field, start: ws0, end: we,
				match: string(t[ws0:we]), weight: r.weight, confidence: conf})
		}
	}
}

var confRank = map[string]int{"low": 1, "medium": 2, "high": 3}

// dedupe keeps, per pack, one hit per span, and drops a hit whose span lies
// inside another hit of the same pack and field (the longer term explains
// it). Hits come out sorted by field order, then start.
func dedupe(h []hit) []hit {
	sort.SliceStable(h, func(i, j int) bool {
		if h[i].pack != h[j].pack {
			return h[i].pack < h[j].pack
		}
		if h[i].field != h[j].field {
			return fieldOrder(h[i].field) < fieldOrder(h[j].field)
		}
		if h[i].start != h[j].start {
			return h[i].start < h[j].start
		}
		if h[i].end != h[j].end {
			return h[i].end > h[j].end
		}
		if h[i].weight != h[j].weight {
			return h[i].weight > h[j].weight
		}
		return confRank[h[i].confidence] > confRank[h[j].confidence]
	})
	out := h[:0]
	for _, x := range h {
		if n := len(out); n > 0 {
			p := out[n-1]
			if p.pack == x.pack && p.field == x.field && x.start >= p.start && x.end <= p.end {
				continue
			}
		}
		out = append(out, x)
	}
	return out
}

func fieldOrder(f string) int {
	switch f {
	case "subject":
		return 0
	case "location":
		return 1
	case "body":
		return 2
	}
	return 3
}
