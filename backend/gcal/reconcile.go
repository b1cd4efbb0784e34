package gcal

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/classifiers"
	"github.com/motesvakt/motesvakt/locales"
)

// This file holds the provider-neutral half of server-side sync: given a
// calendar event as it now stands, decide whether the meeting it belongs to
// must be re-provisioned. backend/graph uses it too, so both calendars
// behave the same; it lives here because this package is the light one (the
// Graph SDK must stay inside backend/graph).

// Change is one calendar event as fetched after a change notification.
type Change struct {
	Ref backend.EventRef
	// MeetingID is our marker read back from the event (extended property
	// or add-in custom property), when present.
	MeetingID backend.MeetingID
	Event     classifiers.Event
	// Cancelled is set when the event was deleted or cancelled.
	Cancelled bool
	// OriginalStart, for one instance of a recurring series, is the
	// instance's original start (Google originalStartTime, Graph
	// originalStart): it names the occurrence even after it was moved.
	// Zero for a series master or a single event.
	OriginalStart time.Time
}

// Occurrence is the occurrence a change provisions, or nil when the event
// does not recur: an instance is named by its original start, a series
// master by its own (first) start. Its window is the event's times.
func (ch Change) Occurrence(series backend.EventRef) *backend.Occurrence {
	ev := ch.Event
	if ev.Start == nil || ev.End == nil {
		return nil
	}
	original := ch.OriginalStart
	if original.IsZero() {
		if ev.Recurrence == "" {
			return nil
		}
		original = *ev.Start
	}
	return &backend.Occurrence{Key: OccurrenceKey(series, original), Start: ev.Start.UTC(), End: ev.End.UTC()}
}

// Outcome says what Reconcile did.
type Outcome struct {
	Meeting *backend.Meeting
	// Provisioned is true when Provision was called.
	Provisioned bool
	// Raised is true when the profile went up.
	Raised bool
	// Skip names why nothing was done ("not_ours", "unchanged",
	// "cancelled"); empty when Provisioned.
	Skip string
}

// Reconcile re-classifies ev and calls Provision when the meeting must
// follow the calendar: invitees, title or time changed, or the profile must
// rise. Classification raises, never lowers: a host's earlier choice stays
// unless the new suggestion is stricter than both it and the suggestion the
// host overrode. Events without a meeting are not ours and are skipped, so
// write-back notifications (our own PATCH) converge after one round.
func Reconcile(ctx context.Context, svc backend.MeetingService, ch Change, lang locales.Lang) (Outcome, error) {
	m, err := findMeeting(ctx, svc, ch)
	if err != nil {
		return Outcome{}, err
	}
	if m == nil {
		return Outcome{Skip: "not_ours"}, nil
	}
	if ch.Cancelled {
		// MeetingService has no cancel operation yet; the room simply stays
		// unused. Reported to the integrator.
		return Outcome{Meeting: m, Skip: "cancelled"}, nil
	}
	res, _, err := svc.Classify(ctx, ch.Event, lang)
	if err != nil {
		return Outcome{}, fmt.Errorf("meeting %s: classify: %w", m.ID, err)
	}
	profile, reason, raised := m.Profile, m.OverrideReason, false
	if res.Profile.Rank() > m.Profile.Rank() && res.Profile.Rank() > m.Suggested.Rank() {
		profile, reason, raised = res.Profile, "", true
	}
	if !raised && !changed(m, ch.Event) {
		return Outcome{Meeting: m, Skip: "unchanged"}, nil
	}
	ref := m.EventRef
	if ref.Provider == "" {
		ref = ch.Ref
	}
	host := backend.Actor{UserID: m.HostUserID, Email: m.HostEmail, Roles: []backend.Role{backend.RoleHost}}
	// The series' key, not the instance's: every occurrence of one series
	// belongs to the one meeting.
	req := backend.ProvisionRequest{Event: ch.Event, Profile: profile, OverrideReason: reason, EventRef: ref, Lang: lang,
		Occurrence: ch.Occurrence(ref), FromSync: true}
	got, err := svc.Provision(ctx, host, req)
	if err != nil {
		return Outcome{}, fmt.Errorf("meeting %s: provision: %w", m.ID, err)
	}
	return Outcome{Meeting: got, Provisioned: true, Raised: raised}, nil
}

func findMeeting(ctx context.Context, svc backend.MeetingService, ch Change) (*backend.Meeting, error) {
	try := func(m *backend.Meeting, err error) (*backend.Meeting, error) {
		if backend.ErrorCode(err) == backend.ENOTFOUND {
			return nil, nil
		}
		return m, err
	}
	if ch.MeetingID != "" {
		if m, err := try(svc.Meeting(ctx, ch.MeetingID)); m != nil || err != nil {
			return m, err
		}
	}
	if m, err := try(svc.MeetingByEvent(ctx, ch.Ref)); m != nil || err != nil {
		return m, err
	}
	if ch.Ref.ICalUID != "" {
		// The add-in may have provisioned before the iCalUID was known.
		return try(svc.MeetingByEvent(ctx, backend.EventRef{Provider: ch.Ref.Provider, ID: ch.Ref.ID}))
	}
	return nil, nil
}

// changed reports whether the event differs from the meeting in what the
// service cares about: title, time and the set of invitees.
func changed(m *backend.Meeting, ev classifiers.Event) bool {
	if m.Title != ev.Subject {
		return true
	}
	if ev.Start != nil && !ev.Start.Equal(m.Start) || ev.End != nil && !ev.End.Equal(m.End) {
		return true
	}
	return !slices.Equal(Invitees(ev), activeGuests(m))
}

// Invitees returns the event's attendee addresses, lower-cased, sorted,
// without the organizer and without duplicates.
func Invitees(ev classifiers.Event) []string {
	org := strings.ToLower(ev.Organizer.Email)
	var out []string
	for _, a := range ev.Attendees {
		e := strings.ToLower(strings.TrimSpace(a.Email))
		if e != "" && e != org {
			out = append(out, e)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func activeGuests(m *backend.Meeting) []string {
	host := strings.ToLower(m.HostEmail)
	var out []string
	for _, g := range m.Guests {
		e := strings.ToLower(g.Email)
		if g.Status != backend.GuestRevoked && e != host {
			out = append(out, e)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Rotation decides when a recurring meeting's join link must change: every
// Interval counted from the series start, and whenever the invitee list
// changed. Codes are per occurrence; OccurrenceKey names the occurrence.
type Rotation struct {
	Interval time.Duration
}

// Epoch is the rotation period an occurrence starting at occ falls into; a
// new epoch means a new join link. Zero Interval never rotates by time.
func (r Rotation) Epoch(seriesStart, occ time.Time) int64 {
	if r.Interval <= 0 || occ.Before(seriesStart) {
		return 0
	}
	return int64(occ.Sub(seriesStart) / r.Interval)
}

// OccurrenceKey identifies one occurrence of a series independent of
// provider: the series' idempotency key plus the occurrence's original
// start in UTC (Google originalStartTime, Graph originalStart). A moved
// occurrence keeps its key.
func OccurrenceKey(series backend.EventRef, originalStart time.Time) string {
	return series.Key() + "@" + originalStart.UTC().Format("20060102T150405Z")
}

// ErrDeleted reports that the event vanished between the notification and
// the fetch; sync logs it and moves on.
var ErrDeleted = errors.New("calendar event deleted")
