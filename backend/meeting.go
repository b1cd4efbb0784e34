package backend

import (
	"context"
	"time"

	"github.com/motesvakt/motesvakt/classifiers"
	"github.com/motesvakt/motesvakt/locales"
)

// MeetingID identifies a provisioned meeting: 128 random bits, base32.
type MeetingID string

// InviteeID identifies one invited person within one meeting.
type InviteeID string

// Provider is where a meeting was booked.
type Provider string

const (
	ProviderOutlook Provider = "outlook"
	ProviderGoogle  Provider = "google"
	ProviderManual  Provider = "manual"
)

// EventRef ties a meeting to its calendar event so provisioning is
// idempotent: the same ref updates the same meeting.
type EventRef struct {
	Provider Provider `json:"provider"`
	ID       string   `json:"id"`
	ICalUID  string   `json:"ical_uid,omitempty"`
}

// Key is the idempotency key: provider and iCalUID when known (stable across
// Outlook/Graph id changes), else provider and id.
func (r EventRef) Key() string {
	if r.ICalUID != "" {
		return string(r.Provider) + ":ical:" + r.ICalUID
	}
	return string(r.Provider) + ":id:" + r.ID
}

// Guest statuses.
const (
	GuestActive  = "active"
	GuestRevoked = "revoked"
)

// Guest is one invitee of a meeting and the state of their code and mail.
type Guest struct {
	ID       InviteeID `json:"id"`
	Email    string    `json:"email"`
	Name     string    `json:"name,omitempty"`
	Internal bool      `json:"internal"`
	Status   string    `json:"status"`
	// Delivery is the latest mail status: queued, sending, sent, failed,
	// or "none" for internal invitees who sign in instead of using a code.
	Delivery      string    `json:"delivery"`
	DeliveryID    string    `json:"delivery_id,omitempty"`
	DeliveryError string    `json:"delivery_error,omitempty"`
	CodeIssuedAt  time.Time `json:"code_issued_at,omitzero"`
}

// Meeting is a provisioned room and its policy.
type Meeting struct {
	ID      MeetingID `json:"id"`
	Title   string    `json:"title"`
	JoinURL string    `json:"join_url"`
	// Profile is what the host chose; Suggested what classification said.
	Profile         classifiers.Profile    `json:"profile"`
	Suggested       classifiers.Profile    `json:"suggested"`
	OverrideReason  string                 `json:"override_reason,omitempty"`
	Settings        classifiers.Settings   `json:"settings"`
	Categories      []classifiers.Category `json:"categories"`
	ExternalDomains []string               `json:"external_domains"`
	HostUserID      UserID                 `json:"host_user_id"`
	HostEmail       string                 `json:"host_email"`
	Start           time.Time              `json:"start"`
	End             time.Time              `json:"end"`
	Recurrence      string                 `json:"recurrence,omitempty"`
	EventRef        EventRef               `json:"event_ref"`
	RulesVersion    int64                  `json:"rules_version"`
	Locked          bool                   `json:"locked"`
	Incident        bool                   `json:"incident"`
	Created         time.Time              `json:"created"`
	Updated         time.Time              `json:"updated"`
	Guests          []Guest                `json:"guests"`
	// InviteeChanges counts invitee-list changes of a recurring meeting;
	// each one rotates the join link (see meetings.Service.RotateEvery).
	InviteeChanges int64 `json:"invitee_changes"`
	// LinkEpoch is the rotation epoch JoinURL was computed for.
	LinkEpoch int64 `json:"link_epoch"`
}

// Occurrence is one occurrence of a recurring meeting. Guests' codes are
// issued per occurrence, each valid only in that occurrence's window.
type Occurrence struct {
	// Key names the occurrence independent of provider and stays the same
	// when the occurrence is moved (gcal.OccurrenceKey).
	Key   string    `json:"key"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// LinkEpoch is the join link's epoch when the occurrence's codes were
	// last mailed; that link keeps working during the occurrence.
	LinkEpoch int64     `json:"link_epoch"`
	Created   time.Time `json:"created,omitzero"`
}

// Actor is who asks a service to act: a signed-in user from a browser
// session, or an add-in user identified by a verified bearer token.
type Actor struct {
	UserID UserID
	Email  string
	Name   string
	Roles  []Role
	MFA    bool
	IP     string
}

// HasRole reports whether the actor carries role r.
func (a Actor) HasRole(r Role) bool {
	for _, x := range a.Roles {
		if x == r {
			return true
		}
	}
	return false
}

// ActorFromSession describes a browser session's user as an Actor.
func ActorFromSession(s *Session, ip string) Actor {
	return Actor{UserID: s.UserID, Email: s.Email, Name: s.Name, Roles: s.Roles, MFA: s.MFA, IP: ip}
}

// ProvisionRequest is the body of POST /api/v1/meetings.
type ProvisionRequest struct {
	Event          classifiers.Event   `json:"event"`
	Profile        classifiers.Profile `json:"profile"`
	OverrideReason string              `json:"override_reason,omitempty"`
	EventRef       EventRef            `json:"event_ref"`
	// Occurrence, on a recurring meeting, is the occurrence being
	// provisioned: its guests get codes for this occurrence's window.
	Occurrence *Occurrence `json:"occurrence,omitempty"`
	// Lang is the language of guest mails; default the service's.
	Lang locales.Lang `json:"lang,omitempty"`
	// FromSync marks a provision driven by a calendar change rather than
	// by the host; a profile it raises is mailed to the host.
	FromSync bool `json:"-"`
}

// PolicySource hands out the classification engine in force. Each
// classification uses the one engine it got, end to end, so a rule change
// mid-request cannot mix versions.
type PolicySource interface {
	Engine(ctx context.Context) (*classifiers.Engine, int64, error)
}

// MeetingService provisions and finds meetings. Implemented by meetings.
type MeetingService interface {
	Classify(ctx context.Context, ev classifiers.Event, lang locales.Lang) (classifiers.Result, int64, error)
	Provision(ctx context.Context, by Actor, req ProvisionRequest) (*Meeting, error)
	Meeting(ctx context.Context, id MeetingID) (*Meeting, error)
	MeetingByEvent(ctx context.Context, ref EventRef) (*Meeting, error)
}
