// Package audit is Mötesvakt's tamper-evident, append-only audit log.
//
// Every entry is chained to the one before it: hash = SHA-256(0x00 ‖
// canonical(entry ‖ prev_hash)). Changing, removing or reordering a stored
// entry breaks the chain at that entry, and Verify names it. Entries are
// written with Append inside the caller's transaction, so an action and its
// audit record commit or roll back together (fail closed, like Vault's audit
// devices).
//
// What the chain does NOT prove on its own: someone with write access to the
// database can recompute the whole chain from the first changed entry on, or
// cut off the tail. Ship Report.Head (or the JSONL export) to a separate system
// now and then and check it with VerifyAnchored; that anchor is what turns
// "tamper-evident to us" into "tamper-evident to an outside auditor".
//
// Keep personal data out: actors are pseudonymous ids ("user:<issuer-hash>:
// <sub>", "guest:<invitee id>", "system"), and details never carry a guest
// code, token, personal identity number or meeting body (validate rejects the
// obvious key names; callers must not smuggle such values under other keys).
package audit

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Seq is an entry's position in the chain. The first entry is 1 and the
// sequence has no gaps; a gap is evidence of a deleted entry.
type Seq = int64

// Actor identifies who did something, pseudonymously.
type Actor string

const (
	// System is the actor for actions the service takes on its own.
	System Actor = "system"
	// Anonymous is the actor for requests nobody is known to have made yet,
	// e.g. a failed guest-code attempt.
	Anonymous Actor = "anonymous"
)

func (a Actor) String() string { return string(a) }

// UserActor names a signed-in user as (IdP, sub) per ASVS 6.8.1. issuerHash is
// a short stable hash of the issuer URL, so the log does not spell out URLs.
func UserActor(issuerHash, sub string) Actor { return Actor("user:" + issuerHash + ":" + sub) }

// GuestActor names a guest by invitee id, never by e-mail.
func GuestActor(inviteeID string) Actor { return Actor("guest:" + inviteeID) }

// Action is what happened. The string value is what gets hashed and stored,
// so a constant's value must never change once entries use it; new actions
// are added freely (add a locale key audit.action.<value> in sv and en).
type Action string

// Known actions. The values are part of the hashed encoding: do NOT rename.
const (
	MeetingCreated     Action = "meeting.created"
	MeetingUpdated     Action = "meeting.updated"
	MeetingDeleted     Action = "meeting.deleted"
	ProfileOverride    Action = "profile.override"
	CodeIssued         Action = "code.issued"
	CodeRevoked        Action = "code.revoked"
	CodeLocked         Action = "code.locked"
	CodeUnlocked       Action = "code.unlocked"
	CodeRedeemed       Action = "code.redeemed"
	CodeFailed         Action = "code.failed"
	SessionReplaced    Action = "session.replaced"
	SignIn             Action = "signin"
	SignInFailed       Action = "signin.failed"
	SignOut            Action = "signout"
	LobbyAdmit         Action = "lobby.admit"
	LobbyDeny          Action = "lobby.deny"
	RoleChanged        Action = "role.changed"
	ParticipantRemoved Action = "participant.removed"
	RoomLocked         Action = "room.locked"
	RoomUnlocked       Action = "room.unlocked"
	RulesChanged       Action = "rules.changed"
	RulesActivated     Action = "rules.activated"
	RecordingStarted   Action = "recording.started"
	RecordingStopped   Action = "recording.stopped"
	RecordingAccessed  Action = "recording.accessed"
	RecordingDeleted   Action = "recording.deleted"
	IncidentOpened     Action = "incident.opened"
	IncidentClosed     Action = "incident.closed"
	AdminForbidden     Action = "admin.forbidden"
	AuditExported      Action = "audit.exported"
	AuditVerified      Action = "audit.verified"
)

// KnownActions lists every action constant above, for the admin page's filter
// and for the locale test.
var KnownActions = []Action{
	MeetingCreated, MeetingUpdated, MeetingDeleted, ProfileOverride,
	CodeIssued, CodeRevoked, CodeLocked, CodeUnlocked, CodeRedeemed, CodeFailed,
	SessionReplaced, SignIn, SignInFailed, SignOut,
	LobbyAdmit, LobbyDeny, RoleChanged, ParticipantRemoved, RoomLocked, RoomUnlocked,
	RulesChanged, RulesActivated,
	RecordingStarted, RecordingStopped, RecordingAccessed, RecordingDeleted,
	IncidentOpened, IncidentClosed, AdminForbidden, AuditExported, AuditVerified,
}

// MessageKey is the locale key of the action's display name.
func (a Action) MessageKey() string { return "audit.action." + string(a) }

