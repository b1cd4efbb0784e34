package recorder

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/audit"
	"github.com/motesvakt/motesvakt/backend/recording"
	"github.com/motesvakt/motesvakt/sfu"
)

// Schema holds the recorder's tables. Portable SQL; times are Unix
// milliseconds UTC; meeting and recording ids reference other packages'
// tables by value only.
//
// recorder_tracks is the timing metadata of one recording file: which track
// of which participant it holds and when its first packet arrived (wall
// clock and RTP timestamp), so several tracks can be aligned.
//
// recorder_incidents is the review queue: one row per meeting that had an
// incident. closed is when the host ended the incident; review_closed when
// an admin finished the review.
const Schema = `
CREATE TABLE IF NOT EXISTS recorder_tracks (
	recording_id   TEXT PRIMARY KEY,
	meeting_id     TEXT NOT NULL,
	run_id         TEXT NOT NULL,
	track_id       TEXT NOT NULL,
	participant_id TEXT NOT NULL,
	source         TEXT NOT NULL,
	kind           TEXT NOT NULL,
	format         TEXT NOT NULL,
	clock_rate     INTEGER NOT NULL,
	started        INTEGER NOT NULL,
	first_packet   INTEGER NOT NULL DEFAULT 0,
	first_rtp_ts   INTEGER NOT NULL DEFAULT 0,
	stopped        INTEGER NOT NULL DEFAULT 0,
	packets        INTEGER NOT NULL DEFAULT 0,
	dropped        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS recorder_tracks_meeting ON recorder_tracks (meeting_id, started);
CREATE TABLE IF NOT EXISTS recorder_incidents (
	meeting_id       TEXT PRIMARY KEY,
	opened           INTEGER NOT NULL,
	opened_by        TEXT NOT NULL,
	returned         INTEGER NOT NULL DEFAULT 0,
	held             INTEGER NOT NULL DEFAULT 0,
	closed           INTEGER NOT NULL DEFAULT 0,
	closed_by        TEXT NOT NULL DEFAULT '',
	review_closed    INTEGER NOT NULL DEFAULT 0,
	review_closed_by TEXT NOT NULL DEFAULT ''
);
`

// Actor is who asks the recorder to act, with the rights the caller has
// established for this meeting (the SFU role, or the HTTP session).
type Actor struct {
	Audit audit.Actor
	Host  bool // host or cohost of this meeting
	Admin bool
	IP    string
}

// Meetings finds a meeting's profile and flags. *sqlite.DB implements it.
type Meetings interface {
	Meeting(ctx context.Context, id backend.MeetingID) (*backend.Meeting, error)
}

// Rooms finds a meeting's live room. *sfu.SFU implements it.
type Rooms interface {
	Lookup(id sfu.RoomID) *sfu.Room
}

// Config wires a Manager.
type Config struct {
	DB       *sql.DB // audit_log, recordings, recorder_* and meetings tables
	Meetings Meetings
	Store    *recording.Store
	Keys     recording.KeyProvider // checked at Start when no track is published yet
	Rooms    Rooms
	// Now is the clock; default time.Now.
	Now func() time.Time
	Log *slog.Logger
	// Retention maps a profile to days; default recording.DefaultRetentionDays.
	Retention map[string]int
	// QueueLen bounds each track's packet queue. Default 1024 packets: about
	// 20 s of audio or 3 s of 720p video of slack for a slow disk.
	QueueLen int
	// SyncEvery flushes written chunks to stable storage. Default 2 s.
	SyncEvery time.Duration
	// ActorOf names an SFU participant in the audit log; default
	// "participant:<id>". The integrator passes the rooms manager's mapping.
	ActorOf func(sfu.Identity) audit.Actor
}

// Manager runs recordings and incidents for every room of one SFU.
type Manager struct {
	cfg Config

	mu       sync.Mutex
	runs     map[backend.MeetingID]*run
	starting map[backend.MeetingID]bool
}

