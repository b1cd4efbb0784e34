package recorder_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/motesvakt/motesvakt/classifiers"
	"github.com/motesvakt/motesvakt/sfu"
	"github.com/motesvakt/motesvakt/sfu/sfutest"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRoom10CPU measures process CPU for a 10-participant room (each
// publishing Opus at 50 packet/s and VP8 at 30 frame/s, everyone receiving
// everyone) without recording, with recording (20 encrypted files), and
// without again, in one run. The pion clients live in the same process and
// do the same work in every phase, so the difference between phases is the
// recorder's cost; rec/plain is a ratio of whole-process CPU and therefore
// understates the ratio for the SFU alone.
//
//	go test -run '^$' -bench Room10CPU -benchtime 1x ./backend/recorder/
func BenchmarkRoom10CPU(b *testing.B) {
	e := newEnv(b, envOpt{})
	_, room := e.meeting("bench", classifiers.ProfileOpen)
	room.SetOptions(sfu.RoomOptions{Lobby: sfu.LobbyNone, ScreenShare: sfu.ShareHostsPresenters, Chat: true, RecordingAllowed: true})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var host *client
	for i := 0; i < 10; i++ {
		role := sfu.RoleParticipant
		if i == 0 {
			role = sfu.RoleHost
		}
		c := connect(b, room, ident(fmt.Sprintf("p%02d", i), role, sfu.LevelInternalSSO, true))
		expect(b, c, sfu.TypeWelcome, nil)
		if i == 0 {
			host = c
		}
		pubs, err := c.Publish(ctxT(b, 20*time.Second),
			sfutest.TrackSpec{ID: "mic", Kind: webrtc.RTPCodecTypeAudio, Source: sfu.SourceMicrophone},
			sfutest.TrackSpec{ID: "cam", Kind: webrtc.RTPCodecTypeVideo, Source: sfu.SourceCamera})
		if err != nil {
			b.Fatal(err)
		}
		go pump(ctx, pubs[0], 20*time.Millisecond, nil)
		go pump(ctx, pubs[1], 33*time.Millisecond, nil)
	}
	eventually(b, 30*time.Second, "20 tracks", func() bool { return len(room.Snapshot().Tracks) == 20 })
	time.Sleep(2 * time.Second) // let every subscription settle
	const window = 3 * time.Second
	measure := func() float64 {
		c0, t0 := cpuTime(), time.Now()
		time.Sleep(window)
		return float64(cpuTime()-c0) / float64(time.Since(t0)) // cores busy
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		plain1 := measure()
		record(b, host, true)
		rec := measure()
		record(b, host, false)
		plain2 := measure()
		plain := (plain1 + plain2) / 2
		b.ReportMetric(plain*1000, "plain-cpu-ms/s")
		b.ReportMetric(rec*1000, "rec-cpu-ms/s")
		b.ReportMetric(rec/plain, "rec/plain")
		var pk, dr int64
		if err := e.db.SQL().QueryRow(`SELECT COALESCE(SUM(packets), 0), COALESCE(SUM(dropped), 0) FROM recorder_tracks`).Scan(&pk, &dr); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(pk), "recorded-packets")
		b.ReportMetric(float64(dr), "dropped-packets")
	}
}
