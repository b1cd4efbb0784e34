package graph

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/gcal"
	"github.com/motesvakt/motesvakt/locales"
)

// Schema is this package's table; the integrator applies it as a numbered
// migration. clientState is a shared secret: only its SHA-256 is stored.
const Schema = `CREATE TABLE IF NOT EXISTS graph_subscriptions (
	id                TEXT PRIMARY KEY,
	user_id           TEXT NOT NULL,
	resource          TEXT NOT NULL,
	client_state_hash BLOB NOT NULL,
	expires_at        INTEGER NOT NULL,
	created_at        INTEGER NOT NULL,
	updated_at        INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS graph_subscriptions_expires ON graph_subscriptions (expires_at);
`

// Subscription is one stored change subscription.
type Subscription struct {
	ID       string
	UserID   string
	Resource string
	Expires  time.Time
	hash     []byte
}

// ErrNoSubscription is returned for unknown subscription ids.
var ErrNoSubscription = errors.New("graph: no such subscription")

func ms(t time.Time) int64 { return t.UTC().UnixMilli() }

func hashState(s string) []byte {
	h := sha256.Sum256([]byte("graph-client-state\x00" + s))
	return h[:]
}

// StateMatches compares a presented clientState in constant time.
func (s *Subscription) StateMatches(state string) bool {
	return state != "" && subtle.ConstantTimeCompare(hashState(state), s.hash) == 1
}

// InsertSubscription stores a subscription with its secret client state.
func InsertSubscription(ctx context.Context, tx *sql.Tx, s Subscription, clientState string, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO graph_subscriptions (id, user_id, resource, client_state_hash, expires_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.UserID, s.Resource, hashState(clientState), ms(s.Expires), ms(now), ms(now))
	if err != nil {
		return fmt.Errorf("graph: insert subscription %s: %w", s.ID, err)
	}
	return nil
}

// SetExpiry records a renewal.
func SetExpiry(ctx context.Context, tx *sql.Tx, id string, exp, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE graph_subscriptions SET expires_at = ?, updated_at = ? WHERE id = ?`, ms(exp), ms(now), id); err != nil {
		return fmt.Errorf("graph: subscription %s: set expiry: %w", id, err)
	}
	return nil
}

// DeleteSubscription forgets a subscription.
func DeleteSubscription(ctx context.Context, tx *sql.Tx, id string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM graph_subscriptions WHERE id = ?`, id); err != nil {
		return fmt.Errorf("graph: delete subscription %s: %w", id, err)
	}
	return nil
}

