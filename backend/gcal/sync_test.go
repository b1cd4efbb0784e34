package gcal_test

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/api/calendar/v3"
	_ "modernc.org/sqlite"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/gcal"
	"github.com/motesvakt/motesvakt/classifiers"
	"github.com/motesvakt/motesvakt/locales"
)

func openDB(t *testing.T) *sql.DB {
	t.Helper()
	dsn := "file:" + filepath.Join(t.TempDir(), "g.db") + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(ON)&_pragma=synchronous(NORMAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(gcal.Schema); err != nil {
		t.Fatal(err)
	}
	return db
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

type harness struct {
	cal    *fakeCalendar
	svc    *fakeMeetings
	syncer *gcal.Syncer
	db     *sql.DB
	clock  *clock
	sleeps []time.Duration
	tick   chan time.Time
	mu     sync.Mutex
}

const calID = "anna@kommun.se"

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{cal: newFakeCalendar(), svc: newFakeMeetings(), db: openDB(t), clock: &clock{now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}, tick: make(chan time.Time)}
	t.Cleanup(h.cal.Close)
	h.syncer = &gcal.Syncer{
		DB: h.db, Meetings: h.svc, Address: "https://mv.test/hooks/gcal", TTL: 48 * time.Hour, RenewBefore: 12 * time.Hour,
		Lang: locales.Swedish, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: h.clock.Now,
		Tick: func(time.Duration) <-chan time.Time { return h.tick },
		Calendar: func(ctx context.Context, id string) (*calendar.Service, error) {
			return gcal.NewService(ctx, nil, h.cal.URL+"/calendar/v3/", h.cal.Client())
		},
		Retry: gcal.Retrier{Sleep: func(ctx context.Context, d time.Duration) error {
			h.mu.Lock()
			h.sleeps = append(h.sleeps, d)
			h.mu.Unlock()
			return nil
		}},
	}
	return h
}

func tm(s string) *time.Time { v, _ := time.Parse(time.RFC3339, s); return &v }

// provisionLikeAddin books the event as the add-in does on save.
func (h *harness) provisionLikeAddin(t *testing.T, e *calendar.Event) *backend.Meeting {
	t.Helper()
	ev := gcal.ToEvent(e)
	res, _, _ := h.svc.Classify(context.Background(), ev, locales.Swedish)
	m, err := h.svc.Provision(context.Background(), backend.Actor{UserID: "u_anna", Email: calID, Roles: []backend.Role{backend.RoleHost}},
		backend.ProvisionRequest{Event: ev, Profile: res.Profile, EventRef: gcal.Ref(e)})
	if err != nil {
		t.Fatal(err)
	}
	h.svc.ResetCalls()
	return m
}

func notify(t *testing.T, handler http.Handler, ch *gcal.Channel, token, state string) int {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/hooks/gcal", nil)
	req.Header.Set("X-Goog-Channel-ID", string(ch.ID))
	req.Header.Set("X-Goog-Channel-Token", token)
	req.Header.Set("X-Goog-Resource-ID", ch.ResourceID)
	req.Header.Set("X-Goog-Resource-State", state)
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	return rec.Code
}

// watchToken opens a channel and returns the secret token the fake saw.
func (h *harness) watch(t *testing.T) (*gcal.Channel, string) {
	t.Helper()
	ch, err := h.syncer.Watch(context.Background(), calID)
	if err != nil {
		t.Fatal(err)
	}
	h.cal.mu.Lock()
	tok := h.cal.watches[len(h.cal.watches)-1].Token
	h.cal.mu.Unlock()
	return ch, tok
}

func baseEvent() *calendar.Event {
	return &calendar.Event{Id: "ev1", ICalUID: "ev1@google.com", Summary: "Veckomöte", Description: "Agenda: status",
		Organizer: &calendar.EventOrganizer{Email: calID},
		Attendees: []*calendar.EventAttendee{{Email: calID, Organizer: true}, {Email: "bo@kommun.se"}},
		Start:     &calendar.EventDateTime{DateTime: "2026-03-10T09:00:00+01:00"}, End: &calendar.EventDateTime{DateTime: "2026-03-10T10:00:00+01:00"}}
}

func TestChangeRaisesProfileAndWritesBack(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := baseEvent()
	h.cal.put(e)
	m := h.provisionLikeAddin(t, e)
	if m.Profile != classifiers.ProfileInternal {
		t.Fatalf("initial profile %s", m.Profile)
	}
	ch, tok := h.watch(t)
	handler := h.syncer.Handler()
	if got := notify(t, handler, ch, tok, "sync"); got != http.StatusOK {
		t.Fatalf("sync notification: %d", got)
	}

	// The host adds an external guest and turns it into a personnel matter.
	e.Summary = "Lönesamtal och rehabilitering"
	e.Attendees = append(e.Attendees, &calendar.EventAttendee{Email: "ombud@advokat.se", DisplayName: "Ombud"})
	h.cal.put(e)
	if got := notify(t, handler, ch, tok, "exists"); got != http.StatusOK {
		t.Fatalf("notification: %d", got)
	}
	if err := h.syncer.SyncChannel(ctx, ch.ID); err != nil {
		t.Fatal(err)
	}
	calls := h.svc.ProvisionCalls()
	if len(calls) != 1 {
		t.Fatalf("Provision calls = %d, want 1", len(calls))
	}
	req := calls[0].Req
	if got, want := req.Profile, classifiers.ProfileProtected; got != want {
		t.Errorf("profile = %s, want %s", got, want)
	}
	if got, want := gcal.Invitees(req.Event), []string{"bo@kommun.se", "ombud@advokat.se"}; !slices.Equal(got, want) {
		t.Errorf("invitees = %v, want %v", got, want)
	}
	if req.EventRef.Key() != m.EventRef.Key() {
		t.Errorf("event ref %v, want the meeting's %v", req.EventRef, m.EventRef)
	}
	if calls[0].By.Email != calID {
		t.Errorf("actor %v, want the host", calls[0].By)
	}
	got := h.cal.get("ev1")
	if p := got.ExtendedProperties.Private; p[gcal.PropProfile] != "protected" || p[gcal.PropMeeting] != string(m.ID) {
		t.Errorf("markers = %v", p)
	}
	if !strings.Contains(got.Description, m.JoinURL) || !strings.Contains(got.Description, "Agenda: status") || !strings.Contains(got.Description, "Skyddsvärt") {
		t.Errorf("description = %q", got.Description)
	}
	if got.Location != m.JoinURL {
		t.Errorf("location = %q", got.Location)
	}

	// Our own PATCH comes back as a change: it must converge without
	// provisioning again or writing again.
	patches := len(h.cal.patches)
	if err := h.syncer.SyncChannel(ctx, ch.ID); err != nil {
		t.Fatal(err)
	}
	if n := len(h.svc.ProvisionCalls()); n != 1 {
		t.Errorf("Provision calls after write-back echo = %d, want 1", n)
	}
	if len(h.cal.patches) != patches {
		t.Errorf("write-back repeated")
	}

	// A removed guest re-provisions (the service revokes the code) but the
	// profile never drops.
	e = h.cal.get("ev1")
	e.Attendees = e.Attendees[:2]
	h.cal.put(e)
	if err := h.syncer.SyncChannel(ctx, ch.ID); err != nil {
		t.Fatal(err)
	}
	calls = h.svc.ProvisionCalls()
	if len(calls) != 2 || calls[1].Req.Profile != classifiers.ProfileProtected || slices.Contains(gcal.Invitees(calls[1].Req.Event), "ombud@advokat.se") {
		t.Fatalf("after removal: %+v", calls)
	}
}

func TestHandlerRejectsForgedNotifications(t *testing.T) {
	h := newHarness(t)
	h.cal.put(baseEvent())
	ch, tok := h.watch(t)
	handler := h.syncer.Handler()
	forgedID := *ch
	forgedID.ID = "mv-unknown"
	otherRes := *ch
	otherRes.ResourceID = "res-other"
	for _, tt := range []struct {
		name  string
		ch    *gcal.Channel
		token string
		want  int
	}{
		{"wrong token", ch, tok + "x", http.StatusUnauthorized},
		{"empty token", ch, "", http.StatusUnauthorized},
		{"unknown channel", &forgedID, tok, http.StatusUnauthorized},
		{"wrong resource", &otherRes, tok, http.StatusUnauthorized},
		{"good", ch, tok, http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := notify(t, handler, tt.ch, tt.token, "exists"); got != tt.want {
				t.Errorf("status = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	h := newHarness(t)
	e := baseEvent()
	h.cal.put(e)
	h.provisionLikeAddin(t, e)
	ch, _ := h.watch(t)
	e.Attendees = append(e.Attendees, &calendar.EventAttendee{Email: "x@extern.se"})
	h.cal.put(e)
	h.cal.fail("7", http.StatusTooManyRequests, http.StatusServiceUnavailable)
	if err := h.syncer.SyncChannel(context.Background(), ch.ID); err != nil {
		t.Fatal(err)
	}
	if got, want := h.sleeps, []time.Duration{7 * time.Second, 7 * time.Second}; !slices.Equal(got, want) {
		t.Errorf("sleeps = %v, want %v", got, want)
	}
	if n := len(h.svc.ProvisionCalls()); n != 1 {
		t.Errorf("Provision calls = %d, want 1", n)
	}
	// Permanent errors are not retried.
	h.sleeps = nil
	h.cal.fail("", http.StatusForbidden)
	err := gcal.Retrier{Sleep: h.syncer.Retry.Sleep}.Do(context.Background(), "x", func() error {
		_, err := h.mustSvc(t).Events.Get(calID, "ev1").Do()
		return err
	})
	if err == nil || len(h.sleeps) != 0 {
		t.Errorf("403: err %v sleeps %v", err, h.sleeps)
	}
}

func (h *harness) mustSvc(t *testing.T) *calendar.Service {
	s, err := h.syncer.Calendar(context.Background(), calID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDeletedMidSyncAndExpiredToken(t *testing.T) {
	h := newHarness(t)
	e := baseEvent()
	h.cal.put(e)
	h.provisionLikeAddin(t, e)
	ch, _ := h.watch(t)
	e.Summary = "Flyttat"
	h.cal.put(e)
	h.cal.mu.Lock()
	h.cal.deleted["ev1"] = true
	h.cal.mu.Unlock()
	if err := h.syncer.SyncChannel(context.Background(), ch.ID); err != nil {
		t.Fatalf("deleted event broke sync: %v", err)
	}
	if n := len(h.svc.ProvisionCalls()); n != 0 {
		t.Errorf("Provision called for a deleted event")
	}
	got, _ := gcal.ChannelByID(context.Background(), h.db, ch.ID)
	if got.SyncToken == ch.SyncToken {
		t.Errorf("sync token not advanced past the deleted event")
	}
	// 410 Gone: resync from scratch instead of failing forever.
	h.cal.mu.Lock()
	h.cal.deleted["ev1"] = false
	h.cal.expireTokens = true
	h.cal.mu.Unlock()
	if err := h.syncer.SyncChannel(context.Background(), ch.ID); err != nil {
		t.Fatalf("after 410: %v", err)
	}
	if n := len(h.svc.ProvisionCalls()); n != 1 {
		t.Errorf("Provision calls after full resync = %d, want 1", n)
	}
}

func TestRenewalLoop(t *testing.T) {
	h := newHarness(t)
	h.cal.put(baseEvent())
	old, oldTok := h.watch(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.syncer.Run(ctx, time.Hour) }()

	// Not yet due: nothing happens.
	h.clock.Add(30 * time.Hour)
	h.tick <- h.clock.Now()
	h.tick <- h.clock.Now() // unbuffered: returns once the first tick was handled
	h.cal.mu.Lock()
	n := len(h.cal.watches)
	h.cal.mu.Unlock()
	if n != 1 {
		t.Fatalf("renewed too early: %d watches", n)
	}
	// Within RenewBefore of expiry: replaced.
	h.clock.Add(7 * time.Hour)
	h.tick <- h.clock.Now()
	h.tick <- h.clock.Now()
	cancel()
	<-done
	h.cal.mu.Lock()
	watches, stopped := len(h.cal.watches), slices.Clone(h.cal.stopped)
	h.cal.mu.Unlock()
	if watches != 2 || !slices.Equal(stopped, []string{string(old.ID)}) {
		t.Fatalf("watches %d stopped %v", watches, stopped)
	}
	if _, err := gcal.ChannelByID(context.Background(), h.db, old.ID); err != gcal.ErrNoChannel {
		t.Errorf("old channel still stored: %v", err)
	}
	if got := notify(t, h.syncer.Handler(), old, oldTok, "exists"); got != http.StatusUnauthorized {
		t.Errorf("old channel still accepted: %d", got)
	}
	due, _ := gcal.ChannelsExpiringBefore(context.Background(), h.db, h.clock.Now().Add(47*time.Hour))
	if len(due) != 0 {
		t.Errorf("new channel expires too soon: %+v", due)
	}
}

func TestRotationAndOccurrences(t *testing.T) {
	start := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	r := gcal.Rotation{Interval: 28 * 24 * time.Hour}
	for _, tt := range []struct {
		occ  time.Time
		want int64
	}{
		{start, 0}, {start.AddDate(0, 0, 21), 0}, {start.AddDate(0, 0, 28), 1}, {start.AddDate(0, 0, 63), 2}, {start.AddDate(0, 0, -7), 0},
	} {
		if got := r.Epoch(start, tt.occ); got != tt.want {
			t.Errorf("Epoch(%v) = %d, want %d", tt.occ, got, tt.want)
		}
	}
	if got := (gcal.Rotation{}).Epoch(start, start.AddDate(1, 0, 0)); got != 0 {
		t.Errorf("zero interval rotated: %d", got)
	}
	ref := backend.EventRef{Provider: backend.ProviderGoogle, ID: "s1", ICalUID: "s1@google.com"}
	a := gcal.OccurrenceKey(ref, time.Date(2026, 1, 12, 10, 0, 0, 0, time.FixedZone("CET", 3600)))
	if want := "google:ical:s1@google.com@20260112T090000Z"; a != want {
		t.Errorf("OccurrenceKey = %q, want %q", a, want)
	}
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		v    string
		want time.Duration
	}{{"", 0}, {"3", 3 * time.Second}, {"junk", 0}, {"-1", 0}, {now.Add(10 * time.Second).Format(http.TimeFormat), 10 * time.Second}, {"99999", 5 * time.Minute}} {
		h := http.Header{}
		if tt.v != "" {
			h.Set("Retry-After", tt.v)
		}
		if got := gcal.RetryAfter(h, now); got != tt.want {
			t.Errorf("RetryAfter(%q) = %v, want %v", tt.v, got, tt.want)
		}
	}
}

func TestWriteBackReplacesBlock(t *testing.T) {
	m := &backend.Meeting{ID: "m1", JoinURL: "https://mv.test/m/m1", Profile: classifiers.ProfileInternal}
	e := &calendar.Event{Description: "Hej"}
	p := gcal.WriteBackPatch(e, m, locales.English)
	e.Description = p.Description
	m.Profile = classifiers.ProfileProtected
	p2 := gcal.WriteBackPatch(e, m, locales.Swedish)
	if strings.Count(p2.Description, "--- Mötesvakt ---") != 1 || !strings.HasPrefix(p2.Description, "Hej\n\n") || !strings.Contains(p2.Description, "Skyddsvärt") {
		t.Errorf("description = %q", p2.Description)
	}
	if got := gcal.ToEvent(&calendar.Event{Description: p2.Description}).Body; got != "Hej" {
		t.Errorf("classification body = %q, want our block stripped", got)
	}
}
