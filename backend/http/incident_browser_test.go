package http_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/audit"
	"github.com/motesvakt/motesvakt/backend/recorder"
	"github.com/motesvakt/motesvakt/backend/recording"
	"github.com/motesvakt/motesvakt/classifiers"
	"github.com/motesvakt/motesvakt/sfu"
)

// recBrowser is headless Chromium with fake media devices and a fresh
// profile. Loopback ICE is allowed so the page's PeerConnections reach the
// SFU on 127.0.0.1.
func recBrowser(t *testing.T) context.Context { return chromiumTab(t, 90*time.Second) }

func recWaitJS(t *testing.T, ctx context.Context, what, expr string, logs ...*lockedBuffer) {
	t.Helper()
	waitJS(t, ctx, 20*time.Second, what, expr, `JSON.stringify(window.motesvakt ? window.motesvakt.state() : document.body.innerText).slice(0, 2000)`, func() {
		for _, l := range logs {
			t.Log(l.String())
		}
	})
}

// TestIncidentBrowser: a host in the real room page (headless Chromium)
// admits an external pion guest, starts recording with record-toggle, and
// presses incident-button: the page shows recording off and the room
// locked, the guest is back in the lobby, the partial recording is held and
// the meeting flagged, all audited.
func TestIncidentBrowser(t *testing.T) {
	e := newRecEnvWith(t, true)
	ctx := recBrowser(t)
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	run("sign in",
		chromedp.Navigate(e.URL+"/auth/demo?lang=sv"),
		chromedp.SetValue(`[data-testid="demo-email"]`, "anna@kommun.se"),
		chromedp.Click(`[data-testid="demo-submit"]`),
	)
	recWaitJS(t, ctx, "signed in", `!!document.querySelector('[data-testid="signed-in-as"]')`)
	var hostID string
	if err := e.db.SQL().QueryRow(`SELECT id FROM users WHERE email = ?`, "anna@kommun.se").Scan(&hostID); err != nil {
		t.Fatal(err)
	}
	e.users["anna"] = backend.UserID(hostID)
	_, room := e.meeting(t, "mtgb", "anna", classifiers.ProfileInternal)

	run("open room", chromedp.Navigate(e.URL+"/m/mtgb"),
		chromedp.Evaluate[chromedp.Void](`window.confirm = () => true; undefined`))
	recWaitJS(t, ctx, "host in room", `window.motesvakt && window.motesvakt.state().phase === 'in_room'`, &e.logs)

	guest := recJoinRoom(t, room, sfu.Identity{ID: "g_ext", DisplayName: "Extern Gäst", Role: sfu.RoleGuest, Level: sfu.LevelCodeVerified, Invited: true})
	recExpect(t, guest, sfu.TypeLobbyWaiting, nil)
	recWaitJS(t, ctx, "lobby entry", `!!document.querySelector('[data-testid="admit-button"]')`)
	run("admit", chromedp.Click(`[data-testid="admit-button"]`))
	recExpect(t, guest, sfu.TypeWelcome, nil)
	pub := recPublishMic(t, guest)
	pctx, stop := context.WithCancel(context.Background())
	defer stop()
	go recPumpOpus(pctx, pub)

	recWaitJS(t, ctx, "record toggle", `!!document.querySelector('[data-testid="record-toggle"]')`)
	// The page re-renders on every room message; click through the DOM as
	// it is now, and again if a re-render swallowed the click.
	for i := 0; ; i++ {
		run("record", chromedp.Evaluate[chromedp.Void](`window.confirm = () => true;
			if (!window.motesvakt.state().recording) document.querySelector('[data-testid="record-toggle"]').click(); undefined`))
		ok, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`new Promise(r => setTimeout(() => r(window.motesvakt.state().recording === true), 3000))`, chromedp.EvalAwaitPromise))
		if ok {
			break
		}
		if i == 3 {
			recWaitJS(t, ctx, "recording on", `window.motesvakt.state().recording === true`, &e.logs)
		}
	}
	recExpect(t, guest, sfu.TypeRecordingState, func(m sfu.Message) bool { return *m.Recording })
	recWaitFor(t, "guest audio recorded", func() bool {
		for _, s := range e.rec.Stats("mtgb") {
			if s.Kind == "audio" && s.Packets > 10 {
				return true
			}
		}
		return false
	})

	run("incident", chromedp.Evaluate[chromedp.Void](`window.confirm = () => true; undefined`), chromedp.Click(`[data-testid="incident-button"]`))
	recWaitJS(t, ctx, "recording off and locked", `(s => s.recording === false && s.locked === true)(window.motesvakt.state())`)
	recExpect(t, guest, sfu.TypeLobbyWaiting, func(m sfu.Message) bool { return m.Reason == recorder.ReasonIncident })
	recWaitJS(t, ctx, "guest in the host's lobby", `window.motesvakt.state().lobby.some(e => e.id === 'g_ext')`)

	// The room is secured first; the flag, hold and audit commit right after.
	recWaitFor(t, "meeting flagged", func() bool {
		mt, err := e.db.Meeting(context.Background(), "mtgb")
		return err == nil && mt.Incident && mt.Locked
	})
	recs, _ := e.store.ListMeeting(context.Background(), "mtgb")
	held := 0
	for _, r := range recs {
		if r.LegalHold && r.State == recording.StateFinished {
			held++
		}
	}
	if held == 0 || held != len(recs) {
		t.Errorf("recordings = %d, held and finished = %d", len(recs), held)
	}
	trail, _ := audit.List(context.Background(), e.db.SQL(), audit.Filter{MeetingID: "mtgb", Limit: 1000})
	want := map[audit.Action]bool{audit.LobbyAdmit: false, audit.RecordingStarted: false, audit.RecordingStopped: false, audit.IncidentOpened: false}
	for _, r := range trail {
		if _, ok := want[r.Action]; ok && r.Outcome == audit.Success {
			want[r.Action] = true
		}
	}
	for a, ok := range want {
		if !ok {
			t.Errorf("no %s audit entry", a)
		}
	}

	// The host finds the recordings on the meeting page and plays one.
	run("meeting page", chromedp.Navigate(e.URL+"/meetings/mtgb"))
	recWaitJS(t, ctx, "recording links on the meeting page", `document.querySelectorAll('[data-testid="recording-link"]').length === `+strconv.Itoa(len(recs)))
	run("open the audio recording", chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('[data-testid="recording-link"]')].find(a => a.closest('tr').textContent.includes('Ogg')).click(); undefined`))
	recWaitJS(t, ctx, "audio element fed by the API", `!!document.querySelector('audio[src^="/api/v1/recordings/"]')`)
}
