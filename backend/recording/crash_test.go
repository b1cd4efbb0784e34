package recording

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const helperEnv = "MOTESVAKT_RECORDING_HELPER"

// stream is the deterministic plaintext the helper writes, so the parent can
// check the recovered prefix byte for byte.
func stream(seed uint64) io.Reader {
	var s [32]byte
	s[0] = byte(seed)
	return rand.NewChaCha8(s)
}

// TestHelperProcess is not a test: the crash tests run the test binary again
// with helperEnv set, and this function is the child's body.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("helper process for the crash tests")
	}
	if err := helperMain(mode, os.Getenv("HELPER_DATA")); err != nil {
		fmt.Println("ERROR", err)
		os.Exit(3)
	}
	os.Exit(0)
}

func helperMain(mode, data string) error {
	ctx := context.Background()
	if mode == "diskfull" {
		// A file size limit makes the kernel fail writes past it (EFBIG; Go
		// ignores SIGXFSZ), the same path as a full disk, without needing a
		// tiny filesystem. Only this child process is limited.
		lim := syscall.Rlimit{Cur: 512 << 10, Max: 512 << 10}
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
			return err
		}
	}
	keys, err := OpenLocalKeyFile(filepath.Join(data, "keys", "kek"))
	if err != nil {
		return err
	}
	db, err := sql.Open("sqlite", dsn(filepath.Join(data, "motesvakt.db")))
	if err != nil {
		return err
	}
	defer db.Close()
	s, err := NewStore(db, filepath.Join(data, "recordings"), keys)
	if err != nil {
		return err
	}
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	w, err := s.Create(ctx, tx, meta("crash", "audio"), t0)
	if err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	src := stream(42)
	buf := make([]byte, 10_000)
	var total int64
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		src.Read(buf)
		if _, err := w.Write(buf); err != nil {
			if mode != "diskfull" {
				return err
			}
			tx, err2 := db.Begin()
			if err2 != nil {
				return err2
			}
			_, ferr := s.Finish(ctx, tx, w, t0.Add(time.Minute))
			if err := tx.Commit(); err != nil {
				return err
			}
			fmt.Printf("FAILED %d %s\n", total, RefusalKey(ferr))
			if !errors.Is(err, ErrDiskFull) || !errors.Is(ferr, ErrDiskFull) {
				return fmt.Errorf("write error %v / finish %v, want ErrDiskFull", err, ferr)
			}
			return nil
		}
		total += int64(len(buf))
		fmt.Printf("WROTE %d\n", total)
		if mode == "kill9" {
			time.Sleep(time.Millisecond)
		}
	}
	return errors.New("helper ran out of time")
}

func startHelper(t *testing.T, mode, data string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.v=false")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, "HELPER_DATA="+data)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, bufio.NewScanner(out)
}

