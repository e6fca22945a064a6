package relay

import "context"

// KnownAgent reports whether name is a registered agent, and its name as
// registered, from the relay's cache of the registry (a lookup of the
// registry for a name not cached). Metrics label relayed calls by agent
// only once it is known, so that a caller naming agents that do not exist
// cannot grow the label set.
func (rl *Relay) KnownAgent(ctx context.Context, name string) (string, bool) {
	agent, err := rl.agents.get(ctx, name)
	if err != nil {
		return "", false
	}
	return agent.Name, true
}
