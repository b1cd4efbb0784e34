package gcal

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Schema is this package's table. The integrator's migration runner applies
// it as one numbered migration. Timestamps are Unix milliseconds UTC. The
// channel token is stored only as its SHA-256: it is a shared secret and a
// database leak must not let anyone forge notifications.
const Schema = `CREATE TABLE IF NOT EXISTS gcal_channels (
	id          TEXT PRIMARY KEY,
	calendar_id TEXT NOT NULL,
	resource_id TEXT NOT NULL,
	token_hash  BLOB NOT NULL,
	sync_token  TEXT NOT NULL DEFAULT '',
	expires_at  INTEGER NOT NULL,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS gcal_channels_expires ON gcal_channels (expires_at);
CREATE INDEX IF NOT EXISTS gcal_channels_calendar ON gcal_channels (calendar_id);
`

// ChannelID is the id we chose for a watch channel.
type ChannelID string

// Channel is one stored watch channel.
type Channel struct {
	ID         ChannelID
	CalendarID string
	ResourceID string
	tokenHash  []byte
	SyncToken  string
	Expires    time.Time
	Created    time.Time
	Updated    time.Time
}

// ErrNoChannel is returned for unknown channel ids.
var ErrNoChannel = errors.New("gcal: no such channel")

func ms(t time.Time) int64 { return t.UTC().UnixMilli() }

func hashToken(tok string) []byte {
	h := sha256.Sum256([]byte("gcal-channel\x00" + tok))
	return h[:]
}

// TokenMatches compares a presented channel token with the stored hash in
// constant time.
func (c *Channel) TokenMatches(tok string) bool {
	return tok != "" && subtle.ConstantTimeCompare(hashToken(tok), c.tokenHash) == 1
}

// InsertChannel stores a new channel with its secret token.
func InsertChannel(ctx context.Context, tx *sql.Tx, c Channel, token string, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO gcal_channels (id, calendar_id, resource_id, token_hash, sync_token, expires_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, string(c.ID), c.CalendarID, c.ResourceID, hashToken(token), c.SyncToken, ms(c.Expires), ms(now), ms(now))
	if err != nil {
		return fmt.Errorf("gcal: insert channel %s: %w", c.ID, err)
	}
	return nil
}

// SetSyncToken records how far the channel's calendar has been synced.
func SetSyncToken(ctx context.Context, tx *sql.Tx, id ChannelID, syncToken string, now time.Time) error {
	res, err := tx.ExecContext(ctx, `UPDATE gcal_channels SET sync_token = ?, updated_at = ? WHERE id = ?`, syncToken, ms(now), string(id))
	if err != nil {
		return fmt.Errorf("gcal: channel %s: set sync token: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNoChannel
	}
	return nil
}

// DeleteChannel forgets a channel.
func DeleteChannel(ctx context.Context, tx *sql.Tx, id ChannelID) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM gcal_channels WHERE id = ?`, string(id)); err != nil {
		return fmt.Errorf("gcal: delete channel %s: %w", id, err)
	}
	return nil
}

type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

const channelCols = `id, calendar_id, resource_id, token_hash, sync_token, expires_at, created_at, updated_at`

func scanChannels(rows *sql.Rows) ([]Channel, error) {
	defer rows.Close()
	var out []Channel
	for rows.Next() {
		var c Channel
		var id string
		var exp, cr, up int64
		if err := rows.Scan(&id, &c.CalendarID, &c.ResourceID, &c.tokenHash, &c.SyncToken, &exp, &cr, &up); err != nil {
			return nil, err
		}
		c.ID = ChannelID(id)
		c.Expires, c.Created, c.Updated = time.UnixMilli(exp).UTC(), time.UnixMilli(cr).UTC(), time.UnixMilli(up).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

// ChannelByID loads one channel.
func ChannelByID(ctx context.Context, q querier, id ChannelID) (*Channel, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+channelCols+` FROM gcal_channels WHERE id = ?`, string(id))
	if err != nil {
		return nil, fmt.Errorf("gcal: channel %s: %w", id, err)
	}
	cs, err := scanChannels(rows)
	if err != nil {
		return nil, fmt.Errorf("gcal: channel %s: %w", id, err)
	}
	if len(cs) == 0 {
		return nil, ErrNoChannel
	}
	return &cs[0], nil
}

// ChannelsExpiringBefore lists channels to renew.
func ChannelsExpiringBefore(ctx context.Context, q querier, t time.Time) ([]Channel, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+channelCols+` FROM gcal_channels WHERE expires_at < ? ORDER BY expires_at`, ms(t))
	if err != nil {
		return nil, fmt.Errorf("gcal: channels to renew: %w", err)
	}
	return scanChannels(rows)
}
