package a2a

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	a2ago "github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2aclient"

	"github.com/parleyhq/parley/a2a/a2aext"
	"github.com/parleyhq/parley/a2a/compat"
	"github.com/parleyhq/parley/agentcards"
)

// Directory finds registered agents: agentcards.Registry.
type Directory interface {
	Get(ctx context.Context, name string) (agentcards.Agent, error)
}

// ErrAgentUnreachable: a registered agent could not be reached or failed.
var ErrAgentUnreachable = errors.New("agent unreachable")

// ClientPool hands out A2A clients for registered agents, one per agent and
// card, so that connections are reused. Every dial goes through the
// registry's SSRF guard. An agent that speaks only A2A 1.0 is reached
// through compat's translating transport, so callers use a2a-go's 0.3
// client for every agent.
type ClientPool struct {
	dir      Directory
	base     http.RoundTripper
	outbound func(agent string, base http.RoundTripper) http.RoundTripper

	mu      sync.Mutex
	clients map[string]pooled // by lower-cased agent name
}

type pooled struct {
	hash   string
	client *a2aclient.Client
	card   *a2ago.AgentCard
}

// PoolOption configures a ClientPool.
type PoolOption func(*ClientPool)

// WithOutbound gives each agent's requests the gateway's own credentials
// for that agent (auth.Outbound.Transport), never the caller's.
func WithOutbound(f func(agent string, base http.RoundTripper) http.RoundTripper) PoolOption {
	return func(p *ClientPool) { p.outbound = f }
}

// NewClientPool returns a pool over dir whose requests go through base
// (the guard's transport: agentcards.Guard.Transport).
func NewClientPool(dir Directory, base http.RoundTripper, opts ...PoolOption) *ClientPool {
	p := &ClientPool{dir: dir, base: base, clients: map[string]pooled{}}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Client returns a client for the named agent, and the agent as the
// registry has it.
func (p *ClientPool) Client(ctx context.Context, name string) (*a2aclient.Client, agentcards.Agent, error) {
	agent, err := p.dir.Get(ctx, name)
	if err != nil {
		return nil, agentcards.Agent{}, err
	}
	key := strings.ToLower(agent.Name)
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[key]; ok && c.hash == agent.Card.Hash {
		return c.client, agent, nil
	}
	card, err := agent.Card.A2A()
	if err != nil {
		return nil, agent, fmt.Errorf("agent %q: its card: %w", agent.Name, err)
	}
	transport := p.base
	if p.outbound != nil {
		transport = p.outbound(agent.Name, transport)
	}
	if !speaks03(agent.Card) {
		// Translate last, over the outbound credentials, so that a 1.0
		// agent gets them too.
		transport = compat.NewTransport10(transport)
	}
	// No total timeout: a streamed answer may last as long as the task.
	client, err := a2aclient.NewFromCard(ctx, card, a2aclient.WithJSONRPCTransport(&http.Client{Transport: transport}),
		a2aclient.WithInterceptors(a2aext.Interceptor{}))
	if err != nil {
		return nil, agent, fmt.Errorf("agent %q: %w: %w", agent.Name, ErrAgentUnreachable, err)
	}
	if old, ok := p.clients[key]; ok {
		_ = old.client.Destroy()
	}
	p.clients[key] = pooled{hash: agent.Card.Hash, client: client, card: card}
	return client, agent, nil
}

// CallError says in the caller's terms why a call to the named agent
// through a pooled client failed, for callers of the agent tools and the
// like: an agent that could not be reached (agentcards.NetErrorReason:
// "host x could not be resolved", "connection refused", "timed out"; the
// error is then ErrAgentUnreachable too), or what the agent answered,
// bounded by compat.SafeErrorText. Nothing of the gateway's side (its
// resolver, Go's error types) is in its message; errors.Is and errors.As
// still reach err. Log err itself for the detail.
func CallError(agent string, err error) error {
	if err == nil {
		return nil
	}
	var ce *callError
	if errors.As(err, &ce) {
		return err
	}
	if reason, ok := agentcards.NetErrorReason(err); ok {
		return &callError{msg: fmt.Sprintf("agent %q could not be reached: %s", agent, reason), errs: []error{ErrAgentUnreachable, err}}
	}
	return &callError{msg: fmt.Sprintf("agent %q: %s", agent, compat.SafeErrorText(err.Error())), errs: []error{err}}
}

type callError struct {
	msg  string
	errs []error
}

func (e *callError) Error() string   { return e.msg }
func (e *callError) Unwrap() []error { return e.errs }

// Close releases every client.
func (p *ClientPool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, c := range p.clients {
		_ = c.client.Destroy()
		delete(p.clients, k)
	}
}

// speaks03 reports whether the agent offers JSON-RPC in A2A 0.3 (the card's
// own version, or an interface that says so).
func speaks03(c *agentcards.Card) bool {
	for _, i := range c.Interfaces {
		if !strings.EqualFold(i.Transport, agentcards.TransportJSONRPC) {
			continue
		}
		v := i.ProtocolVersion
		if v == "" {
			v = c.ProtocolVersion
		}
		if compat.ParseVersion(v) == compat.V03 {
			return true
		}
	}
	return compat.ParseVersion(c.ProtocolVersion) == compat.V03
}
