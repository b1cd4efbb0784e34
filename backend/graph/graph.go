// Package graph talks to Microsoft Graph: it reads Outlook events as
// classification input, writes the profile marker back, and keeps change
// subscriptions so a changed event re-provisions its meeting.
//
// This is the only package that may import msgraph-sdk-go (a cold build
// costs minutes and gigabytes); TestOnlyGraphImportsMSGraph enforces it.
package graph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	abstractions "github.com/microsoft/kiota-abstractions-go"
	kauth "github.com/microsoft/kiota-abstractions-go/authentication"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/gcal"
	"github.com/motesvakt/motesvakt/classifiers"
)

// MarkerGUID is the property set of our own extended properties. Do not
// change: events already carry it.
const MarkerGUID = "{6f2b1c8e-5d4a-4e0b-9a51-6d6f7465737661}"

// Extended property ids (MAPI named properties).
const (
	PropMeeting = "String " + MarkerGUID + " Name MotesvaktMeeting"
	PropProfile = "String " + MarkerGUID + " Name MotesvaktProfile"
)

// AddinPropertyID is where Outlook stores an add-in's custom properties
// (one JSON object), per the add-in's manifest id.
func AddinPropertyID(addinID string) string {
	return "String {00020329-0000-0000-C000-000000000046} Name cecp-" + addinID
}

// Client is a Graph client for one tenant.
type Client struct {
	sdk *msgraphsdk.GraphServiceClient
	// AddinID is the Outlook add-in's manifest id, to read its custom
	// properties (the add-in stores the meeting id there on send).
	AddinID string
}

// NewClient uses app-only credentials (Calendars.ReadWrite application
// permission, limited with an application access policy to the hosts'
// mailboxes). The SDK's middleware retries 429 too; Retrier adds the
// longer, logged retries on top.
func NewClient(cred azcore.TokenCredential, addinID string) (*Client, error) {
	sdk, err := msgraphsdk.NewGraphServiceClientWithCredentials(cred, []string{"https://graph.microsoft.com/.default"})
	if err != nil {
		return nil, fmt.Errorf("graph: client: %w", err)
	}
	return &Client{sdk: sdk, AddinID: addinID}, nil
}

// NewClientAt talks to baseURL (e.g. a loopback fake ending in /v1.0)
// without authentication, over hc. Tests and sovereign-cloud proxies use
// it; Graph's own hosts need NewClient.
func NewClientAt(baseURL string, hc *http.Client, addinID string) (*Client, error) {
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(&kauth.AnonymousAuthenticationProvider{}, nil, nil, hc)
	if err != nil {
		return nil, fmt.Errorf("graph: adapter: %w", err)
	}
	adapter.SetBaseUrl(strings.TrimRight(baseURL, "/"))
	return &Client{sdk: msgraphsdk.NewGraphServiceClient(adapter), AddinID: addinID}, nil
}

// Event is what we read of an Outlook event.
type Event struct {
	ID, ICalUID, Type, SeriesMasterID string
	// OriginalStart is set for one occurrence of a series: the start it
	// had in the series before any move (keys the occurrence's codes).
	OriginalStart time.Time
	MeetingID     backend.MeetingID
	Profile       string
	Cancelled     bool
	Location      string
	Input         classifiers.Event
}

// Ref is the event's idempotency reference.
func (e *Event) Ref() backend.EventRef {
	return backend.EventRef{Provider: backend.ProviderOutlook, ID: e.ID, ICalUID: e.ICalUID}
}

// GetEvent reads one event of user with our markers and the add-in's
// custom properties. A 404 is gcal.ErrDeleted.
func (c *Client) GetEvent(ctx context.Context, user, id string) (*Event, error) {
	filter := "id eq '" + PropMeeting + "' or id eq '" + PropProfile + "'"
	if c.AddinID != "" {
		filter += " or id eq '" + AddinPropertyID(c.AddinID) + "'"
	}
	cfg := &users.ItemEventsEventItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.ItemEventsEventItemRequestBuilderGetQueryParameters{
			Expand: []string{"singleValueExtendedProperties($filter=" + filter + ")"},
		},
		Headers: abstractions.NewRequestHeaders(),
	}
	// Times in UTC so they parse without a Windows time-zone table.
	cfg.Headers.Add("Prefer", `outlook.timezone="UTC"`)
	ev, err := c.sdk.Users().ByUserId(user).Events().ByEventId(id).Get(ctx, cfg)
	if code, _ := Status(err); code == http.StatusNotFound {
		return nil, gcal.ErrDeleted
	}
	if err != nil {
		return nil, err
	}
	return convert(ev, c.AddinID), nil
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func convert(ev models.Eventable, addinID string) *Event {
	out := &Event{ID: str(ev.GetId()), ICalUID: str(ev.GetICalUId()), SeriesMasterID: str(ev.GetSeriesMasterId())}
	if t := ev.GetTypeEscaped(); t != nil {
		out.Type = t.String()
	}
	if o := ev.GetOriginalStart(); o != nil {
		out.OriginalStart = o.UTC()
	}
	if b := ev.GetIsCancelled(); b != nil {
		out.Cancelled = *b
	}
	in := classifiers.Event{Subject: str(ev.GetSubject()), Provider: string(backend.ProviderOutlook)}
	if b := ev.GetBody(); b != nil {
		in.Body = str(b.GetContent())
	}
	if l := ev.GetLocation(); l != nil {
		in.Location = str(l.GetDisplayName())
		out.Location = in.Location
	}
	if o := ev.GetOrganizer(); o != nil && o.GetEmailAddress() != nil {
		in.Organizer = classifiers.Attendee{Email: str(o.GetEmailAddress().GetAddress()), Name: str(o.GetEmailAddress().GetName())}
	}
	for _, a := range ev.GetAttendees() {
		if a == nil || a.GetEmailAddress() == nil {
			continue
		}
		if t := a.GetTypeEscaped(); t != nil && *t == models.RESOURCE_ATTENDEETYPE {
			continue
		}
		in.Attendees = append(in.Attendees, classifiers.Attendee{Email: str(a.GetEmailAddress().GetAddress()), Name: str(a.GetEmailAddress().GetName())})
	}
	in.Start, in.End = utc(ev.GetStart()), utc(ev.GetEnd())
	if r := ev.GetRecurrence(); r != nil && r.GetPattern() != nil && r.GetPattern().GetTypeEscaped() != nil {
		in.Recurrence = r.GetPattern().GetTypeEscaped().String()
	}
	for _, p := range ev.GetSingleValueExtendedProperties() {
		id, v := str(p.GetId()), str(p.GetValue())
		switch {
		case strings.EqualFold(id, PropMeeting):
			out.MeetingID = backend.MeetingID(v)
		case strings.EqualFold(id, PropProfile):
			out.Profile = v
		case addinID != "" && strings.EqualFold(id, AddinPropertyID(addinID)) && out.MeetingID == "":
			out.MeetingID = backend.MeetingID(addinMeetingID(v))
		}
	}
	out.Input = in
	return out
}

