package sfu_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/motesvakt/motesvakt/sfu"
)

// noMessage asserts that no message of typ arrives within d.
func noMessage(t *testing.T, c *tclient, typ string, d time.Duration) {
	t.Helper()
	if m, err := c.Expect(ctxT(t, d), typ, nil); err == nil {
		t.Fatalf("unexpected %s: %+v", typ, m)
	}
}

func TestLobby(t *testing.T) {
	hooks := &recHooks{}
	s := newSFU(t, hooks, nil)
	internal := sfu.RoomOptions{Lobby: sfu.LobbyExternals, Chat: true}

	t.Run("guest waits, host arrives, nobody auto-admitted, explicit admit", func(t *testing.T) {
		room := s.Room("lobby1", internal)
		g := connect(t, room, who("guest", sfu.RoleGuest, sfu.LevelCodeVerified, false))
		w := expect(t, g, sfu.TypeLobbyWaiting, nil)
		if w.Me == nil || w.Me.ID != "guest" {
			t.Fatalf("lobby_waiting without me: %+v", w)
		}
		// An internal signed-in user passes straight in.
		in := connect(t, room, who("colleague", sfu.RoleParticipant, sfu.LevelInternalSSO, true))
		expect(t, in, sfu.TypeWelcome, nil)
		// While waiting, room commands are refused.
		if err := g.Send(sfu.Message{Type: sfu.TypeChat, Text: "hej"}); err != nil {
			t.Fatal(err)
		}
		expectError(t, g, sfu.CodeNotAdmitted)

		h := connect(t, room, host("host"))
		expect(t, h, sfu.TypeWelcome, nil)
		lu := expect(t, h, sfu.TypeLobbyUpdate, func(m sfu.Message) bool { return len(m.Lobby) == 1 })
		e := lu.Lobby[0]
		if e.ID != "guest" || e.Level != sfu.LevelCodeVerified || e.Internal || !e.Invited || e.Email != "guest@example.se" {
			t.Errorf("lobby evidence = %+v", e)
		}
		noMessage(t, g, sfu.TypeAdmitted, 300*time.Millisecond)

		if err := h.Send(sfu.Message{Type: sfu.TypeAdmit, Target: "guest"}); err != nil {
			t.Fatal(err)
		}
		expect(t, g, sfu.TypeAdmitted, nil)
		wl := expect(t, g, sfu.TypeWelcome, nil)
		if got, want := len(wl.Participants), 3; got != want {
			t.Errorf("welcome participants = %d, want %d", got, want)
		}
		if got := room.Snapshot().Lobby; len(got) != 0 {
			t.Errorf("lobby after admit = %+v", got)
		}
		if !contains(hooks.Calls(), "admit host guest") {
			t.Errorf("admit hook not called: %v", hooks.Calls())
		}
	})

	t.Run("deny, then the same identity cannot return", func(t *testing.T) {
		room := s.Room("lobby2", internal)
		h := connect(t, room, host("host"))
		expect(t, h, sfu.TypeWelcome, nil)
		g := connect(t, room, who("intruder", sfu.RoleGuest, sfu.LevelUnverified, false))
		expect(t, g, sfu.TypeLobbyWaiting, nil)
		expect(t, h, sfu.TypeLobbyUpdate, func(m sfu.Message) bool { return len(m.Lobby) == 1 })
		if err := h.Send(sfu.Message{Type: sfu.TypeDeny, Target: "intruder"}); err != nil {
			t.Fatal(err)
		}
		expect(t, g, sfu.TypeDenied, nil)
		select {
		case <-g.End.Closed():
		case <-time.After(2 * time.Second):
			t.Fatal("denied session not closed")
		}
		again := connect(t, room, who("intruder", sfu.RoleGuest, sfu.LevelUnverified, false))
		expectError(t, again, sfu.CodeDenied)
		if got := room.Snapshot().Denied; len(got) != 1 || got[0] != "intruder" {
			t.Errorf("denied = %v", got)
		}
	})

	t.Run("locked room sends internals to the lobby, host still enters", func(t *testing.T) {
		room := s.Room("lobby3", internal)
		h := connect(t, room, host("host"))
		expect(t, h, sfu.TypeWelcome, nil)
		if err := h.Send(sfu.Message{Type: sfu.TypeLock}); err != nil {
			t.Fatal(err)
		}
		expect(t, h, sfu.TypeRoomState, func(m sfu.Message) bool { return m.Locked != nil && *m.Locked })
		in := connect(t, room, who("colleague", sfu.RoleParticipant, sfu.LevelInternalMFA, true))
		expect(t, in, sfu.TypeLobbyWaiting, nil)
		h2 := connect(t, room, host("host2"))
		expect(t, h2, sfu.TypeWelcome, nil)
	})

	t.Run("host who drops can come back", func(t *testing.T) {
		room := s.Room("lobby4", sfu.RoomOptions{Lobby: sfu.LobbyEveryone})
		h := connect(t, room, host("host"))
		expect(t, h, sfu.TypeWelcome, nil)
		h.Close()
		eventually(t, 2*time.Second, "host gone", func() bool { return len(room.Snapshot().Participants) == 0 })
		back := connect(t, room, host("host"))
		expect(t, back, sfu.TypeWelcome, nil)
		// A second session for the same id replaces the first.
		again := connect(t, room, host("host"))
		expect(t, again, sfu.TypeWelcome, nil)
		expectError(t, back, sfu.CodeReplaced)
		if got := len(room.Snapshot().Participants); got != 1 {
			t.Errorf("participants = %d, want 1", got)
		}
	})

	t.Run("two-host approval for externals", func(t *testing.T) {
		room := s.Room("lobby5", sfu.RoomOptions{Lobby: sfu.LobbyEveryone, TwoHostApprovalForExternals: true})
		h1 := connect(t, room, host("h1"))
		expect(t, h1, sfu.TypeWelcome, nil)
		h2 := connect(t, room, who("h2", sfu.RoleCohost, sfu.LevelInternalMFA, true))
		expect(t, h2, sfu.TypeWelcome, nil)
		g := connect(t, room, who("ext", sfu.RoleGuest, sfu.LevelCodeVerified, false))
		expect(t, g, sfu.TypeLobbyWaiting, nil)
		expect(t, h1, sfu.TypeLobbyUpdate, func(m sfu.Message) bool { return len(m.Lobby) == 1 && m.Lobby[0].NeedsApprovals == 2 })
		_ = h1.Send(sfu.Message{Type: sfu.TypeAdmit, Target: "ext"})
		expect(t, h2, sfu.TypeLobbyUpdate, func(m sfu.Message) bool { return len(m.Lobby) == 1 && len(m.Lobby[0].ApprovedBy) == 1 })
		_ = h1.Send(sfu.Message{Type: sfu.TypeAdmit, Target: "ext"})
		expectError(t, h1, sfu.CodeNeedsSecondHost)
		noMessage(t, g, sfu.TypeAdmitted, 200*time.Millisecond)
		_ = h2.Send(sfu.Message{Type: sfu.TypeAdmit, Target: "ext"})
		expect(t, g, sfu.TypeAdmitted, nil)
	})

	t.Run("admit all verified leaves the unverified waiting", func(t *testing.T) {
		room := s.Room("lobby6", sfu.RoomOptions{Lobby: sfu.LobbyEveryone})
		h := connect(t, room, host("host"))
		expect(t, h, sfu.TypeWelcome, nil)
		v := connect(t, room, who("verified", sfu.RoleGuest, sfu.LevelCodeVerified, false))
		expect(t, v, sfu.TypeLobbyWaiting, nil)
		u := connect(t, room, who("anon", sfu.RoleGuest, sfu.LevelUnverified, false))
		expect(t, u, sfu.TypeLobbyWaiting, nil)
		expect(t, h, sfu.TypeLobbyUpdate, func(m sfu.Message) bool { return len(m.Lobby) == 2 })
		_ = h.Send(sfu.Message{Type: sfu.TypeAdmitAllVerified})
		expect(t, v, sfu.TypeAdmitted, nil)
		noMessage(t, u, sfu.TypeAdmitted, 200*time.Millisecond)
		if l := room.Snapshot().Lobby; len(l) != 1 || l[0].ID != "anon" {
			t.Errorf("lobby = %+v", l)
		}
	})

	t.Run("a failing hook aborts the admission", func(t *testing.T) {
		fh := &recHooks{refuse: true}
		s2 := newSFU(t, fh, nil)
		room := s2.Room("lobby7", sfu.RoomOptions{Lobby: sfu.LobbyEveryone})
		h := connect(t, room, host("host"))
		expect(t, h, sfu.TypeWelcome, nil)
		g := connect(t, room, who("g", sfu.RoleGuest, sfu.LevelCodeVerified, false))
		expect(t, g, sfu.TypeLobbyWaiting, nil)
		expect(t, h, sfu.TypeLobbyUpdate, func(m sfu.Message) bool { return len(m.Lobby) == 1 })
		_ = h.Send(sfu.Message{Type: sfu.TypeAdmit, Target: "g"})
		expectError(t, h, sfu.CodeHookFailed)
		if l := room.Snapshot().Lobby; len(l) != 1 {
			t.Errorf("lobby = %+v, want the guest still waiting", l)
		}
	})
}

