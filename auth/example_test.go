package auth_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"

	"github.com/a2aproject/a2a-go/v2/a2asrv"
	"github.com/go-chi/chi/v5"

	"github.com/parleyhq/parley/a2a"
	"github.com/parleyhq/parley/a2a/a2astore"
	"github.com/parleyhq/parley/adminapi"
	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/mcpbridge"
	"github.com/parleyhq/parley/store"
)

// Example_serve shows how cmd/gateway/serve.go puts the Service in front of
// every endpoint. (It is compiled, not run: the variables stand for what
// serve.go already has.)
func Example_serve() {
	var (
		ctx      = context.Background()
		logger   = slog.Default()
		cfg      config.Config
		ln       net.Listener // the bound HTTP listener
		g        *gateway.Gateway
		bridge   *mcpbridge.Bridge
		registry *agentcards.Registry
		tasks    store.A2ATasks
	)

	// No-auth mode only on loopback, and loudly.
	if !cfg.Auth.Enabled() {
		if err := auth.CheckNoAuth([]string{cfg.Listen, cfg.GRPCListen}, cfg.Auth.InsecureNoAuth); err != nil {
			logger.Error("cannot start the gateway", "err", err)
			return
		}
		logger.Warn(auth.NoAuthWarning)
		if !auth.IsLoopbackListen(cfg.Listen) || (cfg.GRPCListen != "" && !auth.IsLoopbackListen(cfg.GRPCListen)) {
			logger.Warn(auth.NoAuthInsecureWarning)
		}
	}
	authn, err := auth.New(ctx, cfg.Auth, auth.Options{
		PublicURL: cfg.PublicBaseURL(ln.Addr().String()),
		Logger:    logger.With("component", "auth"),
		// OnDecision / OnRefused: the audit log's hooks.
	})
	if err != nil {
		logger.Error("cannot start the gateway", "err", err) // names the issuer or the rule
		return
	}
	outbound, err := auth.NewOutbound(ctx, cfg.Auth.AgentsCredentials, auth.OutboundOptions{})
	if err != nil {
		logger.Error("cannot start the gateway", "err", err)
		return
	}

	// MCP: tokens, metadata, session binding; tools/list filtering and
	// tools/call checks.
	bridge.Server().AddReceivingMiddleware(authn.MCPMiddleware())
	g.HandleOwnBodyLimit(auth.MCPPath, authn.MCP(bridge))
	g.Router().Handle(auth.ProtectedResourceMetadataPath, authn.ProtectedResourceMetadata())
	g.Router().Handle(auth.ProtectedResourceMetadataPath+auth.MCPPath, authn.ProtectedResourceMetadata())

	// A2A: JSON-RPC and REST behind A2A, gRPC behind the interceptors, the
	// caller named through A2APrincipal, the card public and declaring OIDC.
	schemes, security := authn.A2ASecurity()
	a2aSrv, err := a2a.NewServer(a2a.Options{
		Tools: a2a.NewMCPTools(bridge.Server(), nil),
		Tasks: a2astore.NewTaskStore(tasks, a2astore.TaskStoreOptions{IsAdmin: auth.IsAdmin}),
		Owner: func(ctx context.Context, id string) (string, error) {
			t, err := tasks.GetA2ATask(ctx, id)
			return t.Caller, err
		},
		PublicURL:         cfg.PublicBaseURL(ln.Addr().String()),
		GRPCListen:        cfg.GRPCListen,
		Principal:         authn.A2APrincipal,
		SecuritySchemes:   schemes,
		Security:          security,
		GRPCServerOptions: authn.GRPCServerOptions(),
	})
	if err != nil {
		return
	}
	g.Router().Handle(a2a.JSONRPCPath, authn.A2A(a2aSrv.JSONRPCHandler()))
	g.Router().Mount(a2a.RESTPath, http.StripPrefix(a2a.RESTPath, authn.A2A(a2aSrv.RESTHandler())))
	g.Router().Handle(a2asrv.WellKnownAgentCardPath, a2aSrv.CardHandler())

	// Admin API: 401 from the middleware, 403 per action from the policy.
	g.Router().Group(func(r chi.Router) {
		r.Use(authn.Admin)
		adminapi.New(registry, adminapi.Options{
			Logger:    logger.With("component", "admin-api"),
			Authorize: authn.AdminAuthorizer(adminapi.ErrUnauthenticated),
		}).Mount(r)
	})

	// Outbound: each agent's client gets the gateway's credentials for that
	// agent (agentpool.Options.Outbound and OutboundRPC: the pool calls
	// outbound.Transport(agent.Name, base) and outbound.PerRPCCredentials(agent.Name)).
	_ = outbound.Transport("billing", registry.Guard().Transport())
}
