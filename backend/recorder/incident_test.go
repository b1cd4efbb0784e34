package recorder_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/motesvakt/motesvakt/backend/audit"
	"github.com/motesvakt/motesvakt/backend/recorder"
	"github.com/motesvakt/motesvakt/backend/recording"
	"github.com/motesvakt/motesvakt/classifiers"
	"github.com/motesvakt/motesvakt/sfu"
	"github.com/motesvakt/motesvakt/sfu/sfutest"
)

// TestIncident: one press stops recording, locks the room, sends the
// external and the unverified participant back to the lobby (the internal
// one stays), holds the partial recording, flags the meeting, audits it;
// ending it clears the flag but keeps the hold and the review item.
func TestIncident(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOpt{})
	_, room := e.meeting("m", classifiers.ProfileInternal)
	host := connect(t, room, hostID("h"))
	expect(t, host, sfu.TypeWelcome, nil)
	internal := connect(t, room, ident("u-int", sfu.RoleParticipant, sfu.LevelInternalSSO, true))
	expect(t, internal, sfu.TypeWelcome, nil)
	// Externals wait in an internal meeting's lobby until a host admits them.
	external := connect(t, room, ident("u-ext", sfu.RoleGuest, sfu.LevelCodeVerified, false))
	expect(t, external, sfu.TypeLobbyWaiting, nil)
	anon := connect(t, room, ident("g-anon", sfu.RoleGuest, sfu.LevelUnverified, false))
	expect(t, anon, sfu.TypeLobbyWaiting, nil)
	for _, id := range []sfu.ParticipantID{"u-ext", "g-anon"} {
		if err := host.Send(sfu.Message{Type: sfu.TypeAdmit, Target: id}); err != nil {
			t.Fatal(err)
		}
	}
	expect(t, external, sfu.TypeWelcome, nil)
	expect(t, anon, sfu.TypeWelcome, nil)

	pubs, err := external.Publish(ctxT(t, 10*time.Second), sfutest.TrackSpec{ID: "mic", Kind: webrtc.RTPCodecTypeAudio, Source: sfu.SourceMicrophone})
	if err != nil {
		t.Fatal(err)
	}
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	go pump(pctx, pubs[0], 20*time.Millisecond, nil)
	eventually(t, 10*time.Second, "track published", func() bool { return len(room.Snapshot().Tracks) == 1 })
	if err := host.Send(sfu.Message{Type: sfu.TypeRecord, On: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	expect(t, host, sfu.TypeRecordingState, func(m sfu.Message) bool { return *m.Recording })
	eventually(t, 10*time.Second, "audio recorded", func() bool {
		st := e.rec.Stats("m")
		return len(st) == 1 && st[0].Packets > 10
	})

	hostActor := recorder.Actor{Audit: "participant:h", Host: true}
	if _, err := e.rec.Incident(ctx, "m", recorder.Actor{Audit: "user:x"}); !errors.Is(err, recorder.ErrForbidden) {
		t.Fatalf("incident by a non-host = %v, want ErrForbidden", err)
	}
	rep, err := e.rec.Incident(ctx, "m", hostActor)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.RecordingStopped || rep.Returned != 2 || rep.Held != 1 || len(rep.Finished) != 1 {
		t.Errorf("report = %+v, want stopped, 2 returned, 1 held, 1 finished", rep)
	}
	expect(t, internal, sfu.TypeRecordingState, func(m sfu.Message) bool { return !*m.Recording && m.Reason == recorder.ReasonIncident })
	for _, c := range []*client{external, anon} {
		expect(t, c, sfu.TypeLobbyWaiting, func(m sfu.Message) bool { return m.Reason == recorder.ReasonIncident })
	}
	st := room.Snapshot()
	if !st.Locked || st.Recording {
		t.Errorf("room locked=%v recording=%v, want locked and not recording", st.Locked, st.Recording)
	}
	if got, want := len(st.Participants), 2; got != want {
		t.Errorf("participants = %d, want %d (host and internal)", got, want)
	}
	if got, want := len(st.Lobby), 2; got != want {
		t.Errorf("lobby = %d, want %d", got, want)
	}
	if got := len(st.Tracks); got != 0 {
		t.Errorf("the returned external's track is still published (%d tracks)", got)
	}
	if e.rec.Recording("m") {
		t.Error("recorder still running")
	}

	recs, _ := e.store.ListMeeting(ctx, "m")
	if len(recs) != 1 || !recs[0].LegalHold || recs[0].State != recording.StateFinished {
		t.Fatalf("recordings = %+v, want one finished under legal hold", recs)
	}
	mt, err := e.db.Meeting(ctx, "m")
	if err != nil {
		t.Fatal(err)
	}
	if !mt.Incident || !mt.Locked {
		t.Errorf("meeting incident=%v locked=%v", mt.Incident, mt.Locked)
	}
	if err := e.rec.Start(ctx, "m", hostActor); !errors.Is(err, recorder.ErrIncidentOpen) {
		t.Errorf("start during incident = %v, want ErrIncidentOpen", err)
	}

	// A held recording survives retention.
	e.clock.Add(400 * 24 * time.Hour)
	sch := &recorder.Scheduler{DB: e.db.SQL(), Store: e.store, Now: e.clock.Now}
	if del, err := sch.SweepOnce(ctx); err != nil || len(del) != 0 {
		t.Fatalf("sweep deleted %v, %v; want nothing under hold", del, err)
	}

	q, err := e.rec.ReviewQueue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != 1 || q[0].MeetingID != "m" || len(q[0].Recordings) != 1 || q[0].Returned != 2 {
		t.Fatalf("review queue = %+v", q)
	}
	if err := e.rec.EndIncident(ctx, "m", hostActor); err != nil {
		t.Fatal(err)
	}
	if err := e.rec.EndIncident(ctx, "m", hostActor); !errors.Is(err, recorder.ErrNoIncident) {
		t.Errorf("second end = %v, want ErrNoIncident", err)
	}
	mt, _ = e.db.Meeting(ctx, "m")
	recs, _ = e.store.ListMeeting(ctx, "m")
	if mt.Incident || !recs[0].LegalHold {
		t.Errorf("after end: incident=%v hold=%v; want flag cleared, hold kept", mt.Incident, recs[0].LegalHold)
	}
	if q, _ = e.rec.ReviewQueue(ctx); len(q) != 1 || q[0].Closed.IsZero() {
		t.Errorf("review item after end = %+v, want still queued and marked ended", q)
	}

	admin := recorder.Actor{Audit: "user:admin", Admin: true}
	if err := e.rec.ReleaseHold(ctx, recs[0].ID, hostActor); !errors.Is(err, recorder.ErrForbidden) {
		t.Errorf("host releasing hold = %v, want ErrForbidden", err)
	}
	if err := e.rec.ReleaseHold(ctx, recs[0].ID, admin); err != nil {
		t.Fatal(err)
	}
	if err := e.rec.CloseReview(ctx, "m", admin); err != nil {
		t.Fatal(err)
	}
	if q, _ = e.rec.ReviewQueue(ctx); len(q) != 0 {
		t.Errorf("queue after close = %+v", q)
	}
	// Released and long past its date: the next sweep shreds it.
	del, err := sch.SweepOnce(ctx)
	if err != nil || len(del) != 1 {
		t.Fatalf("sweep after release = %v, %v", del, err)
	}

	trail := auditActions(t, e.db.SQL(), "m")
	for _, a := range []audit.Action{audit.RecordingStarted, audit.RecordingStopped, audit.IncidentOpened, audit.IncidentClosed,
		recorder.HoldReleased, recorder.ReviewClosed, audit.RecordingDeleted} {
		if findAudit(trail, a, audit.Success) == nil {
			t.Errorf("no %s audit entry", a)
		}
	}
	if r := findAudit(trail, audit.IncidentOpened, audit.Success); r != nil && (r.Actor != "participant:h" || r.Details["returned_to_lobby"] != "2") {
		t.Errorf("incident.opened = %+v", r)
	}
	if rep, err := audit.Verify(ctx, e.db.SQL()); err != nil || !rep.OK {
		t.Errorf("audit chain: %+v %v", rep, err)
	}

	// Readmitted, the external joins as a newcomer and can publish again.
	if err := host.Send(sfu.Message{Type: sfu.TypeAdmit, Target: "u-ext"}); err != nil {
		t.Fatal(err)
	}
	expect(t, external, sfu.TypeWelcome, nil)
}

// TestRetentionSweep deletes exactly the recordings past their profile's
// deadline, file and key, with an audit entry each; a held one stays.
func TestRetentionSweep(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOpt{})
	host := recorder.Actor{Audit: "user:h", Host: true}
	start := e.clock.Now()
	ids := map[string]recording.ID{}
	for _, p := range []classifiers.Profile{classifiers.ProfileOpen, classifiers.ProfileInternal} {
		id := string(p)
		_, room := e.meeting(id, p)
		c := connect(t, room, hostID("h-"+id))
		expect(t, c, sfu.TypeWelcome, nil)
		pubs, err := c.Publish(ctxT(t, 10*time.Second), sfutest.TrackSpec{ID: "mic", Kind: webrtc.RTPCodecTypeAudio, Source: sfu.SourceMicrophone})
		if err != nil {
			t.Fatal(err)
		}
		pctx, stop := context.WithCancel(ctx)
		go pump(pctx, pubs[0], 20*time.Millisecond, nil)
		eventually(t, 10*time.Second, "track", func() bool { return len(room.Snapshot().Tracks) == 1 })
		if err := e.rec.Start(ctx, "no-such-meeting", host); err == nil {
			t.Fatal("started a meeting that does not exist")
		}
		record(t, c, true)
		time.Sleep(200 * time.Millisecond)
		record(t, c, false)
		stop()
		recs, _ := e.store.ListMeeting(ctx, recording.MeetingID(id))
		if len(recs) != 1 {
			t.Fatalf("%s: %d recordings", id, len(recs))
		}
		ids[id] = recs[0].ID
		if got, want := recs[0].DeleteAfter, start.Add(time.Duration(classifiers.DefaultProfiles()[p].RetentionDays)*24*time.Hour); !got.Equal(want) {
			t.Errorf("%s delete_after = %v, want %v", id, got, want)
		}
	}
	sch := &recorder.Scheduler{DB: e.db.SQL(), Store: e.store, Now: e.clock.Now}
	steps := []struct {
		advance time.Duration
		want    []recording.ID
	}{
		{29 * 24 * time.Hour, nil},
		{24 * time.Hour, []recording.ID{ids["open"]}},
		{29 * 24 * time.Hour, nil},
		{24 * time.Hour, []recording.ID{ids["internal"]}},
	}
	for i, s := range steps {
		e.clock.Add(s.advance)
		got, err := sch.SweepOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(s.want) || len(got) == 1 && got[0] != s.want[0] {
			t.Fatalf("step %d: deleted %v, want %v", i, got, s.want)
		}
		for _, id := range got {
			if _, err := e.store.Get(ctx, id); !errors.Is(err, recording.ErrNotFound) {
				t.Errorf("%s still has a row (and wrapped key): %v", id, err)
			}
			if _, err := os.Stat(filepath.Join(e.store.Dir(), string(id)+".age")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s file still on disk", id)
			}
		}
	}
	for id := range ids {
		r := findAudit(auditActions(t, e.db.SQL(), id), audit.RecordingDeleted, audit.Success)
		if r == nil || r.Actor != audit.System || r.Details["crypto_shredded"] != "true" {
			t.Errorf("%s deletion audit = %+v", id, r)
		}
	}
}

