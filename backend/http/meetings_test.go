package http_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/audit"
	"github.com/motesvakt/motesvakt/backend/guestcode"
	mhttp "github.com/motesvakt/motesvakt/backend/http"
	"github.com/motesvakt/motesvakt/backend/mail"
	"github.com/motesvakt/motesvakt/backend/meetings"
	"github.com/motesvakt/motesvakt/backend/rooms"
	"github.com/motesvakt/motesvakt/backend/sqlite"
	"github.com/motesvakt/motesvakt/classifiers"
	"github.com/motesvakt/motesvakt/locales"
	"github.com/motesvakt/motesvakt/sfu"
)

// meetingServer is the full meeting stack over loopback: real SQLite,
// guest codes, the mail outbox writing .eml files, and the SFU.
type meetingServer struct {
	*httptest.Server
	DB      *sqlite.DB
	Outbox  string
	Worker  *mail.Worker
	Rooms   *rooms.Manager
	Service *meetings.Service
	Codes   *guestcode.Service

	// offset moves the clock every part of the stack reads (store, codes,
	// mail worker), so tests can jump to a later occurrence.
	offset atomic.Int64
}

// now is the stack's clock: real time plus the offset tests add.
func (ms *meetingServer) now() time.Time { return time.Now().Add(time.Duration(ms.offset.Load())) }

// advance moves the stack's clock forward by d.
func (ms *meetingServer) advance(d time.Duration) { ms.offset.Add(int64(d)) }

type redeemer struct{ *guestcode.Service }

func (r redeemer) Redeem(ctx context.Context, meeting, email, code, ip string) (string, time.Time, error) {
	res, err := r.Service.Redeem(ctx, guestcode.MeetingID(meeting), email, code, ip)
	if err != nil {
		if err == guestcode.ErrInvalid {
			return "", time.Time{}, &backend.Error{Code: backend.EUNAUTHORIZED, Key: guestcode.MessageKey(err)}
		}
		return "", time.Time{}, &backend.Error{Code: backend.ETOOMANY, Key: guestcode.MessageKey(err), Err: err}
	}
	return string(res.Invitee), res.ValidUntil, nil
}

func newMeetingServer(t *testing.T) *meetingServer {
	t.Helper()
	return newMeetingServerWith(t, nil)
}

// newMeetingServerWith lets a test configure the meeting service before the
// server starts (e.g. RotateEvery).
func newMeetingServerWith(t *testing.T, configure func(*meetings.Service)) *meetingServer {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "m.db"),
		sqlite.Migration{Name: "1000_audit", SQL: audit.Schema},
		sqlite.Migration{Name: "1010_mail_outbox", SQL: mail.Schema},
		sqlite.Migration{Name: "1030_guest_codes", SQL: guestcode.Schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	ms := &meetingServer{DB: db, Outbox: filepath.Join(dir, "outbox")}
	db.Now = ms.now
	ms.Server = httptest.NewUnstartedServer(nil)
	public, _ := url.Parse("http://" + ms.Listener.Addr().String())
	domains := backend.ParseDomains("kommun.se")

	policy, _ := classifiers.DefaultPolicy(domains...)
	eng, err := classifiers.Compile(policy)
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	outbox, err := mail.NewOutbox(db.SQL(), key)
	if err != nil {
		t.Fatal(err)
	}
	transport, err := mail.NewFileOutbox(ms.Outbox)
	if err != nil {
		t.Fatal(err)
	}
	ms.Worker, err = mail.NewWorker(mail.WorkerConfig{Outbox: outbox, Transport: transport, Logger: log, Now: ms.now})
	if err != nil {
		t.Fatal(err)
	}
	renderer, _ := mail.NewRenderer("motesvakt@kommun.se")
	ms.Codes, err = guestcode.New(db.SQL(), key, guestcode.Options{Clock: ms.now})
	if err != nil {
		t.Fatal(err)
	}
	ms.Rooms = &rooms.Manager{DB: db, Internal: domains, Log: log}
	media, err := sfu.New(sfu.Config{IncludeLoopback: true, IPFilter: func(ip net.IP) bool { return ip.IsLoopback() }}, ms.Rooms.Hooks(), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { media.Close() })
	ms.Rooms.SFU = media
	ms.Service = &meetings.Service{DB: db, Policy: meetings.StaticPolicy{E: eng, Version: 1}, Codes: ms.Codes, Outbox: outbox, Mail: renderer, Rooms: ms.Rooms,
		PublicURL: public, Internal: domains, Lang: locales.Swedish, Log: log, LinkKey: []byte("test link key, 32 bytes long....")}
	if configure != nil {
		configure(ms.Service)
	}
	app, err := mhttp.New(mhttp.Config{Addr: ms.Listener.Addr().String(), PublicURL: public, Internal: domains, CSRFKey: key}, db, nil, log,
		mhttp.WithMeetings(ms.Service, ms.Rooms, redeemer{ms.Codes}), mhttp.WithAudit())
	if err != nil {
		t.Fatal(err)
	}
	ms.Config.Handler = app
	ms.Start()
	t.Cleanup(ms.Close)
	return ms
}

func (ms *meetingServer) signIn(t *testing.T, email string, admin bool) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	body := `{"email":"` + email + `"}`
	if admin {
		body = `{"email":"` + email + `","admin":true}`
	}
	resp, m := postJSON(t, c, ms.URL+"/auth/demo", body)
	if resp.StatusCode != 200 {
		t.Fatalf("sign in %s: %d %v", email, resp.StatusCode, m)
	}
	return c
}

func anon() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

func eventJSON(subject, body string, attendees ...string) string {
	start := time.Now().Add(10 * time.Minute).UTC().Format(time.RFC3339)
	end := time.Now().Add(70 * time.Minute).UTC().Format(time.RFC3339)
	var as []string
	for _, a := range attendees {
		as = append(as, `{"email":"`+a+`"}`)
	}
	return `{"subject":` + jsonString(subject) + `,"body":` + jsonString(body) + `,"organizer":"anna@kommun.se","attendees":[` + strings.Join(as, ",") + `],"start":"` + start + `","end":"` + end + `"}`
}

func jsonString(s string) string { b, _ := json.Marshal(s); return string(b) }

func provision(t *testing.T, ms *meetingServer, c *http.Client, body string) (*http.Response, backend.Meeting, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", ms.URL+"/api/v1/meetings", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept-Language", "en")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m backend.Meeting
	var raw map[string]any
	json.Unmarshal(b, &m)
	json.Unmarshal(b, &raw)
	return resp, m, raw
}

var codeRE = regexp.MustCompile(`\b[A-Z2-9]{4}-[A-Z2-9]{4}\b`)

// mailFor delivers queued mail and returns the decoded .eml sent to addr.
func (ms *meetingServer) mailFor(t *testing.T, addr string) string {
	t.Helper()
	if _, err := ms.Worker.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(ms.Outbox, "*.eml"))
	var found string
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), "To: <"+addr+">") || strings.Contains(string(b), addr+">") || strings.Contains(string(b), "To: "+addr) {
			dec, _ := io.ReadAll(quotedprintable.NewReader(strings.NewReader(string(b))))
			found = string(dec)
		}
	}
	if found == "" {
		t.Fatalf("no mail to %s among %d files", addr, len(files))
	}
	return found
}

