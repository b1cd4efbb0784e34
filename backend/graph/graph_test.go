package graph_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/gcal"
	"github.com/motesvakt/motesvakt/backend/graph"
	"github.com/motesvakt/motesvakt/classifiers"
	"github.com/motesvakt/motesvakt/locales"
)

// fakeGraph is a loopback Microsoft Graph v1.0 for events and
// subscriptions, with scripted faults.
type fakeGraph struct {
	*httptest.Server
	mu       sync.Mutex
	events   map[string]map[string]any // id → event JSON
	subs     map[string]map[string]any
	patches  []map[string]any
	faults   []int
	retryHdr string
	maxExp   time.Duration
	nextSub  int
	now      func() time.Time
	prefer   []string
	expands  []string
}

func newFakeGraph(now func() time.Time) *fakeGraph {
	f := &fakeGraph{events: map[string]map[string]any{}, subs: map[string]map[string]any{}, now: now, maxExp: 4230 * time.Minute}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	return f
}

func (f *fakeGraph) putEvent(id, subject string, attendees ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var as []any
	for _, a := range attendees {
		as = append(as, map[string]any{"type": "required", "emailAddress": map[string]any{"address": a, "name": a}})
	}
	as = append(as, map[string]any{"type": "resource", "emailAddress": map[string]any{"address": "rum-4@kommun.se"}})
	ev := f.events[id]
	if ev == nil {
		ev = map[string]any{"id": id, "iCalUId": "ical-" + id, "type": "singleInstance",
			"organizer": map[string]any{"emailAddress": map[string]any{"address": "anna@kommun.se", "name": "Anna"}},
			"start":     map[string]any{"dateTime": "2026-03-10T08:00:00.0000000", "timeZone": "UTC"},
			"end":       map[string]any{"dateTime": "2026-03-10T09:00:00.0000000", "timeZone": "UTC"},
			"body":      map[string]any{"contentType": "html", "content": "<p>Agenda</p>"},
			"location":  map[string]any{"displayName": "Rum 4"}}
		f.events[id] = ev
	}
	ev["subject"], ev["attendees"] = subject, as
}

func (f *fakeGraph) fail(retryAfter string, codes ...int) {
	f.mu.Lock()
	f.faults, f.retryHdr = append(f.faults, codes...), retryAfter
	f.mu.Unlock()
}

func (f *fakeGraph) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if len(f.faults) > 0 {
		code := f.faults[0]
		f.faults = f.faults[1:]
		if f.retryHdr != "" {
			w.Header().Set("Retry-After", f.retryHdr)
		}
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"error":{"code":"TooManyRequests","message":"scripted %d"}}`, code)
		return
	}
	p := strings.TrimPrefix(r.URL.Path, "/v1.0/")
	parts := strings.Split(p, "/")
	var body map[string]any
	if r.Body != nil {
		json.NewDecoder(r.Body).Decode(&body)
	}
	notFound := func() {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":{"code":"ErrorItemNotFound","message":"The specified object was not found in the store."}}`)
	}
	switch {
	case p == "subscriptions" && r.Method == http.MethodPost:
		f.nextSub++
		id := fmt.Sprintf("sub-%d", f.nextSub)
		exp, _ := time.Parse(time.RFC3339, body["expirationDateTime"].(string))
		if limit := f.now().Add(f.maxExp); exp.After(limit) {
			exp = limit
		}
		body["id"], body["expirationDateTime"] = id, exp.UTC().Format(time.RFC3339)
		f.subs[id] = body
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(body)
	case len(parts) == 2 && parts[0] == "subscriptions":
		s := f.subs[parts[1]]
		if s == nil {
			notFound()
			return
		}
		if r.Method == http.MethodDelete {
			delete(f.subs, parts[1])
			w.WriteHeader(http.StatusNoContent)
			return
		}
		s["expirationDateTime"] = body["expirationDateTime"]
		json.NewEncoder(w).Encode(s)
	case len(parts) == 4 && parts[0] == "users" && parts[2] == "events":
		ev := f.events[parts[3]]
		if ev == nil {
			notFound()
			return
		}
		switch r.Method {
		case http.MethodGet:
			f.prefer = append(f.prefer, r.Header.Get("Prefer"))
			f.expands = append(f.expands, r.URL.Query().Get("$expand"))
			json.NewEncoder(w).Encode(ev)
		case http.MethodPatch:
			f.patches = append(f.patches, body)
			if props, ok := body["singleValueExtendedProperties"]; ok {
				ev["singleValueExtendedProperties"] = props
			}
			w.WriteHeader(http.StatusOK)
			json.NewEncoder(w).Encode(ev)
		}
	default:
		http.NotFound(w, r)
	}
}

func openDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "g.db")+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(ON)&_pragma=synchronous(NORMAL)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(graph.Schema); err != nil {
		t.Fatal(err)
	}
	return db
}

type harness struct {
	g      *fakeGraph
	svc    *fakeMeetings
	syncer *graph.Syncer
	db     *sql.DB
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
	tick   chan time.Time
}

func (h *harness) Now() time.Time { h.mu.Lock(); defer h.mu.Unlock(); return h.now }

const addinID = "7c3e2b7e-0b7a-4f4e-9a43-4d6f74657376"

func newHarness(t *testing.T) *harness {
	h := &harness{svc: newFakeMeetings(), db: openDB(t), now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), tick: make(chan time.Time)}
	h.g = newFakeGraph(h.Now)
	t.Cleanup(h.g.Close)
	c, err := graph.NewClientAt(h.g.URL+"/v1.0", h.g.Client(), addinID)
	if err != nil {
		t.Fatal(err)
	}
	h.syncer = &graph.Syncer{DB: h.db, Graph: c, Meetings: h.svc, NotifyURL: "https://mv.test/hooks/graph", Lifetime: 72 * time.Hour, RenewBefore: 12 * time.Hour,
		Lang: locales.Swedish, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: h.Now,
		Tick: func(time.Duration) <-chan time.Time { return h.tick },
		Retry: gcal.Retrier{Sleep: func(ctx context.Context, d time.Duration) error {
			h.mu.Lock()
			h.sleeps = append(h.sleeps, d)
			h.mu.Unlock()
			return nil
		}}}
	return h
}

func (h *harness) clientState(t *testing.T, id string) string {
	h.g.mu.Lock()
	defer h.g.mu.Unlock()
	return h.g.subs[id]["clientState"].(string)
}

func post(t *testing.T, hd http.Handler, target, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	hd.ServeHTTP(rec, req)
	return rec
}

func TestValidationHandshake(t *testing.T) {
	h := newHarness(t)
	tok := "Validation: Token <&> 1+2"
	req := httptest.NewRequest(http.MethodPost, "/hooks/graph?validationToken="+url.QueryEscape(tok), strings.NewReader(""))
	req.Header.Set("Content-Type", "text/plain")
	rec := httptest.NewRecorder()
	start := time.Now()
	h.syncer.Handler().ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Body.String() != tok || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("handshake: %d %q %q", rec.Code, rec.Body.String(), rec.Header().Get("Content-Type"))
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("handshake took %v; Graph allows 10 s", d)
	}
}

