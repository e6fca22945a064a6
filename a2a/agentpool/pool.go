// Package agentpool hands out a2a-go v2 clients for the agents registered
// with Parley: one client per agent and card, over the binding the card
// prefers (A2A 1.0 on JSON-RPC, REST or gRPC; A2A 0.3 through a2a-go's
// a2av0 and a2agrpc/v0 transports), every dial through the registry's SSRF
// guard and every request with the gateway's own credentials for that
// agent. It is a package of its own, apart from the gateway's A2A server,
// because it links a2a-go's compatibility transports (and with them gRPC):
// the negotiation engine takes its clients through an interface and links
// none of this.
package agentpool

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/a2aproject/a2a-go/v2/a2aclient"
	"google.golang.org/grpc/credentials"

	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/store"
)

// Directory finds registered agents: agentcards.Registry.
type Directory interface {
	Get(ctx context.Context, name string) (agentcards.Agent, error)
}

// ErrAgentUnreachable: a registered agent could not be reached or failed.
var ErrAgentUnreachable = errors.New("agent unreachable")

// DefaultMaxIdleConnsPerHost is how many idle connections the pool keeps to
// each agent when Options.MaxIdleConnsPerHost is zero. Concurrent calls to
// one agent beyond the idle limit redial, so it is well above net/http's 2.
const DefaultMaxIdleConnsPerHost = 64

// Options configure a Pool. The zero value is usable: agents at private
// addresses are then refused.
type Options struct {
	// Guard checks every connection the pool opens (HTTP and gRPC): the
	// registry's, agentcards.Registry.Guard. Nil: a guard that refuses
	// loopback, private and internal addresses.
	Guard *agentcards.Guard
	// Outbound gives each agent's HTTP requests (JSON-RPC, REST) the
	// gateway's own credentials for that agent (auth.Outbound.Transport),
	// never a caller's. Nil: none.
	Outbound func(agent string, base http.RoundTripper) http.RoundTripper
	// OutboundRPC gives each agent's gRPC calls the same credentials
	// (auth.Outbound.PerRPCCredentials); nil, or a nil result: none.
	OutboundRPC func(agent string) credentials.PerRPCCredentials
	// MaxIdleConnsPerHost bounds the idle connections kept to one agent.
	// Default DefaultMaxIdleConnsPerHost.
	MaxIdleConnsPerHost int
	// Changes, when set, lets the pool keep the agents it looks up in
	// memory (a Cache), each dropped when the feed says it changed
	// (store.KindAgent): the store the directory reads. Without it, or if
	// subscribing fails, every Client reads the agent from the directory
	// to compare its card's hash (about 135 µs a relayed call on SQLite).
	Changes store.Feed
}

// Pool hands out A2A clients for registered agents, one per agent and
// card, so that connections are reused. It is safe for concurrent use.
type Pool struct {
	dir   Directory
	opts  Options
	guard *agentcards.Guard
	// transport is the pool's own clone of the guard's transport, so that
	// its idle-connection limit can be raised without touching the
	// registry's.
	transport *http.Transport

	mu      sync.Mutex
	clients map[string]pooled // by lower-cased agent name

	stop context.CancelFunc // ends the feed's subscription; nil without one
	wg   sync.WaitGroup     // the cache's follower
}

type pooled struct {
	hash   string
	client *a2aclient.Client
}

// New returns a pool over dir.
func New(dir Directory, opts Options) *Pool {
	if opts.Guard == nil {
		opts.Guard = agentcards.NewGuard(agentcards.GuardOptions{})
	}
	if opts.MaxIdleConnsPerHost <= 0 {
		opts.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	}
	t := opts.Guard.Transport().Clone()
	t.MaxIdleConnsPerHost = opts.MaxIdleConnsPerHost
	t.MaxIdleConns = 0 // no overall bound: per host, and IdleConnTimeout
	p := &Pool{dir: dir, opts: opts, guard: opts.Guard, transport: t, clients: map[string]pooled{}}
	if opts.Changes != nil {
		ctx, stop := context.WithCancel(context.Background())
		changes, err := opts.Changes.Subscribe(ctx)
		if err != nil {
			// Uncached is slower, never wrong.
			stop()
			return p
		}
		cache := NewCache(dir)
		p.dir, p.stop = cache, stop
		p.wg.Go(func() { cache.Follow(changes) })
	}
	return p
}

// Client returns a client for the named agent, and the agent as the
// registry has it. The client is the pool's: callers must not Destroy it.
func (p *Pool) Client(ctx context.Context, name string) (*a2aclient.Client, agentcards.Agent, error) {
	agent, err := p.dir.Get(ctx, name)
	if err != nil {
		return nil, agentcards.Agent{}, err
	}
	if agent.Card == nil {
		return nil, agent, fmt.Errorf("agent %q: %w: it has no card", agent.Name, ErrAgentUnreachable)
	}
	key := strings.ToLower(agent.Name)
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[key]; ok && c.hash == agent.Card.Hash {
		return c.client, agent, nil
	}
	client, err := p.newClient(ctx, agent)
	if err != nil {
		return nil, agent, fmt.Errorf("agent %q: %w: %w", agent.Name, ErrAgentUnreachable, err)
	}
	if old, ok := p.clients[key]; ok {
		_ = old.client.Destroy()
	}
	p.clients[key] = pooled{hash: agent.Card.Hash, client: client}
	return client, agent, nil
}

// Close releases every client and the pool's idle connections, and stops
// following the change feed.
func (p *Pool) Close() {
	if p.stop != nil {
		p.stop()
		p.wg.Wait()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, c := range p.clients {
		_ = c.client.Destroy()
		delete(p.clients, k)
	}
	p.transport.CloseIdleConnections()
}
