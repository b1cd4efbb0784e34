package recording

import (
	"errors"
	"syscall"
)

var (
	// ErrProviderUnavailable: the key provider could not be reached or
	// refused to work. Recording does not start (fail closed); playback
	// answers 503.
	ErrProviderUnavailable = errors.New("key provider unavailable")
	// ErrWrongKey: a wrapped key does not unwrap with this provider — wrong
	// KEK, tampered ciphertext, or a key moved to another recording's row.
	ErrWrongKey = errors.New("wrapped key does not unwrap")
	// ErrKeyFileMode: the local KEK file is readable by group or others.
	ErrKeyFileMode = errors.New("key file permissions too open")
	// ErrAlreadyRecording: this meeting track is already being recorded.
	ErrAlreadyRecording = errors.New("already recording")
	// ErrDiskFull: the recording hit ENOSPC/EDQUOT/EFBIG; the file is removed.
	ErrDiskFull = errors.New("disk full")
	// ErrTruncated: the file ends before its authenticated final chunk (crash
	// during recording). Everything read before it is authentic.
	ErrTruncated = errors.New("recording truncated")
	// ErrNotFound: no such recording (or it was deleted).
	ErrNotFound = errors.New("recording not found")
	// ErrFailed: the recording failed while being written and holds nothing.
	ErrFailed = errors.New("recording failed")
	// ErrNotAllowed and ErrNotHost are decided by callers (profile and role
	// checks live with the meeting); they are declared here so RefusalKey maps
	// every refusal to its message in one place.
	ErrNotAllowed = errors.New("recording not allowed in this room")
	ErrNotHost    = errors.New("only hosts may record")
)

// RefusalKey returns the locales key (area "recording") that explains err to
// the host, or "" when err is not a recording refusal.
func RefusalKey(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrProviderUnavailable), errors.Is(err, ErrWrongKey), errors.Is(err, ErrKeyFileMode):
		return "recording.refused.provider_down"
	case errors.Is(err, ErrNotAllowed):
		return "recording.refused.not_allowed"
	case errors.Is(err, ErrNotHost):
		return "recording.refused.not_host"
	case errors.Is(err, ErrAlreadyRecording):
		return "recording.refused.already_recording"
	case errors.Is(err, ErrDiskFull):
		return "recording.refused.disk_full"
	case errors.Is(err, ErrTruncated):
		return "recording.playback.truncated"
	}
	return ""
}

func isDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EFBIG)
}

// PlaybackKey returns the locales key that explains why a recording cannot
// be played (or plays only in part). Map ErrProviderUnavailable to HTTP 503,
// ErrNotFound to 404; the rest are 500 with this message.
func PlaybackKey(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrTruncated):
		return "recording.playback.truncated"
	case errors.Is(err, ErrProviderUnavailable):
		return "recording.playback.unavailable"
	case errors.Is(err, ErrNotFound):
		return "error.not_found"
	}
	return "recording.playback.failed"
}
