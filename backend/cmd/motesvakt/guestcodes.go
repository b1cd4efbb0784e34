package main

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"time"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/guestcode"
	"github.com/motesvakt/motesvakt/backend/sqlite"
)

// guestCodes adapts backend/guestcode to the HTTP edge: every failure is
// the same localized 401, a spent budget a 429 with Retry-After.
type guestCodes struct {
	*guestcode.Service
}

func newGuestCodes(db *sqlite.DB, secret []byte, log *slog.Logger) (*guestCodes, error) {
	svc, err := guestcode.New(db.SQL(), subkey(secret, "guestcode"), guestcode.Options{})
	if err != nil {
		return nil, err
	}
	return &guestCodes{svc}, nil
}

type retryAfter int

func (r retryAfter) Error() string          { return "rate limited" }
func (r retryAfter) RetryAfterSeconds() int { return int(r) }

// Redeem implements mhttp.GuestCodes.
func (g *guestCodes) Redeem(ctx context.Context, meeting, email, code, ip string) (string, time.Time, error) {
	r, err := g.Service.Redeem(ctx, guestcode.MeetingID(meeting), email, code, ip)
	if err == nil {
		return string(r.Invitee), r.ValidUntil, nil
	}
	var rl *guestcode.RateLimitError
	switch {
	case errors.As(err, &rl):
		return "", time.Time{}, &backend.Error{Code: backend.ETOOMANY, Key: guestcode.MessageKey(err), Args: []any{"Count", rl.Minutes()},
			Err: retryAfter(int(math.Ceil(rl.RetryAfter.Seconds())))}
	case errors.Is(err, guestcode.ErrInvalid):
		return "", time.Time{}, &backend.Error{Code: backend.EUNAUTHORIZED, Key: guestcode.MessageKey(err)}
	}
	return "", time.Time{}, err
}