func contains[T ~string](xs []T, x T) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// TestAuthorizationMatrix sends every command from every role and checks
// that only moderators' moderation commands take effect, and that refused
// commands get error{code:"forbidden"} and change nothing.
func TestAuthorizationMatrix(t *testing.T) {
	hooks := &recHooks{}
	s := newSFU(t, hooks, nil)
	opts := sfu.RoomOptions{Lobby: sfu.LobbyEveryone, Chat: true, RecordingAllowed: true}
	n := 0
	for _, role := range sfu.Roles {
		for _, cmd := range []string{sfu.TypeAdmit, sfu.TypeDeny, sfu.TypeAdmitAllVerified, sfu.TypeMute, sfu.TypeRemove,
			sfu.TypePromote, sfu.TypeDemote, sfu.TypeLock, sfu.TypeUnlock, sfu.TypeRecord, sfu.TypeChat} {
			t.Run(fmt.Sprintf("%s/%s", role, cmd), func(t *testing.T) {
				n++
				room := s.Room(sfu.RoomID(fmt.Sprintf("authz-%d", n)), opts)
				boss := connect(t, room, host("boss"))
				expect(t, boss, sfu.TypeWelcome, nil)
				actorID := "actor-" + string(role)
				actor := connect(t, room, who(actorID, role, sfu.LevelInternalSSO, true))
				if role.IsHost() {
					expect(t, actor, sfu.TypeWelcome, nil)
				} else {
					expect(t, actor, sfu.TypeLobbyWaiting, nil)
					_ = boss.Send(sfu.Message{Type: sfu.TypeAdmit, Target: sfu.ParticipantID(actorID)})
					expect(t, actor, sfu.TypeWelcome, nil)
				}
				victim := connect(t, room, who("victim", sfu.RoleParticipant, sfu.LevelCodeVerified, false))
				expect(t, victim, sfu.TypeLobbyWaiting, nil)
				if cmd != sfu.TypeAdmit && cmd != sfu.TypeDeny && cmd != sfu.TypeAdmitAllVerified {
					_ = boss.Send(sfu.Message{Type: sfu.TypeAdmit, Target: "victim"})
					expect(t, victim, sfu.TypeWelcome, nil)
				}
				if cmd == sfu.TypeDemote {
					_ = boss.Send(sfu.Message{Type: sfu.TypePromote, Target: "victim"})
					expect(t, victim, sfu.TypePermissionsChanged, nil)
				}
				if cmd == sfu.TypeUnlock {
					room.Lock(true)
				}
				before := room.Snapshot()
				callsBefore := len(hooks.Calls())

				m := sfu.Message{Type: cmd, Target: "victim", Text: "hej", On: ptrBool(true)}
				if err := actor.Send(m); err != nil {
					t.Fatal(err)
				}
				_ = actor.Send(sfu.Message{Type: sfu.TypePing, ID: "sync"})
				errCode := ""
				for done := false; !done; {
					select {
					case got := <-actor.Msgs:
						if got.Type == sfu.TypeError && got.Error.Of == cmd {
							errCode = got.Error.Code
						}
						done = got.Type == sfu.TypePong && got.ID == "sync"
					case <-time.After(5 * time.Second):
						t.Fatal("no pong")
					}
				}
				if !role.IsHost() && cmd != sfu.TypeChat {
					if got, want := errCode, sfu.CodeForbidden; got != want {
						t.Fatalf("error = %q, want %q", got, want)
					}
					after := room.Snapshot()
					if fmt.Sprint(after.Participants, after.Lobby, after.Locked, after.Recording, after.Denied) !=
						fmt.Sprint(before.Participants, before.Lobby, before.Locked, before.Recording, before.Denied) {
						t.Errorf("state changed by a forbidden command:\nbefore %+v\nafter  %+v", before, after)
					}
					if got := len(hooks.Calls()); got != callsBefore {
						t.Errorf("hooks called for a forbidden command: %v", hooks.Calls()[callsBefore:])
					}
					return
				}
				if errCode != "" {
					t.Fatalf("allowed command answered with error %q", errCode)
				}
				var vic *sfu.ParticipantInfo
				check := func() bool {
					st := room.Snapshot()
					vic = nil
					for i := range st.Participants {
						if st.Participants[i].ID == "victim" {
							vic = &st.Participants[i]
						}
					}
					switch cmd {
					case sfu.TypeAdmit, sfu.TypeAdmitAllVerified:
						return vic != nil && len(st.Lobby) == 0
					case sfu.TypeDeny:
						return len(st.Lobby) == 0 && contains(st.Denied, "victim")
					case sfu.TypeMute:
						return vic != nil && vic.Muted
					case sfu.TypeRemove:
						return vic == nil && len(st.Denied) == 1
					case sfu.TypePromote:
						return vic != nil && vic.Role == sfu.RolePresenter
					case sfu.TypeDemote:
						return vic != nil && vic.Role == sfu.RoleParticipant
					case sfu.TypeLock:
						return st.Locked
					case sfu.TypeUnlock:
						return !st.Locked
					case sfu.TypeRecord:
						return st.Recording
					case sfu.TypeChat:
						return true
					}
					return false
				}
				eventually(t, 2*time.Second, cmd+" takes effect", check)
				if cmd == sfu.TypeChat {
					c := expect(t, victim, sfu.TypeChat, nil)
					if c.Chat.Text != "hej" || c.Chat.From != sfu.ParticipantID(actorID) {
						t.Errorf("chat = %+v", c.Chat)
					}
				}
			})
		}
	}
}

func ptrBool(b bool) *bool { return &b }
