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
	// SignInFailed records a refused sign-in; there is no action to share a
	// transaction with, so it opens its own.
	SignInFailed(ctx context.Context, db *sqlite.DB, ip, reason string)
}

type noHooks struct{}

func (noHooks) SignedIn(context.Context, *sqlite.Tx, string, *backend.Session) error { return nil }
func (noHooks) SignInFailed(context.Context, *sqlite.DB, string, string)             {}

// WithHooks installs hooks.
func WithHooks(h Hooks) Option { return func(s *Server) { s.hooks = h } }
