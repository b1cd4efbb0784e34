package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/motesvakt/motesvakt/backend"
)

const meetingColumns = `id, provider, event_id, ical_uid, title, profile, suggested, override_reason, settings, categories,
	external_domains, host_user_id, host_email, start_at, end_at, recurrence, rules_version, locked, incident, created_at, updated_at, invitee_changes`

type rowScanner interface{ Scan(...any) error }

func scanMeeting(r rowScanner) (*backend.Meeting, error) {
	var (
		m                            backend.Meeting
		settings, cats, exts         string
		start, end, created, updated int64
	)
	err := r.Scan(&m.ID, &m.EventRef.Provider, &m.EventRef.ID, &m.EventRef.ICalUID, &m.Title, &m.Profile, &m.Suggested, &m.OverrideReason,
		&settings, &cats, &exts, &m.HostUserID, &m.HostEmail, &start, &end, &m.Recurrence, &m.RulesVersion, &m.Locked, &m.Incident, &created, &updated, &m.InviteeChanges)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(settings), &m.Settings); err != nil {
		return nil, fmt.Errorf("meeting %s: settings: %w", m.ID, err)
	}
	json.Unmarshal([]byte(cats), &m.Categories)
	json.Unmarshal([]byte(exts), &m.ExternalDomains)
	m.Start, m.End, m.Created, m.Updated = fromMS(start), fromMS(end), fromMS(created), fromMS(updated)
	return &m, nil
}

func queryer(tx *Tx, d *DB) interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
} {
	if tx != nil {
		return tx.Tx
	}
	return d.db
}

// Meeting returns a meeting with its guests.
func (d *DB) Meeting(ctx context.Context, id backend.MeetingID) (*backend.Meeting, error) {
	return d.meeting(ctx, nil, `id = ?`, string(id))
}

// Meeting reads a meeting inside tx.
func (tx *Tx) Meeting(ctx context.Context, id backend.MeetingID) (*backend.Meeting, error) {
	return tx.db.meeting(ctx, tx, `id = ?`, string(id))
}

// MeetingByEventKey finds the meeting provisioned for a calendar event.
func (tx *Tx) MeetingByEventKey(ctx context.Context, key string) (*backend.Meeting, error) {
	return tx.db.meeting(ctx, tx, `event_key = ?`, key)
}

// MeetingByEventKey finds the meeting provisioned for a calendar event.
func (d *DB) MeetingByEventKey(ctx context.Context, key string) (*backend.Meeting, error) {
	return d.meeting(ctx, nil, `event_key = ?`, key)
}

