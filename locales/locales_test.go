package locales

import (
	"strings"
	"testing"
)

// TestCatalogParity: every key exists in both languages, and no value is empty.
func TestCatalogParity(t *testing.T) {
	sv, err := Keys(Swedish)
	if err != nil {
		t.Fatal(err)
	}
	en, err := Keys(English)
	if err != nil {
		t.Fatal(err)
	}
	in := func(keys []string) map[string]bool {
		m := map[string]bool{}
		for _, k := range keys {
			if m[k] {
				t.Errorf("key %q defined twice", k)
			}
			m[k] = true
		}
		return m
	}
	svSet, enSet := in(sv), in(en)
	for k := range svSet {
		if !enSet[k] {
			t.Errorf("key %q is in sv but not en", k)
		}
	}
	for k := range enSet {
		if !svSet[k] {
			t.Errorf("key %q is in en but not sv", k)
		}
	}
	for _, l := range Supported {
		keys, _ := Keys(l)
		p := For(l)
		for _, k := range keys {
			if s := p.N(k, 2); s == "" || strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") && s == "["+k+"]" {
				t.Errorf("%s: key %q renders empty or missing: %q", l, k, s)
			}
		}
	}
}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		accept string
		pref   string
		want   Lang
	}{
		{"", "", Swedish},
		{"en-US,en;q=0.9", "", English},
		{"sv-SE,sv;q=0.9,en;q=0.8", "", Swedish},
		{"de-DE,de;q=0.9", "", Swedish},
		{"de-DE,en;q=0.5", "", English},
		{"en-GB", "sv", Swedish},
		{"sv", "en", English},
		{"garbage;;;q=x", "", Swedish},
		{"nb-NO", "", Swedish}, // Norwegian readers understand Swedish better than the fallback
	}
	for _, tt := range tests {
		t.Run(tt.accept+"/"+tt.pref, func(t *testing.T) {
			if got := Negotiate(tt.accept, tt.pref); got != tt.want {
				t.Errorf("Negotiate(%q, %q) = %q, want %q", tt.accept, tt.pref, got, tt.want)
			}
		})
	}
}

func TestPluralAndTemplate(t *testing.T) {
	tests := []struct {
		lang Lang
		n    int
		want string
	}{
		{Swedish, 1, "1 minut"},
		{Swedish, 5, "5 minuter"},
		{English, 1, "1 minute"},
		{English, 0, "0 minutes"},
	}
	for _, tt := range tests {
		if got := For(tt.lang).N("count.minutes", tt.n); got != tt.want {
			t.Errorf("%s N(%d) = %q, want %q", tt.lang, tt.n, got, tt.want)
		}
	}
	if got, want := T(English, "error.bad_json", "Detail", "unexpected EOF"), "The request is not valid JSON: unexpected EOF"; got != want {
		t.Errorf("T = %q, want %q", got, want)
	}
	if got, want := T(Swedish, "no.such.key"), "[no.such.key]"; got != want {
		t.Errorf("missing key = %q, want %q", got, want)
	}
	if got := For("xx").Lang(); got != Default {
		t.Errorf("For(xx).Lang() = %q, want default", got)
	}
}

func TestMessagesPrefix(t *testing.T) {
	m := For(English).Messages("error.")
	if m["error.not_found"] != "Not found." {
		t.Errorf("Messages(error.) = %v", m)
	}
	if _, ok := m["app.name"]; ok {
		t.Error("Messages(error.) leaked app.name")
	}
	if got := For(Swedish).Messages("count.")["count.minutes.one"]; got != "{count} minut" {
		t.Errorf("plural rendering in Messages: %q", got)
	}
}

func TestHas(t *testing.T) {
	p := For(English)
	for _, k := range []string{"error.internal", "count.minutes"} {
		if !p.Has(k) {
			t.Errorf("Has(%q) = false", k)
		}
	}
	if p.Has("no.such.key") {
		t.Error("Has(no.such.key) = true")
	}
}
