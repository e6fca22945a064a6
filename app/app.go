// Package app assembles the gateway from its configuration: the store, the
// domain services (workspace, agent registry, negotiations), the protocol
// adapters (MCP, A2A, relays, admin API) behind auth and audit, the HTTP
// and gRPC servers, and the background loops that keep them going.
//
// It is the one assembly of Parley: "gateway serve", "gateway demo", the
// benchmarks under bench/ and the end-to-end tests all run what Build
// returns, so that what they exercise and measure is what ships.
package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/a2aproject/a2a-go/a2asrv"
	"github.com/go-chi/chi/v5"
	"golang.org/x/sync/errgroup"

	"github.com/parleyhq/parley/a2a"
	"github.com/parleyhq/parley/a2a/a2astore"
	"github.com/parleyhq/parley/a2a/agentpool"
	"github.com/parleyhq/parley/a2a/relay"
	"github.com/parleyhq/parley/adminapi"
	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/mcpbridge"
	"github.com/parleyhq/parley/negotiation"
	"github.com/parleyhq/parley/observe"
	"github.com/parleyhq/parley/observe/tracing"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/upstream"
	"github.com/parleyhq/parley/workspace"
)

// Options are what the assembly needs beyond the configuration.
type Options struct {
	// Logger receives the gateway's logs. Nil discards them.
	Logger *slog.Logger
	// Version is the release the agent card and logs name. Empty: "dev".
	Version string
	// Listener, if set, is the HTTP listener to serve on instead of
	// listening on cfg.Listen; the App owns and closes it.
	Listener net.Listener
	// LeaseOwner names this process in negotiation leases. Empty: host,
	// process ID and a random suffix.
	LeaseOwner string
}

// App is an assembled gateway: built, bound to its listeners, not yet
// serving. Run serves it; Close releases what Build acquired. The fields
// are its parts, for the commands, benchmarks and tests that drive it.
type App struct {
	// Addr is the HTTP listener's bound address (host:port).
	Addr string
	// URL is the public base URL, without a trailing slash.
	URL string

	Config       config.Config
	Store        store.Store
	Workspace    *workspace.Workspace
	Registry     *agentcards.Registry
	Audit        *audit.Log
	Auth         *auth.Service
	Negotiations *negotiation.Service
	Bridge       *mcpbridge.Bridge
	A2A          *a2a.Server
	Relay        *relay.Relay
	Gateway      *gateway.Gateway
	// Upstreams are the connections to upstream MCP servers;
	// UpstreamRegistry what is registered (upstreams.go).
	Upstreams        *upstream.Manager
	UpstreamRegistry *upstream.Registry
	// Metrics is the registry /metrics serves (metrics.go); MetricsAddr
	// the address it is served on (Addr unless metrics.listen is set;
	// empty when metrics are off).
	Metrics     *observe.Metrics
	MetricsAddr string
	// Tracing is the trace pipeline (trace.go); off without an endpoint.
	Tracing *tracing.Tracing

	ln       net.Listener
	follower *upstreamFollower
	events   *mcpbridge.EventStore
	// The A2A face's durable parts (a2a.go).
	a2aNotifier *a2astore.Notifier
	a2aWork     *a2astore.WorkQueue
	a2aTasks    *a2astore.TaskStore
	a2aLog      *slog.Logger
	log         *slog.Logger
	// a2aDrain bounds the wait for A2A executions at shutdown
	// (closeA2AWorkOnEnd): the configured shutdown timeout.
	a2aDrain  time.Duration
	cleanups  []func() error // run in reverse by Close
	metricsLn net.Listener   // metrics.listen's, if set
}

// ErrInvalidRule reports an escalation rule that does not compile: the
// configuration is wrong, not the machine.
var ErrInvalidRule = errors.New("invalid escalation rule")