func TestProvisioning(t *testing.T) {
	ms := newMeetingServer(t)
	host := ms.signIn(t, "anna@kommun.se", false)

	var meeting backend.Meeting
	t.Run("CreateProtectedWithExternalGuest", func(t *testing.T) {
		resp, m, raw := provision(t, ms, host, `{"event":`+eventJSON("Lönesamtal med Bo", "Vi går igenom rehabiliteringen.", "bo@kommun.se", "gast@gmail.com")+`,"event_ref":{"provider":"outlook","id":"AAMk-1","ical_uid":"uid-1"}}`)
		if resp.StatusCode != 200 {
			t.Fatalf("%d %v", resp.StatusCode, raw)
		}
		meeting = m
		if m.Profile != "protected" || m.Suggested != "protected" || !linkRE.MatchString(m.JoinURL) || !strings.HasPrefix(m.JoinURL, ms.URL+"/join/"+string(m.ID)+"/") || len(m.Guests) != 2 {
			t.Fatalf("meeting %+v", m)
		}
		for _, g := range m.Guests {
			if g.Email == "gast@gmail.com" && (g.Internal || g.DeliveryID == "") {
				t.Errorf("external guest has no code mail: %+v", g)
			}
			if g.Email == "bo@kommun.se" && (!g.Internal || g.DeliveryID != "") {
				t.Errorf("internal invitee got a code: %+v", g)
			}
		}
		mailText := ms.mailFor(t, "gast@gmail.com")
		if !codeRE.MatchString(mailText) || !strings.Contains(mailText, m.JoinURL) {
			t.Errorf("mail lacks code or link:\n%s", mailText)
		}
		if codeRE.MatchString(m.JoinURL) {
			t.Error("join URL carries a code")
		}
	})
	t.Run("IdempotentPerEventRef", func(t *testing.T) {
		// Same calendar event: Bo is removed, Cecilia added. Same meeting id.
		resp, m, raw := provision(t, ms, host, `{"event":`+eventJSON("Lönesamtal med Bo", "rehabilitering", "gast@gmail.com", "cecilia@partner.se")+`,"event_ref":{"provider":"outlook","id":"AAMk-2","ical_uid":"uid-1"}}`)
		if resp.StatusCode != 200 || m.ID != meeting.ID {
			t.Fatalf("%d %v (id %s, want %s)", resp.StatusCode, raw, m.ID, meeting.ID)
		}
		status := map[string]string{}
		for _, g := range m.Guests {
			status[g.Email] = g.Status
		}
		if status["bo@kommun.se"] != "revoked" || status["cecilia@partner.se"] != "active" || status["gast@gmail.com"] != "active" {
			t.Errorf("guest statuses %v", status)
		}
		// The unchanged guest kept the one code: exactly one invitation to gast.
		files, _ := filepath.Glob(filepath.Join(ms.Outbox, "*.eml"))
		ms.Worker.RunOnce(context.Background())
		files, _ = filepath.Glob(filepath.Join(ms.Outbox, "*.eml"))
		n := 0
		for _, f := range files {
			b, _ := os.ReadFile(f)
			if strings.Contains(string(b), "gast@gmail.com") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d mails to the unchanged guest, want 1", n)
		}
	})
	t.Run("DowngradeForbiddenForHR", func(t *testing.T) {
		resp, _, raw := provision(t, ms, host, `{"event":`+eventJSON("Personuppgiftsincident i skolan", "Vi går igenom läckan.")+`,"profile":"open","override_reason":"because","event_ref":{"provider":"manual"}}`)
		if resp.StatusCode != 403 || !strings.Contains(errMessage(raw), "not allowed") {
			t.Errorf("%d %v", resp.StatusCode, raw)
		}
	})
	t.Run("DowngradeNeedsReason", func(t *testing.T) {
		// No sensitive signal: suggestion internal; open needs a reason.
		resp, _, raw := provision(t, ms, host, `{"event":`+eventJSON("Planering av veckan", "Vi stämmer av läget.")+`,"profile":"open","event_ref":{"provider":"manual"}}`)
		if resp.StatusCode != 400 || errCode(raw) != "invalid" || !strings.Contains(errMessage(raw), "reason") {
			t.Fatalf("%d %v", resp.StatusCode, raw)
		}
		resp, m, raw := provision(t, ms, host, `{"event":`+eventJSON("Planering av veckan", "Vi stämmer av läget.")+`,"profile":"open","override_reason":"Öppen träff för hela förvaltningen","event_ref":{"provider":"manual"}}`)
		if resp.StatusCode != 200 || m.Profile != "open" || m.OverrideReason == "" {
			t.Fatalf("%d %v", resp.StatusCode, raw)
		}
		recs, err := audit.List(context.Background(), ms.DB.SQL(), audit.Filter{MeetingID: string(m.ID), Action: audit.ProfileOverride})
		if err != nil || len(recs) != 1 || recs[0].Details["reason"] != "Öppen träff för hela förvaltningen" {
			t.Errorf("override not audited: %v %v", recs, err)
		}
	})
	t.Run("RaiseNeedsNoReason", func(t *testing.T) {
		resp, m, raw := provision(t, ms, host, `{"event":`+eventJSON("Planering", "")+`,"profile":"protected","event_ref":{"provider":"manual"}}`)
		if resp.StatusCode != 200 || m.Profile != "protected" || m.OverrideReason != "" {
			t.Fatalf("%d %v", resp.StatusCode, raw)
		}
	})
	bad := []struct{ name, body, code string }{
		{"NoTimes", `{"event":{"subject":"x"},"event_ref":{"provider":"manual"}}`, "invalid"},
		{"EndBeforeStart", `{"event":{"subject":"x","start":"2030-01-01T10:00:00Z","end":"2030-01-01T09:00:00Z"}}`, "invalid"},
		{"BadProvider", `{"event":` + eventJSON("x", "") + `,"event_ref":{"provider":"zoom","id":"1"}}`, "invalid"},
		{"OutlookWithoutID", `{"event":` + eventJSON("x", "") + `,"event_ref":{"provider":"outlook"}}`, "invalid"},
		{"BadProfile", `{"event":` + eventJSON("x", "") + `,"profile":"secret"}`, "invalid"},
		{"BadEmail", `{"event":{"subject":"x","attendees":[{"email":"not an address"}],"start":"2030-01-01T10:00:00Z","end":"2030-01-01T11:00:00Z"}}`, "invalid_email"},
		{"WrongType", `{"event":{"subject":42}}`, "invalid"},
		{"NotJSON", `{"event":`, "invalid"},
	}
	for _, tt := range bad {
		t.Run("Bad"+tt.name, func(t *testing.T) {
			resp, _, raw := provision(t, ms, host, tt.body)
			if resp.StatusCode != 400 || errCode(raw) != tt.code || errMessage(raw) == "" {
				t.Errorf("%d %v, want 400 %s", resp.StatusCode, raw, tt.code)
			}
		})
	}
	t.Run("OtherHostCannotTakeOverEvent", func(t *testing.T) {
		other := ms.signIn(t, "eve@kommun.se", false)
		resp, _, raw := provision(t, ms, other, `{"event":`+eventJSON("Lönesamtal med Bo", "x", "eve@evil.com")+`,"event_ref":{"provider":"outlook","id":"AAMk-1","ical_uid":"uid-1"}}`)
		if resp.StatusCode != 403 {
			t.Errorf("%d %v", resp.StatusCode, raw)
		}
		r, _ := other.Get(ms.URL + "/api/v1/meetings/" + string(meeting.ID))
		if r.StatusCode != 403 {
			t.Errorf("other host reads meeting: %d", r.StatusCode)
		}
	})
	t.Run("AnonymousRefused", func(t *testing.T) {
		resp, _, _ := provision(t, ms, anon(), `{"event":`+eventJSON("x", "")+`}`)
		if resp.StatusCode != 401 {
			t.Errorf("%d", resp.StatusCode)
		}
	})
}

