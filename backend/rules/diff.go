package rules

import (
	"bytes"
	"sort"

	"github.com/motesvakt/motesvakt/classifiers"
)

// Diff is the term-level difference between two versions: what an admin
// needs to review before activating, not a text diff of the stored JSON.
type Diff struct {
	From       Version        `json:"from"`
	To         Version        `json:"to"`
	Categories []CategoryDiff `json:"categories"`
	Profiles   []CellChange   `json:"profiles"`
	Internal   ListDiff       `json:"internal_domains"`
	FreeMail   ListDiff       `json:"free_mail_domains"`
}

// Empty reports whether the two versions decide the same.
func (d Diff) Empty() bool {
	return len(d.Categories) == 0 && len(d.Profiles) == 0 && d.Internal.empty() && d.FreeMail.empty()
}

// CategoryDiff is what changed in one category.
type CategoryDiff struct {
	Category classifiers.Category `json:"category"`
	// Status: added, removed or changed.
	Status  string             `json:"status"`
	Fields  []FieldChange      `json:"fields,omitempty"`
	Added   []classifiers.Term `json:"added,omitempty"`
	Removed []classifiers.Term `json:"removed,omitempty"`
	Changed []TermChange       `json:"changed,omitempty"`
}

// FieldChange is one changed attribute of a category (profile, downgrade…).
type FieldChange struct {
	Field string `json:"field"`
	From  string `json:"from"`
	To    string `json:"to"`
}

// TermChange is a term whose mode or weight changed.
type TermChange struct {
	From classifiers.Term `json:"from"`
	To   classifiers.Term `json:"to"`
}

// CellChange is one changed cell of the profile table.
type CellChange struct {
	Profile classifiers.Profile `json:"profile"`
	Cell    string              `json:"cell"`
	From    string              `json:"from"`
	To      string              `json:"to"`
}

// ListDiff is a change of a domain list.
type ListDiff struct {
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
	// Builtin is set when one side uses the engine's built-in free-mail list.
	Builtin string `json:"builtin,omitempty"`
}

func (l ListDiff) empty() bool { return len(l.Added) == 0 && len(l.Removed) == 0 && l.Builtin == "" }

// DiffContent compares a (older) with b (newer).
func DiffContent(a, b Content) Diff {
	var d Diff
	byCat := func(c Content) map[classifiers.Category]classifiers.Pack {
		m := map[classifiers.Category]classifiers.Pack{}
		for _, p := range c.Packs {
			m[p.Category] = p
		}
		return m
	}
	am, bm := byCat(a), byCat(b)
	cats := map[classifiers.Category]bool{}
	for c := range am {
		cats[c] = true
	}
	for c := range bm {
		cats[c] = true
	}
	order := make([]classifiers.Category, 0, len(cats))
	for c := range cats {
		order = append(order, c)
	}
	sort.Slice(order, func(i, j int) bool { return order[i] < order[j] })
	for _, c := range order {
		pa, inA := am[c]
		pb, inB := bm[c]
		switch {
		case !inA:
			d.Categories = append(d.Categories, CategoryDiff{Category: c, Status: "added", Added: pb.Terms})
		case !inB:
			d.Categories = append(d.Categories, CategoryDiff{Category: c, Status: "removed", Removed: pa.Terms})
		default:
			if cd, ok := diffPack(pa, pb); ok {
				d.Categories = append(d.Categories, cd)
			}
		}
	}
	for _, p := range classifiers.Profiles {
		ca, cb := Cells(a.Profiles[p]), Cells(b.Profiles[p])
		for _, name := range CellNames() {
			if !bytes.Equal(ca[name], cb[name]) {
				d.Profiles = append(d.Profiles, CellChange{Profile: p, Cell: name, From: string(ca[name]), To: string(cb[name])})
			}
		}
	}
	d.Internal = diffList(a.InternalDomains, b.InternalDomains)
	d.FreeMail = diffList(a.FreeMailDomains, b.FreeMailDomains)
	switch {
	case a.FreeMailDomains == nil && b.FreeMailDomains != nil:
		d.FreeMail.Builtin = "from_builtin"
	case a.FreeMailDomains != nil && b.FreeMailDomains == nil:
		d.FreeMail.Builtin = "to_builtin"
	}
	return d
}

func diffPack(a, b classifiers.Pack) (CategoryDiff, bool) {
	cd := CategoryDiff{Category: a.Category, Status: "changed"}
	field := func(name, x, y string) {
		if x != y {
			cd.Fields = append(cd.Fields, FieldChange{Field: name, From: x, To: y})
		}
	}
	field("profile", string(a.Profile), string(b.Profile))
	field("downgrade", a.Downgrade, b.Downgrade)
	field("description", a.Description, b.Description)
	field("detector", a.Detector, b.Detector)
	ak := map[string]classifiers.Term{}
	for _, t := range a.Terms {
		ak[termKey(t.Lang, t.Text)] = t
	}
	bk := map[string]bool{}
	for _, t := range b.Terms {
		k := termKey(t.Lang, t.Text)
		bk[k] = true
		old, ok := ak[k]
		switch {
		case !ok:
			cd.Added = append(cd.Added, t)
		case old != t:
			cd.Changed = append(cd.Changed, TermChange{From: old, To: t})
		}
	}
	for _, t := range a.Terms {
		if !bk[termKey(t.Lang, t.Text)] {
			cd.Removed = append(cd.Removed, t)
		}
	}
	kw := diffList(a.Keywords, b.Keywords)
	for _, k := range kw.Added {
		cd.Added = append(cd.Added, classifiers.Term{Text: k, Match: "keyword"})
	}
	for _, k := range kw.Removed {
		cd.Removed = append(cd.Removed, classifiers.Term{Text: k, Match: "keyword"})
	}
	changed := len(cd.Fields)+len(cd.Added)+len(cd.Removed)+len(cd.Changed) > 0 || a.ProximityChars != b.ProximityChars
	return cd, changed
}

func diffList(a, b []string) ListDiff {
	var d ListDiff
	in := func(xs []string) map[string]bool {
		m := map[string]bool{}
		for _, x := range xs {
			m[x] = true
		}
		return m
	}
	am, bm := in(a), in(b)
	for _, x := range b {
		if !am[x] {
			d.Added = append(d.Added, x)
		}
	}
	for _, x := range a {
		if !bm[x] {
			d.Removed = append(d.Removed, x)
		}
	}
	return d
}
