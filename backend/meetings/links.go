package meetings

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"strings"
	"time"

	"github.com/motesvakt/motesvakt/backend"
)

// Join links rotate. A meeting's join URL is /join/{id}/{token} where
//
//	token = lower(base32(HMAC-SHA-256(LinkKey, uint32be(len(id)) ‖ id ‖ uint64be(epoch))))[:16]
//
// (the length prefix keeps the encoding unambiguous; do not change it, or
// every mailed link dies). 16 base32 characters are 80 bits: guessing one is
// no easier than guessing a meeting id.
//
// The epoch of a recurring meeting is
//
//	InviteeChanges + floor((now − Created) / RotateEvery)
//
// so the link changes when the invitee list changes and at the interval.
// InviteeChanges only moves on recurring meetings, so a meeting that never
// recurs keeps epoch 0 and one stable link.
//
// A link mailed for an occurrence keeps working until that occurrence
// ends, even if the interval rotated the link since the mail was sent (the
// occurrence's LinkEpoch): otherwise a guest mailed on Monday for Friday
// would hold a dead link whenever a rotation fell in between. An invitee
// change re-mails every upcoming occurrence and moves their LinkEpoch, so
// a removed guest's link stops working at once.

// DefaultRotateEvery is the interval the server uses for recurring
// meetings unless configured otherwise.
const DefaultRotateEvery = 7 * 24 * time.Hour

// tokenLen is the length of a link token in base32 characters.
const tokenLen = 16

var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// linkKey returns LinkKey, or a random key for this process when none is
// configured (links then die on restart; said once in the log).
func (s *Service) linkKey() []byte {
	if len(s.LinkKey) > 0 {
		return s.LinkKey
	}
	s.linkKeyOnce.Do(func() {
		s.randomLinkKey = make([]byte, 32)
		rand.Read(s.randomLinkKey)
		s.logger().Warn("meetings: no LinkKey configured; join links are valid only until restart")
	})
	return s.randomLinkKey
}

// LinkToken is the join-link token of meeting id at epoch.
func (s *Service) LinkToken(id backend.MeetingID, epoch int64) string {
	h := hmac.New(sha256.New, s.linkKey())
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(id)))
	h.Write(n[:])
	h.Write([]byte(id))
	var e [8]byte
	binary.BigEndian.PutUint64(e[:], uint64(epoch))
	h.Write(e[:])
	return lowerBase32.EncodeToString(h.Sum(nil))[:tokenLen]
}

// LinkEpoch is m's join-link epoch at now (see the comment above).
func (s *Service) LinkEpoch(m *backend.Meeting, now time.Time) int64 {
	e := m.InviteeChanges
	if m.Recurrence != "" && s.RotateEvery > 0 && now.After(m.Created) && !m.Created.IsZero() {
		e += int64(now.Sub(m.Created) / s.RotateEvery)
	}
	return e
}

// JoinURL is m's current join link. It never carries a code.
func (s *Service) JoinURL(m *backend.Meeting) string {
	return s.joinURLAt(m.ID, s.LinkEpoch(m, s.now()))
}

func (s *Service) joinURLAt(id backend.MeetingID, epoch int64) string {
	return strings.TrimRight(s.PublicURL.String(), "/") + "/join/" + string(id) + "/" + s.LinkToken(id, epoch)
}

// LinkValid reports whether token opens m's join page now: the current
// epoch's token, or the token an occurrence that has not ended yet was
// mailed with. Anything else is a replaced (or made-up) link.
func (s *Service) LinkValid(ctx context.Context, m *backend.Meeting, token string) (bool, error) {
	if len(token) != tokenLen {
		return false, nil
	}
	now := s.now()
	if tokenEqual(token, s.LinkToken(m.ID, s.LinkEpoch(m, now))) {
		return true, nil
	}
	if m.Recurrence == "" {
		return false, nil
	}
	occs, err := s.DB.OccurrencesEndingAfter(ctx, m.ID, now)
	if err != nil {
		return false, err
	}
	for _, o := range occs {
		if tokenEqual(token, s.LinkToken(m.ID, o.LinkEpoch)) {
			return true, nil
		}
	}
	return false, nil
}

func tokenEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(strings.ToLower(a)), []byte(b)) == 1
}

// now is the store's clock, which tests control.
func (s *Service) now() time.Time {
	if s.DB != nil && s.DB.Now != nil {
		return s.DB.Now().UTC()
	}
	return time.Now().UTC()
}
