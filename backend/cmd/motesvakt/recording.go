package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/motesvakt/motesvakt/backend/audit"
	"github.com/motesvakt/motesvakt/backend/recording"
	"github.com/motesvakt/motesvakt/backend/sqlite"
)

func init() { extraCommands["recording"] = cmdRecording }

const recordingUsage = `Usage:
  motesvakt recording list    [--meeting ID] [--data DIR]
  motesvakt recording decrypt --id ID [--out FILE] [--data DIR]

decrypt writes the plaintext (Ogg/Opus or IVF/VP8) to --out (created 0600)
or stdout. It needs the key-encryption key: <data>/keys/kek, or the Vault
settings (--vault-addr, --vault-token-file, --vault-transit-key). Every
decryption is written to the audit log first; if it cannot be, nothing is
decrypted.
`

// recordingsDir is where serve keeps the encrypted files.
func recordingsDir(cfg Config) string { return filepath.Join(cfg.Data, "recordings") }

// recordingKeys returns the key provider serve uses: Vault transit when
// configured, else the local key file. The CLI never creates a key file: a
// fresh KEK could not decrypt anything.
func recordingKeys(cfg Config, create bool) (recording.KeyProvider, error) {
	if cfg.VaultAddr != "" {
		mount, key := "transit", cfg.VaultTransit
		if i := strings.LastIndex(cfg.VaultTransit, "/"); i > 0 {
			mount, key = cfg.VaultTransit[:i], cfg.VaultTransit[i+1:]
		}
		return recording.NewVaultTransit(recording.VaultConfig{Addr: cfg.VaultAddr, Mount: mount, Key: key, Token: cfg.VaultToken})
	}
	path := filepath.Join(cfg.Data, "keys", "kek")
	if !create {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("key file %s: %w (is --data right?)", path, err)
		}
	}
	return recording.OpenLocalKeyFile(path)
}

func cmdRecording(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, recordingUsage)
		return exitCode(2)
	}
	sub, rest := args[0], args[1:]
	fs := flag.NewFlagSet("recording "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var id, out, meeting *string
	switch sub {
	case "decrypt":
		id = fs.String("id", "", "recording id (see recording list)")
		out = fs.String("out", "", "write the plaintext here (mode 0600) instead of stdout")
	case "list":
		meeting = fs.String("meeting", "", "only this meeting's recordings")
	default:
		fmt.Fprintf(stderr, "motesvakt recording: unknown subcommand %q\n\n%s", sub, recordingUsage)
		return exitCode(2)
	}
	cfg, err := LoadConfig(fs, rest, getenv)
	if err != nil {
		return err
	}
	if err := prepareData(cfg.Data, false); err != nil {
		return err
	}
	db, err := sqlite.Open(ctx, filepath.Join(cfg.Data, "motesvakt.db"), migrations()...)
	if err != nil {
		return err
	}
	defer db.Close()
	if sub == "list" {
		return listRecordings(ctx, db, recordingsDir(cfg), *meeting, stdout)
	}
	if *id == "" {
		fmt.Fprint(stderr, "motesvakt recording decrypt: --id is required\n\n"+recordingUsage)
		return exitCode(2)
	}
	keys, err := recordingKeys(cfg, false)
	if err != nil {
		return err
	}
	return decryptRecording(ctx, db, keys, recordingsDir(cfg), recording.ID(*id), *out, stdout, stderr)
}

func listRecordings(ctx context.Context, db *sqlite.DB, dir, meeting string, stdout io.Writer) error {
	q := `SELECT id, meeting_id FROM recordings ORDER BY created, id`
	args := []any{}
	if meeting != "" {
		q = `SELECT id, meeting_id FROM recordings WHERE meeting_id = ? ORDER BY created, id`
		args = append(args, meeting)
	}
	rows, err := db.SQL().QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("list recordings: %w", err)
	}
	seen := map[string]bool{}
	var meetings []string
	for rows.Next() {
		var id, m string
		if err := rows.Scan(&id, &m); err != nil {
			rows.Close()
			return err
		}
		if !seen[m] {
			seen[m] = true
			meetings = append(meetings, m)
		}
	}
	rows.Close()
	// The store's reader keeps the row decoding in one place.
	store, err := recording.NewStore(db.SQL(), dir, nil)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tMEETING\tKIND\tSTATE\tBYTES\tCREATED\tDELETE AFTER\tHOLD")
	for _, m := range meetings {
		recs, err := store.ListMeeting(ctx, recording.MeetingID(m))
		if err != nil {
			return err
		}
		for _, r := range recs {
			hold := ""
			if r.LegalHold {
				hold = "legal hold"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", r.ID, r.MeetingID, r.Kind, r.State, r.Bytes,
				r.Created.Format(time.RFC3339), r.DeleteAfter.Format(time.RFC3339), hold)
		}
	}
	return w.Flush()
}

func cliActor() audit.Actor {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	return audit.Actor("cli:" + strings.Map(func(r rune) rune {
		if r <= ' ' {
			return '_'
		}
		return r
	}, name))
}

func decryptRecording(ctx context.Context, db *sqlite.DB, keys recording.KeyProvider, dir string, id recording.ID, out string, stdout, stderr io.Writer) error {
	store, err := recording.NewStore(db.SQL(), dir, keys)
	if err != nil {
		return err
	}
	r, err := store.Get(ctx, id)
	if err != nil {
		return err
	}
	if r.State == recording.StateFailed {
		return fmt.Errorf("recording %s failed while being written and holds nothing", id)
	}
	// Audit first: an admin decryption that leaves no trace is exactly what
	// the log exists to prevent.
	how := "cli_decrypt_stdout"
	if out != "" {
		how = "cli_decrypt_file"
	}
	if err := db.InTx(ctx, func(tx *sqlite.Tx) error {
		_, err := audit.Append(ctx, tx.Tx, audit.Entry{Time: tx.Now, Actor: cliActor(), Action: audit.RecordingAccessed,
			MeetingID: string(r.MeetingID), Subject: "recording:" + string(id), Outcome: audit.Success, Details: map[string]string{"how": how}})
		return err
	}); err != nil {
		return fmt.Errorf("audit the decryption (nothing was decrypted): %w", err)
	}
	w := stdout
	var f *os.File
	if out != "" {
		if f, err = os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
			return err
		}
		w = f
	}
	n, err := recording.DecryptFile(ctx, filepath.Join(store.Dir(), filepath.Base(r.Path)), r.WrappedKey(), keys, w)
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	switch {
	case errors.Is(err, recording.ErrTruncated):
		fmt.Fprintf(stderr, "motesvakt recording decrypt: %s was interrupted; wrote the %d authentic bytes before the cut\n", id, n)
		return nil
	case err != nil:
		if f != nil {
			os.Remove(out)
		}
		return err
	}
	if out != "" {
		fmt.Fprintf(stderr, "motesvakt recording decrypt: wrote %d plaintext bytes to %s; delete it when done\n", n, out)
	}
	return nil
}
