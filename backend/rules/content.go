package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"golang.org/x/text/unicode/norm"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/classifiers"
)

// Content is everything one rule version decides: the packs (terms, target
// profile and downgrade policy per category), the profile table and the
// organisation's domain lists. It is stored as JSON; the packs keep the
// field names of the pack file format so export and import round-trip.
type Content struct {
	Packs    []classifiers.Pack                           `json:"packs"`
	Profiles map[classifiers.Profile]classifiers.Settings `json:"profiles"`
	// InternalDomains are the organisation's mail domains.
	InternalDomains []string `json:"internal_domains"`
	// FreeMailDomains flags private addresses. Seeded with the built-in list
	// made explicit would freeze it; nil keeps the engine's built-in list.
	FreeMailDomains []string `json:"free_mail_domains"`
}

// DefaultContent is the seed of the first version: the embedded packs, the
// DESIGN.md profile table and the configured internal domains.
func DefaultContent(internalDomains []string) (Content, error) {
	packs, err := classifiers.DefaultPacks()
	if err != nil {
		return Content{}, fmt.Errorf("rules: default packs: %w", err)
	}
	return Content{Packs: packs, Profiles: classifiers.DefaultProfiles(), InternalDomains: append([]string(nil), internalDomains...)}, nil
}

// Policy turns the content into what classifiers.Compile takes.
func (c Content) Policy() classifiers.Policy {
	return classifiers.Policy{Packs: c.Packs, Profiles: c.Profiles, InternalDomains: c.InternalDomains, FreeMailDomains: c.FreeMailDomains}
}

// Compile validates and builds the engine. A *classifiers.ValidationError
// becomes EINVALID carrying the problems so the API can list them all.
func (c Content) Compile() (*classifiers.Engine, error) {
	e, err := classifiers.Compile(c.Policy())
	if err != nil {
		if ve, ok := err.(*classifiers.ValidationError); ok {
			return nil, &backend.Error{Code: backend.EINVALID, Key: "admin.rules_invalid", Args: []any{"Count", len(ve.Problems)}, Err: ve}
		}
		return nil, fmt.Errorf("rules: compile: %w", err)
	}
	return e, nil
}

// Clone deep-copies c so an edit never aliases a stored version.
func (c Content) Clone() Content {
	b, _ := json.Marshal(c)
	var out Content
	_ = json.Unmarshal(b, &out)
	if c.FreeMailDomains == nil {
		out.FreeMailDomains = nil
	}
	return out
}

// Pack returns the index of category's pack, or -1.
func (c Content) Pack(cat classifiers.Category) int {
	for i, p := range c.Packs {
		if p.Category == cat {
			return i
		}
	}
	return -1
}

// termKey identifies a term within a pack the way Compile's duplicate check
// does: language plus the NFC, lower-cased, trimmed text.
func termKey(lang, text string) string {
	return lang + "\x00" + strings.ToLower(norm.NFC.String(strings.TrimSpace(text)))
}

// TermRef names one term of a category.
type TermRef struct {
	Text string `json:"text"`
	Lang string `json:"lang"`
}

// findTerm returns the index of ref in pack p, or -1.
func findTerm(p classifiers.Pack, ref TermRef) int {
	lang := ref.Lang
	if lang == "" {
		lang = classifiers.LangSwedish
	}
	k := termKey(lang, ref.Text)
	for i, t := range p.Terms {
		if termKey(t.Lang, t.Text) == k {
			return i
		}
	}
	return -1
}

// fillTerm applies the pack format's defaults (ParsePack's rules) so an
// admin may omit lang, weight and match like in a pack file.
func fillTerm(t classifiers.Term) classifiers.Term {
	t.Text = strings.TrimSpace(t.Text)
	if t.Lang == "" {
		t.Lang = classifiers.LangSwedish
	}
	if t.Weight == 0 {
		t.Weight = 1
	}
	if t.Match == "" {
		if len([]rune(t.Text)) <= 3 {
			t.Match = classifiers.MatchToken
		} else {
			t.Match = classifiers.MatchStem
		}
	}
	return t
}

// Op is one admin edit. Apply checks what Compile cannot see (the term to
// change exists, a new term is not empty or already there) and leaves the
// rest to Compile, so every rule lives in one place.
type Op struct {
	Kind     string               `json:"op"`
	Category classifiers.Category `json:"category,omitempty"`
	Term     *classifiers.Term    `json:"term,omitempty"`
	Old      *TermRef             `json:"old,omitempty"`
	Pack     *classifiers.Pack    `json:"pack,omitempty"`
	// Profile and Cells edit the profile table: "lobby", "indicators.lock_icon"…
	Profile classifiers.Profile        `json:"profile,omitempty"`
	Cells   map[string]json.RawMessage `json:"cells,omitempty"`
	// TargetProfile, Downgrade and Description edit a category.
	TargetProfile classifiers.Profile `json:"target_profile,omitempty"`
	Downgrade     string              `json:"downgrade,omitempty"`
	Description   *string             `json:"description,omitempty"`
	Domains       []string            `json:"domains,omitempty"`
	// Packs replaces or adds whole packs (import).
	Packs []classifiers.Pack `json:"packs,omitempty"`
}

