package sqlite

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/motesvakt/motesvakt/backend"
)

var _ backend.SessionService = (*DB)(nil)

// NewSessionID returns 256 bits from crypto/rand, base64url (ASVS 7.2.3
// asks for at least 128).
func NewSessionID() (backend.SessionID, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("session id: %w", err)
	}
	return backend.SessionID(base64.RawURLEncoding.EncodeToString(b[:])), nil
}

func hashSessionID(id backend.SessionID) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

// CreateSession stores s under a fresh random id and returns that id.
func (d *DB) CreateSession(ctx context.Context, s *backend.Session) (backend.SessionID, error) {
	var id backend.SessionID
	err := d.InTx(ctx, func(tx *Tx) error {
		var err error
		id, err = tx.CreateSession(ctx, s)
		return err
	})
	return id, err
}

// CreateSession stores s in tx; see DB.CreateSession.
func (tx *Tx) CreateSession(ctx context.Context, s *backend.Session) (backend.SessionID, error) {
	id, err := NewSessionID()
	if err != nil {
		return "", err
	}
	if s.Created.IsZero() {
		s.Created = tx.Now
	}
	roles := make([]string, len(s.Roles))
	for i, r := range s.Roles {
		roles[i] = string(r)
	}
	var userID any
	if s.UserID != "" {
		userID = string(s.UserID)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO sessions (id_hash, kind, user_id, email, name, roles, mfa, demo, meeting_id, invitee_id, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		hashSessionID(id), string(s.Kind), userID, s.Email, s.Name, strings.Join(roles, ","), s.MFA, s.Demo,
		s.MeetingID, s.InviteeID, ms(s.Created), ms(s.Expires))
	if err != nil {
		return "", fmt.Errorf("create session: %w", err)
	}
	s.ID = id
	return id, nil
}

// FindSession returns the live session for id; an unknown or expired id is
// EUNAUTHORIZED.
func (d *DB) FindSession(ctx context.Context, id backend.SessionID) (*backend.Session, error) {
	var (
		s                backend.Session
		userID           sql.NullString
		roles            string
		created, expires int64
	)
	err := d.db.QueryRowContext(ctx, `SELECT kind, user_id, email, name, roles, mfa, demo, meeting_id, invitee_id, created_at, expires_at
		FROM sessions WHERE id_hash = ?`, hashSessionID(id)).Scan(
		&s.Kind, &userID, &s.Email, &s.Name, &roles, &s.MFA, &s.Demo, &s.MeetingID, &s.InviteeID, &created, &expires)
	if err == sql.ErrNoRows {
		return nil, backend.Errorf(backend.EUNAUTHORIZED, "auth.session_expired")
	}
	if err != nil {
		return nil, fmt.Errorf("find session: %w", err)
	}
	s.ID = id
	s.UserID = backend.UserID(userID.String)
	s.Created, s.Expires = fromMS(created), fromMS(expires)
	for _, r := range strings.Split(roles, ",") {
		if r != "" {
			s.Roles = append(s.Roles, backend.Role(r))
		}
	}
	if !d.Now().Before(s.Expires) {
		return nil, backend.Errorf(backend.EUNAUTHORIZED, "auth.session_expired")
	}
	return &s, nil
}

// DeleteSession ends a session (logout). Deleting an unknown id is not an error.
func (d *DB) DeleteSession(ctx context.Context, id backend.SessionID) error {
	if _, err := d.db.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, hashSessionID(id)); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteGuestSessions ends every session of one invitee in one meeting and
// returns their id hashes, so the caller can also drop them from the live
// room; a second redeem uses it so a guest has one live session at a time.
func (tx *Tx) DeleteGuestSessions(ctx context.Context, meetingID, inviteeID string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `DELETE FROM sessions WHERE kind = 'guest' AND meeting_id = ? AND invitee_id = ? RETURNING id_hash`, meetingID, inviteeID)
	if err != nil {
		return nil, fmt.Errorf("delete guest sessions: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// SessionHash is the stored form of a session id; it doubles as a stable,
// non-secret handle for the session (e.g. the SFU participant id).
func SessionHash(id backend.SessionID) string { return hashSessionID(id) }

// PurgeExpired deletes expired sessions and OIDC flows.
func (d *DB) PurgeExpired(ctx context.Context) error {
	now := ms(d.Now())
	if _, err := d.db.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, now); err != nil {
		return err
	}
	_, err := d.db.ExecContext(ctx, `DELETE FROM oidc_flows WHERE expires_at <= ?`, now)
	return err
}

// UpsertUser creates or refreshes the user for (issuer, subject) and
// returns it. The id is derived from both so it is stable across e-mail
// changes.
func (tx *Tx) UpsertUser(ctx context.Context, issuer, subject, email, name string) (*backend.User, error) {
	h := sha256.Sum256([]byte(issuer + "\x00" + subject))
	id := backend.UserID("u_" + hex.EncodeToString(h[:12]))
	_, err := tx.ExecContext(ctx, `INSERT INTO users (id, issuer, subject, email, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (issuer, subject) DO UPDATE SET email = excluded.email, name = excluded.name, updated_at = excluded.updated_at`,
		string(id), issuer, subject, email, name, ms(tx.Now), ms(tx.Now))
	if err != nil {
		return nil, fmt.Errorf("upsert user: %w", err)
	}
	return &backend.User{ID: id, Issuer: issuer, Subject: subject, Email: email, Name: name, Created: tx.Now}, nil
}

// OIDCFlow is one pending authorization request.
type OIDCFlow struct {
	State, Nonce, Verifier, ReturnTo string
	Expires                          time.Time
}

// SaveOIDCFlow stores a pending authorization request.
func (d *DB) SaveOIDCFlow(ctx context.Context, f OIDCFlow) error {
	_, err := d.db.ExecContext(ctx, `INSERT INTO oidc_flows (state, nonce, verifier, return_to, expires_at) VALUES (?, ?, ?, ?, ?)`,
		f.State, f.Nonce, f.Verifier, f.ReturnTo, ms(f.Expires))
	if err != nil {
		return fmt.Errorf("save oidc flow: %w", err)
	}
	return nil
}

// TakeOIDCFlow returns and deletes the flow for state, so a state is usable
// exactly once. Unknown or expired states are EINVALID.
func (d *DB) TakeOIDCFlow(ctx context.Context, state string) (*OIDCFlow, error) {
	var f OIDCFlow
	var exp int64
	err := d.InTx(ctx, func(tx *Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT state, nonce, verifier, return_to, expires_at FROM oidc_flows WHERE state = ?`, state).
			Scan(&f.State, &f.Nonce, &f.Verifier, &f.ReturnTo, &exp)
		if err != nil {
			return notFound(err, "auth.bad_state")
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM oidc_flows WHERE state = ?`, state)
		return err
	})
	if err != nil {
		if backend.ErrorCode(err) == backend.ENOTFOUND {
			return nil, backend.Errorf(backend.EINVALID, "auth.bad_state")
		}
		return nil, err
	}
	f.Expires = fromMS(exp)
	if !d.Now().Before(f.Expires) {
		return nil, backend.Errorf(backend.EINVALID, "auth.bad_state")
	}
	return &f, nil
}
