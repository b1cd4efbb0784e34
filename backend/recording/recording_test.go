package recording

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/motesvakt/motesvakt/locales"
)

// mediaLike builds n bytes that look like what the recorder writes: an IVF
// file header and frame headers, Ogg pages, stretches of digital silence
// (zeros, the worst case for a weak cipher) and random payload.
func mediaLike(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var b bytes.Buffer
	b.WriteString("DKIF")
	binary.Write(&b, binary.LittleEndian, uint16(0))
	binary.Write(&b, binary.LittleEndian, uint16(32))
	b.WriteString("VP80")
	b.Write(make([]byte, 20))
	for b.Len() < n {
		switch r.IntN(3) {
		case 0:
			b.WriteString("OggS\x00\x00")
			b.Write(make([]byte, 500))
		case 1:
			b.Write(make([]byte, 3000)) // silence
		default:
			frame := make([]byte, 200+r.IntN(4000))
			for i := range frame {
				frame[i] = byte(r.Uint32())
			}
			binary.Write(&b, binary.LittleEndian, uint32(len(frame)))
			b.Write(frame)
		}
	}
	return b.Bytes()[:n]
}

// plaintextRun returns the offset in ct of any 32-byte window of pt, or -1.
// Rabin–Karp over every window of both, with byte comparison on hash hits.
func plaintextRun(pt, ct []byte) int {
	const w = 32
	const base = 1099511628211
	var pow uint64 = 1
	for range w - 1 {
		pow *= base
	}
	hashes := func(b []byte, fn func(i int, h uint64) bool) {
		if len(b) < w {
			return
		}
		var h uint64
		for i := range w {
			h = h*base + uint64(b[i])
		}
		if fn(0, h) {
			return
		}
		for i := w; i < len(b); i++ {
			h = (h-uint64(b[i-w])*pow)*base + uint64(b[i])
			if fn(i-w+1, h) {
				return
			}
		}
	}
	seen := make(map[uint64]int, len(pt))
	hashes(pt, func(i int, h uint64) bool {
		if _, ok := seen[h]; !ok {
			seen[h] = i
		}
		return false
	})
	found := -1
	hashes(ct, func(i int, h uint64) bool {
		if j, ok := seen[h]; ok && bytes.Equal(ct[i:i+w], pt[j:j+w]) {
			found = i
			return true
		}
		return false
	})
	return found
}

func TestPlaintextRunDetector(t *testing.T) {
	pt := mediaLike(100_000, 1)
	ct := append(bytes.Repeat([]byte{0xAA}, 1000), pt[5000:5032]...)
	if got, want := plaintextRun(pt, ct), 1000; got != want {
		t.Fatalf("planted run found at %d, want %d", got, want)
	}
	if got := plaintextRun(pt, ct[:1031]); got != -1 {
		t.Fatalf("31-byte run reported at %d", got)
	}
}

func writeIn(t testing.TB, w io.Writer, pt []byte, seed uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	for len(pt) > 0 {
		n := min(len(pt), 1+r.IntN(20000))
		if _, err := w.Write(pt[:n]); err != nil {
			t.Fatalf("write: %v", err)
		}
		pt = pt[n:]
	}
}

