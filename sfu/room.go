package sfu

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/pion/rtp"

	"github.com/motesvakt/motesvakt/locales"
)

// TrackSink receives every forwarded packet of a room while recording is on.
// It is the seam for the recorder (a later issue); WriteRTP must not block
// and must not keep pkt after returning.
type TrackSink interface {
	WriteRTP(track TrackInfo, layer int, pkt *rtp.Packet)
}

// RoomState is a point-in-time view of a room for host pages and tests.
type RoomState struct {
	ID           RoomID            `json:"id"`
	Options      RoomOptions       `json:"options"`
	Participants []ParticipantInfo `json:"participants"`
	Lobby        []LobbyEntry      `json:"lobby"`
	Tracks       []TrackInfo       `json:"tracks"`
	Locked       bool              `json:"locked"`
	Recording    bool              `json:"recording"`
	Speaker      ParticipantID     `json:"speaker,omitempty"`
	Denied       []ParticipantID   `json:"denied"`
}

// Room is one meeting's media and signaling state.
type Room struct {
	s  *SFU
	id RoomID

	mu        sync.Mutex
	opts      RoomOptions
	parts     map[ParticipantID]*participant // admitted
	lobby     map[ParticipantID]*lobbyEntry
	denied    map[ParticipantID]string // cannot return with the same identity
	sources   map[TrackID]*source
	speaker   ParticipantID
	recording bool
	sink      TrackSink
	tokens    float64
	tokensAt  time.Time
	closed    bool

	done chan struct{}
}

type lobbyEntry struct {
	p          *participant
	since      time.Time
	approvedBy []Identity
}

func newRoom(s *SFU, id RoomID, opts RoomOptions) *Room {
	r := &Room{
		s: s, id: id, opts: normalize(opts),
		parts: map[ParticipantID]*participant{}, lobby: map[ParticipantID]*lobbyEntry{},
		denied: map[ParticipantID]string{}, sources: map[TrackID]*source{},
		tokens: float64(s.cfg.JoinBurst), tokensAt: time.Now(), done: make(chan struct{}),
	}
	go r.speakerLoop()
	return r
}

func normalize(o RoomOptions) RoomOptions {
	if o.Lobby == "" {
		o.Lobby = LobbyNone
	}
	if o.ScreenShare == "" {
		o.ScreenShare = ShareHostsPresenters
	}
	return o
}

// ID returns the room's id.
func (r *Room) ID() RoomID { return r.id }

// Options returns the room's current rules.
func (r *Room) Options() RoomOptions {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.opts
}

// SetOptions changes the room's rules, e.g. when the profile is raised.
// Nobody waiting is admitted by a looser lobby; tracks that the new rules
// forbid are stopped at once and their publishers told why.
func (r *Room) SetOptions(opts RoomOptions) {
	opts = normalize(opts)
	r.mu.Lock()
	r.opts = opts
	if !opts.RecordingAllowed && r.recording {
		r.recording = false
		r.broadcastLocked(Message{Type: TypeRecordingState, Recording: ptr(false)}, true)
	}
	r.broadcastLocked(Message{Type: TypeRoomState, Options: &opts, Locked: ptr(opts.Locked)}, true)
	var revoke []*source
	for _, p := range r.parts {
		perm := PermissionsFor(opts, p.who, p.role)
		p.send(Message{Type: TypePermissionsChanged, Permissions: &perm})
	}
	for _, src := range r.sources {
		if !CanPublish(opts, src.owner.who, src.owner.role, src.info.Source) {
			revoke = append(revoke, src)
		}
	}
	r.mu.Unlock()
	for _, src := range revoke {
		src.owner.sendError(CodeTrackForbidden, TypeOffer)
		r.unpublish(src)
	}
}

// Lock opens or closes the room to newcomers (they go to the lobby). Called
// by the backend; a host's lock command goes through Hooks.Moderate first.
func (r *Room) Lock(locked bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.opts.Locked = locked
	o := r.opts
	r.broadcastLocked(Message{Type: TypeRoomState, Options: &o, Locked: ptr(locked)}, true)
}

