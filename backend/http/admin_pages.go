package http

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/motesvakt/motesvakt/backend/rules"
	"github.com/motesvakt/motesvakt/classifiers"
	"github.com/motesvakt/motesvakt/locales"
)

// adminData is the payload of every admin page; View picks the section.
type adminData struct {
	View     string
	Active   rules.Version
	Head     rules.Version
	Version  *rules.RuleVersion
	Profiles []classifiers.Profile

	Categories []categorySummary
	Category   *classifiers.Pack
	Query      string
	Terms      []classifiers.Term
	Internal   string
	FreeMail   string
	Builtin    bool

	Cells []cellRow

	Versions []rules.RuleVersion
	Diff     *diffView
	DiffAct  *diffView
	Buckets  []string

	Days       int
	Report     *rules.DryRunReport
	KeepDrafts int // days; -1 when storage is off

	Measure *rules.Measurement
}

// diffView carries the printer into the diff sub-template.
type diffView struct {
	P *locales.Printer
	D *rules.Diff
}

// cellRow is one row of the profile table editor.
type cellRow struct {
	Name    string
	Kind    string // enum, bool, int
	Options []string
	Values  []cellValue
}

type cellValue struct {
	Profile classifiers.Profile
	Value   string
	Checked bool
}

// adminMessages are the strings admin.js shows; everything else is in the
// server-rendered page.
var adminMessages = []string{"admin.js.saved", "admin.js.rebase", "admin.js.error", "admin.js.field.subject", "admin.js.field.body",
	"admin.js.field.location", "admin.js.field.attendees", "admin.js.no_findings", "admin.js.same_profile", "admin.js.changed_profile",
	"admin.js.gained", "admin.js.lost", "admin.js.confirm_activate", "admin.js.confirm_rollback", "admin.js.confirm_delete", "admin.js.no_changes",
	"admin.bench.candidate", "admin.bench.active", "classify.profile.open", "classify.profile.internal", "classify.profile.protected"}

func (a *admin) routesPages() {
	g := a.s.echo.Group("/admin", a.guard)
	g.GET("", a.pageIndex)
	g.GET("/rules", a.pageRules)
	g.GET("/profiles", a.pageProfiles)
	g.GET("/versions", a.pageVersions)
	g.GET("/versions/:id", a.pageVersion)
	g.GET("/testbench", a.pageTestBench)
	g.GET("/dryrun", a.pageDryRun)
	g.GET("/measurement", a.pageMeasurement)
}

func (a *admin) pageData(c echo.Context, view string) (*adminData, error) {
	h, err := a.rules.Head(c.Request().Context())
	if err != nil {
		return nil, err
	}
	return &adminData{View: view, Active: a.rules.Active(), Head: h, Profiles: classifiers.Profiles}, nil
}

func (a *admin) renderAdmin(c echo.Context, titleKey string, d *adminData) error {
	lang := Lang(c)
	p := a.s.page(c, locales.T(lang, titleKey))
	p.Data = d
	p.Script = "admin.js"
	p.Messages = map[string]string{}
	for _, k := range adminMessages {
		p.Messages[k] = locales.T(lang, k)
	}
	p.Boot = map[string]any{"view": d.View, "head": d.Head, "active": d.Active}
	return a.s.render(c, "admin", p)
}

func (a *admin) pageIndex(c echo.Context) error {
	d, err := a.pageData(c, "index")
	if err != nil {
		return err
	}
	if d.Versions, err = a.rules.Versions(c.Request().Context(), 10); err != nil {
		return err
	}
	return a.renderAdmin(c, "admin.title", d)
}

func (a *admin) pageRules(c echo.Context) error {
	d, err := a.pageData(c, "rules")
	if err != nil {
		return err
	}
	if d.Version, err = a.content(c); err != nil {
		return err
	}
	for _, p := range d.Version.Content.Packs {
		d.Categories = append(d.Categories, categorySummary{Category: p.Category, Description: p.Description, Profile: p.Profile, Downgrade: p.Downgrade, Detector: p.Detector, Terms: len(p.Terms) + len(p.Keywords)})
	}
	cat := classifiers.Category(c.QueryParam("category"))
	if cat == "" && len(d.Categories) > 0 {
		cat = d.Categories[0].Category
	}
	if i := d.Version.Content.Pack(cat); i >= 0 {
		p := d.Version.Content.Packs[i]
		d.Category = &p
		d.Query = c.QueryParam("q")
		d.Terms = searchTerms(p, d.Query)
	}
	d.Internal = strings.Join(d.Version.Content.InternalDomains, "\n")
	d.FreeMail = strings.Join(d.Version.Content.FreeMailDomains, "\n")
	d.Builtin = d.Version.Content.FreeMailDomains == nil
	return a.renderAdmin(c, "admin.rules.title", d)
}

