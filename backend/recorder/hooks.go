package recorder

import (
	"context"
	"errors"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/recording"
	"github.com/motesvakt/motesvakt/locales"
	"github.com/motesvakt/motesvakt/sfu"
)

// Refusals the recorder decides itself (the recording package declares the
// rest: ErrNotHost, ErrNotAllowed, ErrAlreadyRecording, ErrProviderUnavailable,
// ErrDiskFull).
var (
	ErrIncidentOpen = errors.New("recording blocked while an incident is open")
	ErrNoRoom       = errors.New("the meeting room is not running")
	ErrNotRecording = errors.New("the meeting is not being recorded")
	ErrNoIncident   = errors.New("no open incident")
	ErrForbidden    = errors.New("not allowed for this user")
)

// CodeRecordingRefused is the stable code of every RefusalError; the same
// value the SFU uses for a record command in a room that forbids it.
const CodeRecordingRefused = sfu.CodeRecordingRefused

// RefusalError is why the recorder said no, with the locales key that tells
// the host. It implements Code/StableCode and LocalizedMessage so the SFU
// and the HTTP error mapper can show the message in the user's language.
type RefusalError struct {
	Key string // locales key
	Err error
}

func refuse(err error) error {
	var re *RefusalError
	if errors.As(err, &re) {
		return err
	}
	return &RefusalError{Key: refusalKey(err), Err: err}
}

func refusalKey(err error) string {
	switch {
	case errors.Is(err, ErrIncidentOpen):
		return "incident.refused.incident_open"
	case errors.Is(err, ErrNoRoom):
		return "incident.refused.no_room"
	case errors.Is(err, ErrNotRecording):
		return "incident.refused.not_recording"
	case errors.Is(err, ErrNoIncident):
		return "incident.refused.no_incident"
	case errors.Is(err, ErrForbidden):
		return "incident.refused.forbidden"
	}
	if k := recording.RefusalKey(err); k != "" {
		return k
	}
	return "incident.refused.failed"
}

func (e *RefusalError) Error() string { return "recorder: refused: " + e.Err.Error() }
func (e *RefusalError) Unwrap() error { return e.Err }

// Code is the stable machine code: recording_refused.
func (e *RefusalError) Code() string { return CodeRecordingRefused }

// StableCode is Code under the name the HTTP error mapper looks for.
func (e *RefusalError) StableCode() string { return CodeRecordingRefused }

// LocalizedMessage explains the refusal in lang.
func (e *RefusalError) LocalizedMessage(lang locales.Lang) string { return locales.T(lang, e.Key) }

// AppCode is the backend error code (and so the HTTP status) this refusal
// maps to.
func (e *RefusalError) AppCode() string {
	switch {
	case errors.Is(e.Err, recording.ErrProviderUnavailable), errors.Is(e.Err, recording.ErrWrongKey),
		errors.Is(e.Err, recording.ErrKeyFileMode), errors.Is(e.Err, recording.ErrDiskFull), errors.Is(e.Err, ErrNoRoom):
		return backend.EUNAVAILABLE
	case errors.Is(e.Err, recording.ErrNotHost), errors.Is(e.Err, recording.ErrNotAllowed), errors.Is(e.Err, ErrForbidden):
		return backend.EFORBIDDEN
	case errors.Is(e.Err, recording.ErrAlreadyRecording), errors.Is(e.Err, ErrIncidentOpen),
		errors.Is(e.Err, ErrNotRecording), errors.Is(e.Err, ErrNoIncident):
		return backend.ECONFLICT
	case errors.Is(e.Err, recording.ErrNotFound):
		return backend.ENOTFOUND
	}
	var be *backend.Error
	if errors.As(e.Err, &be) {
		return be.Code
	}
	return backend.EINTERNAL
}

// WrapHooks returns hooks that start and stop recording on the host's record
// command and pass every other decision to inner. The recorder audits
// record_start/record_stop itself (in the transaction that creates or
// finishes the files), so those two are not forwarded: inner would log them
// a second time.
func WrapHooks(inner sfu.Hooks, rec *Manager) sfu.Hooks {
	if inner == nil {
		inner = sfu.NopHooks{}
	}
	return hooks{inner: inner, rec: rec}
}

type hooks struct {
	inner sfu.Hooks
	rec   *Manager
}

func (h hooks) Admit(ctx context.Context, room sfu.RoomID, by, whom sfu.Identity) error {
	return h.inner.Admit(ctx, room, by, whom)
}

func (h hooks) Deny(ctx context.Context, room sfu.RoomID, by, whom sfu.Identity) error {
	return h.inner.Deny(ctx, room, by, whom)
}

func (h hooks) Moderate(ctx context.Context, room sfu.RoomID, by sfu.Identity, action string, target sfu.Identity) error {
	switch action {
	case "record_start":
		return h.rec.Start(ctx, backend.MeetingID(room), h.rec.ParticipantActor(by))
	case "record_stop":
		return h.rec.Stop(ctx, backend.MeetingID(room), h.rec.ParticipantActor(by))
	}
	return h.inner.Moderate(ctx, room, by, action, target)
}

func (h hooks) Joined(ctx context.Context, room sfu.RoomID, who sfu.Identity) {
	h.inner.Joined(ctx, room, who)
}

func (h hooks) Left(ctx context.Context, room sfu.RoomID, who sfu.Identity) {
	h.inner.Left(ctx, room, who)
}