type wsClient struct {
	t *testing.T
	c *websocket.Conn
}

func dialSignal(t *testing.T, ms *meetingServer, c *http.Client, meeting backend.MeetingID) (*wsClient, *http.Response, error) {
	return dialSignalTab(t, ms, c, meeting, "")
}

func dialSignalTab(t *testing.T, ms *meetingServer, c *http.Client, meeting backend.MeetingID, tab string) (*wsClient, *http.Response, error) {
	u, _ := url.Parse(ms.URL)
	hdr := http.Header{}
	for _, ck := range c.Jar.Cookies(u) {
		hdr.Add("Cookie", ck.Name+"="+ck.Value)
	}
	hdr.Set("Origin", ms.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	u2 := "ws" + strings.TrimPrefix(ms.URL, "http") + "/api/v1/meetings/" + string(meeting) + "/signal"
	if tab != "" {
		u2 += "?tab=" + tab
	}
	conn, resp, err := websocket.Dial(ctx, u2, &websocket.DialOptions{HTTPHeader: hdr})
	if err != nil {
		return nil, resp, err
	}
	w := &wsClient{t: t, c: conn}
	t.Cleanup(func() { conn.CloseNow() })
	return w, resp, nil
}

func (w *wsClient) send(m sfu.Message) {
	m.V = sfu.ProtocolVersion
	b, _ := json.Marshal(m)
	if err := w.c.Write(context.Background(), websocket.MessageText, b); err != nil {
		w.t.Fatalf("ws write: %v", err)
	}
}

// await reads until a message of type typ arrives.
func (w *wsClient) await(typ string) sfu.Message {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, b, err := w.c.Read(ctx)
		if err != nil {
			w.t.Fatalf("waiting for %s: %v", typ, err)
		}
		var m sfu.Message
		json.Unmarshal(b, &m)
		if m.Type == typ {
			return m
		}
	}
}

// redeem redeems through the meeting's current join link, as join.js does.
func redeem(t *testing.T, ms *meetingServer, c *http.Client, meeting backend.MeetingID, email, code, name string) (*http.Response, map[string]any) {
	t.Helper()
	m, err := ms.Service.Meeting(context.Background(), meeting)
	if err != nil {
		t.Fatal(err)
	}
	return redeemVia(t, ms, c, meeting, linkToken(m.JoinURL), email, code, name)
}

// redeemVia redeems with the token of a particular join link.
func redeemVia(t *testing.T, ms *meetingServer, c *http.Client, meeting backend.MeetingID, link, email, code, name string) (*http.Response, map[string]any) {
	return postJSON(t, c, ms.URL+"/api/v1/meetings/"+string(meeting)+"/redeem", `{"email":"`+email+`","code":"`+code+`","display_name":`+jsonString(name)+`,"link":"`+link+`"}`, "Accept-Language", "en")
}

// linkRE matches a join link and captures its token.
var linkRE = regexp.MustCompile(`https?://[0-9.:]+/join/[a-z2-7]+/([a-z2-7]{16})\b`)

// linkToken is the token of a join link.
func linkToken(joinURL string) string {
	if m := linkRE.FindStringSubmatch(joinURL); m != nil {
		return m[1]
	}
	return ""
}

