package audit

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Schema is the audit table, portable SQL for SQLite now and PostgreSQL later.
//
// seq is the PRIMARY KEY and Append writes head+1: two transactions that read
// the same head cannot both commit (the second insert violates the key, or
// SQLite refuses the stale snapshot's write upgrade), so a race fails instead
// of forking the chain. Hashes are lower-case hex TEXT so the DDL needs no
// BLOB/bytea dialect. details is a JSON object of strings; the hash covers
// the canonical encoding, not this text, so JSON formatting does not matter.
// Indexes serve the admin page's filters. Each one costs append rate (a
// UNIQUE index on the random hash roughly halved it), so add more only when
// a filter needs one; seq already makes every entry unique.
const Schema = `
CREATE TABLE IF NOT EXISTS audit_log (
	seq        INTEGER PRIMARY KEY,
	ts         INTEGER NOT NULL,
	actor      TEXT    NOT NULL,
	actor_ip   TEXT    NOT NULL DEFAULT '',
	action     TEXT    NOT NULL,
	meeting_id TEXT    NOT NULL DEFAULT '',
	subject    TEXT    NOT NULL DEFAULT '',
	outcome    TEXT    NOT NULL,
	details    TEXT    NOT NULL DEFAULT '{}',
	prev_hash  TEXT    NOT NULL,
	hash       TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_ts      ON audit_log (ts);
CREATE INDEX IF NOT EXISTS audit_log_meeting ON audit_log (meeting_id, seq);
CREATE INDEX IF NOT EXISTS audit_log_action  ON audit_log (action, seq);
`

// SQLiteAppendOnly makes SQLite itself refuse UPDATE and DELETE on the log.
// It is SQLite-only syntax (apply it as its own migration, not split on ';').
// It stops mistakes and casual edits through the application's connection;
// anyone who can write the file can drop the triggers, which is what the hash
// chain and external anchors are for.
const SQLiteAppendOnly = `
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
`

// ErrChainConflict means another transaction appended first; retry the whole
// transaction. With SQLite the same race usually surfaces as SQLITE_BUSY
// instead; open the database with _txlock=immediate to serialize writers up
// front.
var ErrChainConflict = errors.New("audit: concurrent append, retry the transaction")

// Head is the latest entry of the chain. Ship it to a separate system to
// anchor the chain (see VerifyAnchored).
type Head struct {
	Seq  Seq  `json:"seq"`
	Hash Hash `json:"hash"`
}

// Append validates e, links it to the current head and inserts it, all in tx.
// The caller commits; if it rolls back, the entry never existed.
func Append(ctx context.Context, tx *sql.Tx, e Entry) (Record, error) {
	e, err := normalize(e)
	if err != nil {
		return Record{}, err
	}
	var (
		head    sql.NullInt64
		headHex sql.NullString
	)
	err = tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&head, &headHex)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Record{}, fmt.Errorf("audit: append %s: read head: %w", e.Action, err)
	}
	r := Record{Seq: head.Int64 + 1, Entry: e}
	if headHex.Valid {
		if r.PrevHash, err = parseHash(headHex.String); err != nil {
			return Record{}, fmt.Errorf("audit: append %s: head %d: %w", e.Action, head.Int64, err)
		}
	}
	r.Hash = r.ComputeHash()
	details, err := json.Marshal(r.Details)
	if err != nil {
		return Record{}, fmt.Errorf("audit: append %s: %w", e.Action, err)
	}
	if r.Details == nil {
		details = []byte("{}")
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO audit_log
		(seq, ts, actor, actor_ip, action, meeting_id, subject, outcome, details, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Seq, r.Time.UnixMilli(), string(r.Actor), r.ActorIP, string(r.Action), r.MeetingID, r.Subject,
		string(r.Outcome), string(details), r.PrevHash.String(), r.Hash.String())
	if err != nil {
		if isUniqueViolation(err) {
			return Record{}, fmt.Errorf("audit: append %s at seq %d: %w (%v)", e.Action, r.Seq, ErrChainConflict, err)
		}
		return Record{}, fmt.Errorf("audit: append %s at seq %d: %w", e.Action, r.Seq, err)
	}
	return r, nil
}

