package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/web"
	"github.com/motesvakt/motesvakt/locales"
)

func (s *Server) routesCore() {
	e := s.echo
	e.GET("/healthz", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "ok"}) })
	e.GET("/readyz", s.ready)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg})))
	static := http.StripPrefix("/static/", http.FileServer(http.FS(web.Static())))
	e.GET("/static/*", echo.WrapHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		static.ServeHTTP(w, r)
	})))
	e.GET("/", s.home)
	s.routesAuth()
}

func (s *Server) ready(c echo.Context) error {
	if err := s.db.Ready(c.Request().Context()); err != nil {
		s.log.Warn("not ready", "err", err)
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) home(c echo.Context) error {
	return s.render(c, "home", s.page(c, ""))
}

// decodeJSON reads a JSON body into v: the media type must be JSON, the
// bytes valid UTF-8, one value only. Errors are localized EINVALID.
func decodeJSON(c echo.Context, v any) error {
	body, err := readJSONBody(c)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return &backend.Error{Code: backend.EINVALID, Key: "error.bad_json", Args: []any{"Detail", jsonErrorDetail(err)}}
	}
	if dec.More() {
		return &backend.Error{Code: backend.EINVALID, Key: "error.bad_json", Args: []any{"Detail", "trailing data"}}
	}
	return nil
}

// readJSONBody checks the media type and UTF-8 and returns the body.
func readJSONBody(c echo.Context) ([]byte, error) {
	mt, _, _ := mime.ParseMediaType(c.Request().Header.Get("Content-Type"))
	if mt != "application/json" {
		return nil, backend.Errorf(backend.EINVALID, "error.content_type")
	}
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, backend.Errorf(backend.ETOOLARGE, "error.too_large")
		}
		return nil, backend.Errorf(backend.EINVALID, "error.invalid")
	}
	if !utf8.Valid(body) {
		return nil, &backend.Error{Code: backend.EINVALID, Key: "error.invalid_utf8", Err: finerCode{"invalid_utf8", "error.invalid_utf8"}}
	}
	return body, nil
}

// jsonErrorDetail describes a decode error without echoing input values.
func jsonErrorDetail(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return "field " + te.Field + ": expected " + te.Type.String()
	case errors.As(err, &se):
		return "syntax error at byte " + strconv.FormatInt(se.Offset, 10)
	case errors.Is(err, io.EOF):
		return "empty body"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end"
	}
	return "malformed"
}

// requireUser returns the signed-in (non-guest) session or EUNAUTHORIZED.
func requireUser(c echo.Context) (*backend.Session, error) {
	sess := SessionOf(c)
	if sess == nil || sess.Kind != backend.SessionUser {
		return nil, backend.Errorf(backend.EUNAUTHORIZED, "error.unauthorized")
	}
	return sess, nil
}

// requireRole returns the session if it carries role, else 401/403.
func requireRole(c echo.Context, role backend.Role) (*backend.Session, error) {
	sess, err := requireUser(c)
	if err != nil {
		return nil, err
	}
	if !sess.HasRole(role) {
		return nil, backend.Errorf(backend.EFORBIDDEN, "auth.role_required")
	}
	return sess, nil
}

// finerCode gives an error body a more precise stable code than the
// application code (invalid_utf8 rather than invalid), matching the
// classifier's codes for the same fault.
type finerCode struct{ code, key string }

func (f finerCode) Error() string                          { return f.code }
func (f finerCode) StableCode() string                     { return f.code }
func (f finerCode) LocalizedMessage(l locales.Lang) string { return locales.T(l, f.key) }
