package mail

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Schema is the DDL for this package's table. Plain SQL that SQLite and
// PostgreSQL both accept; times are Unix milliseconds UTC.
//
// sealed is base64(nonce || AES-256-GCM ciphertext) of the message and the
// strings to redact; NULL once erased (Cancel, Forget, ForgetOlderThan).
// last_error is always redacted before it is written.
const Schema = `
CREATE TABLE IF NOT EXISTS mail_outbox (
	id              TEXT PRIMARY KEY,
	kind            TEXT NOT NULL,
	meeting_id      TEXT NOT NULL,
	invitee_id      TEXT NOT NULL,
	recipient       TEXT NOT NULL,
	message_id      TEXT NOT NULL,
	status          TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'cancelled')),
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL,
	lease_until     INTEGER NOT NULL DEFAULT 0,
	last_error      TEXT NOT NULL DEFAULT '',
	key_id          TEXT NOT NULL,
	sealed          TEXT,
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL,
	sent_at         INTEGER
);
CREATE INDEX IF NOT EXISTS mail_outbox_due ON mail_outbox (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS mail_outbox_meeting ON mail_outbox (meeting_id, created_at);
`

// Status is where a delivery stands.
type Status string

const (
	StatusQueued    Status = "queued"  // waiting for its first or next attempt
	StatusSending   Status = "sending" // claimed by a worker (lease in lease_until)
	StatusSent      Status = "sent"    // accepted by the SMTP server or written to the outbox directory
	StatusFailed    Status = "failed"  // gave up: attempts exhausted or recipient refused
	StatusCancelled Status = "cancelled"
)

// Delivery is one outbox row as the host page shows it. It never carries
// the message body.
type Delivery struct {
	ID            DeliveryID
	Kind          Kind
	MeetingID     MeetingID
	InviteeID     InviteeID
	Recipient     string
	MessageID     string
	Status        Status
	Attempts      int
	LastError     string
	NextAttemptAt time.Time // meaningful while queued
	CreatedAt     time.Time
	UpdatedAt     time.Time
	SentAt        time.Time // zero until sent
	// Resendable is false once the body has been erased.
	Resendable bool
}

var (
	ErrNotFound   = errors.New("mail: delivery not found")
	ErrInProgress = errors.New("mail: delivery is being sent right now")
	ErrErased     = errors.New("mail: message body was erased (code revoked or meeting over); issue a new code instead")
)

// Outbox is the persistent queue. Writes take the caller's transaction so a
// meeting change, its audit entry and its mail commit together.
type Outbox struct {
	db     *sql.DB
	sealer *sealer
}

// NewOutbox opens the outbox over db (with Schema applied). key is the
// 32-byte AES-256 key that seals new messages (see DeriveKey); previous keys
// still open messages sealed before a rotation.
func NewOutbox(db *sql.DB, key []byte, previous ...[]byte) (*Outbox, error) {
	if db == nil {
		return nil, errors.New("mail: outbox needs a database")
	}
	s, err := newSealer(key, previous...)
	if err != nil {
		return nil, err
	}
	return &Outbox{db: db, sealer: s}, nil
}

