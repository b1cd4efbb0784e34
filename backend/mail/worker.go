package mail

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"time"
)

// RetryPolicy spaces out attempts: the n-th retry waits Base·Factor^(n-1),
// capped at Max, then scaled by a random factor in [1-Jitter, 1+Jitter) so
// many failed messages do not hit a recovering server at the same instant.
type RetryPolicy struct {
	MaxAttempts int
	Base        time.Duration
	Factor      float64
	Max         time.Duration
	Jitter      float64
}

// DefaultRetryPolicy: 8 attempts, waits of about 1 m, 3 m, 9 m, 27 m, 81 m,
// 4 h and 12 h, i.e. the last try some 18 hours after the first.
var DefaultRetryPolicy = RetryPolicy{MaxAttempts: 8, Base: time.Minute, Factor: 3, Max: 12 * time.Hour, Jitter: 0.2}

// Delay is the wait after the given failed attempt (1-based); r is uniform in [0,1).
func (p RetryPolicy) Delay(attempt int, r float64) time.Duration {
	d := float64(p.Base) * math.Pow(p.Factor, float64(attempt-1))
	if d > float64(p.Max) {
		d = float64(p.Max)
	}
	return time.Duration(d * (1 + p.Jitter*(2*r-1)))
}

// Result is one delivery outcome, handed to WorkerConfig.Report. It never
// carries the message or the code; Err is already redacted.
type Result struct {
	ID            DeliveryID
	Kind          Kind
	MeetingID     MeetingID
	InviteeID     InviteeID
	Recipient     string
	Status        Status // sent, queued (will retry), failed or cancelled
	Attempt       int
	Err           string
	NextAttemptAt time.Time // set when Status is queued
	At            time.Time
}

// WorkerConfig wires a Worker. Outbox and Transport are required.
type WorkerConfig struct {
	Outbox    *Outbox
	Transport Transport
	// Now is the clock; default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// Report is called for every outcome inside the transaction that records
	// it, so an audit entry commits with the status change. An error rolls
	// both back; the message is then retried when its lease runs out.
	Report func(ctx context.Context, tx *sql.Tx, r Result) error
	Retry  RetryPolicy
	// Lease is how long a claimed message stays "sending" before another
	// worker may take it (crash recovery). A send is cut off at half of it.
	// Default 5 minutes.
	Lease time.Duration
	// Poll is how often Run looks for due mail without a Notify; default 5 s.
	Poll time.Duration
	// Batch is how many messages one pass claims; default 20.
	Batch int
	// Rand returns uniform values in [0,1) for jitter; default math/rand/v2.
	Rand func() float64
}

// Worker delivers due messages. Several may run against one database: a
// message is claimed with a single UPDATE, so two workers never hold it at once.
type Worker struct {
	cfg    WorkerConfig
	notify chan struct{}
}

