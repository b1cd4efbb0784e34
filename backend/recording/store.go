package recording

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"filippo.io/age"
)

// Schema is the recordings table. Portable SQL (SQLite now, PostgreSQL
// later); times are Unix milliseconds UTC. meeting_id references the meetings
// table by value only: packages are wired later, so no FOREIGN KEY.
//
// wrapped_key is NULL once a recording failed: the file is gone and the key
// with it. Deleting the row deletes the only copy of the wrapped key.
const Schema = `
CREATE TABLE IF NOT EXISTS recordings (
	id           TEXT PRIMARY KEY,
	meeting_id   TEXT NOT NULL,
	track        TEXT NOT NULL,
	kind         TEXT NOT NULL,
	path         TEXT NOT NULL,
	wrapped_key  BLOB,
	key_provider TEXT NOT NULL,
	kek_id       TEXT NOT NULL,
	kek_version  INTEGER NOT NULL,
	key_alg      TEXT NOT NULL,
	created      INTEGER NOT NULL,
	finished     INTEGER,
	bytes        INTEGER NOT NULL DEFAULT 0,
	legal_hold   INTEGER NOT NULL DEFAULT 0,
	delete_after INTEGER NOT NULL,
	state        TEXT NOT NULL,
	fail_reason  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS recordings_meeting ON recordings (meeting_id);
CREATE INDEX IF NOT EXISTS recordings_delete_after ON recordings (delete_after);
CREATE UNIQUE INDEX IF NOT EXISTS recordings_one_active ON recordings (meeting_id, track) WHERE state = 'recording';
`

// ID names a recording.
type ID string

// MeetingID names the meeting a recording belongs to.
type MeetingID string

// Kind is what a recording file holds.
type Kind string

const (
	KindAudio Kind = "audio" // Ogg/Opus
	KindVideo Kind = "video" // IVF/VP8 or WebM
)

// State is a recording's lifecycle state. Stored as text; do not rename.
type State string

const (
	StateRecording   State = "recording"   // a Writer is (or was, before a crash) writing
	StateFinished    State = "finished"    // closed cleanly; fully authenticated
	StateInterrupted State = "interrupted" // recovered after a crash; readable up to the last complete chunk
	StateFailed      State = "failed"      // write error; file removed, key erased
)

// Meta is what the caller says about a new recording.
type Meta struct {
	ID          ID // optional; a random one is chosen when empty
	MeetingID   MeetingID
	Track       string // track or participant the file records; one active recording per (meeting, track)
	Kind        Kind
	DeleteAfter time.Time // see DeleteAfter
}

// Recording is one row of the recordings table.
type Recording struct {
	ID          ID
	MeetingID   MeetingID
	Track       string
	Kind        Kind
	Path        string // relative to the store's directory
	Provider    string
	KeyID       string
	KeyVersion  int
	Alg         string
	Created     time.Time
	Finished    time.Time // zero while recording
	Bytes       int64     // plaintext bytes that are readable
	LegalHold   bool
	DeleteAfter time.Time
	State       State
	FailReason  string
	wrapped     []byte
}

// WrappedKey returns the row's wrapped key bound to the row's ID.
func (r *Recording) WrappedKey() WrappedKey {
	return WrappedKey{Recording: r.ID, Provider: r.Provider, KeyID: r.KeyID, KeyVersion: r.KeyVersion, Alg: r.Alg,
		Ciphertext: bytes.Clone(r.wrapped)}
}

// Store keeps encrypted recording files in one directory and their metadata
// and wrapped keys in the recordings table.
type Store struct {
	db   *sql.DB
	dir  string
	keys KeyProvider
}

// NewStore uses dir (created 0700) for the files and keys for wrapping.
func NewStore(db *sql.DB, dir string, keys KeyProvider) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("recording: store dir: %w", err)
	}
	return &Store{db: db, dir: dir, keys: keys}, nil
}

// Dir is where the encrypted files live.
func (s *Store) Dir() string { return s.dir }