func TestRoundTrip(t *testing.T) {
	vault := newFakeVault(t)
	providers := []struct {
		name string
		keys func(t *testing.T) KeyProvider
	}{
		{"local", func(t *testing.T) KeyProvider { return nil }},
		{"vault", func(t *testing.T) KeyProvider { return vault.provider(t) }},
	}
	sizes := []int{0, 1, chunkSize - 1, chunkSize, chunkSize + 1, 5*chunkSize + 12345}
	for _, p := range providers {
		e := newEnv(t, p.keys(t))
		for _, size := range sizes {
			t.Run(p.name+"/"+itoa(size), func(t *testing.T) {
				ctx := context.Background()
				pt := mediaLike(size, uint64(size)+1)
				id := "r" + itoa(size)
				w := e.create(t, meta(id, id), t0)
				writeIn(t, w, pt, uint64(size))
				rec, err := e.finish(t, w, t0.Add(time.Minute))
				if err != nil {
					t.Fatalf("finish: %v", err)
				}
				if got, want := rec.State, StateFinished; got != want {
					t.Errorf("state = %s, want %s", got, want)
				}
				if got, want := rec.Bytes, int64(size); got != want {
					t.Errorf("bytes = %d, want %d", got, want)
				}
				if got, want := rec.Provider, p.name; want == "vault" && got != ProviderVault || want == "local" && got != ProviderLocal {
					t.Errorf("provider = %q", got)
				}

				path := filepath.Join(e.dir, rec.Path)
				fi, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
					t.Errorf("file mode = %v, want %v", got, want)
				}
				ct, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				for _, magic := range []string{"OggS", "DKIF"} {
					if i := bytes.Index(ct, []byte(magic)); i >= 0 {
						t.Errorf("ciphertext holds %q at %d", magic, i)
					}
				}
				if i := plaintextRun(pt, ct); i >= 0 {
					t.Errorf("ciphertext holds a 32-byte plaintext run at %d", i)
				}
				if bytes.Contains(ct, rec.WrappedKey().Ciphertext) {
					t.Errorf("file contains the wrapped key; it must live only in the row")
				}

				rc, err := e.store.Open(ctx, ID(id))
				if err != nil {
					t.Fatalf("open: %v", err)
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					t.Fatalf("read: %v", err)
				}
				if !bytes.Equal(got, pt) {
					t.Fatalf("decrypted %d bytes, differ from the %d written", len(got), len(pt))
				}

				pb, err := e.store.OpenAt(ctx, ID(id))
				if err != nil {
					t.Fatalf("open at: %v", err)
				}
				defer pb.Close()
				if got, want := pb.Size(), int64(size); got != want {
					t.Errorf("playback size = %d, want %d", got, want)
				}
				if size > 10 {
					off, n := int64(size/3), min(size/2, 3*chunkSize)
					buf := make([]byte, n)
					if _, err := pb.ReadAt(buf, off); err != nil && err != io.EOF {
						t.Fatalf("read at: %v", err)
					}
					if !bytes.Equal(buf, pt[off:off+int64(n)]) {
						t.Errorf("range [%d,+%d) differs", off, n)
					}
				}

				var out bytes.Buffer
				n, err := DecryptFile(ctx, path, rec.WrappedKey(), e.keys, &out)
				if err != nil {
					t.Fatalf("decrypt file: %v", err)
				}
				if n != int64(size) || !bytes.Equal(out.Bytes(), pt) {
					t.Errorf("DecryptFile returned %d bytes, want %d identical", n, size)
				}
			})
		}
	}
}

func itoa(n int) string { return string(appendInt(nil, n)) }
func appendInt(b []byte, n int) []byte {
	if n >= 10 {
		b = appendInt(b, n/10)
	}
	return append(b, byte('0'+n%10))
}

