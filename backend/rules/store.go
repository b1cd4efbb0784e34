// Package rules keeps the classification rules and the profile table as
// versions in the store, and hands out the engine in force.
//
// Every admin change creates a new immutable version (author, time,
// comment, parent). Exactly one version is active; its compiled engine sits
// in an atomic pointer that Engine reads, so activation swaps it for all
// later classifications without a restart while a classification already
// running keeps the engine it started with. A version may be scheduled: it
// becomes active when its effective time passes (checked on every Engine
// call and by Run's ticker). Rollback reactivates the previously active
// version. Edits name the version they are based on; if another admin saved
// first the edit fails with ECONFLICT and the would-be draft is handed back.
package rules

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/audit"
	"github.com/motesvakt/motesvakt/classifiers"
)

// Schema is the DDL for the rules tables. Apply it as one migration.
//
// rule_versions.id is an INTEGER version number, not a TEXT id: it is the
// rules version every classification and meeting records
// (backend.PolicySource returns it as int64), and numbers make the order of
// versions obvious to admins. rule_drafts holds classified drafts for dry
// runs; id is the SHA-256 of the draft so a draft classified many times
// while the host types is stored once.
const Schema = `
CREATE TABLE IF NOT EXISTS rule_versions (
	id           INTEGER PRIMARY KEY,
	parent       INTEGER NOT NULL DEFAULT 0,
	author       TEXT    NOT NULL,
	author_name  TEXT    NOT NULL DEFAULT '',
	created      INTEGER NOT NULL,
	comment      TEXT    NOT NULL DEFAULT '',
	op           TEXT    NOT NULL DEFAULT '',
	state        TEXT    NOT NULL,
	effective_at INTEGER NOT NULL DEFAULT 0,
	activated_at INTEGER NOT NULL DEFAULT 0,
	content      TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS rule_versions_state ON rule_versions (state, effective_at);
CREATE TABLE IF NOT EXISTS rule_drafts (
	id         TEXT    PRIMARY KEY,
	first_seen INTEGER NOT NULL,
	last_seen  INTEGER NOT NULL,
	event      TEXT    NOT NULL,
	profile    TEXT    NOT NULL,
	version    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS rule_drafts_seen ON rule_drafts (last_seen);
`

// Version is a rules version number; the seed is 1.
type Version int64

// State is where a version is in its life.
type State string

const (
	StateDraft     State = "draft"
	StateActive    State = "active"
	StateScheduled State = "scheduled"
	StateRetired   State = "retired"
)

// Actor is the admin making a change. ID is the pseudonymous user id; Name
// is shown in the version list.
type Actor struct {
	ID   backend.UserID
	Name string
	IP   string
}

func (a Actor) audit() audit.Actor {
	if a.ID == "" {
		return audit.System
	}
	return audit.Actor("user:" + string(a.ID))
}

// RuleVersion is one stored version.
type RuleVersion struct {
	ID          Version    `json:"id"`
	Parent      Version    `json:"parent"`
	Author      string     `json:"author"`
	AuthorName  string     `json:"author_name"`
	Created     time.Time  `json:"created"`
	Comment     string     `json:"comment"`
	Op          string     `json:"op"`
	State       State      `json:"state"`
	EffectiveAt *time.Time `json:"effective_at,omitempty"`
	ActivatedAt *time.Time `json:"activated_at,omitempty"`
	Content     *Content   `json:"content,omitempty"`
}

// Config configures a Store.
type Config struct {
	// InternalDomains seed the first version.
	InternalDomains []string
	// KeepDrafts is how long classified drafts are kept for dry runs
	// (default 30 days). Negative switches draft storage off.
	KeepDrafts time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	Log *slog.Logger
}

type loaded struct {
	version Version
	engine  *classifiers.Engine
}

// Store is the rules store and the service's PolicySource.
type Store struct {
	db   *sql.DB
	cfg  Config
	now  func() time.Time
	log  *slog.Logger
	cur  atomic.Pointer[loaded]
	due  atomic.Int64 // Unix ms of the next scheduled activation, 0 if none
	mu   sync.Mutex   // serializes Refresh
	emu  sync.Mutex
	engs map[Version]*classifiers.Engine // compiled versions for bench and dry run
}

var _ backend.PolicySource = (*Store)(nil)

