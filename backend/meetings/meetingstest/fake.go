// Package meetingstest holds a hand-written backend.MeetingService for tests
// of packages that call the meetings service (calendar sync, add-ins).
package meetingstest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/classifiers"
	"github.com/motesvakt/motesvakt/locales"
)

// Fake is a hand-written MeetingService: real classification, and a
// Provision that behaves as the contract says (idempotent per EventRef,
// guests follow the attendee list) while recording every call.
type Fake struct {
	eng *classifiers.Engine

	mu       sync.Mutex
	byKey    map[string]*backend.Meeting
	byID     map[backend.MeetingID]*backend.Meeting
	Calls    []ProvisionCall
	Internal backend.Domains
}

// ProvisionCall is one recorded Provision.
type ProvisionCall struct {
	By  backend.Actor
	Req backend.ProvisionRequest
}

// NewFake classifies with the default packs; kommun.se is internal.
func NewFake() *Fake {
	pol, err := classifiers.DefaultPolicy("kommun.se")
	if err != nil {
		panic(err)
	}
	eng, err := classifiers.Compile(pol)
	if err != nil {
		panic(err)
	}
	return &Fake{eng: eng, byKey: map[string]*backend.Meeting{}, byID: map[backend.MeetingID]*backend.Meeting{}, Internal: backend.ParseDomains("kommun.se")}
}

func (f *Fake) Classify(ctx context.Context, ev classifiers.Event, lang locales.Lang) (classifiers.Result, int64, error) {
	r, err := f.eng.Classify(ev, lang)
	return r, 1, err
}

func (f *Fake) Provision(ctx context.Context, by backend.Actor, req backend.ProvisionRequest) (*backend.Meeting, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Calls = append(f.Calls, ProvisionCall{By: by, Req: req})
	res, err := f.eng.Classify(req.Event, locales.English)
	if err != nil {
		return nil, err
	}
	m := f.byKey[req.EventRef.Key()]
	if m == nil {
		id := backend.MeetingID(fmt.Sprintf("m%03d", len(f.byID)+1))
		m = &backend.Meeting{ID: id, JoinURL: "https://mv.test/m/" + string(id), EventRef: req.EventRef, HostUserID: by.UserID, HostEmail: by.Email, Created: time.Unix(0, 0)}
		f.byKey[req.EventRef.Key()] = m
		f.byID[id] = m
	}
	m.Title, m.Profile, m.Suggested, m.OverrideReason = req.Event.Subject, req.Profile, res.Profile, req.OverrideReason
	if req.Event.Start != nil {
		m.Start = *req.Event.Start
	}
	if req.Event.End != nil {
		m.End = *req.Event.End
	}
	want := map[string]bool{}
	for _, a := range req.Event.Attendees {
		e := strings.ToLower(a.Email)
		if e == strings.ToLower(m.HostEmail) {
			continue
		}
		want[e] = true
	}
	for i := range m.Guests {
		if !want[m.Guests[i].Email] {
			m.Guests[i].Status = backend.GuestRevoked
		}
		delete(want, m.Guests[i].Email)
	}
	for _, a := range req.Event.Attendees {
		e := strings.ToLower(a.Email)
		if want[e] {
			m.Guests = append(m.Guests, backend.Guest{ID: backend.InviteeID("g" + e), Email: e, Internal: f.Internal.Internal(e), Status: backend.GuestActive})
			delete(want, e)
		}
	}
	cp := *m
	cp.Guests = append([]backend.Guest(nil), m.Guests...)
	return &cp, nil
}

func (f *Fake) Meeting(ctx context.Context, id backend.MeetingID) (*backend.Meeting, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.byID[id]
	if m == nil {
		return nil, backend.Errorf(backend.ENOTFOUND, "error.not_found")
	}
	cp := *m
	cp.Guests = append([]backend.Guest(nil), m.Guests...)
	return &cp, nil
}

func (f *Fake) MeetingByEvent(ctx context.Context, ref backend.EventRef) (*backend.Meeting, error) {
	f.mu.Lock()
	m := f.byKey[ref.Key()]
	f.mu.Unlock()
	if m == nil {
		return nil, backend.Errorf(backend.ENOTFOUND, "error.not_found")
	}
	return f.Meeting(ctx, m.ID)
}

// ProvisionCalls returns a copy of every Provision call so far.
func (f *Fake) ProvisionCalls() []ProvisionCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ProvisionCall(nil), f.Calls...)
}

// ResetCalls forgets the recorded calls.
func (f *Fake) ResetCalls() {
	f.mu.Lock()
	f.Calls = nil
	f.mu.Unlock()
}
