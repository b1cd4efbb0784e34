package http_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/motesvakt/motesvakt/classifiers"
)

// addinBrowser starts headless Chromium with a fresh profile.
func addinBrowser(t *testing.T) context.Context { return chromiumTab(t, 60*time.Second) }

func addinWait(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	waitJS(t, ctx, 15*time.Second, what, expr, `(document.body ? document.body.innerText : '') + "\n" + JSON.stringify(window.__office || {})`)
}

func addinEval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("eval %q: %v", js, err)
	}
	return v
}

// officeStandIn is a scripted Office.js: one appointment in compose mode
// with async getters/setters, session data, custom properties and
// notifications, Office.actions.associate, and OfficeRuntime.auth handing
// out token. window.__office exposes the state; __office.fire(name) runs
// an associated handler with an event whose completed() is recorded.
func officeStandIn(token string, item map[string]any) string {
	it, _ := json.Marshal(item)
	tok, _ := json.Marshal(token)
	return `(function () {
  var S = window.__office = Object.assign({ subject: "", html: "", location: "", required: [], optional: [], organizer: null,
    start: "2026-03-10T08:00:00Z", end: "2026-03-10T09:00:00Z", notifications: {}, session: {}, props: {}, saved: null,
    completed: {}, actions: {}, lang: "sv-SE" }, ` + string(it) + `);
  function done(cb, v) { setTimeout(function () { cb({ status: "succeeded", value: v }); }, 0); }
  function last(args) { return args[args.length - 1]; }
  function text(html) { return html.replace(/<br\s*\/?>/g, "\n").replace(/<[^>]*>/g, ""); }
  function recips(k) { return { getAsync: function (cb) { done(cb, S[k].map(function (e) { return { emailAddress: e, displayName: e.split("@")[0] }; })); } }; }
  var item = {
    itemType: "appointment",
    subject: { getAsync: function (cb) { done(cb, S.subject); }, setAsync: function (v, cb) { S.subject = v; done(cb); } },
    body: {
      getAsync: function (type) { var cb = last(arguments); done(cb, type === "html" ? S.html : text(S.html)); },
      setAsync: function (v) { var cb = last(arguments); S.html = v; done(cb); }
    },
    location: { getAsync: function (cb) { done(cb, S.location); }, setAsync: function (v, cb) { S.location = v; done(cb); } },
    organizer: { getAsync: function (cb) { done(cb, S.organizer && { emailAddress: S.organizer, displayName: "Anna" }); } },
    requiredAttendees: recips("required"),
    optionalAttendees: recips("optional"),
    start: { getAsync: function (cb) { done(cb, new Date(S.start)); } },
    end: { getAsync: function (cb) { done(cb, new Date(S.end)); } },
    notificationMessages: { replaceAsync: function (key, msg, cb) { S.notifications[key] = msg; if (cb) done(cb); } },
    sessionData: {
      getAsync: function (k, cb) { done(cb, S.session[k]); },
      setAsync: function (k, v, cb) { S.session[k] = v; done(cb); }
    },
    loadCustomPropertiesAsync: function (cb) {
      var p = JSON.parse(JSON.stringify(S.props));
      done(cb, { get: function (k) { return p[k]; }, set: function (k, v) { p[k] = v; },
        saveAsync: function (cb2) { S.props = p; S.saved = JSON.parse(JSON.stringify(p)); done(cb2); } });
    }
  };
  window.Office = {
    AsyncResultStatus: { Succeeded: "succeeded", Failed: "failed" },
    CoercionType: { Text: "text", Html: "html" },
    MailboxEnums: { ItemNotificationMessageType: { InformationalMessage: "informationalMessage" }, SendModeOverride: { PromptUser: "promptUser" } },
    context: { displayLanguage: S.lang, mailbox: { item: item } },
    actions: { associate: function (n, f) { S.actions[n] = f; } },
    onReady: function (cb) { var p = Promise.resolve({ host: "Outlook" }); if (cb) { p.then(cb); } return p; }
  };
  window.OfficeRuntime = { auth: { getAccessToken: function () { return Promise.resolve(` + string(tok) + `); } } };
  S.fire = function (name) { delete S.completed[name]; S.actions[name]({ completed: function (o) { S.completed[name] = o || {}; } }); return true; };
})();`
}