// Open seeds the first version when the table is empty, loads the active
// version and compiles it. The rules tables (Schema) and audit_log must exist.
func Open(ctx context.Context, db *sql.DB, cfg Config) (*Store, error) {
	if cfg.KeepDrafts == 0 {
		cfg.KeepDrafts = 30 * 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Store{db: db, cfg: cfg, now: cfg.Now, log: cfg.Log, engs: map[Version]*classifiers.Engine{}}
	err := s.Update(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM rule_versions`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		c, err := DefaultContent(cfg.InternalDomains)
		if err != nil {
			return err
		}
		if _, err := c.Compile(); err != nil {
			return fmt.Errorf("rules: seed does not compile: %w", err)
		}
		now := s.now().UTC()
		b, _ := json.Marshal(c)
		_, err = tx.ExecContext(ctx, `INSERT INTO rule_versions (id, parent, author, author_name, created, comment, op, state, activated_at, content)
			VALUES (1, 0, 'system', '', ?, 'seed', 'seed', 'active', ?, ?)`, now.UnixMilli(), now.UnixMilli(), string(b))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("rules: open: %w", err)
	}
	return s, nil
}

// KeepDrafts is the draft retention; negative when storage is off.
func (s *Store) KeepDrafts() time.Duration { return s.cfg.KeepDrafts }

// Engine returns the engine in force and its version. It first activates
// a scheduled version whose time has come, so the switch happens on time
// even between ticks.
func (s *Store) Engine(ctx context.Context) (*classifiers.Engine, int64, error) {
	// One caller claims the due activation; the others go on with the
	// engine in force until it is swapped. On failure Run's ticker retries,
	// so a broken store cannot turn every classification into a write.
	if d := s.due.Load(); d != 0 && s.now().UnixMilli() >= d && s.due.CompareAndSwap(d, 0) {
		if err := s.ActivateDue(ctx); err != nil {
			s.log.Error("rules: scheduled activation", "err", err)
		}
	}
	l := s.cur.Load()
	if l == nil {
		return nil, 0, backend.Errorf(backend.EUNAVAILABLE, "admin.rules_unavailable")
	}
	return l.engine, int64(l.version), nil
}

// Active returns the active version number.
func (s *Store) Active() Version {
	if l := s.cur.Load(); l != nil {
		return l.version
	}
	return 0
}

// Update runs fn in a transaction, commits and then refreshes the active
// engine, so an activation is visible to the next Engine call. A write that
// lost SQLite's snapshot race is retried; fn must only touch tx.
func (s *Store) Update(ctx context.Context, fn func(tx *sql.Tx) error) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = s.tryUpdate(ctx, fn); err == nil || !isBusy(err) {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 20 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	return s.Refresh(ctx)
}

func (s *Store) tryUpdate(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("rules: begin: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("rules: commit: %w", err)
	}
	return nil
}

func isBusy(err error) bool {
	m := err.Error()
	return strings.Contains(m, "SQLITE_BUSY") || strings.Contains(m, "database is locked") || errors.Is(err, audit.ErrChainConflict)
}

// Refresh loads the active version from the store and swaps the engine if
// it changed (another replica may have activated it), and recomputes when
// the next scheduled version is due.
func (s *Store) Refresh(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var id Version
	err := s.db.QueryRowContext(ctx, `SELECT id FROM rule_versions WHERE state = 'active' ORDER BY activated_at DESC, id DESC LIMIT 1`).Scan(&id)
	if err != nil {
		return fmt.Errorf("rules: find active version: %w", err)
	}
	if l := s.cur.Load(); l == nil || l.version != id {
		eng, err := s.EngineFor(ctx, id)
		if err != nil {
			return fmt.Errorf("rules: load active version %d: %w", id, err)
		}
		s.cur.Store(&loaded{version: id, engine: eng})
		s.log.Info("rules: active version", "version", id)
	}
	var due sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT MIN(effective_at) FROM rule_versions WHERE state = 'scheduled'`).Scan(&due); err != nil {
		return fmt.Errorf("rules: next scheduled: %w", err)
	}
	s.due.Store(due.Int64)
	return nil
}

// EngineFor compiles (and caches) any version, for the test bench and dry
// runs. Versions are immutable, so the cache never goes stale.
func (s *Store) EngineFor(ctx context.Context, id Version) (*classifiers.Engine, error) {
	s.emu.Lock()
	e, ok := s.engs[id]
	s.emu.Unlock()
	if ok {
		return e, nil
	}
	v, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	e, err = v.Content.Compile()
	if err != nil {
		return nil, err
	}
	s.emu.Lock()
	if len(s.engs) >= 16 {
		for k := range s.engs {
			if k != s.Active() {
				delete(s.engs, k)
				break
			}
		}
	}
	s.engs[id] = e
	s.emu.Unlock()
	return e, nil
}

// Run activates scheduled versions, picks up activations made by other
// replicas and purges expired drafts on every tick until ctx ends. Pass a
// time.Ticker's channel; tests pass their own.
func (s *Store) Run(ctx context.Context, tick <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			if err := s.ActivateDue(ctx); err != nil {
				s.log.Error("rules: scheduled activation", "err", err)
			}
			if err := s.Refresh(ctx); err != nil {
				s.log.Error("rules: refresh", "err", err)
			}
			if _, err := s.Purge(ctx, s.now()); err != nil {
				s.log.Error("rules: purge drafts", "err", err)
			}
		}
	}
}

