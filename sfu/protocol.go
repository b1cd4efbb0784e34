package sfu

import (
	"time"

	"github.com/pion/webrtc/v4"
)

// ProtocolVersion is the "v" of every signaling message. See PROTOCOL.md.
const ProtocolVersion = 1

// MaxMessageSize caps one signaling message; larger ones close the session.
const MaxMessageSize = 64 << 10

// Message types, client → server.
const (
	TypeJoin             = "join"
	TypePing             = "ping"
	TypeBye              = "bye"
	TypeOffer            = "offer"  // pc:"pub" from client; pc:"sub" from server
	TypeAnswer           = "answer" // pc:"sub" from client; pc:"pub" from server
	TypeCandidate        = "candidate"
	TypeChat             = "chat"
	TypeAdmit            = "admit"
	TypeDeny             = "deny"
	TypeAdmitAllVerified = "admit_all_verified"
	TypeMute             = "mute"
	TypeUnmute           = "unmute" // self only: take back your own microphone
	TypeRemove           = "remove"
	TypePromote          = "promote"
	TypeDemote           = "demote"
	TypeLock             = "lock"
	TypeUnlock           = "unlock"
	TypeRecord           = "record"
	TypeUnpublish        = "unpublish"
)

// Message types, server → client.
const (
	TypeWelcome            = "welcome"
	TypePong               = "pong"
	TypeLobbyWaiting       = "lobby_waiting"
	TypeLobbyUpdate        = "lobby_update"
	TypeAdmitted           = "admitted"
	TypeDenied             = "denied"
	TypeParticipantJoined  = "participant_joined"
	TypeParticipantLeft    = "participant_left"
	TypeTrackPublished     = "track_published"
	TypeTrackUnpublished   = "track_unpublished"
	TypeSpeakerChanged     = "speaker_changed"
	TypePermissionsChanged = "permissions_changed"
	TypeModeration         = "moderation"
	TypeRecordingState     = "recording_state"
	TypeRoomState          = "room_state"
	TypeError              = "error"
)

// PC names the two peer connections of a participant.
const (
	PCPublish   = "pub" // client offers, server answers: the client's own media
	PCSubscribe = "sub" // server offers, client answers: everyone else's media
)

// Error codes. The message text comes from locales (room.error.<code>).
const (
	CodeBadMessage       = "bad_message"
	CodeTooLarge         = "too_large"
	CodeUnsupportedVer   = "unsupported_version"
	CodeUnknownType      = "unknown_type"
	CodeNotJoined        = "not_joined"
	CodeNotAdmitted      = "not_admitted"
	CodeForbidden        = "forbidden"
	CodeTrackForbidden   = "track_forbidden"
	CodeUnsupportedCodec = "unsupported_codec"
	CodeBadSDP           = "bad_sdp"
	CodeAnswerTimeout    = "answer_timeout"
	CodeDenied           = "denied"
	CodeRemoved          = "removed"
	CodeReplaced         = "replaced"
	CodeRateLimited      = "rate_limited"
	CodeRoomFull         = "room_full"
	CodeNotFound         = "not_found"
	CodeChatDisabled     = "chat_disabled"
	CodeRecordingRefused = "recording_refused"
	CodeHookFailed       = "hook_failed"
	CodeIdleTimeout      = "idle_timeout"
	CodeSlowConsumer     = "slow_consumer"
	CodeNeedsSecondHost  = "needs_second_host"
	CodeInternal         = "internal"
)

// Message is the one JSON envelope both directions use; each type fills
// the fields PROTOCOL.md lists for it and leaves the rest out.
type Message struct {
	V    int    `json:"v"`
	Type string `json:"type"`

	Lang string `json:"lang,omitempty"` // join

	PC        string                   `json:"pc,omitempty"`
	SDP       string                   `json:"sdp,omitempty"`
	Candidate *webrtc.ICECandidateInit `json:"candidate,omitempty"`
	// Tracks maps the client's MediaStreamTrack ids in a pub offer to what
	// they carry; undeclared audio is a microphone, undeclared video a camera.
	Tracks map[string]Source `json:"tracks,omitempty"`

	Target ParticipantID `json:"target,omitempty"`
	Text   string        `json:"text,omitempty"`
	On     *bool         `json:"on,omitempty"` // record, lock state in room_state
	Track  TrackID       `json:"track,omitempty"`

	Me           *ParticipantInfo  `json:"me,omitempty"`
	Participants []ParticipantInfo `json:"participants,omitempty"`
	Participant  *ParticipantInfo  `json:"participant,omitempty"`
	Options      *RoomOptions      `json:"options,omitempty"`
	Lobby        []LobbyEntry      `json:"lobby,omitempty"`
	Published    []TrackInfo       `json:"published,omitempty"`
	TrackInfo    *TrackInfo        `json:"track_info,omitempty"`
	Speaker      ParticipantID     `json:"speaker,omitempty"`
	Permissions  *Permissions      `json:"permissions,omitempty"`
	Chat         *ChatMessage      `json:"chat,omitempty"`
	Action       string            `json:"action,omitempty"`
	By           ParticipantID     `json:"by,omitempty"`
	Recording    *bool             `json:"recording,omitempty"`
	Locked       *bool             `json:"locked,omitempty"`
	Reason       string            `json:"reason,omitempty"`
	Error        *ErrorBody        `json:"error,omitempty"`
	ID           string            `json:"id,omitempty"` // echoed on ping/pong and in errors
}

// ErrorBody is the payload of an error message.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Of is the type of the message that caused the error, if any.
	Of string `json:"of,omitempty"`
}

// ParticipantInfo is what everyone in the room sees about a participant.
type ParticipantInfo struct {
	ID          ParticipantID `json:"id"`
	DisplayName string        `json:"display_name"`
	Role        Role          `json:"role"`
	Level       IdentityLevel `json:"level"`
	Internal    bool          `json:"internal"`
	Muted       bool          `json:"muted"`
}

// LobbyEntry is one waiting person with the evidence a host decides on.
type LobbyEntry struct {
	ID             ParticipantID   `json:"id"`
	DisplayName    string          `json:"display_name"`
	Email          string          `json:"email,omitempty"`
	Role           Role            `json:"role"`
	Level          IdentityLevel   `json:"level"`
	Internal       bool            `json:"internal"`
	Invited        bool            `json:"invited"`
	CodeVerifiedAt time.Time       `json:"code_verified_at,omitzero"`
	WaitingSince   time.Time       `json:"waiting_since"`
	NeedsApprovals int             `json:"needs_approvals"`
	ApprovedBy     []ParticipantID `json:"approved_by,omitempty"`
}

// TrackInfo describes a published track.
type TrackInfo struct {
	ID          TrackID       `json:"id"`
	Participant ParticipantID `json:"participant"`
	Source      Source        `json:"source"`
	Kind        string        `json:"kind"` // audio | video
	Layers      []string      `json:"layers,omitempty"`
	// StreamID and TrackID are the msid the subscriber's PeerConnection sees.
	StreamID string `json:"stream_id"`
	Muted    bool   `json:"muted,omitempty"`
}

// Permissions tells a client what it may do right now.
type Permissions struct {
	Publish  []Source `json:"publish"`
	Chat     bool     `json:"chat"`
	Moderate bool     `json:"moderate"`
	Record   bool     `json:"record"`
}

// ChatMessage is one chat line.
type ChatMessage struct {
	From ParticipantID `json:"from"`
	Name string        `json:"name"`
	Text string        `json:"text"`
	At   time.Time     `json:"at"`
}
