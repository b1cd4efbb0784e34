package rules_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/motesvakt/motesvakt/backend/audit"
	"github.com/motesvakt/motesvakt/backend/rules"
	"github.com/motesvakt/motesvakt/classifiers"
	"github.com/motesvakt/motesvakt/locales"
)

func draft(subject string, attendees ...string) classifiers.Event {
	ev := classifiers.Event{Subject: subject, Body: "Agenda följer.", Organizer: classifiers.Attendee{Email: "chef@kommun.se", Name: "Chef"}}
	for _, a := range attendees {
		ev.Attendees = append(ev.Attendees, classifiers.Attendee{Email: a})
	}
	return ev
}

// record classifies ev with the active engine and stores it `ago` before now.
func record(t *testing.T, s *rules.Store, clk *clock, ev classifiers.Event, ago time.Duration) {
	t.Helper()
	e, _, _ := s.Engine(context.Background())
	r, err := e.Classify(ev, locales.Swedish)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RecordDraft(context.Background(), ev, r, clk.Now().Add(-ago)); err != nil {
		t.Fatal(err)
	}
}

func TestDryRunOnFixtureHistory(t *testing.T) {
	s, _, clk := openStore(t, 0)
	ctx := context.Background()
	day := 24 * time.Hour
	// The history: three coffee meetings (one seen twice, one too old for a
	// 14-day run), a public webinar that mentions coffee, an HR meeting, and
	// an ordinary planning meeting.
	record(t, s, clk, draft("Kaffemöte med teamet"), 2*day)
	record(t, s, clk, draft("Kaffemöte med teamet"), 1*day) // same draft again: stored once
	record(t, s, clk, draft("Kaffemötet i fikarummet", "x@extern.se"), 3*day)
	record(t, s, clk, draft("Gammalt kaffemöte"), 20*day)
	record(t, s, clk, draft("Webbinarium: kaffemöte för medborgare"), 5*day)
	record(t, s, clk, draft("Lönesamtal"), 4*day)
	record(t, s, clk, draft("Planering vecka 50"), 6*day)
	record(t, s, clk, draft("Öppet webbinarium om parker"), 7*day)

	// Candidate: coffee meetings are HR matters; webinars are no longer open.
	v2, err := edit(t, s, clk, anna, rules.Edit{Base: 1, Ops: []rules.Op{addTerm("hr", "kaffemöte"),
		{Kind: rules.OpUpdateCategory, Category: "public", TargetProfile: "internal"}}})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.DryRun(ctx, v2.ID, 14, clk.Now(), locales.English)
	if err != nil {
		t.Fatal(err)
	}
	// Within 14 days: 6 distinct drafts. Changed: two coffee meetings
	// internal→protected, the coffee webinar open→protected, the park
	// webinar open→internal. HR and planning unchanged.
	if rep.Drafts != 6 || rep.Changed != 4 || rep.Stricter != 4 || rep.MoreOpen != 0 || rep.Active != 1 || rep.Candidate != 2 {
		t.Fatalf("report = %+v", rep)
	}
	got := map[string]int{}
	for _, tr := range rep.Transitions {
		got[string(tr.From)+">"+string(tr.To)] = tr.Count
	}
	if got["internal>protected"] != 2 || got["open>protected"] != 1 || got["open>internal"] != 1 || len(got) != 3 {
		t.Errorf("transitions = %v", got)
	}
	if len(rep.Examples) != 4 {
		t.Fatalf("examples = %+v", rep.Examples)
	}
	for _, ex := range rep.Examples {
		if ex.To == classifiers.ProfileProtected && (len(ex.Gained) != 1 || ex.Gained[0] != "hr" || len(ex.Reasons) == 0) {
			t.Errorf("example %+v lacks the hr reason", ex)
		}
	}
	// The reverse direction counts as more open.
	rep, err = s.DryRun(ctx, 1, 30, clk.Now(), locales.English)
	if err != nil || rep.Changed != 0 || rep.Drafts != 7 {
		t.Fatalf("active vs itself over 30 days: %+v %v", rep, err)
	}
	err = s.Update(ctx, func(tx *sql.Tx) error { _, err := s.Activate(ctx, tx, anna, v2.ID, clk.Now(), nil); return err })
	if err != nil {
		t.Fatal(err)
	}
	rep, _ = s.DryRun(ctx, 1, 14, clk.Now(), locales.English)
	if rep.Changed != 4 || rep.MoreOpen != 4 {
		t.Errorf("rolling back would open up 4 drafts: %+v", rep)
	}
}

