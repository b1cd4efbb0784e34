package classifiers

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/motesvakt/motesvakt/locales"
)

// Category names a kind of sensitive (or public) content.
type Category string

const (
	CategoryHR           Category = "hr"
	CategoryProcurement  Category = "procurement"
	CategoryIncident     Category = "incident"
	CategoryPersonalData Category = "personal_data"
	CategorySecurity     Category = "security"
	CategoryPersonalID   Category = "personal_id"
	CategoryPublic       Category = "public"
)

// Categories lists the built-in categories in display order. Admins may
// add their own categories in packs; they then need their own locales key
// classify.category.<name> or the explanation falls back to the raw name.
var Categories = []Category{CategoryHR, CategoryProcurement, CategoryIncident,
	CategoryPersonalData, CategorySecurity, CategoryPersonalID, CategoryPublic}

// MatchMode says how a term may appear in text.
type MatchMode string

const (
	// MatchToken: the term is a whole token (or tokens), delimited by
	// non-letters. Required for short acronyms: "hr" matches "HR-möte" but
	// not "Ahrén", "Christmas" or "three".
	MatchToken MatchMode = "token"
	// MatchPrefix: the term starts a token and may be followed by an
	// inflection ("anbud" → "anbuden") or, for Swedish, a compound tail
	// ("brott" → "brottsutredning"), but never sits inside another word
	// ("avbrott" is not a match).
	MatchPrefix MatchMode = "prefix"
	// MatchStem: like prefix, and for Swedish terms also as the tail of a
	// closed compound ("säkerhetsincident", "dataintrång"). English terms
	// never match inside a word ("tender" does not match "attender").
	MatchStem MatchMode = "stem"
)

// Lang is the language of a term; it selects inflection suffixes and
// whether closed compounds are considered.
const (
	LangSwedish = "sv"
	LangEnglish = "en"
)

// Downgrade policies: may a host pick a lower profile than suggested?
const (
	DowngradeAllowedWithReason = "allowed_with_reason"
	DowngradeForbidden         = "forbidden"
)

// Term is one keyword of a pack.
type Term struct {
	Text   string    `json:"text" yaml:"text"`
	Lang   string    `json:"lang" yaml:"lang"`
	Match  MatchMode `json:"match" yaml:"match"`
	Weight float64   `json:"weight" yaml:"weight"`
}

// Pack is one category's rules, stored as one YAML file.
type Pack struct {
	Category    Category `json:"category" yaml:"category"`
	Description string   `json:"description,omitempty" yaml:"description,omitempty"`
	Profile     Profile  `json:"profile" yaml:"profile"`
	Downgrade   string   `json:"downgrade" yaml:"downgrade"`
	// Detector names a built-in detector: "personnummer" finds Swedish
	// personal identity and coordination numbers.
	Detector string `json:"detector,omitempty" yaml:"detector,omitempty"`
	// Keywords raise a detector's confidence when one appears within
	// ProximityChars of a hit (Purview uses 300).
	Keywords       []string `json:"keywords,omitempty" yaml:"keywords,omitempty,flow"`
	ProximityChars int      `json:"proximity_chars,omitempty" yaml:"proximity_chars,omitempty"`
	Terms          []Term   `json:"terms,omitempty" yaml:"terms,omitempty"`
}

// DetectorPersonnummer is the built-in Swedish personal number detector.
const DetectorPersonnummer = "personnummer"

// Problem is one thing wrong with a policy. Key is a locales key
// (classify.rules.*) that renders it for admins; the other fields are the
// template data.
type Problem struct {
	Pack    Category `json:"pack,omitempty"`
	Profile Profile  `json:"profile,omitempty"`
	Term    string   `json:"term,omitempty"`
	Field   string   `json:"field,omitempty"`
	Value   string   `json:"value,omitempty"`
	Key     string   `json:"key"`
}