func TestGuestJoinsThroughLobby(t *testing.T) {
	ms := newMeetingServer(t)
	host := ms.signIn(t, "anna@kommun.se", false)
	_, m, raw := provision(t, ms, host, `{"event":`+eventJSON("Upphandling av skolskjuts", "Anbuden öppnas.", "lev@leverantor.se")+`}`)
	if m.ID == "" {
		t.Fatal(raw)
	}
	code := codeRE.FindString(ms.mailFor(t, "lev@leverantor.se"))

	guest := anon()
	t.Run("WrongCodeIsUniform", func(t *testing.T) {
		r1, b1 := redeem(t, ms, guest, m.ID, "lev@leverantor.se", "AAAA-AAAA", "Leverantör")
		r2, b2 := redeem(t, ms, guest, m.ID, "someone@else.se", code, "Leverantör")
		if r1.StatusCode != 401 || r2.StatusCode != 401 || errMessage(b1) != errMessage(b2) {
			t.Errorf("%d %v / %d %v", r1.StatusCode, b1, r2.StatusCode, b2)
		}
	})
	t.Run("BadDisplayName", func(t *testing.T) {
		r, b := redeem(t, ms, guest, m.ID, "lev@leverantor.se", code, "   ")
		if r.StatusCode != 400 || errCode(b) != "invalid" {
			t.Errorf("%d %v", r.StatusCode, b)
		}
	})
	r, b := redeem(t, ms, guest, m.ID, "LEV@leverantor.se", strings.ToLower(code), "Leverantör AB")
	if r.StatusCode != 200 {
		t.Fatalf("redeem: %d %v", r.StatusCode, b)
	}

	// The host opens the room; the guest waits in the lobby.
	hw, _, err := dialSignal(t, ms, host, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	hw.send(sfu.Message{Type: sfu.TypeJoin, Lang: "en"})
	hw.await(sfu.TypeWelcome)
	gw, _, err := dialSignal(t, ms, guest, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	gw.send(sfu.Message{Type: sfu.TypeJoin, Lang: "en"})
	gw.await(sfu.TypeLobbyWaiting)
	upd := hw.await(sfu.TypeLobbyUpdate)
	for len(upd.Lobby) == 0 {
		upd = hw.await(sfu.TypeLobbyUpdate)
	}
	entry := upd.Lobby[0]
	if entry.Level != sfu.LevelCodeVerified || entry.Internal || !entry.Invited || entry.CodeVerifiedAt.IsZero() || entry.Email != "lev@leverantor.se" {
		t.Errorf("lobby evidence %+v", entry)
	}
	// A guest cannot admit themselves.
	gw.send(sfu.Message{Type: sfu.TypeAdmit, Target: entry.ID})
	if e := gw.await(sfu.TypeError); e.Error == nil || e.Error.Code == "" {
		t.Errorf("guest admit: %+v", e)
	}
	hw.send(sfu.Message{Type: sfu.TypeAdmit, Target: entry.ID})
	gw.await(sfu.TypeAdmitted)

	recs, err := audit.List(context.Background(), ms.DB.SQL(), audit.Filter{MeetingID: string(m.ID), Action: audit.LobbyAdmit})
	if err != nil || len(recs) != 1 {
		t.Fatalf("admit audit: %v %v", recs, err)
	}
	if got := recs[0]; got.Details["level"] != "code_verified" || got.Details["verified"] != "true" || !strings.HasPrefix(string(got.Actor), "user:") || !strings.HasPrefix(got.Subject, "guest:") {
		t.Errorf("admit entry %+v", got)
	}

	t.Run("SecondRedeemEndsOlderSession", func(t *testing.T) {
		other := anon()
		r, b := redeem(t, ms, other, m.ID, "lev@leverantor.se", code, "Leverantör (laptop)")
		if r.StatusCode != 200 {
			t.Fatalf("%d %v", r.StatusCode, b)
		}
		old, _ := guest.Get(ms.URL + "/api/v1/me")
		if old.StatusCode != 401 {
			t.Errorf("older session still alive: %d", old.StatusCode)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for {
			if _, _, err := gw.c.Read(ctx); err != nil {
				break // the old socket was closed
			}
		}
		recs, _ := audit.List(context.Background(), ms.DB.SQL(), audit.Filter{MeetingID: string(m.ID), Action: audit.SessionReplaced})
		if len(recs) != 1 {
			t.Errorf("session.replaced audited %d times", len(recs))
		}
	})
	t.Run("GuestCookieOnlyForItsMeeting", func(t *testing.T) {
		_, other, _ := provision(t, ms, host, `{"event":`+eventJSON("Annat möte", "")+`}`)
		g2 := anon()
		redeem(t, ms, g2, m.ID, "lev@leverantor.se", code, "L")
		_, resp, err := dialSignal(t, ms, g2, other.ID)
		if err == nil || resp == nil || resp.StatusCode != 403 {
			t.Errorf("guest session used on another meeting: err=%v resp=%v", err, resp)
		}
	})
	t.Run("CrossSiteWebSocketRefused", func(t *testing.T) {
		u, _ := url.Parse(ms.URL)
		hdr := http.Header{"Origin": {"https://evil.example"}}
		for _, ck := range host.Jar.Cookies(u) {
			hdr.Add("Cookie", ck.Name+"="+ck.Value)
		}
		_, resp, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(ms.URL, "http")+"/api/v1/meetings/"+string(m.ID)+"/signal", &websocket.DialOptions{HTTPHeader: hdr})
		if err == nil || resp == nil || resp.StatusCode != 403 {
			t.Errorf("cross-origin upgrade: err=%v resp=%v", err, resp)
		}
	})
	t.Run("RevokedGuestCannotJoin", func(t *testing.T) {
		var guestID backend.InviteeID
		for _, g := range m.Guests {
			guestID = g.ID
		}
		resp, _ := postJSON(t, host, ms.URL+"/api/v1/meetings/"+string(m.ID)+"/guests/"+string(guestID)+"/revoke", `{}`)
		if resp.StatusCode != 200 {
			t.Fatalf("revoke: %d", resp.StatusCode)
		}
		g3 := anon()
		r, _ := redeem(t, ms, g3, m.ID, "lev@leverantor.se", code, "L")
		if r.StatusCode != 401 {
			t.Errorf("revoked code redeemed: %d", r.StatusCode)
		}
	})
}

func TestAuditAdmin(t *testing.T) {
	ms := newMeetingServer(t)
	host := ms.signIn(t, "anna@kommun.se", false)
	provision(t, ms, host, `{"event":`+eventJSON("Upphandling", "anbud", "lev@leverantor.se")+`}`)
	t.Run("NonAdminForbiddenAndAudited", func(t *testing.T) {
		for _, p := range []string{"/api/v1/admin/audit/verify", "/api/v1/admin/audit", "/api/v1/admin/audit/export"} {
			r, _ := host.Get(ms.URL + p)
			if r.StatusCode != 403 {
				t.Errorf("%s: %d", p, r.StatusCode)
			}
		}
		recs, _ := audit.List(context.Background(), ms.DB.SQL(), audit.Filter{Action: audit.AdminForbidden})
		if len(recs) != 3 {
			t.Errorf("%d admin.forbidden entries, want 3", len(recs))
		}
		r, _ := anon().Get(ms.URL + "/api/v1/admin/audit")
		if r.StatusCode != 401 {
			t.Errorf("anonymous: %d", r.StatusCode)
		}
	})
	admin := ms.signIn(t, "admin@kommun.se", true)
	t.Run("VerifyListExport", func(t *testing.T) {
		r, _ := admin.Get(ms.URL + "/api/v1/admin/audit/verify")
		var rep audit.Report
		json.NewDecoder(r.Body).Decode(&rep)
		if r.StatusCode != 200 || !rep.OK || rep.Entries < 5 {
			t.Fatalf("verify %d %+v", r.StatusCode, rep)
		}
		r, _ = admin.Get(ms.URL + "/api/v1/admin/audit?action=meeting.created")
		var list struct{ Entries []audit.Record }
		json.NewDecoder(r.Body).Decode(&list)
		if len(list.Entries) != 1 || list.Entries[0].Details["profile"] != "protected" {
			t.Errorf("list %+v", list)
		}
		r, _ = admin.Get(ms.URL + "/api/v1/admin/audit/export")
		if rep, err := audit.VerifyStream(r.Body); err != nil || !rep.OK {
			t.Errorf("export does not verify: %+v %v", rep, err)
		}
		r, _ = admin.Get(ms.URL + "/api/v1/admin/audit?since=yesterday")
		if r.StatusCode != 400 {
			t.Errorf("bad filter: %d", r.StatusCode)
		}
		req, _ := http.NewRequest("GET", ms.URL+"/admin/audit", nil)
		req.Header.Set("Accept-Language", "en")
		r, _ = admin.Do(req)
		b, _ := io.ReadAll(r.Body)
		if r.StatusCode != 200 || !strings.Contains(string(b), `data-testid="audit-chain-ok"`) {
			t.Errorf("page %d %.300s", r.StatusCode, b)
		}
	})
	t.Run("TamperShowsOnPage", func(t *testing.T) {
		ms.DB.SQL().Exec(`UPDATE audit_log SET outcome = 'failure' WHERE seq = 2`)
		r, _ := admin.Get(ms.URL + "/api/v1/admin/audit/verify")
		var rep audit.Report
		json.NewDecoder(r.Body).Decode(&rep)
		if r.StatusCode != 409 || rep.OK || rep.FirstBad == nil || *rep.FirstBad != 2 {
			t.Errorf("tampered verify %d %+v", r.StatusCode, rep)
		}
	})
}

var missingKey = regexp.MustCompile(`\[[a-z_]+(\.[a-z0-9_]+)+\]|<no value>`)

// TestPagesRenderInBothLanguages opens every host and guest page in sv and
// en and fails on a missing message key.
func TestPagesRenderInBothLanguages(t *testing.T) {
	ms := newMeetingServer(t)
	host := ms.signIn(t, "anna@kommun.se", false)
	_, m, _ := provision(t, ms, host, `{"event":`+eventJSON("Upphandling", "anbud", "lev@leverantor.se", "bo@kommun.se")+`}`)
	guest := anon()
	code := codeRE.FindString(ms.mailFor(t, "lev@leverantor.se"))
	redeem(t, ms, guest, m.ID, "lev@leverantor.se", code, "Lev")
	joinPath := strings.TrimPrefix(m.JoinURL, ms.URL)
	pages := []struct {
		c      *http.Client
		path   string
		want   string
		status int
	}{
		{anon(), "/", `class="hero"`, 200},
		{host, "/meetings", `data-testid="meeting-list"`, 200},
		{host, "/meetings/new", `data-testid="new-meeting-page"`, 200},
		{host, "/meetings/" + string(m.ID), `data-testid="guest-list"`, 200},
		{anon(), joinPath, `data-testid="join-code"`, 200},
		{anon(), "/join/" + string(m.ID), `data-testid="join-replaced"`, http.StatusGone},
		{anon(), "/join/" + string(m.ID) + "/aaaaaaaaaaaaaaaa", `data-testid="join-replaced"`, http.StatusGone},
		{guest, "/m/" + string(m.ID), `data-testid="room-page"`, 200},
		{host, "/m/" + string(m.ID), `data-testid="room-page"`, 200},
	}
	for _, lang := range []string{"sv", "en"} {
		for _, p := range pages {
			t.Run(lang+p.path, func(t *testing.T) {
				req, _ := http.NewRequest("GET", ms.URL+p.path, nil)
				req.Header.Set("Accept-Language", lang)
				r, err := p.c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(r.Body)
				if r.StatusCode != p.status || !strings.Contains(string(b), p.want) {
					t.Fatalf("%d, want %s in %.400s", r.StatusCode, p.want, b)
				}
				if k := missingKey.FindString(string(b)); k != "" {
					t.Errorf("missing message %s", k)
				}
				if !strings.Contains(string(b), `<html lang="`+lang+`">`) {
					t.Errorf("page not in %s", lang)
				}
			})
		}
	}
	t.Run("RoomWithoutSessionGoesToJoin", func(t *testing.T) {
		c := anon()
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		r, _ := c.Get(ms.URL + "/m/" + string(m.ID))
		if r.StatusCode != http.StatusFound || r.Header.Get("Location") != "/join/"+string(m.ID) {
			t.Errorf("%d → %s", r.StatusCode, r.Header.Get("Location"))
		}
	})
}

// TestClassifyBadInput: every malformed draft gets a 4xx with a stable code
// and a localized message, never a 500.
func TestClassifyBadInput(t *testing.T) {
	ms := newMeetingServer(t)
	host := ms.signIn(t, "anna@kommun.se", false)
	many := make([]string, 10000)
	for i := range many {
		many[i] = `{"email":"p` + strconv.Itoa(i) + `@kommun.se"}`
	}
	tests := []struct {
		name, body, ctype string
		status            int
		code              string
	}{
		{"MalformedJSON", `{"subject": "x",`, "application/json", 400, "invalid_json"},
		{"WrongType", `{"subject": 42}`, "application/json", 400, "invalid_type"},
		{"InvalidUTF8", "{\"subject\": \"\xff\xfe\"}", "application/json", 400, "invalid_utf8"},
		{"TenMegabytes", `{"subject":"x","body":"` + strings.Repeat("a", 10<<20) + `"}`, "application/json", 413, "too_large"},
		{"TenThousandAttendees", `{"subject":"x","attendees":[` + strings.Join(many, ",") + `]}`, "application/json", 400, "too_many_attendees"},
		{"MalformedEmail", `{"subject":"x","attendees":[{"email":"anna@@kommun"}]}`, "application/json", 400, "invalid_email"},
		{"NotJSONContentType", `subject=x`, "application/x-www-form-urlencoded", 403, "forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, lang := range []string{"sv", "en"} {
				req, _ := http.NewRequest("POST", ms.URL+"/api/v1/classify", strings.NewReader(tt.body))
				req.Header.Set("Content-Type", tt.ctype)
				req.Header.Set("Accept-Language", lang)
				resp, err := host.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				var m map[string]any
				json.NewDecoder(resp.Body).Decode(&m)
				resp.Body.Close()
				if resp.StatusCode != tt.status || errCode(m) != tt.code || errMessage(m) == "" || missingKey.MatchString(errMessage(m)) {
					t.Errorf("%s: %d %v, want %d %s", lang, resp.StatusCode, m, tt.status, tt.code)
				}
			}
		})
	}
	t.Run("AnonymousRefused", func(t *testing.T) {
		resp, _ := postJSON(t, anon(), ms.URL+"/api/v1/classify", `{"subject":"x"}`)
		if resp.StatusCode != 401 {
			t.Errorf("%d", resp.StatusCode)
		}
	})
	t.Run("GoodDraft", func(t *testing.T) {
		resp, m := postJSON(t, host, ms.URL+"/api/v1/classify", `{"subject":"Säkerhetsincident i lönesystemet","attendees":[{"email":"x@gmail.com"}]}`)
		if resp.StatusCode != 200 || m["profile"] != "protected" || resp.Header.Get("X-Rules-Version") != "1" {
			t.Errorf("%d %v", resp.StatusCode, m)
		}
	})
}

