// Package mail renders and delivers Mötesvakt's guest mail: the personal
// invitation that carries a guest's one-time code, and the notice sent when a
// code is revoked.
//
// # Flow
//
//	Renderer.Invitation / Renderer.Revocation  → *Message (complete RFC 5322 bytes)
//	Outbox.Enqueue(ctx, tx, msg, now)           → row in mail_outbox, body sealed
//	Worker.Run                                  → Transport.Send (SMTP or FileOutbox)
//	Outbox.Status(ctx, meetingID)               → []Delivery for the host page
//
// # Why the outbox stores the sealed message, not the inputs
//
// The mail contains the guest's code, and the code exists in plaintext only at
// the moment it is issued: backend/guestcode keeps an HMAC, never the value.
// Storing "what is needed to re-render" would therefore mean storing the code
// anyway, so the outbox stores the finished message encrypted with AES-256-GCM
// under a key the caller passes (the integrator derives it from the server
// secret with DeriveKey). Sealing the rendered bytes also means every retry
// sends byte-identical mail with the same Message-ID, so a retry after a crash
// mid-delivery shows up as a duplicate the recipient's client can fold, not as
// a second, different invitation. The row's id, meeting, invitee and
// recipient are bound into the GCM additional data, so a sealed body cannot be
// moved to another row. Cancel and Forget erase bodies once a code is revoked
// or the meeting is over; rows stay so the host still sees what happened.
// last_error never holds the code: the sealed envelope also carries the
// strings to redact, and every error is scrubbed before it is stored, logged or
// reported.
//
// # Why github.com/wneessen/go-mail
//
// Building MIME by hand is where Swedish characters get mangled: RFC 2047
// encoded-words in Subject and display names, quoted-printable bodies with
// soft line breaks, multipart/alternative boundaries, Date and Message-ID
// syntax. go-mail (MIT, maintained, no dependencies outside x/ and the
// standard library) does all of that, and its SMTP client does STARTTLS
// (mandatory or opportunistic), implicit TLS and SASL mechanism selection
// that refuses to send a password in the clear to a non-local server. We use
// its dialer for the connection, TLS and AUTH, then write the stored message
// bytes ourselves with MAIL/RCPT/DATA, so what is sent is exactly what was
// sealed (and exactly what FileOutbox writes).
//
// # Delivery semantics
//
// At least once. A worker claims a due row by setting it to "sending" with a
// lease; a crash leaves the row in "sending" and the next worker (or the same
// one after a restart) takes it again when the lease has run out. Temporary
// failures (4xx, connection errors, most 5xx, which on a submission server
// usually mean configuration that an admin can fix) are retried with
// exponential backoff and jitter, by default 8 attempts over roughly 18 hours.
// A 5xx on RCPT TO means this recipient will never be accepted, so it fails at
// once. Every outcome is passed to Worker's Report callback inside the same
// transaction that records it, so the integrator's audit entry commits with
// the status change.
package mail
