// Package http is Mötesvakt's HTTP edge on echo v4. Handlers are thin and
// follow one order: who is asking → decode → validate → service → respond,
// each failure returning early. Errors map to statuses in errors.go only.
package http

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/auth"
	"github.com/motesvakt/motesvakt/backend/sqlite"
	"github.com/motesvakt/motesvakt/backend/web"
	"github.com/motesvakt/motesvakt/locales"
)

// Config is the edge's own configuration.
type Config struct {
	Addr      string
	PublicURL *url.URL
	Lang      locales.Lang
	Internal  backend.Domains
	// MaxBodyBytes caps request bodies (default 1 MiB).
	MaxBodyBytes int64
	// CSRFKey signs form tokens; 32 random bytes from the server secret.
	CSRFKey []byte
	// SessionTTL bounds user sessions (default 12 h).
	SessionTTL time.Duration
}

// Server is the HTTP service.
type Server struct {
	cfg   Config
	echo  *echo.Echo
	ln    net.Listener
	db    *sqlite.DB
	oidc  *auth.OIDC // nil in demo mode
	log   *slog.Logger
	pages web.Renderer
	reg   *prometheus.Registry
	hooks Hooks

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
}

// Option adds a feature's routes and dependencies to the server.
type Option func(*Server)

// New builds the server. oidc may be nil: then the demo sign-in is active.
func New(cfg Config, db *sqlite.DB, oidc *auth.OIDC, log *slog.Logger, opts ...Option) (*Server, error) {
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.Lang == "" {
		cfg.Lang = locales.Default
	}
	if len(cfg.CSRFKey) < 32 {
		return nil, errors.New("http: CSRF key must have at least 32 bytes")
	}
	s := &Server{cfg: cfg, db: db, oidc: oidc, log: log, reg: prometheus.NewRegistry(), hooks: noHooks{}}
	if err := s.pages.Check(); err != nil {
		return nil, err
	}
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "motesvakt_http_requests_total", Help: "HTTP requests by route template, method and status."}, []string{"method", "route", "code"})
	s.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "motesvakt_http_request_duration_seconds", Help: "HTTP request latency by route template.", Buckets: prometheus.DefBuckets}, []string{"method", "route"})
	s.reg.MustRegister(s.httpRequests, s.httpDuration)

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.IPExtractor = echo.ExtractIPDirect()
	e.Use(middleware.RequestIDWithConfig(middleware.RequestIDConfig{Generator: requestID}))
	e.Use(s.logRequests, s.recover, s.observe)
	e.Use(middleware.SecureWithConfig(middleware.SecureConfig{
		XSSProtection: "0", ContentTypeNosniff: "nosniff", XFrameOptions: "",
		ReferrerPolicy: "same-origin",
		// Add-in task panes are framed by Outlook/Google, so framing is
		// restricted per route (see addins) rather than denied here.
		ContentSecurityPolicy: "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self' ws: wss:; style-src 'self' 'unsafe-inline'; script-src 'self' https://appsforoffice.microsoft.com; frame-ancestors 'self' https://*.office.com https://*.office365.com https://*.outlook.com https://*.live.com https://calendar.google.com https://*.google.com",
	}))
	e.Use(s.bodyLimit, s.language, s.loadSession, s.csrf)
	s.echo = e
	s.routesCore()
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Echo exposes the router for feature options and tests.
func (s *Server) Echo() *echo.Echo { return s.echo }

// DB returns the store.
func (s *Server) DB() *sqlite.DB { return s.db }

// Registry is the Prometheus registry /metrics serves; features add their
// collectors here.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Logger returns the server's logger.
func (s *Server) Logger() *slog.Logger { return s.log }

// Config returns the edge configuration.
func (s *Server) Config() Config { return s.cfg }

// DemoMode reports whether the loopback demo sign-in is active.
func (s *Server) DemoMode() bool { return s.oidc == nil }

// ServeHTTP lets tests drive the full stack with httptest.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

// Listen binds the address; in demo mode only loopback is allowed.
func (s *Server) Listen() (net.Addr, error) {
	if s.DemoMode() {
		if err := auth.CheckDemoListen(s.cfg.Addr); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return nil, err
	}
	s.ln = ln
	return ln.Addr(), nil
}

// Serve serves until ctx ends, then shuts down gracefully within grace.
func (s *Server) Serve(ctx context.Context, grace time.Duration) error {
	if s.ln == nil {
		if _, err := s.Listen(); err != nil {
			return err
		}
	}
	srv := &http.Server{Handler: s.echo, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return err
	}
	return nil
}

func requestID() string {
	return strings.ToLower(strings.ReplaceAll(time.Now().UTC().Format("150405.000000"), ".", "")) + "-" + randHex(6)
}
