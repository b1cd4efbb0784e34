package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/motesvakt/motesvakt/backend/audit"
	"github.com/motesvakt/motesvakt/backend/recording"
	"github.com/motesvakt/motesvakt/backend/sqlite"
)

// TestRecordingCLI: list shows a recording; decrypt writes the plaintext to
// a 0600 file and audits the access; a missing key file is a clear error.
func TestRecordingCLI(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(data, "motesvakt.db"),
		sqlite.Migration{Name: "0100_audit", SQL: audit.Schema}, sqlite.Migration{Name: "0101_recordings", SQL: recording.Schema})
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Data = data
	keys, err := recordingKeys(cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	store, err := recording.NewStore(db.SQL(), recordingsDir(cfg), keys)
	if err != nil {
		t.Fatal(err)
	}
	plain := bytes.Repeat([]byte("OggS-and-some-audio "), 5000)
	var id recording.ID
	err = db.InTx(ctx, func(tx *sqlite.Tx) error {
		w, err := store.Create(ctx, tx.Tx, recording.Meta{MeetingID: "mtg", Track: "t1", Kind: recording.KindAudio,
			DeleteAfter: time.Now().Add(time.Hour)}, tx.Now)
		if err != nil {
			return err
		}
		w.Write(plain)
		id = w.ID()
		_, err = store.Finish(ctx, tx.Tx, w, tx.Now)
		return err
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	var out, errb bytes.Buffer
	if code := run(ctx, []string{"recording", "list", "--data", data}, nil, &out, &errb, env(nil)); code != 0 {
		t.Fatalf("list: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), string(id)) || !strings.Contains(out.String(), "finished") {
		t.Errorf("list output:\n%s", out.String())
	}
	dst := filepath.Join(t.TempDir(), "out.ogg")
	errb.Reset()
	if code := run(ctx, []string{"recording", "decrypt", "--data", data, "--id", string(id), "--out", dst}, nil, io.Discard, &errb, env(nil)); code != 0 {
		t.Fatalf("decrypt: exit %d: %s", code, errb.String())
	}
	got, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, plain) {
		t.Errorf("decrypted %d bytes, want the %d written", len(got), len(plain))
	}
	if st, _ := os.Stat(dst); st.Mode().Perm() != 0o600 {
		t.Errorf("output mode %v, want 0600", st.Mode().Perm())
	}
	db, _ = sqlite.Open(ctx, filepath.Join(data, "motesvakt.db"))
	recs, _ := audit.List(ctx, db.SQL(), audit.Filter{Action: audit.RecordingAccessed})
	db.Close()
	if len(recs) != 1 || !strings.HasPrefix(string(recs[0].Actor), "cli:") || recs[0].Subject != "recording:"+string(id) {
		t.Errorf("audit = %+v", recs)
	}

	nokeys := t.TempDir()
	if b, err := os.ReadFile(filepath.Join(data, "motesvakt.db")); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(filepath.Join(nokeys, "motesvakt.db"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown id", []string{"recording", "decrypt", "--data", data, "--id", "rec_nope"}, "not found"},
		{"no id", []string{"recording", "decrypt", "--data", data}, "--id is required"},
		{"no key file", []string{"recording", "decrypt", "--data", nokeys, "--id", string(id)}, "key file"},
		{"unknown sub", []string{"recording", "play"}, "unknown subcommand"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var errb bytes.Buffer
			if code := run(ctx, tc.args, nil, io.Discard, &errb, env(nil)); code == 0 {
				t.Fatal("exit 0")
			}
			if !strings.Contains(errb.String(), tc.want) {
				t.Errorf("stderr = %q, want %q", errb.String(), tc.want)
			}
		})
	}
}