func isUniqueViolation(err error) bool {
	s := strings.ToLower(err.Error())
	return strings.Contains(s, "unique constraint") || strings.Contains(s, "duplicate key") ||
		strings.Contains(s, "primary key")
}

func parseHash(s string) (Hash, error) {
	var h Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("hash %q is not 64 hex digits", s)
	}
	copy(h[:], b)
	return h, nil
}

// Report is the result of checking a chain.
type Report struct {
	Entries  int    `json:"entries"`             // entries checked and found intact
	OK       bool   `json:"ok"`                  // the whole chain (and every anchor) checks out
	FirstBad *Seq   `json:"first_bad,omitempty"` // first entry that is missing, altered or out of place
	Reason   string `json:"reason,omitempty"`    // why, in English for operators and logs
	Head     Head   `json:"head"`                // last intact entry
}

// Verify reads the whole log in order and checks every link and hash.
func Verify(ctx context.Context, db *sql.DB) (Report, error) {
	return VerifyAnchored(ctx, db)
}

// VerifyAnchored is Verify plus a check that every anchor (a Head recorded
// earlier and kept outside this database) is still in the chain with the same
// hash. That catches a cut-off tail or a chain recomputed after tampering,
// which a chain cannot reveal about itself.
func VerifyAnchored(ctx context.Context, db *sql.DB, anchors ...Head) (Report, error) {
	rows, err := db.QueryContext(ctx, `SELECT `+recordColumns+` FROM audit_log ORDER BY seq`)
	if err != nil {
		return Report{}, fmt.Errorf("audit: verify: %w", err)
	}
	defer rows.Close()
	c := newChecker(anchors)
	for rows.Next() {
		r, herr, err := scanRecord(rows)
		if err != nil {
			return Report{}, fmt.Errorf("audit: verify: %w", err)
		}
		if !c.check(r, herr) {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return Report{}, fmt.Errorf("audit: verify: %w", err)
	}
	return c.report(), nil
}

// checker walks records in seq order and stops at the first bad one.
type checker struct {
	rep     Report
	prev    Hash
	next    Seq
	anchors map[Seq]Hash
	broken  bool
}

func newChecker(anchors []Head) *checker {
	c := &checker{next: 1, anchors: map[Seq]Hash{}}
	for _, a := range anchors {
		c.anchors[a.Seq] = a.Hash
	}
	return c
}

func (c *checker) fail(seq Seq, format string, args ...any) bool {
	c.broken = true
	c.rep.FirstBad = &seq
	c.rep.Reason = fmt.Sprintf(format, args...)
	return false
}

// check returns false once the chain is broken. herr reports a stored field
// that could not be decoded.
func (c *checker) check(r Record, herr error) bool {
	if c.broken {
		return false
	}
	switch {
	case r.Seq < c.next:
		return c.fail(r.Seq, "entry %d appears again or out of order after %d", r.Seq, c.next-1)
	case r.Seq > c.next:
		return c.fail(c.next, "entry %d is missing (next stored entry is %d)", c.next, r.Seq)
	case herr != nil:
		return c.fail(r.Seq, "entry %d cannot be decoded: %v", r.Seq, herr)
	case r.PrevHash != c.prev:
		return c.fail(r.Seq, "entry %d does not link to entry %d (prev_hash differs)", r.Seq, r.Seq-1)
	}
	if _, err := normalize(r.Entry); err != nil {
		return c.fail(r.Seq, "entry %d holds an invalid value: %v", r.Seq, err)
	}
	if got := r.ComputeHash(); got != r.Hash {
		return c.fail(r.Seq, "entry %d was altered (stored hash does not match its content)", r.Seq)
	}
	if want, ok := c.anchors[r.Seq]; ok && want != r.Hash {
		return c.fail(r.Seq, "entry %d differs from the anchored hash %s", r.Seq, want)
	}
	c.prev, c.next = r.Hash, r.Seq+1
	c.rep.Entries++
	c.rep.Head = Head{Seq: r.Seq, Hash: r.Hash}
	return true
}

func (c *checker) report() Report {
	if !c.broken {
		for seq := range c.anchors {
			if seq >= c.next {
				// The log is shorter than it once was: its tail was cut.
				c.fail(c.next, "anchored entry %d is missing: the log ends at %d", seq, c.next-1)
				break
			}
		}
	}
	c.rep.OK = !c.broken
	return c.rep
}

const recordColumns = `seq, ts, actor, actor_ip, action, meeting_id, subject, outcome, details, prev_hash, hash`

// scanRecord reads one row. A stored value that cannot be decoded (bad JSON,
// bad hex) is returned as herr so Verify can name the entry; err is a database
// failure.
func scanRecord(rows *sql.Rows) (r Record, herr, err error) {
	var (
		ts                        int64
		actor, action, outcome    string
		details, prevHex, hashHex string
	)
	if err := rows.Scan(&r.Seq, &ts, &actor, &r.ActorIP, &action, &r.MeetingID, &r.Subject, &outcome,
		&details, &prevHex, &hashHex); err != nil {
		return r, nil, err
	}
	r.Time = time.UnixMilli(ts).UTC()
	r.Actor, r.Action, r.Outcome = Actor(actor), Action(action), Outcome(outcome)
	if err := json.Unmarshal([]byte(details), &r.Details); err != nil {
		herr = fmt.Errorf("details: %w", err)
	}
	if len(r.Details) == 0 {
		r.Details = nil
	}
	var err1, err2 error
	r.PrevHash, err1 = parseHash(prevHex)
	r.Hash, err2 = parseHash(hashHex)
	if herr == nil {
		herr = errors.Join(err1, err2)
	}
	return r, herr, nil
}

// Filter selects entries for List and Export. Zero fields match everything.
type Filter struct {
	Since     time.Time // ts >= Since
	Until     time.Time // ts < Until
	MeetingID string
	Action    Action
	Actor     Actor
	Subject   string
	AfterSeq  Seq  // seq > AfterSeq (paging forward, SIEM cursor)
	BeforeSeq Seq  // seq < BeforeSeq (paging backward on the admin page)
	Desc      bool // newest first
	Limit     int  // List: default 100, at most 1000; Export: 0 means no limit
}

func (f Filter) where() (string, []any) {
	var (
		conds []string
		args  []any
	)
	add := func(cond string, arg any) { conds = append(conds, cond); args = append(args, arg) }
	if !f.Since.IsZero() {
		add("ts >= ?", f.Since.UnixMilli())
	}
	if !f.Until.IsZero() {
		add("ts < ?", f.Until.UnixMilli())
	}
	if f.MeetingID != "" {
		add("meeting_id = ?", f.MeetingID)
	}
	if f.Action != "" {
		add("action = ?", string(f.Action))
	}
	if f.Actor != "" {
		add("actor = ?", string(f.Actor))
	}
	if f.Subject != "" {
		add("subject = ?", f.Subject)
	}
	if f.AfterSeq > 0 {
		add("seq > ?", f.AfterSeq)
	}
	if f.BeforeSeq > 0 {
		add("seq < ?", f.BeforeSeq)
	}
	q := ""
	if len(conds) > 0 {
		q = " WHERE " + strings.Join(conds, " AND ")
	}
	if f.Desc {
		q += " ORDER BY seq DESC"
	} else {
		q += " ORDER BY seq"
	}
	return q, args
}

func query(ctx context.Context, db *sql.DB, f Filter, limit int, fn func(Record) error) error {
	where, args := f.where()
	q := `SELECT ` + recordColumns + ` FROM audit_log` + where
	if limit > 0 {
		q += " LIMIT ?"
		args = append(args, limit)
	}
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		r, herr, err := scanRecord(rows)
		if err != nil {
			return err
		}
		if herr != nil {
			// Show what is stored; Verify is the place that judges it.
			r.Details = map[string]string{"_undecodable": herr.Error()}
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// List returns entries for the admin page.
func List(ctx context.Context, db *sql.DB, f Filter) ([]Record, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	var out []Record
	err := query(ctx, db, f, limit, func(r Record) error { out = append(out, r); return nil })
	if err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	return out, nil
}
