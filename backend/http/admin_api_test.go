package http_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/audit"
	mhttp "github.com/motesvakt/motesvakt/backend/http"
	"github.com/motesvakt/motesvakt/backend/rules"
	"github.com/motesvakt/motesvakt/backend/sqlite"
	"github.com/motesvakt/motesvakt/classifiers"
	"github.com/motesvakt/motesvakt/locales"
)

type adminServer struct {
	*testServer
	Rules *rules.Store
	clock *testClock
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newAdminServer is newTestServer with the audit and rules tables and the
// admin feature mounted, on loopback with a real SQLite file.
func newAdminServer(t *testing.T, extra ...func(*sqlite.DB, *rules.Store, func() time.Time) mhttp.Option) *adminServer {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "m.db"),
		sqlite.Migration{Name: "0100_audit", SQL: audit.Schema}, sqlite.Migration{Name: "0101_rules", SQL: rules.Schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clk := &testClock{t: time.Now().UTC().Truncate(time.Second)}
	rs, err := rules.Open(ctx, db.SQL(), rules.Config{InternalDomains: []string{"kommun.se"}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	ts := &testServer{DB: db, Logs: &strings.Builder{}}
	ts.Server = httptest.NewUnstartedServer(nil)
	public, _ := url.Parse("http://" + ts.Listener.Addr().String())
	log := slog.New(slog.NewJSONHandler(syncWriter{ts.Logs}, nil))
	opts := []mhttp.Option{mhttp.WithAdmin(rs, mhttp.AdminClock(clk.Now))}
	for _, x := range extra {
		opts = append(opts, x(db, rs, clk.Now))
	}
	app, err := mhttp.New(mhttp.Config{Addr: ts.Listener.Addr().String(), PublicURL: public, Internal: backend.ParseDomains("kommun.se"), CSRFKey: make([]byte, 32)},
		db, nil, log, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ts.App = app
	ts.Config.Handler = app
	ts.Start()
	t.Cleanup(ts.Close)
	return &adminServer{testServer: ts, Rules: rs, clock: clk}
}

// signIn returns a client signed in through the demo sign-in.
func (as *adminServer) signIn(t *testing.T, email string, admin bool) *http.Client {
	t.Helper()
	c := as.client(t)
	b, _ := json.Marshal(map[string]any{"email": email, "admin": admin})
	resp, m := postJSON(t, c, as.URL+"/auth/demo", string(b))
	if resp.StatusCode != 200 {
		t.Fatalf("sign in %s: %d %v", email, resp.StatusCode, m)
	}
	return c
}

// do sends a JSON request and decodes the JSON answer.
func do(t *testing.T, c *http.Client, method, u string, body any, lang ...string) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, u, r)
	req.Header.Set("Content-Type", "application/json")
	if len(lang) > 0 {
		req.Header.Set("Accept-Language", lang[0])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	raw, _ := io.ReadAll(resp.Body)
	json.Unmarshal(raw, &m)
	if m == nil {
		m = map[string]any{"_raw": string(raw)}
	}
	return resp.StatusCode, m
}

func versionID(m map[string]any) float64 {
	v, _ := m["version"].(map[string]any)
	id, _ := v["id"].(float64)
	return id
}

func auditOf(t *testing.T, as *adminServer, action audit.Action) []audit.Record {
	t.Helper()
	recs, err := audit.List(context.Background(), as.DB.SQL(), audit.Filter{Action: action, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestAdminRequiresAdminRole(t *testing.T) {
	as := newAdminServer(t)
	host := as.signIn(t, "bo@kommun.se", false)
	endpoints := []struct{ method, path string }{
		{"GET", "/api/v1/admin/versions"}, {"GET", "/api/v1/admin/rules"}, {"POST", "/api/v1/admin/categories/hr/terms"},
		{"PUT", "/api/v1/admin/profiles/open"}, {"POST", "/api/v1/admin/versions/1/activate"}, {"POST", "/api/v1/admin/rollback"},
		{"POST", "/api/v1/admin/testbench"}, {"POST", "/api/v1/admin/dryrun"}, {"GET", "/api/v1/admin/measurement"},
		{"GET", "/api/v1/admin/versions/1/export"}, {"POST", "/api/v1/admin/import"},
	}
	for _, e := range endpoints {
		t.Run(e.method+e.path, func(t *testing.T) {
			code, m := do(t, host, e.method, as.URL+e.path, map[string]any{"base_version": 1}, "en")
			if code != 403 || errCode(m) != "forbidden" || errMessage(m) == "" {
				t.Errorf("host: %d %v", code, m)
			}
			code, _ = do(t, http.DefaultClient, e.method, as.URL+e.path, map[string]any{"base_version": 1})
			if code != 401 {
				t.Errorf("anonymous: %d, want 401", code)
			}
		})
	}
	req, _ := http.NewRequest("GET", as.URL+"/admin/rules", nil)
	req.Header.Set("Accept", "text/html")
	resp, err := host.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 403 {
		t.Errorf("admin page for a host: %d", resp.StatusCode)
	}
	recs := auditOf(t, as, audit.AdminForbidden)
	if got, want := len(recs), len(endpoints)+1; got != want {
		t.Fatalf("%d admin.forbidden entries, want %d (anonymous calls are not audited)", got, want)
	}
	if r := recs[0]; !strings.HasPrefix(string(r.Actor), "user:u_") || r.Outcome != audit.Denied || r.Details["route"] != "/api/v1/admin/versions" || r.ActorIP != "127.0.0.1" {
		t.Errorf("entry = %+v", r)
	}
	if h, _ := as.Rules.Head(context.Background()); h != 1 {
		t.Errorf("a forbidden call changed the rules: head %d", h)
	}
}

func TestAdminTermsAPI(t *testing.T) {
	as := newAdminServer(t)
	c := as.signIn(t, "anna@kommun.se", true)
	u := as.URL + "/api/v1/admin"

	code, m := do(t, c, "GET", u+"/categories", nil)
	if cats, _ := m["categories"].([]any); code != 200 || len(cats) != 7 {
		t.Fatalf("categories: %d %v", code, m)
	}
	code, m = do(t, c, "GET", u+"/categories/hr?q=LÖN", nil)
	cat, _ := m["category"].(map[string]any)
	terms, _ := cat["terms"].([]any)
	if code != 200 || len(terms) == 0 {
		t.Fatalf("search: %d %v", code, m)
	}
	for _, x := range terms {
		if txt := x.(map[string]any)["text"].(string); !strings.Contains(txt, "lön") {
			t.Errorf("search for LÖN returned %q", txt)
		}
	}

	code, m = do(t, c, "POST", u+"/categories/hr/terms", map[string]any{"base_version": 1, "comment": "fika är personalfrågor",
		"term": map[string]any{"text": "kaffemöte", "lang": "sv", "match": "stem", "weight": 1}})
	if code != 201 || versionID(m) != 2 {
		t.Fatalf("add term: %d %v", code, m)
	}
	code, m = do(t, c, "PUT", u+"/categories/hr/terms", map[string]any{"base_version": 2,
		"old": map[string]any{"text": "kaffemöte", "lang": "sv"}, "term": map[string]any{"text": "kaffemöte", "weight": 0.5}})
	if code != 201 || versionID(m) != 3 {
		t.Fatalf("update term: %d %v", code, m)
	}
	code, m = do(t, c, "DELETE", u+"/categories/hr/terms", map[string]any{"base_version": 3, "old": map[string]any{"text": "kaffemöte", "lang": "sv"}})
	if code != 201 || versionID(m) != 4 {
		t.Fatalf("remove term: %d %v", code, m)
	}

	bad := []struct {
		name   string
		method string
		path   string
		body   any
		status int
		msg    string
	}{
		{"EmptyTerm", "POST", "/categories/hr/terms", map[string]any{"base_version": 4, "term": map[string]any{"text": " "}}, 400, "The term is empty."},
		{"DuplicateTerm", "POST", "/categories/hr/terms", map[string]any{"base_version": 4, "term": map[string]any{"text": "Lönesamtal"}}, 400, "already exists in the category hr"},
		{"InvalidPattern", "POST", "/categories/hr/terms", map[string]any{"base_version": 4, "term": map[string]any{"text": "*kaffe"}}, 400, "must begin and end with a letter or digit"},
		{"ShortStem", "POST", "/categories/hr/terms", map[string]any{"base_version": 4, "term": map[string]any{"text": "fik", "match": "stem"}}, 400, "must match as a whole word"},
		{"BadLang", "POST", "/categories/hr/terms", map[string]any{"base_version": 4, "term": map[string]any{"text": "kaffe", "lang": "de"}}, 400, "unknown language de"},
		{"UnknownCategory", "POST", "/categories/nope/terms", map[string]any{"base_version": 4, "term": map[string]any{"text": "kaffe"}}, 404, "does not exist"},
		{"UnknownTerm", "PUT", "/categories/hr/terms", map[string]any{"base_version": 4, "old": map[string]any{"text": "finnsinte"}, "term": map[string]any{"text": "x1"}}, 404, "does not exist"},
		{"NoBase", "POST", "/categories/hr/terms", map[string]any{"term": map[string]any{"text": "kaffe"}}, 400, "base_version"},
		{"Stale", "POST", "/categories/hr/terms", map[string]any{"base_version": 1, "term": map[string]any{"text": "kaffe"}}, 409, "Someone else saved version 4"},
		{"BadJSON", "POST", "/categories/hr/terms", "{", 400, "not valid JSON"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			code, m := do(t, c, tt.method, u+tt.path, tt.body, "en")
			js, _ := json.Marshal(m)
			if code != tt.status || !strings.Contains(string(js), tt.msg) {
				t.Errorf("got %d %s, want %d containing %q", code, js, tt.status, tt.msg)
			}
		})
	}
	if h, _ := as.Rules.Head(context.Background()); h != 4 {
		t.Errorf("bad requests created versions: head %d", h)
	}
	if got := len(auditOf(t, as, audit.RulesChanged)); got != 3 {
		t.Errorf("%d rules.changed entries, want 3", got)
	}
	// Swedish by default.
	code, m = do(t, c, "POST", u+"/categories/hr/terms", map[string]any{"base_version": 4, "term": map[string]any{"text": ""}}, "sv")
	if code != 400 || errMessage(m) != "Termen är tom." {
		t.Errorf("sv: %d %v", code, m)
	}
}

func TestAdminVersionConflictBetweenTwoAdmins(t *testing.T) {
	as := newAdminServer(t)
	anna := as.signIn(t, "anna@kommun.se", true)
	bo := as.signIn(t, "bo@kommun.se", true)
	u := as.URL + "/api/v1/admin"
	code, _ := do(t, anna, "POST", u+"/categories/hr/terms", map[string]any{"base_version": 1, "term": map[string]any{"text": "kaffemöte"}})
	if code != 201 {
		t.Fatal(code)
	}
	code, m := do(t, bo, "PUT", u+"/profiles/internal", map[string]any{"base_version": 1, "comment": "MFA för alla",
		"cells": map[string]any{"sign_in": "required_mfa"}}, "en")
	if code != 409 || errCode(m) != "conflict" || m["head"] != 2.0 {
		t.Fatalf("second admin: %d %v", code, m)
	}
	draft, _ := m["draft"].(map[string]any)
	profiles, _ := draft["profiles"].(map[string]any)
	internal, _ := profiles["internal"].(map[string]any)
	if internal["sign_in"] != "required_mfa" {
		t.Errorf("the second admin's draft was not returned: %v", internal)
	}
	// The draft is built on what Bo saw, not on Anna's change.
	js, _ := json.Marshal(draft)
	if strings.Contains(string(js), "kaffemöte") {
		t.Error("returned draft mixes in the other admin's change")
	}
	code, m = do(t, bo, "PUT", u+"/profiles/internal", map[string]any{"base_version": 2, "cells": map[string]any{"sign_in": "required_mfa"}})
	if code != 201 || versionID(m) != 3 {
		t.Fatalf("rebased: %d %v", code, m)
	}
	v, _ := as.Rules.Get(context.Background(), 3)
	if v.Content.Profiles["internal"].SignIn != "required_mfa" || v.Content.Pack("hr") < 0 || v.AuthorName != "bo@kommun.se" {
		t.Errorf("v3 = %+v", v)
	}
}

func TestAdminProfilesDomainsDowngrade(t *testing.T) {
	as := newAdminServer(t)
	c := as.signIn(t, "anna@kommun.se", true)
	u := as.URL + "/api/v1/admin"
	steps := []struct {
		method, path string
		body         map[string]any
		status       int
	}{
		{"PUT", "/profiles/protected", map[string]any{"cells": map[string]any{"retention_days": 120, "indicators.lock_icon": "all_verified", "chat": true}}, 201},
		{"PUT", "/profiles/protected", map[string]any{"cells": map[string]any{"colour": "red"}}, 400},
		{"PUT", "/profiles/protected", map[string]any{"cells": map[string]any{"lobby": "sometimes"}}, 400},
		{"PUT", "/profiles/protected", map[string]any{"cells": map[string]any{"retention_days": "long"}}, 400},
		{"PUT", "/profiles/secret", map[string]any{"cells": map[string]any{"chat": true}}, 404},
		{"PUT", "/domains/internal", map[string]any{"domains": []string{"kommun.se", "@Skola.Kommun.se."}}, 201},
		{"PUT", "/domains/internal", map[string]any{"domains": []string{"inte en domän"}}, 400},
		{"PUT", "/domains/free_mail", map[string]any{"domains": []string{"gmail.com", "example.net"}}, 201},
		{"PUT", "/domains/free_mail", map[string]any{}, 400},
		{"PUT", "/categories/procurement/downgrade", map[string]any{"downgrade": "forbidden"}, 201},
		{"PUT", "/categories/procurement/downgrade", map[string]any{"downgrade": "sometimes"}, 400},
		{"PUT", "/categories/public", map[string]any{"profile": "internal"}, 201},
		{"PUT", "/categories/public", map[string]any{"profile": "secret"}, 400},
		{"POST", "/categories", map[string]any{"category": map[string]any{"category": "union", "profile": "protected", "terms": []any{map[string]any{"text": "facklig förhandling"}}}}, 201},
		{"POST", "/categories", map[string]any{"category": map[string]any{"category": "empty", "profile": "protected"}}, 400},
		{"DELETE", "/categories/union", map[string]any{}, 201},
	}
	base := 1.0
	for i, s := range steps {
		s.body["base_version"] = base
		code, m := do(t, c, s.method, u+s.path, s.body, "en")
		if code != s.status {
			t.Fatalf("step %d %s %s: %d %v", i, s.method, s.path, code, m)
		}
		if code == 201 {
			base = versionID(m)
		}
	}
	code, m := do(t, c, "GET", u+"/profiles", nil)
	prof := m["profiles"].(map[string]any)["protected"].(map[string]any)
	if code != 200 || prof["retention_days"] != 120.0 || prof["chat"] != true || prof["indicators"].(map[string]any)["lock_icon"] != "all_verified" {
		t.Errorf("profiles = %v", prof)
	}
	code, m = do(t, c, "GET", u+"/domains", nil)
	if js, _ := json.Marshal(m); code != 200 || !strings.Contains(string(js), `"internal":["kommun.se","skola.kommun.se"]`) || !strings.Contains(string(js), `"free_mail":["gmail.com","example.net"]`) {
		t.Errorf("domains = %s", js)
	}
	v, _ := as.Rules.Get(context.Background(), 0+rules.Version(base))
	if p := v.Content.Packs[v.Content.Pack("procurement")]; p.Downgrade != "forbidden" {
		t.Errorf("downgrade = %q", p.Downgrade)
	}
	// Invalid problems come back one by one with localized messages.
	code, m = do(t, c, "PUT", u+"/profiles/open", map[string]any{"base_version": base, "cells": map[string]any{"lobby": "sometimes", "guests": "anyone"}}, "en")
	probs, _ := m["problems"].([]any)
	if code != 400 || len(probs) != 2 || !strings.Contains(probs[0].(map[string]any)["message"].(string), "invalid value") {
		t.Errorf("problems: %d %v", code, m)
	}
}

func TestAdminVersionsLifecycle(t *testing.T) {
	as := newAdminServer(t)
	c := as.signIn(t, "anna@kommun.se", true)
	u := as.URL + "/api/v1/admin"
	ctx := context.Background()
	classify := func() (classifiers.Profile, int64) {
		e, v, err := as.Rules.Engine(ctx)
		if err != nil {
			t.Fatal(err)
		}
		r, _ := e.Classify(classifiers.Event{Subject: "Kaffemöte om arbetsmiljön"}, locales.Swedish)
		return r.Profile, v
	}
	do(t, c, "POST", u+"/categories/hr/terms", map[string]any{"base_version": 1, "comment": "fika", "term": map[string]any{"text": "kaffemöte"}})

	code, m := do(t, c, "GET", u+"/versions", nil)
	if vs, _ := m["versions"].([]any); code != 200 || len(vs) != 2 || m["active"] != 1.0 || m["head"] != 2.0 {
		t.Fatalf("versions: %d %v", code, m)
	}
	code, m = do(t, c, "GET", u+"/versions/2", nil)
	if v := m["version"].(map[string]any); code != 200 || v["comment"] != "fika" || v["state"] != "draft" || v["content"] == nil {
		t.Fatalf("get: %d %v", code, m)
	}
	code, m = do(t, c, "GET", u+"/versions/2/diff", nil)
	if js, _ := json.Marshal(m); code != 200 || !strings.Contains(string(js), `"added":[{"lang":"sv","match":"stem","text":"kaffemöte","weight":1}]`) {
		t.Fatalf("diff: %d %s", code, js)
	}
	if code, _ := do(t, c, "GET", u+"/versions/99", nil); code != 404 {
		t.Errorf("missing version: %d", code)
	}

	// Export → edit → import.
	resp, err := c.Get(u + "/versions/2/export?category=hr")
	if err != nil {
		t.Fatal(err)
	}
	yml, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(yml), "text: kaffemöte") || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/yaml") {
		t.Fatalf("export: %d %s", resp.StatusCode, yml)
	}
	edited := strings.Replace(string(yml), "{text: kaffemöte,", "{text: fikamöte,", 1)
	code, m = do(t, c, "POST", u+"/import", map[string]any{"base_version": 2, "comment": "import", "yaml": edited})
	if code != 201 || versionID(m) != 3 {
		t.Fatalf("import: %d %v", code, m)
	}
	code, m = do(t, c, "POST", u+"/import", map[string]any{"base_version": 3, "yaml": "category: hr\nwieght: 2\n"}, "en")
	if code != 400 || !strings.Contains(errMessage(m), "could not be read") {
		t.Errorf("bad import: %d %v", code, m)
	}

	if p, v := classify(); p != classifiers.ProfileInternal || v != 1 {
		t.Fatalf("before activation: %s v%d", p, v)
	}
	code, m = do(t, c, "POST", u+"/versions/2/activate", map[string]any{})
	if code != 200 || m["active"] != 2.0 {
		t.Fatalf("activate: %d %v", code, m)
	}
	if p, v := classify(); p != classifiers.ProfileProtected || v != 2 {
		t.Fatalf("after activation: %s v%d", p, v)
	}
	if code, m := do(t, c, "POST", u+"/versions/2/activate", map[string]any{}); code != 409 {
		t.Errorf("activate twice: %d %v", code, m)
	}

	// Schedule v3 (fikamöte, no kaffemöte) an hour ahead.
	if code, _ := do(t, c, "POST", u+"/versions/3/schedule", map[string]any{"effective_at": as.clock.Now().Add(-time.Minute)}); code != 400 {
		t.Errorf("schedule in the past: %d", code)
	}
	code, m = do(t, c, "POST", u+"/versions/3/schedule", map[string]any{"effective_at": as.clock.Now().Add(time.Hour)})
	if code != 200 || m["version"].(map[string]any)["state"] != "scheduled" {
		t.Fatalf("schedule: %d %v", code, m)
	}
	if code, _ := do(t, c, "DELETE", u+"/versions/3/schedule", nil); code != 200 {
		t.Errorf("unschedule: %d", code)
	}
	if code, _ := do(t, c, "DELETE", u+"/versions/3/schedule", nil); code != 409 {
		t.Errorf("unschedule twice: %d", code)
	}
	do(t, c, "POST", u+"/versions/3/schedule", map[string]any{"effective_at": as.clock.Now().Add(time.Hour)})
	as.clock.Add(time.Hour)
	if _, v := classify(); v != 3 {
		t.Fatalf("scheduled version not active on time: v%d", v)
	}

	code, m = do(t, c, "POST", u+"/rollback", map[string]any{})
	if code != 200 || m["active"] != 2.0 {
		t.Fatalf("rollback: %d %v", code, m)
	}
	if p, v := classify(); p != classifiers.ProfileProtected || v != 2 {
		t.Errorf("after rollback: %s v%d", p, v)
	}
	acts := auditOf(t, as, audit.RulesActivated)
	if len(acts) != 3 || acts[1].Actor != audit.System || acts[2].Details["rollback"] != "true" {
		t.Errorf("activations = %+v", acts)
	}
}

func TestAdminTestBenchAndDryRun(t *testing.T) {
	as := newAdminServer(t)
	c := as.signIn(t, "anna@kommun.se", true)
	u := as.URL + "/api/v1/admin"
	ctx := context.Background()
	// History: drafts the classify endpoint recorded.
	eng, _, _ := as.Rules.Engine(ctx)
	for i, subj := range []string{"Kaffemöte med HR-chefen", "Kaffemöte", "Kaffemöte om budget", "Budgetmöte", "Webbinarium för medborgare"} {
		ev := classifiers.Event{Subject: subj, Organizer: classifiers.Attendee{Email: "chef@kommun.se"}}
		r, _ := eng.Classify(ev, locales.Swedish)
		if err := as.Rules.RecordDraft(ctx, ev, r, as.clock.Now().Add(-time.Duration(i)*24*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	do(t, c, "POST", u+"/categories/hr/terms", map[string]any{"base_version": 1, "term": map[string]any{"text": "kaffemöte"}})

	code, m := do(t, c, "POST", u+"/testbench", map[string]any{"version": 2, "event": map[string]any{
		"subject": "Kaffemöte", "body": "Vi pratar om <b>lönesamtal</b> och personnummer 811218-9876.",
		"organizer": "chef@kommun.se", "attendees": []any{map[string]any{"email": "x@extern.se", "name": "X"}}}}, "en")
	if code != 200 {
		t.Fatalf("testbench: %d %v", code, m)
	}
	js, _ := json.Marshal(m)
	for _, want := range []string{`{"category":"hr","text":"kaffemöte"}`, `{"category":"hr","text":"lönesamtal"}`, `"profile_changed":false`, `"external_domains":["extern.se"]`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("bench lacks %s", want)
		}
	}
	if strings.Contains(string(js), "9876") {
		t.Error("bench shows the digits of a personal number")
	}
	code, m = do(t, c, "POST", u+"/testbench", map[string]any{"version": 2, "event": map[string]any{"subject": "Kaffemöte", "organizer": "chef@kommun.se"}})
	cand := m["candidate"].(map[string]any)["result"].(map[string]any)
	act := m["active"].(map[string]any)["result"].(map[string]any)
	if code != 200 || cand["profile"] != "protected" || act["profile"] != "internal" || m["profile_changed"] != true {
		t.Fatalf("bench: %d %v", code, m)
	}
	if code, m := do(t, c, "POST", u+"/testbench", map[string]any{"event": map[string]any{"subject": "x", "organizer": "inte-en-adress"}}, "en"); code != 400 || !strings.Contains(errMessage(m), "organizer.email") {
		t.Errorf("bad event: %d %v", code, m)
	}

	code, m = do(t, c, "POST", u+"/dryrun", map[string]any{"version": 2, "days": 30})
	if code != 200 || m["drafts"] != 5.0 || m["changed"] != 2.0 || m["stricter"] != 2.0 {
		t.Fatalf("dry run: %d %v", code, m)
	}
	code, m = do(t, c, "POST", u+"/dryrun", map[string]any{"version": 2, "days": 1})
	if code != 200 || m["drafts"] != 2.0 || m["changed"] != 1.0 {
		t.Errorf("1-day dry run: %d %v", code, m)
	}
	if code, _ := do(t, c, "POST", u+"/dryrun", map[string]any{"version": 2, "days": -3}); code != 400 {
		t.Errorf("negative days: %d", code)
	}
}

func TestAdminPagesAndMeasurement(t *testing.T) {
	as := newAdminServer(t)
	c := as.signIn(t, "anna@kommun.se", true)
	ctx := context.Background()
	for _, e := range []audit.Entry{
		{Action: audit.MeetingCreated, Details: map[string]string{"profile": "protected", "suggested": "protected", "externals": "2"}},
		{Action: audit.MeetingCreated, Details: map[string]string{"profile": "internal", "suggested": "protected", "externals": "0"}},
		{Action: audit.ProfileOverride, Details: map[string]string{"profile": "internal", "suggested": "protected", "categories": "hr"}},
		{Action: audit.LobbyAdmit, Details: map[string]string{"verified": "false"}},
	} {
		e.Time, e.Actor, e.Outcome = as.clock.Now().Add(-time.Hour), audit.System, audit.Success
		tx, _ := as.DB.SQL().BeginTx(ctx, nil)
		if _, err := audit.Append(ctx, tx, e); err != nil {
			t.Fatal(err)
		}
		tx.Commit()
	}
	code, m := do(t, c, "GET", as.URL+"/api/v1/admin/measurement?days=7", nil)
	if code != 200 || m["total"] != 2.0 || m["admitted_unverified"] != 1.0 || m["overrides"].(map[string]any)["down"] != 1.0 {
		t.Fatalf("measurement: %d %v", code, m)
	}
	resp, _ := http.Get(as.URL + "/metrics")
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`motesvakt_meetings_created_total{profile="protected"} 1`, `motesvakt_lobby_admitted_total{verified="false"} 1`,
		`motesvakt_profile_overrides_total{direction="down",transition="protected→internal"} 1`, `motesvakt_meeting_externals_count 2`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	do(t, c, "POST", as.URL+"/api/v1/admin/categories/hr/terms", map[string]any{"base_version": 1, "term": map[string]any{"text": "kaffemöte"}})
	pages := []struct{ path, sv, en string }{
		{"/admin", "Översikt", "Overview"},
		{"/admin/rules?category=hr&q=kaffe", `value="kaffemöte"`, "Terms per category"},
		{"/admin/profiles", "Lobby", "Profile table"},
		{"/admin/versions", "Ångra senaste aktiveringen", "Roll back the last activation"},
		{"/admin/versions/2", "kaffemöte", "Changes compared with version 1"},
		{"/admin/testbench?version=2", "Klassificera", "Classify"},
		{"/admin/dryrun?version=2&days=7", "utkast från de senaste 7 dagarna", "drafts from the last 7 days"},
		{"/admin/measurement?days=7", "1 av 1 insläppta gäster var inte verifierade", "1 of 1 admitted guests were not verified"},
	}
	for _, p := range pages {
		for _, lang := range []string{"sv", "en"} {
			t.Run(p.path+"/"+lang, func(t *testing.T) {
				req, _ := http.NewRequest("GET", as.URL+p.path, nil)
				req.Header.Set("Accept-Language", lang)
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				want := p.sv
				if lang == "en" {
					want = p.en
				}
				if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
					t.Errorf("%d, lacks %q:\n%.3000s", resp.StatusCode, want, b)
				}
				for _, gap := range []string{"[admin.", "[classify."} {
					if i := strings.Index(string(b), gap); i >= 0 {
						t.Errorf("missing locale key on page: %.60s", b[i:])
					}
				}
			})
		}
	}
}