func query(ctx context.Context, db *sql.DB, where string, args ...any) ([]Subscription, error) {
	rows, err := db.QueryContext(ctx, `SELECT id, user_id, resource, client_state_hash, expires_at FROM graph_subscriptions WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("graph: subscriptions: %w", err)
	}
	defer rows.Close()
	var out []Subscription
	for rows.Next() {
		var s Subscription
		var exp int64
		if err := rows.Scan(&s.ID, &s.UserID, &s.Resource, &s.hash, &exp); err != nil {
			return nil, err
		}
		s.Expires = time.UnixMilli(exp).UTC()
		out = append(out, s)
	}
	return out, rows.Err()
}

// SubscriptionByID loads one subscription.
func SubscriptionByID(ctx context.Context, db *sql.DB, id string) (*Subscription, error) {
	ss, err := query(ctx, db, `id = ?`, id)
	if err != nil {
		return nil, err
	}
	if len(ss) == 0 {
		return nil, ErrNoSubscription
	}
	return &ss[0], nil
}

// SubscriptionsExpiringBefore lists subscriptions to renew.
func SubscriptionsExpiringBefore(ctx context.Context, db *sql.DB, t time.Time) ([]Subscription, error) {
	return query(ctx, db, `expires_at < ? ORDER BY expires_at`, ms(t))
}

// Syncer keeps subscriptions on hosts' calendars and re-provisions
// meetings whose Outlook events change.
type Syncer struct {
	DB       *sql.DB
	Graph    *Client
	Meetings backend.MeetingService
	// NotifyURL is the public HTTPS URL of Handler (…/hooks/graph).
	NotifyURL string
	// Lifetime requested per subscription; Graph's maximum for events has
	// been documented as 4,230 and as 10,080 minutes, so ask for less and
	// trust the expiry Graph returns. Default 2 days.
	Lifetime time.Duration
	// RenewBefore: renew subscriptions expiring within it; default 12 h.
	RenewBefore time.Duration
	Lang        locales.Lang
	Log         *slog.Logger
	Retry       gcal.Retrier
	Now         func() time.Time
	Tick        func(d time.Duration) <-chan time.Time

	once  sync.Once
	queue *gcal.WorkQueue[change]
}

type change struct {
	sub, user, event, kind string
}

func (s *Syncer) init() {
	s.once.Do(func() {
		if s.Lifetime == 0 {
			s.Lifetime = 48 * time.Hour
		}
		if s.RenewBefore == 0 {
			s.RenewBefore = 12 * time.Hour
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
		s.Retry.Status = Status
		s.queue = gcal.NewWorkQueue[change](4096)
	})
}

func (s *Syncer) tx(ctx context.Context, f func(*sql.Tx) error) error {
	return gcal.InTx(ctx, s.DB, f)
}

// Subscribe starts watching user's calendar (a UPN or object id).
func (s *Syncer) Subscribe(ctx context.Context, user string) (*Subscription, error) {
	s.init()
	state := rand.Text() + rand.Text() // 52 chars, within Graph's 128
	now := s.Now()
	var id string
	var exp time.Time
	err := s.Retry.Do(ctx, "subscribe", func() error {
		var err error
		id, exp, err = s.Graph.Subscribe(ctx, user, s.NotifyURL, s.NotifyURL, state, now.Add(s.Lifetime))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("graph: subscribe %s: %w", user, err)
	}
	sub := Subscription{ID: id, UserID: user, Resource: "/users/" + user + "/events", Expires: exp}
	if err := s.tx(ctx, func(tx *sql.Tx) error { return InsertSubscription(ctx, tx, sub, state, now) }); err != nil {
		return nil, err
	}
	s.Log.Info("graph subscription created", "subscription", id, "expires", exp)
	return &sub, nil
}

// Renew extends subscriptions that expire within RenewBefore. One that
// Graph no longer knows (404) is recreated.
func (s *Syncer) Renew(ctx context.Context) error {
	s.init()
	due, err := SubscriptionsExpiringBefore(ctx, s.DB, s.Now().Add(s.RenewBefore))
	if err != nil {
		return err
	}
	var errs []error
	for _, sub := range due {
		var exp time.Time
		err := s.Retry.Do(ctx, "renew", func() error {
			var err error
			exp, err = s.Graph.Renew(ctx, sub.ID, s.Now().Add(s.Lifetime))
			return err
		})
		if code, _ := Status(err); code == http.StatusNotFound {
			s.Log.Warn("graph subscription vanished; recreating", "subscription", sub.ID)
			if _, err := s.Subscribe(ctx, sub.UserID); err != nil {
				errs = append(errs, err)
				continue
			}
			errs = append(errs, s.tx(ctx, func(tx *sql.Tx) error { return DeleteSubscription(ctx, tx, sub.ID) }))
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("graph: renew %s: %w", sub.ID, err))
			continue
		}
		errs = append(errs, s.tx(ctx, func(tx *sql.Tx) error { return SetExpiry(ctx, tx, sub.ID, exp, s.Now()) }))
	}
	return errors.Join(errs...)
}

type notification struct {
	SubscriptionID string `json:"subscriptionId"`
	ClientState    string `json:"clientState"`
	ChangeType     string `json:"changeType"`
	Resource       string `json:"resource"`
	LifecycleEvent string `json:"lifecycleEvent"`
	ResourceData   struct {
		ID string `json:"id"`
	} `json:"resourceData"`
}

// Handler serves Graph's notification and lifecycle URL: the validation
// handshake (echo validationToken as text/plain at once), then
// notifications, each checked against its subscription's clientState and
// queued; Graph wants an answer within 3 s, so no work happens here.
func (s *Syncer) Handler() http.Handler {
	s.init()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		if tok := r.URL.Query().Get("validationToken"); tok != "" {
			// Query() has already URL-decoded the token, as Graph requires.
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, tok)
			return
		}
		var body struct {
			Value []notification `json:"value"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		accepted, rejected := 0, 0
		for _, n := range body.Value {
			sub, err := SubscriptionByID(r.Context(), s.DB, n.SubscriptionID)
			if err != nil && !errors.Is(err, ErrNoSubscription) {
				s.Log.Error("graph notification: load subscription", "err", err)
				w.WriteHeader(http.StatusInternalServerError) // Graph retries
				return
			}
			if err != nil || !sub.StateMatches(n.ClientState) {
				rejected++
				continue
			}
			accepted++
			switch {
			case n.LifecycleEvent == "reauthorizationRequired" || n.LifecycleEvent == "subscriptionRemoved":
				s.enqueue(change{sub: sub.ID, kind: "lifecycle"})
			case n.ResourceData.ID != "":
				s.enqueue(change{sub: sub.ID, user: sub.UserID, event: n.ResourceData.ID, kind: n.ChangeType})
			}
		}
		if rejected > 0 {
			s.Log.Warn("graph notifications dropped: unknown subscription or wrong clientState", "count", rejected, "remote", r.RemoteAddr)
		}
		if accepted == 0 && rejected > 0 {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
}

func (s *Syncer) enqueue(c change) {
	if !s.queue.Add(c) {
		s.Log.Warn("graph queue full; change dropped until the next notification", "subscription", c.sub)
	}
}

// Run processes queued changes and renews subscriptions every interval.
func (s *Syncer) Run(ctx context.Context, interval time.Duration) error {
	s.init()
	return s.queue.Run(ctx, s.Tick, interval, func(c change) {
		if err := s.process(ctx, c); err != nil {
			s.Log.Error("graph sync failed", "subscription", c.sub, "err", err)
		}
	}, func() {
		if err := s.Renew(ctx); err != nil {
			s.Log.Error("graph renewal", "err", err)
		}
	})
}

func (s *Syncer) process(ctx context.Context, c change) error {
	if c.kind == "lifecycle" {
		return s.Renew(ctx)
	}
	_, err := s.SyncEvent(ctx, c.user, c.event, c.kind == "deleted")
	return err
}

// SyncEvent fetches one event, reconciles its meeting and writes the
// marker back when it changed.
func (s *Syncer) SyncEvent(ctx context.Context, user, eventID string, deleted bool) (gcal.Outcome, error) {
	s.init()
	var ev *Event
	if !deleted {
		err := s.Retry.Do(ctx, "get event", func() error {
			var err error
			ev, err = s.Graph.GetEvent(ctx, user, eventID)
			if errors.Is(err, gcal.ErrDeleted) {
				return nil
			}
			return err
		})
		if err != nil {
			return gcal.Outcome{}, fmt.Errorf("graph: event: %w", err)
		}
	}
	if ev == nil {
		// Deleted before we could read it: nothing to provision, and the
		// meeting (if any) is found by id alone.
		s.Log.Info("graph event deleted mid-sync; skipped")
		return gcal.Reconcile(ctx, s.Meetings, gcal.Change{Ref: backend.EventRef{Provider: backend.ProviderOutlook, ID: eventID}, Cancelled: true}, s.Lang)
	}
	out, err := gcal.Reconcile(ctx, s.Meetings, gcal.Change{Ref: ev.Ref(), MeetingID: ev.MeetingID, Event: ev.Input, Cancelled: ev.Cancelled, OriginalStart: ev.OriginalStart}, s.Lang)
	if err != nil || out.Meeting == nil || ev.Cancelled {
		return out, err
	}
	if out.Raised {
		s.Log.Info("graph change raised meeting profile", "meeting", out.Meeting.ID, "profile", out.Meeting.Profile)
	}
	if ev.MeetingID == out.Meeting.ID && ev.Profile == string(out.Meeting.Profile) {
		return out, nil
	}
	err = s.Retry.Do(ctx, "patch marker", func() error { return s.Graph.PatchMarker(ctx, user, ev.ID, out.Meeting) })
	if errors.Is(err, gcal.ErrDeleted) {
		s.Log.Info("graph event deleted before write-back", "meeting", out.Meeting.ID)
		return out, nil
	}
	if err != nil {
		return out, fmt.Errorf("graph: meeting %s: write back: %w", out.Meeting.ID, err)
	}
	return out, nil
}

// addinMeetingID reads the meeting id the Outlook add-in stored in its
// custom properties ({"motesvaktMeeting":"…",…}).
func addinMeetingID(v string) string {
	var props map[string]any
	if json.Unmarshal([]byte(v), &props) != nil {
		return ""
	}
	id, _ := props["motesvaktMeeting"].(string)
	return id
}
