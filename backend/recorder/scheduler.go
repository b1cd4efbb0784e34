package recorder

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/motesvakt/motesvakt/backend/audit"
	"github.com/motesvakt/motesvakt/backend/recording"
)

// Scheduler enforces retention: every Every it hard-deletes the recordings
// whose delete_after has passed and that are not under legal hold (row with
// the only wrapped key, then the file: crypto-shredding), and audits each
// deletion in the same transaction.
type Scheduler struct {
	DB    *sql.DB
	Store *recording.Store
	// Now is the clock; default time.Now. Tests move it.
	Now func() time.Time
	// Every is the sweep period; default 1 h. Retention is counted in days,
	// so an hour late is immaterial, and a sweep is one indexed query.
	Every time.Duration
	Log   *slog.Logger
}

// SweepOnce deletes what is due now and returns the deleted ids.
func (s *Scheduler) SweepOnce(ctx context.Context) ([]recording.ID, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	at := now().UTC().Truncate(time.Millisecond)
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("recorder: sweep: %w", err)
	}
	defer tx.Rollback()
	// Which meeting each victim belongs to, for the audit entries: Sweep
	// deletes the rows, so ask first, in the same transaction.
	meetings := map[recording.ID]string{}
	rows, err := tx.QueryContext(ctx, `SELECT id, meeting_id FROM recordings WHERE delete_after <= ? AND legal_hold = 0`, at.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("recorder: sweep: %w", err)
	}
	for rows.Next() {
		var id, mt string
		if err := rows.Scan(&id, &mt); err != nil {
			rows.Close()
			return nil, fmt.Errorf("recorder: sweep: %w", err)
		}
		meetings[recording.ID(id)] = mt
	}
	rows.Close()
	deleted, err := s.Store.Sweep(ctx, tx, at)
	if err != nil {
		return nil, err
	}
	for _, id := range deleted {
		if _, err := audit.Append(ctx, tx, audit.Entry{Time: at, Actor: audit.System, Action: audit.RecordingDeleted,
			MeetingID: meetings[id], Subject: "recording:" + string(id), Outcome: audit.Success,
			Details: map[string]string{"reason": "retention", "crypto_shredded": "true"}}); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("recorder: sweep: commit: %w", err)
	}
	return deleted, nil
}

// Run sweeps once at start and then every Every until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	every := s.Every
	if every <= 0 {
		every = time.Hour
	}
	log := s.Log
	if log == nil {
		log = slog.Default()
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		ids, err := s.SweepOnce(ctx)
		switch {
		case err != nil && !errors.Is(err, context.Canceled):
			log.Error("retention sweep failed", "err", err)
		case len(ids) > 0:
			log.Info("retention deleted recordings", "count", len(ids))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
