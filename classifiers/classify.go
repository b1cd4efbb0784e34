package classifiers

import (
	"sort"
	"strings"

	"github.com/motesvakt/motesvakt/locales"
)

// Reason explains one finding. Start and End are byte offsets into the
// field's normalized text (see doc.go: HTML reduced to text, NFC, lower
// case, soft hyphens removed, white space collapsed); Match is that slice,
// widened to whole words — except for personal_id, where Match is masked.
type Reason struct {
	Category   Category `json:"category"`
	Field      string   `json:"field"`
	Match      string   `json:"match"`
	Start      int      `json:"start"`
	End        int      `json:"end"`
	Confidence string   `json:"confidence"`
}

// Counts summarises the invitees (organizer included, each address once).
type Counts struct {
	Attendees int `json:"attendees"`
	Internal  int `json:"internal"`
	External  int `json:"external"`
}

// Result is the classification of one draft.
type Result struct {
	Profile  Profile  `json:"profile"`
	Settings Settings `json:"settings"`
	// Categories that decided the profile, in pack display order.
	Categories      []Category `json:"categories"`
	ExternalDomains []string   `json:"external_domains"`
	FreeMailDomains []string   `json:"free_mail_domains"`
	Counts          Counts     `json:"counts"`
	Reasons         []Reason   `json:"reasons"`
	Explanation     string     `json:"explanation"`
	// Downgrade says whether the host may pick a lower profile:
	// "allowed_with_reason" or "forbidden" (a deciding pack forbids it).
	Downgrade string `json:"downgrade"`
	// Truncated is set when more than MaxReasons findings were cut.
	Truncated bool `json:"truncated,omitempty"`
}

// MaxReasons caps the reasons in one result; a body that repeats a term
// a thousand times does not need a thousand reasons.
const MaxReasons = 100

// Classify proposes a profile for ev. It returns an error only when ev
// breaks the input limits (*InputError).
func (e *Engine) Classify(ev Event, lang locales.Lang) (Result, error) {
	if err := ValidateEvent(ev); err != nil {
		return Result{}, err
	}
	ws := e.bufs.Get().(*workspace)
	defer e.bufs.Put(ws)
	ws.hits = ws.hits[:0]
	var pnr []pnrHit
	var pnrFields []string

	scan := func(field, raw string) {
		if raw == "" {
			return
		}
		if field == "body" && looksLikeHTML(raw) {
			raw = htmlToText(raw)
		}
		ws.norm, ws.scratch = normalize(ws.norm[:0], raw, ws.scratch)
		t := ws.norm
		e.scanTerms(ws, field, t)
		if e.pnrPack >= 0 {
			n := len(pnr)
			pnr = findPersonnummer(t, e.pnrKeys, e.pnrWindow, pnr)
			for range pnr[n:] {
				pnrFields = append(pnrFields, field)
			}
		}
	}
	scan("subject", ev.Subject)
	scan("location", ev.Location)
	scan("body", ev.Body)
	if names := attendeeNames(ev); names != "" {
		scan("attendees", names)
	}

	hits := dedupe(ws.hits)
	for i, p := range pnr {
		conf := "medium"
		if p.keyword {
			conf = "high"
		}
		hits = append(hits, hit{pack: e.pnrPack, field: pnrFields[i], start: p.start, end: p.end,
			match: p.masked, weight: 1, confidence: conf})
	}

	// A category fires when its distinct findings weigh at least 1, so a
	// weak term (weight 0.5) needs a second one.
	score := make([]float64, len(e.packs))
	for _, h := range hits {
		score[h.pack] += h.weight
	}
	fired := make([]bool, len(e.packs))
	best := 0
	for i, s := range score {
		if s >= 1-1e-9 {
			fired[i] = true
			best = max(best, e.packs[i].Profile.Rank())
		}
	}
	// Profile: the strictest fired pack; an open signal only counts when
	// nothing stricter fired; no signal at all means internal. Externals
	// never make the result more open.
	prof := ProfileInternal
	switch {
	case best == ProfileProtected.Rank():
		prof = ProfileProtected
	case best == ProfileOpen.Rank():
		prof = ProfileOpen
	}

	res := Result{Profile: prof, Settings: e.profiles[prof], Downgrade: DowngradeAllowedWithReason,
		Categories: []Category{}, Reasons: []Reason{}}
	deciding := make([]bool, len(e.packs))
	for i := range e.packs {
		if fired[i] && e.packs[i].Profile == prof {
			deciding[i] = true
			if e.packs[i].Downgrade == DowngradeForbidden {
				res.Downgrade = DowngradeForbidden
			}
		}
	}
	for _, c := range e.categoryOrder() {
		if deciding[c] {
			res.Categories = append(res.Categories, e.packs[c].Category)
		}
	}
	// Reasons: every fired pack that did not lose to a stricter one, i.e.
	// the deciding packs plus stricter-or-equal ones. A public match in a
	// protected meeting is not a reason for the outcome, so it is omitted.
	for _, h := range hits {
		if !fired[h.pack] || e.packs[h.pack].Profile.Rank() < prof.Rank() {
			continue
		}
		if len(res.Reasons) == MaxReasons {
			res.Truncated = true
			break
		}
		res.Reasons = append(res.Reasons, Reason{Category: e.packs[h.pack].Category, Field: h.field,
			Match: h.match, Start: h.start, End: h.end, Confidence: h.confidence})
	}
	sort.SliceStable(res.Reasons, func(i, j int) bool {
		a, b := res.Reasons[i], res.Reasons[j]
		if fieldOrder(a.Field) != fieldOrder(b.Field) {
			return fieldOrder(a.Field) < fieldOrder(b.Field)
		}
		if a.Start != b.Start {
			return a.Start < b.Start
		}
		return a.Category < b.Category
	})
	res.ExternalDomains, res.FreeMailDomains, res.Counts = e.invitees(ev)
	res.Explanation = e.explain(lang, res)
	return res, nil
}

