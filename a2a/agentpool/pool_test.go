package agentpool_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2aclient"
	"github.com/a2aproject/a2a-go/v2/a2asrv"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/credentials"

	"github.com/parleyhq/parley/a2a/agentpool"
	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/agentcards/agentcardstest"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/sqlite"
)

func newRegistry(t *testing.T) *agentcards.Registry {
	t.Helper()
	reg, _ := newRegistryStore(t)
	return reg
}

// newRegistryStore is newRegistry, with the store under it (its feed).
func newRegistryStore(t *testing.T) (*agentcards.Registry, store.Store) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return agentcards.New(st, agentcards.Options{AllowPrivate: true, HealthInterval: -1}), st
}

// countingDirectory counts the registry reads.
type countingDirectory struct {
	agentpool.Directory
	gets atomic.Int64
}

func (d *countingDirectory) Get(ctx context.Context, name string) (agentcards.Agent, error) {
	d.gets.Add(1)
	return d.Directory.Get(ctx, name)
}

// agentChange reads the feed ch up to the next change of the agent and
// returns its sequence number.
func agentChange(t *testing.T, ch <-chan store.Change, name string) int64 {
	t.Helper()
	for c := range ch {
		if c.Kind == store.KindAgent && strings.EqualFold(c.Key, name) {
			return c.Seq
		}
	}
	t.Fatalf("the feed ended before a change of agent %q", name)
	return 0
}

func replyText(t *testing.T, res a2a.SendMessageResult) string {
	t.Helper()
	msg, ok := res.(*a2a.Message)
	if !ok {
		t.Fatalf("reply = %T, want a message", res)
	}
	var b strings.Builder
	for _, p := range msg.Parts {
		b.WriteString(p.Text())
	}
	return b.String()
}

