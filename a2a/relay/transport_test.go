package relay_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/parleyhq/parley/a2a/relay"
	"github.com/parleyhq/parley/agentcards"
)

// TestRelayTransport: the relay calls agents through its own clone of the
// guard's transport, keeping more idle connections per agent than the
// shared one (concurrent calls to one agent reuse them rather than
// redial), with the guard's checks still on every connection.
func TestRelayTransport(t *testing.T) {
	strict := agentcards.NewGuard(agentcards.GuardOptions{}) // refuses loopback
	env := newRelayEnvWith(t, func(o *relay.Options) { o.Transport = strict.Transport() }, nil)
	rl := env.relay
	if got := relay.IdlePerHost(rl); got != relay.DefaultMaxIdleConnsPerHost {
		t.Errorf("idle connections per agent %d, want %d", got, relay.DefaultMaxIdleConnsPerHost)
	}
	if got := strict.Transport().MaxIdleConnsPerHost; got != 8 {
		t.Errorf("the guard's own transport changed: %d idle per host", got)
	}
	agent := startAgent(t, "billing", newCompleteExecutor("billing"))
	env.register(t, agent) // the registry's guard allows loopback; the relay's transport does not
	_, answers := rpc(t, env.url("billing"), nil, map[string]any{"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": map[string]any{"message": message03("hi")}})
	msg, _ := dig(answers[0], "error", "message").(string)
	if cause := dig(answers[0], "error", "data", "cause"); cause != "unreachable" || !strings.Contains(msg, "not allowed") {
		t.Errorf("call to a loopback agent through a strict guard: %v", answers[0])
	}
	if n := len(agent.requests()); n != 0 {
		t.Errorf("the agent got %d requests", n)
	}

	custom := newRelayEnvWith(t, func(o *relay.Options) {
		o.Transport = roundTripperFunc(http.DefaultTransport.RoundTrip)
	}, nil)
	if got := relay.IdlePerHost(custom.relay); got != -1 {
		t.Errorf("a RoundTripper that is no *http.Transport was cloned (%d idle per host)", got)
	}
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
