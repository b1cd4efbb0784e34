package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"golang.org/x/oauth2/google"
	"google.golang.org/api/calendar/v3"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/auth"
	"github.com/motesvakt/motesvakt/backend/gcal"
	"github.com/motesvakt/motesvakt/backend/graph"
	mhttp "github.com/motesvakt/motesvakt/backend/http"
	"github.com/motesvakt/motesvakt/locales"
)

// DefaultOutlookAddinID is the manifest id used until an organisation sets
// its own (--addin-outlook-id); Outlook keys installed add-ins by it.
const DefaultOutlookAddinID = "6f1d2c0e-5b8a-4c7e-9a51-3d0f2b7c8e41"

// addinOptions wires the Outlook add-in and the Google Workspace add-on
// (pages, manifests, token verification) and, when credentials are
// configured, the server-side calendar sync of both.
func (a *app) addinOptions(ctx context.Context, svc backend.MeetingService, domains backend.Domains, public *url.URL) ([]mhttp.Option, error) {
	cfg := a.cfg
	ac := mhttp.AddinConfig{OutlookAddinID: cfg.AddinOutlookID, AppID: cfg.EntraAppID, AppIDURI: cfg.EntraAppIDURI, Version: Version,
		GoogleOAuthClientID: cfg.GoogleOAuthClientID}
	var err error
	if cfg.EntraAppID != "" {
		audiences := []string{cfg.EntraAppID}
		if cfg.EntraAppIDURI != "" {
			audiences = append(audiences, cfg.EntraAppIDURI)
		}
		ac.Bearer, err = auth.NewBearerVerifier(ctx, auth.BearerConfig{Issuer: cfg.EntraIssuer, JWKSURL: cfg.EntraJWKSURL, Audiences: audiences, Tenants: splitList(cfg.EntraTenants)})
		if err != nil {
			return nil, fmt.Errorf("outlook add-in tokens: %w", err)
		}
	}
	if cfg.GoogleServiceAccount != "" {
		ac.Google, err = auth.NewGoogleVerifier(ctx, auth.GoogleConfig{ServiceAccount: cfg.GoogleServiceAccount, JWKSURL: cfg.GoogleJWKSURL})
		if err != nil {
			return nil, fmt.Errorf("google add-on tokens: %w", err)
		}
	}
	opts := []mhttp.Option{mhttp.WithAddins(ac, svc)}
	base := strings.TrimRight(public.String(), "/")

	var graphSync, gcalSync *syncHandle
	if cfg.GraphTenantID != "" {
		cred, err := graph.NewClientSecretCredential(cfg.GraphAuthority, cfg.GraphTenantID, cfg.GraphClientID, cfg.GraphClientSecret)
		if err != nil {
			return nil, err
		}
		client, err := graph.NewClient(cred, cfg.AddinOutlookID)
		if err != nil {
			return nil, err
		}
		s := &graph.Syncer{DB: a.db.SQL(), Graph: client, Meetings: svc, NotifyURL: base + "/hooks/graph", Lang: locales.Lang(cfg.Lang), Log: a.log}
		graphSync = &syncHandle{run: func(ctx context.Context) error { return s.Run(ctx, time.Minute) }}
		for _, mbx := range splitList(cfg.GraphMailboxes) {
			mbx := mbx
			graphSync.start = append(graphSync.start, func(ctx context.Context) error { _, err := s.Subscribe(ctx, mbx); return err })
		}
		opts = append(opts, mhttp.WithCalendarHooks(s.Handler(), nil))
	}
	if cfg.GoogleSyncKeyFile != "" {
		key, err := os.ReadFile(cfg.GoogleSyncKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--google-sync-key-file: %w", err)
		}
		s := &gcal.Syncer{DB: a.db.SQL(), Meetings: svc, Address: base + "/hooks/gcal", Lang: locales.Lang(cfg.Lang), Log: a.log,
			Calendar: func(ctx context.Context, calendarID string) (*calendar.Service, error) {
				// Domain-wide delegation: act as the calendar's owner.
				jwt, err := google.JWTConfigFromJSON(key, calendar.CalendarEventsScope)
				if err != nil {
					return nil, err
				}
				jwt.Subject = calendarID
				return gcal.NewService(ctx, jwt.TokenSource(ctx), "", nil)
			}}
		gcalSync = &syncHandle{run: func(ctx context.Context) error { return s.Run(ctx, time.Minute) }}
		for _, cal := range splitList(cfg.GoogleSyncCalendars) {
			cal := cal
			gcalSync.start = append(gcalSync.start, func(ctx context.Context) error { _, err := s.Watch(ctx, cal); return err })
		}
		opts = append(opts, mhttp.WithCalendarHooks(nil, s.Handler()))
	}
	for _, h := range []*syncHandle{graphSync, gcalSync} {
		if h == nil {
			continue
		}
		sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		go func() {
			defer close(done)
			for _, f := range h.start {
				if err := f(sctx); err != nil {
					a.log.Error("calendar subscription", "err", err)
				}
			}
			h.run(sctx)
		}()
		a.closers = append(a.closers, func() { stop(); <-done })
	}
	return opts, nil
}

// syncHandle is one calendar syncer's subscriptions and loop.
type syncHandle struct {
	start []func(context.Context) error
	run   func(context.Context) error
}
