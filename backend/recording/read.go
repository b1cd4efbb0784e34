package recording

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
)

// age's payload layout (C2SP age.md): a 16-byte nonce, then 64 KiB plaintext
// chunks sealed with a 16-byte Poly1305 tag.
const (
	chunkSize    = 64 << 10
	encChunkSize = chunkSize + 16
	nonceSize    = 16
)

// errHeader marks a file whose age header cannot be read at all — a crash
// between creating the file and writing its header.
var errHeader = errors.New("no readable age header")

// decryptStream returns a reader of f's plaintext that reports a damaged or
// missing tail as ErrTruncated, and any other authentication failure as a
// plain error.
func decryptStream(ctx context.Context, f *os.File, wk WrappedKey, keys KeyProvider) (*streamReader, error) {
	hdr, err := age.ExtractHeader(io.NewSectionReader(f, 0, 1<<62))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errHeader, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	dec, err := age.Decrypt(f, &kekIdentity{ctx: ctx, wk: wk, keys: keys})
	if err != nil {
		return nil, err
	}
	return &streamReader{dec: dec, f: f, payloadStart: int64(len(hdr)) + nonceSize}, nil
}

// streamReader decrypts while streaming and classifies the way it ends.
type streamReader struct {
	dec          io.Reader
	f            *os.File
	payloadStart int64
	n            int64 // plaintext delivered
	err          error
}

func (r *streamReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.dec.Read(p)
	r.n += int64(n)
	if err != nil && err != io.EOF {
		err = r.classify(err)
	}
	if err != nil {
		r.err = err
	}
	return n, err
}

// classify decides whether a decryption failure is at the file's tail. age
// delivers whole chunks only, so the failing chunk is number n/64Ki; if the
// file ends inside it, the recording was cut off (crash, full disk) and what
// came before is intact. A failure with complete chunks after it is damage.
// A cut that lands in the last, legitimately short chunk is indistinguishable
// from damage to that chunk; both are reported as truncation, and both leave
// the authenticated prefix valid.
func (r *streamReader) classify(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w after %d bytes: %w", ErrTruncated, r.n, err)
	}
	fi, serr := r.f.Stat()
	if serr != nil {
		return err
	}
	failedAt := r.payloadStart + (r.n/chunkSize)*encChunkSize
	if fi.Size()-failedAt <= encChunkSize {
		return fmt.Errorf("%w after %d bytes: %w", ErrTruncated, r.n, err)
	}
	return fmt.Errorf("recording damaged after %d bytes: %w", r.n, err)
}

func (r *streamReader) Close() error { return r.f.Close() }

func (s *Store) openFile(r *Recording) (*os.File, error) {
	if r.State == StateFailed || r.wrapped == nil {
		return nil, fmt.Errorf("recording %s: %w", r.ID, ErrFailed)
	}
	f, err := os.Open(s.filePath(r.Path))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("recording %s: file: %w", r.ID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("recording %s: %w", r.ID, err)
	}
	return f, nil
}

// Open streams a recording's plaintext, decrypting as it goes; nothing is
// decrypted to disk. A recording cut off by a crash reads up to its last
// complete chunk and then returns an error wrapping ErrTruncated — callers
// that play back an interrupted recording treat that as its end. If the key
// provider is down, Open fails with ErrProviderUnavailable (answer 503).
//
// Open may be called while the recording is still being written; it then
// ends in ErrTruncated at the last chunk written so far.
func (s *Store) Open(ctx context.Context, id ID) (io.ReadCloser, error) {
	r, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.openStream(ctx, r)
}

func (s *Store) openStream(ctx context.Context, r *Recording) (*streamReader, error) {
	f, err := s.openFile(r)
	if err != nil {
		return nil, err
	}
	sr, err := decryptStream(ctx, f, r.WrappedKey(), s.keys)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("recording %s: %w", r.ID, err)
	}
	return sr, nil
}

// Playback is random-access plaintext of a finished recording, for HTTP
// Range requests: http.ServeContent(w, req, name, modtime, p) works as is.
// Reads decrypt only the chunks they touch.
type Playback struct {
	*io.SectionReader
	f *os.File
}

func (p *Playback) Close() error { return p.f.Close() }

// OpenAt opens a finished recording for random access. age authenticates the
// final chunk (and so the size) before returning. A recording that was never
// finished has no final chunk; OpenAt refuses it with ErrTruncated and the
// caller falls back to Open.
func (s *Store) OpenAt(ctx context.Context, id ID) (*Playback, error) {
	r, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.State != StateFinished {
		return nil, fmt.Errorf("recording %s is %s: %w", id, r.State, ErrTruncated)
	}
	f, err := s.openFile(r)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("recording %s: %w", id, err)
	}
	ra, size, err := age.DecryptReaderAt(f, fi.Size(), &kekIdentity{ctx: ctx, wk: r.WrappedKey(), keys: s.keys})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("recording %s: %w", id, err)
	}
	return &Playback{SectionReader: io.NewSectionReader(ra, 0, size), f: f}, nil
}

