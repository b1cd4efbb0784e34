package guestcode

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/motesvakt/motesvakt/backend/audit"
)

// Schema holds this package's tables (portable SQL; audit.Schema must be
// applied too). Per-guest state (failure count, lock, redemption generation)
// lives in guest_invitees, not with a code, so issuing a new code never
// resets the failure count (NIST 800-63B §3.1.3.2). guest_codes holds one row
// per issued code: an occurrence of a recurring meeting, or a re-send.
const Schema = `
CREATE TABLE IF NOT EXISTS guest_invitees (
	meeting_id  TEXT    NOT NULL,
	invitee_id  TEXT    NOT NULL,
	email       TEXT    NOT NULL,
	failures    INTEGER NOT NULL DEFAULT 0,
	locked_at   INTEGER,
	generation  INTEGER NOT NULL DEFAULT 0,
	redeemed_at INTEGER,
	PRIMARY KEY (meeting_id, invitee_id),
	UNIQUE (meeting_id, email)
);
CREATE TABLE IF NOT EXISTS guest_codes (
	code_id     TEXT    PRIMARY KEY,
	meeting_id  TEXT    NOT NULL,
	invitee_id  TEXT    NOT NULL,
	mac         TEXT    NOT NULL,
	valid_from  INTEGER NOT NULL,
	valid_until INTEGER NOT NULL,
	issued_at   INTEGER NOT NULL,
	revoked_at  INTEGER,
	redeemed_at INTEGER
);
CREATE INDEX IF NOT EXISTS guest_codes_invitee ON guest_codes (meeting_id, invitee_id);
`

var (
	// ErrInvalid is the one answer to every failed redeem. Do not wrap it
	// with detail: the detail goes to the audit log, never to the guest.
	ErrInvalid = errors.New("guestcode: invalid e-mail or code")

	ErrBadRequest = errors.New("guestcode: bad request")            // Issue/Revoke input
	ErrEmailTaken = errors.New("guestcode: e-mail already invited") // another invitee of the meeting has it
	ErrNotFound   = errors.New("guestcode: invitee not found")
)

// RateLimitError means a budget is used up; nothing was checked.
type RateLimitError struct {
	RetryAfter time.Duration
	Scope      string // "ip" or "meeting"
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("guestcode: too many attempts (%s budget), retry after %s", e.Scope, e.RetryAfter.Round(time.Second))
}

// Minutes is RetryAfter rounded up to whole minutes (at least 1), the count
// for the plural message guest.code.rate_limited.
func (e *RateLimitError) Minutes() int {
	return max(1, int((e.RetryAfter+time.Minute-1)/time.Minute))
}

// MessageKey maps a Redeem error to the locale key shown to the guest.
func MessageKey(err error) string {
	var rl *RateLimitError
	switch {
	case errors.As(err, &rl):
		return "guest.code.rate_limited"
	case errors.Is(err, ErrInvalid):
		return "guest.code.invalid"
	default:
		return "error.internal"
	}
}

// Window is when a code works: from EarlyJoin before Start until End.
type Window struct {
	Start, End time.Time
}

// Options configure a Service. Zero values take the defaults.
type Options struct {
	MaxFailures   int           // consecutive failures that lock a guest; default 10
	EarlyJoin     time.Duration // how long before Start a code works; default 30 min
	IPBudget      Budget        // default DefaultIPBudget; Unlimited disables
	MeetingBudget Budget        // default DefaultMeetingBudget; Unlimited disables
	Clock         func() time.Time
}

// Service issues and redeems codes.
type Service struct {
	db        *sql.DB
	key       []byte
	opts      Options
	ipLimit   *limiter
	meetLimit *limiter

	// redeemMu runs this process's redeem transactions one at a time.
	// SQLite has a single writer anyway; queuing here instead of in SQLite
	// avoids the read-then-write snapshot conflicts (SQLITE_BUSY_SNAPSHOT)
	// that a storm of concurrent guesses otherwise turns into retries.
	redeemMu sync.Mutex
}

