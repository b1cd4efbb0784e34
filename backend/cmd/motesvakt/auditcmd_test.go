package main

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/motesvakt/motesvakt/backend/audit"
	"github.com/motesvakt/motesvakt/backend/sqlite"
)

func TestAuditVerifyCommand(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(data, "motesvakt.db"), migrations()...)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		db.InTx(ctx, func(tx *sqlite.Tx) error {
			_, err := audit.Append(ctx, tx.Tx, audit.Entry{Time: time.Now(), Actor: audit.System, Action: audit.RoomLocked, MeetingID: "m1", Outcome: audit.Success})
			return err
		})
	}
	db.Close()
	runAudit := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(ctx, append([]string{"audit"}, append(args, "--data", data)...), nil, &out, &errb, env(nil))
		return code, out.String(), errb.String()
	}
	if code, out, _ := runAudit("verify"); code != 0 || !strings.Contains(out, "intact: 5 entries") {
		t.Fatalf("verify intact: %d %q", code, out)
	}
	var export bytes.Buffer
	run(ctx, []string{"audit", "export", "--data", data}, nil, &export, io.Discard, env(nil))
	if n := strings.Count(export.String(), "\n"); n != 5 {
		t.Errorf("export wrote %d lines", n)
	}
	if rep, err := audit.VerifyStream(&export); err != nil || !rep.OK {
		t.Errorf("exported stream does not verify: %+v %v", rep, err)
	}
	// Tamper with entry 3 behind the application's back.
	raw, _ := sql.Open("sqlite", sqlite.DSN(filepath.Join(data, "motesvakt.db")))
	if _, err := raw.Exec(`UPDATE audit_log SET meeting_id = 'm2' WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	code, _, errOut := runAudit("verify")
	if code == 0 || !strings.Contains(errOut, "BROKEN at entry 3") {
		t.Errorf("tampered verify: %d %q", code, errOut)
	}
	if code, _, errOut := run2(ctx, "audit", "verify", "--data", filepath.Join(data, "nope")); code == 0 || !strings.Contains(errOut, "does not exist") {
		t.Errorf("missing data dir: %d %q", code, errOut)
	}
}

func run2(ctx context.Context, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(ctx, args, nil, &out, &errb, env(nil))
	return code, out.String(), errb.String()
}

// TestSignInFailedAudited: a refused sign-in leaves an entry with the
// reason's key and the address, and nothing about who it claimed to be.
func TestSignInFailedAudited(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "m.db"), migrations()...)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	auditHooks{}.SignInFailed(ctx, db, "127.0.0.1", "auth.bad_nonce")
	recs, err := audit.List(ctx, db.SQL(), audit.Filter{Action: audit.SignInFailed})
	if err != nil || len(recs) != 1 {
		t.Fatalf("%v %v", recs, err)
	}
	if r := recs[0]; r.Actor != audit.Anonymous || r.Outcome != audit.Failure || r.Details["reason"] != "auth.bad_nonce" || r.ActorIP != "127.0.0.1" {
		t.Errorf("entry %+v", r)
	}
}
