package gcal

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// WorkQueue is the engine both calendar syncers share (Google here, Graph
// in backend/graph): a bounded queue of work items where an item already
// waiting is not queued twice, drained one at a time by Run, which also
// runs renewal on every tick. A full queue drops the item: the next
// notification or renewal catches up, and the webhook never blocks.
type WorkQueue[K comparable] struct {
	mu     sync.Mutex
	items  chan K
	queued map[K]bool
}

// NewWorkQueue makes a queue holding at most size items.
func NewWorkQueue[K comparable](size int) *WorkQueue[K] {
	return &WorkQueue[K]{items: make(chan K, size), queued: map[K]bool{}}
}

// Add queues k unless it is already waiting; false means the queue is full.
func (q *WorkQueue[K]) Add(k K) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.queued[k] {
		return true
	}
	select {
	case q.items <- k:
		q.queued[k] = true
		return true
	default:
		return false
	}
}

// Run hands each item to work and calls renew every interval (tick makes
// the timer, so tests drive time) until ctx ends.
func (q *WorkQueue[K]) Run(ctx context.Context, tick func(time.Duration) <-chan time.Time, interval time.Duration, work func(K), renew func()) error {
	t := tick(interval)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case k := <-q.items:
			q.mu.Lock()
			delete(q.queued, k)
			q.mu.Unlock()
			work(k)
		case <-t:
			renew()
			t = tick(interval)
		}
	}
}

// InTx runs f in a transaction on db and commits unless f fails.
func InTx(ctx context.Context, db *sql.DB, f func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}