func (d *DB) meeting(ctx context.Context, tx *Tx, where string, arg any) (*backend.Meeting, error) {
	q := queryer(tx, d)
	m, err := scanMeeting(q.QueryRowContext(ctx, `SELECT `+meetingColumns+` FROM meetings WHERE `+where, arg))
	if err != nil {
		return nil, notFound(err, "meeting.not_found")
	}
	rows, err := q.QueryContext(ctx, `SELECT id, email, name, internal, status, delivery_id, code_issued_at FROM meeting_guests WHERE meeting_id = ? ORDER BY created_at, email`, string(m.ID))
	if err != nil {
		return nil, fmt.Errorf("meeting guests: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var g backend.Guest
		var issued int64
		if err := rows.Scan(&g.ID, &g.Email, &g.Name, &g.Internal, &g.Status, &g.DeliveryID, &issued); err != nil {
			return nil, err
		}
		g.CodeIssuedAt = fromMS(issued)
		m.Guests = append(m.Guests, g)
	}
	return m, rows.Err()
}

// MeetingsByHost lists a host's meetings, newest first.
func (d *DB) MeetingsByHost(ctx context.Context, host backend.UserID, limit int) ([]*backend.Meeting, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT `+meetingColumns+` FROM meetings WHERE host_user_id = ? ORDER BY start_at DESC LIMIT ?`, string(host), limit)
	if err != nil {
		return nil, fmt.Errorf("meetings by host: %w", err)
	}
	defer rows.Close()
	var out []*backend.Meeting
	for rows.Next() {
		m, err := scanMeeting(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// SaveMeeting inserts or updates the meeting row (not its guests).
func (tx *Tx) SaveMeeting(ctx context.Context, m *backend.Meeting) error {
	settings, err := json.Marshal(m.Settings)
	if err != nil {
		return err
	}
	cats, _ := json.Marshal(nonNil(m.Categories))
	exts, _ := json.Marshal(nonNilS(m.ExternalDomains))
	if m.Created.IsZero() {
		m.Created = tx.Now
	}
	m.Updated = tx.Now
	_, err = tx.ExecContext(ctx, `INSERT INTO meetings (id, event_key, provider, event_id, ical_uid, title, profile, suggested, override_reason, settings, categories,
		external_domains, host_user_id, host_email, start_at, end_at, recurrence, rules_version, locked, incident, created_at, updated_at, invitee_changes)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET title = excluded.title, profile = excluded.profile, suggested = excluded.suggested,
		override_reason = excluded.override_reason, settings = excluded.settings, categories = excluded.categories,
		external_domains = excluded.external_domains, start_at = excluded.start_at, end_at = excluded.end_at,
		recurrence = excluded.recurrence, rules_version = excluded.rules_version, locked = excluded.locked,
		incident = excluded.incident, event_id = excluded.event_id, updated_at = excluded.updated_at,
		invitee_changes = excluded.invitee_changes`,
		string(m.ID), m.EventRef.Key(), string(m.EventRef.Provider), m.EventRef.ID, m.EventRef.ICalUID, m.Title, string(m.Profile), string(m.Suggested),
		m.OverrideReason, string(settings), string(cats), string(exts), string(m.HostUserID), m.HostEmail, ms(m.Start), ms(m.End), m.Recurrence,
		m.RulesVersion, m.Locked, m.Incident, ms(m.Created), ms(m.Updated), m.InviteeChanges)
	if err != nil {
		return fmt.Errorf("save meeting %s: %w", m.ID, err)
	}
	return nil
}

// SaveGuest inserts or updates one guest row.
func (tx *Tx) SaveGuest(ctx context.Context, id backend.MeetingID, g *backend.Guest) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO meeting_guests (meeting_id, id, email, name, internal, status, delivery_id, code_issued_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (meeting_id, id) DO UPDATE SET name = excluded.name, internal = excluded.internal, status = excluded.status,
		delivery_id = excluded.delivery_id, code_issued_at = excluded.code_issued_at, updated_at = excluded.updated_at`,
		string(id), string(g.ID), g.Email, g.Name, g.Internal, g.Status, g.DeliveryID, ms(g.CodeIssuedAt), ms(tx.Now), ms(tx.Now))
	if err != nil {
		return fmt.Errorf("save guest: %w", err)
	}
	return nil
}

// SetMeetingFlags updates the live-room flags.
func (tx *Tx) SetMeetingFlags(ctx context.Context, id backend.MeetingID, locked, incident bool) error {
	_, err := tx.ExecContext(ctx, `UPDATE meetings SET locked = ?, incident = ?, updated_at = ? WHERE id = ?`, locked, incident, ms(tx.Now), string(id))
	return err
}

// Occurrence returns one occurrence of a meeting.
func (tx *Tx) Occurrence(ctx context.Context, id backend.MeetingID, key string) (*backend.Occurrence, error) {
	var o backend.Occurrence
	var start, end, created int64
	err := tx.QueryRowContext(ctx, `SELECT key, start_at, end_at, link_epoch, created_at FROM meeting_occurrences WHERE meeting_id = ? AND key = ?`,
		string(id), key).Scan(&o.Key, &start, &end, &o.LinkEpoch, &created)
	if err != nil {
		return nil, notFound(err, "meeting.not_found")
	}
	o.Start, o.End, o.Created = fromMS(start), fromMS(end), fromMS(created)
	return &o, nil
}

