package gcal

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"google.golang.org/api/calendar/v3"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/locales"
)

// Syncer keeps watch channels on calendars and re-provisions meetings whose
// events change. Google's push body is empty, so each notification triggers
// an incremental list with the stored sync token.
type Syncer struct {
	DB       *sql.DB
	Meetings backend.MeetingService
	// Calendar returns a client allowed to read and patch calendarID (a
	// domain-wide-delegated service account in production).
	Calendar func(ctx context.Context, calendarID string) (*calendar.Service, error)
	// Address is the public HTTPS URL of Handler (…/hooks/gcal).
	Address string
	// TTL requested for channels (Google may shorten it); default 7 days.
	TTL time.Duration
	// RenewBefore: channels expiring within this window are replaced;
	// default 24 h.
	RenewBefore time.Duration
	Lang        locales.Lang
	Log         *slog.Logger
	Retry       Retrier
	// Now and Tick are the clock; tests drive both.
	Now  func() time.Time
	Tick func(d time.Duration) <-chan time.Time

	once  sync.Once
	kicks *WorkQueue[ChannelID]
}

func (s *Syncer) init() {
	s.once.Do(func() {
		if s.TTL == 0 {
			s.TTL = 7 * 24 * time.Hour
		}
		if s.RenewBefore == 0 {
			s.RenewBefore = 24 * time.Hour
		}
		if s.Now == nil {
			s.Now = time.Now
		}
		if s.Tick == nil {
			s.Tick = time.After
		}
		if s.Log == nil {
			s.Log = slog.Default()
		}
		if s.Lang == "" {
			s.Lang = locales.Default
		}
		if s.Retry.Now == nil {
			s.Retry.Now = s.Now
		}
		s.kicks = NewWorkQueue[ChannelID](1024)
	})
}

