package rooms

import (
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/classifiers"
	"github.com/motesvakt/motesvakt/sfu"
)

func TestOptionsFor(t *testing.T) {
	profiles := classifiers.DefaultProfiles()
	tests := []struct {
		profile classifiers.Profile
		want    sfu.RoomOptions
	}{
		{classifiers.ProfileOpen, sfu.RoomOptions{Lobby: sfu.LobbyNone, ListenOnlyAttendees: true, ScreenShare: sfu.ShareHostsPresenters, Chat: true, RecordingAllowed: true}},
		{classifiers.ProfileInternal, sfu.RoomOptions{Lobby: sfu.LobbyExternals, ScreenShare: sfu.ShareInternalSignedIn, Chat: true, RecordingAllowed: true}},
		{classifiers.ProfileProtected, sfu.RoomOptions{Lobby: sfu.LobbyEveryone, ScreenShare: sfu.ShareHostsElevated}},
	}
	for _, tt := range tests {
		t.Run(string(tt.profile), func(t *testing.T) {
			got := OptionsFor(&backend.Meeting{Profile: tt.profile, Settings: profiles[tt.profile]})
			if got != tt.want {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
	t.Run("IncidentLocks", func(t *testing.T) {
		if o := OptionsFor(&backend.Meeting{Settings: profiles[classifiers.ProfileInternal], Incident: true}); !o.Locked {
			t.Error("incident meeting not locked")
		}
	})
	t.Run("UnknownLobbyFailsClosed", func(t *testing.T) {
		st := profiles[classifiers.ProfileOpen]
		st.Lobby = "sometimes"
		if o := OptionsFor(&backend.Meeting{Settings: st}); o.Lobby != sfu.LobbyEveryone {
			t.Errorf("lobby %q", o.Lobby)
		}
	})
}

func TestCloseEnded(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	media, err := sfu.New(sfu.Config{IncludeLoopback: true, IPFilter: func(ip net.IP) bool { return ip.IsLoopback() }}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	defer media.Close()
	r := &Manager{SFU: media, Log: log}
	end := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	r.Room(&backend.Meeting{ID: "m1", End: end, Settings: classifiers.DefaultProfiles()[classifiers.ProfileInternal]})
	if n := r.CloseEnded(end.Add(Grace - time.Second)); n != 0 || media.Lookup("m1") == nil {
		t.Fatalf("closed %d rooms during the grace period", n)
	}
	if n := r.CloseEnded(end.Add(Grace + time.Second)); n != 1 || media.Lookup("m1") != nil {
		t.Errorf("closed %d; room still there: %v", n, media.Lookup("m1") != nil)
	}
}

func TestTwoHostApprovalOnlyForProtected(t *testing.T) {
	r := &Manager{TwoHostApproval: true}
	profiles := classifiers.DefaultProfiles()
	if o := r.options(&backend.Meeting{Settings: profiles[classifiers.ProfileProtected]}); !o.TwoHostApprovalForExternals {
		t.Error("protected meeting without two-host approval")
	}
	if o := r.options(&backend.Meeting{Settings: profiles[classifiers.ProfileInternal]}); o.TwoHostApprovalForExternals {
		t.Error("internal meeting with two-host approval")
	}
	if o := (&Manager{}).options(&backend.Meeting{Settings: profiles[classifiers.ProfileProtected]}); o.TwoHostApprovalForExternals {
		t.Error("approval on without the policy")
	}
}

func TestValidTab(t *testing.T) {
	for tab, want := range map[string]bool{"abc123": true, "0123456789abcdef": true, "ab": false, "ABCDEF": false, "abc-12": false, "": false, "a234567890123456789012345678901234": false} {
		if got := ValidTab(tab); got != want {
			t.Errorf("ValidTab(%q) = %v, want %v", tab, got, want)
		}
	}
}
