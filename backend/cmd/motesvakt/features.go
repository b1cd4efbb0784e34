package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/audit"
	"github.com/motesvakt/motesvakt/backend/gcal"
	"github.com/motesvakt/motesvakt/backend/graph"
	"github.com/motesvakt/motesvakt/backend/guestcode"
	mhttp "github.com/motesvakt/motesvakt/backend/http"
	"github.com/motesvakt/motesvakt/backend/mail"
	"github.com/motesvakt/motesvakt/backend/meetings"
	"github.com/motesvakt/motesvakt/backend/recorder"
	"github.com/motesvakt/motesvakt/backend/recording"
	"github.com/motesvakt/motesvakt/backend/rooms"
	"github.com/motesvakt/motesvakt/backend/rules"
	"github.com/motesvakt/motesvakt/backend/sqlite"
	"github.com/motesvakt/motesvakt/classifiers"
	"github.com/motesvakt/motesvakt/locales"
	"github.com/motesvakt/motesvakt/sfu"
)

// migrations lists the tables owned by packages other than sqlite, in the
// order they were introduced. Names must never change.
func migrations() []sqlite.Migration {
	return []sqlite.Migration{
		{Name: "1000_audit", SQL: audit.Schema},
		{Name: "1010_mail_outbox", SQL: mail.Schema},
		{Name: "1020_recordings", SQL: recording.Schema},
		{Name: "1030_guest_codes", SQL: guestcode.Schema},
		{Name: "1040_rules", SQL: rules.Schema},
		{Name: "1050_graph_subscriptions", SQL: graph.Schema},
		{Name: "1060_gcal_channels", SQL: gcal.Schema},
		{Name: "1070_recorder", SQL: recorder.Schema},
	}
}

