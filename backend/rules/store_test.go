package rules_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/audit"
	"github.com/motesvakt/motesvakt/backend/rules"
	"github.com/motesvakt/motesvakt/classifiers"
	"github.com/motesvakt/motesvakt/locales"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openDB(t testing.TB) *sql.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(ON)&_pragma=synchronous(NORMAL)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, s := range []string{audit.Schema, rules.Schema} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func openStore(t testing.TB, keep time.Duration) (*rules.Store, *sql.DB, *clock) {
	t.Helper()
	db := openDB(t)
	clk := &clock{t: time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)}
	s, err := rules.Open(context.Background(), db, rules.Config{InternalDomains: []string{"kommun.se"}, KeepDrafts: keep, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s, db, clk
}

var anna = rules.Actor{ID: "u_anna", Name: "anna@kommun.se", IP: "127.0.0.1"}
var bo = rules.Actor{ID: "u_bo", Name: "bo@kommun.se"}

func edit(t testing.TB, s *rules.Store, clk *clock, by rules.Actor, e rules.Edit) (*rules.RuleVersion, error) {
	t.Helper()
	var v *rules.RuleVersion
	err := s.Update(context.Background(), func(tx *sql.Tx) error {
		var err error
		v, err = s.Edit(context.Background(), tx, by, e, clk.Now())
		return err
	})
	return v, err
}

func addTerm(cat classifiers.Category, text string) rules.Op {
	return rules.Op{Kind: rules.OpAddTerm, Category: cat, Term: &classifiers.Term{Text: text, Lang: "sv", Match: classifiers.MatchStem, Weight: 1}}
}

func classify(t testing.TB, s *rules.Store, subject string) (classifiers.Profile, int64) {
	t.Helper()
	e, v, err := s.Engine(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.Classify(classifiers.Event{Subject: subject, Organizer: classifiers.Attendee{Email: "a@kommun.se"}}, locales.Swedish)
	if err != nil {
		t.Fatal(err)
	}
	return r.Profile, v
}

func auditActions(t testing.TB, db *sql.DB) []string {
	t.Helper()
	recs, err := audit.List(context.Background(), db, audit.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		out = append(out, string(r.Action)+"/"+string(r.Actor))
	}
	return out
}

func TestSeedAndEngine(t *testing.T) {
	s, db, _ := openStore(t, 0)
	if p, v := classify(t, s, "Lönesamtal med Karin"); p != classifiers.ProfileProtected || v != 1 {
		t.Fatalf("seeded engine: %s v%d, want protected v1", p, v)
	}
	// Reopening does not seed again.
	if _, err := rules.Open(context.Background(), db, rules.Config{}); err != nil {
		t.Fatal(err)
	}
	vs, err := s.Versions(context.Background(), 0)
	if err != nil || len(vs) != 1 || vs[0].State != rules.StateActive || vs[0].Author != "system" {
		t.Fatalf("versions = %+v, %v", vs, err)
	}
}

func TestEditValidation(t *testing.T) {
	s, db, clk := openStore(t, 0)
	tests := []struct {
		name string
		op   rules.Op
		code string
		key  string
	}{
		{"EmptyTerm", addTerm("hr", "   "), backend.EINVALID, "admin.empty_term"},
		{"DuplicateTerm", addTerm("hr", "Lönesamtal"), backend.EINVALID, "admin.duplicate_term"},
		{"InvalidPattern", addTerm("hr", "-kaffe*"), backend.EINVALID, "admin.rules_invalid"},
		{"ShortStem", addTerm("hr", "abc"), backend.EINVALID, "admin.rules_invalid"},
		{"BadWeight", rules.Op{Kind: rules.OpAddTerm, Category: "hr", Term: &classifiers.Term{Text: "kaffemöte", Weight: 50}}, backend.EINVALID, "admin.rules_invalid"},
		{"UnknownCategory", addTerm("nope", "kaffemöte"), backend.ENOTFOUND, "admin.no_category"},
		{"UnknownCell", rules.Op{Kind: rules.OpSetCells, Profile: "open", Cells: map[string]json.RawMessage{"nope": json.RawMessage(`true`)}}, backend.EINVALID, "admin.bad_cell"},
		{"WrongCellType", rules.Op{Kind: rules.OpSetCells, Profile: "open", Cells: map[string]json.RawMessage{"chat": json.RawMessage(`"yes"`)}}, backend.EINVALID, "admin.bad_cell_value"},
		{"BadCellEnum", rules.Op{Kind: rules.OpSetCells, Profile: "open", Cells: map[string]json.RawMessage{"lobby": json.RawMessage(`"sometimes"`)}}, backend.EINVALID, "admin.rules_invalid"},
		{"BadDowngrade", rules.Op{Kind: rules.OpUpdateCategory, Category: "hr", Downgrade: "maybe"}, backend.EINVALID, "admin.rules_invalid"},
		{"BadDomain", rules.Op{Kind: rules.OpInternal, Domains: []string{"not a domain"}}, backend.EINVALID, "admin.rules_invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := edit(t, s, clk, anna, rules.Edit{Base: 1, Ops: []rules.Op{tt.op}})
			key, _ := backend.ErrorKey(err)
			if got := backend.ErrorCode(err); got != tt.code || key != tt.key {
				t.Errorf("got %s %s (%v), want %s %s", got, key, err, tt.code, tt.key)
			}
		})
	}
	if h, _ := s.Head(context.Background()); h != 1 {
		t.Errorf("failed edits created versions: head %d", h)
	}
	if got := auditActions(t, db); len(got) != 0 {
		t.Errorf("failed edits were audited as changes: %v", got)
	}
}

func TestVersionConflictKeepsSecondDraft(t *testing.T) {
	s, db, clk := openStore(t, 0)
	v2, err := edit(t, s, clk, anna, rules.Edit{Base: 1, Comment: "kaffe", Ops: []rules.Op{addTerm("hr", "kaffemöte")}})
	if err != nil || v2.ID != 2 || v2.Parent != 1 || v2.State != rules.StateDraft {
		t.Fatalf("first edit: %+v %v", v2, err)
	}
	_, err = edit(t, s, clk, bo, rules.Edit{Base: 1, Ops: []rules.Op{addTerm("hr", "fikasamtal")}})
	var ae *backend.Error
	var ce *rules.ConflictError
	if backend.ErrorCode(err) != backend.ECONFLICT || !errors.As(err, &ae) || !errors.As(err, &ce) {
		t.Fatalf("stale edit: %v", err)
	}
	if ce.Head != 2 || ce.Base != 1 || ce.Draft.Pack("hr") < 0 {
		t.Fatalf("conflict = %+v", ce)
	}
	hr := ce.Draft.Packs[ce.Draft.Pack("hr")]
	if hr.Terms[len(hr.Terms)-1].Text != "fikasamtal" {
		t.Errorf("returned draft lacks the second admin's term: %v", hr.Terms[len(hr.Terms)-1])
	}
	// Rebased on the head the same change goes through.
	v3, err := edit(t, s, clk, bo, rules.Edit{Base: 2, Ops: []rules.Op{addTerm("hr", "fikasamtal")}})
	if err != nil || v3.ID != 3 {
		t.Fatalf("rebased edit: %v", err)
	}
	if got, want := strings.Join(auditActions(t, db), " "), "rules.changed/user:u_anna rules.changed/user:u_bo"; got != want {
		t.Errorf("audit = %q, want %q", got, want)
	}
}

func TestConcurrentEditsOneWins(t *testing.T) {
	s, _, clk := openStore(t, 0)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, errs[i] = edit(t, s, clk, anna, rules.Edit{Base: 1, Ops: []rules.Op{addTerm("hr", "kaffemöte"+strings.Repeat("x", i))}})
		}(i)
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch backend.ErrorCode(err) {
		case "":
			ok++
		case backend.ECONFLICT:
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d edits on the same base succeeded, want 1", ok)
	}
}