// New checks cfg and fills in defaults.
func New(cfg Config) (*Manager, error) {
	if cfg.DB == nil || cfg.Store == nil || cfg.Keys == nil || cfg.Meetings == nil {
		return nil, errors.New("recorder: DB, Store, Keys and Meetings are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Retention == nil {
		cfg.Retention = recording.DefaultRetentionDays
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = 1024
	}
	if cfg.SyncEvery <= 0 {
		cfg.SyncEvery = 2 * time.Second
	}
	if cfg.ActorOf == nil {
		cfg.ActorOf = func(id sfu.Identity) audit.Actor { return audit.Actor("participant:" + string(id.ID)) }
	}
	return &Manager{cfg: cfg, runs: map[backend.MeetingID]*run{}, starting: map[backend.MeetingID]bool{}}, nil
}

// SetRooms connects the manager to the SFU. The SFU is built with the
// manager's hooks (WrapHooks), so the two are wired in this order: New,
// sfu.New(…, WrapHooks(inner, m), …), SetRooms. Call it before serving.
func (m *Manager) SetRooms(r Rooms) { m.cfg.Rooms = r }

func (m *Manager) now() time.Time { return m.cfg.Now().UTC().Truncate(time.Millisecond) }

// ParticipantActor describes an SFU participant as an Actor.
func (m *Manager) ParticipantActor(id sfu.Identity) Actor {
	return Actor{Audit: m.cfg.ActorOf(id), Host: id.Role.IsHost()}
}

func (m *Manager) room(id backend.MeetingID) *sfu.Room {
	if m.cfg.Rooms == nil {
		return nil
	}
	return m.cfg.Rooms.Lookup(sfu.RoomID(id))
}

// Recording reports whether meeting is being recorded by this manager.
func (m *Manager) Recording(meeting backend.MeetingID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.runs[meeting] != nil
}

// Stats is what a run has written so far, per track.
type Stats struct {
	Recording recording.ID
	Track     sfu.TrackID
	Kind      string
	Packets   int64
	Dropped   int64
	Err       error
}

// Stats returns the live counters of meeting's current run (tests, metrics).
func (m *Manager) Stats(meeting backend.MeetingID) []Stats {
	m.mu.Lock()
	r := m.runs[meeting]
	m.mu.Unlock()
	if r == nil {
		return nil
	}
	return r.stats()
}

func newRunID() string { return "run_" + strings.ToLower(rand.Text()[:16]) }

// Start begins recording meeting's live room. It refuses (RefusalError) when
// by is not a host, the profile does not allow recording, an incident is
// open, the room is already recorded, or the key provider cannot wrap a key
// — in which case nothing at all is written. The recordings rows, their
// timing rows and the recording.started audit entry commit together; only
// then is the sink attached.
func (m *Manager) Start(ctx context.Context, meeting backend.MeetingID, by Actor) error {
	if !by.Host {
		return refuse(recording.ErrNotHost)
	}
	mt, err := m.cfg.Meetings.Meeting(ctx, meeting)
	if err != nil {
		return fmt.Errorf("recorder: meeting %s: %w", meeting, err)
	}
	if mt.Profile == "protected" || mt.Settings.Recording != "host_may_start" {
		return refuse(recording.ErrNotAllowed)
	}
	if mt.Incident {
		return refuse(ErrIncidentOpen)
	}
	room := m.room(meeting)
	if room == nil {
		return refuse(ErrNoRoom)
	}
	if !room.Options().RecordingAllowed {
		return refuse(recording.ErrNotAllowed)
	}

	m.mu.Lock()
	if m.runs[meeting] != nil || m.starting[meeting] {
		m.mu.Unlock()
		return refuse(recording.ErrAlreadyRecording)
	}
	m.starting[meeting] = true
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.starting, meeting)
		m.mu.Unlock()
	}()

	now := m.now()
	days := mt.Settings.RetentionDays // the admin-tuned profile cell wins
	if days <= 0 {
		days = m.cfg.Retention[string(mt.Profile)]
	}
	r := newRun(m, meeting, newRunID(), recording.DeleteAfter(now, days))
	tracks := room.Snapshot().Tracks
	if err := m.inTx(ctx, func(tx *sql.Tx) error {
		if len(tracks) == 0 {
			// No file to create yet, but the promise is the same: do not
			// say "recording" unless a key can be wrapped right now.
			if err := m.cfg.Keys.Check(ctx); err != nil {
				return fmt.Errorf("%w: %w", recording.ErrProviderUnavailable, err)
			}
		}
		for _, info := range tracks {
			if _, err := r.createTrack(ctx, tx, info, now); err != nil {
				return err
			}
		}
		_, err := audit.Append(ctx, tx, audit.Entry{
			Time: now, Actor: by.Audit, ActorIP: by.IP, Action: audit.RecordingStarted, MeetingID: string(meeting),
			Outcome: audit.Success, Details: map[string]string{
				"run": r.id, "tracks": fmt.Sprint(len(tracks)), "profile": string(mt.Profile),
				"delete_after": r.deleteAfter.Format(time.RFC3339),
			},
		})
		return err
	}); err != nil {
		// Rows rolled back: the files have no wrapped key anywhere and are
		// unreadable noise; close and remove them anyway.
		r.abandon()
		m.auditRefusal(ctx, meeting, by, err)
		return refuse(err)
	}
	r.begin()
	m.mu.Lock()
	m.runs[meeting] = r
	m.mu.Unlock()
	room.SetSink(r)
	m.cfg.Log.Info("recording started", "meeting", meeting, "run", r.id, "tracks", len(tracks))
	return nil
}