// recurringEvent is a weekly event JSON with the given start, one hour long.
func recurringEvent(subject string, start time.Time, attendees ...string) string {
	var as []string
	for _, a := range attendees {
		as = append(as, `{"email":"`+a+`"}`)
	}
	return `{"subject":` + jsonString(subject) + `,"organizer":"anna@kommun.se","attendees":[` + strings.Join(as, ",") +
		`],"start":"` + start.UTC().Format(time.RFC3339) + `","end":"` + start.Add(time.Hour).UTC().Format(time.RFC3339) +
		`","recurrence":"RRULE:FREQ=WEEKLY;BYDAY=MO"}`
}

// occurrenceBody provisions one occurrence (start, one hour) of the series
// ref, with the event times equal to the occurrence's.
func occurrenceBody(subject, ref, key string, start time.Time, attendees ...string) string {
	occ := ""
	if key != "" {
		occ = `,"occurrence":{"key":"` + key + `","start":"` + start.UTC().Format(time.RFC3339) + `","end":"` + start.Add(time.Hour).UTC().Format(time.RFC3339) + `"}`
	}
	return `{"event":` + recurringEvent(subject, start, attendees...) + `,"event_ref":{"provider":"google","id":"` + ref + `","ical_uid":"` + ref + `@google.com"}` + occ + `}`
}

// newMails delivers queued mail and returns, decoded, the mails to addr
// that seen has not recorded yet, recording them.
func (ms *meetingServer) newMails(t *testing.T, addr string, seen map[string]bool) []string {
	t.Helper()
	if _, err := ms.Worker.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(ms.Outbox, "*.eml"))
	var out []string
	for _, f := range files {
		if seen[f] {
			continue
		}
		b, _ := os.ReadFile(f)
		if !strings.Contains(string(b), addr+">") && !strings.Contains(string(b), "To: "+addr) {
			continue
		}
		seen[f] = true
		dec, _ := io.ReadAll(quotedprintable.NewReader(strings.NewReader(string(b))))
		out = append(out, string(dec))
	}
	return out
}

// getPage fetches path in lang without following redirects.
func getPage(t *testing.T, ms *meetingServer, c *http.Client, path, lang string) (int, string, string) {
	t.Helper()
	cc := *c
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, _ := http.NewRequest("GET", ms.URL+path, nil)
	req.Header.Set("Accept-Language", lang)
	r, err := cc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r.StatusCode, string(b), r.Header.Get("Location")
}

func pathOf(ms *meetingServer, link string) string { return strings.TrimPrefix(link, ms.URL) }