func TestDraftRetention(t *testing.T) {
	t.Run("PurgeAfterKeepPeriod", func(t *testing.T) {
		s, db, clk := openStore(t, 0) // default 30 days
		record(t, s, clk, draft("Nytt"), time.Hour)
		record(t, s, clk, draft("Gammalt"), 31*24*time.Hour)
		n, err := s.Purge(context.Background(), clk.Now())
		if err != nil || n != 1 {
			t.Fatalf("purged %d, %v", n, err)
		}
		var left string
		db.QueryRow(`SELECT event FROM rule_drafts`).Scan(&left)
		if !strings.Contains(left, "Nytt") {
			t.Errorf("kept %q", left)
		}
	})
	t.Run("StorageOff", func(t *testing.T) {
		s, db, clk := openStore(t, -1)
		record(t, s, clk, draft("Hemligt"), 0)
		var n int
		db.QueryRow(`SELECT COUNT(*) FROM rule_drafts`).Scan(&n)
		if n != 0 {
			t.Errorf("%d drafts stored with storage off", n)
		}
	})
}

func TestMeasure(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	entries := []struct {
		action  audit.Action
		ago     int // days before t0+30d
		details map[string]string
	}{
		{audit.MeetingCreated, 1, map[string]string{"profile": "protected", "suggested": "protected", "externals": "0"}},
		{audit.MeetingCreated, 2, map[string]string{"profile": "internal", "suggested": "protected", "externals": "3"}},
		{audit.ProfileOverride, 2, map[string]string{"profile": "internal", "suggested": "protected", "categories": "hr,procurement"}},
		{audit.MeetingCreated, 3, map[string]string{"profile": "open", "suggested": "open", "externals": "12"}},
		{audit.MeetingCreated, 40, map[string]string{"profile": "open", "suggested": "open", "externals": "1"}},
		{audit.ProfileOverride, 4, map[string]string{"profile": "protected", "suggested": "internal"}},
		{audit.LobbyAdmit, 1, map[string]string{"verified": "true"}},
		{audit.LobbyAdmit, 1, map[string]string{"verified": "false"}},
		{audit.LobbyAdmit, 1, nil},
		{audit.RecordingStarted, 1, map[string]string{"profile": "internal"}},
		{audit.SignIn, 1, nil},
	}
	now := t0.Add(30 * 24 * time.Hour)
	for _, e := range entries {
		tx, _ := db.Begin()
		if _, err := audit.Append(ctx, tx, audit.Entry{Time: now.Add(-time.Duration(e.ago) * 24 * time.Hour), Actor: audit.System, Action: e.action, Outcome: audit.Success, Details: e.details}); err != nil {
			t.Fatal(err)
		}
		tx.Commit()
	}
	m, err := rules.Measure(ctx, db, now.Add(-30*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if m.Total != 3 || m.Meetings["protected"] != 1 || m.Meetings["internal"] != 1 || m.Meetings["open"] != 1 {
		t.Errorf("meetings = %v total %d", m.Meetings, m.Total)
	}
	if m.Externals["0"] != 1 || m.Externals["2-5"] != 1 || m.Externals["6+"] != 1 || m.ExternalsAvg != 5 {
		t.Errorf("externals = %v avg %v", m.Externals, m.ExternalsAvg)
	}
	if o := m.Overrides; o.Total != 2 || o.Down != 1 || o.Up != 1 || o.ByCategory["hr"] != 1 || o.ByCategory["procurement"] != 1 || o.ByTransition["protected→internal"] != 1 {
		t.Errorf("overrides = %+v", o)
	}
	if m.AdmittedTotal != 3 || m.AdmittedUnver != 2 || m.Recordings != 1 || m.RecordingsProf["internal"] != 1 {
		t.Errorf("admitted %d unverified %d recordings %d", m.AdmittedTotal, m.AdmittedUnver, m.Recordings)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(rules.NewCollector(db))
	for _, tt := range []struct {
		metric, labels string
		want           float64
	}{
		{"motesvakt_lobby_admitted_total", "verified=false", 2},
		{"motesvakt_lobby_admitted_total", "verified=true", 1},
		{"motesvakt_meetings_created_total", "profile=open", 2},
		{"motesvakt_meetings_created_total", "profile=protected", 1},
		{"motesvakt_profile_overrides_total", "direction=down,transition=protected→internal", 1},
		{"motesvakt_recordings_started_total", "", 1},
		{"motesvakt_meeting_externals", "", 4},
	} {
		if got := gathered(t, reg, tt.metric, tt.labels); got != tt.want {
			t.Errorf("%s{%s} = %v, want %v", tt.metric, tt.labels, got, tt.want)
		}
	}
	// Incremental: a new entry is picked up by the next scrape.
	tx, _ := db.Begin()
	audit.Append(ctx, tx, audit.Entry{Time: now, Actor: audit.System, Action: audit.RecordingStarted, Outcome: audit.Success})
	tx.Commit()
	if got := gathered(t, reg, "motesvakt_recordings_started_total", ""); got != 2 {
		t.Errorf("after one more recording: %v", got)
	}
}

// gathered returns the value (histograms: the sample count) of the series
// of metric whose labels, joined as "k=v,k=v", equal labels.
func gathered(t *testing.T, reg *prometheus.Registry, metric, labels string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != metric {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			if strings.Join(ls, ",") != labels {
				continue
			}
			return value(m)
		}
	}
	return -1
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return -1
}
