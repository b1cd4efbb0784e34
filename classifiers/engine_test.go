package classifiers

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/motesvakt/motesvakt/locales"
)

// classifyText returns the fired categories (from reasons) for a subject.
func categoriesOf(t *testing.T, e *Engine, text string) (Profile, map[Category]bool) {
	t.Helper()
	res, err := e.Classify(Event{Subject: text}, locales.English)
	if err != nil {
		t.Fatal(err)
	}
	got := map[Category]bool{}
	for _, r := range res.Reasons {
		got[r.Category] = true
	}
	return res.Profile, got
}

func TestCategories(t *testing.T) {
	e := testEngine(t)
	tests := []struct {
		cat   Category
		match []string // each must fire cat
		miss  []string // none may fire cat
	}{
		{CategoryHR,
			[]string{"HR-möte", "hr", "Personalärenden", "Lönesamtalet", "uppsägningar", "Rehabiliteringsmöte", "MBL §11",
				"arbetsmiljö\u00adärende", "disciplinär åtgärd", "grievance hearing", "Disciplinary", "layoffs", "exit interviews"},
			[]string{"Ahrén", "Christmas", "three", "Thrain", "HRM-system", "shredder", "hurra"}},
		{CategoryProcurement,
			[]string{"upphandlingen", "Anbuden", "förfrågningsunderlaget", "tilldelningsbeslutet", "Direktupphandling",
				"anbudsgivarna", "tender", "tenders", "tendering", "RFP", "bidders", "ramavtalet", "LOU"},
			[]string{"attendee", "attender", "tendency", "tenderness", "bidrag", "ramar", "lougheed"}},
		{CategoryIncident,
			[]string{"incident", "Incidentrapport", "säkerhetsincident", "personuppgiftsincidenten", "dataintrång",
				"breach", "data breaches", "hacked", "ransomware", "Intrånget"},
			[]string{"incidentfri", "incidentfria dagar", "incidental", "hackathon", "strömavbrott"}},
		{CategoryPersonalData,
			[]string{"sjukskrivning", "sjukskriven", "diagnoser", "orosanmälan", "LSS-ärende", "LVU", "försörjningsstöd",
				"sick leave", "mental health", "criminal record", "alkoholmissbruk"},
			[]string{"glass", "klass", "solsken", "medicinsk teknik-mässa"}},
		{CategorySecurity,
			[]string{"säkerhetsskydd", "Säkerhetsskyddsklassad", "sekretess", "sekretessbelagda", "OSL", "classified",
				"confidential", "top secret", "konfidentiellt", "kvalificerat hemlig"},
			[]string{"confident", "secretary", "classifieds", "oslo"}},
		{CategoryPublic,
			[]string{"webinar", "webbinarium", "medborgardialog", "öppet hus", "press conference", "livestream"},
			[]string{"webbdesign", "husmöte"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.cat), func(t *testing.T) {
			for _, s := range tt.match {
				if _, got := categoriesOf(t, e, s); !got[tt.cat] {
					t.Errorf("%q: %s did not fire", s, tt.cat)
				}
			}
			for _, s := range tt.miss {
				if _, got := categoriesOf(t, e, s); got[tt.cat] {
					t.Errorf("%q: %s fired", s, tt.cat)
				}
			}
		})
	}
}

func TestProfileRules(t *testing.T) {
	e := testEngine(t)
	tests := []struct {
		name string
		ev   Event
		want Profile
	}{
		{"no signal is internal", Event{Subject: "Veckomöte"}, ProfileInternal},
		{"public opens", Event{Subject: "Webinar om solceller"}, ProfileOpen},
		{"protected beats public", Event{Subject: "Webinar om lönesamtal"}, ProfileProtected},
		{"externals never open a meeting", Event{Subject: "Avstämning", Attendees: []Attendee{{Email: "x@gmail.com"}}}, ProfileInternal},
		{"public with externals stays open", Event{Subject: "Webinar", Attendees: []Attendee{{Email: "x@gmail.com"}}}, ProfileOpen},
		{"weak term alone does not fire", Event{Subject: "Känslig planering"}, ProfileInternal},
		{"two weak terms fire", Event{Subject: "Känslig och sekretessbelagd"}, ProfileProtected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := e.Classify(tt.ev, locales.Swedish)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := res.Profile, tt.want; got != want {
				t.Errorf("profile = %s, want %s (%+v)", got, want, res.Reasons)
			}
			if got, want := res.Settings, DefaultProfiles()[tt.want]; got != want {
				t.Errorf("settings = %+v, want %+v", got, want)
			}
		})
	}
}

func TestInvitees(t *testing.T) {
	pol, _ := DefaultPolicy("Kommun.SE", "bolaget.se.")
	e, err := Compile(pol)
	if err != nil {
		t.Fatal(err)
	}
	ev := Event{Subject: "x", Organizer: Attendee{Email: "boss@partner.org"}, Attendees: []Attendee{
		{Email: "a@kommun.se"}, {Email: "b@IT.Kommun.se"}, {Email: "c@notkommun.se"}, {Email: "d@kommun.se.evil.com"},
		{Email: "e@Gmail.com"}, {Email: "f@gmail.com"}, {Email: "A@kommun.se"}, {Email: "g@bolaget.se"},
	}}
	res, err := e.Classify(ev, locales.English)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(res.ExternalDomains, ","), "gmail.com,kommun.se.evil.com,notkommun.se,partner.org"; got != want {
		t.Errorf("external = %s, want %s", got, want)
	}
	if got, want := strings.Join(res.FreeMailDomains, ","), "gmail.com"; got != want {
		t.Errorf("free mail = %s, want %s", got, want)
	}
	if got, want := res.Counts, (Counts{Attendees: 8, Internal: 3, External: 5}); got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
	if !strings.Contains(res.Explanation, "partner.org") || !strings.Contains(res.Explanation, "Internal meeting") {
		t.Errorf("explanation %q lacks profile or domain", res.Explanation)
	}
	// Without configured domains the organizer's domain is internal.
	e2 := testEngineNoDomains(t)
	res, _ = e2.Classify(Event{Organizer: Attendee{Email: "o@firma.se"}, Attendees: []Attendee{{Email: "p@firma.se"}, {Email: "q@annan.se"}}}, locales.Swedish)
	if got, want := strings.Join(res.ExternalDomains, ","), "annan.se"; got != want {
		t.Errorf("fallback external = %s, want %s", got, want)
	}
}

