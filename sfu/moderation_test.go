package sfu_test

import (
	"context"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/motesvakt/motesvakt/sfu"
	"github.com/motesvakt/motesvakt/sfu/sfutest"
)

// TestMuteStopsForwarding: a moderator's mute stops the SFU forwarding the
// microphone (not just a client-side hint); the participant can unmute.
func TestMuteStopsForwarding(t *testing.T) {
	s := newSFU(t, nil, nil)
	room := s.Room("mute", sfu.RoomOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := connect(t, room, who("co", sfu.RoleCohost, sfu.LevelInternalMFA, true))
	expect(t, h, sfu.TypeWelcome, nil)
	p := connect(t, room, who("talker", sfu.RoleParticipant, sfu.LevelInternalSSO, true))
	expect(t, p, sfu.TypeWelcome, nil)
	pubs, err := p.Publish(ctxT(t, 5*time.Second), sfutest.TrackSpec{ID: "mic", Kind: webrtc.RTPCodecTypeAudio, Source: sfu.SourceMicrophone})
	if err != nil {
		t.Fatal(err)
	}
	go pump(ctx, pubs[0], constMarker(1), func() uint8 { return 20 })
	audio := func() int64 { return bytesFrom(h, webrtc.RTPCodecTypeAudio, "talker") }
	eventually(t, 10*time.Second, "cohost hears talker", func() bool { return audio() > 1000 })

	_ = h.Send(sfu.Message{Type: sfu.TypeMute, Target: "talker"})
	m := expect(t, p, sfu.TypeModeration, func(m sfu.Message) bool { return m.Action == sfu.TypeMute })
	if m.By != "co" || m.Target != "talker" {
		t.Errorf("moderation = %+v", m)
	}
	time.Sleep(200 * time.Millisecond)
	muted := audio()
	time.Sleep(500 * time.Millisecond)
	if got := audio(); got != muted {
		t.Errorf("audio still forwarded after mute: %d → %d bytes", muted, got)
	}
	_ = p.Send(sfu.Message{Type: sfu.TypeUnmute})
	eventually(t, 3*time.Second, "audio resumes after unmute", func() bool { return audio() > muted+500 })
}

// TestRaisedProfileStopsScreenShare: when the backend tightens the room
// (internal → protected), a screen share the new rules forbid stops at once
// and its publisher is told why.
func TestRaisedProfileStopsScreenShare(t *testing.T) {
	s := newSFU(t, nil, nil)
	opts := sfu.RoomOptions{Lobby: sfu.LobbyExternals, ScreenShare: sfu.ShareInternalSignedIn, Chat: true}
	room := s.Room("raise", opts)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := connect(t, room, host("boss"))
	expect(t, h, sfu.TypeWelcome, nil)
	p := connect(t, room, who("staff", sfu.RoleParticipant, sfu.LevelInternalSSO, true))
	expect(t, p, sfu.TypeWelcome, nil)
	pubs, err := p.Publish(ctxT(t, 5*time.Second), sfutest.TrackSpec{ID: "screen", Kind: webrtc.RTPCodecTypeVideo, Source: sfu.SourceScreen})
	if err != nil {
		t.Fatal(err)
	}
	go pump(ctx, pubs[0], constMarker(1), nil)
	eventually(t, 10*time.Second, "host sees the share", func() bool { return bytesFrom(h, webrtc.RTPCodecTypeVideo, "staff") > 2000 })

	opts.ScreenShare, opts.Chat, opts.Lobby = sfu.ShareHostsElevated, false, sfu.LobbyEveryone
	room.SetOptions(opts)
	// permissions_changed comes first, then the reason the share stopped.
	pm := expect(t, p, sfu.TypePermissionsChanged, nil)
	if pm.Permissions.Chat {
		t.Errorf("chat still permitted after the profile was raised")
	}
	expectError(t, p, sfu.CodeTrackForbidden)
	expect(t, h, sfu.TypeTrackUnpublished, nil)
	if got := len(room.Snapshot().Tracks); got != 0 {
		t.Errorf("tracks = %d, want 0", got)
	}
	_ = p.Send(sfu.Message{Type: sfu.TypeChat, Text: "hello?"})
	expectError(t, p, sfu.CodeChatDisabled)
}