const versionCols = `id, parent, author, author_name, created, comment, op, state, effective_at, activated_at`

type scanner interface{ Scan(...any) error }

func scanVersion(r scanner, content *string) (*RuleVersion, error) {
	var v RuleVersion
	var created, eff, act int64
	dst := []any{&v.ID, &v.Parent, &v.Author, &v.AuthorName, &created, &v.Comment, &v.Op, &v.State, &eff, &act}
	if content != nil {
		dst = append(dst, content)
	}
	if err := r.Scan(dst...); err != nil {
		return nil, err
	}
	v.Created = time.UnixMilli(created).UTC()
	if eff != 0 {
		t := time.UnixMilli(eff).UTC()
		v.EffectiveAt = &t
	}
	if act != 0 {
		t := time.UnixMilli(act).UTC()
		v.ActivatedAt = &t
	}
	return &v, nil
}

type querier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

func getVersion(ctx context.Context, q querier, id Version) (*RuleVersion, error) {
	var content string
	v, err := scanVersion(q.QueryRowContext(ctx, `SELECT `+versionCols+`, content FROM rule_versions WHERE id = ?`, id), &content)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, backend.Errorf(backend.ENOTFOUND, "admin.no_version", "Version", int64(id))
	}
	if err != nil {
		return nil, fmt.Errorf("rules: version %d: %w", id, err)
	}
	var c Content
	if err := json.Unmarshal([]byte(content), &c); err != nil {
		return nil, fmt.Errorf("rules: version %d: decode content: %w", id, err)
	}
	v.Content = &c
	return v, nil
}

// Get returns one version with its content.
func (s *Store) Get(ctx context.Context, id Version) (*RuleVersion, error) {
	return getVersion(ctx, s.db, id)
}

// Versions lists versions newest first, without content.
func (s *Store) Versions(ctx context.Context, limit int) ([]RuleVersion, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+versionCols+` FROM rule_versions ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("rules: list versions: %w", err)
	}
	defer rows.Close()
	out := []RuleVersion{}
	for rows.Next() {
		v, err := scanVersion(rows, nil)
		if err != nil {
			return nil, fmt.Errorf("rules: list versions: %w", err)
		}
		out = append(out, *v)
	}
	return out, rows.Err()
}

// Head is the newest version: the one an edit must be based on.
func (s *Store) Head(ctx context.Context) (Version, error) {
	return head(ctx, s.db)
}

func head(ctx context.Context, q querier) (Version, error) {
	var h sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT MAX(id) FROM rule_versions`).Scan(&h); err != nil {
		return 0, fmt.Errorf("rules: head: %w", err)
	}
	return Version(h.Int64), nil
}

// Edit is one change by an admin: operations applied to Base.
type Edit struct {
	Base    Version
	Comment string
	Ops     []Op
}

// ConflictError is the cause inside an ECONFLICT: the edit was based on a
// version that is no longer the newest. Draft is the content the edit would
// have produced, so the admin loses nothing; Head is what to rebase on.
type ConflictError struct {
	Base, Head Version
	Draft      *Content
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("rules: edit based on version %d, newest is %d", e.Base, e.Head)
}

const maxComment = 500

