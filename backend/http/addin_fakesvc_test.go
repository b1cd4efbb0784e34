package http_test

import "github.com/motesvakt/motesvakt/backend/meetings/meetingstest"

// The shared fake meetings service (real classification, recorded calls).
type (
	addinFakeMeetings  = meetingstest.Fake
	addinProvisionCall = meetingstest.ProvisionCall
)

func newAddinFakeMeetings() *addinFakeMeetings { return meetingstest.NewFake() }