func TestKill9Recovery(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil) // creates the key file and schema the child reuses
	cmd, lines := startHelper(t, "kill9", e.data)

	var reported int64
	for lines.Scan() {
		line := lines.Text()
		if rest, ok := strings.CutPrefix(line, "WROTE "); ok {
			reported, _ = strconv.ParseInt(rest, 10, 64)
			if reported >= 6*chunkSize+5000 {
				break
			}
			continue
		}
		t.Fatalf("helper: %s", line)
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no deferred code runs
		t.Fatal(err)
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("helper did not die by SIGKILL: %v", err)
	}
	if reported == 0 {
		t.Fatal("helper wrote nothing")
	}

	want := make([]byte, reported+200_000)
	stream(42).Read(want)
	check := func(stage string) int64 {
		rc, err := e.store.Open(ctx, "crash")
		if err != nil {
			t.Fatalf("%s: open: %v", stage, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if !errors.Is(err, ErrTruncated) {
			t.Errorf("%s: err = %v, want ErrTruncated", stage, err)
		}
		if got, want := RefusalKey(err), "recording.playback.truncated"; got != want {
			t.Errorf("%s: RefusalKey = %q, want %q", stage, got, want)
		}
		// Every chunk the writer had completed is on disk; only the one age
		// was still filling is lost.
		if min := (reported - 1) / chunkSize * chunkSize; int64(len(got)) < min {
			t.Errorf("%s: recovered %d bytes, want at least %d (helper reported %d)", stage, len(got), min, reported)
		}
		if len(got)%chunkSize != 0 {
			t.Errorf("%s: recovered %d bytes, not whole chunks", stage, len(got))
		}
		if !bytes.Equal(got, want[:len(got)]) {
			t.Fatalf("%s: recovered bytes differ from what was written", stage)
		}
		return int64(len(got))
	}
	n := check("before recover")
	t.Logf("helper reported %d bytes written before SIGKILL; %d bytes (%d chunks) recovered", reported, n, n/chunkSize)

	if r := e.mustGet(t, "crash"); r.State != StateRecording {
		t.Fatalf("state before recover = %s", r.State)
	}
	var recs []*Recording
	if err := e.tx(t, func(tx *sql.Tx) error {
		var err error
		recs, err = e.store.Recover(ctx, tx, t0.Add(time.Hour))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("recovered %d recordings, want 1", len(recs))
	}
	r := recs[0]
	if got, want := r.State, StateInterrupted; got != want {
		t.Errorf("state = %s, want %s", got, want)
	}
	if got, want := r.Bytes, n; got != want {
		t.Errorf("bytes = %d, want %d", got, want)
	}
	if got, want := r.Finished, t0.Add(time.Hour); !got.Equal(want) {
		t.Errorf("finished = %v, want %v", got, want)
	}
	if got := check("after recover"); got != n {
		t.Errorf("after recover read %d bytes, before %d", got, n)
	}
	if _, err := e.store.OpenAt(ctx, "crash"); !errors.Is(err, ErrTruncated) {
		t.Errorf("OpenAt on interrupted recording: err = %v, want ErrTruncated", err)
	}
	// Recover is idempotent, and the track can record again.
	if err := e.tx(t, func(tx *sql.Tx) error {
		recs, err = e.store.Recover(ctx, tx, t0.Add(2*time.Hour))
		return err
	}); err != nil || len(recs) != 0 {
		t.Errorf("second recover = %d rows, %v", len(recs), err)
	}
	e.create(t, meta("again", "audio"), t0).Close()
}

func TestDiskFull(t *testing.T) {
	e := newEnv(t, nil)
	cmd, lines := startHelper(t, "diskfull", e.data)
	var result string
	for lines.Scan() {
		if line := lines.Text(); !strings.HasPrefix(line, "WROTE ") {
			result = line
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v (last line %q)", err, result)
	}
	f := strings.Fields(result)
	if len(f) != 3 || f[0] != "FAILED" || f[2] != "recording.refused.disk_full" {
		t.Fatalf("helper result %q, want FAILED <n> recording.refused.disk_full", result)
	}
	t.Logf("helper: %s", result)
	r := e.mustGet(t, "crash")
	if got, want := r.State, StateFailed; got != want {
		t.Errorf("state = %s, want %s", got, want)
	}
	if r.wrapped != nil {
		t.Errorf("failed recording kept its wrapped key")
	}
	if !strings.Contains(r.FailReason, "disk full") {
		t.Errorf("fail reason %q does not say disk full", r.FailReason)
	}
	if names := dirEntries(t, e.dir); len(names) != 0 {
		t.Errorf("files left after disk full: %v", names)
	}
	if _, err := e.store.Open(context.Background(), "crash"); !errors.Is(err, ErrFailed) {
		t.Errorf("open failed recording: err = %v, want ErrFailed", err)
	}
}

// BenchmarkEncryptingWriter writes the same 8 MiB in 4 KiB pieces three ways
// in each iteration and reports the throughputs and ratios from the same run:
//   - plain: straight to an *os.File (one syscall per piece);
//   - buffered: through a 64 KiB bufio.Writer, the same write pattern age
//     produces, so encrypted/buffered isolates the cost of the cipher;
//   - encrypted: Create/Writer/Finish with the local KEK and a SQLite row.
//
// Every variant ends with fsync.
func BenchmarkEncryptingWriter(b *testing.B) {
	e := newEnv(b, nil)
	const size = 8 << 20
	pt := mediaLike(size, 11)
	const piece = 4096 // about what pion's ivf/ogg writers hand over per frame/page
	var plain, buffered, enc time.Duration
	plainFile := func(buf bool) time.Duration {
		start := time.Now()
		f, err := os.OpenFile(filepath.Join(e.data, "plain"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			b.Fatal(err)
		}
		var w io.Writer = f
		bw := bufio.NewWriterSize(f, chunkSize)
		if buf {
			w = bw
		}
		for off := 0; off < size; off += piece {
			w.Write(pt[off : off+piece])
		}
		bw.Flush()
		f.Sync()
		f.Close()
		return time.Since(start)
	}
	b.SetBytes(3 * size)
	b.ResetTimer()
	for i := range b.N {
		plain += plainFile(false)
		buffered += plainFile(true)

		start := time.Now()
		id := "b" + strconv.Itoa(i)
		w := e.create(b, meta(id, id), t0)
		for off := 0; off < size; off += piece {
			w.Write(pt[off : off+piece])
		}
		if _, err := e.finish(b, w, t0); err != nil {
			b.Fatal(err)
		}
		enc += time.Since(start)
		os.Remove(filepath.Join(e.dir, id+fileExt))
	}
	mbps := func(d time.Duration) float64 { return float64(size) * float64(b.N) / d.Seconds() / 1e6 }
	b.ReportMetric(mbps(plain), "plain-MB/s")
	b.ReportMetric(mbps(buffered), "buffered-MB/s")
	b.ReportMetric(mbps(enc), "encrypted-MB/s")
	b.ReportMetric(enc.Seconds()/plain.Seconds(), "enc/plain")
	b.ReportMetric(enc.Seconds()/buffered.Seconds(), "enc/buffered")
}