const fileExt = ".age"

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (s *Store) filePath(rel string) string {
	// Rows hold a bare file name; Base keeps a tampered row from pointing
	// outside the recordings directory.
	return filepath.Join(s.dir, filepath.Base(rel))
}

// Create starts a recording: it wraps a fresh file key, proves the wrap can
// be undone, stores the row in tx, and only then creates the file (mode 0600)
// and writes the age header. If the key provider fails, nothing is written —
// no row, no file — and the error wraps ErrProviderUnavailable.
//
// The caller commits tx before writing media, so a crash leaves a row that
// Recover can find.
func (s *Store) Create(ctx context.Context, tx *sql.Tx, m Meta, now time.Time) (*Writer, error) {
	if m.ID == "" {
		m.ID = ID("rec_" + strings.ToLower(rand.Text()))
	}
	if !idPattern.MatchString(string(m.ID)) {
		return nil, fmt.Errorf("recording: id %q: must match %s", m.ID, idPattern)
	}
	if m.MeetingID == "" || m.Track == "" {
		return nil, errors.New("recording: meeting id and track are required")
	}
	if m.Kind != KindAudio && m.Kind != KindVideo {
		return nil, fmt.Errorf("recording: kind %q: want audio or video", m.Kind)
	}
	if m.DeleteAfter.IsZero() {
		return nil, errors.New("recording: delete_after is required (see DeleteAfter)")
	}
	var active int
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM recordings WHERE meeting_id = ? AND track = ? AND state = ?`,
		string(m.MeetingID), m.Track, string(StateRecording)).Scan(&active)
	if err != nil {
		return nil, fmt.Errorf("recording: meeting %s: %w", m.MeetingID, err)
	}
	if active > 0 {
		return nil, fmt.Errorf("recording: meeting %s track %s: %w", m.MeetingID, m.Track, ErrAlreadyRecording)
	}

	// age writes the header to sink, which holds it in memory until the row
	// exists; the header carries no secret, but there is no reason for a file
	// to appear before we know we can keep it.
	rcpt := &kekRecipient{ctx: ctx, id: m.ID, keys: s.keys}
	sink := &fileSink{}
	enc, err := age.Encrypt(sink, rcpt)
	if err != nil {
		return nil, fmt.Errorf("recording %s: wrap file key: %w: %w", m.ID, ErrProviderUnavailable, err)
	}
	wk := rcpt.wrapped
	name := string(m.ID) + fileExt
	_, err = tx.ExecContext(ctx, `INSERT INTO recordings
		(id, meeting_id, track, kind, path, wrapped_key, key_provider, kek_id, kek_version, key_alg, created, delete_after, state)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		string(m.ID), string(m.MeetingID), m.Track, string(m.Kind), name, wk.Ciphertext, wk.Provider, wk.KeyID,
		wk.KeyVersion, wk.Alg, now.UnixMilli(), m.DeleteAfter.UnixMilli(), string(StateRecording))
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") && strings.Contains(err.Error(), "meeting_id") {
			return nil, fmt.Errorf("recording: meeting %s track %s: %w", m.MeetingID, m.Track, ErrAlreadyRecording)
		}
		return nil, fmt.Errorf("recording %s: insert: %w", m.ID, err)
	}
	path := s.filePath(name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("recording %s: create file: %w", m.ID, classify(err))
	}
	if err := sink.attach(f); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("recording %s: write header: %w", m.ID, classify(err))
	}
	syncDir(s.dir)
	return &Writer{id: m.ID, path: path, f: f, enc: enc}, nil
}

func classify(err error) error {
	if isDiskFull(err) {
		return fmt.Errorf("%w: %w", ErrDiskFull, err)
	}
	return err
}

// syncDir makes a new directory entry durable; best effort, since some
// filesystems do not support fsync on directories.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// fileSink buffers age's header until the file exists, then writes through.
type fileSink struct {
	buf bytes.Buffer
	f   *os.File
}

func (s *fileSink) Write(p []byte) (int, error) {
	if s.f == nil {
		return s.buf.Write(p)
	}
	return s.f.Write(p)
}

