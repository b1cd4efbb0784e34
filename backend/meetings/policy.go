package meetings

import (
	"context"

	"github.com/motesvakt/motesvakt/classifiers"
)

// StaticPolicy serves one compiled engine for ever: the CLI, tests, and a
// server whose rules are not (yet) managed in the store.
type StaticPolicy struct {
	E       *classifiers.Engine
	Version int64
}

// Engine returns the engine.
func (p StaticPolicy) Engine(context.Context) (*classifiers.Engine, int64, error) {
	return p.E, p.Version, nil
}
