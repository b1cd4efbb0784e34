package http_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/motesvakt/motesvakt/backend/audit"
	"github.com/motesvakt/motesvakt/sfu"
)

// The room browser tests drive the real meeting client (room.js) in
// headless Chromium with fake camera and microphone against the full stack
// of newMeetingServer: pages, signaling WebSocket, SFU over loopback.

// findChromium returns a Chromium binary or skips: the tests need a real
// browser and say how to get one.
func findChromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium found; run scripts/install-deps to install it")
	return ""
}

// chromiumAllocator prepares one headless Chromium per test with a fresh
// profile and the flags every browser test here needs: root without a
// sandbox, no network chatter, fake camera and microphone, loopback ICE to
// the test SFU, and no throttling of background pages. Every browser test
// in this package starts from it.
func chromiumAllocator(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(findChromium(t)),
		chromedp.NoSandbox, // CI runs as root
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		// Host candidates as plain addresses (not mDNS names) and loopback
		// allowed: the SFU in the test listens on 127.0.0.1 only.
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		// Background pages must keep decoding: both pages are "hidden".
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelA)
	return actx
}

// chromiumTab starts the browser with one tab whose operations must all end
// within timeout.
func chromiumTab(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	ctx, cancelC := chromedp.NewContext(chromiumAllocator(t))
	ctx, cancelT := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() { cancelT(); cancelC() })
	return ctx
}

// waitJS evaluates expr in ctx until it is true, riding out page loads (an
// evaluation during navigation fails and is retried). On timeout it fails
// the test with the last error and whatever dump evaluates to, after
// running onTimeout (extra diagnostics).
func waitJS(t *testing.T, ctx context.Context, within time.Duration, what, expr, dump string, onTimeout ...func()) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](dump))
			for _, f := range onTimeout {
				f()
			}
			t.Fatalf("timed out after %v waiting for %s (last error %v); page:\n%.2000s", within, what, err, page)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// roomBrowser starts one headless Chromium for a test. Pages opened with
// newPage live in separate browser contexts (separate cookie jars), so a
// host and a guest never share a session.
func roomBrowser(t *testing.T) context.Context {
	t.Helper()
	actx := chromiumAllocator(t)
	bctx, cancelB := chromedp.NewContext(actx)
	if err := chromedp.Do(bctx); err != nil { // start the browser now
		cancelB()
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(cancelB)
	return bctx
}

// roomPage is one person's tab.
type roomPage struct {
	t    *testing.T
	name string
	ctx  context.Context
	base string

	mu   sync.Mutex
	logs []string // uncaught exceptions and console errors, for failures
}

func newRoomPage(t *testing.T, browser context.Context, base, name string) *roomPage {
	t.Helper()
	p := &roomPage{t: t, name: name, base: base}
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext(), chromedp.WithListener(func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			desc := ""
			if d.Exception != nil {
				desc = d.Exception.Description
			}
			p.log(fmt.Sprintf("exception: %s %s at %s:%d", d.Text, desc, d.URL, d.LineNumber))
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				p.log("console." + string(e.Type) + ": " + strings.Join(parts, " "))
			}
		}
	}))
	t.Cleanup(cancel)
	p.ctx = ctx
	p.do("open", chromedp.Navigate(base+"/?lang=en"))
	return p
}

func (p *roomPage) log(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.logs) < 50 {
		p.logs = append(p.logs, s)
	}
}

func (p *roomPage) fatalf(format string, args ...any) {
	p.t.Helper()
	p.mu.Lock()
	logs := strings.Join(p.logs, "\n")
	p.mu.Unlock()
	st, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](`JSON.stringify(window.motesvakt ? window.motesvakt.state() : null)`))
	text, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
	p.t.Fatalf("%s: "+format+"\nstate: %.3000s\npage: %.1000s\nbrowser log:\n%s", append(append([]any{p.name}, args...), st, text, logs)...)
}

func (p *roomPage) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, steps...); err != nil {
		p.fatalf("%s: %v", what, err)
	}
}

// signIn uses the demo sign-in from inside the page, so the browser holds
// the session cookie exactly as after a real login.
func (p *roomPage) signIn(email string) {
	p.t.Helper()
	js := fmt.Sprintf(`fetch('/auth/demo', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({email: %q})}).then(r => r.status)`, email)
	status, err := chromedp.Run(p.ctx, chromedp.Evaluate[int](js, chromedp.EvalAwaitPromise))
	if err != nil || status != 200 {
		p.fatalf("demo sign-in %s: status %d, %v", email, status, err)
	}
}

