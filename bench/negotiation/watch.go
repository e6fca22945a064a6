package main

import (
	"context"
	"runtime/pprof"
	"sync"

	"github.com/parleyhq/parley/store"
)

// watcher follows the store's change feed and wakes whoever waits for a
// negotiation when a change to it is committed. Wake-ups coalesce: a
// waiter reads the negotiation once however many changes came while it
// was reading.
type watcher struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	waiters map[string]chan struct{} // by negotiation ID
}

// newWatcher subscribes to the feed; changes committed after it returns
// are seen.
func newWatcher(ctx context.Context, feed store.Feed) (*watcher, error) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var (
		changes <-chan store.Change
		err     error
	)
	// The store's goroutine reading the feed for us carries the label.
	pprof.Do(ctx, pprof.Labels("role", "bench"), func(ctx context.Context) {
		changes, err = feed.Subscribe(ctx)
	})
	if err != nil {
		cancel()
		return nil, err
	}
	w := &watcher{cancel: cancel, done: make(chan struct{}), waiters: map[string]chan struct{}{}}
	go pprof.Do(ctx, pprof.Labels("role", "bench"), func(context.Context) {
		defer close(w.done)
		for c := range changes {
			if c.Kind != store.KindNegotiation {
				continue
			}
			w.mu.Lock()
			ch := w.waiters[c.Key]
			w.mu.Unlock()
			if ch != nil {
				wake(ch)
			}
		}
	})
	return w, nil
}

// add registers a waiter for negotiation id: the returned channel is
// signalled on every change to it (coalesced), and once at once, so that
// a change committed before add is not missed.
func (w *watcher) add(id string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	w.waiters[id] = ch
	w.mu.Unlock()
	wake(ch)
	return ch, func() {
		w.mu.Lock()
		delete(w.waiters, id)
		w.mu.Unlock()
	}
}

// close stops following the feed.
func (w *watcher) close() {
	w.cancel()
	<-w.done
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
