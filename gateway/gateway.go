// Package gateway is Parley's HTTP server: the router every protocol
// adapter mounts on, the middleware all requests share (request IDs,
// access log, panic recovery, Host and Origin allow-lists, JSON-only
// bodies, body size and read-time limits), the JSON-RPC edge every
// JSON-RPC endpoint goes through, connection limits, the health
// endpoints, and a Run that serves until its context ends and then drains.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/internal/connlimit"
	"github.com/parleyhq/parley/internal/hostcheck"
	"github.com/parleyhq/parley/internal/jsonrpcedge"
	"github.com/parleyhq/parley/observe"
)

// Pinger is what readiness needs from the store: the real store.Store
// satisfies it. Ping must return once ctx is done.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Deps are the gateway's collaborators.
type Deps struct {
	// Store answers /readyz. Required.
	Store Pinger
	// Metrics receives the HTTP server's instruments (metrics.go). Nil:
	// they are kept on a private registry nobody reads.
	Metrics *observe.Metrics
}

// Server timeouts. There is deliberately no WriteTimeout: MCP and A2A
// stream responses (SSE) for as long as a task runs. ReadHeaderTimeout
// still stops a client from holding a connection by trickling headers.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 2 * time.Minute
	// readyTimeout bounds a readiness probe's store ping, so that a hung
	// database makes /readyz answer 503 rather than hang the prober.
	readyTimeout = 2 * time.Second
)

// Gateway is the HTTP server. Build it with New, add routes through
// Router, then Run (or Serve) it.
type Gateway struct {
	cfg        config.Config
	deps       Deps
	log        *slog.Logger
	hosts      *hostcheck.Policy
	root       *chi.Mux
	router     chi.Router
	ownLimit   chi.Router // routes that enforce their own body limit
	onShutdown []func()

	httpMetrics *httpMetrics
}

// New builds a gateway with its middleware and health endpoints. A nil
// logger discards logs.
func New(cfg config.Config, deps Deps, logger *slog.Logger) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	if deps.Store == nil {
		return nil, errors.New("gateway: Deps.Store is required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	hosts, err := newHostPolicy(cfg)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	g := &Gateway{cfg: cfg, deps: deps, log: logger, hosts: hosts, httpMetrics: newHTTPMetrics(deps.Metrics)}
	if len(cfg.HTTP.AllowedHosts) == 0 && cfg.PublicURL == "" {
		if host, _ := hostcheck.NormalizeHost(cfg.Listen); !hostcheck.IsLoopback(host) {
			logger.Warn("listening beyond loopback, but only localhost, 127.0.0.1 and [::1] are allowed as Host: " +
				"set public_url or http.allowed_hosts to the names clients reach the gateway by")
		}
	}

	root := chi.NewRouter()
	// Order matters: the request ID comes first so that everything after
	// can log it; the request's span (trace.go) next, so that the access
	// log line carries its trace_id; the access log wraps recovery so that a panic is logged
	// as the 500 it turned into, and the metrics (metrics.go), which read
	// the status its wrapper records; the Host and Origin checks and the body
	// read deadline come next, on the root, so that no route can be
	// mounted without them; the JSON-only rule and the body limit are
	// innermost because they answer on behalf of the handler. Routes added
	// through Router get both; HandleOwnBodyLimit mounts a handler without
	// the body limit. Before them all, the goroutine gets its working stack
	// (growStack), while the stack is shallow.
	root.Use(growStack, g.requestID, g.trace, g.accessLog, g.metrics, g.recoverPanics, g.checkHostOrigin, g.limitBodyTime)
	g.root = root
	g.ownLimit = root.With(g.requireJSON)
	r := root.With(g.requireJSON, g.limitBody)
	root.NotFound(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusNotFound, "not found: "+r.URL.Path)
	})
	root.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed on "+r.URL.Path)
	})
	r.Get(healthzPath, g.healthz)
	r.Get(readyzPath, g.readyz)
	g.router = r
	return g, nil
}

// Router is the gateway's router, for mounting more endpoints (/mcp,
// /a2a, /api/v1/...) before Run. The shared middleware is already in
// place; chi does not allow Use after routes exist, so route-specific
// middleware goes through Router().With or Router().Group.
func (g *Gateway) Router() chi.Router { return g.router }

// HandleOwnBodyLimit mounts h at pattern without the gateway's body limit,
// for a protocol handler that enforces its own limit and must answer an
// oversized body in its protocol's error shape (MCP's JSON-RPC error).
// Everything else the gateway checks still applies.
func (g *Gateway) HandleOwnBodyLimit(pattern string, h http.Handler) { g.ownLimit.Handle(pattern, h) }

