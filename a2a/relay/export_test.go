package relay

import "context"

// WaitAgentChange waits until rl handled the change feed's change seq
// (Options.Changes).
func WaitAgentChange(ctx context.Context, rl *Relay, seq int64) error {
	return rl.agents.waitSeen(ctx, seq)
}

// IdlePerHost is the idle-connection limit per agent of rl's own
// transport, or -1 when it calls through the Transport given.
func IdlePerHost(rl *Relay) int {
	if rl.own == nil {
		return -1
	}
	return rl.own.MaxIdleConnsPerHost
}
