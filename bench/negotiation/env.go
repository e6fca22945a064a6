package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/bench/internal/logcount"
	"github.com/parleyhq/parley/bench/internal/shipped"
	"github.com/parleyhq/parley/examples/agents"
	"github.com/parleyhq/parley/negotiation"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/workspace"
)

// Stores the gateway can run on.
const (
	StoreSQLite   = "sqlite"
	StorePostgres = "postgres"
)

// The participants, in turn order (billing opens), and the ticket every
// negotiation is about: the demo's, for which agents.SixMoveOptions give
// exactly 6 moves ending in agreement on 275.
const (
	billing      = "billing"
	escalation   = "escalation"
	customer     = "acme"
	refundAmount = 500.0
	agreedAmount = 275.0
	question     = "Approve an exception refund of 500.00 for this ticket?"
)

// server is an http.Server on a 127.0.0.1 listener that counts the
// connections it accepts.
type server struct {
	srv   *http.Server
	url   string // http://127.0.0.1:port/
	conns atomic.Int64
	done  chan error
	once  sync.Once
}

// startServer serves handler(url) on a fresh 127.0.0.1 port, url being
// the server's base URL; its goroutines (and the connection goroutines
// they start) are labelled for CPU profiles.
func startServer(ctx context.Context, handler func(url string) http.Handler, labels pprof.LabelSet) (*server, error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &server{url: agents.URLFor(ln), done: make(chan error, 1)}
	s.srv = &http.Server{
		Handler:           handler(s.url),
		ReadHeaderTimeout: 10 * time.Second, // as agents.Serve
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				s.conns.Add(1)
			}
		},
	}
	go pprof.Do(context.Background(), labels, func(context.Context) {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	})
	return s, nil
}

// close shuts the server down (at most agents.ShutdownTimeout for calls
// in flight), once.
func (s *server) close() {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), agents.ShutdownTimeout)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			_ = s.srv.Close()
		}
		<-s.done
	})
}

// env is the two agents and the gateway.
type env struct {
	cfg    *Config
	dir    string // temp dir of the SQLite file
	gw     *shipped.Gateway
	st     store.Store
	ws     *workspace.Workspace
	svc    *negotiation.Service
	agents map[string]*server
	logs   logcount.Counter
	watch  *watcher

	closeOnce sync.Once
}

// setup starts the agents and the gateway as it ships (app.Build from
// config.Default(), auth off, private agent URLs allowed, the agent
// prober off), registers the agents in its registry and follows its
// store's change feed.
func setup(ctx context.Context, cfg *Config) (_ *env, err error) {
	e := &env{cfg: cfg, agents: map[string]*server{}}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	// The agents' per-move info logs are dropped; warnings are counted.
	agentLog := slog.New(e.logs.Handler(slog.DiscardHandler))
	bo, eo := agents.SixMoveOptions()
	for role, opts := range map[agents.Role]agents.Options{agents.RoleBilling: bo, agents.RoleEscalation: eo} {
		opts.Delay = cfg.Think
		opts.Logger = agentLog.With("component", "agent-"+string(role))
		a, err := agents.New(role, opts)
		if err != nil {
			return nil, fmt.Errorf("agent %s: %w", role, err)
		}
		srv, err := startServer(ctx, a.Handler, pprof.Labels("role", "agent", "agent", string(role)))
		if err != nil {
			return nil, fmt.Errorf("agent %s: %w", role, err)
		}
		e.agents[a.Name()] = srv
	}

	storeURL := cfg.PostgresURL
	if cfg.Store != StorePostgres {
		if e.dir, err = os.MkdirTemp("", "negotiation-bench-*"); err != nil {
			return nil, err
		}
		storeURL = "sqlite://" + filepath.Join(e.dir, "parley.db")
	}
	gcfg := shipped.Config(storeURL)
	gcfg.AllowPrivateAgentURLs = true
	gcfg.Agents.HealthInterval = -1 // nothing here changes; no probes in the figures
	if e.gw, err = shipped.Start(ctx, gcfg, shipped.Options{
		Handler: e.logs.Handler,
		Labels:  pprof.Labels("role", "engine"),
	}); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	e.st, e.ws, e.svc = e.gw.Store, e.gw.Workspace, e.gw.Negotiations
	for _, name := range []string{billing, escalation} {
		if _, err := e.gw.Registry.Register(ctx, agentcards.Registration{URL: e.agents[name].url}); err != nil {
			if errors.Is(err, agentcards.ErrExists) {
				return nil, fmt.Errorf("register agent %s: %w (the store is not empty: give -postgres-url a scratch database or schema)", name, err)
			}
			return nil, fmt.Errorf("register agent %s at %s: %w", name, e.agents[name].url, err)
		}
	}
	if e.watch, err = newWatcher(ctx, e.st); err != nil {
		return nil, fmt.Errorf("follow the change feed: %w", err)
	}
	// The gateway's start-up warnings (no auth, private agent URLs) are
	// this setup's choice; what is counted is what the load causes.
	e.logs.Reset()
	return e, nil
}

// close stops the watcher, the gateway (its runner releases its leases)
// and the agents, and removes the temp dir.
func (e *env) close() {
	e.closeOnce.Do(func() {
		if e.watch != nil {
			e.watch.close()
		}
		if e.gw != nil {
			if err := e.gw.Close(); err != nil {
				e.cfg.progress("gateway: %v", err)
			}
		}
		for _, s := range e.agents {
			s.close()
		}
		if e.dir != "" {
			_ = os.RemoveAll(e.dir)
		}
	})
}

// agentConns is how many connections the agents have accepted so far.
func (e *env) agentConns() int64 {
	var n int64
	for _, s := range e.agents {
		n += s.conns.Load()
	}
	return n
}

// newTicket creates the ticket of one negotiation: the demo's customer and
// refund, escalated (the status a ticket has when billing hands an
// over-limit refund on).
func (e *env) newTicket(ctx context.Context) (string, error) {
	c, amt, st := customer, refundAmount, workspace.StatusEscalated
	summary, category := "Double charge on the annual plan; asks for a refund of 500.00", "billing"
	id := "BENCH-" + strings.ToLower(rand.Text()[:12])
	t, _, err := e.ws.SaveTicket(ctx, "bench", workspace.TicketInput{ID: id, Customer: &c, Category: &category,
		Summary: &summary, RefundAmount: &amt, Status: &st})
	if err != nil {
		return "", fmt.Errorf("create ticket: %w", err)
	}
	return t.ID, nil
}