// features wires the feature packages into the HTTP edge.
func (a *app) features(ctx context.Context, domains backend.Domains, public *url.URL) ([]mhttp.Option, error) {
	cfg := a.cfg
	lang := locales.Lang(cfg.Lang)

	// Classification: versioned rules in the store, seeded from the
	// embedded packs; activation swaps the engine without a restart.
	keep := cfg.KeepDrafts
	if keep == 0 {
		keep = -1 // 0 means "do not keep"; rules treats negative as off
	}
	rs, err := rules.Open(ctx, a.db.SQL(), rules.Config{InternalDomains: domains, KeepDrafts: keep, Now: a.db.Now, Log: a.log})
	if err != nil {
		return nil, err
	}
	if err := rs.Refresh(ctx); err != nil {
		return nil, err
	}
	rctx, stopRules := context.WithCancel(context.WithoutCancel(ctx))
	ticker := time.NewTicker(30 * time.Second)
	rdone := make(chan struct{})
	go func() { defer close(rdone); rs.Run(rctx, ticker.C) }()
	a.closers = append(a.closers, func() { ticker.Stop(); stopRules(); <-rdone })

	// Mail: SMTP when configured, else .eml files in <data>/outbox/.
	mailKey, err := mail.DeriveKey(a.secret)
	if err != nil {
		return nil, err
	}
	outbox, err := mail.NewOutbox(a.db.SQL(), mailKey)
	if err != nil {
		return nil, err
	}
	renderer, err := mail.NewRenderer(cfg.SMTPFrom)
	if err != nil {
		return nil, fmt.Errorf("--smtp-from: %w", err)
	}
	var transport mail.Transport
	if cfg.SMTPHost != "" {
		sc := mail.SMTPConfig{Host: cfg.SMTPHost, Port: cfg.SMTPPort, Username: cfg.SMTPUsername, Password: cfg.SMTPPassword, From: renderer.From()}
		switch cfg.SMTPTLS {
		case "implicit":
			sc.ImplicitTLS = true
		case "opportunistic":
			sc.StartTLS = mail.StartTLSOpportunistic
		case "off":
			sc.StartTLS = mail.StartTLSOff
		default:
			sc.StartTLS = mail.StartTLSRequired
		}
		if transport, err = mail.NewSMTP(sc); err != nil {
			return nil, err
		}
	} else if transport, err = mail.NewFileOutbox(filepath.Join(cfg.Data, "outbox")); err != nil {
		return nil, err
	}
	worker, err := mail.NewWorker(mail.WorkerConfig{Outbox: outbox, Transport: transport, Logger: a.log, Report: auditDelivery})
	if err != nil {
		return nil, err
	}
	wctx, stopWorker := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); worker.Run(wctx) }()
	a.closers = append(a.closers, func() { stopWorker(); <-done })

	// The SFU on one UDP port. On a loopback address (the demo) the browser
	// on the same machine reaches it through loopback candidates.
	sfuCfg := sfu.Config{UDPPort: cfg.SFUUDPPort, AddressRewrite: splitList(cfg.SFUPublicIPs), ICETCPPort: cfg.SFUICETCPPort}
	if host, _, err := net.SplitHostPort(cfg.Addr); err == nil {
		if ip := net.ParseIP(host); (ip != nil && ip.IsLoopback()) || strings.EqualFold(host, "localhost") {
			sfuCfg.IncludeLoopback = true
			sfuCfg.IPFilter = func(ip net.IP) bool { return ip.IsLoopback() }
		}
	}
	rm := &rooms.Manager{DB: a.db, Internal: domains, Log: a.log, TwoHostApproval: cfg.TwoHostApproval}

	// Recording: encrypted at rest, keys from the local key file or Vault;
	// recover what a crash left before anyone may record again.
	keys, err := recordingKeys(cfg, true)
	if err != nil {
		return nil, err
	}
	store, err := recording.NewStore(a.db.SQL(), recordingsDir(cfg), keys)
	if err != nil {
		return nil, err
	}
	err = a.db.InTx(ctx, func(tx *sqlite.Tx) error {
		recovered, err := store.Recover(ctx, tx.Tx, tx.Now)
		for _, r := range recovered {
			a.log.Warn("recording recovered after a crash", "recording", r.ID, "meeting", r.MeetingID, "state", r.State)
		}
		return err
	})
	if err != nil {
		a.log.Error("recording recovery (the key provider may be down; recordings stay as they are)", "err", err)
	}
	rec, err := recorder.New(recorder.Config{DB: a.db.SQL(), Meetings: a.db, Store: store, Keys: keys, Log: a.log, ActorOf: rm.Actor})
	if err != nil {
		return nil, err
	}
	rm.RecordingRefused = func(id backend.MeetingID) {
		if !rec.Recording(id) {
			return
		}
		if err := rec.Stop(context.Background(), id, recorder.Actor{Audit: audit.System, Host: true}); err != nil {
			a.log.Warn("stop recording after policy change", "meeting", id, "err", err)
		}
	}
	media, err := sfu.New(sfuCfg, recorder.WrapHooks(rm.Hooks(), rec), a.log)
	if err != nil {
		return nil, fmt.Errorf("sfu: %w", err)
	}
	rm.SFU = media
	rec.SetRooms(media)
	sched := &recorder.Scheduler{DB: a.db.SQL(), Store: store, Log: a.log}
	schedCtx, stopSched := context.WithCancel(context.WithoutCancel(ctx))
	go sched.Run(schedCtx)
	// Close in reverse: finish recordings before the SFU goes away.
	a.closers = append(a.closers, func() { media.Close() }, func() { stopSched(); rec.Close(context.Background()) })
	rmctx, stopReaper := context.WithCancel(context.WithoutCancel(ctx))
	reapTick := time.NewTicker(time.Minute)
	go rm.Run(rmctx, reapTick.C)
	a.closers = append(a.closers, func() { reapTick.Stop(); stopReaper() })

	codes, err := newGuestCodes(a.db, a.secret, a.log)
	if err != nil {
		return nil, err
	}
	svc := &meetings.Service{
		DB: a.db, Policy: rs, Codes: codes, Outbox: outbox, Mail: renderer, Rooms: rm,
		PublicURL: public, Internal: domains, Lang: lang, RequireHostMFA: cfg.RequireHostMFA, MailQueued: worker.Notify, Log: a.log,
		LinkKey: subkey(a.secret, "joinlink"), RotateEvery: cfg.LinkRotateEvery,
		DraftRecorder: func(ctx context.Context, ev classifiers.Event, res classifiers.Result) {
			if err := rs.RecordDraft(ctx, ev, res, a.db.Now()); err != nil {
				a.log.Warn("record draft", "err", err)
			}
		},
	}
	addins, err := a.addinOptions(ctx, svc, domains, public)
	if err != nil {
		return nil, err
	}
	// The add-ins go first: their bearer-token middleware must see /api/
	// requests before the meeting routes do, and WithMeetings replaces
	// their fallback classify/provision routes.
	return append(addins,
		mhttp.WithHooks(auditHooks{}),
		mhttp.WithMeetings(svc, rm, codes),
		mhttp.WithAudit(),
		mhttp.WithAdmin(rs),
		mhttp.WithRecordings(rec, store),
	), nil
}
