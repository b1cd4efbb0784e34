package recorder_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/audit"
	"github.com/motesvakt/motesvakt/backend/recorder"
	"github.com/motesvakt/motesvakt/backend/recording"
	"github.com/motesvakt/motesvakt/backend/rooms"
	"github.com/motesvakt/motesvakt/backend/sqlite"
	"github.com/motesvakt/motesvakt/classifiers"
	"github.com/motesvakt/motesvakt/sfu"
	"github.com/motesvakt/motesvakt/sfu/sfutest"
)

// plainMarker is in every media payload the tests send: it must never be
// found in a file on disk, and must be found after decryption.
var plainMarker = []byte("PLAINTEXT-MARKER-0123456789")

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is a real stack: SQLite file with every table, local KEK file,
// encrypted store, a loopback SFU whose hooks go through the recorder.
type env struct {
	t     testing.TB
	db    *sqlite.DB
	store *recording.Store
	keys  recording.KeyProvider
	rec   *recorder.Manager
	sfu   *sfu.SFU
	clock *clock
	dir   string
}

type envOpt struct {
	keys      recording.KeyProvider // default: local key file
	queueLen  int
	noSFU     bool
	roomHooks bool // use the backend's rooms hooks as the inner hooks
}

func newEnv(t testing.TB, o envOpt) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "motesvakt.db"),
		sqlite.Migration{Name: "0100_audit", SQL: audit.Schema},
		sqlite.Migration{Name: "0101_recordings", SQL: recording.Schema},
		sqlite.Migration{Name: "0102_recorder", SQL: recorder.Schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{t: t, db: db, dir: dir, clock: &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}}
	db.Now = e.clock.Now
	keys := o.keys
	if keys == nil {
		lk, err := recording.OpenLocalKeyFile(filepath.Join(dir, "keys", "kek"))
		if err != nil {
			t.Fatal(err)
		}
		keys = lk
	}
	e.keys = keys
	if e.store, err = recording.NewStore(db.SQL(), filepath.Join(dir, "recordings"), keys); err != nil {
		t.Fatal(err)
	}
	e.rec, err = recorder.New(recorder.Config{
		DB: db.SQL(), Meetings: db, Store: e.store, Keys: keys, Now: e.clock.Now, QueueLen: o.queueLen,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !o.noSFU {
		var inner sfu.Hooks = sfu.NopHooks{}
		if o.roomHooks {
			inner = (&rooms.Manager{DB: db, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Hooks()
		}
		s, err := sfu.New(sfu.Config{ListenIP: "127.0.0.1", IncludeLoopback: true, AnswerTimeout: 5 * time.Second, PLIThrottle: 100 * time.Millisecond},
			recorder.WrapHooks(inner, e.rec), slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		e.sfu = s
		e.rec.SetRooms(s)
	}
	return e
}

// meeting stores a meeting with profile's default settings and returns its
// live room.
func (e *env) meeting(id string, p classifiers.Profile) (*backend.Meeting, *sfu.Room) {
	e.t.Helper()
	m := &backend.Meeting{
		ID: backend.MeetingID(id), Title: "Planeringsmöte " + id, Profile: p, Suggested: p,
		Settings: classifiers.DefaultProfiles()[p], HostUserID: "host-user", HostEmail: "host@example.se",
		Start: e.clock.Now(), End: e.clock.Now().Add(time.Hour),
		EventRef: backend.EventRef{Provider: backend.ProviderManual, ID: id},
	}
	if err := e.db.InTx(context.Background(), func(tx *sqlite.Tx) error { return tx.SaveMeeting(context.Background(), m) }); err != nil {
		e.t.Fatal(err)
	}
	if e.sfu == nil {
		return m, nil
	}
	return m, e.sfu.Room(sfu.RoomID(id), rooms.OptionsFor(m))
}

// client is a test participant (sfutest.Session).
type client = sfutest.Session

func connect(t testing.TB, room *sfu.Room, who sfu.Identity) *client {
	t.Helper()
	return sfutest.Connect(t, room, who)
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func expect(t testing.TB, c *client, typ string, match func(sfu.Message) bool) sfu.Message {
	t.Helper()
	return sfutest.MustExpect(t, c.Client, 10*time.Second, typ, match)
}

func ident(id string, role sfu.Role, level sfu.IdentityLevel, internal bool) sfu.Identity {
	return sfu.Identity{ID: sfu.ParticipantID(id), DisplayName: id, Role: role, Level: level, Internal: internal, Invited: true}
}

func hostID(id string) sfu.Identity { return ident(id, sfu.RoleHost, sfu.LevelInternalMFA, true) }

// opusSilence is a real Opus packet (CELT FB 20 ms, code 0): a TOC byte the
// Ogg writer can count samples from.
var opusSilence = []byte{0xF8, 0xFF, 0xFE}

// pumpStats counts what a pump sent per RID.
type pumpStats struct{ sent sync.Map }

func (s *pumpStats) n(rid string) int64 {
	v, ok := s.sent.Load(rid)
	if !ok {
		return 0
	}
	return v.(*atomic.Int64).Load()
}

// pump sends media on every RID of p until ctx ends: Opus silence, or VP8
// frames of one packet each with a keyframe every 10 frames. Each payload
// carries plainMarker and the RID's marker byte so layers can be told apart.
func pump(ctx context.Context, p *sfutest.Published, every time.Duration, st *pumpStats) {
	var wg sync.WaitGroup
	for rid, tr := range p.Tracks {
		wg.Add(1)
		go func(rid string, tr *webrtc.TrackLocalStaticRTP) {
			defer wg.Done()
			cnt := &atomic.Int64{}
			if st != nil {
				st.sent.Store(rid, cnt)
			}
			tick := time.NewTicker(every)
			defer tick.Stop()
			seq, ts := uint16(100), uint32(9000)
			for i := 0; ; i++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				seq++
				body := append([]byte{ridMarker(rid)}, plainMarker...)
				body = binary.BigEndian.AppendUint32(body, uint32(i))
				pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts, Marker: true}}
				if p.Spec.Kind == webrtc.RTPCodecTypeVideo {
					ts += 3000
					pkt.Payload = sfutest.VP8Payload(uint16(i), i%10 == 0, body)
				} else {
					ts += 960
					pkt.Payload = append(bytes.Clone(opusSilence), body...)
				}
				if mid, ridID, _ := p.ExtIDs(); rid != "" && mid != 0 && ridID != 0 {
					_ = pkt.Header.SetExtension(mid, []byte(p.Transceiver.Mid()))
					_ = pkt.Header.SetExtension(ridID, []byte(rid))
				}
				if tr.WriteRTP(pkt) == nil {
					cnt.Add(1)
				}
			}
		}(rid, tr)
	}
	wg.Wait()
}

func ridMarker(rid string) byte {
	if rid == "" {
		return 'x'
	}
	return rid[0]
}

func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func auditActions(t testing.TB, db *sql.DB, meeting string) []audit.Record {
	t.Helper()
	recs, err := audit.List(context.Background(), db, audit.Filter{MeetingID: meeting, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func findAudit(recs []audit.Record, a audit.Action, o audit.Outcome) *audit.Record {
	for i := range recs {
		if recs[i].Action == a && recs[i].Outcome == o {
			return &recs[i]
		}
	}
	return nil
}

// closedPort returns a loopback address nothing listens on (a Vault that is down).
func closedPort(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func meetingID(s string) backend.MeetingID { return backend.MeetingID(s) }

// createDirect stores a finished recording of meeting "direct" straight
// through the store, due at deleteAfter.
func createDirect(e *env, id string, deleteAfter time.Time) (recording.ID, error) {
	ctx := context.Background()
	var rid recording.ID
	err := e.db.InTx(ctx, func(tx *sqlite.Tx) error {
		w, err := e.store.Create(ctx, tx.Tx, recording.Meta{ID: recording.ID(id), MeetingID: "direct", Track: id, Kind: recording.KindAudio, DeleteAfter: deleteAfter}, e.clock.Now())
		if err != nil {
			return err
		}
		w.Write(plainMarker)
		rid = w.ID()
		_, err = e.store.Finish(ctx, tx.Tx, w, e.clock.Now())
		return err
	})
	return rid, err
}

// record sends the host's record command and waits for the room to confirm.
func record(t testing.TB, c *client, on bool) {
	t.Helper()
	if err := c.Send(sfu.Message{Type: sfu.TypeRecord, On: &on}); err != nil {
		t.Fatal(err)
	}
	expect(t, c, sfu.TypeRecordingState, func(m sfu.Message) bool { return m.Recording != nil && *m.Recording == on })
}
