// Package web renders Mötesvakt's server-side pages and serves the small ES
// modules they load. Every user-visible string comes from locales; templates
// call {{.T "key"}}. Pages expose data-testid hooks (DESIGN.md) for tests.
package web

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"sync"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/locales"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Static returns the static asset tree (css/, js/).
func Static() fs.FS {
	sub, _ := fs.Sub(staticFS, "static")
	return sub
}

// Page is the data every template gets.
type Page struct {
	Lang    locales.Lang
	P       *locales.Printer
	Session *backend.Session
	// CSRF is the token for form posts of this session.
	CSRF string
	// Demo is true when the demo sign-in is active (shows the banner).
	Demo bool
	// Path is the request path, for the language switch.
	Path  string
	Title string
	// Data is the page's own payload.
	Data any
	// Script names an ES module under /static/js/ to load, if any.
	Script string
	// Messages are locale strings shipped to the page's script as JSON.
	Messages map[string]string
	// Boot is JSON-encodable state for the page's script.
	Boot any
}

// T renders a message in the page's language.
func (p *Page) T(key string, kv ...any) string { return p.P.T(key, kv...) }

// N renders a plural message.
func (p *Page) N(key string, n int, kv ...any) string { return p.P.N(key, n, kv...) }

// Other is the language the switch offers.
func (p *Page) Other() locales.Lang {
	if p.Lang == locales.Swedish {
		return locales.English
	}
	return locales.Swedish
}

// BootJSON is the script payload: messages and boot state.
func (p *Page) BootJSON() template.JS {
	b, err := json.Marshal(map[string]any{"lang": p.Lang, "messages": p.Messages, "state": p.Boot})
	if err != nil {
		return "{}"
	}
	return template.JS(b)
}

// Renderer holds the parsed templates.
type Renderer struct {
	once  sync.Once
	pages map[string]*template.Template
	err   error
}

var funcs = template.FuncMap{
	"json": func(v any) (template.JS, error) {
		b, err := json.Marshal(v)
		return template.JS(b), err
	},
}

func (r *Renderer) load() {
	r.pages = map[string]*template.Template{}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		r.err = err
		return
	}
	for _, n := range names {
		base := n[len("templates/"):]
		if base == "layout.html" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			r.err = fmt.Errorf("web: parse %s: %w", n, err)
			return
		}
		r.pages[base[:len(base)-len(".html")]] = t
	}
}

// Render writes page name with data. Rendering goes to a buffer first so a
// template error never leaves a half page.
func (r *Renderer) Render(w io.Writer, name string, p *Page) error {
	r.once.Do(r.load)
	if r.err != nil {
		return r.err
	}
	t, ok := r.pages[name]
	if !ok {
		return fmt.Errorf("web: no page %q", name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", p); err != nil {
		return fmt.Errorf("web: render %s: %w", name, err)
	}
	if hw, ok := w.(http.ResponseWriter); ok {
		hw.Header().Set("Content-Type", "text/html; charset=utf-8")
	}
	_, err := buf.WriteTo(w)
	return err
}

// Check parses every template; used at start-up and in tests.
func (r *Renderer) Check() error {
	r.once.Do(r.load)
	return r.err
}
