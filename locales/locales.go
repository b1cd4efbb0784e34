// Package locales holds Mötesvakt's Swedish and English message catalogs and
// the helpers that pick a language and render a message.
//
// Catalogs live in sv/*.yaml and en/*.yaml, one file per area of the product
// (common, auth, classify, meeting, room, admin…), so parts of the code base
// can add messages without touching each other's files. Every key must exist
// in both languages; TestCatalogParity enforces it.
//
// Message values are go-i18n templates: "Hej {{.Name}}". A plural message is a
// map with the CLDR forms Swedish and English use: {one: "…", other: "…"}.
package locales

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"go.yaml.in/yaml/v3"
	"golang.org/x/text/language"
)

// Lang is a supported UI language code.
type Lang string

const (
	Swedish Lang = "sv"
	English Lang = "en"
)

// Default is the language used when nothing else is known. Swedish first.
const Default = Swedish

// Supported lists the languages in order of preference.
var Supported = []Lang{Swedish, English}

//go:embed sv/*.yaml en/*.yaml
var catalogFS embed.FS

var (
	loadOnce sync.Once
	bundle   *i18n.Bundle
	loadErr  error
	matcher  = language.NewMatcher([]language.Tag{language.Swedish, language.English})
)

func load() {
	bundle = i18n.NewBundle(language.Swedish)
	bundle.RegisterUnmarshalFunc("yaml", yaml.Unmarshal)
	for _, l := range Supported {
		entries, err := fs.ReadDir(catalogFS, string(l))
		if err != nil {
			loadErr = err
			return
		}
		for _, e := range entries {
			p := path.Join(string(l), e.Name())
			buf, err := catalogFS.ReadFile(p)
			if err != nil {
				loadErr = err
				return
			}
			// go-i18n derives the language from the file name: area.sv.yaml.
			name := strings.TrimSuffix(e.Name(), ".yaml") + "." + string(l) + ".yaml"
			if _, err := bundle.ParseMessageFileBytes(buf, name); err != nil {
				loadErr = fmt.Errorf("locales: %s: %w", p, err)
				return
			}
		}
	}
}

func mustBundle() *i18n.Bundle {
	loadOnce.Do(load)
	if loadErr != nil {
		// The catalogs are embedded and checked by tests; failing here means
		// the binary itself was built from broken files.
		panic(loadErr)
	}
	return bundle
}

// Parse returns the supported language closest to s ("sv-SE" → sv), or
// Default when s names nothing we speak.
func Parse(s string) Lang {
	return Negotiate("", s)
}

// Valid reports whether s is exactly one of the supported language codes.
func Valid(s string) bool {
	for _, l := range Supported {
		if string(l) == s {
			return true
		}
	}
	return false
}

// Negotiate picks a language from an Accept-Language header, giving an
// explicit user preference (cookie, profile setting, ?lang=) priority.
func Negotiate(acceptLanguage string, preference ...string) Lang {
	for _, p := range preference {
		if p == "" {
			continue
		}
		if tags, _, err := language.ParseAcceptLanguage(p); err == nil && len(tags) > 0 {
			if _, idx, conf := matcher.Match(tags...); conf != language.No {
				return Supported[idx]
			}
		}
	}
	if acceptLanguage != "" {
		if tags, _, err := language.ParseAcceptLanguage(acceptLanguage); err == nil && len(tags) > 0 {
			if _, idx, conf := matcher.Match(tags...); conf != language.No {
				return Supported[idx]
			}
		}
	}
	return Default
}

// Printer renders messages in one language.
type Printer struct {
	lang Lang
	loc  *i18n.Localizer
}

var (
	printersMu sync.Mutex
	printers   = map[Lang]*Printer{}
)

// For returns the printer for a language; unknown languages get Default.
func For(l Lang) *Printer {
	if !Valid(string(l)) {
		l = Default
	}
	printersMu.Lock()
	defer printersMu.Unlock()
	if p, ok := printers[l]; ok {
		return p
	}
	p := &Printer{lang: l, loc: i18n.NewLocalizer(mustBundle(), string(l))}
	printers[l] = p
	return p
}

// Lang is the printer's language.
func (p *Printer) Lang() Lang { return p.lang }

// T renders key with optional template data given as alternating name/value
// pairs: T("meeting.created", "Title", t). A missing key renders as the key
// itself in brackets, so a gap shows up in the UI instead of crashing it; the
// parity test keeps that from reaching users.
func (p *Printer) T(key string, kv ...any) string {
	s, err := p.loc.Localize(&i18n.LocalizeConfig{MessageID: key, TemplateData: pairs(kv)})
	if err != nil {
		return "[" + key + "]"
	}
	return s
}

// N renders a plural message for count n; the template also sees {{.Count}}.
func (p *Printer) N(key string, n int, kv ...any) string {
	data := pairs(kv)
	data["Count"] = n
	s, err := p.loc.Localize(&i18n.LocalizeConfig{MessageID: key, PluralCount: n, TemplateData: data})
	if err != nil {
		return "[" + key + "]"
	}
	return s
}

// Has reports whether key exists in the printer's language.
func (p *Printer) Has(key string) bool {
	if _, err := p.loc.Localize(&i18n.LocalizeConfig{MessageID: key}); err == nil {
		return true
	}
	_, err := p.loc.Localize(&i18n.LocalizeConfig{MessageID: key, PluralCount: 1})
	return err == nil
}

// T is a shorthand for For(l).T(key, kv...).
func T(l Lang, key string, kv ...any) string { return For(l).T(key, kv...) }

func pairs(kv []any) map[string]any {
	m := make(map[string]any, len(kv)/2+1)
	for i := 0; i+1 < len(kv); i += 2 {
		if k, ok := kv[i].(string); ok {
			m[k] = kv[i+1]
		}
	}
	return m
}

// Keys returns every message key of a language, sorted. Used by tests and by
// the web layer to ship a page's strings to its ES module.
func Keys(l Lang) ([]string, error) {
	entries, err := fs.ReadDir(catalogFS, string(l))
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, e := range entries {
		buf, err := catalogFS.ReadFile(path.Join(string(l), e.Name()))
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := yaml.Unmarshal(buf, &m); err != nil {
			return nil, fmt.Errorf("locales: %s/%s: %w", l, e.Name(), err)
		}
		for k := range m {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys, nil
}

// Messages renders every key with one of the given prefixes (e.g. "room.") for
// shipping to browser code as JSON. {{.Count}} becomes the placeholder
// "{count}"; a plural message ships its "other" form under key and, when it
// differs, its "one" form under key+".one". Browser strings take no other
// template data.
func (p *Printer) Messages(prefixes ...string) map[string]string {
	keys, err := Keys(p.lang)
	if err != nil {
		return nil
	}
	data := map[string]any{"Count": "{count}"}
	out := map[string]string{}
	for _, k := range keys {
		match := false
		for _, prefix := range prefixes {
			match = match || strings.HasPrefix(k, prefix)
		}
		if !match {
			continue
		}
		other, err := p.loc.Localize(&i18n.LocalizeConfig{MessageID: k, PluralCount: 2, TemplateData: data})
		if err != nil {
			continue
		}
		out[k] = other
		if one, err := p.loc.Localize(&i18n.LocalizeConfig{MessageID: k, PluralCount: 1, TemplateData: data}); err == nil && one != other {
			out[k+".one"] = one
		}
	}
	return out
}
