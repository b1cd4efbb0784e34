// Package gcal talks to Google Calendar (calendar/v3): it reads events as
// classification input, writes the join link and profile back, and keeps
// watch channels so a changed event re-provisions its meeting.
package gcal

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/api/calendar/v3"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/classifiers"
	"github.com/motesvakt/motesvakt/locales"
)

// Private extended property keys on the organizer's copy of the event.
// Do not rename: events already carry them.
const (
	PropMeeting = "motesvaktMeeting"
	PropProfile = "motesvaktProfile"
	PropJoinURL = "motesvaktJoinUrl"
)

// NewService builds a Calendar client acting with ts (the add-on user's
// OAuth token, or a delegated service-account token for sync). endpoint
// overrides https://www.googleapis.com/calendar/v3/ (tests point it at a
// fake; keep the trailing slash).
func NewService(ctx context.Context, ts oauth2.TokenSource, endpoint string, hc *http.Client) (*calendar.Service, error) {
	var opts []option.ClientOption
	if endpoint != "" {
		opts = append(opts, option.WithEndpoint(endpoint))
	}
	switch {
	case hc != nil && ts != nil:
		// A caller-supplied transport still needs the token attached.
		base := hc.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		opts = append(opts, option.WithHTTPClient(&http.Client{Transport: &oauth2.Transport{Source: ts, Base: base}, Timeout: hc.Timeout}))
	case hc != nil:
		opts = append(opts, option.WithHTTPClient(hc))
	case ts != nil:
		opts = append(opts, option.WithTokenSource(ts))
	default:
		opts = append(opts, option.WithoutAuthentication())
	}
	svc, err := calendar.NewService(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("gcal: new service: %w", err)
	}
	return svc, nil
}

// ToEvent converts a Calendar event into classification input.
func ToEvent(e *calendar.Event) classifiers.Event {
	ev := classifiers.Event{Subject: e.Summary, Body: stripWriteBack(e.Description), Location: e.Location, Provider: string(backend.ProviderGoogle)}
	if e.Organizer != nil {
		ev.Organizer = classifiers.Attendee{Email: e.Organizer.Email, Name: e.Organizer.DisplayName}
	}
	for _, a := range e.Attendees {
		if a == nil || a.Resource || a.Email == "" {
			continue
		}
		ev.Attendees = append(ev.Attendees, classifiers.Attendee{Email: a.Email, Name: a.DisplayName})
	}
	ev.Start, ev.End = eventTime(e.Start), eventTime(e.End)
	ev.Recurrence = strings.Join(e.Recurrence, "\n")
	return ev
}

func eventTime(t *calendar.EventDateTime) *time.Time {
	if t == nil {
		return nil
	}
	if t.DateTime != "" {
		if v, err := time.Parse(time.RFC3339, t.DateTime); err == nil {
			return &v
		}
	}
	if t.Date != "" {
		if v, err := time.Parse("2006-01-02", t.Date); err == nil {
			return &v
		}
	}
	return nil
}

// Ref is the event's idempotency reference. Instances of a recurring
// series share the series' iCalUID; the service keys per series until it
// supports occurrences (see OccurrenceKey).
func Ref(e *calendar.Event) backend.EventRef {
	return backend.EventRef{Provider: backend.ProviderGoogle, ID: e.Id, ICalUID: e.ICalUID}
}

// MeetingIDOf reads our marker from the event.
func MeetingIDOf(e *calendar.Event) backend.MeetingID {
	if e.ExtendedProperties == nil {
		return ""
	}
	return backend.MeetingID(e.ExtendedProperties.Private[PropMeeting])
}

// Marker block in descriptions. The delimiters are language-neutral so a
// later write in another language replaces rather than appends.
const (
	blockStart = "--- Mötesvakt ---"
	blockEnd   = "--- /Mötesvakt ---"
)

// WriteBackText is the text block with the join link and profile.
func WriteBackText(m *backend.Meeting, lang locales.Lang) string {
	p := locales.For(lang)
	return blockStart + "\n" +
		p.T("addin.writeback.profile", "Profile", p.T("classify.profile."+string(m.Profile))) + "\n" +
		p.T("addin.writeback.join", "URL", m.JoinURL) + "\n" +
		p.T("addin.writeback.codes") + "\n" + blockEnd
}

// stripWriteBack removes our block so it is not classified or duplicated.
func stripWriteBack(desc string) string {
	i := strings.Index(desc, blockStart)
	if i < 0 {
		return desc
	}
	j := strings.Index(desc[i:], blockEnd)
	if j < 0 {
		return strings.TrimRight(desc[:i], "\n ")
	}
	return strings.TrimRight(desc[:i]+strings.TrimLeft(desc[i+j+len(blockEnd):], "\n"), "\n ")
}

