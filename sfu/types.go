// Package sfu is Mötesvakt's embedded selective forwarding unit: rooms,
// participants, the lobby, the signaling state machine and pion-based media
// forwarding. It knows rooms and participants, never calendars: the backend
// maps a meeting profile onto RoomOptions and an authenticated user onto an
// Identity, and implements Hooks to audit every admission and moderation.
package sfu

import (
	"context"
	"time"
)

// RoomID names a room; the backend uses the meeting id.
type RoomID string

// ParticipantID is the stable identity of a person in a room (user id or
// guest id). A second session with the same id replaces the first.
type ParticipantID string

// TrackID names one published track inside a room.
type TrackID string

// Role is what a participant may do in a room.
type Role string

const (
	RoleHost        Role = "host"
	RoleCohost      Role = "cohost"
	RolePresenter   Role = "presenter"
	RoleParticipant Role = "participant"
	RoleGuest       Role = "guest"
	RoleInterpreter Role = "interpreter"
)

// Roles lists every role, for permission-matrix tests and admin pages.
var Roles = []Role{RoleHost, RoleCohost, RolePresenter, RoleParticipant, RoleGuest, RoleInterpreter}

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	for _, x := range Roles {
		if x == r {
			return true
		}
	}
	return false
}

// IsHost reports whether the role carries moderator rights. Only host and
// cohost do; an interpreter never does, whatever else it is granted.
func (r Role) IsHost() bool { return r == RoleHost || r == RoleCohost }

// IdentityLevel is how strongly the backend established who someone is.
type IdentityLevel string

const (
	LevelInternalMFA  IdentityLevel = "internal_mfa"
	LevelInternalSSO  IdentityLevel = "internal_sso"
	LevelExternalSSO  IdentityLevel = "external_sso"
	LevelCodeVerified IdentityLevel = "code_verified"
	LevelUnverified   IdentityLevel = "unverified" // display name only
)

// Verified reports whether the level rests on more than a typed-in name.
func (l IdentityLevel) Verified() bool {
	switch l {
	case LevelInternalMFA, LevelInternalSSO, LevelExternalSSO, LevelCodeVerified:
		return true
	}
	return false
}

// Identity is who a session claims to be, as established by the backend.
// The SFU trusts it; it never authenticates anyone itself.
type Identity struct {
	ID             ParticipantID `json:"id"`
	DisplayName    string        `json:"display_name"`
	Email          string        `json:"email,omitempty"`
	Role           Role          `json:"role"`
	Level          IdentityLevel `json:"level"`
	Internal       bool          `json:"internal"`
	Invited        bool          `json:"invited"`
	CodeVerifiedAt time.Time     `json:"code_verified_at,omitzero"`
	// Lang is the preferred UI language ("sv", "en") for error messages;
	// a "lang" field in the join message overrides it.
	Lang string `json:"-"`
}

// LobbyMode says who waits for explicit admission.
type LobbyMode string

const (
	LobbyNone      LobbyMode = "none"
	LobbyExternals LobbyMode = "externals" // externals and unverified wait; internals pass
	LobbyEveryone  LobbyMode = "everyone"  // all but hosts wait
)

// ScreenSharePolicy says who may publish a screen share.
type ScreenSharePolicy string

const (
	ShareHostsPresenters  ScreenSharePolicy = "hosts_presenters"
	ShareInternalSignedIn ScreenSharePolicy = "internal_signed_in"
	ShareHostsElevated    ScreenSharePolicy = "hosts_elevated" // hosts, and whoever a host promotes
)

// RoomOptions are the room's rules, derived by the backend from the meeting
// profile (DESIGN.md table). The SFU enforces them; clients only display them.
type RoomOptions struct {
	Lobby                       LobbyMode         `json:"lobby"`
	ListenOnlyAttendees         bool              `json:"listen_only_attendees"`
	ScreenShare                 ScreenSharePolicy `json:"screen_share"`
	Chat                        bool              `json:"chat"`
	RecordingAllowed            bool              `json:"recording_allowed"`
	Locked                      bool              `json:"locked"`
	TwoHostApprovalForExternals bool              `json:"two_host_approval_for_externals"`
}

// Source is what a published track carries.
type Source string

const (
	SourceMicrophone  Source = "microphone"
	SourceCamera      Source = "camera"
	SourceScreen      Source = "screen"
	SourceScreenAudio Source = "screen_audio"
)

// Hooks lets the backend decide and audit. The SFU calls each hook
// synchronously BEFORE the action takes effect; a non-nil error aborts the
// action (fail closed) and the actor gets error{code:"hook_failed"}.
type Hooks interface {
	Admit(ctx context.Context, room RoomID, by, whom Identity) error
	Deny(ctx context.Context, room RoomID, by, whom Identity) error
	// Moderate covers mute, remove, promote, demote, lock, unlock,
	// record_start and record_stop. For lock/unlock/record the target is the zero Identity.
	Moderate(ctx context.Context, room RoomID, by Identity, action string, target Identity) error
	Joined(ctx context.Context, room RoomID, who Identity)
	Left(ctx context.Context, room RoomID, who Identity)
}

// NopHooks allows everything and records nothing. For tests and the load tool.
type NopHooks struct{}

func (NopHooks) Admit(context.Context, RoomID, Identity, Identity) error { return nil }
func (NopHooks) Deny(context.Context, RoomID, Identity, Identity) error  { return nil }
func (NopHooks) Moderate(context.Context, RoomID, Identity, string, Identity) error {
	return nil
}
func (NopHooks) Joined(context.Context, RoomID, Identity) {}
func (NopHooks) Left(context.Context, RoomID, Identity)   {}

// Conn is one participant's signaling transport, typically a WebSocket. The
// SFU reads and writes whole JSON messages; Close ends the transport with a
// reason the peer may show.
type Conn interface {
	Read(ctx context.Context) ([]byte, error)
	Write(ctx context.Context, msg []byte) error
	Close(reason string) error
}