func (s *fileSink) attach(f *os.File) error {
	s.f = f
	_, err := f.Write(s.buf.Bytes())
	s.buf = bytes.Buffer{}
	return err
}

// Writer encrypts everything written to it before it reaches the file: age
// seals 64 KiB chunks with ChaCha20-Poly1305, so at most one chunk of
// plaintext sits in memory and none on disk. It is an io.WriteCloser for
// pion's oggwriter/ivfwriter. Safe for use from several goroutines.
//
// On a write error the file is removed at once (a half-written file must not
// stay readable); the error sticks and Finish marks the row failed.
type Writer struct {
	id   ID
	path string

	mu     sync.Mutex
	f      *os.File
	enc    io.WriteCloser
	n      int64
	err    error
	closed bool
}

// ID is the recording being written.
func (w *Writer) ID() ID { return w.id }

func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, fmt.Errorf("recording %s: write after close", w.id)
	}
	n, err := w.enc.Write(p)
	if err != nil {
		w.fail(err)
		return 0, w.err
	}
	w.n += int64(n)
	return n, nil
}

// Sync flushes written chunks to stable storage. The chunk age is still
// filling stays in memory: it cannot be sealed until we know whether it is
// the last one.
func (w *Writer) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil || w.closed {
		return w.err
	}
	if err := w.f.Sync(); err != nil {
		w.fail(err)
		return w.err
	}
	return nil
}

// Close seals the final chunk, fsyncs and closes the file. Call Finish after
// it (Finish closes the writer itself if needed).
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.err != nil {
		return w.err
	}
	w.closed = true
	if err := w.enc.Close(); err != nil {
		w.fail(err)
		return w.err
	}
	if err := w.f.Sync(); err != nil {
		w.fail(err)
		return w.err
	}
	if err := w.f.Close(); err != nil {
		w.fail(err)
		return w.err
	}
	return nil
}

// fail records err and removes the file. Called with mu held.
func (w *Writer) fail(err error) {
	w.err = fmt.Errorf("recording %s: %w", w.id, classify(err))
	w.closed = true
	w.f.Close()
	os.Remove(w.path)
}

// Err is the writer's sticky error, if any.
func (w *Writer) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Bytes is the number of plaintext bytes accepted so far.
func (w *Writer) Bytes() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// Finish closes w and records the outcome in tx. A clean close marks the row
// finished with its size. A failed writer marks it failed and erases the
// wrapped key (the file is already gone) and Finish returns the write error,
// so the caller can tell the host and audit it.
func (s *Store) Finish(ctx context.Context, tx *sql.Tx, w *Writer, now time.Time) (*Recording, error) {
	cerr := w.Close()
	if cerr == nil {
		_, err := tx.ExecContext(ctx, `UPDATE recordings SET state = ?, finished = ?, bytes = ? WHERE id = ? AND state = ?`,
			string(StateFinished), now.UnixMilli(), w.Bytes(), string(w.id), string(StateRecording))
		if err != nil {
			return nil, fmt.Errorf("recording %s: finish: %w", w.id, err)
		}
		return s.get(ctx, tx, w.id)
	}
	if err := s.markFailed(ctx, tx, w.id, cerr.Error(), now); err != nil {
		return nil, err
	}
	return nil, cerr
}

func (s *Store) markFailed(ctx context.Context, tx *sql.Tx, id ID, reason string, now time.Time) error {
	_, err := tx.ExecContext(ctx, `UPDATE recordings SET state = ?, finished = ?, bytes = 0, wrapped_key = NULL, fail_reason = ?
		WHERE id = ?`, string(StateFailed), now.UnixMilli(), reason, string(id))
	if err != nil {
		return fmt.Errorf("recording %s: mark failed: %w", id, err)
	}
	return nil
}