func (a *admin) pageProfiles(c echo.Context) error {
	d, err := a.pageData(c, "profiles")
	if err != nil {
		return err
	}
	if d.Version, err = a.content(c); err != nil {
		return err
	}
	for _, name := range rules.CellNames() {
		row := cellRow{Name: name, Options: rules.CellOptions[name], Kind: "enum"}
		for _, p := range classifiers.Profiles {
			raw := rules.Cells(d.Version.Content.Profiles[p])[name]
			v := cellValue{Profile: p, Value: string(raw)}
			switch {
			case string(raw) == "true" || string(raw) == "false":
				row.Kind, v.Checked = "bool", string(raw) == "true"
			case len(raw) > 0 && raw[0] == '"':
				json.Unmarshal(raw, &v.Value)
			default:
				row.Kind = "int"
			}
			row.Values = append(row.Values, v)
		}
		d.Cells = append(d.Cells, row)
	}
	return a.renderAdmin(c, "admin.profiles.title", d)
}

func (a *admin) pageVersions(c echo.Context) error {
	d, err := a.pageData(c, "versions")
	if err != nil {
		return err
	}
	if d.Versions, err = a.rules.Versions(c.Request().Context(), 200); err != nil {
		return err
	}
	return a.renderAdmin(c, "admin.versions.title", d)
}

func (a *admin) pageVersion(c echo.Context) error {
	d, err := a.pageData(c, "version")
	if err != nil {
		return err
	}
	id, err := pathVersion(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if d.Version, err = a.rules.Get(ctx, id); err != nil {
		return err
	}
	diff, err := a.diffAgainst(ctx, id, 0)
	if err != nil {
		return err
	}
	d.Diff = &diffView{P: locales.For(Lang(c)), D: &diff}
	if d.Active != id && d.Active != d.Version.Parent {
		da, err := a.diffAgainst(ctx, id, d.Active)
		if err != nil {
			return err
		}
		d.DiffAct = &diffView{P: locales.For(Lang(c)), D: &da}
	}
	return a.renderAdmin(c, "admin.version.title", d)
}

func (a *admin) pageTestBench(c echo.Context) error {
	d, err := a.pageData(c, "testbench")
	if err != nil {
		return err
	}
	if d.Versions, err = a.rules.Versions(c.Request().Context(), 50); err != nil {
		return err
	}
	return a.renderAdmin(c, "admin.bench.title", d)
}

func (a *admin) pageDryRun(c echo.Context) error {
	d, err := a.pageData(c, "dryrun")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if d.Versions, err = a.rules.Versions(ctx, 50); err != nil {
		return err
	}
	d.KeepDrafts = -1
	if k := a.rules.KeepDrafts(); k > 0 {
		d.KeepDrafts = int(k / (24 * time.Hour))
	}
	if d.Days, err = queryDays(c); err != nil {
		return err
	}
	if c.QueryParam("version") != "" {
		v, err := a.version(c, 0)
		if err != nil {
			return err
		}
		if d.Report, err = a.rules.DryRun(ctx, v, d.Days, a.now(), Lang(c)); err != nil {
			return err
		}
	}
	return a.renderAdmin(c, "admin.dryrun.title", d)
}

func (a *admin) pageMeasurement(c echo.Context) error {
	d, err := a.pageData(c, "measurement")
	if err != nil {
		return err
	}
	if d.Days, err = queryDays(c); err != nil {
		return err
	}
	d.Buckets = rules.ExternalBuckets
	if d.Measure, err = rules.Measure(c.Request().Context(), a.s.DB().SQL(), a.now().Add(-time.Duration(d.Days)*24*time.Hour)); err != nil {
		return err
	}
	return a.renderAdmin(c, "admin.measure.title", d)
}
