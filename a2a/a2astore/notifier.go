package a2astore

import (
	"context"
	"fmt"
	"sync"

	"github.com/parleyhq/parley/store"
)

// Notifier wakes the work queue's readers and the event pullers when the
// store's change feed reports work or task writes, on this replica or
// another. Its owner runs Run; until then (or if Run fails) they fall back
// to polling.
type Notifier struct {
	feed store.Feed
	mu   sync.Mutex
	// waiters maps a kind and key (the key "" for any key) to a channel
	// closed at the next such change.
	waiters map[watchKey]chan struct{}
	// ready is closed once Run has subscribed to the feed.
	ready     chan struct{}
	readyOnce sync.Once
}

type watchKey struct{ kind, key string }

// NewNotifier returns a Notifier on feed.
func NewNotifier(feed store.Feed) *Notifier {
	return &Notifier{feed: feed, waiters: map[watchKey]chan struct{}{}, ready: make(chan struct{})}
}

// Run delivers the feed's changes to the waiters until ctx ends, then
// returns nil. Call it once.
func (n *Notifier) Run(ctx context.Context) error {
	ch, err := n.feed.Subscribe(ctx)
	if err != nil {
		return fmt.Errorf("a2a notifier: subscribe to the change feed: %w", err)
	}
	n.readyOnce.Do(func() { close(n.ready) })
	for c := range ch {
		if c.Kind != store.KindA2ATask && c.Kind != store.KindA2AWork {
			continue
		}
		n.wake(watchKey{c.Kind, c.Key})
		n.wake(watchKey{c.Kind, ""})
	}
	return nil
}

// Ready is closed once Run listens to the feed: changes committed before
// are announced to nobody (waiters find them by polling).
func (n *Notifier) Ready() <-chan struct{} { return n.ready }

func (n *Notifier) wake(k watchKey) {
	n.mu.Lock()
	ch, ok := n.waiters[k]
	delete(n.waiters, k)
	n.mu.Unlock()
	if ok {
		close(ch)
	}
}

// wait returns a channel closed at the next change of kind and key (any
// key for ""). Take it before reading the store, so that a change
// committed during the read is not missed. A nil Notifier never wakes.
func (n *Notifier) wait(kind, key string) <-chan struct{} {
	if n == nil {
		return nil
	}
	k := watchKey{kind, key}
	n.mu.Lock()
	defer n.mu.Unlock()
	ch, ok := n.waiters[k]
	if !ok {
		ch = make(chan struct{})
		n.waiters[k] = ch
	}
	return ch
}