// auditRefusal records a refused start (best effort: the refusal stands
// whether or not the log is writable).
func (m *Manager) auditRefusal(ctx context.Context, meeting backend.MeetingID, by Actor, cause error) {
	key := recording.RefusalKey(cause)
	if key == "" {
		key = "incident.refused.failed"
	}
	err := m.inTx(ctx, func(tx *sql.Tx) error {
		_, err := audit.Append(ctx, tx, audit.Entry{Time: m.now(), Actor: by.Audit, ActorIP: by.IP, Action: audit.RecordingStarted,
			MeetingID: string(meeting), Outcome: audit.Failure, Details: map[string]string{"reason": key}})
		return err
	})
	if err != nil {
		m.cfg.Log.Warn("recorder: audit refused start", "meeting", meeting, "err", err)
	}
}

// Stop ends meeting's recording: the sink is detached, every queue drained
// and every file finished, and recording.stopped is audited with who.
func (m *Manager) Stop(ctx context.Context, meeting backend.MeetingID, by Actor) error {
	if !by.Host {
		return refuse(recording.ErrNotHost)
	}
	r := m.takeRun(meeting)
	if r == nil {
		return refuse(ErrNotRecording)
	}
	return m.inTx(ctx, func(tx *sql.Tx) error {
		_, err := m.finishRun(ctx, tx, r, by, "host", m.now())
		return err
	})
}

// takeRun detaches meeting's run from its room and stops its writers. After
// it returns no packet reaches the files.
func (m *Manager) takeRun(meeting backend.MeetingID) *run {
	m.mu.Lock()
	r := m.runs[meeting]
	delete(m.runs, meeting)
	m.mu.Unlock()
	if r == nil {
		return nil
	}
	if room := m.room(meeting); room != nil {
		room.SetSink(nil)
	}
	r.halt()
	return r
}

