package http

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/motesvakt/motesvakt/addin"
	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/auth"
	"github.com/motesvakt/motesvakt/locales"
)

// AddinConfig configures the calendar add-ins.
type AddinConfig struct {
	// Outlook: the add-in's manifest GUID and the Entra app registration
	// (client ID and Application ID URI) whose tokens the add-in sends.
	OutlookAddinID string
	AppID          string
	AppIDURI       string
	Version        string
	// OfficeJS overrides the Office.js URL (tests serve a stand-in).
	OfficeJS string
	// Bearer verifies add-in tokens on /api/; nil disables bearer access.
	Bearer *auth.BearerVerifier

	// Google: the system-token verifier (nil disables the endpoints), the
	// add-on's OAuth client ID (audience of the user ID token) and the
	// Calendar API endpoint/transport (tests point them at a fake).
	Google              *auth.GoogleVerifier
	GoogleOAuthClientID string
	GoogleCalendarURL   string
	GoogleHTTPClient    *http.Client
}

// WithAddins serves the Outlook add-in and the Google Workspace add-on,
// accepts add-in bearer tokens on /api/, and provides the classify and
// provision API for add-ins when no other feature registered it.
func WithAddins(cfg AddinConfig, svc backend.MeetingService) Option {
	return func(s *Server) {
		a := &addins{s: s, cfg: cfg, svc: svc}
		a.routes()
	}
}

type addins struct {
	s   *Server
	cfg AddinConfig
	svc backend.MeetingService
}

func (a *addins) params() addin.Params {
	base := ""
	if a.s.cfg.PublicURL != nil {
		base = strings.TrimRight(a.s.cfg.PublicURL.String(), "/")
	}
	return addin.Params{Base: base, AddinID: a.cfg.OutlookAddinID, AppID: a.cfg.AppID, AppIDURI: a.cfg.AppIDURI, Version: a.cfg.Version, OfficeJS: a.cfg.OfficeJS}
}

func (a *addins) routes() {
	e := a.s.echo
	e.Use(a.bearer)
	e.GET("/addin/outlook/taskpane.html", a.taskPane)
	e.GET("/addin/outlook/commands.js", a.commandsJS)
	e.GET("/addin/outlook/:file", a.outlookFile)
	e.GET("/addin/google/deployment.json", a.googleDeployment)
	e.GET("/.well-known/microsoft-officeaddins-allowed.json", a.wellKnown)
	a.apiRoutes()
	a.googleRoutes()
}

// outlookFile serves the embedded files; manifests and the runtime page
// are rendered with the public URL.
func (a *addins) outlookFile(c echo.Context) error {
	name := "outlook/" + path.Base(c.Param("file"))
	var body []byte
	var err error
	if addin.Templated(name) {
		body, err = addin.Render(name, a.params())
	} else {
		body, err = fs.ReadFile(addin.Files(), name)
		if err != nil || strings.HasSuffix(name, ".go") {
			return backend.Errorf(backend.ENOTFOUND, "error.not_found")
		}
	}
	if err != nil {
		return err
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if path.Ext(name) == ".xml" {
		ct = "text/xml; charset=utf-8"
	}
	c.Response().Header().Set("Cache-Control", "no-cache")
	return c.Blob(http.StatusOK, ct, body)
}

func (a *addins) googleDeployment(c echo.Context) error {
	body, err := addin.Render("google/deployment.json", a.params())
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "application/json", body)
}

// wellKnown lets classic Outlook on Windows run commands.js with SSO and
// CORS (learn.microsoft.com use-sso-in-event-based-activation).
func (a *addins) wellKnown(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string][]string{"allowed": {a.params().Base + "/addin/outlook/commands.js"}})
}

// addinMessages are the strings the add-in scripts use, per language.
func addinMessages(l locales.Lang) map[string]string {
	p := locales.For(l)
	m := map[string]string{}
	keys := []string{"addin.title", "addin.loading", "addin.suggested", "addin.reasons", "addin.no_reasons", "addin.external", "addin.choose",
		"addin.accept", "addin.apply", "addin.reason_label", "addin.forbidden_hint", "addin.chosen", "addin.notify", "addin.send_check",
		"addin.send_unavailable", "addin.provisioned", "addin.error.reason_required", "addin.error.downgrade_forbidden", "addin.error.network",
		"addin.error.auth", "addin.writeback.codes",
		"addin.field.subject", "addin.field.body", "addin.field.location", "addin.field.attendees"}
	for _, k := range keys {
		m[k] = p.T(k)
	}
	// Messages with data keep their placeholders so the scripts fill them:
	// each placeholder is rendered as itself.
	for k, names := range map[string][]string{"addin.external": {"Domains"}, "addin.chosen": {"Profile"}, "addin.notify": {"Profile"},
		"addin.send_check": {"Profile"}, "addin.provisioned": {"Profile"}, "addin.writeback.profile": {"Profile"}, "addin.writeback.join": {"URL"}} {
		var kv []any
		for _, n := range names {
			kv = append(kv, n, "{{."+n+"}}")
		}
		m[k] = p.T(k, kv...)
	}
	for _, pr := range []string{"open", "internal", "protected"} {
		m["classify.profile."+pr] = p.T("classify.profile." + pr)
	}
	for _, cat := range []string{"hr", "procurement", "incident", "personal_data", "security", "personal_id", "public"} {
		m["classify.category."+cat] = p.T("classify.category." + cat)
	}
	return m
}

// commandsJS is the event-handler bundle with its configuration in front:
// classic Outlook runs this one file and can fetch nothing else first.
func (a *addins) commandsJS(c echo.Context) error {
	src, err := fs.ReadFile(addin.Files(), "outlook/commands.js")
	if err != nil {
		return err
	}
	cfg, err := json.Marshal(map[string]any{
		"api":      a.params().Base,
		"messages": map[string]map[string]string{"sv": addinMessages(locales.Swedish), "en": addinMessages(locales.English)},
	})
	if err != nil {
		return err
	}
	var b bytes.Buffer
	b.WriteString("var MOTESVAKT_CONFIG = ")
	b.Write(cfg)
	b.WriteString(";\n")
	b.Write(src)
	c.Response().Header().Set("Cache-Control", "no-cache")
	return c.Blob(http.StatusOK, "text/javascript; charset=utf-8", b.Bytes())
}

func (a *addins) taskPane(c echo.Context) error {
	p := a.s.page(c, locales.T(Lang(c), "addin.title"))
	p.Script = "addin_taskpane.js"
	p.Messages = addinMessages(Lang(c))
	officeJS := a.cfg.OfficeJS
	if officeJS == "" {
		officeJS = "https://appsforoffice.microsoft.com/lib/1/hosted/office.js"
	}
	p.Boot = map[string]any{"office_js": officeJS}
	return a.s.render(c, "addin_taskpane", p)
}
