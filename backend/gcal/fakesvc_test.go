package gcal_test

import "github.com/motesvakt/motesvakt/backend/meetings/meetingstest"

// The shared fake meetings service (real classification, recorded calls).
type (
	fakeMeetings  = meetingstest.Fake
	provisionCall = meetingstest.ProvisionCall
)

func newFakeMeetings() *fakeMeetings { return meetingstest.NewFake() }
