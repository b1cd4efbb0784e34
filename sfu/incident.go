package sfu

import "time"

// ReturnToLobby sends every admitted participant for whom pred holds back to
// the lobby at once, for the incident button: their media stops (both
// PeerConnections are closed, their tracks unpublished), the room sees them
// leave, and each of them gets lobby_waiting with reason. Hosts and cohosts
// are never moved, whatever pred says: someone must stay to admit people.
//
// A returned participant keeps its signaling session. When a host admits it
// again it gets admitted and welcome as a newcomer does and must publish
// anew (new pub offer); the server creates fresh PeerConnections.
//
// It returns how many participants were moved.
func (r *Room) ReturnToLobby(pred func(Identity) bool, reason string) int {
	if pred == nil {
		return 0
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return 0
	}
	var moved []*participant
	var owned []*source
	now := time.Now()
	for id, p := range r.parts {
		if p.role.IsHost() || !pred(p.identityLocked()) {
			continue
		}
		delete(r.parts, id)
		p.admitted = false
		// The role a host granted (presenter) does not survive the lobby.
		p.role, p.prevRole = p.who.Role, ""
		r.lobby[id] = &lobbyEntry{p: p, since: now}
		if r.speaker == id {
			r.speaker = ""
		}
		for _, src := range r.sources {
			if src.owner == p {
				owned = append(owned, src)
			}
		}
		moved = append(moved, p)
	}
	for _, p := range moved {
		for _, o := range r.parts {
			o.send(Message{Type: TypeParticipantLeft, Target: p.who.ID, Reason: reason})
		}
		opts := r.opts
		p.send(Message{Type: TypeLobbyWaiting, Me: ptr(p.infoLocked()), Options: &opts, Reason: reason})
	}
	if len(moved) > 0 {
		r.lobbyUpdateLocked()
	}
	r.mu.Unlock()

	for _, src := range owned {
		r.unpublish(src)
	}
	for _, p := range moved {
		// No Left hook: the person is still in the meeting's lobby, and the
		// backend keeps its identity mapping for the next admission.
		p.dropMedia()
	}
	return len(moved)
}

// dropMedia closes p's PeerConnections and forgets its subscriptions while
// keeping the signaling session: a participant sent back to the lobby must
// neither send nor receive media.
func (p *participant) dropMedia() {
	p.pcMu.Lock()
	pub, sub := p.pub, p.sub
	downs := p.downs
	p.pub, p.sub = nil, nil
	p.downs = map[TrackID]*downTrack{}
	p.declared = map[string]Source{}
	p.forbidSent = map[string]bool{}
	if p.answerT != nil {
		p.answerT.Stop()
	}
	p.inFlight, p.pending = false, false
	p.pcMu.Unlock()
	for _, d := range downs {
		d.src.removeDown(d)
	}
	if pub != nil {
		_ = pub.Close()
	}
	if sub != nil {
		_ = sub.Close()
	}
}