func TestAddinOutlookTaskPaneAndSend(t *testing.T) {
	as := newAddinServer(t)
	as.officeJS = officeStandIn(as.outlookToken(t, nil), map[string]any{
		"subject": "Lönesamtal med Bo", "html": "<p>Agenda: lönekriterier</p>", "organizer": "anna@kommun.se",
		"required": []string{"anna@kommun.se", "bo@kommun.se"}, "optional": []string{"ombud@advokat.se"},
	})
	ctx := addinBrowser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(as.URL+"/addin/outlook/taskpane.html?lang=sv")); err != nil {
		t.Fatal(err)
	}
	addinWait(t, ctx, "task pane ready", `window.motesvakt && window.motesvakt.state().phase === "ready"`)
	if got := addinEval[string](t, ctx, `document.querySelector('[data-testid="addin-profile"]').textContent`); got != "Skyddsvärt möte" {
		t.Errorf("profile shown %q", got)
	}
	reasons := addinEval[string](t, ctx, `document.querySelector('[data-testid="addin-reasons"]').innerText`)
	if !strings.Contains(reasons, "personalärenden") || !strings.Contains(reasons, "lönesamtal") {
		t.Errorf("reasons %q", reasons)
	}
	if got := addinEval[string](t, ctx, `document.querySelector('[data-testid="addin-external"]').textContent`); !strings.Contains(got, "advokat.se") {
		t.Errorf("external %q", got)
	}
	if got := addinEval[string](t, ctx, `__office.notifications.motesvakt.message`); !strings.Contains(got, "Skyddsvärt möte") {
		t.Errorf("notification %q", got)
	}
	// hr allows a downgrade with a reason: the option is enabled.
	if addinEval[bool](t, ctx, `document.querySelector('[data-testid="addin-select"] option[value="internal"]').disabled`) {
		t.Error("internal disabled for an hr meeting")
	}
	// Lowering without a reason is refused in the pane.
	if err := chromedp.Do(ctx,
		chromedp.SetValue(`[data-testid="addin-select"]`, "internal"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-testid="addin-select"]').dispatchEvent(new Event("change")); undefined`),
		chromedp.Click(`[data-testid="addin-apply"]`)); err != nil {
		t.Fatal(err)
	}
	addinWait(t, ctx, "reason required", `document.querySelector('[data-testid="addin-status"]').textContent.includes("motivering")`)
	if addinEval[bool](t, ctx, `document.querySelector('[data-testid="addin-reason-box"]').hidden`) {
		t.Error("reason box hidden while lowering")
	}
	if err := chromedp.Do(ctx,
		chromedp.SetValue(`[data-testid="addin-reason"]`, "Rutinsamtal utan känsliga uppgifter"),
		chromedp.Click(`[data-testid="addin-apply"]`)); err != nil {
		t.Fatal(err)
	}
	addinWait(t, ctx, "choice stored", `!!__office.session.motesvakt && JSON.parse(__office.session.motesvakt).profile === "internal"`)

	// Send: the authoritative check provisions and writes back.
	addinEval[bool](t, ctx, `__office.fire("onAppointmentSend")`)
	addinWait(t, ctx, "send completed", `!!__office.completed.onAppointmentSend`)
	if !addinEval[bool](t, ctx, `__office.completed.onAppointmentSend.allowEvent === true`) {
		t.Fatalf("send blocked: %s", addinEval[string](t, ctx, `JSON.stringify(__office.completed.onAppointmentSend)`))
	}
	calls := as.svc.ProvisionCalls()
	if len(calls) != 1 {
		t.Fatalf("Provision calls %d", len(calls))
	}
	req := calls[0].Req
	if req.Profile != classifiers.ProfileInternal || req.OverrideReason != "Rutinsamtal utan känsliga uppgifter" || req.EventRef.Provider != "outlook" || !strings.HasPrefix(req.EventRef.ID, "olk-") {
		t.Errorf("provision request %+v", req)
	}
	if len(req.Event.Attendees) != 3 || req.Event.Subject != "Lönesamtal med Bo" || req.Event.Start == nil || calls[0].By.Email != "anna@kommun.se" {
		t.Errorf("event %+v by %+v", req.Event, calls[0].By)
	}
	html := addinEval[string](t, ctx, `__office.html`)
	if !strings.Contains(html, "https://mv.test/m/m001") || !strings.Contains(html, "Internt möte") || !strings.HasPrefix(html, "<p>Agenda") {
		t.Errorf("body after write-back %q", html)
	}
	if got := addinEval[string](t, ctx, `__office.location`); got != "https://mv.test/m/m001" {
		t.Errorf("location %q", got)
	}
	if got := addinEval[string](t, ctx, `__office.saved.motesvaktMeeting + " " + __office.saved.motesvaktProfile`); got != "m001 internal" {
		t.Errorf("custom properties %q", got)
	}
	// Sending an update reuses the event ref: same meeting, one block.
	addinEval[bool](t, ctx, `__office.fire("onAppointmentSend")`)
	addinWait(t, ctx, "second send", `!!__office.completed.onAppointmentSend`)
	calls = as.svc.ProvisionCalls()
	if len(calls) != 2 || calls[1].Req.EventRef != calls[0].Req.EventRef {
		t.Errorf("resend: %+v", calls)
	}
	if n := strings.Count(addinEval[string](t, ctx, `__office.html`), "mv.test/m/m001\""); n != 1 {
		t.Errorf("join block written %d times", n)
	}
}

