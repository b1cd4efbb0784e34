// Package meetings provisions meetings from calendar drafts: it classifies
// the draft with the rules in force, enforces the downgrade policy, stores
// the meeting and its guests, issues personal one-time codes, queues the
// guest mails and applies the profile to the live room — all of it, with
// the audit entries, in one transaction.
package meetings

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/audit"
	"github.com/motesvakt/motesvakt/backend/guestcode"
	"github.com/motesvakt/motesvakt/backend/mail"
	"github.com/motesvakt/motesvakt/backend/sqlite"
	"github.com/motesvakt/motesvakt/classifiers"
	"github.com/motesvakt/motesvakt/locales"
)

// Codes issues and revokes guests' one-time codes (backend/guestcode).
type Codes interface {
	Issue(ctx context.Context, tx *sql.Tx, by audit.Actor, meeting guestcode.MeetingID, invitee guestcode.InviteeID, email string, w guestcode.Window, now time.Time) (guestcode.Code, error)
	Revoke(ctx context.Context, tx *sql.Tx, by audit.Actor, meeting guestcode.MeetingID, invitee guestcode.InviteeID, now time.Time) error
}

// Rooms applies a meeting's policy to its live room, if one is running.
type Rooms interface {
	Apply(m *backend.Meeting)
}

// Service implements backend.MeetingService.
type Service struct {
	DB        *sqlite.DB
	Policy    backend.PolicySource
	Codes     Codes
	Outbox    *mail.Outbox
	Mail      *mail.Renderer
	Rooms     Rooms
	PublicURL *url.URL
	Internal  backend.Domains
	Lang      locales.Lang
	// RequireHostMFA is the organisation policy that everyone who
	// provisions meetings has signed in with MFA.
	RequireHostMFA bool
	// MailQueued is called after a commit that queued mail (wakes the worker).
	MailQueued func()
	Log        *slog.Logger
	// DraftRecorder optionally keeps classified drafts for dry runs.
	DraftRecorder func(ctx context.Context, ev classifiers.Event, res classifiers.Result)

	// LinkKey is the HMAC key of join-link tokens (32 bytes, derived from
	// the server secret). Unset, a random per-process key is used.
	LinkKey []byte
	// RotateEvery rotates a recurring meeting's join link at this interval,
	// counted from the meeting's creation; 0 never rotates by time (the
	// link still rotates when the invitee list changes). The server sets
	// DefaultRotateEvery.
	RotateEvery time.Duration

	linkKeyOnce   sync.Once
	randomLinkKey []byte
}

var _ backend.MeetingService = (*Service)(nil)

// Limits on provisioning input, beyond the classifier's own.
const (
	MaxOverrideReason = 2000
	MaxTitle          = 500
	// MaxDuration bounds one occurrence; codes are valid for the meeting's
	// time, so an absurd end would keep a code alive for ever.
	MaxDuration = 24 * time.Hour
)

// Classify classifies ev with the engine in force and returns its version.
func (s *Service) Classify(ctx context.Context, ev classifiers.Event, lang locales.Lang) (classifiers.Result, int64, error) {
	eng, version, err := s.Policy.Engine(ctx)
	if err != nil {
		return classifiers.Result{}, 0, err
	}
	res, err := eng.Classify(ev, lang)
	if err != nil {
		return res, version, inputError(err)
	}
	if s.DraftRecorder != nil {
		s.DraftRecorder(ctx, ev, res)
	}
	return res, version, nil
}

// inputError turns a classifier input error into an application error;
// the edge shows the classifier's own stable code and localized message.
func inputError(err error) error {
	var ie *classifiers.InputError
	if errors.As(err, &ie) {
		code := backend.EINVALID
		if ie.Code == classifiers.CodeTooLarge {
			code = backend.ETOOLARGE
		}
		return &backend.Error{Code: code, Key: "meeting.bad_event", Field: ie.Field, Err: ie}
	}
	return err
}

// Meeting returns a meeting by id.
func (s *Service) Meeting(ctx context.Context, id backend.MeetingID) (*backend.Meeting, error) {
	m, err := s.DB.Meeting(ctx, id)
	if err != nil {
		return nil, err
	}
	s.decorate(ctx, m)
	return m, nil
}