// TestOccurrenceCodes: codes of a recurring meeting are per (guest,
// occurrence), each valid only in its own occurrence's window.
func TestOccurrenceCodes(t *testing.T) {
	ms := newMeetingServer(t)
	host := ms.signIn(t, "anna@kommun.se", false)
	const guest = "lev@leverantor.se"
	// Second occurrence at a distinctive minute, so its mail is recognisable.
	first := ms.now().Add(10 * time.Minute).Truncate(time.Second)
	second := first.Add(7 * 24 * time.Hour).Truncate(time.Hour).Add(37 * time.Minute)
	seen := map[string]bool{}

	resp, m1, raw := provision(t, ms, host, occurrenceBody("Upphandling, veckomöte", "series-1", "series-1@1", first, guest))
	if resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, raw)
	}
	mails := ms.newMails(t, guest, seen)
	if got, want := len(mails), 1; got != want {
		t.Fatalf("%d mails for the first occurrence, want %d", got, want)
	}
	code1, link1 := codeRE.FindString(mails[0]), linkRE.FindString(mails[0])
	if code1 == "" || link1 != m1.JoinURL {
		t.Fatalf("first mail: code %q, link %q, want link %q", code1, link1, m1.JoinURL)
	}

	t.Run("RepeatProvisionIssuesNothing", func(t *testing.T) {
		resp, m, raw := provision(t, ms, host, occurrenceBody("Upphandling, veckomöte", "series-1", "series-1@1", first, guest))
		if resp.StatusCode != 200 || m.ID != m1.ID {
			t.Fatalf("%d %v", resp.StatusCode, raw)
		}
		if got := ms.newMails(t, guest, seen); len(got) != 0 {
			t.Errorf("%d new mails on a repeat provision, want 0", len(got))
		}
		if m.JoinURL != m1.JoinURL {
			t.Errorf("link changed without an invitee change: %s → %s", m1.JoinURL, m.JoinURL)
		}
	})

	var code2 string
	t.Run("NewOccurrenceIssuesNewCode", func(t *testing.T) {
		resp, m, raw := provision(t, ms, host, occurrenceBody("Upphandling, veckomöte", "series-1", "series-1@2", second, guest))
		if resp.StatusCode != 200 || m.ID != m1.ID {
			t.Fatalf("%d %v", resp.StatusCode, raw)
		}
		mails := ms.newMails(t, guest, seen)
		if len(mails) != 1 {
			t.Fatalf("%d mails for the second occurrence, want 1", len(mails))
		}
		code2 = codeRE.FindString(mails[0])
		if code2 == "" || code2 == code1 || linkRE.FindString(mails[0]) != m.JoinURL {
			t.Fatalf("second mail: code %q (first %q), link %q", code2, code1, linkRE.FindString(mails[0]))
		}
		// The mail names the occurrence it is for.
		stockholm, _ := time.LoadLocation("Europe/Stockholm")
		s := second.In(stockholm)
		if want := s.Format("15:04") + "–" + s.Add(time.Hour).Format("15:04"); !strings.Contains(mails[0], want) {
			t.Errorf("second mail does not name its occurrence (%s)", want)
		}
		occs, err := ms.DB.Occurrences(context.Background(), m.ID)
		if err != nil || len(occs) != 2 || occs[0].Key != "series-1@1" || occs[1].Key != "series-1@2" || !occs[1].Start.Equal(second) {
			t.Errorf("stored occurrences %+v %v", occs, err)
		}
	})

	t.Run("EachCodeOnlyInItsWindow", func(t *testing.T) {
		if r, b := redeem(t, ms, anon(), m1.ID, guest, code2, "Lev"); r.StatusCode != 401 {
			t.Errorf("second occurrence's code works in the first: %d %v", r.StatusCode, b)
		}
		if r, b := redeem(t, ms, anon(), m1.ID, guest, code1, "Lev"); r.StatusCode != 200 {
			t.Fatalf("first occurrence's code: %d %v", r.StatusCode, b)
		}
		ms.advance(second.Sub(ms.now()) - 5*time.Minute) // five minutes before the second occurrence
		if r, b := redeem(t, ms, anon(), m1.ID, guest, code1, "Lev"); r.StatusCode != 401 {
			t.Errorf("first occurrence's code works a week later: %d %v", r.StatusCode, b)
		}
		if r, b := redeem(t, ms, anon(), m1.ID, guest, code2, "Lev"); r.StatusCode != 200 {
			t.Errorf("second occurrence's code: %d %v", r.StatusCode, b)
		}
	})
}

// TestInviteeChangeRotatesLink: changing a recurring meeting's invitees
// replaces its join link; the old one gets the 410 page and cannot redeem.
func TestInviteeChangeRotatesLink(t *testing.T) {
	ms := newMeetingServer(t)
	host := ms.signIn(t, "anna@kommun.se", false)
	start := ms.now().Add(10 * time.Minute).Truncate(time.Second)
	seen := map[string]bool{}
	body := func(attendees ...string) string {
		return occurrenceBody("Lönesamtal, serie", "series-2", "series-2@1", start, attendees...)
	}
	resp, m0, raw := provision(t, ms, host, body("a@partner.se", "b@partner.se", "bo@kommun.se"))
	if resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, raw)
	}
	mailsA := ms.newMails(t, "a@partner.se", seen)
	ms.newMails(t, "b@partner.se", seen)
	if len(mailsA) != 1 || linkRE.FindString(mailsA[0]) != m0.JoinURL {
		t.Fatalf("first mail to a: %d", len(mailsA))
	}
	oldCodeA := codeRE.FindString(mailsA[0])
	oldLink := m0.JoinURL

	// b leaves, c joins: the link rotates.
	resp, m1, raw := provision(t, ms, host, body("a@partner.se", "c@partner.se", "bo@kommun.se"))
	if resp.StatusCode != 200 || m1.ID != m0.ID {
		t.Fatalf("%d %v", resp.StatusCode, raw)
	}
	if m1.JoinURL == oldLink || linkToken(m1.JoinURL) == "" || m1.LinkEpoch != m0.LinkEpoch+1 {
		t.Fatalf("link did not rotate: %s (epoch %d) → %s (epoch %d)", oldLink, m0.LinkEpoch, m1.JoinURL, m1.LinkEpoch)
	}
	if got, _ := ms.Service.Meeting(context.Background(), m1.ID); got.JoinURL != m1.JoinURL {
		t.Errorf("API join_url %s, provision answered %s", got.JoinURL, m1.JoinURL)
	}
	if status, page, _ := getPage(t, ms, host, "/meetings/"+string(m1.ID), "sv"); status != 200 || !strings.Contains(page, m1.JoinURL) || strings.Contains(page, oldLink) {
		t.Errorf("host page does not show the current link: %d", status)
	}

	newCode := map[string]string{}
	t.Run("RemainingAndNewGuestsGetTheNewLink", func(t *testing.T) {
		for _, g := range []string{"a@partner.se", "c@partner.se"} {
			mails := ms.newMails(t, g, seen)
			if len(mails) != 1 || linkRE.FindString(mails[0]) != m1.JoinURL || codeRE.FindString(mails[0]) == "" {
				t.Fatalf("%s: %d new mails, want one with the new link", g, len(mails))
			}
			newCode[g] = codeRE.FindString(mails[0])
		}
	})
	t.Run("OldLinkGone", func(t *testing.T) {
		for _, lang := range []string{"sv", "en"} {
			status, page, _ := getPage(t, ms, anon(), pathOf(ms, oldLink), lang)
			want := map[string]string{"sv": "Använd länken i din senaste inbjudan", "en": "Use the link in your latest invitation"}[lang]
			if status != http.StatusGone || !strings.Contains(page, want) || strings.Contains(page, "Lönesamtal") || strings.Contains(page, `data-testid="join-code"`) {
				t.Errorf("%s: old link %d %.300s", lang, status, page)
			}
			if k := missingKey.FindString(page); k != "" {
				t.Errorf("%s: missing message %s", lang, k)
			}
		}
		status, page, _ := getPage(t, ms, anon(), pathOf(ms, m1.JoinURL), "en")
		if status != 200 || !strings.Contains(page, `data-testid="join-code"`) || !strings.Contains(page, `"link":"`+linkToken(m1.JoinURL)+`"`) {
			t.Errorf("new link: %d %.300s", status, page)
		}
	})
	t.Run("RedeemNeedsTheCurrentLink", func(t *testing.T) {
		codeA := newCode["a@partner.se"]
		if codeA == "" {
			t.Fatal("no new code for a")
		}
		r, b := redeemVia(t, ms, anon(), m1.ID, linkToken(oldLink), "a@partner.se", codeA, "A")
		if r.StatusCode != 403 || !strings.Contains(errMessage(b), "replaced") {
			t.Errorf("redeem with the old link: %d %v", r.StatusCode, b)
		}
		r, b = redeemVia(t, ms, anon(), m1.ID, "", "a@partner.se", codeA, "A")
		if r.StatusCode != 403 {
			t.Errorf("redeem without a link: %d %v", r.StatusCode, b)
		}
		if r, b := redeemVia(t, ms, anon(), m1.ID, linkToken(m1.JoinURL), "a@partner.se", oldCodeA, "A"); r.StatusCode != 401 {
			t.Errorf("superseded code still works: %d %v", r.StatusCode, b)
		}
		g := anon()
		if r, b := redeemVia(t, ms, g, m1.ID, linkToken(m1.JoinURL), "a@partner.se", codeA, "A"); r.StatusCode != 200 {
			t.Fatalf("redeem with the new link: %d %v", r.StatusCode, b)
		}
		// With a session, the bare /join/{id} still leads to the room.
		if status, _, loc := getPage(t, ms, g, "/join/"+string(m1.ID), "en"); status != http.StatusFound || loc != "/m/"+string(m1.ID) {
			t.Errorf("guest with session: %d → %s", status, loc)
		}
		if status, _, loc := getPage(t, ms, host, "/join/"+string(m1.ID), "en"); status != http.StatusFound || loc != "/m/"+string(m1.ID) {
			t.Errorf("signed-in host: %d → %s", status, loc)
		}
		if status, _, _ := getPage(t, ms, anon(), "/join/"+string(m1.ID), "en"); status != http.StatusGone {
			t.Errorf("bare link without a session: %d", status)
		}
	})
	t.Run("Audited", func(t *testing.T) {
		recs, err := audit.List(context.Background(), ms.DB.SQL(), audit.Filter{MeetingID: string(m1.ID), Action: "meeting.link_rotated"})
		if err != nil || len(recs) != 1 || recs[0].Details["reason"] != "invitees" {
			t.Errorf("rotation audit %+v %v", recs, err)
		}
	})
}