// Outcome says how the action ended.
type Outcome string

// Outcomes. Hashed values: do NOT rename.
const (
	Success Outcome = "success"
	Failure Outcome = "failure" // attempted, did not work (wrong code, bad token)
	Denied  Outcome = "denied"  // refused by policy or by a person (lobby deny, forbidden)
)

// MessageKey is the locale key of the outcome's display name.
func (o Outcome) MessageKey() string { return "audit.outcome." + string(o) }

// Entry is what a caller records. Append assigns Seq, PrevHash and Hash.
type Entry struct {
	Time      time.Time         // stored as UTC Unix milliseconds; required
	Actor     Actor             // required
	ActorIP   string            // optional; stored in canonical netip form
	Action    Action            // required
	MeetingID string            // optional
	Subject   string            // whom the action was about (pseudonymous id); optional
	Outcome   Outcome           // required
	Details   map[string]string // small; keys [a-z0-9_.], sorted when hashed
}

// Hash is a SHA-256 digest.
type Hash [32]byte

func (h Hash) String() string { return fmt.Sprintf("%x", h[:]) }

// Record is a stored entry with its place in the chain.
type Record struct {
	Seq      Seq
	Entry         // Time is already truncated to milliseconds, UTC
	PrevHash Hash // zero for Seq 1
	Hash     Hash // SHA-256(0x00 ‖ Canonical())
}

// Limits keep entries small: the log is for evidence, not payloads.
const (
	maxStringLen    = 512
	maxDetails      = 32
	maxDetailKeyLen = 64
)

var (
	// ErrInvalidEntry wraps every validation failure.
	ErrInvalidEntry = errors.New("audit: invalid entry")

	actionRE    = regexp.MustCompile(`^[a-z][a-z_]*(\.[a-z][a-z_]*)*$`)
	detailKeyRE = regexp.MustCompile(`^[a-z0-9_.]+$`)
)

// forbiddenDetailKeys catches the obvious ways a secret or PII could slip
// into the log. It is a seatbelt, not a guarantee.
var forbiddenDetailKeys = map[string]bool{
	"code": true, "guest_code": true, "otp": true, "token": true, "access_token": true,
	"id_token": true, "refresh_token": true, "password": true, "secret": true,
	"personnummer": true, "personal_number": true, "pnr": true, "ssn": true,
	"body": true, "email": true, "cookie": true, "session": true,
}

// normalize validates e and returns it in stored form: time truncated to
// milliseconds in UTC, IP canonical.
func normalize(e Entry) (Entry, error) {
	bad := func(format string, args ...any) (Entry, error) {
		return Entry{}, fmt.Errorf("%w: %s", ErrInvalidEntry, fmt.Sprintf(format, args...))
	}
	if e.Time.IsZero() {
		return bad("time is required")
	}
	e.Time = time.UnixMilli(e.Time.UnixMilli()).UTC()
	if e.Actor == "" || strings.ContainsAny(string(e.Actor), " \t\r\n") {
		return bad("actor must be a non-empty id without whitespace")
	}
	if !actionRE.MatchString(string(e.Action)) || len(e.Action) > 64 {
		return bad("action %q is not a dotted lower-case name", e.Action)
	}
	switch e.Outcome {
	case Success, Failure, Denied:
	default:
		return bad("outcome %q is not success, failure or denied", e.Outcome)
	}
	if e.ActorIP != "" {
		ip, err := netip.ParseAddr(e.ActorIP)
		if err != nil {
			return bad("actor_ip: %v", err)
		}
		e.ActorIP = ip.Unmap().String()
	}
	for name, s := range map[string]string{"actor": string(e.Actor), "meeting_id": e.MeetingID, "subject": e.Subject} {
		if len(s) > maxStringLen || !utf8.ValidString(s) {
			return bad("%s is too long or not UTF-8", name)
		}
	}
	if len(e.Details) > maxDetails {
		return bad("%d details, at most %d", len(e.Details), maxDetails)
	}
	if len(e.Details) == 0 {
		e.Details = nil // nil and empty hash the same; store them the same
	} else {
		d := make(map[string]string, len(e.Details))
		for k, v := range e.Details {
			if len(k) > maxDetailKeyLen || !detailKeyRE.MatchString(k) {
				return bad("detail key %q must match [a-z0-9_.]{1,64}", k)
			}
			if forbiddenDetailKeys[k] {
				return bad("detail key %q may carry a secret or personal data", k)
			}
			if len(v) > maxStringLen || !utf8.ValidString(v) {
				return bad("detail %q is too long or not UTF-8", k)
			}
			d[k] = v
		}
		e.Details = d
	}
	return e, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
