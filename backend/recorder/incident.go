package recorder

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/audit"
	"github.com/motesvakt/motesvakt/backend/recording"
	"github.com/motesvakt/motesvakt/sfu"
)

// Audit actions the recorder adds (locale keys in locales/*/incident.yaml).
const (
	HoldReleased audit.Action = "recording.hold_released"
	ReviewClosed audit.Action = "incident.review_closed"
)

// ReasonIncident is the reason participants and the room see.
const ReasonIncident = "incident"

// NeedsReview is who the incident button sends back to the lobby: anyone
// external or not verified. Hosts are never moved (sfu.Room.ReturnToLobby).
func NeedsReview(id sfu.Identity) bool { return !id.Internal || !id.Level.Verified() }

// IncidentReport says what the incident button did.
type IncidentReport struct {
	RecordingStopped bool
	Finished         []recording.ID
	Held             int // recordings put under legal hold
	Returned         int // participants sent back to the lobby
}

// Incident is the incident button. In this order:
//  1. in the room, at once and whatever happens next: recording stops (sink
//     detached, queues drained), the room locks, external and unverified
//     participants go back to the lobby;
//  2. in one transaction: the partial recordings are finished, every
//     recording of the meeting goes under legal hold, the meeting is flagged
//     (incident = 1, locked = 1), a review item opens and incident.opened is
//     audited with what was done.
//
// Protective measures come first because they must not depend on the
// database: a host pressing the button during an outage still gets a locked
// room and a stopped recorder. Only hosts, cohosts and admins may press it.
func (m *Manager) Incident(ctx context.Context, meeting backend.MeetingID, by Actor) (*IncidentReport, error) {
	if !by.Host && !by.Admin {
		return nil, refuse(ErrForbidden)
	}
	if _, err := m.cfg.Meetings.Meeting(ctx, meeting); err != nil {
		return nil, fmt.Errorf("recorder: incident: meeting %s: %w", meeting, err)
	}
	rep := &IncidentReport{}
	r := m.takeRun(meeting)
	if room := m.room(meeting); room != nil {
		if room.StopRecording(ReasonIncident) {
			rep.RecordingStopped = true
		}
		room.Lock(true)
		rep.Returned = room.ReturnToLobby(NeedsReview, ReasonIncident)
	}
	rep.RecordingStopped = rep.RecordingStopped || r != nil
	now := m.now()
	err := m.inTx(ctx, func(tx *sql.Tx) error {
		if r != nil {
			ids, err := m.finishRun(ctx, tx, r, by, ReasonIncident, now)
			if err != nil {
				return err
			}
			rep.Finished = ids
		}
		held, err := m.holdAll(ctx, tx, meeting, true)
		if err != nil {
			return err
		}
		rep.Held = held
		if _, err := tx.ExecContext(ctx, `UPDATE meetings SET incident = 1, locked = 1, updated_at = ? WHERE id = ?`,
			now.UnixMilli(), string(meeting)); err != nil {
			return fmt.Errorf("recorder: flag meeting %s: %w", meeting, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO recorder_incidents (meeting_id, opened, opened_by, returned, held)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (meeting_id) DO UPDATE SET opened = excluded.opened, opened_by = excluded.opened_by,
				returned = excluded.returned, held = excluded.held, closed = 0, closed_by = '', review_closed = 0, review_closed_by = ''`,
			string(meeting), now.UnixMilli(), string(by.Audit), rep.Returned, held); err != nil {
			return fmt.Errorf("recorder: incident %s: %w", meeting, err)
		}
		_, err = audit.Append(ctx, tx, audit.Entry{
			Time: now, Actor: by.Audit, ActorIP: by.IP, Action: audit.IncidentOpened, MeetingID: string(meeting), Outcome: audit.Success,
			Details: map[string]string{
				"recording_stopped": fmt.Sprint(rep.RecordingStopped), "returned_to_lobby": fmt.Sprint(rep.Returned),
				"legal_hold": fmt.Sprint(held), "locked": "true",
			},
		})
		return err
	})
	if err != nil {
		return rep, fmt.Errorf("recorder: incident %s: room secured but not recorded: %w", meeting, err)
	}
	m.cfg.Log.Warn("incident opened", "meeting", meeting, "returned", rep.Returned, "held", rep.Held)
	return rep, nil
}

// holdAll sets or clears legal hold on every readable recording of meeting.
func (m *Manager) holdAll(ctx context.Context, tx *sql.Tx, meeting backend.MeetingID, hold bool) (int, error) {
	was := 1
	if hold {
		was = 0
	}
	rows, err := tx.QueryContext(ctx, `SELECT id FROM recordings WHERE meeting_id = ? AND state <> ? AND legal_hold = ?`,
		string(meeting), string(recording.StateFailed), was)
	if err != nil {
		return 0, fmt.Errorf("recorder: legal hold %s: %w", meeting, err)
	}
	var ids []recording.ID
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, recording.ID(id))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, id := range ids {
		if err := m.cfg.Store.SetLegalHold(ctx, tx, id, hold); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

// EndIncident is the host (or an admin) ending the incident: the meeting's
// incident flag clears and incident.closed is audited. The room stays
// locked until a host unlocks it, the legal hold stays until an admin
// releases it, and the review item stays in the admin queue.
func (m *Manager) EndIncident(ctx context.Context, meeting backend.MeetingID, by Actor) error {
	if !by.Host && !by.Admin {
		return refuse(ErrForbidden)
	}
	now := m.now()
	return m.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE recorder_incidents SET closed = ?, closed_by = ? WHERE meeting_id = ? AND closed = 0`,
			now.UnixMilli(), string(by.Audit), string(meeting))
		if err != nil {
			return fmt.Errorf("recorder: end incident %s: %w", meeting, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return refuse(ErrNoIncident)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE meetings SET incident = 0, updated_at = ? WHERE id = ?`, now.UnixMilli(), string(meeting)); err != nil {
			return fmt.Errorf("recorder: end incident %s: %w", meeting, err)
		}
		_, err = audit.Append(ctx, tx, audit.Entry{Time: now, Actor: by.Audit, ActorIP: by.IP, Action: audit.IncidentClosed,
			MeetingID: string(meeting), Outcome: audit.Success})
		return err
	})
}

// ReviewItem is one meeting in the admin review queue.
type ReviewItem struct {
	MeetingID  backend.MeetingID
	Title      string
	Profile    string
	Opened     time.Time
	OpenedBy   string
	Returned   int
	Closed     time.Time // zero while the incident is open
	ClosedBy   string
	Recordings []*recording.Recording
	Trail      []audit.Record // incident, recording and room entries of the meeting
}

// trailActions are the audit entries shown with a review item.
var trailActions = map[audit.Action]bool{
	audit.IncidentOpened: true, audit.IncidentClosed: true, ReviewClosed: true,
	audit.RecordingStarted: true, audit.RecordingStopped: true, audit.RecordingAccessed: true,
	audit.RecordingDeleted: true, HoldReleased: true, audit.RoomLocked: true, audit.RoomUnlocked: true,
	audit.ParticipantRemoved: true, audit.LobbyAdmit: true, audit.LobbyDeny: true,
}

// ReviewQueue lists meetings flagged by an incident whose review an admin
// has not closed, newest first.
func (m *Manager) ReviewQueue(ctx context.Context) ([]ReviewItem, error) {
	rows, err := m.cfg.DB.QueryContext(ctx, `SELECT meeting_id, opened, opened_by, returned, closed, closed_by
		FROM recorder_incidents WHERE review_closed = 0 ORDER BY opened DESC, meeting_id`)
	if err != nil {
		return nil, fmt.Errorf("recorder: review queue: %w", err)
	}
	var items []ReviewItem
	for rows.Next() {
		var it ReviewItem
		var id string
		var opened, closed int64
		if err := rows.Scan(&id, &opened, &it.OpenedBy, &it.Returned, &closed, &it.ClosedBy); err != nil {
			rows.Close()
			return nil, fmt.Errorf("recorder: review queue: %w", err)
		}
		it.MeetingID, it.Opened = backend.MeetingID(id), time.UnixMilli(opened).UTC()
		if closed != 0 {
			it.Closed = time.UnixMilli(closed).UTC()
		}
		items = append(items, it)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range items {
		it := &items[i]
		if mt, err := m.cfg.Meetings.Meeting(ctx, it.MeetingID); err == nil {
			it.Title, it.Profile = mt.Title, string(mt.Profile)
		}
		if it.Recordings, err = m.cfg.Store.ListMeeting(ctx, recording.MeetingID(it.MeetingID)); err != nil {
			return nil, err
		}
		recs, err := audit.List(ctx, m.cfg.DB, audit.Filter{MeetingID: string(it.MeetingID), Limit: 1000})
		if err != nil {
			return nil, fmt.Errorf("recorder: review trail %s: %w", it.MeetingID, err)
		}
		for _, rec := range recs {
			if trailActions[rec.Action] {
				it.Trail = append(it.Trail, rec)
			}
		}
	}
	return items, nil
}

// CloseReview takes a meeting off the review queue (admins only). The legal
// hold stays: releasing it is a separate, audited decision per recording.
func (m *Manager) CloseReview(ctx context.Context, meeting backend.MeetingID, by Actor) error {
	if !by.Admin {
		return refuse(ErrForbidden)
	}
	now := m.now()
	return m.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE recorder_incidents SET review_closed = ?, review_closed_by = ? WHERE meeting_id = ? AND review_closed = 0`,
			now.UnixMilli(), string(by.Audit), string(meeting))
		if err != nil {
			return fmt.Errorf("recorder: close review %s: %w", meeting, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return refuse(ErrNoIncident)
		}
		_, err = audit.Append(ctx, tx, audit.Entry{Time: now, Actor: by.Audit, ActorIP: by.IP, Action: ReviewClosed,
			MeetingID: string(meeting), Outcome: audit.Success})
		return err
	})
}

// ReleaseHold lifts the legal hold of one recording (admins only); from then
// on retention applies to it again.
func (m *Manager) ReleaseHold(ctx context.Context, id recording.ID, by Actor) error {
	if !by.Admin {
		return refuse(ErrForbidden)
	}
	rec, err := m.cfg.Store.Get(ctx, id)
	if err != nil {
		return err
	}
	now := m.now()
	return m.inTx(ctx, func(tx *sql.Tx) error {
		if err := m.cfg.Store.SetLegalHold(ctx, tx, id, false); err != nil {
			return err
		}
		_, err := audit.Append(ctx, tx, audit.Entry{Time: now, Actor: by.Audit, ActorIP: by.IP, Action: HoldReleased,
			MeetingID: string(rec.MeetingID), Subject: "recording:" + string(id), Outcome: audit.Success,
			Details: map[string]string{"delete_after": rec.DeleteAfter.Format(time.RFC3339)}})
		return err
	})
}

// AuditAccess records that by is about to read recording rec (playback,
// download, range request). The caller has authorized by; if the entry
// cannot be written the caller must not serve the recording.
func (m *Manager) AuditAccess(ctx context.Context, rec *recording.Recording, by Actor, how string) error {
	return m.inTx(ctx, func(tx *sql.Tx) error {
		_, err := audit.Append(ctx, tx, audit.Entry{Time: m.now(), Actor: by.Audit, ActorIP: by.IP, Action: audit.RecordingAccessed,
			MeetingID: string(rec.MeetingID), Subject: "recording:" + string(rec.ID), Outcome: audit.Success,
			Details: map[string]string{"how": how}})
		return err
	})
}

// Track is a recording's timing metadata.
type Track struct {
	Recording   recording.ID
	Run         string
	Track       sfu.TrackID
	Participant sfu.ParticipantID
	Source      sfu.Source
	Kind        string
	Format      string
	ClockRate   int
	Started     time.Time
	FirstPacket time.Time
	FirstRTPTS  uint32
	Stopped     time.Time
	Packets     int64
	Dropped     int64
}

// TrackOf returns the timing metadata of one recording.
func (m *Manager) TrackOf(ctx context.Context, id recording.ID) (*Track, error) {
	var t Track
	var rid, run, track, part, src string
	var started, first, firstTS, stopped int64
	err := m.cfg.DB.QueryRowContext(ctx, `SELECT recording_id, run_id, track_id, participant_id, source, kind, format, clock_rate,
		started, first_packet, first_rtp_ts, stopped, packets, dropped FROM recorder_tracks WHERE recording_id = ?`, string(id)).
		Scan(&rid, &run, &track, &part, &src, &t.Kind, &t.Format, &t.ClockRate, &started, &first, &firstTS, &stopped, &t.Packets, &t.Dropped)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("recorder: track of %s: %w", id, recording.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("recorder: track of %s: %w", id, err)
	}
	t.Recording, t.Run, t.Track, t.Participant, t.Source = recording.ID(rid), run, sfu.TrackID(track), sfu.ParticipantID(part), sfu.Source(src)
	t.Started, t.FirstRTPTS = time.UnixMilli(started).UTC(), uint32(firstTS)
	if first != 0 {
		t.FirstPacket = time.UnixMilli(first).UTC()
	}
	if stopped != 0 {
		t.Stopped = time.UnixMilli(stopped).UTC()
	}
	return &t, nil
}