// NewWorker checks cfg and fills in defaults.
func NewWorker(cfg WorkerConfig) (*Worker, error) {
	if cfg.Outbox == nil || cfg.Transport == nil {
		return nil, errors.New("mail: worker needs an outbox and a transport")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Retry == (RetryPolicy{}) {
		cfg.Retry = DefaultRetryPolicy
	}
	if cfg.Retry.MaxAttempts < 1 || cfg.Retry.Base <= 0 || cfg.Retry.Factor < 1 || cfg.Retry.Max < cfg.Retry.Base ||
		cfg.Retry.Jitter < 0 || cfg.Retry.Jitter >= 1 {
		return nil, fmt.Errorf("mail: worker retry policy %+v is invalid", cfg.Retry)
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 5 * time.Minute
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 5 * time.Second
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 20
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	return &Worker{cfg: cfg, notify: make(chan struct{}, 1)}, nil
}

// Notify wakes Run early, e.g. right after a transaction that enqueued mail
// has committed.
func (w *Worker) Notify() {
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends. Failures to reach the database are logged and
// retried at the next poll; they do not stop the worker.
func (w *Worker) Run(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-w.notify:
		}
		n, err := w.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			w.cfg.Logger.ErrorContext(ctx, "mail: delivery pass failed", "err", err)
		}
		wait := w.cfg.Poll
		if n == w.cfg.Batch {
			wait = 0 // there may be more due right now
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
	}
}

type claimed struct {
	id        DeliveryID
	kind      Kind
	meeting   MeetingID
	invitee   InviteeID
	recipient string
	messageID string
	attempts  int
	keyID     string
	sealed    sql.NullString
	lease     int64
}

// RunOnce claims the messages due at Now() and tries each once. It returns
// how many it claimed.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	now := w.cfg.Now()
	lease := ms(now.Add(w.cfg.Lease))
	// One statement, so claiming is atomic on SQLite and on PostgreSQL.
	// A row stuck in "sending" past its lease was held by a worker that died.
	rows, err := w.cfg.Outbox.db.QueryContext(ctx, `UPDATE mail_outbox
		SET status = 'sending', attempts = attempts + 1, lease_until = ?, updated_at = ?
		WHERE id IN (SELECT id FROM mail_outbox
			WHERE (status = 'queued' AND next_attempt_at <= ?) OR (status = 'sending' AND lease_until <= ?)
			ORDER BY next_attempt_at, created_at LIMIT ?)
		RETURNING id, kind, meeting_id, invitee_id, recipient, message_id, attempts, key_id, sealed`,
		lease, ms(now), ms(now), ms(now), w.cfg.Batch)
	if err != nil {
		return 0, fmt.Errorf("mail: claim due messages: %w", err)
	}
	var batch []claimed
	for rows.Next() {
		c := claimed{lease: lease}
		if err := rows.Scan(&c.id, &c.kind, &c.meeting, &c.invitee, &c.recipient, &c.messageID,
			&c.attempts, &c.keyID, &c.sealed); err != nil {
			rows.Close()
			return 0, fmt.Errorf("mail: claim due messages: %w", err)
		}
		batch = append(batch, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("mail: claim due messages: %w", err)
	}
	var errs []error
	for _, c := range batch {
		if err := w.deliver(ctx, c); err != nil {
			errs = append(errs, err)
		}
	}
	return len(batch), errors.Join(errs...)
}

func (w *Worker) deliver(ctx context.Context, c claimed) error {
	r := Result{ID: c.id, Kind: c.kind, MeetingID: c.meeting, InviteeID: c.invitee, Recipient: c.recipient, Attempt: c.attempts}
	if !c.sealed.Valid {
		// Erased (code revoked, meeting over) between claim and now.
		r.Status = StatusCancelled
		return w.finish(ctx, c, r)
	}
	if c.attempts > w.cfg.Retry.MaxAttempts {
		// Only a message reclaimed after a crash gets here: its last attempt
		// was interrupted and there is no budget left.
		r.Status, r.Err = StatusFailed, "interrupted during the last attempt"
		return w.finish(ctx, c, r)
	}
	env, err := w.cfg.Outbox.sealer.open(c.keyID, c.sealed.String, additionalData(c.id, c.meeting, c.invitee, c.recipient))
	if err != nil {
		// Retrying cannot fix a body this server cannot open.
		r.Status, r.Err = StatusFailed, "cannot open stored message: "+err.Error()
		return w.finish(ctx, c, r)
	}
	sendCtx, cancel := context.WithTimeout(ctx, w.cfg.Lease/2)
	sendErr := w.cfg.Transport.Send(sendCtx, Envelope{ID: c.id, To: c.recipient, MessageID: c.messageID, Data: env.EML})
	cancel()
	clear(env.EML)
	switch {
	case sendErr == nil:
		r.Status = StatusSent
	case ctx.Err() != nil:
		// Shutting down: leave the row in "sending"; the lease brings it back.
		return nil
	case IsPermanent(sendErr) || c.attempts >= w.cfg.Retry.MaxAttempts:
		r.Status, r.Err = StatusFailed, redact(sendErr.Error(), env.Redact)
	default:
		r.Status, r.Err = StatusQueued, redact(sendErr.Error(), env.Redact)
		r.NextAttemptAt = w.cfg.Now().Add(w.cfg.Retry.Delay(c.attempts, w.cfg.Rand()))
	}
	return w.finish(ctx, c, r)
}

// finish records r, guarded by the lease this worker took: if the lease ran
// out and another worker has claimed the row since, this result is stale and
// dropped.
func (w *Worker) finish(ctx context.Context, c claimed, r Result) error {
	// Record even when shutdown has begun: a message that went out but was
	// not marked sent would be sent again after the lease.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	r.At = w.cfg.Now()
	now := ms(r.At)
	tx, err := w.cfg.Outbox.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("mail: record delivery %s: %w", c.id, err)
	}
	defer func() { _ = tx.Rollback() }()
	var sentAt any
	if r.Status == StatusSent {
		sentAt = now
	}
	// A failure on a message whose body was erased meanwhile ends as cancelled.
	err = tx.QueryRowContext(ctx, `UPDATE mail_outbox SET
		status = CASE WHEN ? = 'queued' AND sealed IS NULL THEN 'cancelled' ELSE ? END,
		next_attempt_at = CASE WHEN ? > 0 THEN ? ELSE next_attempt_at END,
		last_error = ?, lease_until = 0, updated_at = ?, sent_at = COALESCE(?, sent_at)
		WHERE id = ? AND status = 'sending' AND lease_until = ?
		RETURNING status`,
		r.Status, r.Status, ms(r.NextAttemptAt), ms(r.NextAttemptAt), r.Err, now, sentAt, c.id, c.lease).Scan(&r.Status)
	if errors.Is(err, sql.ErrNoRows) {
		w.cfg.Logger.WarnContext(ctx, "mail: delivery result dropped, lease taken over", "delivery", c.id)
		return nil
	}
	if err != nil {
		return fmt.Errorf("mail: record delivery %s: %w", c.id, err)
	}
	if r.Status != StatusQueued {
		r.NextAttemptAt = time.Time{}
	}
	if w.cfg.Report != nil {
		if err := w.cfg.Report(ctx, tx, r); err != nil {
			return fmt.Errorf("mail: report delivery %s: %w", c.id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("mail: record delivery %s: %w", c.id, err)
	}
	attrs := []any{"delivery", r.ID, "meeting", r.MeetingID, "kind", r.Kind, "attempt", r.Attempt, "status", r.Status}
	switch r.Status {
	case StatusSent:
		w.cfg.Logger.InfoContext(ctx, "mail: delivered", attrs...)
	case StatusQueued:
		w.cfg.Logger.WarnContext(ctx, "mail: delivery failed, will retry", append(attrs, "err", r.Err, "next", r.NextAttemptAt)...)
	default:
		w.cfg.Logger.ErrorContext(ctx, "mail: delivery given up", append(attrs, "err", r.Err)...)
	}
	return nil
}