// MeetingByEvent returns the meeting provisioned for a calendar event.
func (s *Service) MeetingByEvent(ctx context.Context, ref backend.EventRef) (*backend.Meeting, error) {
	m, err := s.DB.MeetingByEventKey(ctx, ref.Key())
	if err != nil {
		return nil, err
	}
	s.decorate(ctx, m)
	return m, nil
}

// decorate fills computed fields: the current join URL and guests' mail
// status.
func (s *Service) decorate(ctx context.Context, m *backend.Meeting) {
	s.setLink(m, s.now())
	if s.Outbox == nil {
		return
	}
	deliveries, err := s.Outbox.Status(ctx, mail.MeetingID(m.ID))
	if err != nil {
		s.logger().Warn("mail status", "meeting", m.ID, "err", err)
		return
	}
	byID := map[string]mail.Delivery{}
	for _, d := range deliveries {
		byID[string(d.ID)] = d
	}
	for i := range m.Guests {
		g := &m.Guests[i]
		if d, ok := byID[g.DeliveryID]; ok {
			g.Delivery, g.DeliveryError = string(d.Status), d.LastError
		} else if g.Internal || g.DeliveryID == "" {
			g.Delivery = "none"
		}
	}
}

func (s *Service) setLink(m *backend.Meeting, now time.Time) {
	m.LinkEpoch = s.LinkEpoch(m, now)
	m.JoinURL = s.joinURLAt(m.ID, m.LinkEpoch)
}

func (s *Service) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// NewMeetingID returns 130 random bits in lower-case base32.
func NewMeetingID() backend.MeetingID {
	return backend.MeetingID(randomID(16))
}

