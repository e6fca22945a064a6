package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/a2aproject/a2a-go/a2asrv"
	"github.com/go-chi/chi/v5"

	"github.com/parleyhq/parley/a2a"
	"github.com/parleyhq/parley/adminapi"
	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/mcpbridge"
	"github.com/parleyhq/parley/negotiation"
	"github.com/parleyhq/parley/workspace"
)

// serve runs the gateway until SIGINT or SIGTERM (or ctx ends), drains it,
// and closes the store.
func serve(ctx context.Context, e env, args []string) int {
	cfg, err := config.Load(args, e.getenv)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprintln(e.stdout, "Usage: gateway [serve] [flags]")
		fmt.Fprintln(e.stdout)
		fmt.Fprintln(e.stdout, "Flags (precedence: flags > PARLEY_* environment > config file > defaults):")
		config.Usage(e.stdout)
		return exitOK
	case err != nil:
		// The message names the setting, the value and where it came
		// from; there is no logger yet to format it.
		fmt.Fprintln(e.stderr, err)
		return exitUsage
	}

	logger := newLogger(cfg, e.stderr)
	logger.Info("starting parley", "version", resolveVersion(), "config", cfg)

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal, restore the default handling, so that a
	// second Ctrl-C during a long drain kills the process at once.
	context.AfterFunc(ctx, stop)

	return runGateway(ctx, cfg, logger, nil)
}

// listening is what runGateway reports once the gateway is wired and its
// HTTP listener bound: where clients reach it.
type listening struct {
	// Addr is the HTTP listener's bound address, host:port.
	Addr string
	// URL is the public base URL, without a trailing slash
	// (http://127.0.0.1:PORT unless public_url says otherwise).
	URL string
}

