package relay

import (
	"context"

	"github.com/parleyhq/parley/a2a/agentpool"
	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/store"
)

// agentCache keeps the registered agents the relay looked up, dropped as
// the store's change feed says they changed: agentpool.Cache, which the
// agent pool uses too (the relay looks an agent up, then the pool does
// again for the agent's client).
type agentCache struct{ *agentpool.Cache }

func newAgentCache(dir Directory) *agentCache {
	return &agentCache{agentpool.NewCache(dir)}
}

func (c *agentCache) get(ctx context.Context, name string) (agentcards.Agent, error) {
	return c.Get(ctx, name)
}

// follow caches until changes is closed; then, unless stopping, it warns:
// every call reads the registry from then on.
func (c *agentCache) follow(changes <-chan store.Change, stopping func() bool, warn func(msg string)) {
	c.Follow(changes)
	if !stopping() {
		warn("relay: the store's change feed ended; agents are read from the registry on every call from now on")
	}
}

// waitSeen waits until the change with sequence number seq was handled, or
// ctx ends (tests).
func (c *agentCache) waitSeen(ctx context.Context, seq int64) error { return c.WaitSeen(ctx, seq) }
