package http

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/locales"
)

const (
	sessionCookie = "ms_session"
	langCookie    = "ms_lang"
	ctxLang       = "lang"
	ctxSession    = "session"
)

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// logRequests writes one JSON line per request: the route template, never
// the query string (OIDC callbacks carry codes there) and never bodies.
func (s *Server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		req, res := c.Request(), c.Response()
		lvl := slog.LevelInfo
		if res.Status >= 500 {
			lvl = slog.LevelError
		}
		s.log.LogAttrs(req.Context(), lvl, "request",
			slog.String("request_id", res.Header().Get(echo.HeaderXRequestID)),
			slog.String("method", req.Method),
			slog.String("route", routeOf(c)),
			slog.Int("status", res.Status),
			slog.Int64("bytes", res.Size),
			slog.Duration("duration", time.Since(start)),
			slog.String("remote_ip", c.RealIP()))
		return nil
	}
}

func routeOf(c echo.Context) string {
	if p := c.Path(); p != "" {
		return p
	}
	return "unmatched"
}

func (s *Server) recover(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				s.log.Error("panic", "request_id", c.Response().Header().Get(echo.HeaderXRequestID), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return next(c)
	}
}

func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		route := routeOf(c)
		s.httpRequests.WithLabelValues(c.Request().Method, route, strconv.Itoa(c.Response().Status)).Inc()
		s.httpDuration.WithLabelValues(c.Request().Method, route).Observe(time.Since(start).Seconds())
		return nil
	}
}

// bodyLimit rejects bodies over the configured size with a localized 413.
func (s *Server) bodyLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if req.ContentLength > s.cfg.MaxBodyBytes {
			return backend.Errorf(backend.ETOOLARGE, "error.too_large")
		}
		if req.Body != nil {
			req.Body = http.MaxBytesReader(c.Response(), req.Body, s.cfg.MaxBodyBytes)
		}
		return next(c)
	}
}

// language picks the response language: ?lang= (remembered in a cookie),
// then the cookie, then Accept-Language, then the configured default.
func (s *Server) language(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		var pref string
		if q := c.QueryParam("lang"); locales.Valid(q) {
			pref = q
			c.SetCookie(&http.Cookie{Name: langCookie, Value: q, Path: "/", MaxAge: 365 * 24 * 3600, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure()})
		} else if ck, err := c.Cookie(langCookie); err == nil && locales.Valid(ck.Value) {
			pref = ck.Value
		}
		lang := locales.Negotiate(c.Request().Header.Get("Accept-Language"), pref)
		if pref == "" && c.Request().Header.Get("Accept-Language") == "" {
			lang = s.cfg.Lang
		}
		c.Set(ctxLang, lang)
		c.Response().Header().Set("Content-Language", string(lang))
		return next(c)
	}
}

// Lang returns the request's language.
func Lang(c echo.Context) locales.Lang {
	if l, ok := c.Get(ctxLang).(locales.Lang); ok {
		return l
	}
	return locales.Default
}

func (s *Server) secure() bool { return s.cfg.PublicURL != nil && s.cfg.PublicURL.Scheme == "https" }

// loadSession attaches the caller's session, if the cookie names a live one.
func (s *Server) loadSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ck, err := c.Cookie(sessionCookie)
		if err == nil && ck.Value != "" {
			if sess, err := s.db.FindSession(c.Request().Context(), backend.SessionID(ck.Value)); err == nil {
				c.Set(ctxSession, sess)
				c.SetRequest(c.Request().WithContext(backend.NewContextWithSession(c.Request().Context(), sess)))
			}
		}
		return next(c)
	}
}

// SessionOf returns the caller's session or nil.
func SessionOf(c echo.Context) *backend.Session {
	s, _ := c.Get(ctxSession).(*backend.Session)
	return s
}

// setSessionCookie issues the session cookie: HttpOnly, SameSite=Lax,
// Secure under https, expiring with the session.
func (s *Server) setSessionCookie(c echo.Context, id backend.SessionID, expires time.Time) {
	c.SetCookie(&http.Cookie{Name: sessionCookie, Value: string(id), Path: "/", Expires: expires, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure()})
}

func (s *Server) clearSessionCookie(c echo.Context) {
	c.SetCookie(&http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure()})
}

// csrfToken binds a form token to the session: HMAC(key, session id).
func (s *Server) csrfToken(sess *backend.Session) string {
	if sess == nil {
		return ""
	}
	m := hmac.New(sha256.New, s.cfg.CSRFKey)
	m.Write([]byte("csrf\x00" + string(sess.ID)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrf protects state-changing requests that ride on the session cookie.
// JSON bodies are safe with SameSite=Lax: a cross-site page cannot send
// application/json without a CORS preflight we never grant. Form posts must
// carry the session's token. Requests with a bearer token or webhooks carry
// their own proof and are checked by their handlers. The demo sign-in form
// needs no token (it creates the session).
func (s *Server) csrf(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		switch req.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(c)
		}
		p := req.URL.Path
		if strings.HasPrefix(req.Header.Get("Authorization"), "Bearer ") || strings.HasPrefix(p, "/hooks/") || p == "/auth/demo" {
			return next(c)
		}
		mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
		if mt == "application/json" {
			return next(c)
		}
		if mt == "application/x-www-form-urlencoded" || mt == "multipart/form-data" {
			sess := SessionOf(c)
			want := s.csrfToken(sess)
			if sess != nil && hmac.Equal([]byte(c.FormValue("csrf")), []byte(want)) {
				return next(c)
			}
			if sess == nil && !strings.HasPrefix(p, "/api/") {
				// Nothing to protect: no session rides on this request.
				return next(c)
			}
			return backend.Errorf(backend.EFORBIDDEN, "error.csrf")
		}
		if strings.HasPrefix(p, "/api/") {
			return &backend.Error{Code: backend.EINVALID, Key: "error.content_type"}
		}
		return backend.Errorf(backend.EFORBIDDEN, "error.csrf")
	}
}
