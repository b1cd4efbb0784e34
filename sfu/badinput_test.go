package sfu_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/motesvakt/motesvakt/locales"
	"github.com/motesvakt/motesvakt/sfu"
	"github.com/motesvakt/motesvakt/sfu/sfutest"
)

// TestMalformedMessages: bad input gets a clear error on the socket, the
// offender is closed where needed, and the room carries on.
func TestMalformedMessages(t *testing.T) {
	s := newSFU(t, nil, nil)
	room := s.Room("bad", sfu.RoomOptions{Chat: true})
	bystander := connect(t, room, host("bystander"))
	expect(t, bystander, sfu.TypeWelcome, nil)

	tests := []struct {
		name   string
		raw    string
		code   string
		closed bool
	}{
		{"not json", `{"v":1,"type":`, sfu.CodeBadMessage, false},
		{"no type", `{"v":1}`, sfu.CodeBadMessage, false},
		{"wrong version", `{"v":2,"type":"ping"}`, sfu.CodeUnsupportedVer, false},
		{"unknown type", `{"v":1,"type":"format_disk"}`, sfu.CodeUnknownType, false},
		{"second join", `{"v":1,"type":"join"}`, sfu.CodeBadMessage, false},
		{"answer without offer", `{"v":1,"type":"answer","pc":"sub","sdp":"v=0"}`, sfu.CodeBadMessage, false},
		{"offer on the wrong pc", `{"v":1,"type":"offer","pc":"sub","sdp":"v=0"}`, sfu.CodeBadMessage, false},
		{"garbage sdp", `{"v":1,"type":"offer","pc":"pub","sdp":"hello"}`, sfu.CodeBadSDP, false},
		{"candidate before sdp", `{"v":1,"type":"candidate","pc":"pub","candidate":{"candidate":"x"}}`, sfu.CodeBadMessage, false},
		{"empty chat", `{"v":1,"type":"chat","text":"   "}`, sfu.CodeBadMessage, false},
		{"huge chat", `{"v":1,"type":"chat","text":"` + strings.Repeat("å", 2001) + `"}`, sfu.CodeBadMessage, false},
		{"unknown source", `{"v":1,"type":"offer","pc":"pub","sdp":"v=0","tracks":{"t":"keylogger"}}`, sfu.CodeBadMessage, false},
		{"oversized", `{"v":1,"type":"chat","text":"` + strings.Repeat("x", sfu.MaxMessageSize) + `"}`, sfu.CodeTooLarge, true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := connect(t, room, host(fmt.Sprintf("h%d", i)))
			expect(t, c, sfu.TypeWelcome, nil)
			if err := c.SendRaw([]byte(tc.raw)); err != nil {
				t.Fatal(err)
			}
			m := expect(t, c, sfu.TypeError, nil)
			if got, want := m.Error.Code, tc.code; got != want {
				t.Errorf("code = %q, want %q (%s)", got, want, m.Error.Message)
			}
			if m.Error.Message == "" || strings.HasPrefix(m.Error.Message, "[") {
				t.Errorf("message not localized: %q", m.Error.Message)
			}
			select {
			case <-c.End.Closed():
				if !tc.closed {
					t.Errorf("session closed, want it open")
				}
			case <-time.After(150 * time.Millisecond):
				if tc.closed {
					t.Errorf("session open, want it closed")
				}
			}
		})
	}

	t.Run("first message must be join", func(t *testing.T) {
		srv, cli := sfutest.Pipe()
		go func() { _ = room.Serve(context.Background(), srv, host("early")) }()
		_ = cli.Write(context.Background(), []byte(`{"v":1,"type":"admit","target":"x"}`))
		select {
		case <-cli.Closed():
		case <-time.After(2 * time.Second):
			t.Fatal("not closed")
		}
	})
	t.Run("repeated garbage closes the session", func(t *testing.T) {
		c := connect(t, room, host("spammer"))
		expect(t, c, sfu.TypeWelcome, nil)
		for range 5 {
			_ = c.SendRaw([]byte("}{"))
		}
		select {
		case <-c.End.Closed():
		case <-time.After(2 * time.Second):
			t.Fatal("spammer not closed")
		}
	})
	t.Run("lang in join localizes errors", func(t *testing.T) {
		srv, cli := sfutest.Pipe()
		api, err := sfutest.LoopbackAPI()
		if err != nil {
			t.Fatal(err)
		}
		c := sfutest.NewClient(api, cli)
		go func() { _ = room.Serve(context.Background(), srv, host("svensk")) }()
		_ = c.Join("sv-SE")
		_ = c.SendRaw([]byte(`{"v":1,"type":"nope"}`))
		m, err := c.Expect(ctxT(t, 3*time.Second), sfu.TypeError, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := m.Error.Message, locales.T(locales.Swedish, "room.error.unknown_type"); got != want {
			t.Errorf("message = %q, want %q", got, want)
		}
		c.Close()
	})

	if err := bystander.Send(sfu.Message{Type: sfu.TypePing, ID: "still-here"}); err != nil {
		t.Fatal(err)
	}
	expect(t, bystander, sfu.TypePong, func(m sfu.Message) bool { return m.ID == "still-here" })
}