// SaveOccurrence inserts or updates an occurrence (a moved occurrence keeps
// its key and takes the new times).
func (tx *Tx) SaveOccurrence(ctx context.Context, id backend.MeetingID, o *backend.Occurrence) error {
	if o.Created.IsZero() {
		o.Created = tx.Now
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO meeting_occurrences (meeting_id, key, start_at, end_at, link_epoch, created_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (meeting_id, key) DO UPDATE SET start_at = excluded.start_at, end_at = excluded.end_at, link_epoch = excluded.link_epoch`,
		string(id), o.Key, ms(o.Start), ms(o.End), o.LinkEpoch, ms(o.Created))
	if err != nil {
		return fmt.Errorf("meeting %s: save occurrence: %w", id, err)
	}
	return nil
}

// OccurrencesEndingAfter lists a meeting's occurrences that end after t,
// earliest first.
func (tx *Tx) OccurrencesEndingAfter(ctx context.Context, id backend.MeetingID, t time.Time) ([]backend.Occurrence, error) {
	return tx.db.occurrences(ctx, tx, `meeting_id = ? AND end_at > ?`, string(id), ms(t))
}

// OccurrencesEndingAfter lists a meeting's occurrences that end after t,
// earliest first.
func (d *DB) OccurrencesEndingAfter(ctx context.Context, id backend.MeetingID, t time.Time) ([]backend.Occurrence, error) {
	return d.occurrences(ctx, nil, `meeting_id = ? AND end_at > ?`, string(id), ms(t))
}

// Occurrences lists all of a meeting's occurrences, earliest first.
func (d *DB) Occurrences(ctx context.Context, id backend.MeetingID) ([]backend.Occurrence, error) {
	return d.occurrences(ctx, nil, `meeting_id = ?`, string(id))
}

func (d *DB) occurrences(ctx context.Context, tx *Tx, where string, args ...any) ([]backend.Occurrence, error) {
	rows, err := queryer(tx, d).QueryContext(ctx, `SELECT key, start_at, end_at, link_epoch, created_at FROM meeting_occurrences WHERE `+where+` ORDER BY start_at, key`, args...)
	if err != nil {
		return nil, fmt.Errorf("occurrences: %w", err)
	}
	defer rows.Close()
	var out []backend.Occurrence
	for rows.Next() {
		var o backend.Occurrence
		var start, end, created int64
		if err := rows.Scan(&o.Key, &start, &end, &o.LinkEpoch, &created); err != nil {
			return nil, fmt.Errorf("occurrences: %w", err)
		}
		o.Start, o.End, o.Created = fromMS(start), fromMS(end), fromMS(created)
		out = append(out, o)
	}
	return out, rows.Err()
}

// OccurrenceCodeIssued reports whether the invitee already has a code for
// the occurrence.
func (tx *Tx) OccurrenceCodeIssued(ctx context.Context, id backend.MeetingID, key string, invitee backend.InviteeID) (bool, error) {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM meeting_occurrence_codes WHERE meeting_id = ? AND occurrence_key = ? AND invitee_id = ?`,
		string(id), key, string(invitee)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("meeting %s: occurrence code: %w", id, err)
	}
	return true, nil
}

// SaveOccurrenceCode records that the invitee got a code (and a mail) for
// the occurrence under link epoch epoch.
func (tx *Tx) SaveOccurrenceCode(ctx context.Context, id backend.MeetingID, key string, invitee backend.InviteeID, deliveryID string, epoch int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO meeting_occurrence_codes (meeting_id, occurrence_key, invitee_id, delivery_id, link_epoch, issued_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (meeting_id, occurrence_key, invitee_id) DO UPDATE SET delivery_id = excluded.delivery_id,
		link_epoch = excluded.link_epoch, issued_at = excluded.issued_at`,
		string(id), key, string(invitee), deliveryID, epoch, ms(tx.Now))
	if err != nil {
		return fmt.Errorf("meeting %s: save occurrence code: %w", id, err)
	}
	return nil
}

func nonNil[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}

func nonNilS(xs []string) []string { return nonNil(xs) }