// TestIntervalRotation: with RotateEvery set, a recurring meeting's link
// changes every interval; a mailed link keeps working until the occurrence
// it was mailed for is over, then gets the 410 page.
func TestIntervalRotation(t *testing.T) {
	const week = 7 * 24 * time.Hour
	ms := newMeetingServerWith(t, func(s *meetings.Service) { s.RotateEvery = week })
	host := ms.signIn(t, "anna@kommun.se", false)
	// The occurrence is mailed now and held two hours after the first
	// rotation.
	created := ms.now()
	start := created.Add(week + 2*time.Hour).Truncate(time.Second)
	resp, m0, raw := provision(t, ms, host, occurrenceBody("Styrgrupp", "series-3", "series-3@1", start, "lev@leverantor.se"))
	if resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, raw)
	}
	mails := ms.newMails(t, "lev@leverantor.se", map[string]bool{})
	if len(mails) != 1 || linkRE.FindString(mails[0]) != m0.JoinURL {
		t.Fatalf("mail does not carry the current link")
	}
	code := codeRE.FindString(mails[0])
	current := func() backend.Meeting {
		// A fresh sign-in: the clock has moved past the last session's end.
		r, err := ms.signIn(t, "anna@kommun.se", false).Get(ms.URL + "/api/v1/meetings/" + string(m0.ID))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		var m backend.Meeting
		json.NewDecoder(r.Body).Decode(&m)
		return m
	}
	steps := []struct {
		name       string
		at         time.Duration // since creation
		newEpoch   int64
		mailedLink int // status of the mailed (epoch 0) link
		redeem     bool
	}{
		{"BeforeTheInterval", week - 2*time.Hour, 0, 200, false},
		{"AfterTheIntervalBeforeTheOccurrence", week + 30*time.Minute, 1, 200, false},
		{"DuringTheOccurrence", week + 2*time.Hour + 10*time.Minute, 1, 200, true},
		{"AfterTheOccurrence", week + 3*time.Hour + time.Minute, 1, http.StatusGone, false},
		{"TwoIntervals", 2*week + time.Hour, 2, http.StatusGone, false},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			ms.advance(created.Add(st.at).Sub(ms.now()))
			m := current()
			if m.LinkEpoch != st.newEpoch || linkToken(m.JoinURL) == "" {
				t.Fatalf("epoch %d (%s), want %d", m.LinkEpoch, m.JoinURL, st.newEpoch)
			}
			if st.newEpoch > 0 && m.JoinURL == m0.JoinURL {
				t.Errorf("link did not rotate")
			}
			if status, page, _ := getPage(t, ms, anon(), pathOf(ms, m.JoinURL), "sv"); status != 200 || !strings.Contains(page, `data-testid="join-code"`) {
				t.Errorf("current link: %d", status)
			}
			if status, _, _ := getPage(t, ms, anon(), pathOf(ms, m0.JoinURL), "sv"); status != st.mailedLink {
				t.Errorf("mailed link: %d, want %d", status, st.mailedLink)
			}
			if st.redeem {
				// The guest follows the mail: its link and code, in the
				// occurrence, after the link rotated.
				if r, b := redeemVia(t, ms, anon(), m0.ID, linkToken(m0.JoinURL), "lev@leverantor.se", code, "Lev"); r.StatusCode != 200 {
					t.Errorf("redeem via the mailed link: %d %v", r.StatusCode, b)
				}
			}
		})
	}
}

// TestNonRecurringLinkStable: a meeting that does not recur keeps one link
// through invitee changes and time, in the token form all the same.
func TestNonRecurringLinkStable(t *testing.T) {
	ms := newMeetingServerWith(t, func(s *meetings.Service) { s.RotateEvery = time.Hour })
	host := ms.signIn(t, "anna@kommun.se", false)
	ref := `,"event_ref":{"provider":"outlook","id":"single-1"}`
	_, m0, raw := provision(t, ms, host, `{"event":`+eventJSON("Upphandling", "anbud", "a@partner.se")+ref+`}`)
	if !linkRE.MatchString(m0.JoinURL) || m0.LinkEpoch != 0 {
		t.Fatalf("join URL %q epoch %d: %v", m0.JoinURL, m0.LinkEpoch, raw)
	}
	for i, attendees := range [][]string{{"a@partner.se", "b@partner.se"}, {"c@partner.se"}} {
		resp, m, raw := provision(t, ms, host, `{"event":`+eventJSON("Upphandling v2", "anbud", attendees...)+ref+`}`)
		if resp.StatusCode != 200 || m.ID != m0.ID {
			t.Fatalf("update %d: %d %v", i, resp.StatusCode, raw)
		}
		if m.JoinURL != m0.JoinURL || m.LinkEpoch != 0 {
			t.Errorf("update %d: link changed %s → %s", i, m0.JoinURL, m.JoinURL)
		}
	}
	mails := ms.newMails(t, "c@partner.se", map[string]bool{})
	if len(mails) != 1 || linkRE.FindString(mails[0]) != m0.JoinURL {
		t.Errorf("new guest's mail does not carry the stable link")
	}
	ms.advance(30 * 24 * time.Hour) // many RotateEvery intervals
	if m, err := ms.Service.Meeting(context.Background(), m0.ID); err != nil || m.JoinURL != m0.JoinURL {
		t.Errorf("link changed with time: %s → %v %v", m0.JoinURL, m, err)
	}
	if status, _, _ := getPage(t, ms, anon(), pathOf(ms, m0.JoinURL), "en"); status != 200 {
		t.Errorf("stable link: %d", status)
	}
}

