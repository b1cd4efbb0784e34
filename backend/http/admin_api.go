package http

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/rules"
	"github.com/motesvakt/motesvakt/classifiers"
	"github.com/motesvakt/motesvakt/locales"
)

// admin is the admin feature: rules, profiles, test bench, dry run and
// measurement, all behind the admin role.
type admin struct {
	s     *Server
	rules *rules.Store
	now   func() time.Time
}

// AdminOption tunes WithAdmin.
type AdminOption func(*admin)

// AdminClock replaces the clock (tests).
func AdminClock(now func() time.Time) AdminOption { return func(a *admin) { a.now = now } }

// WithAdmin mounts /api/v1/admin/… and the /admin pages, and registers the
// measurement collector on /metrics. The audit_log and rules tables must
// exist.
func WithAdmin(r *rules.Store, opts ...AdminOption) Option {
	return func(s *Server) {
		a := &admin{s: s, rules: r, now: time.Now}
		for _, o := range opts {
			o(a)
		}
		s.reg.MustRegister(rules.NewCollector(s.DB().SQL()))
		api := s.echo.Group("/api/v1/admin", a.guard)
		api.GET("/rules", a.getRules)
		api.GET("/categories", a.listCategories)
		api.POST("/categories", a.addCategory)
		api.GET("/categories/:category", a.getCategory)
		api.PUT("/categories/:category", a.updateCategory)
		api.DELETE("/categories/:category", a.removeCategory)
		api.PUT("/categories/:category/downgrade", a.setDowngrade)
		api.POST("/categories/:category/terms", a.addTerm)
		api.PUT("/categories/:category/terms", a.updateTerm)
		api.DELETE("/categories/:category/terms", a.removeTerm)
		api.GET("/domains", a.getDomains)
		api.PUT("/domains/internal", a.setDomains(rules.OpInternal))
		api.PUT("/domains/free_mail", a.setDomains(rules.OpFreeMail))
		api.GET("/profiles", a.getProfiles)
		api.PUT("/profiles/:profile", a.setCells)
		api.GET("/versions", a.listVersions)
		api.GET("/versions/:id", a.getVersion)
		api.GET("/versions/:id/diff", a.diffVersion)
		api.GET("/versions/:id/export", a.exportVersion)
		api.POST("/versions/:id/activate", a.activate)
		api.POST("/versions/:id/schedule", a.schedule)
		api.DELETE("/versions/:id/schedule", a.unschedule)
		api.POST("/rollback", a.rollback)
		api.POST("/import", a.importPacks)
		api.POST("/testbench", a.testBench)
		api.POST("/dryrun", a.dryRun)
		api.GET("/measurement", a.measurement)
		a.routesPages()
	}
}

// guard admits admins only. A signed-in non-admin gets 403 and the attempt
// is audited (admin.forbidden); without a session it is a plain 401.
func (a *admin) guard(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if _, err := a.s.requireAdmin(c); err != nil {
			return err
		}
		return next(c)
	}
}

func (a *admin) actor(c echo.Context) rules.Actor {
	sess := SessionOf(c)
	return rules.Actor{ID: sess.UserID, Name: sess.Email, IP: c.RealIP()}
}

// version resolves ?version= (or a body field); 0 means the head, the
// version edits build on.
func (a *admin) version(c echo.Context, v rules.Version) (rules.Version, error) {
	if v == 0 {
		if q := c.QueryParam("version"); q != "" {
			n, err := strconv.ParseInt(q, 10, 64)
			if err != nil || n <= 0 {
				return 0, &backend.Error{Code: backend.EINVALID, Key: "admin.bad_version", Field: "version"}
			}
			return rules.Version(n), nil
		}
		return a.rules.Head(c.Request().Context())
	}
	return v, nil
}

func pathVersion(c echo.Context) (rules.Version, error) {
	n, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || n <= 0 {
		return 0, backend.Errorf(backend.ENOTFOUND, "admin.no_version", "Version", c.Param("id"))
	}
	return rules.Version(n), nil
}

// editBody is what every change names: the version it builds on and why.
type editBody struct {
	BaseVersion rules.Version `json:"base_version"`
	Comment     string        `json:"comment"`
}

// versionView is a version without its content, plus where it stands.
type versionView struct {
	rules.RuleVersion
	Active bool `json:"active"`
}

// edit stores ops on base as a new version and answers 201 with it. A stale
// base answers 409 with the would-be draft and the head to rebase on.
func (a *admin) edit(c echo.Context, b editBody, ops ...rules.Op) error {
	ctx := c.Request().Context()
	var v *rules.RuleVersion
	err := a.rules.Update(ctx, func(tx *sql.Tx) error {
		var err error
		v, err = a.rules.Edit(ctx, tx, a.actor(c), rules.Edit{Base: b.BaseVersion, Comment: b.Comment, Ops: ops}, a.now())
		return err
	})
	if err != nil {
		return a.editError(c, err)
	}
	v.Content = nil
	return c.JSON(http.StatusCreated, map[string]any{"version": v})
}

