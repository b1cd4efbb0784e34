package http

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/web"
	"github.com/motesvakt/motesvakt/locales"
)

// statuses is the one place application error codes become HTTP statuses.
var statuses = map[string]int{
	backend.EINVALID:      http.StatusBadRequest,
	backend.ENOTFOUND:     http.StatusNotFound,
	backend.EUNAUTHORIZED: http.StatusUnauthorized,
	backend.EFORBIDDEN:    http.StatusForbidden,
	backend.ECONFLICT:     http.StatusConflict,
	backend.ETOOMANY:      http.StatusTooManyRequests,
	backend.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	backend.EUNAVAILABLE:  http.StatusServiceUnavailable,
	backend.EINTERNAL:     http.StatusInternalServerError,
}

// errorBody is the JSON error shape every API shares.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field,omitempty"`
	} `json:"error"`
}

// normalize turns echo and net/http errors into application errors.
func normalize(err error) error {
	var he *echo.HTTPError
	if errors.As(err, &he) {
		switch he.Code {
		case http.StatusNotFound, http.StatusMethodNotAllowed:
			return backend.Errorf(backend.ENOTFOUND, "error.not_found")
		case http.StatusRequestEntityTooLarge:
			return backend.Errorf(backend.ETOOLARGE, "error.too_large")
		case http.StatusUnsupportedMediaType:
			return backend.Errorf(backend.EINVALID, "error.content_type")
		case http.StatusBadRequest:
			return backend.Errorf(backend.EINVALID, "error.invalid")
		case http.StatusUnauthorized:
			return backend.Errorf(backend.EUNAUTHORIZED, "error.unauthorized")
		case http.StatusForbidden:
			return backend.Errorf(backend.EFORBIDDEN, "error.forbidden")
		case http.StatusTooManyRequests:
			return backend.Errorf(backend.ETOOMANY, "error.too_many")
		}
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return backend.Errorf(backend.ETOOLARGE, "error.too_large")
	}
	return err
}

func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	err = normalize(err)
	code := backend.ErrorCode(err)
	status, ok := statuses[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	if code == backend.EINTERNAL {
		s.log.Error("internal error", "request_id", c.Response().Header().Get(echo.HeaderXRequestID), "route", routeOf(c), "err", err)
	}
	lang := Lang(c)
	key, args := backend.ErrorKey(err)
	msg := locales.T(lang, key, args...)
	// A cause that renders its own message and carries a finer stable code
	// (the classifier's input errors) speaks for itself.
	var lm interface {
		LocalizedMessage(locales.Lang) string
		StableCode() string
	}
	bodyCode := code
	if errors.As(err, &lm) {
		msg, bodyCode = lm.LocalizedMessage(lang), lm.StableCode()
	}
	var ae *backend.Error
	field := ""
	if errors.As(err, &ae) {
		field = ae.Field
		if rl, ok := ae.Err.(interface{ RetryAfterSeconds() int }); ok && rl.RetryAfterSeconds() > 0 {
			c.Response().Header().Set("Retry-After", strconv.Itoa(rl.RetryAfterSeconds()))
		}
	}
	if wantsHTML(c) {
		p := s.page(c, locales.T(lang, "page.error"))
		p.Data = msg
		c.Response().WriteHeader(status)
		if rerr := s.pages.Render(c.Response(), "error", p); rerr != nil {
			s.log.Error("render error page", "err", rerr)
		}
		return
	}
	var body errorBody
	body.Error.Code, body.Error.Message, body.Error.Field = bodyCode, msg, field
	if err := c.JSON(status, body); err != nil {
		s.log.Error("write error", "err", err)
	}
}

func wantsHTML(c echo.Context) bool {
	r := c.Request()
	if strings.HasPrefix(r.URL.Path, "/api/") || strings.HasPrefix(r.URL.Path, "/hooks/") || strings.HasPrefix(r.URL.Path, "/addin/google/") {
		return false
	}
	return strings.Contains(r.Header.Get("Accept"), "text/html") || r.Method == http.MethodPost && strings.Contains(r.Header.Get("Content-Type"), "form")
}

// page builds the common template data for the request.
func (s *Server) page(c echo.Context, title string) *web.Page {
	sess := SessionOf(c)
	lang := Lang(c)
	return &web.Page{Lang: lang, P: locales.For(lang), Session: sess, CSRF: s.csrfToken(sess), Demo: s.DemoMode(), Path: c.Request().URL.Path, Title: title}
}

// render writes a page with status 200.
func (s *Server) render(c echo.Context, name string, p *web.Page) error {
	c.Response().WriteHeader(http.StatusOK)
	return s.pages.Render(c.Response(), name, p)
}
