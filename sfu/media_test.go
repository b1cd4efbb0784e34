package sfu_test

import (
	"context"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/motesvakt/motesvakt/sfu"
	"github.com/motesvakt/motesvakt/sfu/sfutest"
)

func constMarker(b byte) func(string) byte { return func(string) byte { return b } }

// TestMediaFlowsAndRenegotiates: two pion clients exchange media through the
// SFU; a third joins and both existing clients' media reach it, and its
// media reaches them through server-driven renegotiation.
func TestMediaFlowsAndRenegotiates(t *testing.T) {
	s := newSFU(t, nil, nil)
	room := s.Room("m1", sfu.RoomOptions{Lobby: sfu.LobbyNone, Chat: true})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	a := connect(t, room, host("alice"))
	expect(t, a, sfu.TypeWelcome, nil)
	b := connect(t, room, who("bob", sfu.RoleParticipant, sfu.LevelInternalSSO, true))
	expect(t, b, sfu.TypeWelcome, nil)

	pa, err := a.Publish(ctxT(t, 5*time.Second),
		sfutest.TrackSpec{ID: "a-cam", Kind: webrtc.RTPCodecTypeVideo, Source: sfu.SourceCamera},
		sfutest.TrackSpec{ID: "a-mic", Kind: webrtc.RTPCodecTypeAudio, Source: sfu.SourceMicrophone})
	if err != nil {
		t.Fatal(err)
	}
	pb, err := b.Publish(ctxT(t, 5*time.Second), sfutest.TrackSpec{ID: "b-cam", Kind: webrtc.RTPCodecTypeVideo, Source: sfu.SourceCamera})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range append(pa, pb...) {
		go pump(ctx, p, constMarker(1), func() uint8 { return 127 })
	}
	eventually(t, 10*time.Second, "bob receives alice's video and audio", func() bool {
		return bytesFrom(b, webrtc.RTPCodecTypeVideo, "alice") > 2000 && bytesFrom(b, webrtc.RTPCodecTypeAudio, "alice") > 1000
	})
	eventually(t, 10*time.Second, "alice receives bob's video", func() bool {
		return bytesFrom(a, webrtc.RTPCodecTypeVideo, "bob") > 2000
	})
	before := bytesFrom(b, webrtc.RTPCodecTypeVideo, "alice")
	eventually(t, 5*time.Second, "bytes keep growing", func() bool { return bytesFrom(b, webrtc.RTPCodecTypeVideo, "alice") > before+2000 })

	// The SFU asked the publisher for a keyframe when bob subscribed.
	if got := a.PLIs.Load(); got == 0 {
		t.Errorf("alice got %d keyframe requests, want > 0", got)
	}

	c := connect(t, room, who("carol", sfu.RoleParticipant, sfu.LevelInternalSSO, true))
	expect(t, c, sfu.TypeWelcome, func(m sfu.Message) bool { return len(m.Published) == 3 })
	pc, err := c.Publish(ctxT(t, 5*time.Second), sfutest.TrackSpec{ID: "c-cam", Kind: webrtc.RTPCodecTypeVideo, Source: sfu.SourceCamera})
	if err != nil {
		t.Fatal(err)
	}
	go pump(ctx, pc[0], constMarker(3), nil)
	eventually(t, 10*time.Second, "carol receives alice and bob", func() bool {
		return bytesFrom(c, webrtc.RTPCodecTypeVideo, "alice") > 2000 && bytesFrom(c, webrtc.RTPCodecTypeVideo, "bob") > 2000
	})
	eventually(t, 10*time.Second, "alice and bob receive carol after renegotiation", func() bool {
		return bytesFrom(a, webrtc.RTPCodecTypeVideo, "carol") > 2000 && bytesFrom(b, webrtc.RTPCodecTypeVideo, "carol") > 2000
	})
	st := room.Snapshot()
	if got, want := len(st.Participants), 3; got != want {
		t.Errorf("participants = %d, want %d", got, want)
	}
	if got, want := len(st.Tracks), 4; got != want {
		t.Errorf("tracks = %d, want %d", got, want)
	}

	// Removal: carol's session and media end at once, others continue.
	if err := b.Send(sfu.Message{Type: sfu.TypeRemove, Target: "carol"}); err != nil {
		t.Fatal(err)
	}
	expectError(t, b, sfu.CodeForbidden) // bob is no host
	if err := a.Send(sfu.Message{Type: sfu.TypeRemove, Target: "carol"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.End.Closed():
	case <-time.After(2 * time.Second):
		t.Fatal("removed participant's connection still open")
	}
	expect(t, a, sfu.TypeTrackUnpublished, nil)
	eventually(t, 3*time.Second, "carol gone from room", func() bool {
		st := room.Snapshot()
		return len(st.Participants) == 2 && len(st.Tracks) == 3
	})
	// A removed identity cannot come back into this room.
	c2 := connect(t, room, who("carol", sfu.RoleParticipant, sfu.LevelInternalSSO, true))
	expectError(t, c2, sfu.CodeDenied)
	before = bytesFrom(b, webrtc.RTPCodecTypeVideo, "alice")
	eventually(t, 5*time.Second, "room unaffected", func() bool { return bytesFrom(b, webrtc.RTPCodecTypeVideo, "alice") > before+2000 })
}

// TestForbiddenTracks: a guest's screen share in a hosts_elevated room and a
// listen-only attendee's microphone are refused with track_forbidden and
// never reach anyone; promotion lifts the listen-only rule.
func TestForbiddenTracks(t *testing.T) {
	s := newSFU(t, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	t.Run("guest screen share in protected room", func(t *testing.T) {
		room := s.Room("protected", sfu.RoomOptions{Lobby: sfu.LobbyNone, ScreenShare: sfu.ShareHostsElevated})
		h := connect(t, room, host("h1"))
		expect(t, h, sfu.TypeWelcome, nil)
		g := connect(t, room, who("g1", sfu.RoleGuest, sfu.LevelCodeVerified, false))
		expect(t, g, sfu.TypeWelcome, nil)
		p, err := g.Publish(ctxT(t, 5*time.Second),
			sfutest.TrackSpec{ID: "g-screen", Kind: webrtc.RTPCodecTypeVideo, Source: sfu.SourceScreen},
			sfutest.TrackSpec{ID: "g-cam", Kind: webrtc.RTPCodecTypeVideo, Source: sfu.SourceCamera})
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range p {
			go pump(ctx, x, constMarker(9), nil)
		}
		m := expectError(t, g, sfu.CodeTrackForbidden)
		if got, want := m.Error.Of, string(sfu.SourceScreen); got != want {
			t.Errorf("forbidden source = %q, want %q", got, want)
		}
		if m.Error.Message == "" || m.Error.Message == "[room.error.track_forbidden]" {
			t.Errorf("error message not localized: %q", m.Error.Message)
		}
		eventually(t, 10*time.Second, "host receives the guest's camera", func() bool { return bytesFrom(h, webrtc.RTPCodecTypeVideo, "g1") > 2000 })
		for _, tr := range room.Snapshot().Tracks {
			if tr.Source == sfu.SourceScreen {
				t.Errorf("screen share was published: %+v", tr)
			}
		}
	})

	t.Run("listen-only attendee until promoted", func(t *testing.T) {
		room := s.Room("webinar", sfu.RoomOptions{Lobby: sfu.LobbyNone, ListenOnlyAttendees: true})
		h := connect(t, room, host("h2"))
		expect(t, h, sfu.TypeWelcome, nil)
		at := connect(t, room, who("att", sfu.RoleParticipant, sfu.LevelUnverified, false))
		w := expect(t, at, sfu.TypeWelcome, nil)
		if got := len(w.Permissions.Publish); got != 0 {
			t.Errorf("listen-only attendee may publish %v", w.Permissions.Publish)
		}
		p, err := at.Publish(ctxT(t, 5*time.Second), sfutest.TrackSpec{ID: "att-mic", Kind: webrtc.RTPCodecTypeAudio, Source: sfu.SourceMicrophone})
		if err != nil {
			t.Fatal(err)
		}
		pctx, pcancel := context.WithCancel(ctx)
		go pump(pctx, p[0], constMarker(1), nil)
		expectError(t, at, sfu.CodeTrackForbidden)
		if got := len(room.Snapshot().Tracks); got != 0 {
			t.Errorf("tracks = %d, want 0", got)
		}
		pcancel()
		if err := h.Send(sfu.Message{Type: sfu.TypePromote, Target: "att"}); err != nil {
			t.Fatal(err)
		}
		pm := expect(t, at, sfu.TypePermissionsChanged, nil)
		if got := len(pm.Permissions.Publish); got == 0 {
			t.Errorf("promoted attendee still may not publish")
		}
		p2, err := at.Publish(ctxT(t, 5*time.Second), sfutest.TrackSpec{ID: "att-mic2", Kind: webrtc.RTPCodecTypeAudio, Source: sfu.SourceMicrophone})
		if err != nil {
			t.Fatal(err)
		}
		go pump(ctx, p2[0], constMarker(1), nil)
		eventually(t, 10*time.Second, "host hears the promoted attendee", func() bool { return bytesFrom(h, webrtc.RTPCodecTypeAudio, "att") > 1000 })
	})
}

// TestUnsupportedCodec: an offer with only H.264 video is refused with
// unsupported_codec and the session stays usable.
func TestUnsupportedCodec(t *testing.T) {
	s := newSFU(t, nil, nil)
	room := s.Room("codec", sfu.RoomOptions{})
	c := connect(t, room, host("h"))
	expect(t, c, sfu.TypeWelcome, nil)
	go func() {
		_, _ = c.Publish(ctxT(t, 2*time.Second), sfutest.TrackSpec{ID: "v", Kind: webrtc.RTPCodecTypeVideo, Codec: webrtc.MimeTypeH264})
	}()
	expectError(t, c, sfu.CodeUnsupportedCodec)
	if err := c.Send(sfu.Message{Type: sfu.TypePing, ID: "1"}); err != nil {
		t.Fatal(err)
	}
	expect(t, c, sfu.TypePong, func(m sfu.Message) bool { return m.ID == "1" })
}

// TestAnswerTimeout: a subscriber that never answers an offer is closed.
func TestAnswerTimeout(t *testing.T) {
	s := newSFU(t, nil, func(c *sfu.Config) { c.AnswerTimeout = 700 * time.Millisecond })
	room := s.Room("silent", sfu.RoomOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := connect(t, room, host("a"))
	expect(t, a, sfu.TypeWelcome, nil)
	p, err := a.Publish(ctxT(t, 5*time.Second), sfutest.TrackSpec{ID: "a-mic", Kind: webrtc.RTPCodecTypeAudio, Source: sfu.SourceMicrophone})
	if err != nil {
		t.Fatal(err)
	}
	go pump(ctx, p[0], constMarker(1), nil)
	eventually(t, 5*time.Second, "track published", func() bool { return len(room.Snapshot().Tracks) == 1 })

	// A raw session that reads but never answers.
	srv, cli := sfutest.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- room.Serve(context.Background(), srv, who("mute", sfu.RoleParticipant, sfu.LevelInternalSSO, true))
	}()
	_ = cli.Write(context.Background(), []byte(`{"v":1,"type":"join"}`))
	select {
	case <-cli.Closed():
	case <-time.After(5 * time.Second):
		t.Fatal("non-answering client was not closed")
	}
	if got, want := cli.Reason(), sfu.CodeAnswerTimeout; got != want {
		t.Errorf("close reason = %q, want %q", got, want)
	}
	eventually(t, 2*time.Second, "silent client gone", func() bool { return len(room.Snapshot().Participants) == 1 })
}
