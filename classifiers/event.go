package classifiers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/motesvakt/motesvakt/locales"
)

// Input limits. They bound the work one request can cause; see doc.go.
const (
	MaxSubjectBytes    = 1 << 10   // 1 KiB
	MaxLocationBytes   = 1 << 10   // 1 KiB
	MaxBodyBytes       = 256 << 10 // 256 KiB
	MaxRecurrenceBytes = 1 << 10
	MaxProviderBytes   = 64
	MaxNameBytes       = 256
	MaxEmailBytes      = 254 // RFC 5321 path limit
	MaxAttendees       = 1000
	// MaxEventBytes caps one encoded event (a JSON document or one JSON
	// Lines line): the body limit plus room for attendees and escaping.
	MaxEventBytes = 1 << 20 // 1 MiB
)

// Attendee is an invitee. In JSON it is {"email":…,"name":…} or just the
// address as a string (Graph's organizer is often sent that way).
type Attendee struct {
	Email string `json:"email"`
	Name  string `json:"name,omitempty"`
}

// UnmarshalJSON accepts an object or a string ("a@b.se" or "Name <a@b.se>").
func (a *Attendee) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		s = strings.TrimSpace(s)
		if i := strings.LastIndexByte(s, '<'); i >= 0 && strings.HasSuffix(s, ">") {
			*a = Attendee{Name: strings.Trim(strings.TrimSpace(s[:i]), `"`), Email: strings.TrimSpace(s[i+1 : len(s)-1])}
			return nil
		}
		*a = Attendee{Email: s}
		return nil
	}
	if bytes.Equal(b, []byte("null")) {
		*a = Attendee{}
		return nil
	}
	type plain Attendee
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*a = Attendee(p)
	return nil
}

// Event is a draft meeting as the add-ins send it (DESIGN.md).
type Event struct {
	Subject    string     `json:"subject"`
	Body       string     `json:"body"`
	Location   string     `json:"location"`
	Organizer  Attendee   `json:"organizer"`
	Attendees  []Attendee `json:"attendees"`
	Start      *time.Time `json:"start,omitempty"`
	End        *time.Time `json:"end,omitempty"`
	Recurrence string     `json:"recurrence,omitempty"`
	Provider   string     `json:"provider,omitempty"`
}

// Stable input error codes, shared by the CLI and the HTTP API.
const (
	CodeInvalidJSON      = "invalid_json"
	CodeInvalidType      = "invalid_type"
	CodeInvalidUTF8      = "invalid_utf8"
	CodeTooLarge         = "too_large"
	CodeTooManyAttendees = "too_many_attendees"
	CodeInvalidEmail     = "invalid_email"
	CodeInvalidTime      = "invalid_time"
	CodeEmpty            = "empty"
)

// InputError is bad input: the caller answers 4xx (413 for too_large,
// 400 otherwise) with Code and the localized Message. It never carries the
// offending content, only where it was.
type InputError struct {
	Code  string // stable code, e.g. invalid_email
	Field string // JSON field path, e.g. attendees[3].email; may be empty
	Key   string // locales key for the message
	Limit int    // the limit that was exceeded, when there is one
	Index int    // attendee index for attendee errors, else -1
}

func (e *InputError) Error() string {
	s := "classifiers: invalid event: " + e.Code
	if e.Field != "" {
		s += " (" + e.Field + ")"
	}
	if e.Limit > 0 {
		s += fmt.Sprintf(" limit %d", e.Limit)
	}
	return s
}

// Message renders the error for a person in lang.
func (e *InputError) Message(lang locales.Lang) string {
	return locales.For(lang).T(e.Key, "Field", e.Field, "Limit", e.Limit)
}

func inputErr(code, field string, limit int) *InputError {
	return &InputError{Code: code, Field: field, Key: "classify.error." + code, Limit: limit, Index: -1}
}

// Describe maps any error from this package to a stable code and a
// localized message; unknown errors become "internal" with a generic text.
func Describe(err error, lang locales.Lang) (code, message string) {
	var ie *InputError
	if errors.As(err, &ie) {
		return ie.Code, ie.Message(lang)
	}
	return "internal", locales.For(lang).T("classify.error.internal")
}