// Edit applies e to its base version and stores the result as a new draft
// version, audited as rules.changed in tx. The content must compile.
func (s *Store) Edit(ctx context.Context, tx *sql.Tx, by Actor, e Edit, now time.Time) (*RuleVersion, error) {
	if len(e.Ops) == 0 {
		return nil, invalid("admin.no_ops")
	}
	if len(e.Comment) > maxComment {
		return nil, invalid("admin.comment_too_long", "Max", maxComment)
	}
	h, err := head(ctx, tx)
	if err != nil {
		return nil, err
	}
	if e.Base == 0 {
		return nil, &backend.Error{Code: backend.EINVALID, Key: "admin.no_base", Field: "base_version"}
	}
	base, err := getVersion(ctx, tx, e.Base)
	if err != nil {
		return nil, err
	}
	c := base.Content.Clone()
	for _, op := range e.Ops {
		if err := op.Apply(&c); err != nil {
			return nil, err
		}
	}
	if e.Base != h {
		return nil, &backend.Error{Code: backend.ECONFLICT, Key: "admin.version_conflict", Args: []any{"Base", int64(e.Base), "Head", int64(h)},
			Err: &ConflictError{Base: e.Base, Head: h, Draft: &c}}
	}
	if _, err := c.Compile(); err != nil {
		return nil, err
	}
	kinds := make([]string, 0, len(e.Ops))
	for _, op := range e.Ops {
		kinds = append(kinds, op.Kind)
	}
	v := &RuleVersion{ID: h + 1, Parent: e.Base, Author: string(by.ID), AuthorName: by.Name, Created: now.UTC().Truncate(time.Millisecond),
		Comment: strings.TrimSpace(e.Comment), Op: strings.Join(kinds, ","), State: StateDraft, Content: &c}
	if v.Author == "" {
		v.Author = "system"
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("rules: encode: %w", err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO rule_versions (id, parent, author, author_name, created, comment, op, state, content)
		VALUES (?, ?, ?, ?, ?, ?, ?, 'draft', ?)`, v.ID, v.Parent, v.Author, v.AuthorName, v.Created.UnixMilli(), v.Comment, v.Op, string(b))
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") || strings.Contains(err.Error(), "PRIMARY KEY") {
			return nil, &backend.Error{Code: backend.ECONFLICT, Key: "admin.version_conflict", Args: []any{"Base", int64(e.Base), "Head", int64(h + 1)},
				Err: &ConflictError{Base: e.Base, Head: h + 1, Draft: &c}}
		}
		return nil, fmt.Errorf("rules: insert version: %w", err)
	}
	details := map[string]string{"version": itoa(v.ID), "parent": itoa(v.Parent), "op": clip(v.Op, 200)}
	if v.Comment != "" {
		details["comment"] = clip(v.Comment, 400)
	}
	if len(e.Ops) == 1 {
		if op := e.Ops[0]; op.Category != "" {
			details["category"] = string(op.Category)
		}
		if op := e.Ops[0]; op.Term != nil {
			details["term"] = clip(op.Term.Text, 200)
		} else if op.Old != nil {
			details["term"] = clip(op.Old.Text, 200)
		}
	}
	if err := s.auditLog(ctx, tx, by, audit.RulesChanged, now, details); err != nil {
		return nil, err
	}
	return v, nil
}

// Activate makes id the active version now; the previously active one is
// retired. Reactivating an older version is how rollback works.
func (s *Store) Activate(ctx context.Context, tx *sql.Tx, by Actor, id Version, now time.Time, extra map[string]string) (*RuleVersion, error) {
	v, err := getVersion(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if v.State == StateActive {
		return nil, backend.Errorf(backend.ECONFLICT, "admin.already_active", "Version", int64(id))
	}
	if _, err := v.Content.Compile(); err != nil {
		return nil, err
	}
	var prev Version
	err = tx.QueryRowContext(ctx, `SELECT id FROM rule_versions WHERE state = 'active' ORDER BY activated_at DESC LIMIT 1`).Scan(&prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("rules: activate %d: %w", id, err)
	}
	ms := now.UTC().UnixMilli()
	if _, err := tx.ExecContext(ctx, `UPDATE rule_versions SET state = 'retired' WHERE state = 'active'`); err != nil {
		return nil, fmt.Errorf("rules: activate %d: retire: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE rule_versions SET state = 'active', activated_at = ?, effective_at = 0 WHERE id = ?`, ms, id); err != nil {
		return nil, fmt.Errorf("rules: activate %d: %w", id, err)
	}
	details := map[string]string{"version": itoa(id), "previous": itoa(prev)}
	for k, v := range extra {
		details[k] = v
	}
	if err := s.auditLog(ctx, tx, by, audit.RulesActivated, now, details); err != nil {
		return nil, err
	}
	return getVersion(ctx, tx, id)
}

// Rollback reactivates the version that was active before the current one.
func (s *Store) Rollback(ctx context.Context, tx *sql.Tx, by Actor, now time.Time) (*RuleVersion, error) {
	var prev Version
	err := tx.QueryRowContext(ctx, `SELECT id FROM rule_versions WHERE state = 'retired' AND activated_at > 0 ORDER BY activated_at DESC, id DESC LIMIT 1`).Scan(&prev)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, backend.Errorf(backend.ECONFLICT, "admin.no_previous")
	}
	if err != nil {
		return nil, fmt.Errorf("rules: rollback: %w", err)
	}
	return s.Activate(ctx, tx, by, prev, now, map[string]string{"rollback": "true"})
}

