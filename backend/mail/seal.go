package mail

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the AES-256 key length the outbox needs.
const KeySize = 32

// DeriveKey turns the server secret into the outbox key with HKDF-SHA-256 and
// a label of its own, so the key is independent of every other key derived
// from the same secret.
func DeriveKey(serverSecret []byte) ([]byte, error) {
	if len(serverSecret) < 16 {
		return nil, errors.New("mail: server secret shorter than 16 bytes")
	}
	return hkdf.Key(sha256.New, serverSecret, nil, "motesvakt mail outbox v1", KeySize)
}

// sealer encrypts outbox bodies with AES-256-GCM. The first key seals; every
// key opens, so the server secret can be rotated while mail is still queued
// (the old key is passed as a previous key until the queue has drained).
type sealer struct {
	current string
	aeads   map[string]cipher.AEAD
}

func newSealer(key []byte, previous ...[]byte) (*sealer, error) {
	s := &sealer{aeads: map[string]cipher.AEAD{}}
	for i, k := range append([][]byte{key}, previous...) {
		if len(k) != KeySize {
			return nil, fmt.Errorf("mail: outbox key %d is %d bytes, want %d", i, len(k), KeySize)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("mail: outbox key %d: %w", i, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("mail: outbox key %d: %w", i, err)
		}
		id := keyID(k)
		if i == 0 {
			s.current = id
		}
		s.aeads[id] = aead
	}
	return s, nil
}

// keyID names a key without revealing it: a truncated hash under a label.
func keyID(k []byte) string {
	h := sha256.Sum256(append([]byte("motesvakt mail key id\x00"), k...))
	return hex.EncodeToString(h[:6])
}

// envelope is the sealed plaintext: the message and the strings that must
// never leave the envelope (the code in both spellings).
type envelope struct {
	EML    []byte   `json:"eml"`
	Redact []string `json:"redact,omitempty"`
}

// additionalData binds a sealed body to its row; do not reorder (it would
// make every queued body unreadable).
func additionalData(id DeliveryID, meeting MeetingID, invitee InviteeID, recipient string) []byte {
	return []byte(strings.Join([]string{"motesvakt/mail/v1", string(id), string(meeting), string(invitee), recipient}, "\x00"))
}

func (s *sealer) seal(env envelope, ad []byte) (keyID, sealed string, err error) {
	plain, err := json.Marshal(env)
	if err != nil {
		return "", "", fmt.Errorf("seal: %w", err)
	}
	aead := s.aeads[s.current]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", "", fmt.Errorf("seal: nonce: %w", err)
	}
	out := aead.Seal(nonce, nonce, plain, ad)
	clear(plain)
	return s.current, base64.StdEncoding.EncodeToString(out), nil
}

var errUnknownKey = errors.New("sealed with a key this server does not have")

func (s *sealer) open(keyID, sealed string, ad []byte) (envelope, error) {
	aead, ok := s.aeads[keyID]
	if !ok {
		return envelope{}, errUnknownKey
	}
	raw, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil || len(raw) < aead.NonceSize()+aead.Overhead() {
		return envelope{}, errors.New("sealed body is malformed")
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], ad)
	if err != nil {
		return envelope{}, errors.New("sealed body does not authenticate")
	}
	var env envelope
	err = json.Unmarshal(plain, &env)
	clear(plain)
	if err != nil {
		return envelope{}, fmt.Errorf("sealed body: %w", err)
	}
	return env, nil
}

// redact replaces every secret in s, case-insensitively, so an SMTP server
// echoing part of the message cannot put a code into last_error or a log.
func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec == "" {
			continue
		}
		for {
			// ASCII-only folding keeps byte offsets aligned with s; codes are ASCII.
			i := strings.Index(asciiUpper(s), asciiUpper(sec))
			if i < 0 {
				break
			}
			s = s[:i] + "[redacted]" + s[i+len(sec):]
		}
	}
	return s
}

func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