// Remove ends a participant's (or waiting person's) session at once and
// keeps the identity from coming back into this room.
func (r *Room) Remove(id ParticipantID, reason string) {
	r.mu.Lock()
	r.denied[id] = reason
	p := r.parts[id]
	if p == nil {
		if e := r.lobby[id]; e != nil {
			p = e.p
		}
	}
	r.mu.Unlock()
	if p != nil {
		p.send(Message{Type: TypeModeration, Action: TypeRemove, Target: id, Reason: reason})
		p.closeWith(CodeRemoved)
	}
}

// SetSink attaches the recorder seam; nil detaches it.
func (r *Room) SetSink(s TrackSink) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sink = s
}

// Snapshot returns the room's state.
func (r *Room) Snapshot() RoomState {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := RoomState{
		ID: r.id, Options: r.opts, Locked: r.opts.Locked, Recording: r.recording, Speaker: r.speaker,
		Participants: r.participantsLocked(), Lobby: r.lobbyLocked(), Tracks: r.tracksLocked(nil),
		Denied: slices.Sorted(maps.Keys(r.denied)),
	}
	return st
}

func (r *Room) close(reason string) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	close(r.done)
	var all []*participant
	for _, p := range r.parts {
		all = append(all, p)
	}
	for _, e := range r.lobby {
		all = append(all, e.p)
	}
	r.mu.Unlock()
	for _, p := range all {
		p.send(Message{Type: TypeBye, Reason: reason})
		p.closeWith("")
	}
}

// ---- joining and the lobby ----

// takeToken spends one join from the room's bucket.
func (r *Room) takeTokenLocked(now time.Time) bool {
	cfg := r.s.cfg
	r.tokens = min(float64(cfg.JoinBurst), r.tokens+now.Sub(r.tokensAt).Seconds()*cfg.JoinRate)
	r.tokensAt = now
	if r.tokens < 1 {
		return false
	}
	r.tokens--
	return true
}

// join places p in the room or the lobby. It returns an error code when p
// must be turned away.
func (r *Room) join(p *participant) string {
	now := time.Now()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return CodeNotFound
	}
	if _, bad := r.denied[p.who.ID]; bad {
		r.mu.Unlock()
		return CodeDenied
	}
	if !r.takeTokenLocked(now) {
		r.mu.Unlock()
		return CodeRateLimited
	}
	// A second session for the same identity replaces the first: a host
	// whose network blipped comes back, a stolen session is cut off.
	var old *participant
	if o := r.parts[p.who.ID]; o != nil {
		old = o
	} else if e := r.lobby[p.who.ID]; e != nil {
		old = e.p
	}
	if old == nil && len(r.parts)+len(r.lobby) >= r.s.cfg.MaxParticipants {
		r.mu.Unlock()
		return CodeRoomFull
	}
	if old != nil {
		r.detachLocked(old)
	}
	if needsLobby(r.opts, p.who) {
		r.lobby[p.who.ID] = &lobbyEntry{p: p, since: now}
		p.send(Message{Type: TypeLobbyWaiting, Me: ptr(p.infoLocked()), Options: ptr(r.opts)})
		r.lobbyUpdateLocked()
		r.mu.Unlock()
	} else {
		subs := r.admitLocked(p)
		r.mu.Unlock()
		r.attach(p, subs)
	}
	if old != nil {
		old.sendError(CodeReplaced, "")
		old.closeWith(CodeReplaced)
	}
	return ""
}