func countRows(t testing.TB, q interface {
	QueryRow(string, ...any) *sql.Row
}) int {
	t.Helper()
	var n int
	if err := q.QueryRow(`SELECT COUNT(*) FROM recordings`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func dirEntries(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestCreateFailsClosed(t *testing.T) {
	vault := newFakeVault(t)
	cases := []struct {
		name  string
		keys  func(t *testing.T) KeyProvider
		want  error
		setup func()
	}{
		{"vault 503", func(t *testing.T) KeyProvider { return vault.provider(t) }, ErrProviderUnavailable,
			func() { vault.down.Store(true) }},
		{"vault closed port", func(t *testing.T) KeyProvider {
			p, err := NewVaultTransit(VaultConfig{Addr: closedPortAddr(t), Key: "kek", Token: "x"})
			if err != nil {
				t.Fatal(err)
			}
			return p
		}, ErrProviderUnavailable, func() {}},
		{"vault decrypt down (test unwrap)", func(t *testing.T) KeyProvider { return vault.provider(t) }, ErrProviderUnavailable,
			func() { vault.down.Store(false); vault.decryptDown.Store(true) }},
		{"vault bad token", func(t *testing.T) KeyProvider {
			p, _ := NewVaultTransit(VaultConfig{Addr: vault.URL, Key: "kek", Token: "wrong"})
			return p
		}, ErrProviderUnavailable, func() { vault.decryptDown.Store(false) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.setup()
			e := newEnv(t, c.keys(t))
			if err := e.keys.Check(context.Background()); err == nil {
				t.Errorf("Check passed for a broken provider")
			}
			tx, err := e.db.Begin()
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			w, err := e.store.Create(context.Background(), tx, meta("r1", "a"), t0)
			if err == nil {
				w.Close()
				t.Fatal("Create succeeded with the key provider down")
			}
			if !errors.Is(err, c.want) {
				t.Errorf("err = %v, want %v", err, c.want)
			}
			if got, want := RefusalKey(err), "recording.refused.provider_down"; got != want {
				t.Errorf("RefusalKey = %q, want %q", got, want)
			}
			if got := countRows(t, tx); got != 0 {
				t.Errorf("%d rows written inside the tx", got)
			}
			if got := dirEntries(t, e.dir); len(got) != 0 {
				t.Errorf("files written: %v", got)
			}
		})
	}
}

func TestWrappedKeyIntegrity(t *testing.T) {
	vault := newFakeVault(t)
	for _, p := range []struct {
		name string
		keys KeyProvider
	}{{"local", nil}, {"vault", vault.provider(t)}} {
		t.Run(p.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, p.keys)
			for _, id := range []string{"a", "b"} {
				w := e.create(t, meta(id, id), t0)
				writeIn(t, w, mediaLike(100_000, 3), 1)
				if _, err := e.finish(t, w, t0); err != nil {
					t.Fatal(err)
				}
			}
			var ka, kb []byte
			e.db.QueryRow(`SELECT wrapped_key FROM recordings WHERE id='a'`).Scan(&ka)
			e.db.QueryRow(`SELECT wrapped_key FROM recordings WHERE id='b'`).Scan(&kb)

			mutations := []struct {
				name string
				sql  string
				args []any
			}{
				{"flipped bit", `UPDATE recordings SET wrapped_key = ? WHERE id = 'a'`, []any{flip(ka, len(ka)-3)}},
				{"key of another recording", `UPDATE recordings SET wrapped_key = ? WHERE id = 'a'`, []any{kb}},
				{"wrong kek id", `UPDATE recordings SET wrapped_key = ?, kek_id = 'other' WHERE id = 'a'`, []any{ka}},
				{"wrong provider", `UPDATE recordings SET wrapped_key = ?, kek_id = ?, key_provider = 'x' WHERE id = 'a'`, []any{ka, e.mustGet(t, "b").KeyID}},
			}
			for _, m := range mutations {
				t.Run(m.name, func(t *testing.T) {
					if _, err := e.db.Exec(m.sql, m.args...); err != nil {
						t.Fatal(err)
					}
					rc, err := e.store.Open(ctx, "a")
					if err == nil {
						_, err = io.ReadAll(rc)
						rc.Close()
					}
					if !errors.Is(err, ErrWrongKey) {
						t.Errorf("open with %s: err = %v, want ErrWrongKey", m.name, err)
					}
					_, err = e.store.OpenAt(ctx, "a")
					if !errors.Is(err, ErrWrongKey) {
						t.Errorf("open at with %s: err = %v, want ErrWrongKey", m.name, err)
					}
				})
			}

			// A file copied over another recording's file names the wrong row in
			// its stanza; the identity refuses before asking the provider.
			if _, err := e.db.Exec(`UPDATE recordings SET wrapped_key = ?, key_provider = ?, kek_id = ? WHERE id = 'a'`,
				ka, e.mustGet(t, "b").Provider, e.mustGet(t, "b").KeyID); err != nil {
				t.Fatal(err)
			}
			fb, _ := os.ReadFile(filepath.Join(e.dir, "b.age"))
			os.WriteFile(filepath.Join(e.dir, "a.age"), fb, 0o600)
			if _, err := e.store.Open(ctx, "a"); !errors.Is(err, ErrWrongKey) {
				t.Errorf("swapped file: err = %v, want ErrWrongKey", err)
			}
		})
	}
}

func (e *env) mustGet(t testing.TB, id ID) *Recording {
	t.Helper()
	r, err := e.store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

func TestTamperAndTruncation(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	pt := mediaLike(5*chunkSize+500, 9)
	w := e.create(t, meta("t", "t"), t0)
	writeIn(t, w, pt, 2)
	if _, err := e.finish(t, w, t0); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(e.dir, "t.age")
	orig, _ := os.ReadFile(path)
	payload := len(orig) - (5*encChunkSize + 500 + 16) // header + nonce length

	cases := []struct {
		name      string
		file      []byte
		truncated bool
		readable  int // plaintext bytes delivered before the error
	}{
		{"cut at chunk boundary", orig[:payload+3*encChunkSize], true, 3 * chunkSize},
		{"torn chunk", orig[:payload+3*encChunkSize+1000], true, 3 * chunkSize},
		{"last chunk missing", orig[:payload+5*encChunkSize], true, 5 * chunkSize},
		{"middle chunk damaged", flip(orig, payload+2*encChunkSize+77), false, 2 * chunkSize},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := os.WriteFile(path, c.file, 0o600); err != nil {
				t.Fatal(err)
			}
			rc, err := e.store.Open(ctx, "t")
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if got, want := errors.Is(err, ErrTruncated), c.truncated; got != want {
				t.Errorf("ErrTruncated = %v, want %v (err %v)", got, want, err)
			}
			if err == nil {
				t.Fatal("damaged file read without error")
			}
			if len(got) != c.readable || !bytes.Equal(got, pt[:len(got)]) {
				t.Errorf("read %d bytes, want the first %d of the plaintext", len(got), c.readable)
			}
		})
	}
}

