package agentpool

import (
	"context"
	"errors"
)

// WaitAgentChange waits until p's cache handled the change feed's change
// seq (Options.Changes).
func WaitAgentChange(ctx context.Context, p *Pool, seq int64) error {
	c, ok := p.dir.(*Cache)
	if !ok {
		return errors.New("the pool has no cache")
	}
	return c.WaitSeen(ctx, seq)
}