// admitLocked moves p into the room, sends welcome, and returns the sources
// p must subscribe to (done outside the lock by attach).
func (r *Room) admitLocked(p *participant) []*source {
	delete(r.lobby, p.who.ID)
	p.admitted = true
	r.parts[p.who.ID] = p
	perm := PermissionsFor(r.opts, p.who, p.role)
	opts := r.opts
	p.send(Message{
		Type: TypeWelcome, Me: ptr(p.infoLocked()), Options: &opts, Permissions: &perm,
		Participants: r.participantsLocked(), Published: r.tracksLocked(nil),
		Speaker: r.speaker, Recording: ptr(r.recording), Locked: ptr(r.opts.Locked),
	})
	if p.who.Role.IsHost() {
		p.send(Message{Type: TypeLobbyUpdate, Lobby: r.lobbyLocked()})
	}
	info := p.infoLocked()
	for _, o := range r.parts {
		if o != p {
			o.send(Message{Type: TypeParticipantJoined, Participant: &info})
		}
	}
	var subs []*source
	for _, src := range r.sources {
		if src.owner != p {
			subs = append(subs, src)
		}
	}
	return subs
}

func (r *Room) attach(p *participant, subs []*source) {
	r.s.hooks.Joined(context.Background(), r.id, p.who)
	for _, src := range subs {
		p.subscribe(src, r.wantHigh(src))
	}
	p.negotiate()
}

// detachLocked removes p from the maps if p is the current session for its
// id; it reports whether p was admitted.
func (r *Room) detachLocked(p *participant) (wasAdmitted bool, owned []*source) {
	if r.parts[p.who.ID] == p {
		delete(r.parts, p.who.ID)
		wasAdmitted = true
		for _, src := range r.sources {
			if src.owner == p {
				owned = append(owned, src)
			}
		}
		for _, o := range r.parts {
			o.send(Message{Type: TypeParticipantLeft, Target: p.who.ID})
		}
		if r.speaker == p.who.ID {
			r.speaker = ""
		}
	}
	if e := r.lobby[p.who.ID]; e != nil && e.p == p {
		delete(r.lobby, p.who.ID)
		r.lobbyUpdateLocked()
	}
	return wasAdmitted, owned
}

// leave is called once when p's session ends.
func (r *Room) leave(p *participant) {
	r.mu.Lock()
	was, owned := r.detachLocked(p)
	r.mu.Unlock()
	for _, src := range owned {
		r.unpublish(src)
	}
	if was {
		r.s.hooks.Left(context.Background(), r.id, p.who)
	}
}

