// Package recorder records live SFU rooms into the encrypted recording
// store, runs retention, and implements the incident button.
//
// # Recording
//
// A Manager implements sfu.TrackSink per room (a run: one start..stop).
// Every published audio track becomes an Ogg/Opus stream and every video
// track an IVF/VP8 stream, each written through a recording.Writer, so
// media is encrypted before any byte reaches the disk. The recorder_tracks
// table keeps the timing metadata next to each recording: track,
// participant, source, wall-clock time of the first packet and its RTP
// timestamp, so tracks can be lined up on one timeline later.
//
// WriteRTP runs on the SFU's forwarding goroutine and must never block it:
// it copies the packet into a bounded per-track queue and returns; a writer
// goroutine per track muxes and encrypts. When a queue is full the packet
// is dropped and counted (recorder_tracks.dropped): a recording with a gap
// is better than a meeting that stutters for everyone.
//
// Simulcast: the highest layer present is recorded. A switch to a higher
// layer waits for its next keyframe at a frame boundary, and timestamps are
// rebased so the IVF timeline stays continuous.
//
// Start and stop go through the host's record command: WrapHooks turns the
// SFU's Moderate("record_start"/"record_stop") hook into Start/Stop, which
// decide (profile, role, key provider) and audit in the same transaction as
// the recordings rows. Start fails closed: if the key provider cannot wrap
// and unwrap a key, nothing is written and the host gets a RefusalError.
//
// # Incident
//
// Incident stops recording, locks the room, sends external and unverified
// participants back to the lobby, puts the meeting's recordings under legal
// hold, flags the meeting (meetings.incident) and opens a review item
// (incidents table). The protective measures in the room happen first and
// unconditionally; the database work and audit entries follow in one
// transaction.
//
// # Retention
//
// Scheduler sweeps expired recordings (recording.Store.Sweep) on a timer
// and audits each crypto-shredding deletion.
package recorder