func newDeliveryID() (DeliveryID, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("delivery id: %w", err)
	}
	return DeliveryID(hex.EncodeToString(b[:])), nil
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// Enqueue stores msg, sealed, due at now.
func (o *Outbox) Enqueue(ctx context.Context, tx *sql.Tx, msg *Message, now time.Time) (DeliveryID, error) {
	if msg == nil || len(msg.raw) == 0 || msg.Recipient == "" {
		return "", errors.New("mail: enqueue: message is empty; build it with a Renderer")
	}
	id, err := newDeliveryID()
	if err != nil {
		return "", fmt.Errorf("mail: enqueue: %w", err)
	}
	keyID, sealed, err := o.sealer.seal(envelope{EML: msg.raw, Redact: msg.redact},
		additionalData(id, msg.MeetingID, msg.InviteeID, msg.Recipient))
	if err != nil {
		return "", fmt.Errorf("mail: enqueue: %w", err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO mail_outbox
		(id, kind, meeting_id, invitee_id, recipient, message_id, status, attempts, next_attempt_at,
		 lease_until, last_error, key_id, sealed, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, 'queued', 0, ?, 0, '', ?, ?, ?, ?)`,
		id, msg.Kind, msg.MeetingID, msg.InviteeID, msg.Recipient, msg.MessageID, ms(now),
		keyID, sealed, ms(now), ms(now))
	if err != nil {
		return "", fmt.Errorf("mail: enqueue for meeting %s: %w", msg.MeetingID, err)
	}
	return id, nil
}

const deliveryColumns = `id, kind, meeting_id, invitee_id, recipient, message_id, status, attempts,
	last_error, next_attempt_at, created_at, updated_at, COALESCE(sent_at, 0), sealed IS NOT NULL`

type scanner interface{ Scan(...any) error }

func scanDelivery(s scanner) (Delivery, error) {
	var d Delivery
	var next, created, updated, sent int64
	err := s.Scan(&d.ID, &d.Kind, &d.MeetingID, &d.InviteeID, &d.Recipient, &d.MessageID, &d.Status,
		&d.Attempts, &d.LastError, &next, &created, &updated, &sent, &d.Resendable)
	if err != nil {
		return Delivery{}, err
	}
	d.NextAttemptAt, d.CreatedAt, d.UpdatedAt, d.SentAt = fromMS(next), fromMS(created), fromMS(updated), fromMS(sent)
	if d.Status == StatusSending || d.Status == StatusCancelled {
		d.Resendable = false
	}
	return d, nil
}

// Status lists a meeting's deliveries, oldest first.
func (o *Outbox) Status(ctx context.Context, meetingID MeetingID) ([]Delivery, error) {
	rows, err := o.db.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM mail_outbox
		WHERE meeting_id = ? ORDER BY created_at, id`, meetingID)
	if err != nil {
		return nil, fmt.Errorf("mail: status of meeting %s: %w", meetingID, err)
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("mail: status of meeting %s: %w", meetingID, err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mail: status of meeting %s: %w", meetingID, err)
	}
	return out, nil
}

// Get returns one delivery, e.g. to check which meeting it belongs to
// before a host may resend it.
func (o *Outbox) Get(ctx context.Context, id DeliveryID) (Delivery, error) {
	d, err := scanDelivery(o.db.QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM mail_outbox WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Delivery{}, ErrNotFound
	}
	if err != nil {
		return Delivery{}, fmt.Errorf("mail: delivery %s: %w", id, err)
	}
	return d, nil
}

// Resend queues the same message again, due now, with a fresh attempt
// budget. It works for queued, sent and failed deliveries whose body is
// still stored; it refuses one a worker is sending right now.
func (o *Outbox) Resend(ctx context.Context, tx *sql.Tx, id DeliveryID, now time.Time) error {
	var status Status
	var hasBody bool
	err := tx.QueryRowContext(ctx, `SELECT status, sealed IS NOT NULL FROM mail_outbox WHERE id = ?`, id).
		Scan(&status, &hasBody)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ErrNotFound
	case err != nil:
		return fmt.Errorf("mail: resend %s: %w", id, err)
	case status == StatusSending:
		return ErrInProgress
	case !hasBody || status == StatusCancelled:
		return ErrErased
	}
	_, err = tx.ExecContext(ctx, `UPDATE mail_outbox SET status = 'queued', attempts = 0, next_attempt_at = ?,
		lease_until = 0, last_error = '', updated_at = ? WHERE id = ?`, ms(now), ms(now), id)
	if err != nil {
		return fmt.Errorf("mail: resend %s: %w", id, err)
	}
	return nil
}

// CancelInvitations stops an invitee's queued invitations and erases every
// stored invitation body for them, so a revoked code is neither sent nor kept.
// Call it in the transaction that revokes or re-issues the code. Revocation
// notices are left alone. It returns how many queued messages were stopped.
func (o *Outbox) CancelInvitations(ctx context.Context, tx *sql.Tx, meetingID MeetingID, inviteeID InviteeID, now time.Time) (int, error) {
	res, err := tx.ExecContext(ctx, `UPDATE mail_outbox SET status = 'cancelled', updated_at = ?
		WHERE meeting_id = ? AND invitee_id = ? AND kind = 'invitation' AND status = 'queued'`,
		ms(now), meetingID, inviteeID)
	if err != nil {
		return 0, fmt.Errorf("mail: cancel invitations for %s/%s: %w", meetingID, inviteeID, err)
	}
	n, _ := res.RowsAffected()
	if _, err := tx.ExecContext(ctx, `UPDATE mail_outbox SET sealed = NULL, updated_at = ?
		WHERE meeting_id = ? AND invitee_id = ? AND kind = 'invitation' AND sealed IS NOT NULL`,
		ms(now), meetingID, inviteeID); err != nil {
		return 0, fmt.Errorf("mail: erase invitations for %s/%s: %w", meetingID, inviteeID, err)
	}
	return int(n), nil
}

// Forget erases every stored body of a meeting and stops what is still
// queued; call it when the meeting is over. The rows stay for the host page.
func (o *Outbox) Forget(ctx context.Context, tx *sql.Tx, meetingID MeetingID, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE mail_outbox SET status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
		sealed = NULL, updated_at = ? WHERE meeting_id = ? AND (sealed IS NOT NULL OR status = 'queued')`,
		ms(now), meetingID); err != nil {
		return fmt.Errorf("mail: forget meeting %s: %w", meetingID, err)
	}
	return nil
}

// ForgetOlderThan erases the bodies of messages that were sent or failed
// before cutoff: a safety net so codes do not pile up if Forget is missed.
func (o *Outbox) ForgetOlderThan(ctx context.Context, tx *sql.Tx, cutoff, now time.Time) (int, error) {
	res, err := tx.ExecContext(ctx, `UPDATE mail_outbox SET sealed = NULL, updated_at = ?
		WHERE sealed IS NOT NULL AND status IN ('sent', 'failed', 'cancelled') AND updated_at < ?`,
		ms(now), ms(cutoff))
	if err != nil {
		return 0, fmt.Errorf("mail: forget older than %s: %w", cutoff.Format(time.RFC3339), err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
