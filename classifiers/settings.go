package classifiers

import "fmt"

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
