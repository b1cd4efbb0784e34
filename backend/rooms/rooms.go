// Package rooms maps meetings onto live SFU rooms: a meeting's profile
// becomes the room's options, a session becomes a participant identity, and
// every admission, denial and moderation the SFU asks about is written to
// the audit log before it takes effect (the SFU fails closed if it cannot).
package rooms

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/audit"
	"github.com/motesvakt/motesvakt/backend/sqlite"
	"github.com/motesvakt/motesvakt/sfu"
)

// OptionsFor derives the room's rules from the meeting's profile settings
// (DESIGN.md table). The SFU enforces them.
func OptionsFor(m *backend.Meeting) sfu.RoomOptions {
	st := m.Settings
	o := sfu.RoomOptions{
		Lobby:               sfu.LobbyMode(st.Lobby),
		ListenOnlyAttendees: st.AttendeeMedia == "listen_only",
		ScreenShare:         sfu.ScreenSharePolicy(st.ScreenShare),
		Chat:                st.Chat,
		RecordingAllowed:    st.Recording == "host_may_start",
		Locked:              m.Locked || m.Incident,
	}
	switch o.Lobby {
	case sfu.LobbyNone, sfu.LobbyExternals, sfu.LobbyEveryone:
	default:
		o.Lobby = sfu.LobbyEveryone // an unknown value fails closed
	}
	return o
}

// Manager owns the mapping between meetings and SFU rooms.
type Manager struct {
	SFU      *sfu.SFU
	DB       *sqlite.DB
	Internal backend.Domains
	Log      *slog.Logger
	// TwoHostApproval makes protected meetings (lobby for everyone) need two
	// distinct hosts to admit an external participant.
	TwoHostApproval bool
	// RecordingRefused is told when a policy change forbids recording in a
	// live room, so open recordings are finished (the recorder).
	RecordingRefused func(id backend.MeetingID)

	mu     sync.Mutex
	actors map[sfu.ParticipantID]participantRef
	ends   map[backend.MeetingID]time.Time // live rooms and when their meeting ends
	// banned holds, per room, the signed-in users a host removed or denied.
	// The SFU bars the participant id; since a user may join from several
	// tabs (each its own participant), the ban is kept per person here.
	banned map[sfu.RoomID]map[string]bool
}

// Grace is how long a room stays open after its meeting's end.
const Grace = time.Hour

type participantRef struct {
	actor   audit.Actor
	subject string
}

// Room returns the live room for m, creating it with m's options.
func (r *Manager) Room(m *backend.Meeting) *sfu.Room {
	r.mu.Lock()
	if r.ends == nil {
		r.ends = map[backend.MeetingID]time.Time{}
	}
	r.ends[m.ID] = m.End
	r.mu.Unlock()
	return r.SFU.Room(sfu.RoomID(m.ID), r.options(m))
}

// options is OptionsFor plus the organisation-wide room policy.
func (r *Manager) options(m *backend.Meeting) sfu.RoomOptions {
	o := OptionsFor(m)
	o.TwoHostApprovalForExternals = r.TwoHostApproval && o.Lobby == sfu.LobbyEveryone
	return o
}

// CloseEnded closes the rooms of meetings that ended more than Grace
// before now, dropping everyone still in them; it returns how many.
func (r *Manager) CloseEnded(now time.Time) int {
	r.mu.Lock()
	var ended []backend.MeetingID
	for id, end := range r.ends {
		if now.After(end.Add(Grace)) {
			ended = append(ended, id)
			delete(r.ends, id)
		}
	}
	r.mu.Unlock()
	r.mu.Lock()
	for _, id := range ended {
		delete(r.banned, sfu.RoomID(id))
	}
	r.mu.Unlock()
	for _, id := range ended {
		r.SFU.CloseRoom(sfu.RoomID(id))
		r.Log.Info("room closed after the meeting ended", "meeting", id)
	}
	return len(ended)
}

// Run closes ended meetings' rooms on every tick until ctx ends.
func (r *Manager) Run(ctx context.Context, tick <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick:
			r.CloseEnded(now)
		}
	}
}

// Apply pushes m's current policy into its live room, if one runs: when a
// calendar change raises the profile, the lobby turns on at once.
func (r *Manager) Apply(m *backend.Meeting) {
	if r.SFU == nil {
		return
	}
	if room := r.SFU.Lookup(sfu.RoomID(m.ID)); room != nil {
		o := r.options(m)
		room.SetOptions(o)
		if !o.RecordingAllowed && r.RecordingRefused != nil {
			r.RecordingRefused(m.ID)
		}
	}
}

