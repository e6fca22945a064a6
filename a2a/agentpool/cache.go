package agentpool

import (
	"context"
	"strings"
	"sync"

	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/store"
)

// Cache is a Directory that keeps the agents it looked up, so that a call
// does not read (and parse) the agent's record each time: the pool's, and
// the relay's (a2a/relay). It caches only while Follow runs: an entry goes
// when the store's change feed says the agent changed (registered again,
// card adopted, health, removal: store.KindAgent), on every replica
// sharing the store. Lookups that fail are not kept. A lookup that raced
// with a change is not kept either (gen), so that no stale entry outlives
// the change that made it stale. It is safe for concurrent use.
type Cache struct {
	dir Directory

	mu      sync.Mutex
	on      bool                        // Follow runs
	gen     uint64                      // bumped by every invalidation
	agents  map[string]agentcards.Agent // by lower-cased name
	seen    int64                       // Seq of the last change handled
	changed chan struct{}               // closed, and replaced, when seen moves
}

// NewCache returns a cache over dir; it caches nothing until Follow runs.
func NewCache(dir Directory) *Cache {
	return &Cache{dir: dir, agents: map[string]agentcards.Agent{}, changed: make(chan struct{})}
}

// Get looks the agent up, in the cache while Follow runs.
func (c *Cache) Get(ctx context.Context, name string) (agentcards.Agent, error) {
	key := strings.ToLower(name)
	c.mu.Lock()
	a, ok := c.agents[key]
	on, gen := c.on, c.gen
	c.mu.Unlock()
	if ok {
		return a, nil
	}
	a, err := c.dir.Get(ctx, name)
	if err != nil || !on {
		return a, err
	}
	c.mu.Lock()
	if c.on && c.gen == gen {
		c.agents[key] = a
	}
	c.mu.Unlock()
	return a, nil
}

// Follow caches agents and drops those the feed says changed, until
// changes (a subscription made before the first Get that may be cached) is
// closed; then the cache is off for good, and every Get reads the
// directory: without the feed an entry could go stale.
func (c *Cache) Follow(changes <-chan store.Change) {
	c.mu.Lock()
	c.on = true
	c.mu.Unlock()
	for ch := range changes {
		c.mu.Lock()
		if ch.Kind == store.KindAgent {
			delete(c.agents, strings.ToLower(ch.Key))
			c.gen++
		}
		c.seen = ch.Seq
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
	}
	c.mu.Lock()
	c.on = false
	c.gen++
	clear(c.agents)
	c.mu.Unlock()
}

// WaitSeen waits until the change with sequence number seq was handled, or
// ctx ends (tests).
func (c *Cache) WaitSeen(ctx context.Context, seq int64) error {
	for {
		c.mu.Lock()
		seen, changed := c.seen, c.changed
		c.mu.Unlock()
		if seen >= seq {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