// Op kinds.
const (
	OpAddTerm        = "term.add"
	OpUpdateTerm     = "term.update"
	OpRemoveTerm     = "term.remove"
	OpAddCategory    = "category.add"
	OpUpdateCategory = "category.update"
	OpRemoveCategory = "category.remove"
	OpSetCells       = "profile.set"
	OpInternal       = "domains.internal"
	OpFreeMail       = "domains.free_mail"
	OpImport         = "import"
	OpRestore        = "restore"
)

func invalid(key string, args ...any) error { return backend.Errorf(backend.EINVALID, key, args...) }

// Apply performs op on c in place.
func (op Op) Apply(c *Content) error {
	pack := func() (*classifiers.Pack, error) {
		i := c.Pack(op.Category)
		if i < 0 {
			return nil, backend.Errorf(backend.ENOTFOUND, "admin.no_category", "Category", string(op.Category))
		}
		return &c.Packs[i], nil
	}
	switch op.Kind {
	case OpAddTerm, OpUpdateTerm:
		p, err := pack()
		if err != nil {
			return err
		}
		if op.Term == nil || strings.TrimSpace(op.Term.Text) == "" {
			return invalid("admin.empty_term")
		}
		t := fillTerm(*op.Term)
		at := len(p.Terms)
		if op.Kind == OpUpdateTerm {
			if op.Old == nil {
				return invalid("admin.no_term")
			}
			if at = findTerm(*p, *op.Old); at < 0 {
				return backend.Errorf(backend.ENOTFOUND, "admin.no_term_named", "Term", op.Old.Text)
			}
		}
		if j := findTerm(*p, TermRef{Text: t.Text, Lang: t.Lang}); j >= 0 && j != at {
			return invalid("admin.duplicate_term", "Term", t.Text, "Category", string(p.Category))
		}
		if at == len(p.Terms) {
			p.Terms = append(p.Terms, t)
		} else {
			p.Terms[at] = t
		}
	case OpRemoveTerm:
		p, err := pack()
		if err != nil {
			return err
		}
		if op.Old == nil {
			return invalid("admin.no_term")
		}
		i := findTerm(*p, *op.Old)
		if i < 0 {
			return backend.Errorf(backend.ENOTFOUND, "admin.no_term_named", "Term", op.Old.Text)
		}
		p.Terms = append(p.Terms[:i], p.Terms[i+1:]...)
	case OpAddCategory:
		if op.Pack == nil {
			return invalid("admin.no_category", "Category", "")
		}
		np := *op.Pack
		if np.Downgrade == "" {
			np.Downgrade = classifiers.DowngradeAllowedWithReason
		}
		for i := range np.Terms {
			np.Terms[i] = fillTerm(np.Terms[i])
		}
		if c.Pack(np.Category) >= 0 {
			return backend.Errorf(backend.ECONFLICT, "admin.category_exists", "Category", string(np.Category))
		}
		c.Packs = append(c.Packs, np)
	case OpUpdateCategory:
		p, err := pack()
		if err != nil {
			return err
		}
		if op.TargetProfile != "" {
			p.Profile = op.TargetProfile
		}
		if op.Downgrade != "" {
			p.Downgrade = op.Downgrade
		}
		if op.Description != nil {
			p.Description = *op.Description
		}
	case OpRemoveCategory:
		i := c.Pack(op.Category)
		if i < 0 {
			return backend.Errorf(backend.ENOTFOUND, "admin.no_category", "Category", string(op.Category))
		}
		c.Packs = append(c.Packs[:i], c.Packs[i+1:]...)
	case OpSetCells:
		s, ok := c.Profiles[op.Profile]
		if !ok {
			return backend.Errorf(backend.ENOTFOUND, "admin.no_profile", "Profile", string(op.Profile))
		}
		ns, err := setCells(s, op.Cells)
		if err != nil {
			return err
		}
		c.Profiles[op.Profile] = ns
	case OpInternal:
		c.InternalDomains = cleanDomains(op.Domains)
	case OpFreeMail:
		c.FreeMailDomains = cleanDomains(op.Domains)
	case OpImport:
		if len(op.Packs) == 0 {
			return invalid("admin.import_empty")
		}
		for _, np := range op.Packs {
			if i := c.Pack(np.Category); i >= 0 {
				c.Packs[i] = np
			} else {
				c.Packs = append(c.Packs, np)
			}
		}
	default:
		return invalid("admin.bad_op", "Op", op.Kind)
	}
	return nil
}

