package http

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"regexp"

	"github.com/labstack/echo/v4"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/auth"
	"github.com/motesvakt/motesvakt/backend/sqlite"
	"github.com/motesvakt/motesvakt/locales"
)

const stateCookie = "ms_oidc_state"

func (s *Server) routesAuth() {
	e := s.echo
	e.GET("/auth/login", s.login)
	e.GET("/auth/callback", s.callback)
	e.POST("/auth/logout", s.logout)
	e.GET("/auth/demo", s.demoPage)
	e.POST("/auth/demo", s.demoSignIn)
	e.GET("/api/v1/me", s.me)
}

func (s *Server) login(c echo.Context) error {
	returnTo := auth.SafeReturnTo(c.QueryParam("return_to"))
	if s.DemoMode() {
		return c.Redirect(http.StatusFound, "/auth/demo?return_to="+url.QueryEscape(returnTo))
	}
	authURL, f, err := s.oidc.Begin()
	if err != nil {
		return err
	}
	now := s.db.Now()
	if err := s.db.SaveOIDCFlow(c.Request().Context(), sqlite.OIDCFlow{State: f.State, Nonce: f.Nonce, Verifier: f.Verifier, ReturnTo: returnTo, Expires: now.Add(auth.FlowTTL)}); err != nil {
		return err
	}
	// The cookie binds the flow to this browser, so a state handed to a
	// victim (login CSRF) does not match.
	c.SetCookie(&http.Cookie{Name: stateCookie, Value: f.State, Path: "/auth/", MaxAge: int(auth.FlowTTL.Seconds()), HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure()})
	return c.Redirect(http.StatusFound, authURL)
}

var idpErrorCode = regexp.MustCompile(`^[a-z_]{1,64}$`)

