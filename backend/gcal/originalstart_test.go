package gcal_test

import (
	"testing"
	"time"

	"google.golang.org/api/calendar/v3"

	"github.com/motesvakt/motesvakt/backend/gcal"
)

func TestOriginalStart(t *testing.T) {
	tests := []struct {
		name string
		ev   *calendar.Event
		want time.Time
	}{
		{"NotAnInstance", &calendar.Event{}, time.Time{}},
		{"DateTime", &calendar.Event{OriginalStartTime: &calendar.EventDateTime{DateTime: "2026-12-07T09:00:00+01:00"}}, time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)},
		{"AllDay", &calendar.Event{OriginalStartTime: &calendar.EventDateTime{Date: "2026-12-07"}}, time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)},
		{"Garbage", &calendar.Event{OriginalStartTime: &calendar.EventDateTime{DateTime: "soon"}}, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := gcal.OriginalStart(tt.ev); !got.Equal(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