// TestOpenMeetingJoinNeedsLink: the display-name-only join of an open
// meeting also needs the current link.
func TestOpenMeetingJoinNeedsLink(t *testing.T) {
	ms := newMeetingServer(t)
	host := ms.signIn(t, "anna@kommun.se", false)
	_, m, raw := provision(t, ms, host, `{"event":`+eventJSON("Webbinarium om budgeten", "Öppet för alla")+`,"profile":"open"}`)
	if m.Settings.Guests != "link" {
		t.Fatalf("not an open meeting: %v", raw)
	}
	join := func(link string) int {
		r, _ := postJSON(t, anon(), ms.URL+"/api/v1/meetings/"+string(m.ID)+"/join", `{"display_name":"Medborgare","link":"`+link+`"}`)
		return r.StatusCode
	}
	if got := join(""); got != 403 {
		t.Errorf("without link: %d", got)
	}
	if got := join(linkToken(m.JoinURL)); got != 200 {
		t.Errorf("with the link: %d", got)
	}
}

func TestProvisionRejectsBadOccurrence(t *testing.T) {
	ms := newMeetingServer(t)
	host := ms.signIn(t, "anna@kommun.se", false)
	start := ms.now().Add(time.Hour).UTC()
	for name, occ := range map[string]string{
		"NoKey":        `{"start":"` + start.Format(time.RFC3339) + `","end":"` + start.Add(time.Hour).Format(time.RFC3339) + `"}`,
		"EndFirst":     `{"key":"k","start":"` + start.Format(time.RFC3339) + `","end":"` + start.Add(-time.Hour).Format(time.RFC3339) + `"}`,
		"TwoDaysLong":  `{"key":"k","start":"` + start.Format(time.RFC3339) + `","end":"` + start.Add(48*time.Hour).Format(time.RFC3339) + `"}`,
		"NoTimesAtAll": `{"key":"k"}`,
	} {
		t.Run(name, func(t *testing.T) {
			resp, _, raw := provision(t, ms, host, `{"event":`+recurringEvent("Serie", start, "a@partner.se")+`,"occurrence":`+occ+`}`)
			if resp.StatusCode != 400 || errCode(raw) != "invalid" || missingKey.MatchString(errMessage(raw)) {
				t.Errorf("%d %v", resp.StatusCode, raw)
			}
		})
	}
}

// TestTwoTabsAndRemoval: one signed-in user in two tabs is two participants
// (so a newcomer can talk to themselves); once a host removes that user,
// no tab of theirs gets back in.
func TestTwoTabsAndRemoval(t *testing.T) {
	ms := newMeetingServer(t)
	host := ms.signIn(t, "anna@kommun.se", false)
	_, m, raw := provision(t, ms, host, `{"event":`+eventJSON("Veckomöte", "Planering", "bo@kommun.se")+`}`)
	if m.ID == "" {
		t.Fatal(raw)
	}
	if m.Settings.Lobby != "externals" {
		t.Fatalf("want an internal meeting, got lobby %q", m.Settings.Lobby)
	}
	hw, _, err := dialSignalTab(t, ms, host, m.ID, "hosttab1")
	if err != nil {
		t.Fatal(err)
	}
	hw.send(sfu.Message{Type: sfu.TypeJoin})
	hw.await(sfu.TypeWelcome)
	bo := ms.signIn(t, "bo@kommun.se", false)
	b1, _, err := dialSignalTab(t, ms, bo, m.ID, "botab001")
	if err != nil {
		t.Fatal(err)
	}
	b1.send(sfu.Message{Type: sfu.TypeJoin})
	w1 := b1.await(sfu.TypeWelcome)
	b2, _, err := dialSignalTab(t, ms, bo, m.ID, "botab002")
	if err != nil {
		t.Fatal(err)
	}
	b2.send(sfu.Message{Type: sfu.TypeJoin})
	w2 := b2.await(sfu.TypeWelcome)
	if w1.Me == nil || w2.Me == nil || w1.Me.ID == w2.Me.ID {
		t.Fatalf("two tabs share one participant: %+v / %+v", w1.Me, w2.Me)
	}
	if st := ms.Rooms.SFU.Lookup(sfu.RoomID(m.ID)).Snapshot(); len(st.Participants) != 3 {
		t.Fatalf("%d participants, want host + two tabs", len(st.Participants))
	}
	t.Run("BadTabIgnored", func(t *testing.T) {
		// An invalid tab falls back to the plain user id.
		b3, _, err := dialSignalTab(t, ms, bo, m.ID, "NOT-VALID!")
		if err != nil {
			t.Fatal(err)
		}
		b3.send(sfu.Message{Type: sfu.TypeJoin})
		if w := b3.await(sfu.TypeWelcome); w.Me == nil || strings.Contains(string(w.Me.ID), "NOT") {
			t.Errorf("welcome %+v", w.Me)
		}
	})
	hw.send(sfu.Message{Type: sfu.TypeRemove, Target: w1.Me.ID})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		if _, _, err := b1.c.Read(ctx); err != nil {
			break
		}
	}
	_, resp, err := dialSignalTab(t, ms, bo, m.ID, "botab003")
	if err == nil || resp == nil || resp.StatusCode != 403 {
		t.Errorf("removed user back in from a new tab: err=%v resp=%v", err, resp)
	}
}

// TestSyncRaiseTellsHost: when a calendar change raises a meeting's
// profile, the room follows and the host gets a mail saying so; the host's
// own edits do not mail them.
func TestSyncRaiseTellsHost(t *testing.T) {
	ms := newMeetingServer(t)
	host := ms.signIn(t, "anna@kommun.se", false)
	_, m, raw := provision(t, ms, host, `{"event":`+eventJSON("Veckomöte", "Planering", "bo@kommun.se")+`,"event_ref":{"provider":"google","id":"ev-1"}}`)
	if m.Profile != "internal" {
		t.Fatalf("%v", raw)
	}
	var ev classifiers.Event
	json.Unmarshal([]byte(eventJSON("Veckomöte", "Vi tar upp Bos sjukskrivning.", "bo@kommun.se", "x@gmail.com")), &ev)
	by := backend.Actor{UserID: m.HostUserID, Email: m.HostEmail, Roles: []backend.Role{backend.RoleHost}}
	got, err := ms.Service.Provision(context.Background(), by, backend.ProvisionRequest{Event: ev, EventRef: m.EventRef, Lang: locales.English, FromSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if got.Profile != "protected" {
		t.Fatalf("profile %s", got.Profile)
	}
	notice := ms.mailFor(t, "anna@kommun.se")
	for _, want := range []string{"raised its protection level from Internal meeting to Protected meeting", "sensitive personal data", "/meetings/" + string(m.ID)} {
		if !strings.Contains(strings.Join(strings.Fields(notice), " "), want) {
			t.Errorf("host notice lacks %q:\n%s", want, notice)
		}
	}
	if codeRE.MatchString(notice) || strings.Contains(notice, "<code") {
		t.Error("host notice carries a code row")
	}
	// The host's own edits are not mailed back to them.
	before, _ := filepath.Glob(filepath.Join(ms.Outbox, "*.eml"))
	json.Unmarshal([]byte(eventJSON("Veckomöte", "Personuppgiftsincident", "bo@kommun.se", "x@gmail.com")), &ev)
	if _, err := ms.Service.Provision(context.Background(), by, backend.ProvisionRequest{Event: ev, EventRef: m.EventRef}); err != nil {
		t.Fatal(err)
	}
	ms.Worker.RunOnce(context.Background())
	after, _ := filepath.Glob(filepath.Join(ms.Outbox, "*.eml"))
	if len(after) != len(before) {
		t.Errorf("a host edit mailed %d messages", len(after)-len(before))
	}
}