// DecryptFile decrypts one recording file to w for the admin CLI
// (`motesvakt recording decrypt`), given the wrapped key from its row and the
// provider holding the KEK. It returns the plaintext bytes written; on a
// truncated file they are the authentic prefix and the error wraps
// ErrTruncated.
func DecryptFile(ctx context.Context, path string, wk WrappedKey, keys KeyProvider, w io.Writer) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("recording: decrypt %s: %w", path, err)
	}
	defer f.Close()
	sr, err := decryptStream(ctx, f, wk, keys)
	if err != nil {
		return 0, fmt.Errorf("recording: decrypt %s: %w", path, err)
	}
	n, err := io.Copy(w, sr)
	if err != nil {
		return n, fmt.Errorf("recording: decrypt %s: %w", path, err)
	}
	return n, nil
}

// Recover runs at startup, before recording is offered again. For every row
// left in state recording by a crash it authenticates the file as far as it
// goes and records the outcome:
//   - the file ends cleanly (crash between Close and Finish): finished;
//   - the file is cut off: interrupted, bytes = the authentic prefix;
//   - no file or no header (crash right after Create): failed, key erased.
//
// It also removes .age files that no row refers to (a Create whose tx was
// rolled back); without a wrapped key they are noise. If the key provider is
// down Recover stops with ErrProviderUnavailable and changes nothing it has
// not already decided, so it can simply run again.
func (s *Store) Recover(ctx context.Context, tx *sql.Tx, now time.Time) ([]*Recording, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+recordingCols+` FROM recordings WHERE state = ? ORDER BY created, id`,
		string(StateRecording))
	if err != nil {
		return nil, fmt.Errorf("recording: recover: %w", err)
	}
	var stuck []*Recording
	for rows.Next() {
		r, err := scanRecording(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("recording: recover: %w", err)
		}
		stuck = append(stuck, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("recording: recover: %w", err)
	}

	var out []*Recording
	for _, r := range stuck {
		state, n, reason, err := s.inspect(ctx, r)
		if err != nil {
			return out, fmt.Errorf("recording %s: recover: %w", r.ID, err)
		}
		if state == StateFailed {
			os.Remove(s.filePath(r.Path))
			if err := s.markFailed(ctx, tx, r.ID, reason, now); err != nil {
				return out, err
			}
		} else {
			_, err := tx.ExecContext(ctx, `UPDATE recordings SET state = ?, finished = ?, bytes = ?, fail_reason = ? WHERE id = ?`,
				string(state), now.UnixMilli(), n, reason, string(r.ID))
			if err != nil {
				return out, fmt.Errorf("recording %s: recover: %w", r.ID, err)
			}
		}
		got, err := s.get(ctx, tx, r.ID)
		if err != nil {
			return out, err
		}
		out = append(out, got)
	}
	if err := s.removeOrphans(ctx, tx); err != nil {
		return out, err
	}
	return out, nil
}

// inspect reads a stuck recording to its end. Only a provider outage is an
// error: anything else is a verdict about the file.
func (s *Store) inspect(ctx context.Context, r *Recording) (State, int64, string, error) {
	sr, err := s.openStream(ctx, r)
	switch {
	case errors.Is(err, ErrProviderUnavailable):
		return "", 0, "", err
	case errors.Is(err, ErrNotFound):
		return StateFailed, 0, "file missing after crash", nil
	case errors.Is(err, errHeader):
		return StateFailed, 0, "crashed before the header was written", nil
	case err != nil:
		// Wrong KEK or damaged header: keep the file for an admin to look at
		// rather than destroy evidence over a configuration mistake.
		return StateInterrupted, 0, err.Error(), nil
	}
	defer sr.Close()
	n, err := io.Copy(io.Discard, sr)
	switch {
	case err == nil:
		return StateFinished, n, "", nil
	case errors.Is(err, ErrTruncated):
		return StateInterrupted, n, "", nil
	case errors.Is(err, ErrProviderUnavailable):
		return "", 0, "", err
	default:
		return StateInterrupted, n, err.Error(), nil
	}
}

func (s *Store) removeOrphans(ctx context.Context, tx *sql.Tx) error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("recording: recover: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasSuffix(name, fileExt) {
			continue
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM recordings WHERE path = ?`, name).Scan(&n); err != nil {
			return fmt.Errorf("recording: recover: %w", err)
		}
		if n == 0 {
			if err := os.Remove(filepath.Join(s.dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("recording: recover: remove orphan %s: %w", name, err)
			}
		}
	}
	return nil
}
