package audit

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/motesvakt/motesvakt/locales"
	_ "modernc.org/sqlite"
)

// openDB opens a real SQLite file with the project's DSN and applies Schema.
func openDB(t testing.TB, extra string) *sql.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.db")
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(ON)&_pragma=synchronous(NORMAL)" + extra
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(Schema); err != nil {
		t.Fatal(err)
	}
	return db
}

func appendOne(t testing.TB, db *sql.DB, e Entry) Record {
	t.Helper()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	r, err := Append(context.Background(), tx, e)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return r
}

func entry(i int) Entry {
	return Entry{
		Time: t0.Add(time.Duration(i) * time.Second), Actor: UserActor("iss1", fmt.Sprintf("host%d", i%3)),
		ActorIP: "192.0.2.7", Action: KnownActions[i%len(KnownActions)], MeetingID: fmt.Sprintf("m%d", i%4),
		Subject: GuestActor(fmt.Sprintf("inv%d", i)).String(), Outcome: Success,
		Details: map[string]string{"evidence": "code", "n": fmt.Sprint(i)},
	}
}

// seed writes n entries and returns them.
func seed(t testing.TB, db *sql.DB, n int) []Record {
	t.Helper()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	out := make([]Record, n)
	for i := range n {
		if out[i], err = Append(context.Background(), tx, entry(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAppendAndVerify(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, "")
	rep, err := Verify(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Entries != 0 {
		t.Fatalf("empty log: %+v", rep)
	}
	recs := seed(t, db, 10)
	if got, want := recs[0].PrevHash, (Hash{}); got != want {
		t.Errorf("first prev_hash = %s, want zero", got)
	}
	for i := 1; i < len(recs); i++ {
		if recs[i].PrevHash != recs[i-1].Hash || recs[i].Seq != recs[i-1].Seq+1 {
			t.Fatalf("record %d does not link to %d", i, i-1)
		}
	}
	rep, err = Verify(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rep, (Report{Entries: 10, OK: true, Head: Head{10, recs[9].Hash}}); got.OK != want.OK ||
		got.Entries != want.Entries || got.Head != want.Head || got.FirstBad != nil {
		t.Errorf("Verify = %+v, want %+v", got, want)
	}
	got, err := List(ctx, db, Filter{AfterSeq: 2, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Hash != recs[2].Hash || got[0].Details["n"] != "2" || !got[0].Time.Equal(recs[2].Time) {
		t.Errorf("List after 2 = %+v, want %+v", got, recs[2])
	}
}

func TestAppendRejectsInvalidEntry(t *testing.T) {
	db := openDB(t, "")
	tx, _ := db.Begin()
	defer tx.Rollback()
	_, err := Append(context.Background(), tx, Entry{Time: t0, Actor: System, Action: CodeIssued, Outcome: Success,
		Details: map[string]string{"code": "ABCD-EFGH"}})
	if !errors.Is(err, ErrInvalidEntry) {
		t.Fatalf("err = %v, want ErrInvalidEntry", err)
	}
	if strings.Contains(err.Error(), "ABCD") {
		t.Errorf("error repeats the secret value: %v", err)
	}
}

func TestRolledBackAppendLeavesNoTrace(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, "")
	seed(t, db, 3)
	tx, _ := db.Begin()
	if _, err := Append(ctx, tx, entry(3)); err != nil {
		t.Fatal(err)
	}
	tx.Rollback()
	r := appendOne(t, db, entry(4))
	if got, want := r.Seq, Seq(4); got != want {
		t.Errorf("seq after rollback = %d, want %d", got, want)
	}
	if rep, _ := Verify(ctx, db); !rep.OK || rep.Entries != 4 {
		t.Errorf("Verify = %+v", rep)
	}
}

// TestTamperDetection changes the stored log with raw SQL, the way someone
// with file access would, and checks Verify names the first bad entry.
func TestTamperDetection(t *testing.T) {
	seqp := func(s Seq) *Seq { return &s }
	tests := []struct {
		name     string
		sql      []string
		firstBad *Seq
		reason   string
	}{
		{"actor of one entry", []string{`UPDATE audit_log SET actor = 'user:iss1:mallory' WHERE seq = 5`}, seqp(5), "altered"},
		{"outcome of one entry", []string{`UPDATE audit_log SET outcome = 'denied' WHERE seq = 3`}, seqp(3), "altered"},
		{"time of one entry", []string{`UPDATE audit_log SET ts = ts + 1 WHERE seq = 7`}, seqp(7), "altered"},
		{"detail value", []string{`UPDATE audit_log SET details = '{"evidence":"sso","n":"4"}' WHERE seq = 5`}, seqp(5), "altered"},
		{"detail added", []string{`UPDATE audit_log SET details = '{"evidence":"code","n":"4","x":"y"}' WHERE seq = 5`}, seqp(5), "altered"},
		{"details not JSON", []string{`UPDATE audit_log SET details = '{' WHERE seq = 2`}, seqp(2), "decoded"},
		{"hash not hex", []string{`UPDATE audit_log SET hash = 'zz' WHERE seq = 9`}, seqp(9), "decoded"},
		{"first entry", []string{`UPDATE audit_log SET subject = 'guest:other' WHERE seq = 1`}, seqp(1), "altered"},
		{"last entry", []string{`UPDATE audit_log SET action = 'lobby.deny' WHERE seq = 10`}, seqp(10), "altered"},
		{"deleted entry", []string{`DELETE FROM audit_log WHERE seq = 4`}, seqp(4), "missing"},
		{"deleted first entry", []string{`DELETE FROM audit_log WHERE seq = 1`}, seqp(1), "missing"},
		{"reordered entries", []string{
			`UPDATE audit_log SET seq = -1 WHERE seq = 6`,
			`UPDATE audit_log SET seq = 6 WHERE seq = 7`,
			`UPDATE audit_log SET seq = 7 WHERE seq = -1`,
		}, seqp(6), "link"},
		{"entry replaced and its hash recomputed", nil /* see below */, seqp(6), "link"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			db := openDB(t, "")
			recs := seed(t, db, 10)
			for _, q := range tt.sql {
				if _, err := db.Exec(q); err != nil {
					t.Fatal(err)
				}
			}
			if tt.sql == nil {
				// A careful forger rewrites entry 5 and its hash; the next
				// entry's prev_hash still points at the original.
				forged := recs[4]
				forged.Actor = "user:iss1:mallory"
				forged.Hash = forged.ComputeHash()
				if _, err := db.Exec(`UPDATE audit_log SET actor = ?, hash = ? WHERE seq = 5`,
					string(forged.Actor), forged.Hash.String()); err != nil {
					t.Fatal(err)
				}
			}
			rep, err := Verify(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK {
				t.Fatalf("Verify OK after tampering: %+v", rep)
			}
			if rep.FirstBad == nil || *rep.FirstBad != *tt.firstBad {
				t.Fatalf("FirstBad = %v, want %d (reason %q)", rep.FirstBad, *tt.firstBad, rep.Reason)
			}
			if !strings.Contains(rep.Reason, tt.reason) || !strings.Contains(rep.Reason, fmt.Sprint(*tt.firstBad)) {
				t.Errorf("Reason = %q, want it to mention %q and entry %d", rep.Reason, tt.reason, *tt.firstBad)
			}
			if got, want := rep.Entries, int(*tt.firstBad-1); got != want {
				t.Errorf("Entries = %d, want %d intact before the break", got, want)
			}
		})
	}
}

// TestAnchorsCatchTruncationAndRewrite: the two attacks a bare chain cannot
// reveal, caught by a head recorded outside the database.
func TestAnchorsCatchTruncationAndRewrite(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, "")
	recs := seed(t, db, 10)
	anchor := Head{Seq: 8, Hash: recs[7].Hash}
	if rep, _ := VerifyAnchored(ctx, db, anchor); !rep.OK {
		t.Fatalf("untouched log fails its anchor: %+v", rep)
	}

	if _, err := db.Exec(`DELETE FROM audit_log WHERE seq >= 7`); err != nil {
		t.Fatal(err)
	}
	if rep, _ := Verify(ctx, db); !rep.OK {
		t.Fatalf("truncated chain should still be self-consistent: %+v", rep)
	}
	rep, _ := VerifyAnchored(ctx, db, anchor)
	if rep.OK || rep.FirstBad == nil || *rep.FirstBad != 7 {
		t.Fatalf("truncation not caught by anchor: %+v", rep)
	}

	// Rewrite from entry 7 on, consistently: the chain is valid, the anchor is not.
	tx, _ := db.Begin()
	for i := 6; i < 10; i++ {
		e := entry(i)
		e.Actor = "user:iss1:mallory"
		if _, err := Append(ctx, tx, e); err != nil {
			t.Fatal(err)
		}
	}
	tx.Commit()
	if rep, _ := Verify(ctx, db); !rep.OK {
		t.Fatalf("rewritten chain should be self-consistent: %+v", rep)
	}
	rep, _ = VerifyAnchored(ctx, db, anchor)
	if rep.OK || rep.FirstBad == nil || *rep.FirstBad != 8 || !strings.Contains(rep.Reason, "anchored") {
		t.Fatalf("rewrite not caught by anchor: %+v", rep)
	}
}

func TestSQLiteAppendOnlyTriggers(t *testing.T) {
	db := openDB(t, "")
	if _, err := db.Exec(SQLiteAppendOnly); err != nil {
		t.Fatal(err)
	}
	seed(t, db, 3)
	for _, q := range []string{
		`UPDATE audit_log SET actor = 'x' WHERE seq = 2`,
		`DELETE FROM audit_log WHERE seq = 3`,
	} {
		if _, err := db.Exec(q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want append-only refusal", q, err)
		}
	}
	if r := appendOne(t, db, entry(3)); r.Seq != 4 {
		t.Errorf("append after triggers: seq %d", r.Seq)
	}
}

// isRetryable reports errors after which the caller retries the whole
// transaction: our own chain conflict and SQLite's busy/locked codes.
func isRetryable(err error) bool {
	if errors.Is(err, ErrChainConflict) {
		return true
	}
	var coded interface{ Code() int }
	if errors.As(err, &coded) {
		switch coded.Code() & 0xff {
		case 5, 6: // SQLITE_BUSY (incl. BUSY_SNAPSHOT), SQLITE_LOCKED
			return true
		}
	}
	return false
}

// TestConcurrentAppends: goroutines append in their own transactions. Some
// lose the race and retry; none may fork the chain.
func TestConcurrentAppends(t *testing.T) {
	for _, mode := range []struct{ name, dsn string }{
		{"deferred", ""},
		{"immediate", "&_txlock=immediate"},
	} {
		t.Run(mode.name, func(t *testing.T) {
			ctx := context.Background()
			db := openDB(t, mode.dsn)
			const workers, each = 8, 25
			var (
				wg        sync.WaitGroup
				mu        sync.Mutex
				retries   int
				firstFail error
			)
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range each {
						for attempt := 0; ; attempt++ {
							tx, err := db.BeginTx(ctx, nil)
							if err == nil {
								_, err = Append(ctx, tx, entry(w*each+i))
								if err == nil {
									err = tx.Commit()
								} else {
									tx.Rollback()
								}
							}
							if err == nil {
								break
							}
							if !isRetryable(err) || attempt > 200 {
								mu.Lock()
								firstFail = cmpErr(firstFail, err)
								mu.Unlock()
								return
							}
							mu.Lock()
							retries++
							mu.Unlock()
							time.Sleep(time.Millisecond)
						}
					}
				}()
			}
			wg.Wait()
			if firstFail != nil {
				t.Fatalf("append failed: %v", firstFail)
			}
			rep, err := Verify(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			if !rep.OK || rep.Entries != workers*each {
				t.Fatalf("Verify = %+v, want %d entries OK", rep, workers*each)
			}
			t.Logf("%d appends, %d retried conflicts", workers*each, retries)
		})
	}
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func TestListFilters(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, "")
	seed(t, db, 40)
	tests := []struct {
		name string
		f    Filter
		want []Seq
	}{
		{"meeting", Filter{MeetingID: "m1", Limit: 3}, []Seq{2, 6, 10}},
		{"action", Filter{Action: KnownActions[1]}, []Seq{2, 2 + Seq(len(KnownActions))}},
		{"actor and meeting", Filter{Actor: UserActor("iss1", "host0"), MeetingID: "m0", Limit: 2}, []Seq{1, 13}},
		{"subject", Filter{Subject: "guest:inv7"}, []Seq{8}},
		{"time range", Filter{Since: t0.Add(5 * time.Second), Until: t0.Add(8 * time.Second)}, []Seq{6, 7, 8}},
		{"after seq", Filter{AfterSeq: 37}, []Seq{38, 39, 40}},
		{"newest first, before", Filter{Desc: true, BeforeSeq: 30, Limit: 3}, []Seq{29, 28, 27}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := List(ctx, db, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []Seq
			for _, r := range recs {
				got = append(got, r.Seq)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("seqs = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestExportAndVerifyStream(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, "")
	recs := seed(t, db, 12)
	var buf bytes.Buffer
	if err := Export(ctx, db, &buf, Filter{}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if got, want := len(lines), 12; got != want {
		t.Fatalf("%d lines, want %d", got, want)
	}
	for _, w := range []string{`"seq":1,`, `"time":"2026-01-01T00:00:00.000Z"`, `"hash":"` + recs[0].Hash.String()} {
		if !strings.Contains(lines[0], w) {
			t.Errorf("line 1 %s lacks %s", lines[0], w)
		}
	}
	rep, err := VerifyStream(strings.NewReader(buf.String()))
	if err != nil || !rep.OK || rep.Entries != 12 || rep.Head.Hash != recs[11].Hash {
		t.Fatalf("VerifyStream = %+v, %v", rep, err)
	}

	// A SIEM cursor: the tail alone verifies against its own first prev_hash.
	buf.Reset()
	if err := Export(ctx, db, &buf, Filter{AfterSeq: 9}); err != nil {
		t.Fatal(err)
	}
	if rep, _ := VerifyStream(&buf, Head{Seq: 11, Hash: recs[10].Hash}); !rep.OK || rep.Entries != 3 {
		t.Errorf("tail VerifyStream = %+v", rep)
	}

	tampered := strings.Replace(strings.Join(lines, "\n"), `"outcome":"success"`, `"outcome":"denied"`, 1)
	if rep, _ := VerifyStream(strings.NewReader(tampered)); rep.OK || rep.FirstBad == nil || *rep.FirstBad != 1 {
		t.Errorf("tampered export: %+v", rep)
	}
	dropped := strings.Join(append(append([]string{}, lines[:4]...), lines[5:]...), "\n")
	if rep, _ := VerifyStream(strings.NewReader(dropped)); rep.OK || rep.FirstBad == nil || *rep.FirstBad != 5 {
		t.Errorf("dropped line: %+v", rep)
	}
}

// FuzzVerifyStream: arbitrary input never panics, and a report that says OK
// only ever comes with a consistent head.
func FuzzVerifyStream(f *testing.F) {
	db := openDB(f, "")
	seed(f, db, 3)
	var buf bytes.Buffer
	if err := Export(context.Background(), db, &buf, Filter{}); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte(`{"seq":1}`))
	f.Add([]byte("{}\n{}\n"))
	f.Add([]byte(`{"seq":2,"prev_hash":"` + strings.Repeat("0", 64) + `","hash":"` + strings.Repeat("1", 64) + `"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rep, err := VerifyStream(bytes.NewReader(b))
		if err != nil {
			return
		}
		if rep.OK && rep.FirstBad != nil {
			t.Fatalf("OK with FirstBad: %+v", rep)
		}
		if !rep.OK && rep.FirstBad == nil {
			t.Fatalf("not OK without FirstBad: %+v", rep)
		}
	})
}

func TestLocaleKeys(t *testing.T) {
	for _, l := range locales.Supported {
		// Printer.Has reports false for non-plural keys (locales bug), so
		// check that the key renders to something other than "[key]".
		p := hasser{locales.For(l)}
		for _, a := range KnownActions {
			if !p.Has(a.MessageKey()) {
				t.Errorf("%s: no display name for action %s (key %s)", l, a, a.MessageKey())
			}
		}
		for _, o := range []Outcome{Success, Failure, Denied} {
			if !p.Has(o.MessageKey()) {
				t.Errorf("%s: no display name for outcome %s", l, o)
			}
		}
	}
}

type hasser struct{ p *locales.Printer }

func (h hasser) Has(key string) bool { return h.p.T(key) != "["+key+"]" }
