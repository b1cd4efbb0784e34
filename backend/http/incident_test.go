package http_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4/pkg/media/oggreader"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/audit"
	"github.com/motesvakt/motesvakt/backend/recorder"
	"github.com/motesvakt/motesvakt/classifiers"
	"github.com/motesvakt/motesvakt/sfu"
)

// csrfFor is the form token the server expects for c's session (CSRFKey is
// 32 zero bytes in these tests).
func recCSRF(c *http.Client) string {
	m := hmac.New(sha256.New, make([]byte, 32))
	m.Write([]byte("csrf\x00" + c.Transport.(recCookieTransport).sid))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// TestIncidentFlowAPI drives the incident button end to end over HTTP with a
// live room: recording stops, the hold is set, the meeting is flagged, the
// external and the unverified guest are back in the lobby, the audit trail
// is complete; the recording plays with Range for the host, is refused to
// others, the admin reviews, releases and closes.
func TestIncidentFlowAPI(t *testing.T) {
	e := newRecEnv(t)
	host := e.user(t, "anna", backend.RoleHost)
	other := e.user(t, "bertil")
	admin := e.user(t, "cecilia", backend.RoleAdmin)
	_, room := e.meeting(t, "mtg1", "anna", classifiers.ProfileInternal)

	hostC := recJoinRoom(t, room, sfu.Identity{ID: sfu.ParticipantID("u_" + string(e.users["anna"])), DisplayName: "Anna", Role: sfu.RoleHost, Level: sfu.LevelInternalMFA, Internal: true})
	recExpect(t, hostC, sfu.TypeWelcome, nil)
	internal := recJoinRoom(t, room, sfu.Identity{ID: "u_int", DisplayName: "Intern", Role: sfu.RoleParticipant, Level: sfu.LevelInternalSSO, Internal: true})
	recExpect(t, internal, sfu.TypeWelcome, nil)
	ext := recJoinRoom(t, room, sfu.Identity{ID: "g_ext", DisplayName: "Extern", Role: sfu.RoleGuest, Level: sfu.LevelCodeVerified, Invited: true})
	recExpect(t, ext, sfu.TypeLobbyWaiting, nil)
	link := recJoinRoom(t, room, sfu.Identity{ID: "g_link", DisplayName: "Okänd", Role: sfu.RoleGuest, Level: sfu.LevelUnverified})
	recExpect(t, link, sfu.TypeLobbyWaiting, nil)
	for _, id := range []sfu.ParticipantID{"g_ext", "g_link"} {
		if err := hostC.Send(sfu.Message{Type: sfu.TypeAdmit, Target: id}); err != nil {
			t.Fatal(err)
		}
	}
	recExpect(t, ext, sfu.TypeWelcome, nil)
	recExpect(t, link, sfu.TypeWelcome, nil)

	pub := recPublishMic(t, hostC)
	pctx, stop := context.WithCancel(context.Background())
	defer stop()
	go recPumpOpus(pctx, pub)
	recWaitFor(t, "track", func() bool { return len(room.Snapshot().Tracks) == 1 })
	on := true
	if err := hostC.Send(sfu.Message{Type: sfu.TypeRecord, On: &on}); err != nil {
		t.Fatal(err)
	}
	recExpect(t, internal, sfu.TypeRecordingState, func(m sfu.Message) bool { return *m.Recording })
	recWaitFor(t, "audio recorded", func() bool { st := e.rec.Stats("mtg1"); return len(st) == 1 && st[0].Packets > 10 })

	api := e.URL + "/api/v1/meetings/mtg1/incident"
	if res, body := recDo(t, other, http.MethodPost, api); res.StatusCode != http.StatusForbidden {
		t.Fatalf("incident by a non-host: %d %s", res.StatusCode, body)
	}
	if !room.Recording() {
		t.Fatal("a refused incident stopped the recording")
	}
	res, body := recDo(t, host, http.MethodPost, api, "Accept-Language", "sv")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("incident: %d %s", res.StatusCode, body)
	}
	var ib struct {
		Incident         bool     `json:"incident"`
		RecordingStopped bool     `json:"recording_stopped"`
		Finished         []string `json:"finished"`
		LegalHold        int      `json:"legal_hold"`
		ReturnedToLobby  int      `json:"returned_to_lobby"`
		Message          string   `json:"message"`
	}
	if err := json.Unmarshal([]byte(body), &ib); err != nil {
		t.Fatal(err)
	}
	if !ib.Incident || !ib.RecordingStopped || len(ib.Finished) != 1 || ib.LegalHold != 1 || ib.ReturnedToLobby != 2 || !strings.Contains(ib.Message, "väntrummet") {
		t.Fatalf("incident response = %+v", ib)
	}
	recExpect(t, ext, sfu.TypeLobbyWaiting, func(m sfu.Message) bool { return m.Reason == recorder.ReasonIncident })
	recExpect(t, link, sfu.TypeLobbyWaiting, func(m sfu.Message) bool { return m.Reason == recorder.ReasonIncident })
	recExpect(t, internal, sfu.TypeRecordingState, func(m sfu.Message) bool { return !*m.Recording })
	if st := room.Snapshot(); !st.Locked || st.Recording || len(st.Lobby) != 2 || len(st.Participants) != 2 {
		t.Errorf("room after incident: locked=%v recording=%v lobby=%d participants=%d", st.Locked, st.Recording, len(st.Lobby), len(st.Participants))
	}
	mt, err := e.db.Meeting(context.Background(), "mtg1")
	if err != nil || !mt.Incident || !mt.Locked {
		t.Fatalf("meeting flags: %+v %v", mt, err)
	}

	// The meeting's recordings: one, finished, under hold.
	res, body = recDo(t, host, http.MethodGet, e.URL+"/api/v1/meetings/mtg1/recordings")
	var list struct {
		Recordings []struct {
			ID        string `json:"id"`
			State     string `json:"state"`
			LegalHold bool   `json:"legal_hold"`
			URL       string `json:"url"`
			Page      string `json:"page"`
		} `json:"recordings"`
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil || res.StatusCode != http.StatusOK || len(list.Recordings) != 1 {
		t.Fatalf("list: %d %s %v", res.StatusCode, body, err)
	}
	r := list.Recordings[0]
	if r.State != "finished" || !r.LegalHold {
		t.Errorf("recording = %+v, want finished under hold", r)
	}

	// Playback: Range for the host, decrypted on the fly.
	res, body = recDo(t, host, http.MethodGet, e.URL+r.URL, "Range", "bytes=0-3")
	if res.StatusCode != http.StatusPartialContent || body != "OggS" {
		t.Fatalf("range: %d %q", res.StatusCode, body)
	}
	res, body = recDo(t, admin, http.MethodGet, e.URL+r.URL+"?download=1")
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("download: %d %v", res.StatusCode, res.Header)
	}
	if _, hdr, err := oggreader.NewWith(bytes.NewReader([]byte(body))); err != nil || hdr.SampleRate != 48000 {
		t.Errorf("downloaded file is not Ogg/Opus: %v", err)
	}
	if res, _ := recDo(t, other, http.MethodGet, e.URL+r.URL); res.StatusCode != http.StatusForbidden {
		t.Errorf("playback by a non-host: %d", res.StatusCode)
	}
	// Key provider down: 503 with the localized reason.
	e.keys.down.Store(true)
	res, body = recDo(t, host, http.MethodGet, e.URL+r.URL, "Accept-Language", "sv")
	e.keys.down.Store(false)
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "nyckeltjänsten") {
		t.Errorf("provider down: %d %s", res.StatusCode, body)
	}
	res, body = recDo(t, host, http.MethodGet, e.URL+r.Page, "Accept", "text/html")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `data-testid="recording-player"`) || !strings.Contains(body, r.URL) {
		t.Errorf("playback page: %d %s", res.StatusCode, body)
	}

	// Review queue: the admin sees the meeting, its recording and its trail.
	if res, _ := recDo(t, host, http.MethodGet, e.URL+"/admin/review", "Accept", "text/html"); res.StatusCode != http.StatusForbidden {
		t.Errorf("review page for a host: %d", res.StatusCode)
	}
	res, body = recDo(t, admin, http.MethodGet, e.URL+"/admin/review?lang=en", "Accept", "text/html")
	for _, want := range []string{`data-meeting="mtg1"`, `data-recording="` + r.ID, "Ledningsgruppens möte", "Incident opened", "Recording started"} {
		if !strings.Contains(body, want) {
			t.Errorf("review page lacks %q", want)
		}
	}

	// The host ends the incident; hold and review item stay.
	if res, body := recDo(t, host, http.MethodDelete, api); res.StatusCode != http.StatusOK {
		t.Fatalf("end incident: %d %s", res.StatusCode, body)
	}
	if res, body := recDo(t, host, http.MethodDelete, api); res.StatusCode != http.StatusConflict {
		t.Errorf("second end: %d %s", res.StatusCode, body)
	}
	mt, _ = e.db.Meeting(context.Background(), "mtg1")
	if mt.Incident {
		t.Error("incident flag still set")
	}

	form := url.Values{"csrf": {recCSRF(admin)}}.Encode()
	if res, body := recDo(t, admin, http.MethodPost, e.URL+"/admin/recordings/"+r.ID+"/release", "form", form); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("release: %d %s", res.StatusCode, body)
	}
	if res, body := recDo(t, admin, http.MethodPost, e.URL+"/admin/review/mtg1/close", "form", form); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("close review: %d %s", res.StatusCode, body)
	}
	if _, body := recDo(t, admin, http.MethodGet, e.URL+"/admin/review", "Accept", "text/html"); !strings.Contains(body, `data-testid="review-empty"`) {
		t.Error("review queue not empty after closing")
	}

	recs, err := audit.List(context.Background(), e.db.SQL(), audit.Filter{MeetingID: "mtg1", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[audit.Action]audit.Actor{}
	accessed := 0
	for _, rc := range recs {
		if rc.Outcome == audit.Success {
			seen[rc.Action] = rc.Actor
		}
		if rc.Action == audit.RecordingAccessed {
			accessed++
		}
	}
	hostActor := audit.Actor("user:" + string(e.users["anna"]))
	for a, want := range map[audit.Action]audit.Actor{
		audit.RecordingStarted: audit.Actor("participant:u_" + string(e.users["anna"])), // the rooms mapping is per session; see report
		audit.IncidentOpened:   hostActor, audit.IncidentClosed: hostActor,
		audit.LobbyAdmit:      "",
		recorder.HoldReleased: audit.Actor("user:" + string(e.users["cecilia"])),
		recorder.ReviewClosed: audit.Actor("user:" + string(e.users["cecilia"])),
	} {
		got, ok := seen[a]
		if !ok {
			t.Errorf("no %s audit entry", a)
		} else if want != "" && got != want {
			t.Errorf("%s actor = %s, want %s", a, got, want)
		}
	}
	if accessed != 2 {
		t.Errorf("recording.accessed entries = %d, want 2 (range and download; refused and failed requests are not accesses)", accessed)
	}
}
