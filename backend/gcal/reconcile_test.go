package gcal_test

import (
	"context"
	"testing"
	"time"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/gcal"
	"github.com/motesvakt/motesvakt/backend/meetings/meetingstest"
	"github.com/motesvakt/motesvakt/classifiers"
	"github.com/motesvakt/motesvakt/locales"
)

// TestReconcilePassesOccurrence: a change to a recurring event provisions
// with the occurrence named by gcal.OccurrenceKey (the series' key plus the
// original start) and the occurrence's own times.
func TestReconcilePassesOccurrence(t *testing.T) {
	series := backend.EventRef{Provider: backend.ProviderGoogle, ID: "s1", ICalUID: "s1@google.com"}
	at := func(s string) *time.Time { v, _ := time.Parse(time.RFC3339, s); return &v }
	base := classifiers.Event{Subject: "Styrgrupp", Organizer: classifiers.Attendee{Email: "anna@kommun.se"},
		Attendees: []classifiers.Attendee{{Email: "lev@leverantor.se"}},
		Start:     at("2026-01-05T09:00:00Z"), End: at("2026-01-05T10:00:00Z"), Recurrence: "RRULE:FREQ=WEEKLY"}
	moved := base
	moved.Recurrence = "" // a Google instance does not repeat the rule
	moved.Start, moved.End = at("2026-01-12T13:00:00Z"), at("2026-01-12T14:00:00Z")
	single := base
	single.Recurrence = ""
	single.Subject = "Styrgrupp (extra)"

	tests := []struct {
		name   string
		change gcal.Change
		want   *backend.Occurrence
	}{
		{"SeriesMasterIsItsFirstOccurrence", gcal.Change{Ref: series, Event: withSubject(base, "Styrgrupp v2")},
			&backend.Occurrence{Key: "google:ical:s1@google.com@20260105T090000Z", Start: *base.Start, End: *base.End}},
		{"MovedInstanceKeepsItsKey", gcal.Change{Ref: backend.EventRef{Provider: backend.ProviderGoogle, ID: "s1_20260112T090000Z", ICalUID: "s1@google.com"},
			Event: moved, OriginalStart: *at("2026-01-12T09:00:00Z")},
			&backend.Occurrence{Key: "google:ical:s1@google.com@20260112T090000Z", Start: *moved.Start, End: *moved.End}},
		{"SingleEventHasNone", gcal.Change{Ref: series, Event: single}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := meetingstest.NewFake()
			host := backend.Actor{UserID: "u1", Email: "anna@kommun.se", Roles: []backend.Role{backend.RoleHost}}
			if _, err := svc.Provision(context.Background(), host, backend.ProvisionRequest{Event: base, EventRef: series}); err != nil {
				t.Fatal(err)
			}
			svc.ResetCalls()
			out, err := gcal.Reconcile(context.Background(), svc, tt.change, locales.English)
			if err != nil || !out.Provisioned {
				t.Fatalf("reconcile: %+v %v", out, err)
			}
			calls := svc.ProvisionCalls()
			if len(calls) != 1 {
				t.Fatalf("%d provision calls", len(calls))
			}
			got := calls[0].Req.Occurrence
			switch {
			case tt.want == nil && got != nil:
				t.Errorf("occurrence %+v, want none", got)
			case tt.want != nil && (got == nil || got.Key != tt.want.Key || !got.Start.Equal(tt.want.Start) || !got.End.Equal(tt.want.End)):
				t.Errorf("occurrence %+v, want %+v", got, tt.want)
			}
			if calls[0].Req.EventRef.Key() != series.Key() {
				t.Errorf("provisioned under %s, want the series' key", calls[0].Req.EventRef.Key())
			}
		})
	}
}

func withSubject(ev classifiers.Event, s string) classifiers.Event { ev.Subject = s; return ev }