func utc(t models.DateTimeTimeZoneable) *time.Time {
	if t == nil || t.GetDateTime() == nil {
		return nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05.0000000", time.RFC3339Nano, "2006-01-02T15:04:05"} {
		if v, err := time.ParseInLocation(layout, *t.GetDateTime(), time.UTC); err == nil {
			return &v
		}
	}
	return nil
}

// PatchMarker records meeting id and profile on the event.
func (c *Client) PatchMarker(ctx context.Context, user, id string, m *backend.Meeting) error {
	ev := models.NewEvent()
	props := []models.SingleValueLegacyExtendedPropertyable{}
	for _, kv := range [][2]string{{PropMeeting, string(m.ID)}, {PropProfile, string(m.Profile)}} {
		p := models.NewSingleValueLegacyExtendedProperty()
		k, v := kv[0], kv[1]
		p.SetId(&k)
		p.SetValue(&v)
		props = append(props, p)
	}
	ev.SetSingleValueExtendedProperties(props)
	_, err := c.sdk.Users().ByUserId(user).Events().ByEventId(id).Patch(ctx, ev, nil)
	if code, _ := Status(err); code == http.StatusNotFound {
		return gcal.ErrDeleted
	}
	return err
}

// Subscribe creates a change subscription on user's events.
func (c *Client) Subscribe(ctx context.Context, user, notifyURL, lifecycleURL, clientState string, exp time.Time) (id string, granted time.Time, err error) {
	s := models.NewSubscription()
	ct, res := "created,updated,deleted", "/users/"+user+"/events"
	s.SetChangeType(&ct)
	s.SetNotificationUrl(&notifyURL)
	if lifecycleURL != "" {
		s.SetLifecycleNotificationUrl(&lifecycleURL)
	}
	s.SetResource(&res)
	s.SetExpirationDateTime(&exp)
	s.SetClientState(&clientState)
	got, err := c.sdk.Subscriptions().Post(ctx, s, nil)
	if err != nil {
		return "", time.Time{}, err
	}
	granted = exp
	if g := got.GetExpirationDateTime(); g != nil {
		granted = *g
	}
	return str(got.GetId()), granted, nil
}

// Renew extends a subscription and returns the expiry Graph granted.
func (c *Client) Renew(ctx context.Context, id string, exp time.Time) (time.Time, error) {
	s := models.NewSubscription()
	s.SetExpirationDateTime(&exp)
	got, err := c.sdk.Subscriptions().BySubscriptionId(id).Patch(ctx, s, nil)
	if err != nil {
		return time.Time{}, err
	}
	if g := got.GetExpirationDateTime(); g != nil {
		return *g, nil
	}
	return exp, nil
}

// Unsubscribe deletes a subscription; a 404 counts as done.
func (c *Client) Unsubscribe(ctx context.Context, id string) error {
	err := c.sdk.Subscriptions().BySubscriptionId(id).Delete(ctx, nil)
	if code, _ := Status(err); code == http.StatusNotFound {
		return nil
	}
	return err
}

// Status extracts the HTTP status and headers of a Graph error, for
// gcal.Retrier.
func Status(err error) (int, http.Header) {
	var ae interface {
		GetStatusCode() int
		GetResponseHeaders() *abstractions.ResponseHeaders
	}
	if err == nil || !errors.As(err, &ae) {
		return 0, nil
	}
	h := http.Header{}
	if rh := ae.GetResponseHeaders(); rh != nil {
		for _, k := range rh.ListKeys() {
			for _, v := range rh.Get(k) {
				h.Add(k, v)
			}
		}
	}
	return ae.GetStatusCode(), h
}