func TestAlreadyRecording(t *testing.T) {
	e := newEnv(t, nil)
	w := e.create(t, meta("one", "audio-1"), t0)
	err := e.tx(t, func(tx *sql.Tx) error {
		_, err := e.store.Create(context.Background(), tx, meta("two", "audio-1"), t0)
		return err
	})
	if !errors.Is(err, ErrAlreadyRecording) {
		t.Fatalf("second Create: err = %v, want ErrAlreadyRecording", err)
	}
	if got, want := RefusalKey(err), "recording.refused.already_recording"; got != want {
		t.Errorf("RefusalKey = %q, want %q", got, want)
	}
	if got := dirEntries(t, e.dir); len(got) != 1 {
		t.Errorf("files = %v, want only the first recording", got)
	}
	// Another track of the same meeting, and the same track after finishing,
	// may record.
	e.create(t, meta("video", "video-1"), t0).Close()
	if _, err := e.finish(t, w, t0); err != nil {
		t.Fatal(err)
	}
	e.create(t, meta("three", "audio-1"), t0).Close()
}

func TestLocalKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys", "kek")
	k1, err := OpenLocalKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
		t.Errorf("new key file mode = %v, want %v", got, want)
	}
	if got, want := fi.Size(), int64(32); got != want {
		t.Errorf("key file size = %d, want %d", got, want)
	}
	k2, err := OpenLocalKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if k1.KeyID() != k2.KeyID() {
		t.Errorf("reopened key has id %s, first %s", k2.KeyID(), k1.KeyID())
	}
	ctx := WithRecordingID(context.Background(), "rec1")
	dek := []byte("0123456789abcdef")
	wk, err := k1.Wrap(ctx, dek)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := k2.Unwrap(ctx, wk); err != nil || !bytes.Equal(got, dek) {
		t.Fatalf("unwrap after reopen = %x, %v", got, err)
	}
	other := wk
	other.Recording = "rec2"
	if _, err := k1.Unwrap(ctx, other); !errors.Is(err, ErrWrongKey) {
		t.Errorf("unwrap bound to another recording: err = %v, want ErrWrongKey", err)
	}
	if _, err := k1.Wrap(context.Background(), dek); err == nil {
		t.Errorf("wrap without a recording id succeeded")
	}
	if err := k1.Check(context.Background()); err != nil {
		t.Errorf("check: %v", err)
	}

	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		t.Run(mode.String(), func(t *testing.T) {
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			if _, err := OpenLocalKeyFile(path); !errors.Is(err, ErrKeyFileMode) {
				t.Errorf("open with mode %v: err = %v, want ErrKeyFileMode", mode, err)
			}
			if err := k1.Check(context.Background()); !errors.Is(err, ErrKeyFileMode) {
				t.Errorf("check with mode %v: err = %v, want ErrKeyFileMode", mode, err)
			}
		})
	}
	os.Chmod(path, 0o400)
	if _, err := OpenLocalKeyFile(path); err != nil {
		t.Errorf("read-only 0400 key file refused: %v", err)
	}
	os.Remove(path)
	if _, err := OpenLocalKeyFile(path); err != nil {
		t.Fatal(err)
	}
	if err := k1.Check(context.Background()); err == nil {
		t.Errorf("check passed after the key file was replaced")
	}

	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("too short"), 0o600)
	if _, err := OpenLocalKeyFile(short); err == nil {
		t.Errorf("9-byte key file accepted")
	}
}

