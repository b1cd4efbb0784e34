package sfutest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/motesvakt/motesvakt/sfu"
)

var loopbackAPI = sync.OnceValues(LoopbackAPI)

// Session is a test participant: a pion client in a room over an
// in-memory Pipe.
type Session struct {
	*Client
	// End is the client's end of the pipe (Closed tells when the server
	// hung up).
	End *PipeEnd
	// Serve receives Room.Serve's result when the session ends.
	Serve chan error
}

// Connect starts room.Serve for who and sends join; the session closes
// when the test ends.
func Connect(tb testing.TB, room *sfu.Room, who sfu.Identity) *Session {
	tb.Helper()
	api, err := loopbackAPI()
	if err != nil {
		tb.Fatal(err)
	}
	srv, cli := Pipe()
	s := &Session{Client: NewClient(api, cli), End: cli, Serve: make(chan error, 1)}
	go func() { s.Serve <- room.Serve(context.Background(), srv, who) }()
	tb.Cleanup(s.Close)
	if err := s.Join("en"); err != nil {
		tb.Fatal(err)
	}
	return s
}

// MustExpect waits up to within for a message of type typ that match
// accepts (nil accepts any), or fails the test.
func MustExpect(tb testing.TB, c *Client, within time.Duration, typ string, match func(sfu.Message) bool) sfu.Message {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	m, err := c.Expect(ctx, typ, match)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}