func cleanDomains(ds []string) []string {
	out := []string{}
	seen := map[string]bool{}
	for _, d := range ds {
		d = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(d), "@"), "."))
		if d == "" || seen[d] {
			continue
		}
		seen[d] = true
		out = append(out, d)
	}
	return out
}

// Cells flattens a profile's settings to "field" → JSON value, with nested
// structs as "indicators.lock_icon". It is the profile table's cell list.
func Cells(s classifiers.Settings) map[string]json.RawMessage {
	b, _ := json.Marshal(s)
	var m map[string]json.RawMessage
	_ = json.Unmarshal(b, &m)
	out := map[string]json.RawMessage{}
	var walk func(prefix string, m map[string]json.RawMessage)
	walk = func(prefix string, m map[string]json.RawMessage) {
		for k, v := range m {
			var sub map[string]json.RawMessage
			if len(v) > 0 && v[0] == '{' && json.Unmarshal(v, &sub) == nil {
				walk(prefix+k+".", sub)
				continue
			}
			out[prefix+k] = v
		}
	}
	walk("", m)
	return out
}

// CellNames lists every cell of the profile table in a stable order.
func CellNames() []string {
	m := Cells(classifiers.Settings{})
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// setCells writes cells into s through JSON, so the types are those of
// Settings and an unknown cell name is an error, not a silent no-op.
func setCells(s classifiers.Settings, cells map[string]json.RawMessage) (classifiers.Settings, error) {
	if len(cells) == 0 {
		return s, invalid("admin.no_cells")
	}
	flat := Cells(s)
	for k, v := range cells {
		old, ok := flat[k]
		if !ok {
			return s, invalid("admin.bad_cell", "Cell", k)
		}
		// A string cell must stay a string, a bool a bool, a number a number.
		if kindOf(old) != kindOf(v) {
			return s, invalid("admin.bad_cell_value", "Cell", k)
		}
		flat[k] = v
	}
	nested := map[string]any{}
	for k, v := range flat {
		parts := strings.Split(k, ".")
		m := nested
		for _, p := range parts[:len(parts)-1] {
			sub, ok := m[p].(map[string]any)
			if !ok {
				sub = map[string]any{}
				m[p] = sub
			}
			m = sub
		}
		m[parts[len(parts)-1]] = v
	}
	b, err := json.Marshal(nested)
	if err != nil {
		return s, fmt.Errorf("rules: set cells: %w", err)
	}
	var out classifiers.Settings
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		return s, invalid("admin.bad_cell_value", "Cell", "")
	}
	return out, nil
}

func kindOf(v json.RawMessage) byte {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return 0
	}
	switch v[0] {
	case '"':
		return 's'
	case 't', 'f':
		return 'b'
	case '{':
		return 'o'
	case '[':
		return 'a'
	case 'n':
		return 'n'
	}
	return '0'
}

// ExportPacks writes the packs in the pack file format, one YAML document
// per pack, separated by "---" lines. ImportPacks reads the same stream, so
// a single pack file is also a valid import.
func ExportPacks(packs []classifiers.Pack) ([]byte, error) {
	var buf bytes.Buffer
	for i, p := range packs {
		if i > 0 {
			buf.WriteString("---\n")
		}
		b, err := classifiers.MarshalPack(p)
		if err != nil {
			return nil, err
		}
		buf.Write(b)
	}
	return buf.Bytes(), nil
}

// ImportPacks parses one or more pack documents.
func ImportPacks(data []byte) ([]classifiers.Pack, error) {
	var packs []classifiers.Pack
	for i, doc := range splitDocs(string(data)) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		p, err := classifiers.ParsePack([]byte(doc))
		if err != nil {
			return nil, &backend.Error{Code: backend.EINVALID, Key: "admin.import_bad", Args: []any{"Doc", i + 1}, Err: err}
		}
		packs = append(packs, p)
	}
	if len(packs) == 0 {
		return nil, invalid("admin.import_empty")
	}
	return packs, nil
}

func splitDocs(s string) []string {
	var docs []string
	var cur strings.Builder
	for _, line := range strings.SplitAfter(s, "\n") {
		if strings.TrimRight(line, " \t\r\n") == "---" {
			docs = append(docs, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteString(line)
	}
	return append(docs, cur.String())
}

func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// CellOptions lists the allowed values of the enumerated cells, for the
// profile table editor (Compile enforces the same lists in classifiers).
var CellOptions = map[string][]string{
	"sign_in":              {"optional", "required", "required_mfa"},
	"guests":               {"link", "code"},
	"lobby":                {"none", "externals", "everyone"},
	"attendee_media":       {"listen_only", "on"},
	"screen_share":         {"hosts_presenters", "internal_signed_in", "hosts_elevated"},
	"file_transfer":        {"off", "internal"},
	"recording":            {"host_may_start", "refused"},
	"indicators.lock_icon": {"none", "all_verified", "always"},
}