func TestVaultKeyVersions(t *testing.T) {
	vault := newFakeVault(t)
	p := vault.provider(t)
	ctx := WithRecordingID(context.Background(), "r")
	dek := []byte("fedcba9876543210")
	wk1, err := p.Wrap(ctx, dek)
	if err != nil {
		t.Fatal(err)
	}
	vault.rotate()
	wk2, err := p.Wrap(ctx, dek)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := []int{wk1.KeyVersion, wk2.KeyVersion}, []int{1, 2}; got[0] != want[0] || got[1] != want[1] {
		t.Errorf("key versions = %v, want %v", got, want)
	}
	if got, want := wk1.KeyID, "transit/kek"; got != want {
		t.Errorf("key id = %q, want %q", got, want)
	}
	for _, wk := range []WrappedKey{wk1, wk2} {
		if got, err := p.Unwrap(ctx, wk); err != nil || !bytes.Equal(got, dek) {
			t.Errorf("unwrap v%d = %x, %v", wk.KeyVersion, got, err)
		}
	}
	bad := wk2
	bad.Recording = "other"
	if _, err := p.Unwrap(ctx, bad); !errors.Is(err, ErrWrongKey) {
		t.Errorf("unwrap with other associated data: err = %v, want ErrWrongKey", err)
	}
	if err := p.Check(context.Background()); err != nil {
		t.Errorf("check: %v", err)
	}
}

func TestSweepRetention(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	mk := func(id string, created time.Time, days int) {
		m := meta(id, id)
		m.DeleteAfter = DeleteAfter(created, days)
		w := e.create(t, m, created)
		writeIn(t, w, mediaLike(70_000, 5), 3)
		if _, err := e.finish(t, w, created); err != nil {
			t.Fatal(err)
		}
	}
	mk("expired", t0, DefaultRetentionDays["open"])
	mk("held", t0, DefaultRetentionDays["open"])
	mk("fresh", t0.Add(20*24*time.Hour), DefaultRetentionDays["open"])
	mk("internal", t0, DefaultRetentionDays["internal"])
	active := e.create(t, Meta{ID: "active", MeetingID: "m1", Track: "x", Kind: KindVideo, DeleteAfter: DeleteAfter(t0, 1)}, t0)
	defer active.Close()
	if err := e.tx(t, func(tx *sql.Tx) error { return e.store.SetLegalHold(ctx, tx, "held", true) }); err != nil {
		t.Fatal(err)
	}
	sweep := func(now time.Time) []ID {
		var got []ID
		if err := e.tx(t, func(tx *sql.Tx) error {
			var err error
			got, err = e.store.Sweep(ctx, tx, now)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	steps := []struct {
		name    string
		now     time.Time
		release bool
		want    []ID
		left    []ID
	}{
		{"one ms early", DeleteAfter(t0, 30).Add(-time.Millisecond), false, nil, []ID{"active", "expired", "fresh", "held", "internal"}},
		{"day 30", DeleteAfter(t0, 30), false, []ID{"expired"}, []ID{"active", "fresh", "held", "internal"}},
		{"day 45, hold kept", t0.Add(45 * 24 * time.Hour), false, nil, []ID{"active", "fresh", "held", "internal"}},
		{"hold released", t0.Add(45 * 24 * time.Hour), true, []ID{"held"}, []ID{"active", "fresh", "internal"}},
		{"day 60", DeleteAfter(t0, 60), false, []ID{"fresh", "internal"}, []ID{"active"}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.release {
				if err := e.tx(t, func(tx *sql.Tx) error { return e.store.SetLegalHold(ctx, tx, "held", false) }); err != nil {
					t.Fatal(err)
				}
			}
			if got := sweep(s.now); !equalIDs(got, s.want) {
				t.Errorf("deleted %v, want %v", got, s.want)
			}
			var left []ID
			rows, _ := e.db.Query(`SELECT id FROM recordings ORDER BY id`)
			for rows.Next() {
				var id ID
				rows.Scan(&id)
				left = append(left, id)
			}
			rows.Close()
			if !equalIDs(left, s.left) {
				t.Errorf("rows left %v, want %v", left, s.left)
			}
			var files []ID
			for _, n := range dirEntries(t, e.dir) {
				files = append(files, ID(n[:len(n)-len(fileExt)]))
			}
			if !equalIDs(files, s.left) {
				t.Errorf("files left %v, want %v", files, s.left)
			}
		})
	}
	if _, err := e.store.Open(ctx, "expired"); !errors.Is(err, ErrNotFound) {
		t.Errorf("open swept recording: err = %v, want ErrNotFound", err)
	}
	if err := e.tx(t, func(tx *sql.Tx) error { return e.store.SetLegalHold(ctx, tx, "expired", true) }); !errors.Is(err, ErrNotFound) {
		t.Errorf("hold on swept recording: err = %v, want ErrNotFound", err)
	}
}

func equalIDs(a, b []ID) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDeleteAfter(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	cases := []struct {
		created time.Time
		days    int
		want    time.Time
	}{
		{t0, 30, time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)},
		{t0, 90, time.Date(2026, 5, 31, 9, 0, 0, 0, time.UTC)},
		{time.Date(2026, 3, 2, 10, 0, 0, 0, cet), 60, time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)},
		{t0, 0, t0.Add(24 * time.Hour)},
	}
	for _, c := range cases {
		if got := DeleteAfter(c.created, c.days); !got.Equal(c.want) || got.Location() != time.UTC {
			t.Errorf("DeleteAfter(%v, %d) = %v, want %v", c.created, c.days, got, c.want)
		}
	}
	if got, want := DefaultRetentionDays, map[string]int{"open": 30, "internal": 60, "protected": 90}; len(got) != 3 ||
		got["open"] != want["open"] || got["internal"] != want["internal"] || got["protected"] != want["protected"] {
		t.Errorf("DefaultRetentionDays = %v, want %v", got, want)
	}
}