// categoryOrder lists pack indexes in built-in category order, then any
// admin-defined categories alphabetically.
func (e *Engine) categoryOrder() []int {
	out := make([]int, 0, len(e.packs))
	seen := make([]bool, len(e.packs))
	for _, c := range Categories {
		if i, ok := e.packByCat[c]; ok {
			out = append(out, i)
			seen[i] = true
		}
	}
	var rest []int
	for i := range e.packs {
		if !seen[i] {
			rest = append(rest, i)
		}
	}
	sort.Slice(rest, func(a, b int) bool { return e.packs[rest[a]].Category < e.packs[rest[b]].Category })
	return append(out, rest...)
}

// attendeeNames joins display names so a name like "HR-avdelningen" or
// "Säkerhetsskyddschef" counts; offsets for field "attendees" refer to this
// "; "-joined normalized string (organizer first, then attendees in order).
func attendeeNames(ev Event) string {
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

func (e *Engine) explain(lang locales.Lang, r Result) string {
	p := locales.For(lang)
	prof := p.T("classify.profile." + string(r.Profile))
	var cats []string
	for _, c := range r.Categories {
		key := "classify.category." + string(c)
		if name := p.T(key); name != "["+key+"]" {
			cats = append(cats, name)
		} else {
			cats = append(cats, string(c)) // admin-defined category without a locales key
		}
	}
	and := p.T("classify.list.and")
	doms := joinList(r.ExternalDomains, and)
	switch {
	case len(cats) > 0 && len(r.ExternalDomains) > 0:
		return p.T("classify.explanation.categories_external", "Profile", prof, "Categories", joinList(cats, and), "Domains", doms)
	case len(cats) > 0:
		return p.T("classify.explanation.categories", "Profile", prof, "Categories", joinList(cats, and))
	case len(r.ExternalDomains) > 0:
		return p.T("classify.explanation.none_external", "Profile", prof, "Domains", doms)
	}
	return p.T("classify.explanation.none", "Profile", prof)
}

// joinList: "a", "a and b", "a, b and c" (no Oxford comma: Swedish never
// uses one and it reads fine in English).
func joinList(xs []string, and string) string {
	switch len(xs) {
	case 0:
		return ""
	case 1:
		return xs[0]
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " " + and + " " + xs[len(xs)-1]
}
