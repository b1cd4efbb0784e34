package http

import (
	"context"

	"github.com/motesvakt/motesvakt/backend"
	"github.com/motesvakt/motesvakt/backend/sqlite"
)

// Hooks lets other parts record what the edge does, inside the same
// transaction where there is one (the audit log).
type Hooks interface {
	SignedIn(ctx context.Context, tx *sqlite.Tx, ip string, s *backend.Session) error
	SignInFailed(ctx context.Context, ip, reason string)
}

type noHooks struct{}

func (noHooks) SignedIn(context.Context, *sqlite.Tx, string, *backend.Session) error { return nil }
func (noHooks) SignInFailed(context.Context, string, string)                         {}

// WithHooks installs hooks.
func WithHooks(h Hooks) Option { return func(s *Server) { s.hooks = h } }