func (r *Room) lobbyLocked() []LobbyEntry {
	out := make([]LobbyEntry, 0, len(r.lobby))
	for _, e := range r.lobby {
		w := e.p.who
		le := LobbyEntry{
			ID: w.ID, DisplayName: w.DisplayName, Email: w.Email, Role: w.Role, Level: w.Level,
			Internal: w.Internal, Invited: w.Invited, CodeVerifiedAt: w.CodeVerifiedAt,
			WaitingSince: e.since, NeedsApprovals: approvalsNeeded(r.opts, w),
		}
		for _, a := range e.approvedBy {
			le.ApprovedBy = append(le.ApprovedBy, a.ID)
		}
		out = append(out, le)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].WaitingSince.Equal(out[j].WaitingSince) {
			return out[i].WaitingSince.Before(out[j].WaitingSince)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

func (r *Room) lobbyUpdateLocked() {
	l := r.lobbyLocked()
	for _, p := range r.parts {
		if p.role.IsHost() {
			p.send(Message{Type: TypeLobbyUpdate, Lobby: l})
		}
	}
}

func (r *Room) participantsLocked() []ParticipantInfo {
	out := make([]ParticipantInfo, 0, len(r.parts))
	for _, p := range r.parts {
		out = append(out, p.infoLocked())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (r *Room) tracksLocked(exclude *participant) []TrackInfo {
	out := []TrackInfo{}
	for _, s := range r.sources {
		if s.owner != exclude {
			out = append(out, s.infoSnapshot())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// broadcastLocked sends m to every admitted participant and, if lobby, to
// everyone waiting too.
func (r *Room) broadcastLocked(m Message, lobby bool) {
	for _, p := range r.parts {
		p.send(m)
	}
	if lobby {
		for _, e := range r.lobby {
			e.p.send(m)
		}
	}
}

func (r *Room) broadcast(m Message, lobby bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.broadcastLocked(m, lobby)
}

// ---- moderation ----

var errNotFound = errors.New("not found")

// admit records by's approval of whom and admits once enough distinct hosts
// have approved. The hook runs before anything changes.
func (r *Room) admit(by *participant, whom ParticipantID) string {
	r.mu.Lock()
	e := r.lobby[whom]
	if e == nil {
		r.mu.Unlock()
		return CodeNotFound
	}
	for _, a := range e.approvedBy {
		if a.ID == by.who.ID {
			r.mu.Unlock()
			return CodeNeedsSecondHost
		}
	}
	target := e.p.who
	r.mu.Unlock()

	if err := r.s.hooks.Admit(by.ctx, r.id, by.identity(), target); err != nil {
		r.s.log.Warn("sfu: admit hook refused", "room", r.id, "err", err)
		return CodeHookFailed
	}

	r.mu.Lock()
	e = r.lobby[whom]
	if e == nil || e.p.who.ID != target.ID {
		r.mu.Unlock()
		return CodeNotFound
	}
	e.approvedBy = append(e.approvedBy, by.identityLocked())
	if len(e.approvedBy) < approvalsNeeded(r.opts, target) {
		r.lobbyUpdateLocked()
		r.mu.Unlock()
		return ""
	}
	p := e.p
	p.send(Message{Type: TypeAdmitted, By: by.who.ID})
	subs := r.admitLocked(p)
	r.lobbyUpdateLocked()
	r.mu.Unlock()
	r.attach(p, subs)
	return ""
}

func (r *Room) deny(by *participant, whom ParticipantID) string {
	r.mu.Lock()
	e := r.lobby[whom]
	if e == nil {
		r.mu.Unlock()
		return CodeNotFound
	}
	target := e.p.who
	r.mu.Unlock()
	if err := r.s.hooks.Deny(by.ctx, r.id, by.identity(), target); err != nil {
		r.s.log.Warn("sfu: deny hook refused", "room", r.id, "err", err)
		return CodeHookFailed
	}
	r.mu.Lock()
	e = r.lobby[whom]
	r.denied[whom] = CodeDenied
	if e != nil {
		delete(r.lobby, whom)
		r.lobbyUpdateLocked()
	}
	r.mu.Unlock()
	if e != nil {
		e.p.send(Message{Type: TypeDenied, By: by.who.ID})
		e.p.closeWith(CodeDenied)
	}
	return ""
}

func (r *Room) admitAllVerified(by *participant) string {
	r.mu.Lock()
	var ids []ParticipantID
	for id, e := range r.lobby {
		if e.p.who.Level.Verified() {
			ids = append(ids, id)
		}
	}
	r.mu.Unlock()
	slices.Sort(ids)
	for _, id := range ids {
		if code := r.admit(by, id); code == CodeHookFailed {
			return code
		}
	}
	return ""
}

// explainedRefusal is a hook error with its own code and message.
type explainedRefusal interface {
	Code() string
	LocalizedMessage(locales.Lang) string
}

// moderate applies mute, remove, promote, demote, lock, unlock and record.
func (r *Room) moderate(by *participant, m Message) string {
	action := m.Type
	var target Identity
	var tp *participant
	if action == TypeRecord {
		action = "record_stop"
		if m.On != nil && *m.On {
			action = "record_start"
		}
	}
	r.mu.Lock()
	switch action {
	case TypeMute, TypeRemove, TypePromote, TypeDemote:
		tp = r.parts[m.Target]
		if tp == nil && action == TypeRemove {
			if e := r.lobby[m.Target]; e != nil {
				tp = e.p
			}
		}
		if tp == nil {
			r.mu.Unlock()
			return CodeNotFound
		}
		target = tp.identityLocked()
		// Moderators cannot act on the host, and nobody can promote a
		// moderator into a presenter or demote someone who is not one.
		if tp.who.Role == RoleHost && by.who.Role != RoleHost && action != TypeMute {
			r.mu.Unlock()
			return CodeForbidden
		}
		if action == TypePromote && tp.role != RoleParticipant && tp.role != RoleGuest && tp.role != RoleInterpreter {
			r.mu.Unlock()
			return CodeForbidden
		}
		if action == TypeDemote && tp.role != RolePresenter {
			r.mu.Unlock()
			return CodeForbidden
		}
	}
	r.mu.Unlock()

	if err := r.s.hooks.Moderate(by.ctx, r.id, by.identity(), action, target); err != nil {
		r.s.log.Warn("sfu: moderate hook refused", "room", r.id, "action", action, "err", err)
		// A refusal that explains itself (e.g. the recorder: "the key
		// service is unreachable") reaches the actor as it is.
		var ex explainedRefusal
		if errors.As(err, &ex) {
			by.send(Message{Type: TypeError, Error: &ErrorBody{Code: ex.Code(), Message: ex.LocalizedMessage(by.lang), Of: m.Type}})
			return ""
		}
		return CodeHookFailed
	}

	switch action {
	case TypeLock, TypeUnlock:
		r.Lock(action == TypeLock)
	case "record_start", "record_stop":
		r.mu.Lock()
		r.recording = action == "record_start"
		r.broadcastLocked(Message{Type: TypeRecordingState, Recording: ptr(r.recording), By: by.who.ID}, true)
		r.mu.Unlock()
	case TypeRemove:
		r.mu.Lock()
		r.denied[tp.who.ID] = CodeRemoved
		r.mu.Unlock()
		tp.send(Message{Type: TypeModeration, Action: TypeRemove, Target: tp.who.ID, By: by.who.ID})
		tp.closeWith(CodeRemoved)
		r.broadcast(Message{Type: TypeModeration, Action: TypeRemove, Target: tp.who.ID, By: by.who.ID}, false)
	case TypeMute:
		r.setMuted(tp, true, by.who.ID)
	case TypePromote, TypeDemote:
		var revoke []*source
		r.mu.Lock()
		if action == TypePromote {
			tp.prevRole, tp.role = tp.role, RolePresenter
		} else {
			tp.role = tp.prevRole
			if tp.role == "" {
				tp.role = RoleParticipant
			}
		}
		perm := PermissionsFor(r.opts, tp.who, tp.role)
		tp.send(Message{Type: TypePermissionsChanged, Permissions: &perm})
		info := tp.infoLocked()
		r.broadcastLocked(Message{Type: TypeModeration, Action: action, Target: tp.who.ID, By: by.who.ID, Participant: &info}, false)
		for _, src := range r.sources {
			if src.owner == tp && !CanPublish(r.opts, tp.who, tp.role, src.info.Source) {
				revoke = append(revoke, src)
			}
		}
		r.mu.Unlock()
		for _, src := range revoke {
			tp.sendError(CodeTrackForbidden, "")
			r.unpublish(src)
		}
	}
	return ""
}

// setMuted stops (or resumes) forwarding p's microphone. A moderator can
// mute; only the person themself can unmute.
func (r *Room) setMuted(p *participant, muted bool, by ParticipantID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p.muted = muted
	for _, src := range r.sources {
		if src.owner == p && src.info.Source == SourceMicrophone {
			src.muted.Store(muted)
		}
	}
	action := TypeMute
	if !muted {
		action = TypeUnmute
	}
	info := p.infoLocked()
	r.broadcastLocked(Message{Type: TypeModeration, Action: action, Target: p.who.ID, By: by, Participant: &info}, false)
}

func (r *Room) chat(p *participant, text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.broadcastLocked(Message{Type: TypeChat, Chat: &ChatMessage{From: p.who.ID, Name: p.who.DisplayName, Text: text, At: time.Now().UTC()}}, false)
}

func ptr[T any](v T) *T { return &v }