func TestChangeRaisesProfile(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h.g.putEvent("AAMk1", "Veckomöte", "bo@kommun.se")
	// The add-in provisioned on send with the Office item id and tagged the
	// event with the meeting id in its custom properties.
	m, err := h.svc.Provision(ctx, backend.Actor{UserID: "u_anna", Email: "anna@kommun.se"}, backend.ProvisionRequest{
		Event: classifiers.Event{Subject: "Veckomöte", Attendees: []classifiers.Attendee{{Email: "bo@kommun.se"}}}, Profile: classifiers.ProfileInternal,
		EventRef: backend.EventRef{Provider: backend.ProviderOutlook, ID: "office-item-id"}})
	if err != nil {
		t.Fatal(err)
	}
	h.svc.ResetCalls()
	h.g.mu.Lock()
	h.g.events["AAMk1"]["singleValueExtendedProperties"] = []any{map[string]any{"id": graph.AddinPropertyID(addinID), "value": `{"motesvaktMeeting":"` + string(m.ID) + `","motesvaktProfile":"internal"}`}}
	h.g.mu.Unlock()

	sub, err := h.syncer.Subscribe(ctx, "anna@kommun.se")
	if err != nil {
		t.Fatal(err)
	}
	if want := h.Now().Add(4230 * time.Minute); !sub.Expires.Equal(want) {
		t.Errorf("stored expiry %v, want Graph's granted %v", sub.Expires, want)
	}
	done := make(chan error, 1)
	go func() { done <- h.syncer.Run(ctx, time.Hour) }()

	h.g.putEvent("AAMk1", "Säkerhetsincident: dataintrång", "bo@kommun.se", "konsult@extern.se")
	n := `{"value":[{"subscriptionId":"` + sub.ID + `","clientState":"` + h.clientState(t, sub.ID) + `","changeType":"updated","resource":"Users/anna/Events/AAMk1","resourceData":{"id":"AAMk1"}}]}`
	if rec := post(t, h.syncer.Handler(), "/hooks/graph", n); rec.Code != http.StatusAccepted {
		t.Fatalf("notification: %d", rec.Code)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(h.svc.ProvisionCalls()) == 0 || h.patchCount() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no Provision/write-back after notification")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	calls := h.svc.ProvisionCalls()
	if len(calls) != 1 {
		t.Fatalf("Provision calls = %d", len(calls))
	}
	req := calls[0].Req
	if req.Profile != classifiers.ProfileProtected || req.EventRef.ID != "office-item-id" {
		t.Errorf("provision req profile %s ref %+v", req.Profile, req.EventRef)
	}
	if got, want := gcal.Invitees(req.Event), []string{"bo@kommun.se", "konsult@extern.se"}; !slices.Equal(got, want) {
		t.Errorf("invitees %v, want %v (resource rooms excluded)", got, want)
	}
	if req.Event.Start == nil || !req.Event.Start.Equal(time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)) {
		t.Errorf("start %v", req.Event.Start)
	}
	h.g.mu.Lock()
	patch, _ := json.Marshal(h.g.patches[0])
	prefer, expand := h.g.prefer[0], h.g.expands[0]
	h.g.mu.Unlock()
	if !bytes.Contains(patch, []byte(`"value":"protected"`)) || !bytes.Contains(patch, []byte(graph.PropProfile)) || !bytes.Contains(patch, []byte(string(m.ID))) {
		t.Errorf("write-back patch %s", patch)
	}
	if !strings.Contains(prefer, `outlook.timezone="UTC"`) || !strings.Contains(expand, "cecp-"+addinID) {
		t.Errorf("GET prefer %q expand %q", prefer, expand)
	}
	// The write-back echo converges: same markers, no second provision.
	out, err := h.syncer.SyncEvent(context.Background(), "anna@kommun.se", "AAMk1", false)
	if err != nil || out.Provisioned || h.patchCount() != 1 {
		t.Errorf("echo: %+v %v patches %d", out, err, h.patchCount())
	}
}

func (h *harness) patchCount() int { h.g.mu.Lock(); defer h.g.mu.Unlock(); return len(h.g.patches) }

func TestForgedClientStateRejected(t *testing.T) {
	h := newHarness(t)
	sub, err := h.syncer.Subscribe(context.Background(), "anna@kommun.se")
	if err != nil {
		t.Fatal(err)
	}
	good := h.clientState(t, sub.ID)
	for _, tt := range []struct {
		name, sub, state string
		want             int
	}{
		{"forged state", sub.ID, "guess", http.StatusUnauthorized},
		{"empty state", sub.ID, "", http.StatusUnauthorized},
		{"unknown subscription", "sub-x", good, http.StatusUnauthorized},
		{"good", sub.ID, good, http.StatusAccepted},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := `{"value":[{"subscriptionId":"` + tt.sub + `","clientState":"` + tt.state + `","changeType":"updated","resourceData":{"id":"e1"}}]}`
			if rec := post(t, h.syncer.Handler(), "/hooks/graph", n); rec.Code != tt.want {
				t.Errorf("status %d, want %d", rec.Code, tt.want)
			}
		})
	}
	if rec := post(t, h.syncer.Handler(), "/hooks/graph", "{not json"); rec.Code != http.StatusBadRequest {
		t.Errorf("bad json: %d", rec.Code)
	}
}

