package sfu

// Recording reports whether the room is being recorded.
func (r *Room) Recording() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.recording
}

// StopRecording turns recording off without a host command — the incident
// button, a failed recorder (disk full) — and tells everyone, lobby
// included, with reason. No hook runs: the caller has already decided and
// audited. It reports whether recording was on.
func (r *Room) StopRecording(reason string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.recording {
		return false
	}
	r.recording = false
	r.broadcastLocked(Message{Type: TypeRecordingState, Recording: ptr(false), Reason: reason}, true)
	return true
}
