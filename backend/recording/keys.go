package recording

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// KeyProvider wraps and unwraps per-recording data keys (DEKs) with a
// key-encryption key (KEK) the provider keeps. Implementations must bind the
// wrap to the recording ID (see WithRecordingID) so a wrapped key copied onto
// another recording's row does not unwrap there.
type KeyProvider interface {
	// Wrap encrypts dek for the recording named by RecordingIDFrom(ctx).
	Wrap(ctx context.Context, dek []byte) (WrappedKey, error)
	// Unwrap returns the DEK; wk.Recording is used as associated data.
	Unwrap(ctx context.Context, wk WrappedKey) ([]byte, error)
	// Check reports whether the provider can wrap and unwrap right now.
	Check(ctx context.Context) error
}

// WrappedKey is a DEK encrypted under a KEK, plus what is needed to pick the
// KEK again later (crypto agility: provider, KEK id and version, algorithm).
type WrappedKey struct {
	// Recording is the associated data the wrap is bound to. The store fills it
	// from the row's primary key when reading, never from a stored copy, so
	// swapping wrapped keys between rows fails authentication.
	Recording  ID
	Provider   string // "local" or "vault-transit"
	KeyID      string // KEK fingerprint (local) or "<mount>/<key>" (Vault)
	KeyVersion int
	Alg        string
	Ciphertext []byte
}

type ctxKey struct{}

// WithRecordingID tells KeyProvider.Wrap which recording the key is for. The
// KeyProvider interface is fixed to Wrap(ctx, dek), so the binding travels in
// the context; Wrap refuses to work without it rather than wrap unbound keys.
func WithRecordingID(ctx context.Context, id ID) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// RecordingIDFrom returns the recording ID set by WithRecordingID.
func RecordingIDFrom(ctx context.Context) (ID, bool) {
	id, ok := ctx.Value(ctxKey{}).(ID)
	return id, ok && id != ""
}

// wrapAAD is the associated data for a wrapped DEK. The prefix separates it
// from any other use of the same KEK; the ID binds it to one recording.
func wrapAAD(id ID) []byte {
	return []byte("motesvakt recording dek v1\x00" + string(id))
}

const (
	ProviderLocal = "local"
	AlgLocal      = "A256GCM"
	kekSize       = 32
)

// LocalKeyFile is the default KeyProvider: a 32-byte KEK in a file only the
// service user may read, wrapping DEKs with AES-256-GCM.
type LocalKeyFile struct {
	path string
	aead cipher.AEAD
	id   string
}

// OpenLocalKeyFile loads the KEK at path, creating it (mode 0600, parent 0700)
// on first start. A key file readable or writable by group or others is
// refused: that key protects every recording.
func OpenLocalKeyFile(path string) (*LocalKeyFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("recording: key dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		kek := make([]byte, kekSize)
		rand.Read(kek)
		_, werr := f.Write(kek)
		if werr == nil {
			werr = f.Sync()
		}
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(path)
			return nil, fmt.Errorf("recording: create key file %s: %w", path, werr)
		}
	case errors.Is(err, os.ErrExist):
	default:
		return nil, fmt.Errorf("recording: create key file %s: %w", path, err)
	}
	kek, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("recording: key file %s: %w", path, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("recording: key file %s: %w", path, err)
	}
	return &LocalKeyFile{path: path, aead: aead, id: kekFingerprint(kek)}, nil
}

// kekFingerprint names a KEK without revealing it: it lets a row say which
// KEK wrapped it after a rotation.
func kekFingerprint(kek []byte) string {
	sum := sha256.Sum256(append([]byte("motesvakt kek id\x00"), kek...))
	return "local:" + hex.EncodeToString(sum[:8])
}

func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("recording: key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("recording: key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("recording: key file %s: %w: not a regular file", path, ErrKeyFileMode)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("recording: key file %s has mode %04o, want 0600: %w", path, perm, ErrKeyFileMode)
	}
	kek, err := io.ReadAll(io.LimitReader(f, kekSize+1))
	if err != nil {
		return nil, fmt.Errorf("recording: key file %s: %w", path, err)
	}
	if len(kek) != kekSize {
		return nil, fmt.Errorf("recording: key file %s: want %d bytes, have %d", path, kekSize, len(kek))
	}
	return kek, nil
}

// KeyID is the KEK's fingerprint as recorded next to each wrapped key.
func (l *LocalKeyFile) KeyID() string { return l.id }

func (l *LocalKeyFile) Wrap(ctx context.Context, dek []byte) (WrappedKey, error) {
	id, ok := RecordingIDFrom(ctx)
	if !ok {
		return WrappedKey{}, errors.New("recording: local wrap: no recording id in context")
	}
	nonce := make([]byte, l.aead.NonceSize())
	rand.Read(nonce)
	ct := l.aead.Seal(nonce, nonce, dek, wrapAAD(id))
	return WrappedKey{Recording: id, Provider: ProviderLocal, KeyID: l.id, KeyVersion: 1, Alg: AlgLocal, Ciphertext: ct}, nil
}

func (l *LocalKeyFile) Unwrap(ctx context.Context, wk WrappedKey) ([]byte, error) {
	if wk.Provider != ProviderLocal || wk.Alg != AlgLocal {
		return nil, fmt.Errorf("recording: local unwrap: key is %s/%s: %w", wk.Provider, wk.Alg, ErrWrongKey)
	}
	if wk.KeyID != l.id {
		return nil, fmt.Errorf("recording: local unwrap: wrapped by KEK %s, have %s: %w", wk.KeyID, l.id, ErrWrongKey)
	}
	ns := l.aead.NonceSize()
	if len(wk.Ciphertext) < ns+l.aead.Overhead() {
		return nil, fmt.Errorf("recording: local unwrap: %w", ErrWrongKey)
	}
	dek, err := l.aead.Open(nil, wk.Ciphertext[:ns], wk.Ciphertext[ns:], wrapAAD(wk.Recording))
	if err != nil {
		return nil, fmt.Errorf("recording: local unwrap: %w", ErrWrongKey)
	}
	return dek, nil
}

// Check re-reads the key file — someone may have chmod'ed, replaced or
// deleted it since start, which would strand every new recording at the next
// restart — and does a wrap/unwrap round trip.
func (l *LocalKeyFile) Check(ctx context.Context) error {
	kek, err := readKeyFile(l.path)
	if err != nil {
		return err
	}
	if kekFingerprint(kek) != l.id {
		return fmt.Errorf("recording: key file %s no longer holds KEK %s", l.path, l.id)
	}
	return roundTrip(ctx, l)
}

// roundTrip wraps and unwraps a random key: the cheapest honest proof that a
// provider works end to end.
func roundTrip(ctx context.Context, p KeyProvider) error {
	probe := make([]byte, 16)
	rand.Read(probe)
	ctx = WithRecordingID(ctx, "check")
	wk, err := p.Wrap(ctx, probe)
	if err != nil {
		return err
	}
	got, err := p.Unwrap(ctx, wk)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(got, probe) != 1 {
		return errors.New("recording: key provider round trip returned a different key")
	}
	return nil
}