// TestSchedulerRun runs the periodic loop for real and sees it sweep.
func TestSchedulerRun(t *testing.T) {
	e := newEnv(t, envOpt{noSFU: true})
	ctx, cancel := context.WithCancel(context.Background())
	sch := &recorder.Scheduler{DB: e.db.SQL(), Store: e.store, Now: e.clock.Now, Every: 20 * time.Millisecond}
	w, err := createDirect(e, "old", e.clock.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sch.Run(ctx) }()
	eventually(t, 5*time.Second, "scheduled sweep", func() bool {
		_, err := e.store.Get(context.Background(), w)
		return errors.Is(err, recording.ErrNotFound)
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestQueueFullDrops: a tiny queue drops and counts instead of blocking the
// forwarding path.
func TestQueueFullDrops(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOpt{queueLen: 1})
	_, room := e.meeting("m", classifiers.ProfileInternal)
	c := connect(t, room, hostID("h"))
	expect(t, c, sfu.TypeWelcome, nil)
	pubs, err := c.Publish(ctxT(t, 10*time.Second), sfutest.TrackSpec{ID: "mic", Kind: webrtc.RTPCodecTypeAudio, Source: sfu.SourceMicrophone})
	if err != nil {
		t.Fatal(err)
	}
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	go pump(pctx, pubs[0], time.Millisecond, nil)
	eventually(t, 10*time.Second, "track", func() bool { return len(room.Snapshot().Tracks) == 1 })
	record(t, c, true)
	eventually(t, 10*time.Second, "packets written", func() bool {
		st := e.rec.Stats("m")
		return len(st) == 1 && st[0].Packets > 0
	})
	time.Sleep(300 * time.Millisecond)
	record(t, c, false)
	recs, _ := e.store.ListMeeting(ctx, "m")
	tr, err := e.rec.TrackOf(ctx, recs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("queue of 1 at 1000 packets/s: %d written, %d dropped", tr.Packets, tr.Dropped)
	if tr.Packets == 0 || recs[0].State != recording.StateFinished {
		t.Errorf("track = %+v, state %s", tr, recs[0].State)
	}
}