// ValidationError lists every problem Compile or LoadPacks found, so an
// admin fixes a pack in one round instead of one error at a time.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "classifiers: %d problem(s) in rules:", len(e.Problems))
	for i, p := range e.Problems {
		if i == 5 {
			fmt.Fprintf(&b, " …")
			break
		}
		fmt.Fprintf(&b, " [%s", p.Key)
		if p.Pack != "" {
			fmt.Fprintf(&b, " pack=%s", p.Pack)
		}
		if p.Profile != "" {
			fmt.Fprintf(&b, " profile=%s", p.Profile)
		}
		if p.Term != "" {
			fmt.Fprintf(&b, " term=%q", p.Term)
		}
		if p.Field != "" {
			fmt.Fprintf(&b, " field=%s", p.Field)
		}
		if p.Value != "" {
			fmt.Fprintf(&b, " value=%q", p.Value)
		}
		b.WriteString("]")
	}
	return b.String()
}

//go:embed packs/*.yaml
var packFS embed.FS

// DefaultPacks parses the embedded rule packs (classifiers/packs/*.yaml).
func DefaultPacks() ([]Pack, error) {
	return loadFS(packFS, "packs")
}

// LoadPacks reads every *.yaml / *.yml file in dir, in the same format as
// the embedded packs.
func LoadPacks(dir string) ([]Pack, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("classifiers: load packs: %w", err)
	}
	return loadFS(os.DirFS(dir), ".")
}

func loadFS(fsys fs.FS, dir string) ([]Pack, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("classifiers: read packs: %w", err)
	}
	var packs []Pack
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !(strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) {
			continue
		}
		buf, err := fs.ReadFile(fsys, filepath.ToSlash(filepath.Join(dir, name)))
		if err != nil {
			return nil, fmt.Errorf("classifiers: read pack %s: %w", name, err)
		}
		p, err := ParsePack(buf)
		if err != nil {
			return nil, fmt.Errorf("classifiers: pack %s: %w", name, err)
		}
		packs = append(packs, p)
	}
	if len(packs) == 0 {
		return nil, fmt.Errorf("classifiers: no *.yaml packs in %s", dir)
	}
	sort.Slice(packs, func(i, j int) bool { return packs[i].Category < packs[j].Category })
	return packs, nil
}

// ParsePack decodes one pack file. Unknown keys are rejected (a typo such
// as "wieght" must not silently become the default). Omitted fields get
// defaults: lang sv, weight 1, match token for terms of three letters or
// fewer and stem otherwise, downgrade allowed_with_reason.
func ParsePack(buf []byte) (Pack, error) {
	var p Pack
	if !utf8.Valid(buf) {
		return p, errors.New("pack is not valid UTF-8")
	}
	dec := yaml.NewDecoder(bytes.NewReader(buf))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("parse pack: %w", err)
	}
	if p.Downgrade == "" {
		p.Downgrade = DowngradeAllowedWithReason
	}
	for i := range p.Terms {
		t := &p.Terms[i]
		if t.Lang == "" {
			t.Lang = LangSwedish
		}
		if t.Weight == 0 {
			t.Weight = 1
		}
		if t.Match == "" {
			if utf8.RuneCountInString(strings.TrimSpace(t.Text)) <= 3 {
				t.Match = MatchToken
			} else {
				t.Match = MatchStem
			}
		}
	}
	return p, nil
}

// MarshalPack encodes a pack in the file format ParsePack reads, every
// field explicit, one term per line.
func MarshalPack(p Pack) ([]byte, error) {
	var n yaml.Node
	if err := n.Encode(p); err != nil {
		return nil, fmt.Errorf("classifiers: marshal pack %s: %w", p.Category, err)
	}
	// One term per line keeps packs of a hundred terms readable and diffable.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "terms" {
			for _, t := range n.Content[i+1].Content {
				t.Style = yaml.FlowStyle
			}
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, fmt.Errorf("classifiers: marshal pack %s: %w", p.Category, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("classifiers: marshal pack %s: %w", p.Category, err)
	}
	return buf.Bytes(), nil
}

// Message renders the problem for an admin in lang.
func (p Problem) Message(lang locales.Lang) string {
	return locales.For(lang).T(p.Key, "Pack", string(p.Pack), "Profile", string(p.Profile),
		"Term", p.Term, "Field", p.Field, "Value", p.Value)
}
