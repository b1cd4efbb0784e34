// Package sfutest holds an in-memory signaling transport and a pion client
// that speaks the SFU's protocol, for tests and the load tool.
package sfutest

import (
	"context"
	"errors"
	"sync"
)

// ErrClosed is returned by a Pipe end after either side closed.
var ErrClosed = errors.New("sfutest: pipe closed")

// PipeEnd is one side of an in-memory message pipe; it implements sfu.Conn.
type PipeEnd struct {
	in, out chan []byte
	shared  *pipeState
}

type pipeState struct {
	once   sync.Once
	done   chan struct{}
	mu     sync.Mutex
	reason string
}

// Pipe returns two connected ends: what one writes, the other reads.
func Pipe() (*PipeEnd, *PipeEnd) {
	a, b := make(chan []byte, 1024), make(chan []byte, 1024)
	st := &pipeState{done: make(chan struct{})}
	return &PipeEnd{in: a, out: b, shared: st}, &PipeEnd{in: b, out: a, shared: st}
}

func (p *PipeEnd) Read(ctx context.Context) ([]byte, error) {
	select {
	case m := <-p.in:
		return m, nil
	default:
	}
	select {
	case m := <-p.in:
		return m, nil
	case <-p.shared.done:
		// Deliver what was written before the close.
		select {
		case m := <-p.in:
			return m, nil
		default:
			return nil, ErrClosed
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *PipeEnd) Write(ctx context.Context, msg []byte) error {
	select {
	case <-p.shared.done:
		return ErrClosed
	default:
	}
	select {
	case p.out <- append([]byte(nil), msg...):
		return nil
	case <-p.shared.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *PipeEnd) Close(reason string) error {
	p.shared.once.Do(func() {
		p.shared.mu.Lock()
		p.shared.reason = reason
		p.shared.mu.Unlock()
		close(p.shared.done)
	})
	return nil
}

// Closed is closed once either end closed the pipe.
func (p *PipeEnd) Closed() <-chan struct{} { return p.shared.done }

// Reason is the reason given by whoever closed the pipe first.
func (p *PipeEnd) Reason() string {
	p.shared.mu.Lock()
	defer p.shared.mu.Unlock()
	return p.shared.reason
}