func TestActivateRollbackWithoutRestart(t *testing.T) {
	s, db, clk := openStore(t, 0)
	ctx := context.Background()
	v2, err := edit(t, s, clk, anna, rules.Edit{Base: 1, Ops: []rules.Op{addTerm("hr", "kaffemöte")}})
	if err != nil {
		t.Fatal(err)
	}
	old, _, _ := s.Engine(ctx)
	if p, v := classify(t, s, "Kaffemöte om lönen"); p != classifiers.ProfileInternal || v != 1 {
		t.Fatalf("draft leaked into the active engine: %s v%d", p, v)
	}
	clk.Add(time.Minute)
	err = s.Update(ctx, func(tx *sql.Tx) error { _, err := s.Activate(ctx, tx, anna, v2.ID, clk.Now(), nil); return err })
	if err != nil {
		t.Fatal(err)
	}
	if p, v := classify(t, s, "Kaffemöte om lönen"); p != classifiers.ProfileProtected || v != 2 {
		t.Fatalf("after activation: %s v%d", p, v)
	}
	// A classification holding the old engine finishes under the old rules.
	r, _ := old.Classify(classifiers.Event{Subject: "Kaffemöte"}, locales.Swedish)
	if r.Profile != classifiers.ProfileInternal {
		t.Errorf("old engine changed under a running classification: %s", r.Profile)
	}
	err = s.Update(ctx, func(tx *sql.Tx) error { _, err := s.Activate(ctx, tx, anna, v2.ID, clk.Now(), nil); return err })
	if backend.ErrorCode(err) != backend.ECONFLICT {
		t.Errorf("activating the active version: %v", err)
	}
	clk.Add(time.Minute)
	err = s.Update(ctx, func(tx *sql.Tx) error { _, err := s.Rollback(ctx, tx, anna, clk.Now()); return err })
	if err != nil {
		t.Fatal(err)
	}
	if p, v := classify(t, s, "Kaffemöte om lönen"); p != classifiers.ProfileInternal || v != 1 {
		t.Fatalf("after rollback: %s v%d", p, v)
	}
	got := strings.Join(auditActions(t, db), " ")
	if want := "rules.changed/user:u_anna rules.activated/user:u_anna rules.activated/user:u_anna"; got != want {
		t.Errorf("audit = %q, want %q", got, want)
	}
	// A second store on the same database (another replica) follows on refresh.
	s2, err := rules.Open(ctx, db, rules.Config{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	s2.Refresh(ctx)
	if s2.Active() != 1 {
		t.Errorf("replica sees v%d", s2.Active())
	}
}

func TestScheduledActivation(t *testing.T) {
	s, db, clk := openStore(t, 0)
	ctx := context.Background()
	// Phase in stricter policy: MFA for internal meetings first, then no
	// recording in internal meetings a month later.
	v2, err := edit(t, s, clk, anna, rules.Edit{Base: 1, Ops: []rules.Op{{Kind: rules.OpSetCells, Profile: "internal", Cells: map[string]json.RawMessage{"sign_in": json.RawMessage(`"required_mfa"`)}}}})
	if err != nil {
		t.Fatal(err)
	}
	v3, err := edit(t, s, clk, anna, rules.Edit{Base: 2, Ops: []rules.Op{{Kind: rules.OpSetCells, Profile: "internal", Cells: map[string]json.RawMessage{"recording": json.RawMessage(`"refused"`)}}}})
	if err != nil {
		t.Fatal(err)
	}
	at2, at3 := clk.Now().Add(time.Hour), clk.Now().Add(28*24*time.Hour)
	err = s.Update(ctx, func(tx *sql.Tx) error {
		if _, err := s.Schedule(ctx, tx, anna, v2.ID, clk.Now().Add(-time.Second), clk.Now()); backend.ErrorCode(err) != backend.EINVALID {
			t.Errorf("schedule in the past: %v", err)
		}
		if _, err := s.Schedule(ctx, tx, anna, v2.ID, at2, clk.Now()); err != nil {
			return err
		}
		_, err := s.Schedule(ctx, tx, anna, v3.ID, at3, clk.Now())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, v := classify(t, s, "x"); v != 1 {
		t.Fatalf("before the time: v%d", v)
	}
	clk.Add(time.Hour) // exactly at effective_at; no tick needed
	eng, v, _ := s.Engine(ctx)
	r, _ := eng.Classify(classifiers.Event{Subject: "Planering"}, locales.Swedish)
	if v != 2 || r.Settings.SignIn != "required_mfa" || r.Settings.Recording != "host_may_start" {
		t.Fatalf("at effective time: v%d %+v", v, r.Settings)
	}
	// The ticker activates the next one without any classification.
	tick := make(chan time.Time)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { s.Run(rctx, tick); close(done) }()
	clk.Add(28 * 24 * time.Hour)
	tick <- clk.Now()
	tick <- clk.Now() // the second send returns only after the first tick's work
	cancel()
	<-done
	if got := s.Active(); got != 3 {
		t.Fatalf("after tick: v%d, want 3", got)
	}
	recs, _ := audit.List(ctx, db, audit.Filter{Action: audit.RulesActivated})
	if len(recs) != 2 || recs[0].Actor != audit.System || recs[0].Details["scheduled"] != "true" {
		t.Errorf("scheduled activations audit = %+v", recs)
	}
}

func TestDiff(t *testing.T) {
	s, _, clk := openStore(t, 0)
	ctx := context.Background()
	desc := "ny"
	v2, err := edit(t, s, clk, anna, rules.Edit{Base: 1, Ops: []rules.Op{
		addTerm("hr", "kaffemöte"),
		{Kind: rules.OpRemoveTerm, Category: "hr", Old: &rules.TermRef{Text: "lönesamtal", Lang: "sv"}},
		{Kind: rules.OpUpdateTerm, Category: "hr", Old: &rules.TermRef{Text: "HR", Lang: "sv"}, Term: &classifiers.Term{Text: "hr", Lang: "sv", Match: "token", Weight: 0.5}},
		{Kind: rules.OpUpdateCategory, Category: "procurement", Downgrade: "forbidden", Description: &desc},
		{Kind: rules.OpSetCells, Profile: "protected", Cells: map[string]json.RawMessage{"indicators.lock_icon": json.RawMessage(`"all_verified"`)}},
		{Kind: rules.OpInternal, Domains: []string{"kommun.se", "Skola.Kommun.se"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := s.Get(ctx, 1)
	d := rules.DiffContent(*a.Content, *v2.Content)
	js, _ := json.Marshal(d)
	for _, want := range []string{
		`"category":"hr","status":"changed"`,
		`"added":[{"text":"kaffemöte","lang":"sv","match":"stem","weight":1}]`,
		`"removed":[{"text":"lönesamtal"`,
		`"changed":[{"from":{"text":"hr","lang":"sv","match":"token","weight":1},"to":{"text":"hr","lang":"sv","match":"token","weight":0.5}}]`,
		`{"field":"downgrade","from":"allowed_with_reason","to":"forbidden"}`,
		`{"profile":"protected","cell":"indicators.lock_icon","from":"\"always\"","to":"\"all_verified\""}`,
		`"internal_domains":{"added":["skola.kommun.se"]}`,
	} {
		if !strings.Contains(string(js), want) {
			t.Errorf("diff lacks %s\n%s", want, js)
		}
	}
	if !rules.DiffContent(*a.Content, *a.Content).Empty() {
		t.Error("a version differs from itself")
	}
}

func TestExportImportRoundTrip(t *testing.T) {
	c, err := rules.DefaultContent(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := rules.ExportPacks(c.Packs)
	if err != nil {
		t.Fatal(err)
	}
	packs, err := rules.ImportPacks(b)
	if err != nil {
		t.Fatal(err)
	}
	c2 := c.Clone()
	c2.Packs = packs
	if d := rules.DiffContent(c, c2); !d.Empty() {
		t.Errorf("round trip changed the packs: %+v", d)
	}
	for _, bad := range []string{"", "# only a comment\n", "category: hr\nwieght: 1\n"} {
		if _, err := rules.ImportPacks([]byte(bad)); backend.ErrorCode(err) != backend.EINVALID {
			t.Errorf("import %q: %v", bad, err)
		}
	}
}

func TestHighlightMatchesReasons(t *testing.T) {
	f, err := os.Open("../../classifiers/testdata/corpus.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, _ := rules.DefaultContent([]string{"kommun.se"})
	eng, err := c.Compile()
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		var tc struct {
			Name  string          `json:"name"`
			Event json.RawMessage `json:"event"`
		}
		if err := json.Unmarshal(sc.Bytes(), &tc); err != nil {
			t.Fatal(err)
		}
		ev, err := classifiers.DecodeEvent(tc.Event)
		if err != nil {
			continue
		}
		r, err := eng.Classify(ev, locales.Swedish)
		if err != nil {
			continue
		}
		fields := rules.Highlight(ev, r.Reasons)
		var marked []string
		for _, f := range fields {
			for _, s := range f.Segments {
				if s.Category != "" {
					marked = append(marked, f.Field+":"+s.Text)
				}
			}
		}
		// Every reason lies inside a mark of its field (overlaps merge).
		for _, x := range r.Reasons {
			found := false
			for _, m := range marked {
				if strings.HasPrefix(m, x.Field+":") && strings.Contains(m, x.Match) {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: reason %s:%q not marked in %q", tc.Name, x.Field, x.Match, marked)
			}
		}
		if len(r.Reasons) > 0 && len(marked) == 0 || len(marked) > len(r.Reasons) {
			t.Errorf("%s: marked %q for reasons %+v", tc.Name, marked, r.Reasons)
		}
		n++
	}
	if n < 100 {
		t.Errorf("only %d corpus cases checked", n)
	}
}
