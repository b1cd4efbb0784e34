package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/motesvakt/motesvakt/backend/audit"
	"github.com/motesvakt/motesvakt/backend/sqlite"
)

func init() { extraCommands["audit"] = cmdAudit }

// cmdAudit: `audit verify` checks the hash chain and exits non-zero naming
// the first bad entry; `audit export` writes JSON Lines for a SIEM.
func cmdAudit(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 || (args[0] != "verify" && args[0] != "export") {
		fmt.Fprintln(stderr, "usage: motesvakt audit verify|export [--data DIR] [--json] [--since RFC3339] [--meeting ID] [--after-seq N]")
		return exitCode(2)
	}
	sub := args[0]
	fs := flag.NewFlagSet("audit "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "verify: print the report as JSON")
	since := fs.String("since", "", "export: entries at or after this time (RFC 3339)")
	meeting := fs.String("meeting", "", "export: one meeting's entries")
	after := fs.Int64("after-seq", 0, "export: entries after this sequence number (SIEM cursor)")
	cfg, err := LoadConfig(fs, args[1:], getenv)
	if err != nil {
		return err
	}
	db, err := openExisting(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	switch sub {
	case "verify":
		rep, err := audit.Verify(ctx, db.SQL())
		if err != nil {
			return err
		}
		if *asJSON {
			json.NewEncoder(stdout).Encode(rep)
		} else if rep.OK {
			fmt.Fprintf(stdout, "audit log intact: %d entries, head %d %s\n", rep.Entries, rep.Head.Seq, rep.Head.Hash)
		}
		if !rep.OK {
			fmt.Fprintf(stderr, "audit log BROKEN at entry %d: %s (%d entries before it are intact)\n", *rep.FirstBad, rep.Reason, rep.Entries)
			return exitCode(1)
		}
		return nil
	default:
		f := audit.Filter{MeetingID: *meeting, AfterSeq: *after}
		if *since != "" {
			t, err := time.Parse(time.RFC3339, *since)
			if err != nil {
				return fmt.Errorf("--since %q is not an RFC 3339 time", *since)
			}
			f.Since = t
		}
		return audit.Export(ctx, db.SQL(), stdout, f)
	}
}

// openExisting opens the database of an existing data directory without
// creating anything, for the admin tools.
func openExisting(ctx context.Context, cfg Config) (*sqlite.DB, error) {
	if err := prepareData(cfg.Data, false); err != nil {
		return nil, err
	}
	path := filepath.Join(cfg.Data, "motesvakt.db")
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no database at %s (has \"motesvakt serve --data %s\" ever run?)", path, cfg.Data)
	}
	return sqlite.Open(ctx, path, migrations()...)
}