// MinKeyLen is the shortest accepted HMAC key: 256 bits.
const MinKeyLen = 32

// New returns a Service. key is the server secret the codes are MAC'd under;
// losing it invalidates every outstanding code, leaking it lets a database
// thief test guesses offline (still 39 bits per guest).
func New(db *sql.DB, key []byte, opts Options) (*Service, error) {
	if len(key) < MinKeyLen {
		return nil, fmt.Errorf("guestcode: key is %d bytes, need at least %d", len(key), MinKeyLen)
	}
	if opts.MaxFailures <= 0 {
		opts.MaxFailures = 10
	}
	if opts.EarlyJoin <= 0 {
		opts.EarlyJoin = 30 * time.Minute
	}
	if opts.IPBudget == (Budget{}) {
		opts.IPBudget = DefaultIPBudget
	}
	if opts.MeetingBudget == (Budget{}) {
		opts.MeetingBudget = DefaultMeetingBudget
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	return &Service{db: db, key: append([]byte(nil), key...), opts: opts,
		ipLimit: newLimiter(opts.IPBudget), meetLimit: newLimiter(opts.MeetingBudget)}, nil
}

// mac is HMAC-SHA-256(key, len‖meeting ‖ len‖invitee ‖ len‖code). The length
// prefixes keep ("ab","c") and ("a","bc") apart.
func (s *Service) mac(meeting MeetingID, invitee InviteeID, code string) string {
	h := hmac.New(sha256.New, s.key)
	for _, part := range []string{string(meeting), string(invitee), code} {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(part)))
		h.Write(n[:])
		h.Write([]byte(part))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func randomID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func subject(invitee InviteeID) string { return string(audit.GuestActor(string(invitee))) }

// Issue creates a code for one invitee and one window and returns the
// plaintext, once. Any unrevoked code of the invitee whose window overlaps
// this one is revoked (a re-send supersedes the old code); codes for other
// occurrences stay valid. The failure count and lock are left as they are.
func (s *Service) Issue(ctx context.Context, tx *sql.Tx, by audit.Actor, meeting MeetingID, invitee InviteeID,
	email string, w Window, now time.Time) (Code, error) {
	email = NormalizeEmail(email)
	switch {
	case meeting == "" || invitee == "":
		return Code{}, fmt.Errorf("%w: meeting and invitee are required", ErrBadRequest)
	case !strings.Contains(email, "@") || len(email) > 320:
		return Code{}, fmt.Errorf("%w: e-mail address", ErrBadRequest)
	case !w.End.After(w.Start):
		return Code{}, fmt.Errorf("%w: window ends before it starts", ErrBadRequest)
	case !w.End.After(now):
		return Code{}, fmt.Errorf("%w: window has already ended", ErrBadRequest)
	}
	c := Code{Meeting: meeting, Invitee: invitee, ValidFrom: w.Start.Add(-s.opts.EarlyJoin).UTC(), ValidUntil: w.End.UTC()}
	var err error
	if c.plain, err = generate(); err != nil {
		return Code{}, err
	}
	if c.ID, err = randomID(); err != nil {
		return Code{}, fmt.Errorf("guestcode: id: %w", err)
	}
	// Same e-mail under another invitee id of this meeting would make Redeem
	// ambiguous; the UNIQUE constraint refuses it.
	var other string
	err = tx.QueryRowContext(ctx, `SELECT invitee_id FROM guest_invitees WHERE meeting_id = ? AND email = ? AND invitee_id <> ?`,
		string(meeting), email, string(invitee)).Scan(&other)
	if err == nil {
		return Code{}, fmt.Errorf("meeting %s: issue for %s: %w", meeting, invitee, ErrEmailTaken)
	} else if !errors.Is(err, sql.ErrNoRows) {
		return Code{}, fmt.Errorf("meeting %s: issue: %w", meeting, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO guest_invitees (meeting_id, invitee_id, email) VALUES (?, ?, ?)
		ON CONFLICT (meeting_id, invitee_id) DO UPDATE SET email = excluded.email`,
		string(meeting), string(invitee), email); err != nil {
		return Code{}, fmt.Errorf("meeting %s: issue: invitee: %w", meeting, err)
	}
	superseded, err := s.revokeCodes(ctx, tx, meeting, invitee, now,
		` AND valid_from < ? AND valid_until > ?`, ms(c.ValidUntil), ms(c.ValidFrom))
	if err != nil {
		return Code{}, fmt.Errorf("meeting %s: issue: %w", meeting, err)
	}
	if superseded > 0 {
		if err := s.audit(ctx, tx, by, audit.CodeRevoked, meeting, invitee, "", audit.Success, now,
			map[string]string{"reason": "superseded", "count": strconv.FormatInt(superseded, 10)}); err != nil {
			return Code{}, err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO guest_codes (code_id, meeting_id, invitee_id, mac, valid_from, valid_until, issued_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, c.ID, string(meeting), string(invitee), s.mac(meeting, invitee, c.plain),
		ms(c.ValidFrom), ms(c.ValidUntil), ms(now)); err != nil {
		return Code{}, fmt.Errorf("meeting %s: issue: code: %w", meeting, err)
	}
	if err := s.audit(ctx, tx, by, audit.CodeIssued, meeting, invitee, "", audit.Success, now, map[string]string{
		"code_id":     c.ID,
		"valid_from":  c.ValidFrom.Format(time.RFC3339),
		"valid_until": c.ValidUntil.Format(time.RFC3339),
	}); err != nil {
		return Code{}, err
	}
	return c, nil
}

func (s *Service) revokeCodes(ctx context.Context, tx *sql.Tx, meeting MeetingID, invitee InviteeID, now time.Time,
	extra string, args ...any) (int64, error) {
	res, err := tx.ExecContext(ctx, `UPDATE guest_codes SET revoked_at = ?
		WHERE meeting_id = ? AND invitee_id = ? AND revoked_at IS NULL`+extra,
		append([]any{ms(now), string(meeting), string(invitee)}, args...)...)
	if err != nil {
		return 0, fmt.Errorf("revoke codes: %w", err)
	}
	return res.RowsAffected()
}

func (s *Service) audit(ctx context.Context, tx *sql.Tx, by audit.Actor, action audit.Action, meeting MeetingID,
	invitee InviteeID, ip string, outcome audit.Outcome, now time.Time, details map[string]string) error {
	e := audit.Entry{Time: now, Actor: by, ActorIP: ip, Action: action, MeetingID: string(meeting),
		Outcome: outcome, Details: details}
	if invitee != "" {
		e.Subject = subject(invitee)
	}
	if _, err := audit.Append(ctx, tx, e); err != nil {
		return fmt.Errorf("meeting %s: %s: %w", meeting, action, err)
	}
	return nil
}

// Revoke revokes every code of the invitee (removed from the meeting). The
// caller also ends the invitee's live session.
func (s *Service) Revoke(ctx context.Context, tx *sql.Tx, by audit.Actor, meeting MeetingID, invitee InviteeID, now time.Time) error {
	if err := s.exists(ctx, tx, meeting, invitee); err != nil {
		return err
	}
	n, err := s.revokeCodes(ctx, tx, meeting, invitee, now, "")
	if err != nil {
		return fmt.Errorf("meeting %s: revoke %s: %w", meeting, invitee, err)
	}
	return s.audit(ctx, tx, by, audit.CodeRevoked, meeting, invitee, "", audit.Success, now,
		map[string]string{"reason": "revoked", "count": strconv.FormatInt(n, 10)})
}

// Unlock lifts a per-guest lock and clears the failure count; a host's
// deliberate act, audited. Re-issuing a code does not do this.
func (s *Service) Unlock(ctx context.Context, tx *sql.Tx, by audit.Actor, meeting MeetingID, invitee InviteeID, now time.Time) error {
	if err := s.exists(ctx, tx, meeting, invitee); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE guest_invitees SET failures = 0, locked_at = NULL WHERE meeting_id = ? AND invitee_id = ?`,
		string(meeting), string(invitee)); err != nil {
		return fmt.Errorf("meeting %s: unlock %s: %w", meeting, invitee, err)
	}
	return s.audit(ctx, tx, by, audit.CodeUnlocked, meeting, invitee, "", audit.Success, now, nil)
}

func (s *Service) exists(ctx context.Context, tx *sql.Tx, meeting MeetingID, invitee InviteeID) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM guest_invitees WHERE meeting_id = ? AND invitee_id = ?`,
		string(meeting), string(invitee)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("meeting %s: invitee %s: %w", meeting, invitee, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("meeting %s: invitee %s: %w", meeting, invitee, err)
	}
	return nil
}

// Invitee is a guest's code state, for the host's guest list.
type Invitee struct {
	ID          InviteeID
	Email       string
	Failures    int
	Locked      bool
	Generation  int64
	RedeemedAt  time.Time // zero if never
	ActiveCodes int       // unrevoked codes whose window has not ended
}

// Invitees lists a meeting's guests with their code state.
func (s *Service) Invitees(ctx context.Context, meeting MeetingID) ([]Invitee, error) {
	now := s.opts.Clock()
	rows, err := s.db.QueryContext(ctx, `SELECT i.invitee_id, i.email, i.failures, i.locked_at IS NOT NULL, i.generation,
		COALESCE(i.redeemed_at, 0),
		(SELECT COUNT(*) FROM guest_codes c WHERE c.meeting_id = i.meeting_id AND c.invitee_id = i.invitee_id
			AND c.revoked_at IS NULL AND c.valid_until > ?)
		FROM guest_invitees i WHERE i.meeting_id = ? AND i.invitee_id <> ? ORDER BY i.email`,
		ms(now), string(meeting), string(unknownInvitee))
	if err != nil {
		return nil, fmt.Errorf("meeting %s: invitees: %w", meeting, err)
	}
	defer rows.Close()
	var out []Invitee
	for rows.Next() {
		var (
			in         Invitee
			redeemedAt int64
		)
		if err := rows.Scan(&in.ID, &in.Email, &in.Failures, &in.Locked, &in.Generation, &redeemedAt, &in.ActiveCodes); err != nil {
			return nil, fmt.Errorf("meeting %s: invitees: %w", meeting, err)
		}
		if redeemedAt != 0 {
			in.RedeemedAt = time.UnixMilli(redeemedAt).UTC()
		}
		out = append(out, in)
	}
	return out, rows.Err()
}

// Redemption is a successful redeem. The caller starts a session that
// expires at ValidUntil and ends every session of this invitee with a lower
// Generation ("a second redeem ends the older session").
type Redemption struct {
	Meeting    MeetingID
	Invitee    InviteeID
	Email      string
	Generation int64
	VerifiedAt time.Time
	CodeID     string
	ValidUntil time.Time
}

// Redeem checks a guest's e-mail and code for a meeting. Every failure is
// ErrInvalid; a used-up budget is *RateLimitError; anything else is an
// internal error (fail closed). The outcome is audited in the same
// transaction as the counters, without the code.
func (s *Service) Redeem(ctx context.Context, meeting MeetingID, email, code, ip string) (Redemption, error) {
	now := s.opts.Clock()
	if len(ip) > 64 {
		ip = ip[:64]
	}
	ipk := ipKey(ip)
	if ok, wait := s.ipLimit.take(ipk, now); !ok {
		return Redemption{}, &RateLimitError{RetryAfter: wait, Scope: "ip"}
	}
	if ok, wait := s.meetLimit.take(string(meeting), now); !ok {
		return Redemption{}, &RateLimitError{RetryAfter: wait, Scope: "meeting"}
	}
	var (
		red Redemption
		err error
	)
	for attempt := 0; ; attempt++ {
		s.redeemMu.Lock()
		red, err = s.redeemTx(ctx, meeting, NormalizeEmail(email), code, ip, now)
		s.redeemMu.Unlock()
		if err == nil || errors.Is(err, ErrInvalid) || !retryable(err) || attempt >= 20 {
			break
		}
		// Another writer (another package, another process) committed
		// between our read and our write; SQLite refused the stale write.
		// Run the whole transaction again.
		time.Sleep(time.Duration(min(attempt+1, 10)) * time.Millisecond)
	}
	if err == nil {
		s.ipLimit.refund(ipk, now)
		s.meetLimit.refund(string(meeting), now)
	}
	return red, err
}

func retryable(err error) bool {
	var coded interface{ Code() int }
	if errors.As(err, &coded) {
		switch coded.Code() & 0xff {
		case 5, 6: // SQLITE_BUSY (incl. BUSY_SNAPSHOT), SQLITE_LOCKED
			return true
		}
	}
	return errors.Is(err, audit.ErrChainConflict)
}

// The invitee id used when the e-mail is unknown, so that path computes the
// same HMAC and does the same database work as a known guest's wrong code.
// Its row in guest_invitees (the "ghost", e-mail = this id, which has no @
// and so can never be typed in) counts unknown-e-mail attempts per meeting.
const unknownInvitee InviteeID = "\x00unknown"

func (s *Service) redeemTx(ctx context.Context, meeting MeetingID, email, rawCode, ip string, now time.Time) (Redemption, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Redemption{}, fmt.Errorf("meeting %s: redeem: %w", meeting, err)
	}
	defer tx.Rollback()

	var (
		invitee  InviteeID
		lockedAt sql.NullInt64
		known    = true
	)
	if !strings.Contains(email, "@") {
		err = sql.ErrNoRows // never let typed input reach the ghost row's e-mail
	} else {
		err = tx.QueryRowContext(ctx, `SELECT invitee_id, locked_at FROM guest_invitees WHERE meeting_id = ? AND email = ?`,
			string(meeting), email).Scan(&invitee, &lockedAt)
	}
	if errors.Is(err, sql.ErrNoRows) {
		known, invitee = false, unknownInvitee
	} else if err != nil {
		return Redemption{}, fmt.Errorf("meeting %s: redeem: %w", meeting, err)
	}

	code, wellFormed := NormalizeCode(rawCode)
	want := []byte(s.mac(meeting, invitee, code))

	type stored struct {
		id          string
		mac         string
		from, until int64
		revoked     bool
	}
	var codes []stored
	rows, err := tx.QueryContext(ctx, `SELECT code_id, mac, valid_from, valid_until, revoked_at IS NOT NULL
		FROM guest_codes WHERE meeting_id = ? AND invitee_id = ?`, string(meeting), string(invitee))
	if err != nil {
		return Redemption{}, fmt.Errorf("meeting %s: redeem: %w", meeting, err)
	}
	for rows.Next() {
		var c stored
		if err := rows.Scan(&c.id, &c.mac, &c.from, &c.until, &c.revoked); err != nil {
			rows.Close()
			return Redemption{}, fmt.Errorf("meeting %s: redeem: %w", meeting, err)
		}
		codes = append(codes, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Redemption{}, fmt.Errorf("meeting %s: redeem: %w", meeting, err)
	}

	// Compare against every stored MAC without stopping early; prefer a
	// matching code that is valid now over a matching stale one.
	reason := "mismatch"
	var match *stored
	for i := range codes {
		c := &codes[i]
		if subtle.ConstantTimeCompare(want, []byte(c.mac)) != 1 {
			continue
		}
		r := "ok"
		switch {
		case c.revoked:
			r = "revoked"
		case ms(now) < c.from:
			r = "not_yet_valid"
		case ms(now) >= c.until:
			r = "expired"
		}
		if match == nil || r == "ok" {
			match, reason = c, r
		}
	}
	switch {
	case !known:
		reason = "unknown_email"
	case lockedAt.Valid:
		reason = "locked"
	case !wellFormed:
		reason = "malformed"
	}

	if reason != "ok" {
		return Redemption{}, s.fail(ctx, tx, meeting, invitee, lockedAt.Valid, ip, reason, now)
	}

	// Success. The guard on locked_at makes the lock win any race, also on
	// databases that do not refuse stale writes the way SQLite does.
	var gen int64
	err = tx.QueryRowContext(ctx, `UPDATE guest_invitees SET generation = generation + 1, failures = 0, redeemed_at = ?
		WHERE meeting_id = ? AND invitee_id = ? AND locked_at IS NULL RETURNING generation`,
		ms(now), string(meeting), string(invitee)).Scan(&gen)
	if errors.Is(err, sql.ErrNoRows) {
		return Redemption{}, s.fail(ctx, tx, meeting, invitee, true, ip, "locked", now)
	} else if err != nil {
		return Redemption{}, fmt.Errorf("meeting %s: redeem: %w", meeting, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE guest_codes SET redeemed_at = ? WHERE code_id = ?`, ms(now), match.id); err != nil {
		return Redemption{}, fmt.Errorf("meeting %s: redeem: %w", meeting, err)
	}
	genStr := strconv.FormatInt(gen, 10)
	if err := s.audit(ctx, tx, audit.GuestActor(string(invitee)), audit.CodeRedeemed, meeting, invitee, ip, audit.Success, now,
		map[string]string{"code_id": match.id, "generation": genStr}); err != nil {
		return Redemption{}, err
	}
	if gen > 1 {
		if err := s.audit(ctx, tx, audit.GuestActor(string(invitee)), audit.SessionReplaced, meeting, invitee, ip, audit.Success, now,
			map[string]string{"generation": genStr, "ends_generation_below": genStr}); err != nil {
			return Redemption{}, err
		}
	}
	if err := tx.Commit(); err != nil {
		return Redemption{}, fmt.Errorf("meeting %s: redeem: commit: %w", meeting, err)
	}
	return Redemption{Meeting: meeting, Invitee: invitee, Email: email, Generation: gen,
		VerifiedAt: time.UnixMilli(ms(now)).UTC(), CodeID: match.id, ValidUntil: time.UnixMilli(match.until).UTC()}, nil
}

