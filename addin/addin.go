// Package addin holds the calendar add-ins' static files: the Outlook
// add-in (manifests, event-handler bundle, icons) and the Google Workspace
// add-on deployment. The backend serves them under /addin/; manifests are
// templates rendered with the deployment's public URL.
package addin

import (
	"bytes"
	"embed"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io/fs"
	"net/url"
	"strings"
	"text/template"
)

//go:embed outlook google
var files embed.FS

// Files returns the tree (outlook/…, google/…).
func Files() fs.FS { return files }

// Params fill the manifest templates.
type Params struct {
	// Base is the backend's public URL without a trailing slash; it must be
	// https in production (Office and Google refuse plain http).
	Base string
	// AddinID is the Outlook add-in's GUID (stable across versions).
	AddinID string
	// AppID is the Entra app registration's client ID, AppIDURI its
	// Application ID URI (api://<host>/<client id>).
	AppID, AppIDURI string
	Version         string
	Provider        string
	// OfficeJS is the Office.js URL the pages load.
	OfficeJS string
}

// templated names the files rendered rather than served as they are.
var templated = map[string]bool{
	"outlook/manifest.xml": true, "outlook/manifest.json": true, "outlook/commands.html": true, "google/deployment.json": true,
}

// Templated reports whether name must go through Render.
func Templated(name string) bool { return templated[name] }

func xmlEsc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

func jsonStr(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Render executes one templated file. XML files get XML-escaped values,
// JSON files JSON string literals, so no parameter can break the document.
func Render(name string, p Params) ([]byte, error) {
	if !templated[name] {
		return nil, fmt.Errorf("addin: %s is not a template", name)
	}
	if p.Version == "" {
		p.Version = "1.0.0.0"
	}
	if p.Provider == "" {
		p.Provider = "Mötesvakt"
	}
	if p.OfficeJS == "" {
		p.OfficeJS = "https://appsforoffice.microsoft.com/lib/1/hosted/office.js"
	}
	p.Base = strings.TrimRight(p.Base, "/")
	u, err := url.Parse(p.Base)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("addin: public URL %q is not absolute", p.Base)
	}
	src, err := fs.ReadFile(files, name)
	if err != nil {
		return nil, err
	}
	t, err := template.New(name).Option("missingkey=error").Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("addin: parse %s: %w", name, err)
	}
	var data map[string]string
	// The manifest's numeric version must have 1–4 dot-separated numbers.
	vparts := strings.Split(p.Version, ".")
	for len(vparts) < 3 {
		vparts = append(vparts, "0")
	}
	plain := map[string]string{
		"Base": p.Base, "AddinID": p.AddinID, "AppID": p.AppID, "AppIDURI": p.AppIDURI, "Version": p.Version, "Provider": p.Provider,
		"Host": u.Host, "OfficeJS": p.OfficeJS, "Privacy": p.Base + "/", "Terms": p.Base + "/",
		"CommandsPage": p.Base + "/addin/outlook/commands.html", "CommandsScript": p.Base + "/addin/outlook/commands.js",
		"TaskPane": p.Base + "/addin/outlook/taskpane.html",
		"Icon16":   p.Base + "/addin/outlook/icon-16.png", "Icon32": p.Base + "/addin/outlook/icon-32.png", "Icon80": p.Base + "/addin/outlook/icon-80.png", "Icon128": p.Base + "/addin/outlook/icon-128.png",
		"GoogleHome": p.Base + "/addin/google/home", "GoogleOpen": p.Base + "/addin/google/event-open", "GoogleUpdate": p.Base + "/addin/google/event-update",
	}
	data = map[string]string{}
	for k, v := range plain {
		data[k] = xmlEsc(v)
		data[k+"JSON"] = jsonStr(v)
	}
	data["VersionJSON"] = jsonStr(strings.Join(vparts[:3], "."))
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return nil, fmt.Errorf("addin: render %s: %w", name, err)
	}
	return buf.Bytes(), nil
}