// editError adds what an admin needs to fix the edit: every validation
// problem, or on a conflict the draft and the newest version.
func (a *admin) editError(c echo.Context, err error) error {
	var ve *classifiers.ValidationError
	var ce *rules.ConflictError
	lang := Lang(c)
	key, args := backend.ErrorKey(err)
	body := map[string]any{}
	e := map[string]any{"code": backend.ErrorCode(err), "message": locales.T(lang, key, args...)}
	switch {
	case errors.As(err, &ve):
		var probs []map[string]any
		for _, p := range ve.Problems {
			probs = append(probs, map[string]any{"key": p.Key, "category": p.Pack, "profile": p.Profile, "term": p.Term, "field": p.Field, "message": p.Message(lang)})
		}
		body["problems"] = probs
	case errors.As(err, &ce):
		body["head"] = ce.Head
		body["draft"] = ce.Draft
	default:
		return err
	}
	body["error"] = e
	return c.JSON(statuses[backend.ErrorCode(err)], body)
}

func (a *admin) content(c echo.Context) (*rules.RuleVersion, error) {
	v, err := a.version(c, 0)
	if err != nil {
		return nil, err
	}
	return a.rules.Get(c.Request().Context(), v)
}

func (a *admin) getRules(c echo.Context) error {
	v, err := a.content(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"version": v, "active": a.rules.Active()})
}

type categorySummary struct {
	Category    classifiers.Category `json:"category"`
	Description string               `json:"description"`
	Profile     classifiers.Profile  `json:"profile"`
	Downgrade   string               `json:"downgrade"`
	Detector    string               `json:"detector,omitempty"`
	Terms       int                  `json:"terms"`
}

func (a *admin) listCategories(c echo.Context) error {
	v, err := a.content(c)
	if err != nil {
		return err
	}
	out := []categorySummary{}
	for _, p := range v.Content.Packs {
		out = append(out, categorySummary{Category: p.Category, Description: p.Description, Profile: p.Profile, Downgrade: p.Downgrade, Detector: p.Detector, Terms: len(p.Terms) + len(p.Keywords)})
	}
	return c.JSON(http.StatusOK, map[string]any{"version": v.ID, "categories": out})
}

// searchTerms filters a pack's terms by a case-insensitive substring.
func searchTerms(p classifiers.Pack, q string) []classifiers.Term {
	q = strings.ToLower(strings.TrimSpace(q))
	out := []classifiers.Term{}
	for _, t := range p.Terms {
		if q == "" || strings.Contains(strings.ToLower(t.Text), q) {
			out = append(out, t)
		}
	}
	return out
}

func (a *admin) getCategory(c echo.Context) error {
	v, err := a.content(c)
	if err != nil {
		return err
	}
	i := v.Content.Pack(classifiers.Category(c.Param("category")))
	if i < 0 {
		return backend.Errorf(backend.ENOTFOUND, "admin.no_category", "Category", c.Param("category"))
	}
	p := v.Content.Packs[i]
	p.Terms = searchTerms(p, c.QueryParam("q"))
	return c.JSON(http.StatusOK, map[string]any{"version": v.ID, "category": p})
}

func (a *admin) addCategory(c echo.Context) error {
	var b struct {
		editBody
		Category classifiers.Pack `json:"category"`
	}
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	return a.edit(c, b.editBody, rules.Op{Kind: rules.OpAddCategory, Pack: &b.Category})
}

func (a *admin) updateCategory(c echo.Context) error {
	var b struct {
		editBody
		Profile     classifiers.Profile `json:"profile"`
		Downgrade   string              `json:"downgrade"`
		Description *string             `json:"description"`
	}
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	return a.edit(c, b.editBody, rules.Op{Kind: rules.OpUpdateCategory, Category: classifiers.Category(c.Param("category")),
		TargetProfile: b.Profile, Downgrade: b.Downgrade, Description: b.Description})
}

func (a *admin) setDowngrade(c echo.Context) error {
	var b struct {
		editBody
		Downgrade string `json:"downgrade"`
	}
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if b.Downgrade == "" {
		return &backend.Error{Code: backend.EINVALID, Key: "admin.no_downgrade", Field: "downgrade"}
	}
	return a.edit(c, b.editBody, rules.Op{Kind: rules.OpUpdateCategory, Category: classifiers.Category(c.Param("category")), Downgrade: b.Downgrade})
}