// JSON-RPC endpoints: what each accepts besides single requests, and how
// it answers a message the edge refuses.
var (
	// MCPEndpoint is MCP's Streamable HTTP: batches (protocol revisions
	// before 2025-06-18; the SDK refuses them for later ones) and
	// responses to the server's requests; a refused message gets 400.
	MCPEndpoint = JSONRPCEndpoint{Accepts: jsonrpcedge.Options{Batch: true, Responses: true}, ErrorStatus: http.StatusBadRequest}
	// A2AEndpoint is A2A's JSON-RPC binding (the gateway's own and the
	// relays): single requests; a refused message gets 200 and the error
	// in the body, as a2a-go answers.
	A2AEndpoint = JSONRPCEndpoint{ErrorStatus: http.StatusOK}
)

// JSONRPCEndpoint describes a JSON-RPC endpoint for JSONRPC.
type JSONRPCEndpoint struct {
	// Accepts says which messages it takes besides single requests.
	Accepts jsonrpcedge.Options
	// ErrorStatus is the HTTP status of the answer to a refused message.
	ErrorStatus int
}

// JSONRPC returns the edge every JSON-RPC endpoint goes through (package
// internal/jsonrpcedge): it reads a POST's body within cfg.MaxBodyBytes and
// cfg.HTTP.BodyReadTimeout, refuses a malformed envelope (an object with
// no method, an id the handler would not echo exactly) with a JSON-RPC
// error, and hands the handler the body it read. Put it inside the auth
// middleware (no body is read for a caller who is refused anyway) and
// outside the handler and its audit.
func (g *Gateway) JSONRPC(e JSONRPCEndpoint) func(http.Handler) http.Handler {
	return jsonrpcedge.Middleware(g.cfg.MaxBodyBytes, e.ErrorStatus, e.Accepts, describeBodyError)
}

// Handler is the gateway's complete HTTP handler, middleware included.
func (g *Gateway) Handler() http.Handler { return g.root }

// OnShutdown registers f to be called when a shutdown starts, before the
// drain. Long-lived handlers (event streams) use it to end their responses
// instead of holding the drain open until the timeout. f runs on its own
// goroutine (http.Server.RegisterOnShutdown) and must return promptly.
// Call OnShutdown before Run.
func (g *Gateway) OnShutdown(f func()) { g.onShutdown = append(g.onShutdown, f) }

// Run listens on cfg.Listen and serves until ctx is done, then shuts down
// as Serve does.
func (g *Gateway) Run(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", g.cfg.Listen)
	if err != nil {
		return fmt.Errorf("gateway: listen on %s: %w", g.cfg.Listen, err)
	}
	return g.Serve(ctx, ln)
}

// Serve serves on ln until ctx is done. It then stops accepting
// connections and waits up to cfg.ShutdownTimeout for in-flight requests
// to finish. If they have not by then, their request contexts are
// cancelled, the remaining connections are closed and Serve returns an
// error wrapping context.DeadlineExceeded. A clean drain returns nil.
// Serve closes ln, and it returns only after the goroutine it started has
// stopped.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	// Requests must outlive ctx during the drain, so their contexts derive
	// from a base that is cancelled only once the drain is over (keeping
	// ctx's values). Handlers that honour their context then stop once the
	// shutdown timeout has passed.
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()

	srv := &http.Server{
		Handler:           g.root,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
	for _, f := range g.onShutdown {
		srv.RegisterOnShutdown(f)
	}

	// Connection limits below HTTP: a connection over them is closed
	// before anything reads from it (see internal/connlimit for why it is
	// closed rather than queued or answered).
	limits := connlimit.Options{MaxConns: g.cfg.HTTP.MaxConns, MaxConnsPerClient: g.cfg.HTTP.MaxConnsPerClient}
	limits.OnRefuse = connlimit.LogRefusals(g.log, limits)
	ln = connlimit.NewListener(ln, limits)

	g.log.Info("listening", "addr", ln.Addr().String())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		// Serve stopped by itself (the listener failed): nothing to drain.
		return fmt.Errorf("gateway: serve: %w", err)
	case <-ctx.Done():
	}

	g.log.Info("shutting down", "timeout", g.cfg.ShutdownTimeout)
	drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(drainCtx)
	if err != nil {
		// Out of time: tell the stragglers through their contexts, then
		// cut their connections.
		cancelBase()
		err = fmt.Errorf("gateway: drain in-flight requests: %w", errors.Join(err, srv.Close()))
		g.log.Warn("shutdown timeout reached; closed remaining connections", "timeout", g.cfg.ShutdownTimeout)
	}
	// Shutdown makes Serve return ErrServerClosed at once; receive it so
	// that the goroutine is gone before we return.
	if serveErr := <-served; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, fmt.Errorf("gateway: serve: %w", serveErr))
	}
	if err == nil {
		g.log.Info("server stopped")
	}
	return err
}