// runGateway runs the gateway configured by cfg until ctx ends, drains it,
// closes the store and returns the exit status. It is the whole of
// "gateway serve" after the configuration is loaded and signals are
// hooked, and what "gateway demo" runs in-process. onListening, if set, is
// called once every endpoint is mounted and the HTTP listener is bound
// (requests are accepted from then on), just before serving starts; it is
// not called when start-up fails.
func runGateway(ctx context.Context, cfg config.Config, logger *slog.Logger, onListening func(listening)) int {
	// Escalation rules are compiled before anything starts: a rule that
	// does not compile stops start-up, naming it.
	rules, err := negotiation.CompileRules(cfg.Negotiation.Rules, negotiation.RuleOptions{})
	if err != nil {
		logger.Error("invalid escalation rule", "err", err)
		return exitUsage
	}

	st, err := openStore(ctx, cfg, logger)
	if err != nil {
		logger.Error("cannot open the store", "err", err)
		return exitFailure
	}
	g, err := gateway.New(cfg, gateway.Deps{Store: st}, logger)
	if err != nil {
		logger.Error("cannot start the gateway", "err", err)
		closeStore(st, logger)
		return exitFailure
	}
	// The refund-confirmation threshold is a workspace rule, so that every
	// face (MCP, A2A, admin API) is held to it.
	ws := workspace.New(st, workspace.Options{ConfirmRefundAbove: &cfg.MCP.ConfirmRefundAbove})
	registry := agentcards.New(st, agentcards.Options{
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
		logger.Error("cannot start the gateway", "err", err)
		closeStore(st, logger)
		return exitFailure
	}
	// Calls to registered agents (agent tools, relays) share one client pool
	// whose every dial passes the SSRF guard.
	agentClients := a2a.NewClientPool(registry, registry.Guard().Transport(), a2a.WithOutbound(outbound.Transport))
	defer agentClients.Close()
	// The HTTP listener is bound here, before the A2A server is built, so
	// that its agent card names the port actually bound (port 0 included).
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		logger.Error("cannot start the gateway", "err", fmt.Errorf("listen on %s: %w", cfg.Listen, err))
		closeStore(st, logger)
		return exitFailure
	}
	publicURL := cfg.PublicBaseURL(ln.Addr().String())

	// Auth in front of every endpoint; without an issuer, a loopback-only
	// no-auth mode that says so loudly.
	if !cfg.Auth.Enabled() {
		if err := auth.CheckNoAuth([]string{cfg.Listen, cfg.GRPCListen}, cfg.Auth.InsecureNoAuth); err != nil {
			logger.Error("cannot start the gateway", "err", err)
			ln.Close()
			closeStore(st, logger)
			return exitFailure
		}
		logger.Warn(auth.NoAuthWarning)
		if !auth.IsLoopbackListen(cfg.Listen) || (cfg.GRPCListen != "" && !auth.IsLoopbackListen(cfg.GRPCListen)) {
			logger.Warn(auth.NoAuthInsecureWarning)
		}
	}
	auditLog := audit.New(st, audit.Options{
		Logger: logger.With("component", "audit"),
		Principal: func(ctx context.Context) audit.Principal {
			p, ok := auth.FromContext(ctx)
			if !ok {
				return audit.Principal{} // refused before a caller was known
			}
			return audit.Principal{Subject: p.Name(), Client: p.ClientID}
		},
	})
	authn, err := auth.New(ctx, cfg.Auth, auth.Options{
		PublicURL: publicURL,
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
		logger.Error("cannot start the gateway", "err", err)
		ln.Close()
		closeStore(st, logger)
		return exitFailure
	}
	// Negotiations between registered agents, started by escalation rules
	// or by hand, carried over A2A with Parley's own credentials and
	// audited move by move.
	negotiations := negotiation.New(st, ws, negotiation.NewA2ASender(agentClients), negotiation.Options{
		Logger:       logger.With("component", "negotiation"),
		Rules:        rules,
		Audit:        auditLog,
		Authorize:    authn.AuthorizeAgent,
		Agents:       registeredAgents{registry},
		Owner:        leaseOwner(),
		Lease:        cfg.Negotiation.Lease,
		TurnTimeout:  cfg.Negotiation.TurnTimeout,
		RetryBackoff: cfg.Negotiation.RetryBackoff,
	})
	// Session streams are kept in the store, so that a client whose stream
	// breaks resumes it with Last-Event-ID.
	events := mcpbridge.NewEventStore(st, mcpbridge.EventStoreOptions{Logger: logger.With("component", "mcp-events")})
	bridge, err := mcpbridge.New(ws, st, mcpbridge.Options{
		EventStore:   events,
		Logger:       logger.With("component", "mcp"),
		MaxBodyBytes: cfg.MaxBodyBytes,
		StateKey:     []byte(cfg.MCP.StateKey),
		Agents:       registry,
		AgentClients: agentClients,
		Negotiations: negotiations,
	})
	if err != nil {
		logger.Error("cannot start the MCP endpoint", "err", err)
		ln.Close()
		closeStore(st, logger)
		return exitFailure
	}

	// MCP: tokens, protected-resource metadata, sessions bound to their
	// user; each caller sees and calls only the tools it may.
	// Auth outermost, so that the audit records name the caller; denials
	// are recorded through OnDecision.
	bridge.Server().AddReceivingMiddleware(authn.MCPMiddleware(), mcpbridge.AuditMiddleware(auditLog))
	// Every JSON-RPC endpoint checks envelopes at the gateway's edge,
	// inside auth (no body is read for a refused caller), outside audit.
	g.HandleOwnBodyLimit(auth.MCPPath, authn.MCP(g.JSONRPC(gateway.MCPEndpoint)(bridge)))
	g.Router().Handle(auth.ProtectedResourceMetadataPath, authn.ProtectedResourceMetadata())
	g.Router().Handle(auth.ProtectedResourceMetadataPath+auth.MCPPath, authn.ProtectedResourceMetadata())

	schemes, security := authn.A2ASecurity()
	a2aSrv, err := a2a.NewServer(a2a.Options{
		Tools:             a2a.NewMCPTools(bridge.Server(), nil),
		Tasks:             st,
		PublicURL:         publicURL,
		GRPCListen:        cfg.GRPCListen,
		MaxBodyBytes:      cfg.MaxBodyBytes,
		MaxConns:          cfg.HTTP.MaxConns, // the gRPC port's limits are the HTTP server's
		MaxConnsPerClient: cfg.HTTP.MaxConnsPerClient,
		ShutdownTimeout:   cfg.ShutdownTimeout,
		Version:           resolveVersion(),
		Logger:            logger.With("component", "a2a"),
		Principal:         authn.A2APrincipal,
		IsAdmin:           auth.IsAdmin,
		SecuritySchemes:   schemes,
		Security:          security,
		GRPCServerOptions: append(authn.GRPCServerOptions(), audit.GRPCServerOptions(auditLog, describeA2AGRPC)...), // audit after auth: records name the caller
	})
	if err == nil {
		err = a2aSrv.ListenGRPC(ctx)
	}
	if err != nil {
		logger.Error("cannot start the A2A endpoints", "err", err)
		ln.Close()
		closeStore(st, logger)
		return exitFailure
	}
	// /a2a/agents/{name}: A2A JSON-RPC relayed to registered agents, through
	// the registry's guard, each relayed task recorded in the store.
	relay, err := a2a.NewRelay(a2a.RelayOptions{
		Registry:        registry,
		Transport:       registry.Guard().Transport(),
		Tasks:           st,
		PublicURL:       publicURL,
		RequestID:       gateway.RequestIDFrom,
		MaxBodyBytes:    cfg.MaxBodyBytes,
		Logger:          logger.With("component", "a2a-relay"),
		Principal:       authn.A2APrincipal,
		IsAdmin:         auth.IsAdmin, // as on the own face: admins reach every caller's relayed tasks
		SecuritySchemes: schemes,
		Security:        security,
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
		logger.Error("cannot start the A2A relay", "err", err)
		ln.Close()
		closeStore(st, logger)
		return exitFailure
	}
	// Cards stay public; JSON-RPC needs a token when auth is on.
	// Audit records go inside the auth faces, so that they name the caller.
	auditRelay := audit.Middleware(auditLog, describeRelay)
	a2aEdge := g.JSONRPC(gateway.A2AEndpoint)
	g.Router().Mount(a2a.RelayPath, relayRoutes(relay, func(h http.Handler) http.Handler { return authn.A2A(a2aEdge(auditRelay(h))) }))
	g.Router().Handle(a2a.JSONRPCPath, authn.A2A(a2aEdge(audit.Middleware(auditLog, describeA2A)(a2aSrv.Handler()))))
	g.Router().Handle(a2asrv.WellKnownAgentCardPath, a2aSrv.CardHandler())
	// Admin API: 401 from the middleware, 403 per action from the policy.
	g.Router().Group(func(r chi.Router) {
		r.Use(authn.Admin, audit.Middleware(auditLog, describeAdmin))
		authorize := authn.AdminAuthorizer(adminapi.ErrUnauthenticated)
		adminapi.New(registry, adminapi.Options{Logger: logger.With("component", "admin-api"), Authorize: authorize}).Mount(r)
		adminapi.NewAudit(auditLog, adminapi.Options{Logger: logger.With("component", "admin-api"), Authorize: authorize}).Mount(r)
	})

	// The bridge follows the store's change feed for as long as the server
	// runs; it stops once the server has drained.
	// The same goes for the event store's sweeper.
	bridgeCtx, stopBridge := context.WithCancel(context.WithoutCancel(ctx))
	bridgeDone, sweeperDone := make(chan error, 1), make(chan error, 1)
	go func() { bridgeDone <- bridge.Run(bridgeCtx) }()
	go func() { sweeperDone <- events.Run(bridgeCtx) }()
	proberDone := make(chan error, 1)
	go func() { proberDone <- registry.Run(bridgeCtx) }()
	negotiationsDone := make(chan error, 1)
	go func() { negotiationsDone <- negotiations.Run(bridgeCtx) }()
	// The store's own background work: wake-ups from other replicas'
	// commits, and the change feed's sweep.
	storeDone := make(chan error, 1)
	go func() { storeDone <- st.Run(bridgeCtx) }()
	// gRPC drains beside HTTP: both stop on the signal.
	grpcDone := make(chan error, 1)
	go func() { grpcDone <- a2aSrv.Run(ctx) }()

	if onListening != nil {
		onListening(listening{Addr: ln.Addr().String(), URL: publicURL})
	}
	runErr := g.Serve(ctx, ln)
	if err := <-grpcDone; err != nil {
		logger.Error("A2A gRPC server", "err", err)
	}
	stopBridge()
	if err := <-bridgeDone; err != nil && !errors.Is(err, context.Canceled) {
		logger.Error("MCP change follower failed", "err", err)
	}
	if err := <-sweeperDone; err != nil {
		logger.Error("MCP event sweeper failed", "err", err)
	}
	if err := <-proberDone; err != nil {
		logger.Error("agent health prober failed", "err", err)
	}
	if err := <-negotiationsDone; err != nil && !errors.Is(err, context.Canceled) {
		logger.Error("negotiation runner failed", "err", err)
	}
	if err := <-storeDone; err != nil {
		logger.Error("store background work failed", "err", err)
	}
	// Only now: requests in flight during the drain still use the store.
	relay.Close() // records the relayed tasks still queued
	closeErr := closeStore(st, logger)
	if runErr != nil {
		logger.Error("gateway failed", "err", runErr)
		return exitFailure
	}
	if closeErr != nil {
		return exitFailure
	}
	logger.Info("shut down")
	return exitOK
}

func closeStore(st io.Closer, logger *slog.Logger) error {
	if err := st.Close(); err != nil {
		logger.Error("closing the store", "err", err)
		return err
	}
	return nil
}

// newLogger builds the process logger from the configured level and
// format. Logs go to stderr, leaving stdout to commands' output.
func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.SlogLevel()}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// relayRoutes puts the A2A auth face in front of the relay's JSON-RPC
// routes and leaves its agent cards public, as the gateway's own is.
func relayRoutes(relay http.Handler, protect func(http.Handler) http.Handler) http.Handler {
	protected := protect(relay)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, a2asrv.WellKnownAgentCardPath) {
			relay.ServeHTTP(w, r)
			return
		}
		protected.ServeHTTP(w, r)
	})
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

// leaseOwner names this process in negotiation leases: host, process ID
// and a random suffix, so that an operator (or a test) can tell which
// replica holds a negotiation.
func leaseOwner() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/pid-%d/%s", host, os.Getpid(), strings.ToLower(rand.Text()[:6]))
}