// clientState is window.motesvakt.state() as the tests read it.
type clientState struct {
	Phase        string                `json:"phase"`
	Me           *sfu.ParticipantInfo  `json:"me"`
	Participants []sfu.ParticipantInfo `json:"participants"`
	Lobby        []sfu.LobbyEntry      `json:"lobby"`
	RemoteTracks []remoteTrack         `json:"remoteTracks"`
	Recording    bool                  `json:"recording"`
	Locked       bool                  `json:"locked"`
	Speaker      string                `json:"speaker"`
	Errors       []json.RawMessage     `json:"errors"`
	Reconnects   int                   `json:"reconnects"`
	Publishing   []string              `json:"publishing"`
}

type remoteTrack struct {
	ID            string  `json:"id"`
	Participant   string  `json:"participant"`
	Kind          string  `json:"kind"`
	Source        string  `json:"source"`
	BytesReceived float64 `json:"bytesReceived"`
	FramesDecoded float64 `json:"framesDecoded"`
	VideoWidth    float64 `json:"videoWidth"`
}

func (p *roomPage) state() (clientState, error) {
	// During a navigation the evaluation fails or the hook is not there
	// yet; the caller polls again.
	return chromedp.Run(p.ctx, chromedp.Evaluate[clientState](`window.motesvakt ? window.motesvakt.state() : {phase: ''}`))
}

