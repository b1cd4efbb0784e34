package http_test

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	mhttp "github.com/motesvakt/motesvakt/backend/http"
	"github.com/motesvakt/motesvakt/backend/meetings"
	"github.com/motesvakt/motesvakt/backend/rules"
	"github.com/motesvakt/motesvakt/backend/sqlite"
	"github.com/motesvakt/motesvakt/classifiers"
	"github.com/motesvakt/motesvakt/locales"
)

// browser starts headless Chromium with a fresh profile.
func browser(t *testing.T) context.Context { return chromiumTab(t, 60*time.Second) }

// waitFor evaluates expr until it is true, riding out page loads (an
// evaluation during navigation fails and is retried).
func waitFor(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	waitJS(t, ctx, 15*time.Second, what, expr, `document.body ? document.body.innerText : ''`)
}

func TestAdminBrowserEditBenchActivate(t *testing.T) {
	// The real classify endpoint, fed by the rules store as its PolicySource
	// and recording drafts for dry runs, as the service wires it.
	as := newAdminServer(t, func(db *sqlite.DB, rs *rules.Store, now func() time.Time) mhttp.Option {
		svc := &meetings.Service{DB: db, Policy: rs, DraftRecorder: func(ctx context.Context, ev classifiers.Event, res classifiers.Result) {
			if err := rs.RecordDraft(ctx, ev, res, now()); err != nil {
				t.Error(err)
			}
		}}
		return mhttp.WithMeetings(svc, nil, nil)
	})
	ctx := browser(t)
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return v
	}

	// Sign in as an admin through the demo form, in English.
	run("sign in",
		chromedp.Navigate(as.URL+"/auth/demo?lang=en"),
		chromedp.SetValue(`[data-testid="demo-email"]`, "anna@kommun.se"),
		chromedp.Click(`[data-testid="demo-admin"]`),
		chromedp.Click(`[data-testid="demo-submit"]`),
	)
	waitFor(t, ctx, "signed in", `!!document.querySelector('[data-testid="signed-in-as"]')`)
	classifyAPI := func() string {
		t.Helper()
		return eval(`(async () => {
			const r = await fetch('/api/v1/classify', {method: 'POST', headers: {'Content-Type': 'application/json'},
				body: JSON.stringify({subject: 'Kaffemöte på fredag', organizer: 'anna@kommun.se'})});
			const j = await r.json();
			return r.status + ' ' + j.profile + ' v' + r.headers.get('X-Rules-Version');
		})()`)
	}
	if got := classifyAPI(); got != "200 internal v1" {
		t.Fatalf("classify before: %q", got)
	}

	// Edit a term: rename hr's "rehabplan" to "kaffemöte".
	run("open hr terms", chromedp.Navigate(as.URL+"/admin/rules?category=hr&q=rehabplan&lang=en"))
	waitFor(t, ctx, "term row", `!!document.querySelector('tr[data-old-text="rehabplan"]')`)
	run("edit term",
		chromedp.SetValue(`tr[data-old-text="rehabplan"] [data-testid="term-text"]`, "kaffemöte"),
		chromedp.SetValue(`[data-testid="edit-comment"]`, "Fika är personalfrågor"),
		chromedp.Click(`tr[data-old-text="rehabplan"] [data-testid="term-save"]`),
	)
	waitFor(t, ctx, "saved as version 2", `location.search.includes('version=2') && document.readyState === 'complete' && !!document.querySelector('[data-testid="terms"]')`)
	if p, v := classifyWith(t, as, "Kaffemöte på fredag"); p != classifiers.ProfileInternal || v != 1 {
		t.Fatalf("a saved draft changed the active rules: %s v%d", p, v)
	}

	// Test bench: the new term is highlighted under version 2 only.
	run("bench",
		chromedp.Navigate(as.URL+"/admin/testbench?version=2"),
		chromedp.SetValue(`[data-testid="bench-subject"]`, "Kaffemöte på fredag"),
		chromedp.Click(`[data-testid="bench-run"]`),
	)
	waitFor(t, ctx, "highlight", `document.querySelector('#bench-candidate mark[data-category="hr"]')?.textContent === 'kaffemöte'`)
	if got := eval(`document.querySelector('#bench-candidate [data-testid="bench-profile"]').textContent + '|' + document.querySelector('#bench-active [data-testid="bench-profile"]').textContent`); got != "Protected meeting|Internal meeting" {
		// Profile names come from the locales, whatever their wording.
		want := locales.T(locales.English, "classify.profile.protected") + "|" + locales.T(locales.English, "classify.profile.internal")
		if got != want {
			t.Errorf("bench profiles = %q, want %q", got, want)
		}
	}
	if n := eval(`String(document.querySelectorAll('#bench-active mark').length)`); n != "0" {
		t.Errorf("active version highlights %s spans", n)
	}
	if got := eval(`document.querySelector('[data-testid="bench-diff"]').dataset.changed`); got != "true" {
		t.Errorf("bench diff changed = %q", got)
	}

	// Activate from the version page; classification follows without restart.
	run("activate",
		chromedp.Navigate(as.URL+"/admin/versions/2"),
		chromedp.Evaluate[chromedp.Void](`window.confirm = () => true; undefined`),
		chromedp.Click(`[data-testid="activate"]`),
	)
	waitFor(t, ctx, "active", `document.querySelector('[data-testid="version-state"]')?.textContent === 'active'`)
	if got := classifyAPI(); got != "200 protected v2" {
		t.Errorf("classify after activation: %q, want 200 protected v2", got)
	}

	// The draft the classify call recorded shows up in the dry run of a
	// rollback to version 1.
	run("dry run", chromedp.Navigate(as.URL+"/admin/dryrun?version=1&days=7"))
	waitFor(t, ctx, "dry-run report", `!!document.querySelector('[data-testid="dryrun-example"]')`)
	if got := eval(`document.querySelector('[data-testid="dryrun-example"] strong').textContent`); got != "Kaffemöte på fredag" {
		t.Errorf("dry-run example = %q", got)
	}
}

func classifyWith(t *testing.T, as *adminServer, subject string) (classifiers.Profile, int64) {
	t.Helper()
	e, v, err := as.Rules.Engine(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.Classify(classifiers.Event{Subject: subject, Organizer: classifiers.Attendee{Email: "anna@kommun.se"}}, locales.English)
	if err != nil {
		t.Fatal(err)
	}
	return r.Profile, v
}
