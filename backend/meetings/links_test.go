package meetings

import (
	"regexp"
	"testing"
	"time"

	"github.com/motesvakt/motesvakt/backend"
)

// TestLinkTokenGolden pins the token encoding: changing it would kill every
// join link already mailed.
func TestLinkTokenGolden(t *testing.T) {
	s := &Service{LinkKey: []byte("0123456789abcdef0123456789abcdef")}
	tests := []struct {
		id    backend.MeetingID
		epoch int64
		want  string
	}{
		{"m1", 0, golden["m1/0"]},
		{"m1", 1, golden["m1/1"]},
		{"m2", 0, golden["m2/0"]},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		got := s.LinkToken(tt.id, tt.epoch)
		if got != tt.want {
			t.Errorf("LinkToken(%s, %d) = %q, want %q", tt.id, tt.epoch, got, tt.want)
		}
		if !regexp.MustCompile(`^[a-z2-7]{16}$`).MatchString(got) {
			t.Errorf("token %q is not 16 lower-case base32 characters", got)
		}
		if seen[got] {
			t.Errorf("token %q repeats", got)
		}
		seen[got] = true
	}
	if other := (&Service{LinkKey: []byte("another key, also thirty-two b..")}).LinkToken("m1", 0); other == golden["m1/0"] {
		t.Error("token does not depend on the key")
	}
}

// Computed independently: Python hmac + base64.b32encode over the same bytes.
var golden = map[string]string{
	"m1/0": "uyo22ucubw7uks2l",
	"m1/1": "ojpqufiwp3zlbyey",
	"m2/0": "5qrn7mihmdzns5dw",
}

func TestLinkEpoch(t *testing.T) {
	created := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	week := 7 * 24 * time.Hour
	tests := []struct {
		name       string
		every      time.Duration
		recurrence string
		changes    int64
		at         time.Duration
		want       int64
	}{
		{"SingleNeverRotates", week, "", 0, 10 * week, 0},
		{"RecurringFirstWeek", week, "RRULE:FREQ=WEEKLY", 0, week - time.Second, 0},
		{"RecurringAfterOneWeek", week, "RRULE:FREQ=WEEKLY", 0, week, 1},
		{"InviteeChangesAdd", week, "RRULE:FREQ=WEEKLY", 2, 3*week + time.Hour, 5},
		{"ZeroIntervalOnlyChanges", 0, "RRULE:FREQ=WEEKLY", 2, 30 * week, 2},
		{"ClockBeforeCreation", week, "RRULE:FREQ=WEEKLY", 1, -week, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Service{RotateEvery: tt.every}
			m := &backend.Meeting{Created: created, Recurrence: tt.recurrence, InviteeChanges: tt.changes}
			if got := s.LinkEpoch(m, created.Add(tt.at)); got != tt.want {
				t.Errorf("LinkEpoch = %d, want %d", got, tt.want)
			}
		})
	}
}