func randomID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// Provision creates or updates the meeting for req.EventRef. See the
// package comment; the rules are DESIGN.md's "Classification raises,
// never lowers" and the downgrade policy.
func (s *Service) Provision(ctx context.Context, by backend.Actor, req backend.ProvisionRequest) (*backend.Meeting, error) {
	if !by.HasRole(backend.RoleHost) {
		return nil, backend.Errorf(backend.EFORBIDDEN, "meeting.not_host")
	}
	if s.RequireHostMFA && !by.MFA {
		return nil, backend.Errorf(backend.EFORBIDDEN, "auth.mfa_required")
	}
	if err := validateRef(&req.EventRef); err != nil {
		return nil, err
	}
	if err := validateTimes(req.Event); err != nil {
		return nil, err
	}
	if err := validateOccurrence(req.Occurrence); err != nil {
		return nil, err
	}
	if len([]rune(req.OverrideReason)) > MaxOverrideReason {
		return nil, &backend.Error{Code: backend.EINVALID, Key: "meeting.reason_too_long", Field: "override_reason", Args: []any{"Max", MaxOverrideReason}}
	}
	lang := req.Lang
	if !locales.Valid(string(lang)) {
		lang = s.Lang
	}
	eng, version, err := s.Policy.Engine(ctx)
	if err != nil {
		return nil, err
	}
	res, err := eng.Classify(req.Event, lang)
	if err != nil {
		return nil, inputError(err)
	}
	chosen := req.Profile
	if chosen == "" {
		chosen = res.Profile
	}
	if !chosen.Valid() {
		return nil, &backend.Error{Code: backend.EINVALID, Key: "meeting.bad_profile", Field: "profile"}
	}
	reason := strings.TrimSpace(req.OverrideReason)
	if chosen.Rank() < res.Profile.Rank() {
		if res.Downgrade == "forbidden" {
			return nil, &backend.Error{Code: backend.EFORBIDDEN, Key: "meeting.downgrade_forbidden", Field: "profile", Args: []any{"Suggested", string(res.Profile)}}
		}
		if reason == "" {
			return nil, &backend.Error{Code: backend.EINVALID, Key: "meeting.override_reason_required", Field: "override_reason", Args: []any{"Suggested", string(res.Profile)}}
		}
	} else {
		reason = "" // not an override: nothing to justify or store
	}
	settings, err := eng.Settings(chosen)
	if err != nil {
		return nil, err
	}

	var m *backend.Meeting
	queued := false
	err = s.DB.InTx(ctx, func(tx *sqlite.Tx) error {
		existing, err := tx.MeetingByEventKey(ctx, req.EventRef.Key())
		if err != nil && backend.ErrorCode(err) != backend.ENOTFOUND {
			return err
		}
		action := audit.Action("meeting.created")
		if existing != nil {
			if existing.HostUserID != by.UserID && !by.HasRole(backend.RoleAdmin) {
				return backend.Errorf(backend.EFORBIDDEN, "meeting.not_your_meeting")
			}
			m, action = existing, "meeting.updated"
		} else {
			m = &backend.Meeting{ID: NewMeetingID(), HostUserID: by.UserID, HostEmail: strings.ToLower(by.Email), EventRef: req.EventRef}
		}
		previous := m.Profile
		m.Title = truncate(strings.TrimSpace(req.Event.Subject), MaxTitle)
		m.Profile, m.Suggested, m.OverrideReason, m.Settings = chosen, res.Profile, reason, settings
		m.Categories, m.ExternalDomains = res.Categories, res.ExternalDomains
		m.Start, m.End = req.Event.Start.UTC(), req.Event.End.UTC()
		// A single occurrence fetched from a calendar (a Google instance)
		// does not repeat the series' rule: keep the one we know.
		if req.Event.Recurrence != "" || req.Occurrence == nil {
			m.Recurrence = req.Event.Recurrence
		}
		m.RulesVersion = version
		m.EventRef.ID = req.EventRef.ID
		want := wantedInvitees(req.Event, m.HostEmail)
		// A recurring meeting's link rotates when its invitees change, so a
		// removed invitee's copy (or one they forwarded) stops working.
		rotated := existing != nil && m.Recurrence != "" && !slices.Equal(want.sorted(), activeInvitees(m))
		if rotated {
			m.InviteeChanges++
		}
		if err := tx.SaveMeeting(ctx, m); err != nil {
			return err
		}
		details := map[string]string{
			"profile": string(chosen), "suggested": string(res.Profile), "previous": string(previous),
			"provider": string(req.EventRef.Provider), "rules_version": itoa(version),
			"externals": itoa(int64(res.Counts.External)), "categories": joinCats(res.Categories),
		}
		if req.Occurrence != nil && m.Recurrence != "" {
			details["occurrence"] = req.Occurrence.Key
		}
		if err := s.audit(ctx, tx, by, action, m.ID, "", details); err != nil {
			return err
		}
		if reason != "" {
			if err := s.audit(ctx, tx, by, "profile.override", m.ID, "", map[string]string{
				"profile": string(chosen), "suggested": string(res.Profile), "reason": reason, "direction": "lower", "categories": joinCats(res.Categories),
			}); err != nil {
				return err
			}
		}
		if rotated {
			if err := s.audit(ctx, tx, by, "meeting.link_rotated", m.ID, "", map[string]string{
				"reason": "invitees", "epoch": itoa(s.LinkEpoch(m, tx.Now)),
			}); err != nil {
				return err
			}
		}
		var occ *backend.Occurrence
		if req.Occurrence != nil && m.Recurrence != "" {
			occ = req.Occurrence
		}
		q, err := s.syncGuests(ctx, tx, by, m, want, occ, rotated, lang)
		queued = q
		if err != nil {
			return err
		}
		if req.FromSync && previous != "" && chosen.Rank() > previous.Rank() {
			if err := s.tellHostRaised(ctx, tx, m, previous, res.Explanation, lang); err != nil {
				return err
			}
			queued = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if queued && s.MailQueued != nil {
		s.MailQueued()
	}
	if s.Rooms != nil {
		s.Rooms.Apply(m)
	}
	return s.Meeting(ctx, m.ID)
}

// tellHostRaised mails the host that a calendar change raised the
// meeting's profile, and why; the room has already followed.
func (s *Service) tellHostRaised(ctx context.Context, tx *sqlite.Tx, m *backend.Meeting, previous classifiers.Profile, why string, lang locales.Lang) error {
	p := locales.For(lang)
	msg, err := s.Mail.ProfileRaised(mail.ProfileRaised{Lang: lang, MeetingID: mail.MeetingID(m.ID), To: m.HostEmail, Title: m.Title,
		Start: m.Start, End: m.End, From: p.T("classify.profile." + string(previous)), ToP: p.T("classify.profile." + string(m.Profile)),
		Explanation: why, MeetingURL: strings.TrimRight(s.PublicURL.String(), "/") + "/meetings/" + string(m.ID)}, tx.Now)
	if err != nil {
		return err
	}
	_, err = s.Outbox.Enqueue(ctx, tx.Tx, msg, tx.Now)
	return err
}

// invitees is the event's attendee list as the service sees it: lower-cased
// addresses in event order, without the host and organizer, deduplicated.
type invitees struct {
	order []string
	byKey map[string]classifiers.Attendee
}

func wantedInvitees(ev classifiers.Event, hostEmail string) invitees {
	w := invitees{byKey: map[string]classifiers.Attendee{}}
	host := strings.ToLower(hostEmail)
	for _, a := range ev.Attendees {
		e := strings.ToLower(strings.TrimSpace(a.Email))
		if e == "" || e == host || e == strings.ToLower(ev.Organizer.Email) {
			continue
		}
		if _, dup := w.byKey[e]; !dup {
			w.order = append(w.order, e)
		}
		w.byKey[e] = a
	}
	return w
}

func (w invitees) sorted() []string {
	out := slices.Clone(w.order)
	slices.Sort(out)
	return out
}

func activeInvitees(m *backend.Meeting) []string {
	var out []string
	for _, g := range m.Guests {
		if g.Status == backend.GuestActive {
			out = append(out, g.Email)
		}
	}
	slices.Sort(out)
	return out
}

// window is one span a guest's code is valid for: an occurrence, or the
// meeting's own time when there is none.
type window struct {
	occ        *backend.Occurrence // nil for the meeting's own time
	start, end time.Time
}

// syncGuests makes the guest list match the event's attendees: new
// invitees get a code and a mail (external ones, where the profile uses
// codes), removed ones lose their code and are told.
//
// On a recurring meeting with an occurrence, codes are per (guest,
// occurrence): a repeat provision of the occurrence issues nothing, a new
// occurrence issues new codes and leaves the others valid. When the link
// rotated (rotated), every remaining guest gets fresh codes for every
// upcoming occurrence, mailed with the new link, because their old mail now
// carries a dead link.
func (s *Service) syncGuests(ctx context.Context, tx *sqlite.Tx, by backend.Actor, m *backend.Meeting, want invitees, occ *backend.Occurrence,
	rotated bool, lang locales.Lang) (queued bool, err error) {
	have := map[string]*backend.Guest{}
	for i := range m.Guests {
		have[m.Guests[i].Email] = &m.Guests[i]
	}
	usesCodes := m.Settings.Guests == "code"
	recurring := m.Recurrence != ""
	epoch := s.LinkEpoch(m, tx.Now)
	link := s.joinURLAt(m.ID, epoch)

	var (
		guests    []*backend.Guest // in event order
		codeUsers []*backend.Guest // active externals who get codes
		isNew     = map[backend.InviteeID]bool{}
		fresh     = map[backend.InviteeID]bool{} // new or re-invited
		issued    = map[backend.InviteeID]int{}  // codes issued in this run
	)
	for _, e := range want.order {
		a := want.byKey[e]
		g := have[e]
		if g == nil {
			g = &backend.Guest{ID: backend.InviteeID(randomID(10)), Email: e}
			isNew[g.ID] = true
		}
		wasActive := g.Status == backend.GuestActive
		g.Name, g.Internal, g.Status = truncate(a.Name, 200), s.Internal.Internal(e), backend.GuestActive
		guests = append(guests, g)
		if usesCodes && !g.Internal {
			codeUsers = append(codeUsers, g)
			if isNew[g.ID] || !wasActive {
				fresh[g.ID] = true
			}
		}
	}
	if rotated {
		// Old mails still in the queue carry the old link and a code about
		// to be superseded: stop them.
		for _, g := range codeUsers {
			if !isNew[g.ID] {
				if _, err := s.Outbox.CancelInvitations(ctx, tx.Tx, mail.MeetingID(m.ID), mail.InviteeID(g.ID), tx.Now); err != nil {
					return false, err
				}
			}
		}
	}
	issue := func(g *backend.Guest, w window) error {
		code, err := s.Codes.Issue(ctx, tx.Tx, ActorOf(by), guestcode.MeetingID(m.ID), guestcode.InviteeID(g.ID), g.Email,
			guestcode.Window{Start: w.start, End: w.end}, tx.Now)
		if err != nil {
			return fmt.Errorf("meeting %s: issue code: %w", m.ID, err)
		}
		msg, err := s.Mail.Invitation(mail.Invitation{Lang: lang, MeetingID: mail.MeetingID(m.ID), InviteeID: mail.InviteeID(g.ID), To: g.Email, ToName: g.Name,
			Organizer: by.Name, Title: m.Title, Start: w.start, End: w.end, Recurring: recurring, JoinURL: link, Code: code.Reveal(), ValidFrom: code.ValidFrom}, tx.Now)
		if err != nil {
			return err
		}
		id, err := s.Outbox.Enqueue(ctx, tx.Tx, msg, tx.Now)
		if err != nil {
			return err
		}
		if w.occ != nil {
			if err := tx.SaveOccurrenceCode(ctx, m.ID, w.occ.Key, g.ID, string(id), epoch); err != nil {
				return err
			}
		}
		g.DeliveryID, g.CodeIssuedAt, queued = string(id), tx.Now, true
		issued[g.ID]++
		return nil
	}

	// Occurrences: the one being provisioned, and on rotation every one
	// still to come.
	var targets []*backend.Occurrence
	if occ != nil {
		o, err := tx.Occurrence(ctx, m.ID, occ.Key)
		if err != nil && backend.ErrorCode(err) != backend.ENOTFOUND {
			return false, err
		}
		if o == nil {
			o = &backend.Occurrence{Key: occ.Key, LinkEpoch: -1} // -1: not stored yet
		}
		o.Start, o.End = occ.Start.UTC(), occ.End.UTC()
		targets = append(targets, o)
	}
	if rotated {
		upcoming, err := tx.OccurrencesEndingAfter(ctx, m.ID, tx.Now)
		if err != nil {
			return false, err
		}
		for i := range upcoming {
			if occ == nil || upcoming[i].Key != occ.Key {
				targets = append(targets, &upcoming[i])
			}
		}
	}
	for _, o := range targets {
		stored := o.LinkEpoch >= 0
		ended := !o.End.After(tx.Now)
		need := map[backend.InviteeID]bool{}
		for _, g := range codeUsers {
			has, err := tx.OccurrenceCodeIssued(ctx, m.ID, o.Key, g.ID)
			if err != nil {
				return queued, err
			}
			if !ended && (!has || fresh[g.ID] || rotated) {
				need[g.ID] = true
			}
		}
		// Everyone mailed for an occurrence holds the same link: if the
		// link moved on since the others were mailed, mail them all again.
		if len(need) > 0 && stored && o.LinkEpoch != epoch {
			for _, g := range codeUsers {
				need[g.ID] = true
			}
		}
		if !stored || rotated || len(need) > 0 {
			o.LinkEpoch = epoch
		}
		// Saved either way: a moved occurrence keeps its key, takes new times.
		if err := tx.SaveOccurrence(ctx, m.ID, o); err != nil {
			return queued, err
		}
		for _, g := range codeUsers {
			if need[g.ID] {
				if err := issue(g, window{occ: o, start: o.Start, end: o.End}); err != nil {
					return queued, err
				}
			}
		}
	}

	// Without an occurrence, a code covers the meeting's own time.
	if occ == nil {
		w := window{start: m.Start, end: m.End}
		for _, g := range codeUsers {
			if issued[g.ID] > 0 {
				continue
			}
			if !(fresh[g.ID] || g.CodeIssuedAt.IsZero() || rotated) {
				continue
			}
			if recurring && !w.end.After(tx.Now) {
				// The series' first occurrence is over; the next
				// occurrence's provisioning issues this guest's code.
				continue
			}
			if err := issue(g, w); err != nil {
				return queued, err
			}
		}
	}

	for _, g := range guests {
		if err := tx.SaveGuest(ctx, m.ID, g); err != nil {
			return queued, err
		}
		if isNew[g.ID] {
			if err := s.audit(ctx, tx, by, "guest.invited", m.ID, string(g.ID), map[string]string{"internal": boolStr(g.Internal), "code_issued": boolStr(issued[g.ID] > 0)}); err != nil {
				return queued, err
			}
		}
	}
	for e, g := range have {
		if _, still := want.byKey[e]; still || g.Status != backend.GuestActive {
			continue
		}
		q, err := s.revokeGuest(ctx, tx, by, m, g, lang)
		queued = queued || q
		if err != nil {
			return queued, err
		}
	}
	return queued, nil
}

// revokeGuest ends a guest's invitation: code revoked, unsent mail
// cancelled, a revocation mail queued, sessions ended.
func (s *Service) revokeGuest(ctx context.Context, tx *sqlite.Tx, by backend.Actor, m *backend.Meeting, g *backend.Guest, lang locales.Lang) (queued bool, err error) {
	g.Status = backend.GuestRevoked
	if !g.CodeIssuedAt.IsZero() {
		if err := s.Codes.Revoke(ctx, tx.Tx, ActorOf(by), guestcode.MeetingID(m.ID), guestcode.InviteeID(g.ID), tx.Now); err != nil {
			return false, err
		}
		if _, err := s.Outbox.CancelInvitations(ctx, tx.Tx, mail.MeetingID(m.ID), mail.InviteeID(g.ID), tx.Now); err != nil {
			return false, err
		}
		msg, err := s.Mail.Revocation(mail.Revocation{Lang: lang, MeetingID: mail.MeetingID(m.ID), InviteeID: mail.InviteeID(g.ID), To: g.Email, ToName: g.Name,
			Title: m.Title, Start: m.Start, End: m.End}, tx.Now)
		if err != nil {
			return false, err
		}
		if _, err := s.Outbox.Enqueue(ctx, tx.Tx, msg, tx.Now); err != nil {
			return false, err
		}
		queued = true
	}
	if _, err := tx.DeleteGuestSessions(ctx, string(m.ID), string(g.ID)); err != nil {
		return queued, err
	}
	if err := tx.SaveGuest(ctx, m.ID, g); err != nil {
		return queued, err
	}
	return queued, s.audit(ctx, tx, by, "guest.removed", m.ID, string(g.ID), nil)
}

// RevokeGuest is the host's explicit revoke from the guest list.
func (s *Service) RevokeGuest(ctx context.Context, by backend.Actor, id backend.MeetingID, invitee backend.InviteeID) (*backend.Meeting, error) {
	queued := false
	err := s.DB.InTx(ctx, func(tx *sqlite.Tx) error {
		m, err := tx.Meeting(ctx, id)
		if err != nil {
			return err
		}
		if err := canManage(by, m); err != nil {
			return err
		}
		for i := range m.Guests {
			if m.Guests[i].ID == invitee {
				if m.Guests[i].Status != backend.GuestActive {
					return nil
				}
				queued, err = s.revokeGuest(ctx, tx, by, m, &m.Guests[i], s.Lang)
				return err
			}
		}
		return backend.Errorf(backend.ENOTFOUND, "meeting.guest_not_found")
	})
	if err != nil {
		return nil, err
	}
	if queued && s.MailQueued != nil {
		s.MailQueued()
	}
	return s.Meeting(ctx, id)
}

// ResendInvitation queues the guest's invitation again (same code).
func (s *Service) ResendInvitation(ctx context.Context, by backend.Actor, id backend.MeetingID, invitee backend.InviteeID) (*backend.Meeting, error) {
	err := s.DB.InTx(ctx, func(tx *sqlite.Tx) error {
		m, err := tx.Meeting(ctx, id)
		if err != nil {
			return err
		}
		if err := canManage(by, m); err != nil {
			return err
		}
		for _, g := range m.Guests {
			if g.ID != invitee {
				continue
			}
			if g.Status != backend.GuestActive || g.DeliveryID == "" {
				return backend.Errorf(backend.EINVALID, "meeting.nothing_to_resend")
			}
			if err := s.Outbox.Resend(ctx, tx.Tx, mail.DeliveryID(g.DeliveryID), tx.Now); err != nil {
				switch {
				case errors.Is(err, mail.ErrInProgress):
					return backend.Errorf(backend.ECONFLICT, "meeting.mail_in_progress")
				case errors.Is(err, mail.ErrErased), errors.Is(err, mail.ErrNotFound):
					return backend.Errorf(backend.EINVALID, "meeting.nothing_to_resend")
				}
				return err
			}
			return s.audit(ctx, tx, by, "mail.resent", m.ID, string(g.ID), nil)
		}
		return backend.Errorf(backend.ENOTFOUND, "meeting.guest_not_found")
	})
	if err != nil {
		return nil, err
	}
	if s.MailQueued != nil {
		s.MailQueued()
	}
	return s.Meeting(ctx, id)
}

// MeetingsFor lists the meetings an actor hosts.
func (s *Service) MeetingsFor(ctx context.Context, by backend.Actor) ([]*backend.Meeting, error) {
	ms, err := s.DB.MeetingsByHost(ctx, by.UserID, 200)
	if err != nil {
		return nil, err
	}
	now := s.now()
	for _, m := range ms {
		s.setLink(m, now)
	}
	return ms, nil
}

// canManage: the meeting's host or an admin.
func canManage(by backend.Actor, m *backend.Meeting) error {
	if by.UserID == m.HostUserID || by.HasRole(backend.RoleAdmin) {
		return nil
	}
	return backend.Errorf(backend.EFORBIDDEN, "meeting.not_your_meeting")
}

// CanView: the host, an admin, or (for reading) nobody else.
func CanView(by backend.Actor, m *backend.Meeting) error { return canManage(by, m) }

func (s *Service) audit(ctx context.Context, tx *sqlite.Tx, by backend.Actor, action audit.Action, meeting backend.MeetingID, subject string, details map[string]string) error {
	_, err := audit.Append(ctx, tx.Tx, audit.Entry{
		Time: tx.Now, Actor: ActorOf(by), ActorIP: by.IP, Action: action, MeetingID: string(meeting), Subject: subject,
		Outcome: audit.Success, Details: details,
	})
	return err
}

// ActorOf is the pseudonymous audit actor for a user.
func ActorOf(by backend.Actor) audit.Actor {
	if by.UserID == "" {
		return audit.System
	}
	return audit.Actor("user:" + string(by.UserID))
}

func validateRef(r *backend.EventRef) error {
	switch r.Provider {
	case backend.ProviderOutlook, backend.ProviderGoogle:
		if strings.TrimSpace(r.ID) == "" && strings.TrimSpace(r.ICalUID) == "" {
			return &backend.Error{Code: backend.EINVALID, Key: "meeting.event_ref_required", Field: "event_ref.id"}
		}
	case backend.ProviderManual, "":
		r.Provider = backend.ProviderManual
		if r.ID == "" && r.ICalUID == "" {
			r.ID = randomID(10)
		}
	default:
		return &backend.Error{Code: backend.EINVALID, Key: "meeting.bad_provider", Field: "event_ref.provider"}
	}
	if len(r.ID) > 1024 || len(r.ICalUID) > 1024 {
		return &backend.Error{Code: backend.EINVALID, Key: "meeting.event_ref_required", Field: "event_ref.id"}
	}
	return nil
}

func validateTimes(ev classifiers.Event) error {
	if ev.Start == nil || ev.End == nil {
		return &backend.Error{Code: backend.EINVALID, Key: "meeting.times_required", Field: "event.start"}
	}
	if !ev.End.After(*ev.Start) || ev.End.Sub(*ev.Start) > MaxDuration {
		return &backend.Error{Code: backend.EINVALID, Key: "meeting.bad_times", Field: "event.end"}
	}
	return nil
}

// MaxOccurrenceKey bounds an occurrence key: an event key (≤ 2×1024) plus
// the original start.
const MaxOccurrenceKey = 2200

func validateOccurrence(o *backend.Occurrence) error {
	if o == nil {
		return nil
	}
	o.Key = strings.TrimSpace(o.Key)
	if o.Key == "" || len(o.Key) > MaxOccurrenceKey {
		return &backend.Error{Code: backend.EINVALID, Key: "meeting.bad_occurrence", Field: "occurrence.key"}
	}
	if o.Start.IsZero() || !o.End.After(o.Start) || o.End.Sub(o.Start) > MaxDuration {
		return &backend.Error{Code: backend.EINVALID, Key: "meeting.bad_times", Field: "occurrence.end"}
	}
	return nil
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func joinCats(cs []classifiers.Category) string {
	ss := make([]string, len(cs))
	for i, c := range cs {
		ss[i] = string(c)
	}
	slices.Sort(ss)
	return strings.Join(ss, ",")
}