// waitState polls state() until ok holds or the deadline passes.
func (p *roomPage) waitState(what string, within time.Duration, ok func(clientState) bool) clientState {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for {
		st, err := p.state()
		if err == nil && ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			p.fatalf("timed out after %v waiting for %s (last error %v)", within, what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitDOM polls a boolean expression about the page.
func (p *roomPage) waitDOM(what string, within time.Duration, expr string) {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			p.fatalf("timed out after %v waiting for %s (last error %v)", within, what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// click clicks the element matching sel as soon as it exists. The room
// re-renders its panels on signaling messages, so a node found by one CDP
// call may be replaced before the next; finding and clicking in one
// evaluation cannot race.
func (p *roomPage) click(what, sel string) {
	p.t.Helper()
	p.waitDOM(what, 15*time.Second, `(() => { const e = document.querySelector(`+strconv.Quote(sel)+`); if (!e) return false; e.click(); return true; })()`)
}

func (p *roomPage) eval(js string) string {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		p.fatalf("%s: %v", js, err)
	}
	return v
}

// videoFrom finds the remote camera track published by participant.
func (st clientState) videoFrom(participant sfu.ParticipantID) (remoteTrack, bool) {
	for _, r := range st.RemoteTracks {
		if r.Participant == string(participant) && r.Kind == "video" && r.Source == "camera" {
			return r, true
		}
	}
	return remoteTrack{}, false
}

// receivesVideo waits until p decodes video from the other participant
// and its byte counter keeps growing: media flows, not just a track exists.
func (p *roomPage) receivesVideo(from sfu.ParticipantID, within time.Duration) {
	p.t.Helper()
	var r0 remoteTrack
	for deadline := time.Now().Add(within); ; time.Sleep(100 * time.Millisecond) {
		st, err := p.state()
		r, ok := st.videoFrom(from)
		if err == nil && ok && r.BytesReceived > 0 && r.FramesDecoded > 0 && r.VideoWidth > 0 {
			r0 = r
			break
		}
		if time.Now().After(deadline) {
			hint := ""
			if ok && r.BytesReceived == 0 {
				// Negotiated but silent: the SFU starts a video down track
				// only on a keyframe, so it must ask the publisher for one
				// when a subscriber binds.
				hint = " (track negotiated, no RTP: the SFU never requested a keyframe for this subscriber)"
			}
			p.fatalf("timed out after %v waiting for video from %s%s (last error %v)", within, from, hint, err)
		}
	}
	p.waitState("growing video bytes from "+string(from), 10*time.Second, func(st clientState) bool {
		r, ok := st.videoFrom(from)
		return ok && r.BytesReceived > r0.BytesReceived && r.FramesDecoded > r0.FramesDecoded
	})
}

func (p *roomPage) inRoom(within time.Duration) clientState {
	p.t.Helper()
	return p.waitState("in_room", within, func(st clientState) bool { return st.Phase == "in_room" })
}

func TestRoomBrowserInternalsSeeEachOther(t *testing.T) {
	findChromium(t)
	ms := newMeetingServer(t)
	host := ms.signIn(t, "anna@kommun.se", false)
	_, m, raw := provision(t, ms, host, `{"event":`+eventJSON("Veckomöte för IT-enheten", "Planering av veckan.", "bo@kommun.se")+`}`)
	if m.ID == "" {
		t.Fatalf("provision: %v", raw)
	}
	start := time.Now()
	br := roomBrowser(t)
	anna := newRoomPage(t, br, ms.URL, "anna")
	bo := newRoomPage(t, br, ms.URL, "bo")
	anna.signIn("anna@kommun.se")
	bo.signIn("bo@kommun.se")
	anna.do("open room", chromedp.Navigate(ms.URL+"/m/"+string(m.ID)+"?lang=en"))
	bo.do("open room", chromedp.Navigate(ms.URL+"/m/"+string(m.ID)+"?lang=en"))

	as := anna.inRoom(15 * time.Second)
	bs := bo.inRoom(15 * time.Second)
	if as.Me == nil || bs.Me == nil || as.Me.Role != sfu.RoleHost || bs.Me.Role != sfu.RoleParticipant {
		t.Fatalf("roles: anna %+v, bo %+v", as.Me, bs.Me)
	}
	annaID, boID := as.Me.ID, bs.Me.ID
	anna.receivesVideo(boID, 20*time.Second)
	bo.receivesVideo(annaID, 20*time.Second)
	t.Logf("both pages decode each other's video %v after opening the room", time.Since(start).Round(time.Millisecond))

	t.Run("ParticipantListAndBadges", func(t *testing.T) {
		st, _ := anna.state()
		if got := len(st.Participants); got != 2 {
			t.Errorf("anna sees %d participants", got)
		}
		// Both are internal and signed in: badges say so, and the room
		// shows the all-verified lock the internal profile asks for.
		if got := anna.eval(`[...document.querySelectorAll('[data-testid="participant"] [data-testid="origin-badge"]')].map(e => e.dataset.internal).join(',')`); got != "true,true" {
			t.Errorf("origin badges %q", got)
		}
		if got := anna.eval(`String(!!document.querySelector('[data-testid="verified-indicator"]'))`); got != "true" {
			t.Errorf("no all-verified indicator for two internal users")
		}
		if got := anna.eval(`document.querySelector('[data-testid="profile-badge"]').dataset.profile`); got != string(m.Profile) {
			t.Errorf("profile badge %q, meeting profile %q", got, m.Profile)
		}
		// Host controls only for the host.
		for _, sel := range []string{"lock-toggle", "incident-button"} {
			if anna.eval(`String(!!document.querySelector('[data-testid="`+sel+`"]'))`) != "true" {
				t.Errorf("host has no %s", sel)
			}
			if bo.eval(`String(!!document.querySelector('[data-testid="`+sel+`"]'))`) != "false" {
				t.Errorf("participant sees %s", sel)
			}
		}
	})

	t.Run("ActiveSpeakerHighlighted", func(t *testing.T) {
		// The fake microphone beeps, so someone becomes the speaker; the
		// page marks that person's tile.
		st := bo.waitState("a speaker", 10*time.Second, func(st clientState) bool { return st.Speaker != "" })
		bo.waitDOM("speaker tile", 15*time.Second, `(() => { const s = window.motesvakt.state().speaker;
			const el = s && document.querySelector('[data-testid="tile"][data-participant="' + s + '"]');
			return !!el && el.classList.contains('speaking'); })()`)
		if st.Speaker != string(annaID) && st.Speaker != string(boID) {
			t.Errorf("speaker %q is nobody in the room", st.Speaker)
		}
	})

	t.Run("LockToggle", func(t *testing.T) {
		anna.click("lock", `[data-testid="lock-toggle"]`)
		bo.waitState("locked seen by participant", 15*time.Second, func(st clientState) bool { return st.Locked })
		anna.click("unlock", `[data-testid="lock-toggle"]`)
		bo.waitState("unlocked", 15*time.Second, func(st clientState) bool { return !st.Locked })
	})

	t.Run("ChatReachesTheOtherPage", func(t *testing.T) {
		// Type and send in one evaluation: the chat panel may re-render
		// between two CDP calls.
		bo.waitDOM("chat", 15*time.Second, `(() => {
			const i = document.querySelector('[data-testid="chat-input"]'), b = document.querySelector('[data-testid="chat-send"]');
			if (!i || !b) return false;
			i.value = 'Hej Anna'; i.dispatchEvent(new Event('input', {bubbles: true})); b.click(); return true; })()`)
		anna.waitDOM("chat line", 15*time.Second, `[...document.querySelectorAll('[data-testid="chat-line"]')].some(e => e.textContent.includes('Hej Anna'))`)
	})

	t.Run("HostMutesParticipant", func(t *testing.T) {
		anna.click("mute bo", `[data-testid="participant"][data-participant="`+string(boID)+`"] [data-testid="mute-button"]`)
		bo.waitState("muted by host", 15*time.Second, func(st clientState) bool { return st.Me != nil && st.Me.Muted })
		anna.waitDOM("muted badge", 15*time.Second, `!!document.querySelector('[data-testid="participant"][data-participant="`+string(boID)+`"] [data-testid="muted-badge"]')`)
		if got := bo.eval(`document.querySelector('[data-testid="mic-toggle"]').getAttribute('aria-pressed')`); got != "false" {
			t.Errorf("muted participant's mic toggle pressed=%s", got)
		}
		// Only the person can take their microphone back.
		bo.click("unmute self", `[data-testid="mic-toggle"]`)
		anna.waitState("bo unmuted", 15*time.Second, func(st clientState) bool {
			for _, p := range st.Participants {
				if p.ID == boID {
					return !p.Muted
				}
			}
			return false
		})
	})

	t.Run("RecordToggle", func(t *testing.T) {
		anna.click("record", `[data-testid="record-toggle"]`)
		bo.waitDOM("recording indicator", 15*time.Second, `!!document.querySelector('[data-testid="recording-indicator"]')`)
		// Seen and heard: the other page chimed and announced it too.
		bo.waitDOM("recording announced", 15*time.Second, `window.motesvakt.state().recordingCues >= 1 && document.querySelector('[data-testid="room-announce"]').textContent.includes('recorded')`)
		anna.click("stop recording", `[data-testid="record-toggle"]`)
		bo.waitState("recording stopped", 15*time.Second, func(st clientState) bool { return !st.Recording })
	})

	t.Run("IncidentWithoutEndpoint", func(t *testing.T) {
		// This server has no recorder wired, so the endpoint is absent:
		// the page says so instead of failing silently.
		anna.eval(`window.confirm = () => true, 'ok'`)
		anna.click("incident", `[data-testid="incident-button"]`)
		anna.waitDOM("incident error", 15*time.Second, `!!document.querySelector('[data-testid="room-error"][data-code="incident_unavailable"]')`)
	})

	t.Run("ScreenShare", func(t *testing.T) {
		ok, err := chromedp.Run(anna.ctx, chromedp.Evaluate[bool](`!!(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia)`))
		if err != nil || !ok {
			t.Skip("this Chromium has no getDisplayMedia")
		}
		anna.click("share", `[data-testid="share-toggle"]`)
		deadline := time.Now().Add(15 * time.Second)
		for {
			st, _ := bo.state()
			shared := false
			for _, r := range st.RemoteTracks {
				shared = shared || r.Participant == string(annaID) && r.Source == "screen" && r.BytesReceived > 0 && r.VideoWidth > 0
			}
			if shared {
				break
			}
			as, _ := anna.state()
			if time.Now().After(deadline) {
				if !slicesContains(as.Publishing, "screen") {
					t.Skipf("headless Chromium did not start a screen capture (publishing %v)", as.Publishing)
				}
				bo.fatalf("no screen share from the host")
			}
			time.Sleep(100 * time.Millisecond)
		}
		bo.waitDOM("screen tile", 15*time.Second, `!!document.querySelector('[data-testid="screen-tile"] video[data-track]:not([data-track=""])')`)
		anna.click("stop share", `[data-testid="share-toggle"]`)
		bo.waitState("screen share gone", 10*time.Second, func(st clientState) bool {
			for _, r := range st.RemoteTracks {
				if r.Source == "screen" {
					return false
				}
			}
			return true
		})
	})

	t.Run("ReconnectAfterNetworkBlip", func(t *testing.T) {
		// The socket dies without a goodbye; the client comes back on its
		// own, publishes again and both sides see video again.
		bo.eval(`window.motesvakt.dropConnection(), 'ok'`)
		bo.waitState("reconnected", 15*time.Second, func(st clientState) bool { return st.Reconnects > 0 && st.Phase == "in_room" })
		bo.receivesVideo(annaID, 20*time.Second)
		anna.receivesVideo(boID, 20*time.Second)
	})
	t.Logf("room test took %v", time.Since(start).Round(time.Millisecond))
}

func TestRoomBrowserGuestLobby(t *testing.T) {
	findChromium(t)
	ms := newMeetingServer(t)
	host := ms.signIn(t, "anna@kommun.se", false)
	_, m, raw := provision(t, ms, host, `{"event":`+eventJSON("Upphandling av skolskjuts", "Anbuden öppnas.", "lev@leverantor.se", "eva@konsult.se")+`}`)
	if m.ID == "" {
		t.Fatalf("provision: %v", raw)
	}
	levCode := codeRE.FindString(ms.mailFor(t, "lev@leverantor.se"))
	evaCode := codeRE.FindString(ms.mailFor(t, "eva@konsult.se"))
	if levCode == "" || evaCode == "" {
		t.Fatal("no codes in the mails")
	}
	start := time.Now()
	br := roomBrowser(t)
	anna := newRoomPage(t, br, ms.URL, "host")
	anna.signIn("anna@kommun.se")
	anna.do("open room", chromedp.Navigate(ms.URL+"/m/"+string(m.ID)+"?lang=en"))
	annaID := anna.inRoom(15 * time.Second).Me.ID

	// joinAsGuest types the mail's code into the join page like a person.
	joinAsGuest := func(name, email, code, display string) *roomPage {
		g := newRoomPage(t, br, ms.URL, name)
		g.do("join page", chromedp.Navigate(m.JoinURL+"?lang=en"),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="join-email"]`)),
			chromedp.SendKeys(chromedp.CSS(`[data-testid="join-email"]`), email),
			chromedp.SendKeys(chromedp.CSS(`[data-testid="join-code"]`), code),
			chromedp.SendKeys(chromedp.CSS(`[data-testid="join-name"]`), display),
			chromedp.Click(chromedp.CSS(`[data-testid="join-submit"]`)))
		g.waitState("lobby", 15*time.Second, func(st clientState) bool { return st.Phase == "lobby" })
		g.waitDOM("lobby-waiting", 15*time.Second, `!!document.querySelector('[data-testid="lobby-waiting"]')`)
		return g
	}
	entry := func(email string) string { return `[data-testid="lobby-entry"][data-email="` + email + `"]` }

	lev := joinAsGuest("lev", "lev@leverantor.se", levCode, "Leverantör AB")
	anna.waitDOM("lobby entry for lev", 10*time.Second, `!!document.querySelector('`+entry("lev@leverantor.se")+`')`)
	t.Run("Evidence", func(t *testing.T) {
		got := anna.eval(`(() => { const e = document.querySelector('` + entry("lev@leverantor.se") + `');
			return [e.dataset.level, e.dataset.internal, e.dataset.invited, e.dataset.codeVerifiedAt ? 'at' : 'none',
				e.textContent.includes('lev@leverantor.se') ? 'mail' : 'nomail', e.textContent.includes('Leverantör AB') ? 'name' : 'noname',
				String(!!e.querySelector('[data-testid="code-verified-at"]'))].join('|'); })()`)
		if want := "code_verified|false|true|at|mail|name|true"; got != want {
			t.Errorf("lobby evidence %q, want %q", got, want)
		}
		st, _ := anna.state()
		if len(st.Lobby) != 1 || st.Lobby[0].Email != "lev@leverantor.se" || st.Lobby[0].CodeVerifiedAt.IsZero() {
			t.Errorf("state lobby %+v", st.Lobby)
		}
	})
	anna.click("admit", entry("lev@leverantor.se")+` [data-testid="admit-button"]`)
	ls := lev.inRoom(10 * time.Second)
	if ls.Me == nil || ls.Me.Level != sfu.LevelCodeVerified || ls.Me.Role != sfu.RoleGuest {
		t.Fatalf("guest identity in room %+v", ls.Me)
	}
	anna.receivesVideo(ls.Me.ID, 20*time.Second)
	lev.receivesVideo(annaID, 20*time.Second)
	t.Logf("guest admitted and video both ways %v after the host opened the room", time.Since(start).Round(time.Millisecond))

	t.Run("GuestBadges", func(t *testing.T) {
		got := anna.eval(`(() => { const li = document.querySelector('[data-testid="participant"][data-participant="` + string(ls.Me.ID) + `"]');
			return li ? li.querySelector('[data-testid="identity-badge"]').dataset.level + '|' + li.querySelector('[data-testid="origin-badge"]').dataset.internal : 'missing'; })()`)
		if got != "code_verified|false" {
			t.Errorf("guest badges %q", got)
		}
		if lev.eval(`String(!!document.querySelector('[data-testid="admit-button"], [data-testid="lock-toggle"]'))`) != "false" {
			t.Error("guest sees host controls")
		}
	})

	t.Run("PromoteShareDemote", func(t *testing.T) {
		// An external guest may not share a screen in this meeting
		// until a host promotes them; demotion stops the share at once and
		// the guest's page says why.
		if lev.eval(`String(!!document.querySelector('[data-testid="share-toggle"]'))`) != "false" {
			t.Fatal("guest offered screen share before promotion")
		}
		row := `[data-testid="participant"][data-participant="` + string(ls.Me.ID) + `"]`
		anna.click("promote", row+` [data-testid="promote-button"]`)
		lev.waitDOM("share offered", 15*time.Second, `!!document.querySelector('[data-testid="share-toggle"]')`)
		lev.click("share", `[data-testid="share-toggle"]`)
		anna.waitState("guest's screen", 15*time.Second, func(st clientState) bool {
			for _, r := range st.RemoteTracks {
				if r.Participant == string(ls.Me.ID) && r.Source == "screen" && r.BytesReceived > 0 {
					return true
				}
			}
			return false
		})
		anna.click("demote", row+` [data-testid="demote-button"]`)
		lev.waitState("share stopped with a reason", 15*time.Second, func(st clientState) bool {
			refused := false
			for _, e := range st.Errors {
				refused = refused || strings.Contains(string(e), `"code":"track_forbidden"`)
			}
			return refused && !slicesContains(st.Publishing, "screen")
		})
		lev.waitDOM("reason shown", 15*time.Second, `!!document.querySelector('[data-testid="room-error"][data-code="track_forbidden"]')`)
		anna.waitState("screen gone", 10*time.Second, func(st clientState) bool {
			for _, r := range st.RemoteTracks {
				if r.Source == "screen" {
					return false
				}
			}
			return true
		})
	})

	t.Run("Deny", func(t *testing.T) {
		eva := joinAsGuest("eva", "eva@konsult.se", evaCode, "Eva Konsult")
		anna.waitDOM("lobby entry for eva", 10*time.Second, `!!document.querySelector('`+entry("eva@konsult.se")+`')`)
		anna.click("deny", entry("eva@konsult.se")+` [data-testid="deny-button"]`)
		eva.waitState("denied", 10*time.Second, func(st clientState) bool { return st.Phase == "denied" })
		eva.waitDOM("denied view", 15*time.Second, `!!document.querySelector('[data-testid="room-denied"]')`)
		anna.waitState("lobby empty", 15*time.Second, func(st clientState) bool { return len(st.Lobby) == 0 })
		// The denial is on the record, with the host as actor.
		recs, err := audit.List(context.Background(), ms.DB.SQL(), audit.Filter{MeetingID: string(m.ID), Action: audit.LobbyDeny})
		if err != nil || len(recs) != 1 || !strings.HasPrefix(string(recs[0].Actor), "user:") {
			t.Errorf("deny audit: %+v %v", recs, err)
		}
		// A reload does not bring the denied session back into the lobby.
		eva.do("reload", chromedp.Reload())
		eva.waitState("still denied after reload", 10*time.Second, func(st clientState) bool { return st.Phase == "denied" })
	})
	t.Logf("guest lobby test took %v", time.Since(start).Round(time.Millisecond))
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