// Schedule sets id to become active at `at`, which must lie in the future.
// Scheduling again moves the time; Unschedule returns it to draft.
func (s *Store) Schedule(ctx context.Context, tx *sql.Tx, by Actor, id Version, at, now time.Time) (*RuleVersion, error) {
	if !at.After(now) {
		return nil, &backend.Error{Code: backend.EINVALID, Key: "admin.schedule_past", Field: "effective_at"}
	}
	v, err := getVersion(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if v.State == StateActive {
		return nil, backend.Errorf(backend.ECONFLICT, "admin.already_active", "Version", int64(id))
	}
	if _, err := v.Content.Compile(); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE rule_versions SET state = 'scheduled', effective_at = ? WHERE id = ?`, at.UTC().UnixMilli(), id); err != nil {
		return nil, fmt.Errorf("rules: schedule %d: %w", id, err)
	}
	err = s.auditLog(ctx, tx, by, audit.RulesChanged, now, map[string]string{"version": itoa(id), "op": "schedule",
		"effective_at": at.UTC().Format(time.RFC3339)})
	if err != nil {
		return nil, err
	}
	return getVersion(ctx, tx, id)
}

// Unschedule cancels a scheduled activation.
func (s *Store) Unschedule(ctx context.Context, tx *sql.Tx, by Actor, id Version, now time.Time) (*RuleVersion, error) {
	v, err := getVersion(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if v.State != StateScheduled {
		return nil, backend.Errorf(backend.ECONFLICT, "admin.not_scheduled", "Version", int64(id))
	}
	if _, err := tx.ExecContext(ctx, `UPDATE rule_versions SET state = 'draft', effective_at = 0 WHERE id = ?`, id); err != nil {
		return nil, fmt.Errorf("rules: unschedule %d: %w", id, err)
	}
	if err := s.auditLog(ctx, tx, by, audit.RulesChanged, now, map[string]string{"version": itoa(id), "op": "unschedule"}); err != nil {
		return nil, err
	}
	return getVersion(ctx, tx, id)
}

// ActivateDue activates, in order of effective time, every scheduled
// version whose time has come (the last one stays active), as the system.
func (s *Store) ActivateDue(ctx context.Context) error {
	now := s.now().UTC()
	return s.Update(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, effective_at FROM rule_versions WHERE state = 'scheduled' AND effective_at <= ? ORDER BY effective_at, id`, now.UnixMilli())
		if err != nil {
			return fmt.Errorf("rules: due versions: %w", err)
		}
		type due struct {
			id Version
			at int64
		}
		var ds []due
		for rows.Next() {
			var d due
			if err := rows.Scan(&d.id, &d.at); err != nil {
				rows.Close()
				return err
			}
			ds = append(ds, d)
		}
		rows.Close()
		for _, d := range ds {
			_, err := s.Activate(ctx, tx, Actor{}, d.id, now, map[string]string{"scheduled": "true",
				"effective_at": time.UnixMilli(d.at).UTC().Format(time.RFC3339)})
			if err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Store) auditLog(ctx context.Context, tx *sql.Tx, by Actor, a audit.Action, now time.Time, details map[string]string) error {
	_, err := audit.Append(ctx, tx, audit.Entry{Time: now, Actor: by.audit(), ActorIP: by.IP, Action: a, Outcome: audit.Success, Details: details})
	if err != nil {
		return fmt.Errorf("rules: audit %s: %w", a, err)
	}
	return nil
}

func itoa(v Version) string { return strconv.FormatInt(int64(v), 10) }

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
