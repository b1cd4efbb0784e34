package audit

import (
	"context"
	"database/sql"
	"encoding/json"
	"testing"
	"time"
)

// The baseline is a plain INSERT of the same columns into a table without the
// chain: no head read, no hashing, but the same secondary indexes. Both run in the same benchmark on the same
// SQLite file so the ratio is what the chain costs.
const plainSchema = `CREATE TABLE IF NOT EXISTS plain_log (
	id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, actor TEXT NOT NULL, actor_ip TEXT NOT NULL,
	action TEXT NOT NULL, meeting_id TEXT NOT NULL, subject TEXT NOT NULL, outcome TEXT NOT NULL,
	details TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS plain_log_ts ON plain_log (ts);
CREATE INDEX IF NOT EXISTS plain_log_meeting ON plain_log (meeting_id, id);
CREATE INDEX IF NOT EXISTS plain_log_action ON plain_log (action, id);`

func plainInsert(ctx context.Context, tx *sql.Tx, e Entry) error {
	d, _ := json.Marshal(e.Details)
	_, err := tx.ExecContext(ctx, `INSERT INTO plain_log (ts, actor, actor_ip, action, meeting_id, subject, outcome, details)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, e.Time.UnixMilli(), string(e.Actor), e.ActorIP, string(e.Action),
		e.MeetingID, e.Subject, string(e.Outcome), string(d))
	return err
}

// BenchmarkAppend reports entries/s for audit.Append and for the plain
// INSERT, one transaction per entry and 100 entries per transaction.
func BenchmarkAppend(b *testing.B) {
	for _, batch := range []int{1, 100} {
		name := "tx-per-entry"
		if batch > 1 {
			name = "batch-100"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			db := openDB(b, "&_txlock=immediate")
			if _, err := db.Exec(plainSchema); err != nil {
				b.Fatal(err)
			}
			run := func(n int, write func(*sql.Tx, Entry) error) time.Duration {
				start := time.Now()
				for i := 0; i < n; i += batch {
					tx, err := db.BeginTx(ctx, nil)
					if err != nil {
						b.Fatal(err)
					}
					for j := i; j < min(i+batch, n); j++ {
						if err := write(tx, entry(j)); err != nil {
							b.Fatal(err)
						}
					}
					if err := tx.Commit(); err != nil {
						b.Fatal(err)
					}
				}
				return time.Since(start)
			}
			b.ResetTimer()
			plain := run(b.N, func(tx *sql.Tx, e Entry) error { return plainInsert(ctx, tx, e) })
			chained := run(b.N, func(tx *sql.Tx, e Entry) error { _, err := Append(ctx, tx, e); return err })
			b.StopTimer()
			b.ReportMetric(float64(b.N)/chained.Seconds(), "audit-entries/s")
			b.ReportMetric(float64(b.N)/plain.Seconds(), "plain-entries/s")
			b.ReportMetric(chained.Seconds()/plain.Seconds(), "audit/plain")
		})
	}
}

// BenchmarkVerify100k times Verify over 100 000 entries against a baseline
// that reads and decodes the same rows without hashing or linking.
func BenchmarkVerify100k(b *testing.B) {
	ctx := context.Background()
	db := openDB(b, "")
	const n = 100_000
	for i := 0; i < n; i += 5000 {
		tx, _ := db.Begin()
		for j := i; j < i+5000; j++ {
			if _, err := Append(ctx, tx, entry(j)); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	scanOnly := func() {
		rows, err := db.QueryContext(ctx, `SELECT `+recordColumns+` FROM audit_log ORDER BY seq`)
		if err != nil {
			b.Fatal(err)
		}
		defer rows.Close()
		count := 0
		for rows.Next() {
			if _, _, err := scanRecord(rows); err != nil {
				b.Fatal(err)
			}
			count++
		}
		if count != n {
			b.Fatalf("scanned %d", count)
		}
	}
	var verify, scan time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		scanOnly()
		scan += time.Since(start)
		start = time.Now()
		rep, err := Verify(ctx, db)
		verify += time.Since(start)
		if err != nil || !rep.OK || rep.Entries != n {
			b.Fatalf("Verify = %+v, %v", rep, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(verify.Seconds()*1000/float64(b.N), "verify-ms")
	b.ReportMetric(scan.Seconds()*1000/float64(b.N), "scan-ms")
	b.ReportMetric(verify.Seconds()/scan.Seconds(), "verify/scan")
}
