package http

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/audit"
	"github.com/motesvakt/motesvakt/locales"
)

// WithAudit adds the audit log's admin endpoints and page: verify the
// chain, browse and filter, export JSON Lines for a SIEM.
func WithAudit() Option {
	return func(s *Server) {
		e := s.echo
		e.GET("/api/v1/admin/audit/verify", s.auditVerify)
		e.GET("/api/v1/admin/audit", s.auditList)
		e.GET("/api/v1/admin/audit/export", s.auditExport)
		e.GET("/admin/audit", s.auditPage)
	}
}

// requireAdmin returns the admin session; anyone else gets 401/403, and a
// signed-in non-admin's attempt is audited (fail closed if it cannot be).
func (s *Server) requireAdmin(c echo.Context) (*backend.Session, error) {
	sess, err := requireRole(c, backend.RoleAdmin)
	if err == nil {
		return sess, nil
	}
	if backend.ErrorCode(err) == backend.EFORBIDDEN {
		actor := audit.Actor("user:" + string(SessionOf(c).UserID))
		if SessionOf(c).Kind == backend.SessionGuest {
			actor = audit.GuestActor(SessionOf(c).InviteeID)
		}
		ctx := c.Request().Context()
		tx, terr := s.db.SQL().BeginTx(ctx, nil)
		if terr != nil {
			return nil, terr
		}
		defer tx.Rollback()
		if _, aerr := audit.Append(ctx, tx, audit.Entry{Time: s.db.Now(), Actor: actor, ActorIP: c.RealIP(), Action: audit.AdminForbidden,
			Outcome: audit.Denied, Details: map[string]string{"method": c.Request().Method, "route": c.Path()}}); aerr != nil {
			return nil, aerr
		}
		if cerr := tx.Commit(); cerr != nil {
			return nil, cerr
		}
	}
	return nil, err
}

func (s *Server) auditVerify(c echo.Context) error {
	if _, err := s.requireAdmin(c); err != nil {
		return err
	}
	rep, err := audit.Verify(c.Request().Context(), s.db.SQL())
	if err != nil {
		return err
	}
	status := http.StatusOK
	if !rep.OK {
		status = http.StatusConflict
	}
	return c.JSON(status, rep)
}

// auditFilter reads the shared query parameters; bad values are 400s.
func auditFilter(c echo.Context) (audit.Filter, error) {
	f := audit.Filter{MeetingID: c.QueryParam("meeting"), Action: audit.Action(c.QueryParam("action")), Actor: audit.Actor(c.QueryParam("actor"))}
	bad := func(field string) error {
		return &backend.Error{Code: backend.EINVALID, Key: "error.invalid", Field: field}
	}
	if v := c.QueryParam("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return f, bad("since")
		}
		f.Since = t
	}
	if v := c.QueryParam("until"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return f, bad("until")
		}
		f.Until = t
	}
	for name, dst := range map[string]*int64{"after_seq": &f.AfterSeq, "before_seq": &f.BeforeSeq} {
		if v := c.QueryParam(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return f, bad(name)
			}
			*dst = n
		}
	}
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > 1000 {
			return f, bad("limit")
		}
		f.Limit = n
	}
	return f, nil
}

func (s *Server) auditList(c echo.Context) error {
	if _, err := s.requireAdmin(c); err != nil {
		return err
	}
	f, err := auditFilter(c)
	if err != nil {
		return err
	}
	f.Desc = c.QueryParam("order") != "asc"
	recs, err := audit.List(c.Request().Context(), s.db.SQL(), f)
	if err != nil {
		return err
	}
	if recs == nil {
		recs = []audit.Record{}
	}
	return c.JSON(http.StatusOK, map[string]any{"entries": recs})
}

// auditExport streams JSON Lines, oldest first; a SIEM polls with after_seq.
func (s *Server) auditExport(c echo.Context) error {
	sess, err := s.requireAdmin(c)
	if err != nil {
		return err
	}
	f, err := auditFilter(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	tx, err := s.db.SQL().BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := audit.Append(ctx, tx, audit.Entry{Time: s.db.Now(), Actor: audit.Actor("user:" + string(sess.UserID)), ActorIP: c.RealIP(),
		Action: audit.AuditExported, Outcome: audit.Success, Details: map[string]string{"after_seq": strconv.FormatInt(f.AfterSeq, 10), "meeting": f.MeetingID}}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentType, "application/x-ndjson")
	c.Response().WriteHeader(http.StatusOK)
	return audit.Export(ctx, s.db.SQL(), c.Response(), f)
}

type auditRow struct {
	audit.Record
	ActionName, OutcomeName string
}

func (s *Server) auditPage(c echo.Context) error {
	if _, err := s.requireAdmin(c); err != nil {
		return err
	}
	f, err := auditFilter(c)
	if err != nil {
		return err
	}
	f.Desc = true
	if f.Limit == 0 {
		f.Limit = 100
	}
	ctx := c.Request().Context()
	recs, err := audit.List(ctx, s.db.SQL(), f)
	if err != nil {
		return err
	}
	rep, err := audit.Verify(ctx, s.db.SQL())
	if err != nil {
		return err
	}
	p := s.page(c, locales.T(Lang(c), "audit.title"))
	rows := make([]auditRow, len(recs))
	for i, r := range recs {
		rows[i] = auditRow{Record: r, ActionName: p.P.T(r.Action.MessageKey()), OutcomeName: p.P.T(r.Outcome.MessageKey())}
	}
	var older int64
	if len(recs) == f.Limit {
		older = recs[len(recs)-1].Seq
	}
	var firstBad int64
	if rep.FirstBad != nil {
		firstBad = *rep.FirstBad
	}
	p.Data = map[string]any{"Rows": rows, "Report": rep, "FirstBad": firstBad, "Filter": f, "Actions": audit.KnownActions, "Older": older}
	return s.render(c, "audit", p)
}
