// Package recording stores meeting recordings encrypted at rest, manages
// their keys, decrypts them for playback and deletes them on schedule.
//
// # Encryption
//
// Files are age (C2SP age v1) files: 64 KiB chunks sealed with
// ChaCha20-Poly1305 in the STREAM construction, so the writer keeps at most one
// chunk of plaintext in memory and none on disk, truncation and reordering are
// detected, and the payload is seekable for Range requests (DecryptReaderAt).
// We use filippo.io/age rather than hand-rolling a STREAM construction.
//
// Key hierarchy: age draws a fresh 128-bit file key per file (per recording)
// and derives the payload key from it with HKDF and a random nonce. Our
// age.Recipient (kekRecipient) hands that file key to a KeyProvider, which
// wraps it with the key-encryption key: LocalKeyFile (AES-256-GCM, KEK in
// <data>/keys/kek, mode 0600) or VaultTransit (the KEK never leaves Vault).
// The wrap is bound to the recording ID as associated data.
//
// Why a custom recipient rather than age's X25519 recipients: with X25519 the
// wrapped file key would live in the file header and the secret would be an
// identity key we would then have to wrap anyway. Our stanza carries only a
// reference (the recording ID); the wrapped key lives only in the recording's
// row. Deleting the row therefore crypto-shreds the file, including every
// backup of the file, and a KEK in Vault can be rotated and rewrapped with
// database updates alone. WrappedKey records provider, KEK id, version and
// algorithm next to each key for agility.
//
// # Fail closed
//
// Store.Create wraps the key and immediately unwraps it again before a row or
// file exists; if the provider is down or answers wrongly, Create fails with
// ErrProviderUnavailable and nothing is written. Never a plaintext fallback.
//
// # Crash safety
//
// A kill -9 loses at most the chunk age is still filling; every complete
// chunk is already in the file. Open then returns the authentic prefix and
// ends in ErrTruncated; Recover (at startup) marks such rows interrupted with
// the readable size. Write errors (disk full) remove the file at once and
// Finish marks the row failed and erases its wrapped key.
//
// # Retention
//
// DeleteAfter computes the deadline from a profile's days; Sweep hard-deletes
// due recordings not under legal hold — row (the only wrapped key) and file —
// and returns their IDs for the caller's audit entries.
package recording