// Watch opens a channel on calendarID, records the current sync position
// (without touching existing events) and stores it.
func (s *Syncer) Watch(ctx context.Context, calendarID string) (*Channel, error) {
	s.init()
	svc, err := s.Calendar(ctx, calendarID)
	if err != nil {
		return nil, fmt.Errorf("gcal: calendar %s: %w", calendarID, err)
	}
	now := s.Now()
	id, token := ChannelID("mv-"+rand.Text()), rand.Text()+rand.Text()
	var got *calendar.Channel
	err = s.Retry.Do(ctx, "watch", func() error {
		var err error
		got, err = svc.Events.Watch(calendarID, &calendar.Channel{Id: string(id), Type: "web_hook", Address: s.Address, Token: token, Expiration: ms(now.Add(s.TTL))}).Context(ctx).Do()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("gcal: watch %s: %w", calendarID, err)
	}
	syncToken, err := s.fullSyncToken(ctx, svc, calendarID)
	if err != nil {
		return nil, err
	}
	exp := now.Add(s.TTL)
	if got.Expiration > 0 {
		// Trust what Google granted, not what we asked for.
		exp = time.UnixMilli(got.Expiration).UTC()
	}
	ch := Channel{ID: id, CalendarID: calendarID, ResourceID: got.ResourceId, SyncToken: syncToken, Expires: exp}
	if err := s.tx(ctx, func(tx *sql.Tx) error { return InsertChannel(ctx, tx, ch, token, now) }); err != nil {
		return nil, err
	}
	s.Log.Info("gcal channel opened", "channel", id, "expires", exp)
	return &ch, nil
}

// fullSyncToken pages through the calendar to obtain a sync token.
func (s *Syncer) fullSyncToken(ctx context.Context, svc *calendar.Service, calendarID string) (string, error) {
	page := ""
	for {
		var res *calendar.Events
		err := s.Retry.Do(ctx, "list events", func() error {
			var err error
			res, err = svc.Events.List(calendarID).ShowDeleted(true).PageToken(page).MaxResults(250).Context(ctx).Do()
			return err
		})
		if err != nil {
			return "", fmt.Errorf("gcal: initial list %s: %w", calendarID, err)
		}
		if res.NextPageToken == "" {
			return res.NextSyncToken, nil
		}
		page = res.NextPageToken
	}
}

func (s *Syncer) tx(ctx context.Context, f func(*sql.Tx) error) error { return InTx(ctx, s.DB, f) }

// Handler receives Google's push notifications. It answers at once and
// leaves the work to Run: Google only needs a 2xx. Unknown channels and
// wrong tokens get 401 and cause no work.
func (s *Syncer) Handler() http.Handler {
	s.init()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		id := ChannelID(r.Header.Get("X-Goog-Channel-ID"))
		ch, err := ChannelByID(r.Context(), s.DB, id)
		if err != nil || !ch.TokenMatches(r.Header.Get("X-Goog-Channel-Token")) || ch.ResourceID != r.Header.Get("X-Goog-Resource-ID") {
			if err != nil && !errors.Is(err, ErrNoChannel) {
				s.Log.Error("gcal notification: load channel", "err", err)
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
			s.Log.Warn("gcal notification rejected: unknown channel or wrong token", "remote", r.RemoteAddr)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.Header.Get("X-Goog-Resource-State") != "sync" {
			s.Kick(id)
		}
		w.WriteHeader(http.StatusOK)
	})
}

// Kick queues a sync of one channel; repeated kicks coalesce.
func (s *Syncer) Kick(id ChannelID) {
	s.init()
	if !s.kicks.Add(id) {
		s.Log.Warn("gcal sync queue full; next notification or renewal will catch up", "channel", id)
	}
}

// Run processes kicks and renews channels every interval until ctx ends.
func (s *Syncer) Run(ctx context.Context, interval time.Duration) error {
	s.init()
	return s.kicks.Run(ctx, s.Tick, interval, func(id ChannelID) {
		if err := s.SyncChannel(ctx, id); err != nil {
			s.Log.Error("gcal sync failed; will retry on next notification", "channel", id, "err", err)
		}
	}, func() {
		if err := s.Renew(ctx); err != nil {
			s.Log.Error("gcal renewal", "err", err)
		}
	})
}

// Renew replaces channels that expire within RenewBefore. Google channels
// cannot be extended: open a new one, then stop and forget the old.
func (s *Syncer) Renew(ctx context.Context) error {
	s.init()
	due, err := ChannelsExpiringBefore(ctx, s.DB, s.Now().Add(s.RenewBefore))
	if err != nil {
		return err
	}
	var errs []error
	for _, old := range due {
		if _, err := s.Watch(ctx, old.CalendarID); err != nil {
			errs = append(errs, err)
			continue
		}
		if svc, err := s.Calendar(ctx, old.CalendarID); err == nil {
			if err := svc.Channels.Stop(&calendar.Channel{Id: string(old.ID), ResourceId: old.ResourceID}).Context(ctx).Do(); err != nil {
				s.Log.Warn("gcal stop old channel", "channel", old.ID, "err", err)
			}
		}
		if err := s.tx(ctx, func(tx *sql.Tx) error { return DeleteChannel(ctx, tx, old.ID) }); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// SyncChannel lists what changed since the stored sync token and
// reconciles each event. The new token is stored only after every event was
// handled, so a failure repeats the batch; Provision is idempotent per
// event, so repeating never duplicates.
func (s *Syncer) SyncChannel(ctx context.Context, id ChannelID) error {
	s.init()
	ch, err := ChannelByID(ctx, s.DB, id)
	if err != nil {
		return err
	}
	svc, err := s.Calendar(ctx, ch.CalendarID)
	if err != nil {
		return fmt.Errorf("gcal: calendar for channel %s: %w", id, err)
	}
	token, page := ch.SyncToken, ""
	for {
		var res *calendar.Events
		err := s.Retry.Do(ctx, "list changes", func() error {
			call := svc.Events.List(ch.CalendarID).ShowDeleted(true).PageToken(page).Context(ctx)
			if token != "" {
				call = call.SyncToken(token)
			}
			var err error
			res, err = call.Do()
			return err
		})
		if statusOf(err) == http.StatusGone {
			// The sync token expired: start over with a full listing.
			s.Log.Warn("gcal sync token expired; full resync", "channel", id)
			token, page = "", ""
			continue
		}
		if err != nil {
			return fmt.Errorf("gcal: channel %s: list: %w", id, err)
		}
		for _, e := range res.Items {
			if err := s.syncEvent(ctx, svc, ch.CalendarID, e); err != nil {
				return err
			}
		}
		if res.NextPageToken != "" {
			page = res.NextPageToken
			continue
		}
		return s.tx(ctx, func(tx *sql.Tx) error { return SetSyncToken(ctx, tx, id, res.NextSyncToken, s.Now()) })
	}
}

func (s *Syncer) syncEvent(ctx context.Context, svc *calendar.Service, calendarID string, e *calendar.Event) error {
	change := Change{Ref: Ref(e), MeetingID: MeetingIDOf(e), Cancelled: e.Status == "cancelled"}
	if !change.Cancelled {
		// The list item may be stale by now; read the event as it stands.
		fresh, err := FetchEvent(ctx, svc, s.Retry, calendarID, e.Id)
		if errors.Is(err, ErrDeleted) {
			s.Log.Info("gcal event deleted mid-sync; skipped", "event_ref", change.Ref.Key())
			change.Cancelled = true
		} else if err != nil {
			return fmt.Errorf("gcal: event %s: %w", change.Ref.Key(), err)
		} else {
			e = fresh
			change.Event = ToEvent(e)
			change.OriginalStart = OriginalStart(e)
		}
	}
	out, err := Reconcile(ctx, s.Meetings, change, s.Lang)
	if err != nil {
		return err
	}
	if out.Meeting == nil || change.Cancelled {
		return nil
	}
	if out.Raised {
		s.Log.Info("gcal change raised meeting profile", "meeting", out.Meeting.ID, "profile", out.Meeting.Profile)
	}
	if !NeedsWriteBack(e, out.Meeting) {
		return nil
	}
	if err := WriteBack(ctx, svc, s.Retry, calendarID, e, out.Meeting, s.Lang); err != nil {
		if statusOf(err) == http.StatusNotFound || statusOf(err) == http.StatusGone {
			s.Log.Info("gcal event deleted before write-back; skipped", "meeting", out.Meeting.ID)
			return nil
		}
		return fmt.Errorf("gcal: meeting %s: write back: %w", out.Meeting.ID, err)
	}
	return nil
}