func (a *admin) removeCategory(c echo.Context) error {
	var b editBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	return a.edit(c, b, rules.Op{Kind: rules.OpRemoveCategory, Category: classifiers.Category(c.Param("category"))})
}

type termBody struct {
	editBody
	Term *classifiers.Term `json:"term"`
	Old  *rules.TermRef    `json:"old"`
}

func (a *admin) termOp(c echo.Context, kind string) error {
	var b termBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	op := rules.Op{Kind: kind, Category: classifiers.Category(c.Param("category")), Term: b.Term, Old: b.Old}
	if kind == rules.OpRemoveTerm && op.Old == nil && b.Term != nil {
		op.Old = &rules.TermRef{Text: b.Term.Text, Lang: b.Term.Lang}
	}
	return a.edit(c, b.editBody, op)
}

func (a *admin) addTerm(c echo.Context) error    { return a.termOp(c, rules.OpAddTerm) }
func (a *admin) updateTerm(c echo.Context) error { return a.termOp(c, rules.OpUpdateTerm) }
func (a *admin) removeTerm(c echo.Context) error { return a.termOp(c, rules.OpRemoveTerm) }

func (a *admin) getDomains(c echo.Context) error {
	v, err := a.content(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"version": v.ID, "internal": v.Content.InternalDomains, "free_mail": v.Content.FreeMailDomains})
}

func (a *admin) setDomains(kind string) echo.HandlerFunc {
	return func(c echo.Context) error {
		var b struct {
			editBody
			Domains []string `json:"domains"`
		}
		if err := decodeJSON(c, &b); err != nil {
			return err
		}
		if b.Domains == nil {
			return &backend.Error{Code: backend.EINVALID, Key: "admin.no_domains", Field: "domains"}
		}
		return a.edit(c, b.editBody, rules.Op{Kind: kind, Domains: b.Domains})
	}
}

func (a *admin) getProfiles(c echo.Context) error {
	v, err := a.content(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"version": v.ID, "profiles": v.Content.Profiles, "cells": rules.CellNames()})
}

func (a *admin) setCells(c echo.Context) error {
	var b struct {
		editBody
		Cells map[string]json.RawMessage `json:"cells"`
	}
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	return a.edit(c, b.editBody, rules.Op{Kind: rules.OpSetCells, Profile: classifiers.Profile(c.Param("profile")), Cells: b.Cells})
}

func (a *admin) listVersions(c echo.Context) error {
	vs, err := a.rules.Versions(c.Request().Context(), 200)
	if err != nil {
		return err
	}
	h, err := a.rules.Head(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"versions": vs, "active": a.rules.Active(), "head": h})
}

func (a *admin) getVersion(c echo.Context) error {
	id, err := pathVersion(c)
	if err != nil {
		return err
	}
	v, err := a.rules.Get(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"version": v, "active": a.rules.Active()})
}

// diffAgainst compares version id with ?against= (default its parent).
func (a *admin) diffAgainst(ctx context.Context, id, against rules.Version) (rules.Diff, error) {
	to, err := a.rules.Get(ctx, id)
	if err != nil {
		return rules.Diff{}, err
	}
	if against == 0 {
		against = to.Parent
	}
	from := to
	if against != 0 {
		if from, err = a.rules.Get(ctx, against); err != nil {
			return rules.Diff{}, err
		}
	}
	d := rules.DiffContent(*from.Content, *to.Content)
	d.From, d.To = from.ID, to.ID
	return d, nil
}

func (a *admin) diffVersion(c echo.Context) error {
	id, err := pathVersion(c)
	if err != nil {
		return err
	}
	var against int64
	if q := c.QueryParam("against"); q != "" {
		if q == "active" {
			against = int64(a.rules.Active())
		} else if against, err = strconv.ParseInt(q, 10, 64); err != nil || against <= 0 {
			return &backend.Error{Code: backend.EINVALID, Key: "admin.bad_version", Field: "against"}
		}
	}
	d, err := a.diffAgainst(c.Request().Context(), id, rules.Version(against))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, d)
}

func (a *admin) exportVersion(c echo.Context) error {
	id, err := pathVersion(c)
	if err != nil {
		return err
	}
	v, err := a.rules.Get(c.Request().Context(), id)
	if err != nil {
		return err
	}
	packs := v.Content.Packs
	name := "motesvakt-rules-v" + strconv.FormatInt(int64(id), 10)
	if cat := c.QueryParam("category"); cat != "" {
		i := v.Content.Pack(classifiers.Category(cat))
		if i < 0 {
			return backend.Errorf(backend.ENOTFOUND, "admin.no_category", "Category", cat)
		}
		packs = packs[i : i+1]
		name = cat + "-v" + strconv.FormatInt(int64(id), 10)
	}
	b, err := rules.ExportPacks(packs)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Content-Disposition", `attachment; filename="`+name+`.yaml"`)
	return c.Blob(http.StatusOK, "application/yaml; charset=utf-8", b)
}