// WriteBackPatch is the PATCH that records the meeting on the event: the
// join link as location when the location is empty or already ours, our
// block in the description, and the private markers. Conference data is not
// set: third-party conference solutions can only be created by Apps Script
// add-ons (reference notes §0.1), so the link lives in text fields.
func WriteBackPatch(e *calendar.Event, m *backend.Meeting, lang locales.Lang) *calendar.Event {
	body := stripWriteBack(e.Description)
	if body != "" {
		body += "\n\n"
	}
	patch := &calendar.Event{
		Description: body + WriteBackText(m, lang),
		ExtendedProperties: &calendar.EventExtendedProperties{Private: map[string]string{
			PropMeeting: string(m.ID), PropProfile: string(m.Profile), PropJoinURL: m.JoinURL,
		}},
	}
	if e.Location == "" || (e.ExtendedProperties != nil && e.Location == e.ExtendedProperties.Private[PropJoinURL]) {
		patch.Location = m.JoinURL
	}
	return patch
}

// NeedsWriteBack reports whether the event's markers differ from m.
func NeedsWriteBack(e *calendar.Event, m *backend.Meeting) bool {
	if e.ExtendedProperties == nil {
		return true
	}
	p := e.ExtendedProperties.Private
	return p[PropMeeting] != string(m.ID) || p[PropProfile] != string(m.Profile) || p[PropJoinURL] != m.JoinURL || !strings.Contains(e.Description, m.JoinURL)
}

// WriteBack patches the event with m's join link and profile.
func WriteBack(ctx context.Context, svc *calendar.Service, r Retrier, calendarID string, e *calendar.Event, m *backend.Meeting, lang locales.Lang) error {
	patch := WriteBackPatch(e, m, lang)
	return r.Do(ctx, "patch event", func() error {
		_, err := svc.Events.Patch(calendarID, e.Id, patch).Context(ctx).Do()
		return err
	})
}

// FetchEvent reads one event; a 404/410 or a cancelled event is ErrDeleted.
func FetchEvent(ctx context.Context, svc *calendar.Service, r Retrier, calendarID, eventID string) (*calendar.Event, error) {
	var e *calendar.Event
	err := r.Do(ctx, "get event", func() error {
		var err error
		e, err = svc.Events.Get(calendarID, eventID).Context(ctx).Do()
		return err
	})
	if code := statusOf(err); code == http.StatusNotFound || code == http.StatusGone {
		return nil, ErrDeleted
	}
	if err != nil {
		return nil, err
	}
	if e.Status == "cancelled" {
		return e, ErrDeleted
	}
	return e, nil
}

// Retrier retries calls that fail with 429 or 5xx, honouring Retry-After
// and otherwise backing off exponentially with jitter.
type Retrier struct {
	// Attempts in total; default 5.
	Attempts int
	// Base delay; default 500 ms, doubled per attempt, capped at Max.
	Base, Max time.Duration
	// Sleep waits; default a timer honouring ctx. Tests record the waits.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is used to interpret an HTTP-date Retry-After.
	Now func() time.Time
	// Status extracts the HTTP status and headers from an error; default
	// understands *googleapi.Error. backend/graph plugs in Graph's errors.
	Status func(error) (int, http.Header)
}

// Do runs f until it succeeds, fails permanently or attempts run out.
func (r Retrier) Do(ctx context.Context, what string, f func() error) error {
	attempts, base, max := r.Attempts, r.Base, r.Max
	if attempts <= 0 {
		attempts = 5
	}
	if base <= 0 {
		base = 500 * time.Millisecond
	}
	if max <= 0 {
		max = 30 * time.Second
	}
	sleep := r.Sleep
	if sleep == nil {
		sleep = SleepCtx
	}
	now := r.Now
	if now == nil {
		now = time.Now
	}
	status := r.Status
	if status == nil {
		status = func(err error) (int, http.Header) { return statusOf(err), headerOf(err) }
	}
	var err error
	for i := 0; i < attempts; i++ {
		if err = f(); err == nil {
			return nil
		}
		code, hdr := status(err)
		if code != http.StatusTooManyRequests && code < 500 {
			return err
		}
		if i == attempts-1 {
			break
		}
		if hdr == nil {
			hdr = http.Header{}
		}
		d := RetryAfter(hdr, now())
		if d <= 0 {
			d = min(base<<i, max)
			d = d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
		}
		if serr := sleep(ctx, d); serr != nil {
			return errors.Join(err, serr)
		}
	}
	return fmt.Errorf("%s: giving up after %d attempts: %w", what, attempts, err)
}

// SleepCtx waits d or until ctx ends.
func SleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RetryAfter parses a Retry-After header (seconds or HTTP-date); 0 if
// absent or unparseable. It is capped at 5 minutes so a hostile or broken
// server cannot park a worker.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return max(0, min(d, 5*time.Minute))
}

func statusOf(err error) int {
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return ge.Code
	}
	return 0
}

func headerOf(err error) http.Header {
	var ge *googleapi.Error
	if errors.As(err, &ge) && ge.Header != nil {
		return ge.Header
	}
	return http.Header{}
}

// OriginalStart is when an instance of a recurring series was originally
// scheduled (zero for anything else); it keys the occurrence's codes even
// after the instance is moved.
func OriginalStart(e *calendar.Event) time.Time {
	if e == nil || e.OriginalStartTime == nil {
		return time.Time{}
	}
	if t, err := time.Parse(time.RFC3339, e.OriginalStartTime.DateTime); err == nil {
		return t.UTC()
	}
	if t, err := time.Parse("2006-01-02", e.OriginalStartTime.Date); err == nil {
		return t.UTC()
	}
	return time.Time{}
}
