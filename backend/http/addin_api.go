package http

import (
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/auth"
	"github.com/motesvakt/motesvakt/classifiers"
)

const ctxAddinActor = "addin_actor"

// bearer authenticates add-in requests to /api/: a valid token becomes a
// user session for this request only (nothing is stored), so every API
// handler's requireUser works for add-ins as for browsers. A bad token is
// a 401 at once; it never falls back to a cookie.
func (a *addins) bearer(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		raw, ok := auth.BearerToken(req.Header.Get("Authorization"))
		if !ok || !strings.HasPrefix(req.URL.Path, "/api/") {
			return next(c)
		}
		if a.cfg.Bearer == nil {
			return backend.Errorf(backend.EUNAUTHORIZED, "addin.error.token")
		}
		cl, err := a.cfg.Bearer.Verify(req.Context(), raw)
		if err != nil {
			a.s.log.Warn("add-in token rejected", "request_id", c.Response().Header().Get(echo.HeaderXRequestID), "err", err)
			return err
		}
		actor := cl.Actor(a.s.cfg.Internal, c.RealIP())
		sess := &backend.Session{Kind: backend.SessionUser, UserID: actor.UserID, Email: actor.Email, Name: actor.Name, Roles: actor.Roles, MFA: actor.MFA}
		c.Set(ctxSession, sess)
		c.Set(ctxAddinActor, actor)
		c.SetRequest(req.WithContext(backend.NewContextWithSession(req.Context(), sess)))
		return next(c)
	}
}

// actorOf is the caller as a service actor: the add-in token's identity or
// the browser session's.
func actorOf(c echo.Context) (backend.Actor, error) {
	if a, ok := c.Get(ctxAddinActor).(backend.Actor); ok {
		return a, nil
	}
	sess, err := requireUser(c)
	if err != nil {
		return backend.Actor{}, err
	}
	return backend.ActorFromSession(sess, c.RealIP()), nil
}

// apiRoutes registers POST /api/v1/classify and /api/v1/meetings unless
// another feature already did (a later registration replaces these). The
// add-in scripts call these paths; the OPTIONS routes answer the CORS
// preflight of classic Outlook's JS runtime, which runs on another origin.
// Bearer-only: "*" without credentials never lets a page use our cookies.
func (a *addins) apiRoutes() {
	e := a.s.echo
	have := map[string]bool{}
	for _, r := range e.Routes() {
		have[r.Method+" "+r.Path] = true
	}
	if !have["POST /api/v1/classify"] {
		e.POST("/api/v1/classify", a.classify)
	}
	if !have["POST /api/v1/meetings"] {
		e.POST("/api/v1/meetings", a.provision)
	}
	for _, p := range []string{"/api/v1/classify", "/api/v1/meetings"} {
		if !have["OPTIONS "+p] {
			e.OPTIONS(p, preflight)
		}
	}
}

func preflight(c echo.Context) error {
	h := c.Response().Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "POST")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept-Language")
	h.Set("Access-Control-Max-Age", "600")
	return c.NoContent(http.StatusNoContent)
}

func allowBearerCORS(c echo.Context) {
	if c.Get(ctxAddinActor) != nil {
		c.Response().Header().Set("Access-Control-Allow-Origin", "*")
	}
}

// classify: who → decode (the classifier's own limits) → classify.
func (a *addins) classify(c echo.Context) error {
	if _, err := actorOf(c); err != nil {
		return err
	}
	allowBearerCORS(c)
	if ct := c.Request().Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return backend.Errorf(backend.EINVALID, "error.content_type")
	}
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return backend.Errorf(backend.ETOOLARGE, "error.too_large")
	}
	ev, err := classifiers.DecodeEvent(body)
	if err != nil {
		return inputError(err)
	}
	res, _, err := a.svc.Classify(c.Request().Context(), ev, Lang(c))
	if err != nil {
		return inputError(err)
	}
	return c.JSON(http.StatusOK, res)
}

func inputError(err error) error {
	if ie, ok := err.(*classifiers.InputError); ok {
		code := backend.EINVALID
		if ie.Code == classifiers.CodeTooLarge {
			code = backend.ETOOLARGE
		}
		return &backend.Error{Code: code, Key: ie.Key, Args: []any{"Field", ie.Field, "Limit", ie.Limit}, Field: ie.Field, Err: err}
	}
	return err
}

// provision: who → decode → validate the choice against a fresh
// classification (raise, never lower without a reason) → provision.
func (a *addins) provision(c echo.Context) error {
	actor, err := actorOf(c)
	if err != nil {
		return err
	}
	allowBearerCORS(c)
	var req backend.ProvisionRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := classifiers.ValidateEvent(req.Event); err != nil {
		return inputError(err)
	}
	if req.EventRef.ID == "" || (req.EventRef.Provider != backend.ProviderOutlook && req.EventRef.Provider != backend.ProviderGoogle && req.EventRef.Provider != backend.ProviderManual) {
		return &backend.Error{Code: backend.EINVALID, Key: "error.invalid", Field: "event_ref"}
	}
	res, _, err := a.svc.Classify(c.Request().Context(), req.Event, Lang(c))
	if err != nil {
		return inputError(err)
	}
	if err := checkChoice(res, &req); err != nil {
		return err
	}
	if req.Lang == "" {
		req.Lang = Lang(c)
	}
	m, err := a.svc.Provision(c.Request().Context(), actor, req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, m)
}

// checkChoice applies DESIGN.md's rule: a lower profile than suggested
// needs a written reason and may be forbidden; an empty choice takes the
// suggestion. The service enforces the same; failing here gives the add-in
// a precise, localized message.
func checkChoice(res classifiers.Result, req *backend.ProvisionRequest) error {
	if req.Profile == "" {
		req.Profile = res.Profile
	}
	if !req.Profile.Valid() {
		return &backend.Error{Code: backend.EINVALID, Key: "error.invalid", Field: "profile"}
	}
	req.OverrideReason = strings.TrimSpace(req.OverrideReason)
	if req.Profile.Rank() >= res.Profile.Rank() {
		req.OverrideReason = ""
		return nil
	}
	if res.Downgrade == "forbidden" {
		return &backend.Error{Code: backend.EFORBIDDEN, Key: "addin.error.downgrade_forbidden", Field: "profile"}
	}
	if req.OverrideReason == "" {
		return &backend.Error{Code: backend.EINVALID, Key: "addin.error.reason_required", Field: "override_reason"}
	}
	return nil
}

// WithCalendarHooks mounts the server-side sync webhooks: Graph change
// notifications at /hooks/graph and Google push channels at /hooks/gcal.
// The handlers (graph.Syncer.Handler, gcal.Syncer.Handler) check their own
// proof (clientState, channel token); /hooks/ skips the CSRF check.
func WithCalendarHooks(graphHook, gcalHook http.Handler) Option {
	return func(s *Server) {
		if graphHook != nil {
			s.echo.POST("/hooks/graph", echo.WrapHandler(graphHook))
		}
		if gcalHook != nil {
			s.echo.POST("/hooks/gcal", echo.WrapHandler(gcalHook))
		}
	}
}