func TestAddinOutlookEventHandlers(t *testing.T) {
	as := newAddinServer(t)
	as.officeJS = officeStandIn(as.outlookToken(t, nil), map[string]any{
		"subject": "Säkerhetsincident: dataintrång", "organizer": "anna@kommun.se", "required": []string{"bo@kommun.se"}, "lang": "en-US",
		"session": map[string]string{"motesvakt": `{"profile":"internal","reason":"no"}`},
	})
	ctx := addinBrowser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(as.URL+"/addin/outlook/commands.html")); err != nil {
		t.Fatal(err)
	}
	addinWait(t, ctx, "handlers associated", `!!(window.__office && __office.actions.onNewAppointment && __office.actions.onAppointmentSend && __office.actions.onAttendeesChanged)`)
	addinEval[bool](t, ctx, `__office.fire("onNewAppointment")`)
	addinWait(t, ctx, "new appointment handled", `!!__office.completed.onNewAppointment`)
	if got := addinEval[string](t, ctx, `__office.notifications.motesvakt.message`); got != "Mötesvakt suggests Protected meeting. Open Mötesvakt to see why." {
		t.Errorf("notification %q", got)
	}
	addinEval[bool](t, ctx, `__office.subject = "Veckomöte"; __office.fire("onAttendeesChanged")`)
	addinWait(t, ctx, "attendees handled", `!!__office.completed.onAttendeesChanged && __office.notifications.motesvakt.message.includes("Internal")`)

	// incident forbids a downgrade: the send is blocked, nothing provisioned.
	addinEval[bool](t, ctx, `__office.subject = "Säkerhetsincident: dataintrång"; __office.fire("onAppointmentSend")`)
	addinWait(t, ctx, "send handled", `!!__office.completed.onAppointmentSend`)
	got := addinEval[string](t, ctx, `JSON.stringify(__office.completed.onAppointmentSend)`)
	if !strings.Contains(got, `"allowEvent":false`) || !strings.Contains(got, "not allowed") {
		t.Errorf("forbidden downgrade completed with %s", got)
	}
	if n := len(as.svc.ProvisionCalls()); n != 0 {
		t.Errorf("Provision called %d times", n)
	}
	// Backend unreachable: blocked, but the host may send anyway.
	addinEval[bool](t, ctx, `__office.session = {}; MotesvaktOutlook.config.api = "http://127.0.0.1:9"; __office.fire("onAppointmentSend")`)
	addinWait(t, ctx, "send with backend down", `!!__office.completed.onAppointmentSend`)
	got = addinEval[string](t, ctx, `JSON.stringify(__office.completed.onAppointmentSend)`)
	if !strings.Contains(got, `"sendModeOverride":"promptUser"`) || !strings.Contains(got, "could not be reached") {
		t.Errorf("backend down completed with %s", got)
	}
	// The forbidden downgrade shows as disabled options in the task pane.
	if err := chromedp.Do(ctx, chromedp.Navigate(as.URL+"/addin/outlook/taskpane.html?lang=en")); err != nil {
		t.Fatal(err)
	}
	addinWait(t, ctx, "task pane ready", `window.motesvakt && window.motesvakt.state().phase === "ready"`)
	if !addinEval[bool](t, ctx, `document.querySelector('option[value="internal"]').disabled && document.querySelector('option[value="open"]').disabled && !document.querySelector('[data-testid="addin-forbidden"]').hidden`) {
		t.Error("forbidden downgrades not disabled")
	}
}