// TestJoinFlood: 100 joins within one second. The bucket admits a burst and
// refuses the rest with rate_limited; refused sessions are closed, admitted
// ones work, and the existing participant is unaffected.
func TestJoinFlood(t *testing.T) {
	s := newSFU(t, nil, func(c *sfu.Config) { c.JoinRate = 20; c.JoinBurst = 50 })
	room := s.Room("flood", sfu.RoomOptions{Lobby: sfu.LobbyExternals})
	h := connect(t, room, host("host"))
	expect(t, h, sfu.TypeWelcome, nil)

	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	var refused []*tclient
	start := time.Now()
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			internal := i%2 == 0
			level := sfu.LevelInternalSSO
			if !internal {
				level = sfu.LevelCodeVerified
			}
			c := connect(t, room, who(fmt.Sprintf("p%03d", i), sfu.RoleParticipant, level, internal))
			for m := range c.Msgs {
				outcome := ""
				switch m.Type {
				case sfu.TypeWelcome, sfu.TypeLobbyWaiting:
					outcome = m.Type
				case sfu.TypeError:
					outcome = m.Error.Code
				}
				if outcome != "" {
					mu.Lock()
					counts[outcome]++
					if outcome == sfu.CodeRateLimited {
						refused = append(refused, c)
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	t.Logf("100 joins in %v: %v", elapsed, counts)
	if got, want := counts[sfu.TypeWelcome]+counts[sfu.TypeLobbyWaiting]+counts[sfu.CodeRateLimited], 100; got != want {
		t.Errorf("outcomes = %v, want 100 clear answers", counts)
	}
	in := counts[sfu.TypeWelcome] + counts[sfu.TypeLobbyWaiting]
	if in < 49 || in > 50+int(elapsed.Seconds()*20)+2 { // the host took one token
		t.Errorf("let in %d, want the burst of 50 plus the refill", in)
	}
	if counts[sfu.CodeRateLimited] == 0 {
		t.Errorf("no join was rate limited")
	}
	for _, c := range refused {
		select {
		case <-c.End.Closed():
		case <-time.After(2 * time.Second):
			t.Fatal("rate-limited session left open")
		}
	}
	st := room.Snapshot()
	if got, want := len(st.Participants)+len(st.Lobby), in+1; got != want {
		t.Errorf("room holds %d, want %d", got, want)
	}
	if err := h.Send(sfu.Message{Type: sfu.TypePing, ID: "ok"}); err != nil {
		t.Fatal(err)
	}
	expect(t, h, sfu.TypePong, func(m sfu.Message) bool { return m.ID == "ok" })
}

// TestErrorCodesLocalized: every error code the SFU can send has a message
// in both languages.
func TestErrorCodesLocalized(t *testing.T) {
	codes := []string{sfu.CodeBadMessage, sfu.CodeTooLarge, sfu.CodeUnsupportedVer, sfu.CodeUnknownType, sfu.CodeNotJoined,
		sfu.CodeNotAdmitted, sfu.CodeForbidden, sfu.CodeTrackForbidden, sfu.CodeUnsupportedCodec, sfu.CodeBadSDP,
		sfu.CodeAnswerTimeout, sfu.CodeDenied, sfu.CodeRemoved, sfu.CodeReplaced, sfu.CodeRateLimited, sfu.CodeRoomFull,
		sfu.CodeNotFound, sfu.CodeChatDisabled, sfu.CodeRecordingRefused, sfu.CodeHookFailed, sfu.CodeIdleTimeout,
		sfu.CodeSlowConsumer, sfu.CodeNeedsSecondHost, sfu.CodeInternal}
	for _, l := range locales.Supported {
		for _, c := range codes {
			if k := "room.error." + c; locales.For(l).T(k) == "["+k+"]" {
				t.Errorf("%s: no message for %q", l, c)
			}
		}
	}
}