func TestRetryAfterAndDeleted(t *testing.T) {
	h := newHarness(t)
	h.g.putEvent("e1", "Möte", "bo@kommun.se")
	m, _ := h.svc.Provision(context.Background(), backend.Actor{Email: "anna@kommun.se"}, backend.ProvisionRequest{
		Event: classifiers.Event{Subject: "Möte", Attendees: []classifiers.Attendee{{Email: "bo@kommun.se"}}}, Profile: classifiers.ProfileInternal,
		EventRef: backend.EventRef{Provider: backend.ProviderOutlook, ID: "e1", ICalUID: "ical-e1"}})
	h.svc.ResetCalls()
	h.g.putEvent("e1", "Möte", "bo@kommun.se", "ny@extern.se")
	h.g.fail("4", http.StatusTooManyRequests, http.StatusServiceUnavailable)
	out, err := h.syncer.SyncEvent(context.Background(), "anna@kommun.se", "e1", false)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := h.sleeps, []time.Duration{4 * time.Second, 4 * time.Second}; !slices.Equal(got, want) {
		t.Errorf("sleeps %v, want %v", got, want)
	}
	if !out.Provisioned || out.Meeting.ID != m.ID || len(h.svc.ProvisionCalls()) != 1 {
		t.Errorf("outcome %+v calls %d", out, len(h.svc.ProvisionCalls()))
	}
	// Deleted mid-sync: a 404 on GET is logged and skipped.
	out, err = h.syncer.SyncEvent(context.Background(), "anna@kommun.se", "gone", false)
	if err != nil || out.Provisioned {
		t.Errorf("deleted: %+v %v", out, err)
	}
	// Persistent 5xx gives up with an error, so the notification can be retried.
	h.g.fail("", 500, 500, 500, 500, 500)
	if _, err := h.syncer.SyncEvent(context.Background(), "anna@kommun.se", "e1", false); err == nil || !strings.Contains(err.Error(), "giving up") {
		t.Errorf("5xx: %v", err)
	}
}

func TestRenewalLoop(t *testing.T) {
	h := newHarness(t)
	sub, err := h.syncer.Subscribe(context.Background(), "anna@kommun.se")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.syncer.Run(ctx, time.Hour) }()
	advance := func(d time.Duration) {
		h.mu.Lock()
		h.now = h.now.Add(d)
		h.mu.Unlock()
		h.tick <- h.Now()
		h.tick <- h.Now() // unbuffered: the first tick has been handled
	}
	advance(50 * time.Hour) // 70.5 h left of 70.5: not due
	got, _ := graph.SubscriptionByID(context.Background(), h.db, sub.ID)
	if !got.Expires.Equal(sub.Expires) {
		t.Fatalf("renewed too early")
	}
	advance(10 * time.Hour) // within 12 h of expiry
	cancel()
	<-done
	got, _ = graph.SubscriptionByID(context.Background(), h.db, sub.ID)
	if !got.Expires.After(sub.Expires) {
		t.Errorf("not renewed: %v", got.Expires)
	}
	// Graph forgot it: renewal recreates it.
	h.g.mu.Lock()
	delete(h.g.subs, sub.ID)
	h.g.mu.Unlock()
	h.mu.Lock()
	h.now = h.now.Add(70 * time.Hour)
	h.mu.Unlock()
	if err := h.syncer.Renew(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := graph.SubscriptionByID(context.Background(), h.db, sub.ID); err != graph.ErrNoSubscription {
		t.Errorf("old subscription kept: %v", err)
	}
	h.g.mu.Lock()
	n := len(h.g.subs)
	h.g.mu.Unlock()
	if n != 1 {
		t.Errorf("subscriptions at Graph = %d, want 1", n)
	}
}

// TestOnlyGraphImportsMSGraph keeps msgraph-sdk-go (minutes and gigabytes
// to build) out of every package but this one and the binary that wires it.
func TestOnlyGraphImportsMSGraph(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list over the module")
	}
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, "github.com/motesvakt/motesvakt/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowed := map[string]bool{"github.com/motesvakt/motesvakt/backend/graph": true, "github.com/motesvakt/motesvakt/backend/cmd/motesvakt": true}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "github.com/motesvakt/motesvakt") || allowed[f[0]] {
			continue
		}
		for _, d := range f[1:] {
			if strings.HasPrefix(d, "github.com/microsoftgraph/msgraph-sdk-go") {
				t.Errorf("%s depends on %s; only backend/graph may", f[0], d)
				break
			}
		}
	}
}
