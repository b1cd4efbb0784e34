package recording

import (
	"context"
	"crypto/subtle"
	"fmt"

	"filippo.io/age"
)

// stanzaType names our age recipient stanza. Its only argument is the
// recording ID: a reference to the row that holds the wrapped file key. The
// file itself carries no key material, wrapped or not, so deleting the row
// crypto-shreds the file and its backups.
const stanzaType = "motesvakt-kek"

// ageFileKeySize is age's file key size (128 bits); age derives the 256-bit
// ChaCha20-Poly1305 payload key from it with HKDF and a random 16-byte nonce.
const ageFileKeySize = 16

// kekRecipient is an age.Recipient that hands the file key to a KeyProvider
// and keeps the wrapped result for the metadata row. It unwraps once right
// away: a key we cannot unwrap later must never protect media (fail closed).
type kekRecipient struct {
	ctx     context.Context
	id      ID
	keys    KeyProvider
	wrapped WrappedKey
}

func (r *kekRecipient) Wrap(fileKey []byte) ([]*age.Stanza, error) {
	ctx := WithRecordingID(r.ctx, r.id)
	wk, err := r.keys.Wrap(ctx, fileKey)
	if err != nil {
		return nil, err
	}
	wk.Recording = r.id
	got, err := r.keys.Unwrap(ctx, wk)
	if err != nil {
		return nil, fmt.Errorf("test unwrap: %w", err)
	}
	same := subtle.ConstantTimeCompare(got, fileKey) == 1
	clear(got)
	if !same {
		return nil, fmt.Errorf("test unwrap: %w: returned a different key", ErrWrongKey)
	}
	r.wrapped = wk
	return []*age.Stanza{{Type: stanzaType, Args: []string{string(r.id)}}}, nil
}

// kekIdentity is the matching age.Identity: it finds our stanza, checks that
// the file belongs to this row, and asks the provider for the file key. age
// then verifies the header MAC with that key, so a wrong key cannot decrypt
// even a single chunk.
type kekIdentity struct {
	ctx  context.Context
	wk   WrappedKey
	keys KeyProvider
}

func (i *kekIdentity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	for _, s := range stanzas {
		if s.Type != stanzaType {
			continue
		}
		if len(s.Args) != 1 || s.Args[0] != string(i.wk.Recording) {
			return nil, fmt.Errorf("file belongs to recording %q, not %q: %w", firstArg(s.Args), i.wk.Recording, ErrWrongKey)
		}
		key, err := i.keys.Unwrap(WithRecordingID(i.ctx, i.wk.Recording), i.wk)
		if err != nil {
			return nil, err
		}
		if len(key) != ageFileKeySize {
			return nil, fmt.Errorf("unwrapped key has %d bytes: %w", len(key), ErrWrongKey)
		}
		return key, nil
	}
	return nil, age.ErrIncorrectIdentity
}

func firstArg(a []string) string {
	if len(a) == 0 {
		return ""
	}
	return a[0]
}