func testEngineNoDomains(t *testing.T) *Engine {
	pol, _ := DefaultPolicy()
	e, err := Compile(pol)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestExplanation(t *testing.T) {
	e := testEngine(t)
	ev := Event{Subject: "Upphandling och incident", Attendees: []Attendee{{Email: "a@lev.se"}}}
	sv, _ := e.Classify(ev, locales.Swedish)
	en, _ := e.Classify(ev, locales.English)
	if got, want := sv.Explanation, "Skyddsvärt möte föreslås eftersom utkastet tar upp upphandling och incidenter, och det finns externa deltagare från lev.se."; got != want {
		t.Errorf("sv = %q\nwant %q", got, want)
	}
	if got, want := en.Explanation, "Protected meeting is suggested because the draft mentions procurement and incidents, and there are external attendees from lev.se."; got != want {
		t.Errorf("en = %q\nwant %q", got, want)
	}
	if got, want := sv.Downgrade, DowngradeForbidden; got != want {
		t.Errorf("downgrade = %s, want %s (incident forbids)", got, want)
	}
}

func TestCompileValidation(t *testing.T) {
	packs := []Pack{{Category: "hr", Profile: ProfileProtected, Downgrade: DowngradeAllowedWithReason, Terms: []Term{
		{Text: " ", Lang: "sv", Match: MatchToken, Weight: 1},
		{Text: "anbud", Lang: "sv", Match: MatchStem, Weight: 1},
		{Text: "Anbud", Lang: "sv", Match: MatchStem, Weight: 1},
		{Text: "hr", Lang: "sv", Match: MatchStem, Weight: 1},
		{Text: "foo", Lang: "de", Match: "fuzzy", Weight: 0},
		{Text: "-x-", Lang: "sv", Match: MatchToken, Weight: 1},
	}}, {Category: "hr", Profile: "secret", Downgrade: "maybe"}}
	_, err := Compile(Policy{Packs: packs, InternalDomains: []string{"not a domain"}})
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want *ValidationError", err)
	}
	keys := map[string]bool{}
	for _, p := range ve.Problems {
		keys[p.Key] = true
		if msg := p.Message(locales.Swedish); strings.HasPrefix(msg, "[") {
			t.Errorf("problem %s has no Swedish message", p.Key)
		}
	}
	for _, k := range []string{"classify.rules.empty_term", "classify.rules.duplicate_term", "classify.rules.short_term_mode",
		"classify.rules.bad_lang", "classify.rules.bad_mode", "classify.rules.bad_weight", "classify.rules.bad_term",
		"classify.rules.duplicate_category", "classify.rules.bad_profile", "classify.rules.bad_downgrade",
		"classify.rules.no_terms", "classify.rules.bad_domain"} {
		if !keys[k] {
			t.Errorf("missing problem %s in %v", k, err)
		}
	}
}

func TestPackRoundTrip(t *testing.T) {
	packs, err := DefaultPacks()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, p := range packs {
		if p.Category != CategoryPersonalID && len(p.Terms) < 40 {
			t.Errorf("pack %s has %d terms; packs must be comprehensive", p.Category, len(p.Terms))
		}
		buf, err := MarshalPack(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := writeFile(dir+"/"+string(p.Category)+".yaml", buf); err != nil {
			t.Fatal(err)
		}
	}
	loaded, err := LoadPacks(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(loaded), len(packs); got != want {
		t.Fatalf("loaded %d packs, want %d", got, want)
	}
	for i := range packs {
		a, _ := MarshalPack(packs[i])
		b, _ := MarshalPack(loaded[i])
		if string(a) != string(b) {
			t.Errorf("pack %s changed in round trip", packs[i].Category)
		}
	}
	if _, err := ParsePack([]byte("category: hr\nprofile: protected\nwieght: 2\n")); err == nil {
		t.Error("unknown key accepted")
	}
}

// TestPathologicalInput: a maximal body that is one long word full of
// terms, or all terms, must stay fast (no quadratic word-edge scans).
func TestPathologicalInput(t *testing.T) {
	e := testEngine(t)
	for _, body := range []string{
		strings.Repeat("incident", MaxBodyBytes/8),
		strings.Repeat("hr ", MaxBodyBytes/3),
		strings.Repeat("811218-9876 ", MaxBodyBytes/12),
		strings.Repeat("<p>", MaxBodyBytes/3),
	} {
		start := time.Now()
		res, err := e.Classify(Event{Body: body}, locales.Swedish)
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%.20q…: %v", body, d)
		}
		if len(res.Reasons) > MaxReasons {
			t.Errorf("%d reasons, cap is %d", len(res.Reasons), MaxReasons)
		}
	}
}
