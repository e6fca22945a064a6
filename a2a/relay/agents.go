package relay

import (
	"context"
	"strings"
	"sync"

	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/store"
)

// agentCache keeps the registered agents the relay looked up, so that a
// call does not read (and parse) the agent's record each time. An entry
// goes when the store's change feed says the agent changed (registered
// again, card adopted, health, removal: store.KindAgent), on every replica
// sharing the store. Lookups that fail are not kept. A lookup that raced
// with a change is not kept either (gen), so that no stale entry outlives
// the change that made it stale.
type agentCache struct {
	dir Directory

	mu      sync.Mutex
	on      bool                        // the feed is followed
	gen     uint64                      // bumped by every invalidation
	agents  map[string]agentcards.Agent // by lower-cased name
	seen    int64                       // Seq of the last change handled
	changed chan struct{}               // closed, and replaced, when seen moves
}

func newAgentCache(dir Directory) *agentCache {
	return &agentCache{dir: dir, agents: map[string]agentcards.Agent{}, changed: make(chan struct{})}
}

// get looks the agent up, in the cache when it is on.
func (c *agentCache) get(ctx context.Context, name string) (agentcards.Agent, error) {
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

// follow drops the agents the feed says changed until changes is closed;
// then, unless stopping, the cache is off for good (every call reads the
// registry): without the feed an entry could go stale.
func (c *agentCache) follow(changes <-chan store.Change, stopping func() bool, warn func(msg string)) {
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
	if !stopping() {
		warn("relay: the store's change feed ended; agents are read from the registry on every call from now on")
	}
}

// waitSeen waits until the change with sequence number seq was handled, or
// ctx ends (tests).
func (c *agentCache) waitSeen(ctx context.Context, seq int64) error {
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