// TestPoolBindings: the pool reaches an A2A 1.0 agent over the binding its
// card prefers (JSON-RPC, REST or gRPC: the agent counts the calls it gets
// on each), an agent that lists only 0.3 interfaces over each of them, a
// 1.0 interface before a 0.3 one the card lists first, and the 0.3-only
// agent (the legacy a2a-go module) over 0.3 JSON-RPC; it caches one client
// per agent and card, and gives every call the agent's outbound
// credentials.
func TestPoolBindings(t *testing.T) {
	tests := []struct {
		name     string
		bindings []string // nil: the 0.3-only agent
		want     string   // the binding the calls must arrive on
	}{
		{"1.0 JSON-RPC", []string{agentcardstest.BindingJSONRPC, agentcardstest.BindingREST, agentcardstest.BindingGRPC}, agentcardstest.BindingJSONRPC},
		{"1.0 REST", []string{agentcardstest.BindingREST, agentcardstest.BindingJSONRPC, agentcardstest.BindingGRPC}, agentcardstest.BindingREST},
		{"1.0 gRPC", []string{agentcardstest.BindingGRPC, agentcardstest.BindingJSONRPC, agentcardstest.BindingREST}, agentcardstest.BindingGRPC},
		{"0.3 JSON-RPC (a2a-go v2's compatibility)", []string{agentcardstest.BindingJSONRPC03}, agentcardstest.BindingJSONRPC03},
		{"0.3 REST", []string{agentcardstest.BindingREST03}, agentcardstest.BindingREST03},
		{"0.3 gRPC", []string{agentcardstest.BindingGRPC03}, agentcardstest.BindingGRPC03},
		{"1.0 before 0.3", []string{agentcardstest.BindingJSONRPC03, agentcardstest.BindingREST}, agentcardstest.BindingREST},
		{"0.3 JSON-RPC (the legacy a2a-go module)", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			reg := newRegistry(t)
			var peer1 *agentcardstest.Peer1
			url := ""
			if tt.bindings != nil {
				peer1 = agentcardstest.NewPeer1(t, "billing", nil, tt.bindings...)
				url = peer1.URL()
			} else {
				url = agentcardstest.NewPeer(t, "billing", agentcardstest.Skill("refunds", "Refunds")).URL()
			}
			if _, err := reg.Register(ctx, agentcards.Registration{URL: url}); err != nil {
				t.Fatal(err)
			}
			var authorized atomic.Int64
			var rpcCreds atomic.Int64
			pool := agentpool.New(reg, agentpool.Options{
				Guard: reg.Guard(),
				Outbound: func(agent string, base http.RoundTripper) http.RoundTripper {
					return roundTripper(func(r *http.Request) (*http.Response, error) {
						r = r.Clone(r.Context())
						r.Header.Set("Authorization", "Bearer for-"+agent)
						authorized.Add(1)
						return base.RoundTrip(r)
					})
				},
				OutboundRPC: func(agent string) credentials.PerRPCCredentials { return countingCreds{n: &rpcCreds} },
			})
			t.Cleanup(pool.Close)

			client, agent, err := pool.Client(ctx, "BILLING")
			if err != nil || agent.Name != "billing" {
				t.Fatalf("Client = %v, %+v", err, agent)
			}
			again, _, err := pool.Client(ctx, "billing")
			if err != nil || again != client {
				t.Errorf("the same card gives a new client (%v)", err)
			}
			res, err := client.SendMessage(ctx, &a2a.SendMessageRequest{Message: a2a.NewMessage(a2a.MessageRoleUser, a2a.NewTextPart("refund 350"))})
			if err != nil {
				t.Fatal(err)
			}
			if got := replyText(t, res); got != "billing echoes: refund 350" {
				t.Errorf("reply = %q", got)
			}
			if peer1 != nil {
				got := map[string]int64{}
				for _, b := range []string{agentcardstest.BindingJSONRPC, agentcardstest.BindingREST, agentcardstest.BindingGRPC,
					agentcardstest.BindingJSONRPC03, agentcardstest.BindingREST03, agentcardstest.BindingGRPC03} {
					if n := peer1.Calls(b); n > 0 {
						got[b] = n
					}
				}
				if diff := cmp.Diff(map[string]int64{tt.want: 1}, got); diff != "" {
					t.Errorf("calls by binding (-want +got):\n%s", diff)
				}
			}
			if strings.HasPrefix(tt.want, agentcardstest.BindingGRPC) {
				if rpcCreds.Load() == 0 {
					t.Error("the gRPC call carried no outbound credentials")
				}
			} else if authorized.Load() == 0 {
				t.Error("the HTTP call carried no outbound credentials")
			}
			if _, _, err := pool.Client(ctx, "nobody"); err == nil {
				t.Error("a client for an unregistered agent")
			}
		})
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// countingCreds are gRPC credentials that count the calls they are asked
// for.
type countingCreds struct{ n *atomic.Int64 }

func (c countingCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	c.n.Add(1)
	return map[string]string{"authorization": "Bearer for-billing"}, nil
}

func (countingCreds) RequireTransportSecurity() bool { return false }

// TestPoolNewCard: when the registry holds a new card for an agent (here
// one at another address, preferring another binding), the pool builds a
// new client from it; until then it hands out the cached one. With the
// store's change feed (Options.Changes) the pool keeps the agent it read,
// reads the registry once for all its calls, and drops the agent when the
// feed says it changed; without the feed it reads the registry on every
// call.
func TestPoolNewCard(t *testing.T) {
	for _, feed := range []bool{true, false} {
		t.Run(map[bool]string{true: "with feed", false: "without feed"}[feed], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			reg, st := newRegistryStore(t)
			changes, err := st.Subscribe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			first := agentcardstest.NewPeer1(t, "billing", nil, agentcardstest.BindingJSONRPC)
			second := agentcardstest.NewPeer1(t, "billing", nil, agentcardstest.BindingREST)
			if _, err := reg.Register(ctx, agentcards.Registration{URL: first.URL()}); err != nil {
				t.Fatal(err)
			}
			dir := &countingDirectory{Directory: reg}
			opts := agentpool.Options{Guard: reg.Guard()}
			if feed {
				opts.Changes = st
			}
			pool := agentpool.New(dir, opts)
			t.Cleanup(pool.Close)
			if feed {
				// The cache caches once it follows the feed: a change after
				// New, handled, says it does.
				other := agentcardstest.NewPeer1(t, "other", nil, agentcardstest.BindingJSONRPC)
				if _, err := reg.Register(ctx, agentcards.Registration{URL: other.URL()}); err != nil {
					t.Fatal(err)
				}
				agentChange(t, changes, "billing")
				if err := agentpool.WaitAgentChange(ctx, pool, agentChange(t, changes, "other")); err != nil {
					t.Fatal(err)
				}
			}
			const calls = 3
			var old *a2aclient.Client
			for i := range calls {
				c, _, err := pool.Client(ctx, "billing")
				if err != nil {
					t.Fatal(err)
				}
				if i > 0 && c != old {
					t.Fatalf("call %d: the pool built another client for the same card", i)
				}
				old = c
			}
			wantGets := map[bool]int64{true: 1, false: calls}[feed]
			if got := dir.gets.Load(); got != wantGets {
				t.Errorf("registry reads for %d calls = %d, want %d", calls, got, wantGets)
			}
			if _, err := reg.Replace(ctx, "billing", agentcards.Registration{URL: second.URL()}); err != nil {
				t.Fatal(err)
			}
			if feed {
				if err := agentpool.WaitAgentChange(ctx, pool, agentChange(t, changes, "billing")); err != nil {
					t.Fatal(err)
				}
			}
			client, _, err := pool.Client(ctx, "billing")
			if err != nil {
				t.Fatal(err)
			}
			if client == old {
				t.Fatal("the pool kept the client of the old card")
			}
			if _, err := client.SendMessage(ctx, &a2a.SendMessageRequest{Message: a2a.NewMessage(a2a.MessageRoleUser, a2a.NewTextPart("hi"))}); err != nil {
				t.Fatal(err)
			}
			got := []int64{first.Calls(agentcardstest.BindingJSONRPC), second.Calls(agentcardstest.BindingREST)}
			if diff := cmp.Diff([]int64{0, 1}, got); diff != "" {
				t.Errorf("calls to the old agent's JSON-RPC and the new one's REST (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPoolKeepsConnections: concurrent calls to one agent reuse the
// pool's connections instead of redialling: net/http keeps 2 idle
// connections per host by default and the guard's transport 8, the pool
// DefaultMaxIdleConnsPerHost.
func TestPoolKeepsConnections(t *testing.T) {
	const concurrency, batches = 16, 10
	ctx := t.Context()
	var conns atomic.Int64
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	mux.Handle("/", a2asrv.NewJSONRPCHandler(a2asrv.NewHandler(agentcardstest.Echo1{Name: "billing"})))
	mux.Handle(a2asrv.WellKnownAgentCardPath, a2asrv.NewStaticAgentCardHandler(&a2a.AgentCard{
		Name: "billing", Description: "echoes", Version: "1",
		SupportedInterfaces: []*a2a.AgentInterface{a2a.NewAgentInterface(srv.URL+"/", a2a.TransportProtocolJSONRPC)},
		Skills:              []a2a.AgentSkill{agentcardstest.Skill1("echo", "Echo", "echo")},
	}))
	reg := newRegistry(t)
	if _, err := reg.Register(ctx, agentcards.Registration{URL: srv.URL}); err != nil {
		t.Fatal(err)
	}
	cardConns := conns.Load() // the registry fetched the card on its own connections
	pool := agentpool.New(reg, agentpool.Options{Guard: reg.Guard()})
	t.Cleanup(pool.Close)
	client, _, err := pool.Client(ctx, "billing")
	if err != nil {
		t.Fatal(err)
	}
	for range batches {
		var g errgroup.Group
		for range concurrency {
			g.Go(func() error {
				_, err := client.SendMessage(ctx, &a2a.SendMessageRequest{Message: a2a.NewMessage(a2a.MessageRoleUser, a2a.NewTextPart("hi"))})
				return err
			})
		}
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	// Ideally concurrency connections in all; twice that leaves room for
	// a connection not yet back in the idle pool when the next batch
	// starts. Keeping 8 idle connections redials 8 per batch: about 90.
	if n := conns.Load() - cardConns; n > 2*concurrency {
		t.Errorf("%d connections for %d batches of %d concurrent calls, want at most %d", n, batches, concurrency, 2*concurrency)
	}
}