// SetLegalHold freezes a recording against retention (incident button) or
// releases it.
func (s *Store) SetLegalHold(ctx context.Context, tx *sql.Tx, id ID, hold bool) error {
	v := 0
	if hold {
		v = 1
	}
	res, err := tx.ExecContext(ctx, `UPDATE recordings SET legal_hold = ? WHERE id = ?`, v, string(id))
	if err != nil {
		return fmt.Errorf("recording %s: legal hold: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("recording %s: %w", id, ErrNotFound)
	}
	return nil
}

// Sweep hard-deletes every recording whose delete_after has passed and that
// is not under legal hold: the row with the only wrapped key first, then the
// file. It returns what it deleted so the caller can audit each deletion in
// the same tx. A recording still being written is left alone.
//
// Files are removed before tx commits. If the commit then fails, the rows
// survive without files and the next Sweep deletes them; no state leaves a
// readable recording behind past its date.
func (s *Store) Sweep(ctx context.Context, tx *sql.Tx, now time.Time) ([]ID, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, path FROM recordings
		WHERE delete_after <= ? AND legal_hold = 0 AND state <> ? ORDER BY delete_after, id`,
		now.UnixMilli(), string(StateRecording))
	if err != nil {
		return nil, fmt.Errorf("recording: sweep: %w", err)
	}
	type victim struct{ id, path string }
	var vs []victim
	for rows.Next() {
		var v victim
		if err := rows.Scan(&v.id, &v.path); err != nil {
			rows.Close()
			return nil, fmt.Errorf("recording: sweep: %w", err)
		}
		vs = append(vs, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("recording: sweep: %w", err)
	}
	var deleted []ID
	for _, v := range vs {
		if _, err := tx.ExecContext(ctx, `DELETE FROM recordings WHERE id = ?`, v.id); err != nil {
			return deleted, fmt.Errorf("recording %s: sweep: %w", v.id, err)
		}
		if err := os.Remove(s.filePath(v.path)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return deleted, fmt.Errorf("recording %s: sweep: remove file: %w", v.id, err)
		}
		deleted = append(deleted, ID(v.id))
	}
	return deleted, nil
}

const recordingCols = `id, meeting_id, track, kind, path, wrapped_key, key_provider, kek_id, kek_version, key_alg,
	created, finished, bytes, legal_hold, delete_after, state, fail_reason`

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func scanRecording(sc interface{ Scan(...any) error }) (*Recording, error) {
	var (
		r                           Recording
		meeting, kind, state        string
		created, deleteAfter, bytes int64
		finished                    sql.NullInt64
		hold                        int
	)
	err := sc.Scan(&r.ID, &meeting, &r.Track, &kind, &r.Path, &r.wrapped, &r.Provider, &r.KeyID, &r.KeyVersion, &r.Alg,
		&created, &finished, &bytes, &hold, &deleteAfter, &state, &r.FailReason)
	if err != nil {
		return nil, err
	}
	r.MeetingID, r.Kind, r.State = MeetingID(meeting), Kind(kind), State(state)
	r.Created = time.UnixMilli(created).UTC()
	if finished.Valid {
		r.Finished = time.UnixMilli(finished.Int64).UTC()
	}
	r.Bytes, r.LegalHold = bytes, hold != 0
	r.DeleteAfter = time.UnixMilli(deleteAfter).UTC()
	return &r, nil
}

func (s *Store) get(ctx context.Context, q querier, id ID) (*Recording, error) {
	r, err := scanRecording(q.QueryRowContext(ctx, `SELECT `+recordingCols+` FROM recordings WHERE id = ?`, string(id)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("recording %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("recording %s: %w", id, err)
	}
	return r, nil
}

// Get returns one recording's metadata.
func (s *Store) Get(ctx context.Context, id ID) (*Recording, error) { return s.get(ctx, s.db, id) }

// ListMeeting returns a meeting's recordings, oldest first.
func (s *Store) ListMeeting(ctx context.Context, meeting MeetingID) ([]*Recording, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+recordingCols+` FROM recordings WHERE meeting_id = ? ORDER BY created, id`,
		string(meeting))
	if err != nil {
		return nil, fmt.Errorf("recording: meeting %s: %w", meeting, err)
	}
	defer rows.Close()
	var out []*Recording
	for rows.Next() {
		r, err := scanRecording(rows)
		if err != nil {
			return nil, fmt.Errorf("recording: meeting %s: %w", meeting, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
