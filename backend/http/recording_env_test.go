package http_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/audit"
	mhttp "github.com/motesvakt/motesvakt/backend/http"
	"github.com/motesvakt/motesvakt/backend/meetings"
	"github.com/motesvakt/motesvakt/backend/recorder"
	"github.com/motesvakt/motesvakt/backend/recording"
	"github.com/motesvakt/motesvakt/backend/rooms"
	"github.com/motesvakt/motesvakt/backend/sqlite"
	"github.com/motesvakt/motesvakt/classifiers"
	"github.com/motesvakt/motesvakt/sfu"
	"github.com/motesvakt/motesvakt/sfu/sfutest"
)

// recSwitchKeys is the local key file with an off switch: while down it fails
// the way an unreachable Vault does, so playback must answer 503.
type recSwitchKeys struct {
	recording.KeyProvider
	down atomic.Bool
}

func (k *recSwitchKeys) err() error {
	return fmt.Errorf("dial vault: connection refused: %w", recording.ErrProviderUnavailable)
}

func (k *recSwitchKeys) Wrap(ctx context.Context, dek []byte) (recording.WrappedKey, error) {
	if k.down.Load() {
		return recording.WrappedKey{}, k.err()
	}
	return k.KeyProvider.Wrap(ctx, dek)
}

func (k *recSwitchKeys) Unwrap(ctx context.Context, wk recording.WrappedKey) ([]byte, error) {
	if k.down.Load() {
		return nil, k.err()
	}
	return k.KeyProvider.Unwrap(ctx, wk)
}

func (k *recSwitchKeys) Check(ctx context.Context) error {
	if k.down.Load() {
		return k.err()
	}
	return k.KeyProvider.Check(ctx)
}

// recEnv is the HTTP edge with recordings wired as serve would wire them:
// one SQLite file, the rooms hooks wrapped by the recorder, a loopback SFU.
type recEnv struct {
	*httptest.Server
	db    *sqlite.DB
	store *recording.Store
	keys  *recSwitchKeys
	rec   *recorder.Manager
	sfu   *sfu.SFU
	users map[string]backend.UserID
	logs  lockedBuffer
}

// lockedBuffer collects the server's log for failure messages.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newRecEnv(t *testing.T) *recEnv { return newRecEnvWith(t, false) }

// newRecEnvWith optionally adds the meeting routes (room page, signaling),
// as serve wires them, for the browser test.
func newRecEnvWith(t *testing.T, withMeetings bool) *recEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "m.db"),
		sqlite.Migration{Name: "0100_audit", SQL: audit.Schema},
		sqlite.Migration{Name: "0101_recordings", SQL: recording.Schema},
		sqlite.Migration{Name: "0102_recorder", SQL: recorder.Schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	lk, err := recording.OpenLocalKeyFile(filepath.Join(dir, "keys", "kek"))
	if err != nil {
		t.Fatal(err)
	}
	e := &recEnv{db: db, keys: &recSwitchKeys{KeyProvider: lk}, users: map[string]backend.UserID{}}
	if e.store, err = recording.NewStore(db.SQL(), filepath.Join(dir, "recordings"), e.keys); err != nil {
		t.Fatal(err)
	}
	domains := backend.ParseDomains("kommun.se")
	rm := &rooms.Manager{DB: db, Log: log, Internal: domains}
	if e.rec, err = recorder.New(recorder.Config{DB: db.SQL(), Meetings: db, Store: e.store, Keys: e.keys, Log: log}); err != nil {
		t.Fatal(err)
	}
	if e.sfu, err = sfu.New(sfu.Config{ListenIP: "127.0.0.1", IncludeLoopback: true, AnswerTimeout: 5 * time.Second},
		recorder.WrapHooks(rm.Hooks(), e.rec), log); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.sfu.Close() })
	rm.SFU = e.sfu
	e.rec.SetRooms(e.sfu)

	e.Server = httptest.NewUnstartedServer(nil)
	public, _ := url.Parse("http://" + e.Listener.Addr().String())
	opts := []mhttp.Option{mhttp.WithRecordings(e.rec, e.store)}
	if withMeetings {
		opts = append(opts, mhttp.WithMeetings(&meetings.Service{DB: db, Internal: domains, Log: log, PublicURL: public}, rm, nil))
	}
	app, err := mhttp.New(mhttp.Config{Addr: e.Listener.Addr().String(), PublicURL: public, Internal: domains,
		CSRFKey: make([]byte, 32)}, db, nil, slog.New(slog.NewTextHandler(&e.logs, nil)), opts...)
	if err != nil {
		t.Fatal(err)
	}
	e.Config.Handler = app
	e.Start()
	t.Cleanup(e.Close)
	return e
}