func (s *Server) callback(c echo.Context) error {
	if s.DemoMode() {
		return backend.Errorf(backend.ENOTFOUND, "error.not_found")
	}
	if e := c.QueryParam("error"); e != "" {
		if !idpErrorCode.MatchString(e) {
			e = "unknown"
		}
		return &backend.Error{Code: backend.EUNAUTHORIZED, Key: "auth.idp_error", Args: []any{"Reason", e}}
	}
	state := c.QueryParam("state")
	ck, err := c.Cookie(stateCookie)
	if state == "" || err != nil || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(state)) != 1 {
		return backend.Errorf(backend.EINVALID, "auth.bad_state")
	}
	c.SetCookie(&http.Cookie{Name: stateCookie, Value: "", Path: "/auth/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure()})
	ctx := c.Request().Context()
	flow, err := s.db.TakeOIDCFlow(ctx, state)
	if err != nil {
		return err
	}
	id, err := s.oidc.Finish(ctx, auth.Flow{State: flow.State, Nonce: flow.Nonce, Verifier: flow.Verifier}, c.QueryParam("code"))
	if err != nil {
		key, _ := backend.ErrorKey(err)
		s.hooks.SignInFailed(ctx, s.db, c.RealIP(), key)
		return err
	}
	if err := s.startSession(c, id); err != nil {
		return err
	}
	return c.Redirect(http.StatusFound, auth.SafeReturnTo(flow.ReturnTo))
}

// startSession stores the user and a fresh session (a new id on every
// sign-in, ASVS 7.2.4) and sets the cookie.
func (s *Server) startSession(c echo.Context, id *auth.Identity) error {
	ctx := c.Request().Context()
	var sid backend.SessionID
	var sess *backend.Session
	err := s.db.InTx(ctx, func(tx *sqlite.Tx) error {
		u, err := tx.UpsertUser(ctx, id.Issuer, id.Subject, id.Email, id.Name)
		if err != nil {
			return err
		}
		sess = &backend.Session{Kind: backend.SessionUser, UserID: u.ID, Email: id.Email, Name: id.Name, Roles: id.Roles, MFA: id.MFA,
			Demo: id.Issuer == auth.DemoIssuer, Expires: tx.Now.Add(s.cfg.SessionTTL)}
		if sid, err = tx.CreateSession(ctx, sess); err != nil {
			return err
		}
		return s.hooks.SignedIn(ctx, tx, c.RealIP(), sess)
	})
	if err != nil {
		return err
	}
	// Replace any older session cookie.
	if old, err := c.Cookie(sessionCookie); err == nil && old.Value != "" {
		s.db.DeleteSession(ctx, backend.SessionID(old.Value))
	}
	s.setSessionCookie(c, sid, sess.Expires)
	return nil
}

func (s *Server) logout(c echo.Context) error {
	if ck, err := c.Cookie(sessionCookie); err == nil && ck.Value != "" {
		if err := s.db.DeleteSession(c.Request().Context(), backend.SessionID(ck.Value)); err != nil {
			return err
		}
	}
	s.clearSessionCookie(c)
	if wantsJSON(c) {
		return c.NoContent(http.StatusNoContent)
	}
	return c.Redirect(http.StatusSeeOther, "/")
}

type demoData struct {
	Domains, Email, Error, ReturnTo string
}

func (s *Server) demoPage(c echo.Context) error {
	if !s.DemoMode() {
		return backend.Errorf(backend.ENOTFOUND, "auth.demo_disabled")
	}
	p := s.page(c, locales.For(Lang(c)).T("auth.demo_title"))
	p.Data = demoData{Domains: joinDomains(s.cfg.Internal), ReturnTo: auth.SafeReturnTo(c.QueryParam("return_to"))}
	return s.render(c, "demo", p)
}

type demoRequest struct {
	Email    string `json:"email" form:"email"`
	Admin    bool   `json:"admin" form:"admin"`
	ReturnTo string `json:"return_to" form:"return_to"`
}

// demoSignIn creates a session for an internal address without a password.
// It exists only in demo mode, which only listens on loopback.
func (s *Server) demoSignIn(c echo.Context) error {
	if !s.DemoMode() {
		return backend.Errorf(backend.ENOTFOUND, "auth.demo_disabled")
	}
	var req demoRequest
	isJSON := wantsJSON(c)
	if isJSON {
		if err := decodeJSON(c, &req); err != nil {
			return err
		}
	} else {
		req.Email, req.Admin, req.ReturnTo = c.FormValue("email"), c.FormValue("admin") == "true", c.FormValue("return_to")
	}
	id, err := auth.DemoIdentity(s.cfg.Internal, req.Email, req.Admin)
	if err != nil {
		if isJSON {
			return err
		}
		key, args := backend.ErrorKey(err)
		p := s.page(c, locales.For(Lang(c)).T("auth.demo_title"))
		p.Data = demoData{Domains: joinDomains(s.cfg.Internal), Email: req.Email, Error: locales.For(Lang(c)).T(key, args...), ReturnTo: auth.SafeReturnTo(req.ReturnTo)}
		c.Response().WriteHeader(statuses[backend.ErrorCode(err)])
		return s.pages.Render(c.Response(), "demo", p)
	}
	if err := s.startSession(c, id); err != nil {
		return err
	}
	if isJSON {
		return c.JSON(http.StatusOK, meResponse(SessionOfStarted(c, id)))
	}
	return c.Redirect(http.StatusSeeOther, auth.SafeReturnTo(req.ReturnTo))
}

type meBody struct {
	Kind  backend.SessionKind `json:"kind"`
	Email string              `json:"email"`
	Name  string              `json:"name"`
	Roles []backend.Role      `json:"roles"`
	MFA   bool                `json:"mfa"`
	Demo  bool                `json:"demo"`
}

func meResponse(s *backend.Session) meBody {
	roles := s.Roles
	if roles == nil {
		roles = []backend.Role{}
	}
	return meBody{Kind: s.Kind, Email: s.Email, Name: s.Name, Roles: roles, MFA: s.MFA, Demo: s.Demo}
}

// SessionOfStarted describes the session just created for id (its cookie
// is in the response, not yet in the request).
func SessionOfStarted(c echo.Context, id *auth.Identity) *backend.Session {
	return &backend.Session{Kind: backend.SessionUser, Email: id.Email, Name: id.Name, Roles: id.Roles, MFA: id.MFA, Demo: id.Issuer == auth.DemoIssuer}
}

func (s *Server) me(c echo.Context) error {
	sess := SessionOf(c)
	if sess == nil {
		return backend.Errorf(backend.EUNAUTHORIZED, "error.unauthorized")
	}
	return c.JSON(http.StatusOK, meResponse(sess))
}

func wantsJSON(c echo.Context) bool {
	ct := c.Request().Header.Get("Content-Type")
	return len(ct) >= 16 && ct[:16] == "application/json"
}

func joinDomains(d backend.Domains) string {
	out := ""
	for i, x := range d {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}
