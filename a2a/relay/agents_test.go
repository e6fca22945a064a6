package relay_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/a2a/relay"
	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/store"
)

// countingDirectory counts the registry reads.
type countingDirectory struct {
	relay.Directory
	gets atomic.Int64
}

func (d *countingDirectory) Get(ctx context.Context, name string) (agentcards.Agent, error) {
	d.gets.Add(1)
	return d.Directory.Get(ctx, name)
}

// TestRelayCachesAgents: with the store's change feed, the relay reads an
// agent from the registry once, not on every call, and a change of the
// agent (here, its card replaced by another agent's at another address)
// reaches the next call once the feed has it; without the feed every call
// reads the registry.
func TestRelayCachesAgents(t *testing.T) {
	for _, feed := range []bool{true, false} {
		t.Run(map[bool]string{true: "with feed", false: "without feed"}[feed], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			dir := &countingDirectory{}
			env := newRelayEnvWith(t, func(o *relay.Options) {
				reg := o.Registry.(*agentcards.Registry)
				dir.Directory = reg
				o.Registry, o.Guard = dir, reg.Guard()
				if feed {
					o.Changes = o.Tasks.(store.Feed)
				}
			}, nil)
			first := startAgent(t, "billing", newCompleteExecutor("first"))
			second := startAgent(t, "billing", newCompleteExecutor("second"))
			env.register(t, first)
			if feed {
				waitAgentChange(t, ctx, env, "billing", 1) // its registration
			}
			send := func() string {
				t.Helper()
				_, answers := rpc(t, env.url("billing"), nil, map[string]any{"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": map[string]any{"message": message03("hi")}})
				text, _ := dig(answers[0], "result", "status", "message", "parts", 0, "text").(string)
				return text
			}
			for range 3 {
				if got := send(); !strings.HasPrefix(got, "first did") {
					t.Fatalf("answer %q, want the first agent's", got)
				}
			}
			wantGets := int64(3)
			if feed {
				wantGets = 1
			}
			if n := dir.gets.Load(); n != wantGets {
				t.Errorf("%d registry reads for 3 calls, want %d", n, wantGets)
			}

			replaced, err := env.reg.Replace(ctx, "billing", agentcards.Registration{URL: second.srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			if feed {
				waitAgentChange(t, ctx, env, "billing", replaced.Version)
			}
			if got := send(); !strings.HasPrefix(got, "second did") {
				t.Errorf("after the card was replaced: answer %q, want the second agent's", got)
			}
		})
	}
}

// waitAgentChange waits until the relay has handled the change feed's
// change of the agent to version.
func waitAgentChange(t *testing.T, ctx context.Context, env *relayEnv, name string, version int64) {
	t.Helper()
	for {
		var c store.Change
		select {
		case c = <-env.changes:
		case <-ctx.Done():
			t.Fatalf("version %d of agent %s never reached the feed", version, name)
		}
		if c.Kind == store.KindAgent && strings.EqualFold(c.Key, name) && c.Version == version {
			if err := relay.WaitAgentChange(ctx, env.relay, c.Seq); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
}