func (a *admin) importPacks(c echo.Context) error {
	var b struct {
		editBody
		YAML string `json:"yaml"`
	}
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	packs, err := rules.ImportPacks([]byte(b.YAML))
	if err != nil {
		return err
	}
	return a.edit(c, b.editBody, rules.Op{Kind: rules.OpImport, Packs: packs})
}

// transition runs one activation-type change and answers with the version.
func (a *admin) transition(c echo.Context, fn func(ctx context.Context, tx *sql.Tx) (*rules.RuleVersion, error)) error {
	ctx := c.Request().Context()
	var v *rules.RuleVersion
	err := a.rules.Update(ctx, func(tx *sql.Tx) error {
		var err error
		v, err = fn(ctx, tx)
		return err
	})
	if err != nil {
		var ve *classifiers.ValidationError
		if errors.As(err, &ve) {
			return a.editError(c, err)
		}
		return err
	}
	v.Content = nil
	return c.JSON(http.StatusOK, map[string]any{"version": v, "active": a.rules.Active()})
}

func (a *admin) activate(c echo.Context) error {
	id, err := pathVersion(c)
	if err != nil {
		return err
	}
	return a.transition(c, func(ctx context.Context, tx *sql.Tx) (*rules.RuleVersion, error) {
		return a.rules.Activate(ctx, tx, a.actor(c), id, a.now(), nil)
	})
}

func (a *admin) rollback(c echo.Context) error {
	return a.transition(c, func(ctx context.Context, tx *sql.Tx) (*rules.RuleVersion, error) {
		return a.rules.Rollback(ctx, tx, a.actor(c), a.now())
	})
}

func (a *admin) schedule(c echo.Context) error {
	id, err := pathVersion(c)
	if err != nil {
		return err
	}
	var b struct {
		EffectiveAt time.Time `json:"effective_at"`
	}
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	return a.transition(c, func(ctx context.Context, tx *sql.Tx) (*rules.RuleVersion, error) {
		return a.rules.Schedule(ctx, tx, a.actor(c), id, b.EffectiveAt, a.now())
	})
}

func (a *admin) unschedule(c echo.Context) error {
	id, err := pathVersion(c)
	if err != nil {
		return err
	}
	return a.transition(c, func(ctx context.Context, tx *sql.Tx) (*rules.RuleVersion, error) {
		return a.rules.Unschedule(ctx, tx, a.actor(c), id, a.now())
	})
}

func (a *admin) testBench(c echo.Context) error {
	var b struct {
		Version rules.Version     `json:"version"`
		Event   classifiers.Event `json:"event"`
	}
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	v, err := a.version(c, b.Version)
	if err != nil {
		return err
	}
	res, err := a.rules.TestBench(c.Request().Context(), v, b.Event, Lang(c))
	if err != nil {
		return eventError(err, Lang(c))
	}
	return c.JSON(http.StatusOK, res)
}

// eventError turns a classifiers input error into a localized EINVALID.
func eventError(err error, lang locales.Lang) error {
	var ie *classifiers.InputError
	if errors.As(err, &ie) {
		_, msg := classifiers.Describe(err, lang)
		return &backend.Error{Code: backend.EINVALID, Key: "admin.bad_event", Args: []any{"Detail", msg}, Field: ie.Field, Err: err}
	}
	return err
}

func (a *admin) dryRun(c echo.Context) error {
	var b struct {
		Version rules.Version `json:"version"`
		Days    int           `json:"days"`
	}
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if b.Days < 0 || b.Days > 366 {
		return &backend.Error{Code: backend.EINVALID, Key: "admin.bad_days", Field: "days"}
	}
	v, err := a.version(c, b.Version)
	if err != nil {
		return err
	}
	rep, err := a.rules.DryRun(c.Request().Context(), v, b.Days, a.now(), Lang(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, rep)
}

func (a *admin) measurement(c echo.Context) error {
	days, err := queryDays(c)
	if err != nil {
		return err
	}
	m, err := rules.Measure(c.Request().Context(), a.s.DB().SQL(), a.now().Add(-time.Duration(days)*24*time.Hour))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, m)
}

func queryDays(c echo.Context) (int, error) {
	days := 30
	if q := c.QueryParam("days"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n <= 0 || n > 3660 {
			return 0, &backend.Error{Code: backend.EINVALID, Key: "admin.bad_days", Field: "days"}
		}
		days = n
	}
	return days, nil
}
