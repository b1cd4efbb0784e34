package classifiers

import (
	"fmt"
	"strings"
)

// Profile is one of the three meeting security profiles.
type Profile string

const (
	ProfileOpen      Profile = "open"
	ProfileInternal  Profile = "internal"
	ProfileProtected Profile = "protected"
)

// Rank orders profiles by strictness so classification can only raise:
// open < internal < protected. Unknown profiles rank below open.
func (p Profile) Rank() int {
	switch p {
	case ProfileOpen:
		return 1
	case ProfileInternal:
		return 2
	case ProfileProtected:
		return 3
	}
	return 0
}

// Valid reports whether p is one of the three profiles.
func (p Profile) Valid() bool { return p.Rank() > 0 }

// ParseProfile accepts a profile name, case-insensitively.
func ParseProfile(s string) (Profile, error) {
	p := Profile(strings.ToLower(strings.TrimSpace(s)))
	if !p.Valid() {
		return "", fmt.Errorf("classifiers: unknown profile %q (want open, internal or protected)", s)
	}
	return p, nil
}

// Profiles lists the profiles from most open to strictest.
var Profiles = []Profile{ProfileOpen, ProfileInternal, ProfileProtected}

// Settings is one column of the DESIGN.md profile table. Every cell is a
// field so admins can tune each one; Compile checks the enumerations.
type Settings struct {
	// SignIn for internal users: optional | required | required_mfa
	// (required_mfa means the OIDC amr/acr claims must show MFA).
	SignIn string `json:"sign_in" yaml:"sign_in"`
	// Guests: link (anyone with the link, display name only) | code
	// (personal one-time code).
	Guests string `json:"guests" yaml:"guests"`
	// Lobby: none | externals (externals and unverified wait, internals
	// pass) | everyone (everyone but hosts waits, each admit explicit).
	Lobby string `json:"lobby" yaml:"lobby"`
	// AutoAdmitOnHost admits the waiting lobby when a host arrives.
	AutoAdmitOnHost bool `json:"auto_admit_on_host" yaml:"auto_admit_on_host"`
	// AttendeeMedia: listen_only (camera/mic off until promoted) | on.
	AttendeeMedia string `json:"attendee_media" yaml:"attendee_media"`
	// ScreenShare: hosts_presenters | internal_signed_in | hosts_elevated
	// (hosts and users a host elevates; guests only by explicit elevation).
	ScreenShare string `json:"screen_share" yaml:"screen_share"`
	// WindowShareHint asks sharers to share a window, not the whole screen.
	WindowShareHint bool `json:"window_share_hint" yaml:"window_share_hint"`
	// Chat on or off.
	Chat bool `json:"chat" yaml:"chat"`
	// FileTransfer: off | internal (internal users only).
	FileTransfer string `json:"file_transfer" yaml:"file_transfer"`
	// Recording: host_may_start (everyone notified) | refused (by the SFU).
	Recording string `json:"recording" yaml:"recording"`
	// RecordingNotice tells every participant when a recording starts.
	RecordingNotice bool `json:"recording_notice" yaml:"recording_notice"`
	// RetentionDays keeps recordings this long.
	RetentionDays int `json:"retention_days" yaml:"retention_days"`
	// RetentionLegalHoldOnly: recordings exist only through an incident
	// legal hold (the protected profile refuses ordinary recording).
	RetentionLegalHoldOnly bool `json:"retention_legal_hold_only" yaml:"retention_legal_hold_only"`
	// Indicators shown in the room.
	Indicators Indicators `json:"indicators" yaml:"indicators"`
}

// Indicators are the room's trust signals.
type Indicators struct {
	// LockIcon: none | all_verified (shown when everyone is verified) | always.
	LockIcon string `json:"lock_icon" yaml:"lock_icon"`
	// WeakIdentityWarning flags participants without strong identity.
	WeakIdentityWarning bool `json:"weak_identity_warning" yaml:"weak_identity_warning"`
}

// DefaultProfiles returns the DESIGN.md table. The map is fresh on every
// call, so callers may modify it.
func DefaultProfiles() map[Profile]Settings {
	return map[Profile]Settings{
		ProfileOpen: {
			SignIn: "optional", Guests: "link", Lobby: "none", AutoAdmitOnHost: false,
			AttendeeMedia: "listen_only", ScreenShare: "hosts_presenters", Chat: true,
			FileTransfer: "off", Recording: "host_may_start", RecordingNotice: true,
			RetentionDays: 30, Indicators: Indicators{LockIcon: "none"},
		},
		ProfileInternal: {
			SignIn: "required", Guests: "code", Lobby: "externals", AutoAdmitOnHost: false,
			AttendeeMedia: "on", ScreenShare: "internal_signed_in", Chat: true,
			FileTransfer: "internal", Recording: "host_may_start", RecordingNotice: true,
			RetentionDays: 60, Indicators: Indicators{LockIcon: "all_verified"},
		},
		ProfileProtected: {
			SignIn: "required_mfa", Guests: "code", Lobby: "everyone", AutoAdmitOnHost: false,
			AttendeeMedia: "on", ScreenShare: "hosts_elevated", WindowShareHint: true, Chat: false,
			FileTransfer: "off", Recording: "refused", RecordingNotice: true,
			RetentionDays: 90, RetentionLegalHoldOnly: true,
			Indicators: Indicators{LockIcon: "always", WeakIdentityWarning: true},
		},
	}
}

var settingEnums = map[string][]string{
	"sign_in":        {"optional", "required", "required_mfa"},
	"guests":         {"link", "code"},
	"lobby":          {"none", "externals", "everyone"},
	"attendee_media": {"listen_only", "on"},
	"screen_share":   {"hosts_presenters", "internal_signed_in", "hosts_elevated"},
	"file_transfer":  {"off", "internal"},
	"recording":      {"host_may_start", "refused"},
	"lock_icon":      {"none", "all_verified", "always"},
}

// problems lists every invalid cell of s.
func (s Settings) problems(p Profile) []Problem {
	var out []Problem
	check := func(field, v string) {
		for _, ok := range settingEnums[field] {
			if v == ok {
				return
			}
		}
		out = append(out, Problem{Profile: p, Field: field, Value: v, Key: "classify.rules.bad_setting"})
	}
	check("sign_in", s.SignIn)
	check("guests", s.Guests)
	check("lobby", s.Lobby)
	check("attendee_media", s.AttendeeMedia)
	check("screen_share", s.ScreenShare)
	check("file_transfer", s.FileTransfer)
	check("recording", s.Recording)
	check("lock_icon", s.Indicators.LockIcon)
	if s.RetentionDays < 0 || s.RetentionDays > 3650 {
		out = append(out, Problem{Profile: p, Field: "retention_days", Value: fmt.Sprint(s.RetentionDays), Key: "classify.rules.bad_setting"})
	}
	return out
}