// finishRun finishes every file of a halted run in tx and audits the stop.
func (m *Manager) finishRun(ctx context.Context, tx *sql.Tx, r *run, by Actor, reason string, now time.Time) ([]recording.ID, error) {
	var ids []recording.ID
	failed := 0
	var dropped int64
	for _, t := range r.all() {
		dropped += t.dropped.Load()
		if t.w == nil {
			continue
		}
		if _, err := m.cfg.Store.Finish(ctx, tx, t.w, now); err != nil {
			if recording.RefusalKey(err) == "" && t.w.Err() == nil {
				return ids, fmt.Errorf("recorder: finish %s: %w", t.w.ID(), err)
			}
			failed++ // the file is gone and the row marked failed
		} else {
			ids = append(ids, t.w.ID())
		}
		first := int64(0)
		if !t.firstAt.IsZero() {
			first = t.firstAt.UnixMilli()
		}
		if _, err := tx.ExecContext(ctx, `UPDATE recorder_tracks SET stopped = ?, packets = ?, dropped = ?, first_packet = ?, first_rtp_ts = ?
			WHERE recording_id = ?`, now.UnixMilli(), t.packets, t.dropped.Load(), first, int64(t.firstTS), string(t.w.ID())); err != nil {
			return ids, fmt.Errorf("recorder: track %s: %w", t.w.ID(), err)
		}
	}
	_, err := audit.Append(ctx, tx, audit.Entry{
		Time: now, Actor: by.Audit, ActorIP: by.IP, Action: audit.RecordingStopped, MeetingID: string(r.meeting),
		Outcome: audit.Success, Details: map[string]string{
			"run": r.id, "reason": reason, "files": fmt.Sprint(len(ids)), "failed": fmt.Sprint(failed),
			"dropped_packets": fmt.Sprint(dropped),
		},
	})
	return ids, err
}

// failRun ends a run whose storage failed (disk full): the room is told
// recording stopped, and what is left is finished and audited as the
// system's doing.
func (m *Manager) failRun(r *run, cause error) {
	m.mu.Lock()
	current := m.runs[r.meeting] == r
	m.mu.Unlock()
	if !current {
		return
	}
	r = m.takeRun(r.meeting)
	if r == nil {
		return
	}
	reason := "failed"
	if errors.Is(cause, recording.ErrDiskFull) {
		reason = "disk_full"
	}
	if room := m.room(r.meeting); room != nil {
		room.StopRecording(reason)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := m.inTx(ctx, func(tx *sql.Tx) error {
		_, err := m.finishRun(ctx, tx, r, Actor{Audit: audit.System}, reason, m.now())
		return err
	})
	m.cfg.Log.Error("recording stopped after a storage failure", "meeting", r.meeting, "cause", cause, "finish_err", err)
}

func (m *Manager) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := m.cfg.DB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("recorder: begin: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("recorder: commit: %w", err)
	}
	return nil
}

// Close finishes every run (server shutdown), audited as the system.
func (m *Manager) Close(ctx context.Context) error {
	m.mu.Lock()
	var ids []backend.MeetingID
	for id := range m.runs {
		ids = append(ids, id)
	}
	m.mu.Unlock()
	var errs []error
	for _, id := range ids {
		r := m.takeRun(id)
		if r == nil {
			continue
		}
		if room := m.room(id); room != nil {
			room.StopRecording("shutdown")
		}
		errs = append(errs, m.inTx(ctx, func(tx *sql.Tx) error {
			_, err := m.finishRun(ctx, tx, r, Actor{Audit: audit.System}, "shutdown", m.now())
			return err
		}))
	}
	return errors.Join(errs...)
}

// ParticipantRole returns the live role of participant pid in meeting's
// room (cohosts exist only in the room, not in the meetings table).
func (m *Manager) ParticipantRole(meeting backend.MeetingID, pid sfu.ParticipantID) (sfu.Role, bool) {
	room := m.room(meeting)
	if room == nil {
		return "", false
	}
	for _, p := range room.Snapshot().Participants {
		if p.ID == pid {
			return p.Role, true
		}
	}
	return "", false
}
