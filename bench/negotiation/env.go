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

	"github.com/parleyhq/parley/a2a"
	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/examples/agents"
	"github.com/parleyhq/parley/negotiation"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/postgres"
	"github.com/parleyhq/parley/store/sqlite"
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

// env is the two agents and the gateway's negotiation stack.
type env struct {
	cfg    *Config
	dir    string // temp dir of the SQLite file
	st     store.Store
	ws     *workspace.Workspace
	reg    *agentcards.Registry
	pool   *a2a.ClientPool
	svc    *negotiation.Service
	agents map[string]*server
	logs   *countingHandler
	watch  *watcher

	stopRun context.CancelFunc
	runDone chan error

	closeOnce sync.Once
}

// setup starts the agents and the gateway's negotiation stack as
// cmd/gateway/serve.go wires it, registers the agents, and starts the
// negotiation runner and the change-feed watcher.
func setup(ctx context.Context, cfg *Config) (_ *env, err error) {
	e := &env{cfg: cfg, logs: &countingHandler{}, agents: map[string]*server{}}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	logger := slog.New(e.logs)

	// The store's background goroutines (feed, flushers) carry its label.
	pprof.Do(ctx, pprof.Labels("role", "store"), func(ctx context.Context) {
		e.st, err = openStore(ctx, cfg, e, logger)
	})
	if err != nil {
		return nil, err
	}

	// The agents: agents.Serve's server, counting connections. Their
	// per-move info logs are dropped; warnings are counted.
	bo, eo := agents.SixMoveOptions()
	for role, opts := range map[agents.Role]agents.Options{agents.RoleBilling: bo, agents.RoleEscalation: eo} {
		opts.Delay = cfg.Think
		opts.Logger = logger.With("component", "agent-"+string(role))
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

	// The gateway side, as serve.go builds it (no auth: loopback-only
	// no-auth mode, where every agent is allowed and calls carry no
	// outbound credentials).
	e.ws = workspace.New(e.st, workspace.Options{})
	e.reg = agentcards.New(e.st, agentcards.Options{
		Logger:         logger.With("component", "agents"),
		AllowPrivate:   true,
		HealthInterval: -1, // no prober: nothing here changes
	})
	for _, name := range []string{billing, escalation} {
		if _, err := e.reg.Register(ctx, agentcards.Registration{URL: e.agents[name].url}); err != nil {
			if errors.Is(err, agentcards.ErrExists) {
				return nil, fmt.Errorf("register agent %s: %w (the store is not empty: give -postgres-url a scratch database or schema)", name, err)
			}
			return nil, fmt.Errorf("register agent %s at %s: %w", name, e.agents[name].url, err)
		}
	}
	e.pool = a2a.NewClientPool(e.reg, e.reg.Guard().Transport())
	var auditor negotiation.Auditor // nil interface when off
	if !cfg.NoAudit {
		auditor = audit.New(e.st, audit.Options{Logger: logger.With("component", "audit")})
	}
	owner := "bench/pid-" + fmt.Sprint(os.Getpid())
	var engineStore negotiation.Store = e.st
	if cfg.ClaimAtStart {
		engineStore = &claimAtStart{Store: e.st, owner: owner, lease: config.DefaultLease}
	}
	e.svc = negotiation.New(engineStore, e.ws, negotiation.NewA2ASender(e.pool), negotiation.Options{
		Logger: logger.With("component", "negotiation"),
		Audit:  auditor,
		Agents: registeredAgents{e.reg},
		Owner:  owner,
	})

	// The watcher subscribes before anything starts, so that it misses no
	// change of a negotiation it waits for.
	if e.watch, err = newWatcher(ctx, e.st); err != nil {
		return nil, fmt.Errorf("follow the change feed: %w", err)
	}
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	e.stopRun, e.runDone = stopRun, make(chan error, 1)
	go pprof.Do(runCtx, pprof.Labels("role", "engine"), func(ctx context.Context) {
		e.runDone <- e.svc.Run(ctx)
	})
	return e, nil
}

// openStore opens the configured store: a fresh SQLite file in a temp dir,
// or PostgreSQL at the given URL.
func openStore(ctx context.Context, cfg *Config, e *env, logger *slog.Logger) (store.Store, error) {
	logger = logger.With("component", "store")
	switch cfg.Store {
	case StorePostgres:
		s, err := postgres.Open(ctx, cfg.PostgresURL, postgres.Options{Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("open the PostgreSQL store: %w", err)
		}
		return s, nil
	default:
		dir, err := os.MkdirTemp("", "negotiation-bench-*")
		if err != nil {
			return nil, err
		}
		e.dir = dir
		s, err := sqlite.Open(ctx, filepath.Join(dir, "parley.db"), sqlite.Options{Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("open the SQLite store: %w", err)
		}
		return s, nil
	}
}

// close stops the runner (which releases its leases), the watcher and the
// agents, then closes the store and removes the temp dir.
func (e *env) close() {
	e.closeOnce.Do(func() {
		if e.stopRun != nil {
			e.stopRun()
			if err := <-e.runDone; err != nil && !errors.Is(err, context.Canceled) {
				e.cfg.progress("negotiation runner: %v", err)
			}
		}
		if e.watch != nil {
			e.watch.close()
		}
		if e.pool != nil {
			e.pool.Close()
		}
		for _, s := range e.agents {
			s.close()
		}
		if e.st != nil {
			_ = e.st.Close()
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

// claimAtStart is the engine's store under the -claim-at-start what-if:
// CreateNegotiation claims a negotiation for the runner right away, in the
// caller's goroutine, and ClaimNegotiation hands those out without a
// transaction (and answers that there is nothing else to claim: the
// benchmark has no other replica, no lease that expires and no person
// deciding). It stands for Service.Start creating the negotiation already
// leased to its own replica, so that the runner's one-at-a-time claims
// are not in the path.
type claimAtStart struct {
	negotiation.Store
	owner string
	lease time.Duration

	mu      sync.Mutex
	claimed []store.Negotiation // claimed at start, not yet handed out
}

func (c *claimAtStart) CreateNegotiation(ctx context.Context, n store.Negotiation) (store.Negotiation, error) {
	out, err := c.Store.CreateNegotiation(ctx, n)
	if err != nil {
		return out, err
	}
	claimed, err := c.Store.ClaimNegotiation(ctx, c.owner, time.Now().UTC().Truncate(time.Microsecond), c.lease)
	if err != nil {
		return out, fmt.Errorf("claim at start: %w", err)
	}
	c.mu.Lock()
	c.claimed = append(c.claimed, claimed)
	c.mu.Unlock()
	return out, nil
}

func (c *claimAtStart) ClaimNegotiation(context.Context, string, time.Time, time.Duration) (store.Negotiation, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.claimed) == 0 {
		return store.Negotiation{}, fmt.Errorf("claim negotiation (what-if): %w", store.ErrNoNegotiation)
	}
	n := c.claimed[0]
	c.claimed = c.claimed[1:]
	return n, nil
}

// registeredAgents tells the engine whether a participant is registered,
// as cmd/gateway's does.
type registeredAgents struct{ r *agentcards.Registry }

func (a registeredAgents) Exists(ctx context.Context, name string) (bool, error) {
	_, err := a.r.Get(ctx, name)
	if errors.Is(err, agentcards.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// countingHandler is the process's slog handler: it counts warnings and
// errors (a negotiation that stalled, an audit record not written, an
// agent's trouble) and keeps the first. Lower levels are dropped.
type countingHandler struct {
	warnings atomic.Int64
	mu       sync.Mutex
	first    string
}

func (h *countingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	if h.warnings.Add(1) == 1 {
		msg := r.Level.String() + " " + r.Message
		r.Attrs(func(a slog.Attr) bool {
			msg += " " + a.String()
			return true
		})
		h.mu.Lock()
		h.first = msg
		h.mu.Unlock()
	}
	return nil
}

func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

func (h *countingHandler) firstWarning() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.first
}