// Kick removes participants by id from a meeting's live room.
func (r *Manager) Kick(id backend.MeetingID, pids []sfu.ParticipantID, reason string) {
	if r.SFU == nil {
		return
	}
	if room := r.SFU.Lookup(sfu.RoomID(id)); room != nil {
		for _, p := range pids {
			room.Remove(p, reason)
		}
	}
}

// GuestParticipantID is the room identity of one guest session. It is tied
// to the session, not the person: a denied or removed guest cannot come
// back with the same session, and a second redeem (new session) replaces it.
func GuestParticipantID(sessionHash string) sfu.ParticipantID {
	if len(sessionHash) > 16 {
		sessionHash = sessionHash[:16]
	}
	return sfu.ParticipantID("g_" + sessionHash)
}

// ValidTab reports whether s can name a browser tab: 6–32 characters of
// [a-z0-9]. Pages send a fresh one per load.
func ValidTab(s string) bool {
	if len(s) < 6 || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// Identity establishes who a session is in meeting m, or refuses. A
// signed-in user may be in the room from several tabs: tab (see ValidTab)
// makes each its own participant; without it a second connection replaces
// the first. A guest always has one participant per session.
func (r *Manager) Identity(m *backend.Meeting, sess *backend.Session, tab string) (sfu.Identity, error) {
	if sess == nil {
		return sfu.Identity{}, backend.Errorf(backend.EUNAUTHORIZED, "error.unauthorized")
	}
	var id sfu.Identity
	ref := participantRef{}
	switch sess.Kind {
	case backend.SessionGuest:
		if sess.MeetingID != string(m.ID) {
			// A guest cookie is good for one meeting only.
			return id, backend.Errorf(backend.EFORBIDDEN, "meeting.wrong_meeting")
		}
		id = sfu.Identity{ID: GuestParticipantID(sqlite.SessionHash(sess.ID)), DisplayName: sess.Name, Email: sess.Email, Role: sfu.RoleGuest, Level: sfu.LevelUnverified}
		if sess.InviteeID != "" {
			active := false
			for _, g := range m.Guests {
				if string(g.ID) == sess.InviteeID && g.Status == backend.GuestActive {
					active = true
				}
			}
			if !active {
				return id, backend.Errorf(backend.EFORBIDDEN, "meeting.invitation_revoked")
			}
			id.Level, id.Invited, id.CodeVerifiedAt = sfu.LevelCodeVerified, true, sess.Created
			ref = participantRef{actor: audit.GuestActor(sess.InviteeID), subject: "guest:" + sess.InviteeID}
		} else {
			ref = participantRef{actor: audit.Actor("link:" + string(id.ID)), subject: "link:" + string(id.ID)}
		}
	case backend.SessionUser:
		internal := r.Internal.Internal(sess.Email)
		if m.Settings.SignIn == "required_mfa" && !sess.MFA {
			return id, backend.Errorf(backend.EFORBIDDEN, "auth.mfa_required")
		}
		if r.isBanned(sfu.RoomID(m.ID), "user:"+string(sess.UserID)) {
			return id, backend.Errorf(backend.EFORBIDDEN, "meeting.removed")
		}
		pid := "u_" + string(sess.UserID)
		if ValidTab(tab) {
			pid += "_" + tab
		}
		id = sfu.Identity{ID: sfu.ParticipantID(pid), DisplayName: displayName(sess), Email: sess.Email, Internal: internal}
		switch {
		case internal && sess.MFA:
			id.Level = sfu.LevelInternalMFA
		case internal:
			id.Level = sfu.LevelInternalSSO
		default:
			id.Level = sfu.LevelExternalSSO
		}
		switch {
		case sess.UserID == m.HostUserID:
			id.Role, id.Invited = sfu.RoleHost, true
		case internal:
			id.Role = sfu.RoleParticipant
		default:
			id.Role = sfu.RoleGuest
		}
		for _, g := range m.Guests {
			if g.Email == strings.ToLower(sess.Email) && g.Status == backend.GuestActive {
				id.Invited = true
			}
		}
		ref = participantRef{actor: audit.Actor("user:" + string(sess.UserID)), subject: "user:" + string(sess.UserID)}
	default:
		return id, backend.Errorf(backend.EUNAUTHORIZED, "error.unauthorized")
	}
	r.mu.Lock()
	if r.actors == nil {
		r.actors = map[sfu.ParticipantID]participantRef{}
	}
	r.actors[id.ID] = ref
	r.mu.Unlock()
	return id, nil
}

func displayName(s *backend.Session) string {
	if s.Name != "" {
		return s.Name
	}
	return strings.Split(s.Email, "@")[0]
}

func (r *Manager) isBanned(room sfu.RoomID, subject string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.banned[room][subject]
}

// ban bars a signed-in user from coming back to room from any tab.
func (r *Manager) ban(room sfu.RoomID, who sfu.Identity) {
	ref := r.ref(who)
	if !strings.HasPrefix(ref.subject, "user:") {
		return // guests are barred by session in the SFU
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.banned == nil {
		r.banned = map[sfu.RoomID]map[string]bool{}
	}
	if r.banned[room] == nil {
		r.banned[room] = map[string]bool{}
	}
	r.banned[room][ref.subject] = true
}

// Actor is the audit actor of a room participant (user:…, guest:…).
func (r *Manager) Actor(id sfu.Identity) audit.Actor { return r.ref(id).actor }

func (r *Manager) ref(id sfu.Identity) participantRef {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ref, ok := r.actors[id.ID]; ok {
		return ref
	}
	return participantRef{actor: audit.Actor("participant:" + string(id.ID)), subject: "participant:" + string(id.ID)}
}

// Hooks returns the SFU hooks that audit every decision.
func (r *Manager) Hooks() sfu.Hooks { return hooks{r} }

type hooks struct{ r *Manager }

func evidence(whom sfu.Identity) map[string]string {
	d := map[string]string{
		"level":    string(whom.Level),
		"internal": boolStr(whom.Internal),
		"invited":  boolStr(whom.Invited),
		"verified": boolStr(whom.Level.Verified()),
		"role":     string(whom.Role),
	}
	if !whom.CodeVerifiedAt.IsZero() {
		d["code_verified_at"] = whom.CodeVerifiedAt.UTC().Format(time.RFC3339)
	}
	return d
}

func (h hooks) record(ctx context.Context, room sfu.RoomID, by sfu.Identity, action audit.Action, outcome audit.Outcome, whom *sfu.Identity, details map[string]string, then func(*sqlite.Tx) error) error {
	return h.r.DB.InTx(ctx, func(tx *sqlite.Tx) error {
		e := audit.Entry{Time: tx.Now, Actor: h.r.ref(by).actor, Action: action, MeetingID: string(room), Outcome: outcome, Details: details}
		if whom != nil {
			e.Subject = h.r.ref(*whom).subject
		}
		if _, err := audit.Append(ctx, tx.Tx, e); err != nil {
			return err
		}
		if then != nil {
			return then(tx)
		}
		return nil
	})
}

func (h hooks) Admit(ctx context.Context, room sfu.RoomID, by, whom sfu.Identity) error {
	return h.record(ctx, room, by, audit.LobbyAdmit, audit.Success, &whom, evidence(whom), nil)
}

func (h hooks) Deny(ctx context.Context, room sfu.RoomID, by, whom sfu.Identity) error {
	if err := h.record(ctx, room, by, audit.LobbyDeny, audit.Denied, &whom, evidence(whom), nil); err != nil {
		return err
	}
	h.r.ban(room, whom)
	return nil
}

func (h hooks) Moderate(ctx context.Context, room sfu.RoomID, by sfu.Identity, action string, target sfu.Identity) error {
	var a audit.Action
	var then func(*sqlite.Tx) error
	details := map[string]string{"action": action}
	var whom *sfu.Identity
	switch action {
	case "lock", "unlock":
		a = audit.RoomLocked
		if action == "unlock" {
			a = audit.RoomUnlocked
		}
		locked := action == "lock"
		then = func(tx *sqlite.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE meetings SET locked = ?, updated_at = ? WHERE id = ?`, locked, tx.Now.UnixMilli(), string(room))
			return err
		}
	case "remove":
		a, whom = audit.ParticipantRemoved, &target
	case "promote", "demote", "mute":
		a, whom = audit.RoleChanged, &target
	case "record_start":
		a = audit.RecordingStarted
	case "record_stop":
		a = audit.RecordingStopped
	default:
		a = audit.Action("room." + action)
	}
	if whom != nil {
		for k, v := range evidence(*whom) {
			details["target_"+k] = v
		}
	}
	if err := h.record(ctx, room, by, a, audit.Success, whom, details, then); err != nil {
		return err
	}
	if action == "remove" {
		h.r.ban(room, target)
	}
	return nil
}

func (h hooks) Joined(ctx context.Context, room sfu.RoomID, who sfu.Identity) {
	h.r.Log.Info("participant joined", "meeting", room, "participant", who.ID, "role", who.Role, "level", who.Level)
}

func (h hooks) Left(ctx context.Context, room sfu.RoomID, who sfu.Identity) {
	h.r.Log.Info("participant left", "meeting", room, "participant", who.ID)
	h.r.mu.Lock()
	delete(h.r.actors, who.ID)
	h.r.mu.Unlock()
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
