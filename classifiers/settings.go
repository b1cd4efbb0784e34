package classifiers

import (
	"fmt"

	"github.com/motesvakt/motesvakt/locales"
)

// Settings returns the settings the engine's policy gives profile p — what
// a meeting gets when its host picks p instead of the suggestion.
func (e *Engine) Settings(p Profile) (Settings, error) {
	s, ok := e.profiles[p]
	if !ok {
		return Settings{}, fmt.Errorf("classifiers: no settings for profile %q", p)
	}
	return s, nil
}

// Downgrade returns the downgrade policy of category c
// ("allowed_with_reason" or "forbidden"), or "" for an unknown category.
func (e *Engine) Downgrade(c Category) string {
	if i, ok := e.packByCat[c]; ok {
		return e.packs[i].Downgrade
	}
	return ""
}

// StableCode is the input error's machine code (invalid_json, too_large…);
// the HTTP edge puts it in the error body.
func (e *InputError) StableCode() string { return e.Code }

// LocalizedMessage renders the error for a user in lang.
func (e *InputError) LocalizedMessage(l locales.Lang) string { return e.Message(l) }
