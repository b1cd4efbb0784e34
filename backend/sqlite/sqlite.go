// Package sqlite is the store on modernc.org/sqlite: one database file, WAL,
// foreign keys, a busy timeout, embedded migrations applied in a transaction
// at start, and a Tx that carries one `now` so tests control time.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/motesvakt/motesvakt/backend"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migration is one named schema step. Names sort in application order and
// must never change once released: the migrations table remembers them.
type Migration struct {
	Name string
	SQL  string
}

// DB is the application database.
type DB struct {
	db   *sql.DB
	Path string
	// Now returns the current time; tests replace it.
	Now func() time.Time

	extra []Migration
}

// DSN returns the connection string for path. busy_timeout must come first
// so that the following pragmas themselves wait for a lock.
func DSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "temp_store(MEMORY)")
	// Writers take the lock at BEGIN, so two transactions queue behind the
	// busy timeout instead of failing with SQLITE_BUSY when one upgrades.
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// Open opens (creating if needed) the database at path and applies every
// embedded migration plus extra ones (owned by other packages: audit,
// guest codes, mail outbox, recordings) in name order.
func Open(ctx context.Context, path string, extra ...Migration) (*DB, error) {
	if dir := filepath.Dir(path); dir != "" {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("sqlite: data directory %q does not exist", dir)
		}
	}
	db, err := sql.Open("sqlite", DSN(path))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// One writer at a time is SQLite's model; a small pool lets readers
	// proceed under WAL while a writer holds the lock.
	db.SetMaxOpenConns(8)
	d := &DB{db: db, Path: path, Now: time.Now, extra: extra}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, explainOpenError(path, err)
	}
	if err := d.migrate(ctx); err != nil {
		db.Close()
		return nil, explainOpenError(path, err)
	}
	return d, nil
}

func explainOpenError(path string, err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "database is locked") || strings.Contains(msg, "SQLITE_BUSY"):
		return fmt.Errorf("sqlite: database %s is locked by another process; stop it or choose another --data directory: %w", path, err)
	case strings.Contains(msg, "file is not a database") || strings.Contains(msg, "SQLITE_NOTADB"):
		return fmt.Errorf("sqlite: %s is not a Mötesvakt database: %w", path, err)
	}
	return fmt.Errorf("sqlite: %s: %w", path, err)
}

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

// SQL exposes the handle for packages that own their own tables (audit,
// guestcode, mail, recording).
func (d *DB) SQL() *sql.DB { return d.db }

func (d *DB) migrations() ([]Migration, error) {
	var ms []Migration
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		buf, err := migrationFS.ReadFile(n)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Name: strings.TrimSuffix(filepath.Base(n), ".sql"), SQL: string(buf)})
	}
	ms = append(ms, d.extra...)
	sort.Slice(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
	for i := 1; i < len(ms); i++ {
		if ms[i].Name == ms[i-1].Name {
			return nil, fmt.Errorf("sqlite: migration %q defined twice", ms[i].Name)
		}
	}
	return ms, nil
}

// migrate applies pending migrations, each in its own transaction together
// with its row in the migrations table, so a crash leaves no half schema.
func (d *DB) migrate(ctx context.Context) error {
	if _, err := d.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("create migrations table: %w", err)
	}
	ms, err := d.migrations()
	if err != nil {
		return err
	}
	for _, m := range ms {
		if err := d.apply(ctx, m); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
	}
	return nil
}

func (d *DB) apply(ctx context.Context, m Migration) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM migrations WHERE name = ?`, m.Name).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO migrations (name, applied_at) VALUES (?, ?)`, m.Name, d.Now().UnixMilli()); err != nil {
		return err
	}
	return tx.Commit()
}

// Ready reports whether the store answers and every migration is applied.
func (d *DB) Ready(ctx context.Context) error {
	ms, err := d.migrations()
	if err != nil {
		return err
	}
	var n int
	if err := d.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM migrations`).Scan(&n); err != nil {
		return fmt.Errorf("sqlite: not reachable: %w", err)
	}
	if n < len(ms) {
		return fmt.Errorf("sqlite: %d of %d migrations applied", n, len(ms))
	}
	return nil
}

// Tx is a transaction that carries one timestamp for everything it writes.
type Tx struct {
	*sql.Tx
	db  *DB
	Now time.Time
}

// BeginTx starts a transaction with now = d.Now() truncated to milliseconds,
// the resolution every table stores.
func (d *DB) BeginTx(ctx context.Context, opts *sql.TxOptions) (*Tx, error) {
	tx, err := d.db.BeginTx(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("sqlite: begin: %w", err)
	}
	return &Tx{Tx: tx, db: d, Now: d.Now().UTC().Truncate(time.Millisecond)}, nil
}

// InTx runs fn in a transaction and commits it unless fn fails.
func (d *DB) InTx(ctx context.Context, fn func(*Tx) error) error {
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func notFound(err error, key string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return backend.Errorf(backend.ENOTFOUND, key)
	}
	return err
}
