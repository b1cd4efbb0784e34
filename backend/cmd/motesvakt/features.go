package main

import (
	"context"
	"net/url"

	"github.com/motesvakt/motesvakt/backend"
	mhttp "github.com/motesvakt/motesvakt/backend/http"
	"github.com/motesvakt/motesvakt/backend/sqlite"
)

// migrations lists the tables owned by packages other than sqlite, in the
// order they were introduced. Names must never change.
func migrations() []sqlite.Migration {
	return nil
}

// features wires the feature packages into the HTTP edge.
func (a *app) features(ctx context.Context, domains backend.Domains, public *url.URL) ([]mhttp.Option, error) {
	return nil, nil
}
