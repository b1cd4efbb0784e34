package sfu_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/motesvakt/motesvakt/sfu"
	"github.com/motesvakt/motesvakt/sfu/sfutest"
)

// TestLayerSwitchOnSpeakerChange: a simulcast publisher is sent at the low
// layer until its audio level makes it the active speaker; then subscribers
// switch to the high layer on a keyframe, with continuous sequence numbers.
func TestLayerSwitchOnSpeakerChange(t *testing.T) {
	s := newSFU(t, nil, func(c *sfu.Config) { c.SpeakerInterval = 100 * time.Millisecond })
	room := s.Room("simulcast", sfu.RoomOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	a := connect(t, room, host("alice"))
	expect(t, a, sfu.TypeWelcome, nil)
	b := connect(t, room, who("bob", sfu.RoleParticipant, sfu.LevelInternalSSO, true))
	expect(t, b, sfu.TypeWelcome, nil)

	pubs, err := a.Publish(ctxT(t, 5*time.Second),
		sfutest.TrackSpec{ID: "a-cam", Kind: webrtc.RTPCodecTypeVideo, Source: sfu.SourceCamera, RIDs: []string{"q", "f"}},
		sfutest.TrackSpec{ID: "a-mic", Kind: webrtc.RTPCodecTypeAudio, Source: sfu.SourceMicrophone})
	if err != nil {
		t.Fatal(err)
	}
	var level atomic.Uint32
	level.Store(127) // silence
	go pump(ctx, pubs[0], func(rid string) byte { return rid[0] }, nil)
	go pump(ctx, pubs[1], constMarker(0), func() uint8 { return uint8(level.Load()) })

	video := func() *sfutest.RemoteTrack {
		for _, tr := range b.Tracks() {
			if tr.Kind == webrtc.RTPCodecTypeVideo && tr.StreamID == "alice" {
				return tr
			}
		}
		return nil
	}
	layerSeen := func(want byte) func() bool {
		return func() bool {
			v := video()
			if v == nil {
				return false
			}
			p := v.LastPayload()
			return len(p) > 5 && p[5] == want
		}
	}
	eventually(t, 10*time.Second, "bob receives alice's low layer", layerSeen('q'))
	eventually(t, 3*time.Second, "both layers published", func() bool {
		tr := room.Snapshot().Tracks
		for _, x := range tr {
			if x.Kind == "video" && len(x.Layers) == 2 {
				return true
			}
		}
		return false
	})
	time.Sleep(300 * time.Millisecond)
	if !layerSeen('q')() {
		t.Fatal("non-speaker not held at the low layer")
	}
	gapsBefore := video().SeqGaps()

	level.Store(10) // alice speaks
	m := expect(t, b, sfu.TypeSpeakerChanged, nil)
	if got, want := m.Speaker, sfu.ParticipantID("alice"); got != want {
		t.Fatalf("speaker = %q, want %q", got, want)
	}
	eventually(t, 5*time.Second, "bob switched to alice's high layer", layerSeen('f'))
	time.Sleep(200 * time.Millisecond)
	if got := video().SeqGaps() - gapsBefore; got != 0 {
		t.Errorf("sequence gaps across the switch = %d, want 0", got)
	}

	level.Store(127) // silence again: back to low after hysteresis
	// Nobody else speaks: the silent speaker keeps the floor (hysteresis),
	// so layers do not flap during pauses.
	time.Sleep(400 * time.Millisecond)
	if got := room.Snapshot().Speaker; got != "alice" {
		t.Errorf("speaker after a pause = %q, want alice", got)
	}
}