// Build assembles the gateway that cfg describes and binds its listeners,
// so that a.Addr and a.URL are known and clients may connect (they are
// served once Run starts). If Build fails, it releases whatever it had
// acquired. cfg must be valid (config.Load and Validate). ctx bounds the
// start-up only (opening the store, OIDC discovery, binding listeners):
// nothing Build returns stops when it ends.
func Build(ctx context.Context, cfg config.Config, opts Options) (_ *App, err error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	version := opts.Version
	if version == "" {
		version = "dev"
	}
	a := &App{Config: cfg, Metrics: observe.NewMetrics(), log: logger}
	defer func() {
		if err != nil {
			_ = a.Close() // what was acquired before the failure
		}
	}()
	// First, so that its shutdown (the last cleanup) flushes every span.
	if err := a.startTracing(ctx, cfg, version, logger); err != nil {
		return nil, err
	}
	if opts.Listener != nil {
		a.ln = opts.Listener
		a.onClose(func() error { return ignoreClosed(a.ln.Close()) })
	}

	// Escalation rules are compiled before anything starts: a rule that
	// does not compile stops start-up, naming it.
	rules, err := negotiation.CompileRules(cfg.Negotiation.Rules, negotiation.RuleOptions{})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRule, err)
	}

	st, err := OpenStore(ctx, cfg, logger)
	if err != nil {
		return nil, fmt.Errorf("cannot open the store: %w", err)
	}
	a.Store = st
	a.onClose(st.Close)
	setStoreMetrics(st, a.Metrics)

	a.Gateway, err = gateway.New(cfg, gateway.Deps{Store: st, Metrics: a.Metrics}, logger)
	if err != nil {
		return nil, err
	}
	// The refund-confirmation threshold is a workspace rule, so that every
	// face (MCP, A2A, admin API) is held to it.
	a.Workspace = workspace.New(st, workspace.Options{ConfirmRefundAbove: &cfg.MCP.ConfirmRefundAbove})
	a.Registry = agentcards.New(st, agentcards.Options{
		Logger:         logger.With("component", "agents"),
		AllowPrivate:   cfg.AllowPrivateAgentURLs,
		HealthInterval: cfg.Agents.HealthInterval,
	})
	if cfg.AllowPrivateAgentURLs {
		logger.Warn("agent URLs may point at loopback, private and internal addresses (--allow-private-agent-urls): only for trusted networks")
	}
	// Calls Parley makes to agents carry Parley's own credentials for each
	// agent, never a caller's token.
	outbound, err := auth.NewOutbound(ctx, cfg.Auth.AgentsCredentials, auth.OutboundOptions{})
	if err != nil {
		return nil, err
	}
	// Calls to registered agents (agent tools, relays) share one client pool
	// whose every dial passes the SSRF guard.
	agentClients := agentpool.New(a.Registry, agentpool.Options{
		Guard: a.Registry.Guard(), Outbound: outbound.Transport, OutboundRPC: outbound.PerRPCCredentials,
		Changes: st, // agents are cached, dropped as they change
	})
	a.onClose(func() error { agentClients.Close(); return nil })

	// The HTTP listener is bound before the A2A server is built, so that
	// its agent card names the port actually bound (port 0 included).
	if a.ln == nil {
		ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
		}
		a.ln = ln
		a.onClose(func() error { return ignoreClosed(ln.Close()) })
	}
	a.Addr = a.ln.Addr().String()
	a.URL = cfg.PublicBaseURL(a.Addr)

	// Auth in front of every endpoint; without an issuer, a loopback-only
	// no-auth mode that says so loudly.
	if !cfg.Auth.Enabled() {
		if err := auth.CheckNoAuth([]string{cfg.Listen, cfg.GRPCListen}, cfg.Auth.InsecureNoAuth); err != nil {
			return nil, err
		}
		logger.Warn(auth.NoAuthWarning)
		if !auth.IsLoopbackListen(cfg.Listen) || (cfg.GRPCListen != "" && !auth.IsLoopbackListen(cfg.GRPCListen)) {
			logger.Warn(auth.NoAuthInsecureWarning)
		}
	}
	a.Audit = audit.New(st, audit.Options{
		Logger: logger.With("component", "audit"),
		Principal: func(ctx context.Context) audit.Principal {
			p, ok := auth.FromContext(ctx)
			if !ok {
				return audit.Principal{} // refused before a caller was known
			}
			return audit.Principal{Subject: p.Name(), Client: p.ClientID}
		},
	})
	auditLog := a.Audit
	auditLog.SetMetrics(a.Metrics)
	a.Auth, err = auth.New(ctx, cfg.Auth, auth.Options{
		PublicURL: a.URL,
		Metrics:   a.Metrics,
		Logger:    logger.With("component", "auth"),
		OnDecision: func(ctx context.Context, p *auth.Principal, permission string, d auth.Decision) {
			if !d.Allowed {
				_, _ = auditLog.Append(ctx, audit.Entry{Action: audit.ActionPolicyDenial, Target: permission, Outcome: audit.Denied,
					Detail: map[string]string{"rule": d.Rule, "reason": d.Reason}})
			}
		},
		OnRefused: func(ctx context.Context, endpoint string, err error) {
			_, _ = auditLog.Append(ctx, audit.Entry{Action: "auth.refused", Target: endpoint, Outcome: audit.Denied,
				Detail: map[string]string{"reason": err.Error()}})
		},
	})
	if err != nil {
		return nil, err
	}
	authn := a.Auth
	leaseOwner := opts.LeaseOwner
	if leaseOwner == "" {
		leaseOwner = defaultLeaseOwner()
	}
	// Negotiations between registered agents, started by escalation rules
	// or by hand, carried over A2A with Parley's own credentials and
	// audited move by move.
	a.Negotiations = negotiation.New(st, a.Workspace, negotiation.NewA2ASender(agentClients), negotiation.Options{
		Logger:       logger.With("component", "negotiation"),
		Rules:        rules,
		Audit:        auditLog,
		Authorize:    authn.AuthorizeAgent,
		Agents:       registeredAgents{a.Registry},
		Owner:        leaseOwner,
		Lease:        cfg.Negotiation.Lease,
		TurnTimeout:  cfg.Negotiation.TurnTimeout,
		RetryBackoff: cfg.Negotiation.RetryBackoff,
		Metrics:      a.Metrics,
	})
	// Session streams are kept in the store, so that a client whose stream
	// breaks resumes it with Last-Event-ID.
	a.events = mcpbridge.NewEventStore(st, mcpbridge.EventStoreOptions{Logger: logger.With("component", "mcp-events"), Metrics: a.Metrics})
	fed, err := buildUpstreams(ctx, cfg, st, a.Registry.Guard(), func() []string { return a.Bridge.LocalNames() }, logger)
	if err != nil {
		return nil, err
	}
	a.Upstreams, a.UpstreamRegistry, a.follower = fed.Manager, fed.Registry, fed.Follower
	a.onClose(func() error { a.Upstreams.Close(); return nil })
	a.Bridge, err = mcpbridge.New(a.Workspace, st, mcpbridge.Options{
		EventStore:   a.events,
		Logger:       logger.With("component", "mcp"),
		SDKLogger:    sdkLogger(logger.With("component", "mcp")),
		MaxBodyBytes: cfg.MaxBodyBytes,
		StateKey:     []byte(cfg.MCP.StateKey),
		Agents:       a.Registry,
		AgentClients: agentClients,
		Negotiations: a.Negotiations,
		Upstreams:    a.Upstreams,
		// Sessions in the store: any replica serves any session.
		Sessions:       st,
		SessionTimeout: cfg.MCP.SessionTimeout,
		ReplicaLease:   cfg.MCP.ReplicaLease,
	})
	if err != nil {
		return nil, fmt.Errorf("the MCP endpoint: %w", err)
	}

	g := a.Gateway
	// MCP: tokens, protected-resource metadata, sessions bound to their
	// user; each caller sees and calls only the tools it may. Auth
	// outermost, so that the audit records name the caller; denials are
	// recorded through OnDecision, linked to the caller's request ID by
	// RequestLinksMiddleware, outermost but for the request's span, which
	// covers them all.
	a.Bridge.Server().AddReceivingMiddleware(mcpbridge.GrowStackMiddleware(), mcpbridge.TraceMiddleware(), a.Bridge.MetricsMiddleware(a.Metrics), mcpbridge.RequestLinksMiddleware(), authn.MCPMiddleware(), mcpbridge.AuditMiddleware(auditLog))
	// upstream:NAME grants: the policy learns which upstream serves a tool
	// or prompt from what the bridge mirrors.
	authn.Policy().SetUpstreams(a.Bridge.UpstreamOf)
	// Every JSON-RPC endpoint checks envelopes at the gateway's edge,
	// inside auth (no body is read for a refused caller), outside audit.
	g.HandleOwnBodyLimit(auth.MCPPath, g.EndStreamsOnShutdown(authn.MCP(g.JSONRPC(gateway.MCPEndpoint)(a.Bridge))))
	g.Router().Handle(auth.ProtectedResourceMetadataPath, authn.ProtectedResourceMetadata())
	g.Router().Handle(auth.ProtectedResourceMetadataPath+auth.MCPPath, authn.ProtectedResourceMetadata())

	schemes, security := authn.A2ASecurity()
	if err := a.buildA2A(ctx, cfg, auditLog, schemes, security, version, logger); err != nil {
		return nil, fmt.Errorf("the A2A endpoints: %w", err)
	}
	relaySchemes, relayRequirements := relaySecurity(schemes, security)
	// /a2a/agents/{name}: A2A JSON-RPC relayed to registered agents, through
	// the registry's guard, each relayed task recorded in the store.
	a.Relay, err = relay.New(relay.Options{
		Registry:        a.Registry,
		Transport:       a.Registry.Guard().Transport(),
		Tasks:           st,
		Changes:         st, // registry lookups are cached, dropped as agents change
		PublicURL:       a.URL,
		RequestID:       gateway.RequestIDFrom,
		MaxBodyBytes:    cfg.MaxBodyBytes,
		Logger:          logger.With("component", "a2a-relay"),
		Principal:       authn.A2APrincipal,
		IsAdmin:         auth.IsAdmin, // as on the own face: admins reach every caller's relayed tasks
		Clients:         agentClients, // the REST and gRPC faces call the agents through the pool
		GRPCTarget:      a.A2A.GRPCTarget,
		SecuritySchemes: relaySchemes,
		Security:        relayRequirements,
		Authorize: func(ctx context.Context, agent string) error {
			return authn.AuthorizeAgent(ctx, agent, auth.AgentMessage)
		},
		Outbound: func(agent string, req *http.Request) error {
			tok, err := outbound.Token(agent)
			if err != nil || tok == nil {
				return err
			}
			tok.SetAuthHeader(req)
			return nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("the A2A relay: %w", err)
	}
	a.onClose(a.Relay.Close) // records the relayed tasks still queued, before the store closes
	// Cards stay public; JSON-RPC needs a token when auth is on. Audit
	// records go inside the auth faces, so that they name the caller.
	auditRelay := audit.Middleware(auditLog, describeRelay)
	countRelay := newRelayMetrics(a.Metrics, a.Relay).middleware // inside audit: reads what the relay noted
	a2aEdge := g.JSONRPC(gateway.A2AEndpoint)
	g.Router().Mount(relay.Path, relayRoutes(a.Relay,
		func(h http.Handler) http.Handler { return authn.A2A(a2aEdge(auditRelay(countRelay(h)))) },
		func(h http.Handler) http.Handler { return authn.A2A(auditRelay(countRelay(h))) })) // REST: no JSON-RPC edge
	g.Router().Handle(a2a.JSONRPCPath, authn.A2A(a2aEdge(audit.Middleware(auditLog, describeA2A)(a.A2A.JSONRPCHandler()))))
	g.Router().Mount(a2a.RESTPath, http.StripPrefix(a2a.RESTPath, authn.A2A(audit.Middleware(auditLog, describeA2AREST)(a.A2A.RESTHandler()))))
	g.Router().Handle(a2asrv.WellKnownAgentCardPath, a.A2A.CardHandler())
	// Admin API: 401 from the middleware, 403 per action from the policy.
	g.Router().Group(func(r chi.Router) {
		r.Use(authn.Admin, audit.Middleware(auditLog, describeAdmin))
		authorize := authn.AdminAuthorizer(adminapi.ErrUnauthenticated)
		adminapi.New(a.Registry, adminapi.Options{Logger: logger.With("component", "admin-api"), Authorize: authorize}).Mount(r)
		adminapi.NewAudit(auditLog, adminapi.Options{Logger: logger.With("component", "admin-api"), Authorize: authorize}).Mount(r)
		mountUpstreamAPI(r, a.UpstreamRegistry, a.Upstreams, adminapi.Options{Logger: logger.With("component", "admin-api"), Authorize: authorize})
		a.mountPipelineAPI(r, authorize, logger) // ui.go
	})
	// The admin web UI at /ui/, speaking only the admin API above (ui.go).
	a.mountUI(version)
	// /metrics: on the main listener like the admin API, or on its own.
	if err := a.mountMetrics(ctx, cfg, authn); err != nil {
		return nil, err
	}
	return a, nil
}

// Run serves the gateway until ctx ends, then drains it: the HTTP and gRPC
// servers stop accepting and finish what is in flight (up to
// cfg.ShutdownTimeout), and only then do the background loops stop (the
// MCP change follower, the event-store sweeper, the agent prober, the
// negotiation runner, the store's own work), since requests in flight
// still use them. A loop that fails stops the whole gateway. Run returns
// nil after a clean drain. Call Close after Run.
func (a *App) Run(ctx context.Context) error {
	defer holdGCFloor(a.Config.GCHeapFloorBytes, a.log)()
	serveCtx, stopServing := context.WithCancel(ctx)
	defer stopServing()
	// The loops outlive the drain, so their context is not ctx.
	loopCtx, stopLoops := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLoops()
	loops, loopCtx := errgroup.WithContext(loopCtx)
	for _, l := range []struct {
		name string
		run  func(context.Context) error
	}{
		{"MCP change follower", a.Bridge.Run},
		{"MCP event sweeper", a.events.Run},
		{"agent health prober", a.Registry.Run},
		{"negotiation runner", a.Negotiations.Run},
		{"store", a.Store.Run},
		// Group commit of audit records: when its context ends it commits
		// what is still queued; appends after that commit one by one.
		{"audit appender", a.Audit.Run},
		{"upstream connections", a.Upstreams.Run},
		{"upstream follower", a.follower.Run},
		{"A2A task notifier", a.a2aNotifier.Run},
		{"A2A work queue", a.closeA2AWorkOnEnd},
		{"A2A event sweeper", a.sweepA2AEvents},
	} {
		loops.Go(func() error {
			err := l.run(loopCtx)
			if err != nil && !errors.Is(err, context.Canceled) {
				stopServing() // the gateway cannot go on without it
				return fmt.Errorf("%s: %w", l.name, err)
			}
			return nil
		})
	}
	// gRPC drains beside HTTP: both stop when serving stops, or when the
	// other fails.
	servers, serveCtx := errgroup.WithContext(serveCtx)
	servers.Go(func() error { return a.A2A.Run(serveCtx) })
	servers.Go(func() error { return a.Gateway.Serve(serveCtx, a.ln) })
	servers.Go(func() error { return a.serveMetrics(serveCtx) })
	serveErr := servers.Wait()
	stopLoops()
	return errors.Join(loops.Wait(), serveErr)
}

// Close releases what Build acquired, in reverse order: listeners, client
// connections, the store. It is safe to call more than once.
func (a *App) Close() error {
	var errs []error
	for i := len(a.cleanups) - 1; i >= 0; i-- {
		errs = append(errs, a.cleanups[i]())
	}
	a.cleanups = nil
	return errors.Join(errs...)
}

func (a *App) onClose(f func() error) { a.cleanups = append(a.cleanups, f) }

func ignoreClosed(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// relayRoutes puts the A2A auth face in front of the relay's JSON-RPC
// routes (protect) and REST routes (protectREST: /a2a/agents/{name}/rest/…)
// and leaves its agent cards public, as the gateway's own is.
func relayRoutes(relay http.Handler, protect, protectREST func(http.Handler) http.Handler) http.Handler {
	protected, protectedREST := protect(relay), protectREST(relay)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, a2asrv.WellKnownAgentCardPath):
			relay.ServeHTTP(w, r)
		case isRelayREST(r.URL.Path):
			protectedREST.ServeHTTP(w, r)
		default:
			protected.ServeHTTP(w, r)
		}
	})
}

// isRelayREST reports whether path is under an agent's relayed REST face,
// /a2a/agents/{name}/rest.
func isRelayREST(path string) bool {
	_, sub, _ := strings.Cut(strings.TrimPrefix(path, relay.Path+"/"), "/")
	return sub == "rest" || strings.HasPrefix(sub, "rest/")
}

// registeredAgents tells the negotiation engine whether a participant is
// registered.
type registeredAgents struct{ r *agentcards.Registry }

func (a registeredAgents) Exists(ctx context.Context, name string) (bool, error) {
	_, err := a.r.Get(ctx, name)
	if errors.Is(err, agentcards.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// defaultLeaseOwner names this process in negotiation leases: host,
// process ID and a random suffix, so that an operator (or a test) can tell
// which replica holds a negotiation.
func defaultLeaseOwner() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/pid-%d/%s", host, os.Getpid(), strings.ToLower(rand.Text()[:6]))
}