// user signs a user in and returns a client carrying the session cookie.
func (e *recEnv) user(t *testing.T, name string, roles ...backend.Role) *http.Client {
	t.Helper()
	ctx := context.Background()
	var sid backend.SessionID
	err := e.db.InTx(ctx, func(tx *sqlite.Tx) error {
		u, err := tx.UpsertUser(ctx, "https://idp.kommun.se", name, name+"@kommun.se", name)
		if err != nil {
			return err
		}
		e.users[name] = u.ID
		sid, err = tx.CreateSession(ctx, &backend.Session{Kind: backend.SessionUser, UserID: u.ID, Email: u.Email, Name: name,
			Roles: roles, MFA: true, Expires: time.Now().Add(time.Hour)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: recCookieTransport{sid: string(sid)},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type recCookieTransport struct{ sid string }

func (c recCookieTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.AddCookie(&http.Cookie{Name: "ms_session", Value: c.sid})
	return http.DefaultTransport.RoundTrip(r)
}

// meeting stores an internal meeting hosted by host and returns its room.
func (e *recEnv) meeting(t *testing.T, id, host string, p classifiers.Profile) (*backend.Meeting, *sfu.Room) {
	t.Helper()
	m := &backend.Meeting{ID: backend.MeetingID(id), Title: "Ledningsgruppens möte", Profile: p, Suggested: p,
		Settings: classifiers.DefaultProfiles()[p], HostUserID: e.users[host], HostEmail: host + "@kommun.se",
		Start: time.Now(), End: time.Now().Add(time.Hour), EventRef: backend.EventRef{Provider: backend.ProviderManual, ID: id}}
	if err := e.db.InTx(context.Background(), func(tx *sqlite.Tx) error { return tx.SaveMeeting(context.Background(), m) }); err != nil {
		t.Fatal(err)
	}
	return m, e.sfu.Room(sfu.RoomID(id), rooms.OptionsFor(m))
}

var recClientAPI = sync.OnceValues(sfutest.LoopbackAPI)

func recJoinRoom(t *testing.T, room *sfu.Room, who sfu.Identity) *sfutest.Client {
	t.Helper()
	api, err := recClientAPI()
	if err != nil {
		t.Fatal(err)
	}
	srv, cli := sfutest.Pipe()
	c := sfutest.NewClient(api, cli)
	go room.Serve(context.Background(), srv, who)
	t.Cleanup(c.Close)
	if err := c.Join("sv"); err != nil {
		t.Fatal(err)
	}
	return c
}

func recExpect(t *testing.T, c *sfutest.Client, typ string, match func(sfu.Message) bool) sfu.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := c.Expect(ctx, typ, match)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// pumpOpus sends Opus silence every 20 ms until ctx ends.
func recPumpOpus(ctx context.Context, p *sfutest.Published) {
	tr := p.Tracks[""]
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	seq, ts := uint16(1), uint32(1)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		seq, ts = seq+1, ts+960
		_ = tr.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts}, Payload: []byte{0xF8, 0xFF, 0xFE, 1, 2, 3}})
	}
}

func recPublishMic(t *testing.T, c *sfutest.Client) *sfutest.Published {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pubs, err := c.Publish(ctx, sfutest.TrackSpec{ID: "mic", Kind: webrtc.RTPCodecTypeAudio, Source: sfu.SourceMicrophone})
	if err != nil {
		t.Fatal(err)
	}
	return pubs[0]
}

func recWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func recDo(t *testing.T, c *http.Client, method, u string, hdr ...string) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if method == http.MethodPost && len(hdr) > 0 && hdr[0] == "form" {
		body, hdr = strings.NewReader(hdr[1]), hdr[2:]
		hdr = append(hdr, "Content-Type", "application/x-www-form-urlencoded")
	} else if method == http.MethodPost || method == http.MethodDelete {
		body = strings.NewReader("{}")
		hdr = append(hdr, "Content-Type", "application/json")
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(b)
}