// ValidateEvent checks the documented limits, UTF-8 and e-mail syntax.
func ValidateEvent(ev Event) error {
	fields := []struct {
		name, v string
		max     int
	}{
		{"subject", ev.Subject, MaxSubjectBytes},
		{"location", ev.Location, MaxLocationBytes},
		{"body", ev.Body, MaxBodyBytes},
		{"recurrence", ev.Recurrence, MaxRecurrenceBytes},
		{"provider", ev.Provider, MaxProviderBytes},
		{"organizer.name", ev.Organizer.Name, MaxNameBytes},
	}
	for _, f := range fields {
		if len(f.v) > f.max {
			return inputErr(CodeTooLarge, f.name, f.max)
		}
		if !utf8.ValidString(f.v) {
			return inputErr(CodeInvalidUTF8, f.name, 0)
		}
	}
	if len(ev.Attendees) > MaxAttendees {
		return inputErr(CodeTooManyAttendees, "attendees", MaxAttendees)
	}
	if ev.Organizer.Email != "" {
		if err := checkEmail(ev.Organizer.Email, "organizer.email"); err != nil {
			return err
		}
	}
	for i, a := range ev.Attendees {
		// Field names are built only on failure: this loop runs on every
		// keystroke for 30+ attendees.
		var e *InputError
		switch {
		case len(a.Name) > MaxNameBytes:
			e = inputErr(CodeTooLarge, fmt.Sprintf("attendees[%d].name", i), MaxNameBytes)
		case !utf8.ValidString(a.Name):
			e = inputErr(CodeInvalidUTF8, fmt.Sprintf("attendees[%d].name", i), 0)
		default:
			e = checkEmail(a.Email, "")
			if e != nil {
				e.Field = fmt.Sprintf("attendees[%d].email", i)
			}
		}
		if e != nil {
			e.Index = i
			return e
		}
	}
	if ev.Start != nil && ev.End != nil && ev.End.Before(*ev.Start) {
		return inputErr(CodeInvalidTime, "end", 0)
	}
	return nil
}

func checkEmail(addr, field string) *InputError {
	if len(addr) > MaxEmailBytes {
		return inputErr(CodeInvalidEmail, field, MaxEmailBytes)
	}
	if !utf8.ValidString(addr) {
		return inputErr(CodeInvalidUTF8, field, 0)
	}
	if !validEmail(addr) {
		return inputErr(CodeInvalidEmail, field, 0)
	}
	return nil
}

// validEmail is a pragmatic addr-spec check: one '@', a non-empty local
// part of at most 64 bytes without spaces, controls or specials that only
// quoting would allow, and a domain of dot-separated labels of letters,
// digits and hyphens (IDN letters allowed) with at least one dot.
func validEmail(s string) bool {
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at > 64 || at == len(s)-1 {
		return false
	}
	local, domain := s[:at], s[at+1:]
	if local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return false
	}
	for _, r := range local {
		switch {
		case r <= ' ' || r == 0x7f:
			return false
		case r < utf8.RuneSelf:
			switch r {
			case '(', ')', '<', '>', '[', ']', ':', ';', '@', '\\', ',', '"':
				return false
			}
		}
	}
	return validDomain(strings.ToLower(domain))
}

func validDomain(d string) bool {
	if len(d) == 0 || len(d) > 253 || !strings.Contains(d, ".") {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r == '-' || isWordRune(r)) {
				return false
			}
		}
	}
	return true
}

// DecodeEvent parses one JSON event with the checks the HTTP handler and
// the CLI need: size cap, UTF-8 (encoding/json would silently replace bad
// bytes), a single JSON object, typed errors for wrong field types, then
// ValidateEvent. Unknown fields are ignored so add-ins can send extras.
func DecodeEvent(data []byte) (Event, error) {
	var ev Event
	if len(data) > MaxEventBytes {
		return ev, inputErr(CodeTooLarge, "", MaxEventBytes)
	}
	if !utf8.Valid(data) {
		return ev, inputErr(CodeInvalidUTF8, "", 0)
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return ev, inputErr(CodeEmpty, "", 0)
	}
	if trimmed[0] != '{' {
		if json.Valid(trimmed) {
			return ev, inputErr(CodeInvalidType, "", 0)
		}
		return ev, inputErr(CodeInvalidJSON, "", 0)
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if err := dec.Decode(&ev); err != nil {
		return Event{}, jsonErr(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Event{}, inputErr(CodeInvalidJSON, "", 0)
	}
	if err := ValidateEvent(ev); err != nil {
		return Event{}, err
	}
	return ev, nil
}

func jsonErr(err error) *InputError {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return inputErr(CodeInvalidType, te.Field, 0)
	}
	var pe *time.ParseError
	if errors.As(err, &pe) {
		return inputErr(CodeInvalidTime, "", 0)
	}
	if strings.Contains(err.Error(), "parsing time") || strings.Contains(err.Error(), "Time.UnmarshalJSON") {
		return inputErr(CodeInvalidTime, "", 0)
	}
	return inputErr(CodeInvalidJSON, "", 0)
}
