package backend

import (
	"context"
	"time"
)

// UserID identifies a signed-in person: a pseudonymous, stable key derived
// from (issuer, subject), never from the e-mail address (ASVS 6.8.1).
type UserID string

// SessionID is the opaque, 256-bit random value in the session cookie. Only
// its SHA-256 is stored.
type SessionID string

// Role is an organisation-level role from the identity provider.
type Role string

const (
	RoleHost  Role = "host"
	RoleAdmin Role = "admin"
)

// SessionKind tells a signed-in user from a guest who redeemed a code.
type SessionKind string

const (
	SessionUser  SessionKind = "user"
	SessionGuest SessionKind = "guest"
)

// User is a person known through sign-in.
type User struct {
	ID      UserID    `json:"id"`
	Issuer  string    `json:"issuer"`
	Subject string    `json:"subject"`
	Email   string    `json:"email"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
}

// Session is a live browser session, of a user or of a guest.
type Session struct {
	ID   SessionID   `json:"-"`
	Kind SessionKind `json:"kind"`
	// UserID is set for user sessions.
	UserID UserID `json:"user_id,omitempty"`
	Email  string `json:"email"`
	Name   string `json:"name"`
	Roles  []Role `json:"roles"`
	// MFA is true when the identity provider vouched for a second factor
	// (amr/acr) at sign-in.
	MFA bool `json:"mfa"`
	// Demo marks sessions from the loopback-only demo sign-in.
	Demo bool `json:"demo"`
	// MeetingID and InviteeID are set for guest sessions, which are valid for
	// one meeting only.
	MeetingID string    `json:"meeting_id,omitempty"`
	InviteeID string    `json:"invitee_id,omitempty"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
}

// HasRole reports whether the session carries role r.
func (s *Session) HasRole(r Role) bool {
	if s == nil {
		return false
	}
	for _, x := range s.Roles {
		if x == r {
			return true
		}
	}
	return false
}

// SessionService stores sessions. Implemented by sqlite.
type SessionService interface {
	CreateSession(ctx context.Context, s *Session) (SessionID, error)
	FindSession(ctx context.Context, id SessionID) (*Session, error)
	DeleteSession(ctx context.Context, id SessionID) error
}

type ctxKey int

const sessionKey ctxKey = iota

// NewContextWithSession returns a context carrying the caller's session.
func NewContextWithSession(ctx context.Context, s *Session) context.Context {
	return context.WithValue(ctx, sessionKey, s)
}

// SessionFromContext returns the caller's session, or nil.
func SessionFromContext(ctx context.Context) *Session {
	s, _ := ctx.Value(sessionKey).(*Session)
	return s
}
