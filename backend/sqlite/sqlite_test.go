package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/sqlite"
)

// MustOpenDB opens a fresh database file in a temp dir with a fixed clock.
func MustOpenDB(tb testing.TB, extra ...sqlite.Migration) (*sqlite.DB, *time.Time) {
	tb.Helper()
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	db, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "motesvakt.db"), extra...)
	if err != nil {
		tb.Fatal(err)
	}
	db.Now = func() time.Time { return now }
	tb.Cleanup(func() { db.Close() })
	return db, &now
}

func TestOpen(t *testing.T) {
	t.Run("MigrationsApplyOnceAndReady", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "m.db")
		extra := sqlite.Migration{Name: "9000_extra", SQL: `CREATE TABLE extra (x INTEGER)`}
		db, err := sqlite.Open(context.Background(), path, extra)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Ready(context.Background()); err != nil {
			t.Fatalf("Ready: %v", err)
		}
		db.Close()
		// Reopening must not re-run (CREATE TABLE without IF NOT EXISTS would fail).
		db, err = sqlite.Open(context.Background(), path, extra)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer db.Close()
		var mode string
		if err := db.SQL().QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
			t.Errorf("journal_mode = %q, %v; want wal", mode, err)
		}
		var fk int
		if err := db.SQL().QueryRow(`PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
			t.Errorf("foreign_keys = %d, %v; want 1", fk, err)
		}
	})
	t.Run("ErrMissingDirectory", func(t *testing.T) {
		_, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "nope", "m.db"))
		if err == nil || !strings.Contains(err.Error(), "does not exist") {
			t.Fatalf("err = %v, want a clear missing-directory error", err)
		}
	})
	t.Run("ErrNotADatabase", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "m.db")
		os.WriteFile(path, []byte(strings.Repeat("this is not sqlite ", 100)), 0o600)
		_, err := sqlite.Open(context.Background(), path)
		if err == nil || !strings.Contains(err.Error(), "not a Mötesvakt database") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("ErrLocked", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "m.db")
		db, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		// Another process's connection holds the write lock while we open.
		locker, err := sql.Open("sqlite", sqlite.DSN(path))
		if err != nil {
			t.Fatal(err)
		}
		defer locker.Close()
		conn, err := locker.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(context.Background(), `BEGIN IMMEDIATE`); err != nil {
			t.Fatal(err)
		}
		defer conn.ExecContext(context.Background(), `ROLLBACK`)
		start := time.Now()
		_, err = sqlite.Open(context.Background(), path, sqlite.Migration{Name: "9999_needs_write", SQL: `CREATE TABLE w (x INTEGER)`})
		if err == nil || !strings.Contains(err.Error(), "locked") {
			t.Fatalf("err = %v, want locked", err)
		}
		if time.Since(start) > 30*time.Second {
			t.Errorf("gave up only after %v", time.Since(start))
		}
	})
}

func TestSessions(t *testing.T) {
	ctx := context.Background()
	db, now := MustOpenDB(t)
	var user *backend.User
	err := db.InTx(ctx, func(tx *sqlite.Tx) error {
		var err error
		user, err = tx.UpsertUser(ctx, "https://idp.example", "sub-1", "anna@kommun.se", "Anna")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	s := &backend.Session{Kind: backend.SessionUser, UserID: user.ID, Email: user.Email, Roles: []backend.Role{backend.RoleHost, backend.RoleAdmin}, MFA: true, Expires: now.Add(time.Hour)}
	id, err := db.CreateSession(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(id) < 40 {
		t.Errorf("session id %d chars; want ≥ 256 bits", len(id))
	}
	t.Run("Find", func(t *testing.T) {
		got, err := db.FindSession(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !got.HasRole(backend.RoleAdmin) || !got.MFA || got.UserID != user.ID {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("OnlyHashStored", func(t *testing.T) {
		var n int
		db.SQL().QueryRow(`SELECT COUNT(*) FROM sessions WHERE id_hash = ?`, string(id)).Scan(&n)
		if n != 0 {
			t.Error("raw session id stored")
		}
	})
	t.Run("Expired", func(t *testing.T) {
		old := *now
		*now = now.Add(2 * time.Hour)
		defer func() { *now = old }()
		if _, err := db.FindSession(ctx, id); backend.ErrorCode(err) != backend.EUNAUTHORIZED {
			t.Errorf("err = %v, want unauthorized", err)
		}
	})
	t.Run("Delete", func(t *testing.T) {
		if err := db.DeleteSession(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := db.FindSession(ctx, id); backend.ErrorCode(err) != backend.EUNAUTHORIZED {
			t.Errorf("err = %v, want unauthorized", err)
		}
	})
	t.Run("UserStableAcrossEmailChange", func(t *testing.T) {
		var again *backend.User
		db.InTx(ctx, func(tx *sqlite.Tx) error {
			again, err = tx.UpsertUser(ctx, "https://idp.example", "sub-1", "anna.a@kommun.se", "Anna A")
			return err
		})
		if again.ID != user.ID {
			t.Errorf("id changed: %s → %s", user.ID, again.ID)
		}
	})
}

func TestOIDCFlowSingleUse(t *testing.T) {
	ctx := context.Background()
	db, now := MustOpenDB(t)
	f := sqlite.OIDCFlow{State: "s1", Nonce: "n1", Verifier: "v1", ReturnTo: "/x", Expires: now.Add(10 * time.Minute)}
	if err := db.SaveOIDCFlow(ctx, f); err != nil {
		t.Fatal(err)
	}
	got, err := db.TakeOIDCFlow(ctx, "s1")
	if err != nil || got.Nonce != "n1" || got.ReturnTo != "/x" {
		t.Fatalf("got %+v, %v", got, err)
	}
	if _, err := db.TakeOIDCFlow(ctx, "s1"); backend.ErrorCode(err) != backend.EINVALID {
		t.Errorf("second take: %v, want invalid", err)
	}
	db.SaveOIDCFlow(ctx, sqlite.OIDCFlow{State: "s2", Expires: now.Add(-time.Second)})
	if _, err := db.TakeOIDCFlow(ctx, "s2"); backend.ErrorCode(err) != backend.EINVALID {
		t.Errorf("expired take: %v, want invalid", err)
	}
}