// fail records a failed attempt and returns ErrInvalid once it is committed.
//
// Every failure does the same database work, so response time does not tell
// an unknown e-mail or a locked guest from a wrong code (ASVS 6.3.8): the
// failure count is bumped on the guest's row, or, for an unknown e-mail, on
// the meeting's ghost row, which counts such attempts and never locks.
func (s *Service) fail(ctx context.Context, tx *sql.Tx, meeting MeetingID, invitee InviteeID, wasLocked bool, ip, reason string,
	now time.Time) error {
	subjectID, threshold := invitee, s.opts.MaxFailures
	if invitee == unknownInvitee {
		subjectID, threshold = "", math.MaxInt32
	}
	var (
		failures int
		locked   bool
	)
	err := tx.QueryRowContext(ctx, `INSERT INTO guest_invitees (meeting_id, invitee_id, email, failures) VALUES (?, ?, ?, 1)
		ON CONFLICT (meeting_id, invitee_id) DO UPDATE SET failures = guest_invitees.failures + 1,
			locked_at = CASE WHEN guest_invitees.locked_at IS NULL AND guest_invitees.failures + 1 >= ? THEN ?
				ELSE guest_invitees.locked_at END
		RETURNING failures, locked_at IS NOT NULL`,
		string(meeting), string(invitee), string(unknownInvitee), threshold, ms(now)).Scan(&failures, &locked)
	if err != nil {
		return fmt.Errorf("meeting %s: redeem: count failure: %w", meeting, err)
	}
	details := map[string]string{"reason": reason, "failures": strconv.Itoa(failures)}
	if locked && !wasLocked {
		if err := s.audit(ctx, tx, audit.System, audit.CodeLocked, meeting, invitee, ip, audit.Denied, now,
			map[string]string{"failures": strconv.Itoa(failures)}); err != nil {
			return err
		}
	}
	if err := s.audit(ctx, tx, audit.Anonymous, audit.CodeFailed, meeting, subjectID, ip, audit.Failure, now, details); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("meeting %s: redeem: commit: %w", meeting, err)
	}
	return ErrInvalid
}