func TestRecoverWithoutFile(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	gone := e.create(t, meta("gone", "a"), t0)
	gone.f.Close()
	os.Remove(filepath.Join(e.dir, "gone.age"))
	done := e.create(t, meta("done", "b"), t0)
	writeIn(t, done, mediaLike(100_000, 4), 4)
	done.Close() // crash between Close and Finish
	os.WriteFile(filepath.Join(e.dir, "orphan.age"), []byte("age-encryption.org/v1\n"), 0o600)
	os.WriteFile(filepath.Join(e.dir, "notes.txt"), []byte("not ours"), 0o600)

	var recs []*Recording
	if err := e.tx(t, func(tx *sql.Tx) error {
		var err error
		recs, err = e.store.Recover(ctx, tx, t0.Add(time.Hour))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	got := map[ID]State{}
	for _, r := range recs {
		got[r.ID] = r.State
	}
	if got["gone"] != StateFailed || got["done"] != StateFinished || len(got) != 2 {
		t.Errorf("recovered states = %v, want gone failed, done finished", got)
	}
	var key []byte
	e.db.QueryRow(`SELECT wrapped_key FROM recordings WHERE id = 'gone'`).Scan(&key)
	if key != nil {
		t.Errorf("failed recording kept its wrapped key")
	}
	if r := e.mustGet(t, "done"); r.Bytes != 100_000 {
		t.Errorf("done bytes = %d, want 100000", r.Bytes)
	}
	if names := dirEntries(t, e.dir); len(names) != 2 || names[0] != "done.age" || names[1] != "notes.txt" {
		t.Errorf("files after recover = %v, want [done.age notes.txt]", names)
	}
}

// has checks a key by rendering it: Printer.Has asks go-i18n for a plural
// form and reports plain messages as missing.
func has(p *locales.Printer, key string) bool { return p.T(key) != "["+key+"]" }

func TestLocaleKeys(t *testing.T) {
	errs := []error{ErrProviderUnavailable, ErrNotAllowed, ErrNotHost, ErrAlreadyRecording, ErrDiskFull, ErrTruncated}
	for _, l := range locales.Supported {
		p := locales.For(l)
		for _, err := range errs {
			key := RefusalKey(err)
			if key == "" || !has(p, key) {
				t.Errorf("%s: %v maps to %q, missing from the catalog", l, err, key)
			}
		}
		for _, err := range []error{ErrProviderUnavailable, ErrWrongKey, ErrTruncated, ErrFailed, ErrNotFound} {
			if key := PlaybackKey(err); !has(p, key) {
				t.Errorf("%s: playback %v maps to %q, missing from the catalog", l, err, key)
			}
		}
		for _, key := range []string{"recording.playback.unavailable", "recording.playback.failed"} {
			if !has(p, key) {
				t.Errorf("%s: %s missing", l, key)
			}
		}
	}
	if got := RefusalKey(errors.New("other")); got != "" {
		t.Errorf("RefusalKey(other) = %q, want empty", got)
	}
}
