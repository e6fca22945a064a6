// Package a2a is Parley's A2A protocol adapter: the gateway's own A2A
// server on a2a-go v2 (A2A 1.0 over JSON-RPC at /a2a, REST at /a2a/rest
// and gRPC on a port of its own; A2A 0.3 on the same three through the
// SDK's a2av0 compatibility layer), whose one skill is the shared
// workspace; and its agent card. Tasks are kept durably behind the SDK's
// task-store interface (package a2a/a2astore), and with a work queue and
// event queue over the store any replica can run, fetch, cancel and
// follow any task.
//
// The workspace skill runs the very MCP tools MCP hosts call, through the
// MCP server in process (MCPTools), so the two protocols share one
// implementation of every tool.
package a2a

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	a2ago "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2acompat/a2av0"
	grpcv0 "github.com/a2aproject/a2a-go/v2/a2agrpc/v0"
	grpcv1 "github.com/a2aproject/a2a-go/v2/a2agrpc/v1"
	"github.com/a2aproject/a2a-go/v2/a2asrv"
	"github.com/a2aproject/a2a-go/v2/a2asrv/eventqueue"
	"github.com/a2aproject/a2a-go/v2/a2asrv/push"
	"github.com/a2aproject/a2a-go/v2/a2asrv/taskstore"
	"github.com/a2aproject/a2a-go/v2/a2asrv/workqueue"
	"google.golang.org/grpc"

	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/internal/connlimit"
	"github.com/parleyhq/parley/observe"
)

// Options configure a Server.
type Options struct {
	// Tools runs the workspace skill's tools: NewMCPTools over the MCP
	// bridge's server. Required.
	Tools ToolCaller
	// Tasks keeps the A2A tasks durably (a2astore.TaskStore). Required.
	Tasks taskstore.Store
	// Owner names who started a task, for the ownership checks: a caller
	// reaches only its own tasks. Required.
	Owner Owner
	// Cluster, when set, runs tasks through a work queue and follows them
	// through an event queue, both over the store, so that every replica
	// sharing the store can run, cancel and subscribe to any task. Nil:
	// tasks run in this process, and a subscription reaches only a task
	// running here.
	Cluster *Cluster
	// PushConfigs keeps push-notification configs; nil: the gateway does
	// not offer push notifications.
	PushConfigs push.ConfigStore
	// PushClient delivers push notifications; it must refuse addresses the
	// gateway may not reach (the registry guard's client). Required with
	// PushConfigs.
	PushClient *http.Client
	// CheckCallback vets a push-notification callback URL when a config is
	// set, so that a refused one is answered at once; nil: not checked
	// (PushClient still refuses it on delivery).
	CheckCallback func(ctx context.Context, url string) error
	// PublicURL is the base URL clients reach the gateway's HTTP server
	// at (config's PublicBaseURL); the card points at PublicURL + /a2a and
	// PublicURL + /a2a/rest. Required.
	PublicURL string
	// GRPCListen is the address the gRPC binding listens on, host:port
	// (port 0 picks a free one). Empty: no gRPC.
	GRPCListen string
	// Principal names the caller of each call; nil: every caller is
	// Anonymous.
	Principal Principal
	// SecuritySchemes and Security go into the card as they are.
	SecuritySchemes a2ago.NamedSecuritySchemes
	Security        a2ago.SecurityRequirementsOptions
	// Version is the gateway's version, for the card.
	Version string
	// MaxBodyBytes bounds a request body on the HTTP bindings (config's
	// max_body_bytes). Default 8 MiB.
	MaxBodyBytes int64
	// MaxConns and MaxConnsPerClient bound the gRPC listener's open
	// connections, in total and per client address, as the HTTP server's
	// are (config's http.max_conns and http.max_conns_per_client; see
	// internal/connlimit): a connection over a limit is closed as soon as
	// it is accepted. Zero: connlimit's defaults; negative: no limit.
	MaxConns          int
	MaxConnsPerClient int
	// ShutdownTimeout bounds how long Run waits for in-flight gRPC calls
	// (streams included) after ctx ends before cutting them. Default 15s.
	ShutdownTimeout time.Duration
	// IsAdmin reports whether the caller may see every caller's tasks;
	// nil: nobody may (each caller sees only the tasks it started).
	IsAdmin func(context.Context) bool
	// GRPCServerOptions are added to the gRPC server's, such as the
	// authentication interceptors.
	GRPCServerOptions []grpc.ServerOption
	// GRPCHandler, when set, wraps the request handler the gRPC A2A 1.0
	// service calls: the relay's tenant router (relay.Relay.TenantHandler),
	// which serves calls naming a registered agent as their tenant and
	// hands the rest to the gateway's own handler. Nil: the own handler.
	GRPCHandler func(own a2asrv.RequestHandler) a2asrv.RequestHandler
	// HandlerOptions are added to the a2asrv request handler's.
	HandlerOptions []a2asrv.RequestHandlerOption
	Logger         *slog.Logger

	// Metrics receives the face's instruments (metrics.go). Nil: they are
	// kept on a private registry nobody reads.
	Metrics *observe.Metrics
}

// Cluster is what runs tasks across replicas (a2asrv.ClusterConfig
// without the task store, which is Options.Tasks).
type Cluster struct {
	// WorkQueue hands each message and cancellation to one replica
	// (a2astore's work queue under workqueue.NewPullQueue).
	WorkQueue workqueue.Queue
	// Events carries a task's events from the replica running it to its
	// subscribers on any replica (eventqueue.NewPullQueueManager over
	// a2astore's puller).
	Events eventqueue.Manager
}

const defaultMaxBodyBytes = 8 << 20

// notingQueue notes the task of each message or cancellation it queues
// for the call's audit record (audit.NoteTask) before the item is written:
// a message's record commits with that write (audit.Entry.WithWrite), the
// first the call makes, and so names the task it started.
type notingQueue struct{ workqueue.Queue }

func (q notingQueue) Write(ctx context.Context, p *workqueue.Payload) (a2ago.TaskID, error) {
	if p != nil && p.TaskID != "" {
		audit.NoteTask(ctx, string(p.TaskID))
	}
	return q.Queue.Write(ctx, p)
}

// Server is the gateway's own A2A server. Mount JSONRPCHandler at
// JSONRPCPath, RESTHandler at RESTPath and CardHandler at
// a2asrv.WellKnownAgentCardPath on the HTTP server, and run Run beside it
// for gRPC.
type Server struct {
	opts    Options
	log     *slog.Logger
	handler a2asrv.RequestHandler
	jsonrpc http.Handler
	rest    http.Handler

	mu  sync.Mutex
	lis net.Listener
}

// NewServer builds the server. It does not listen yet: see ListenGRPC and
// Run.
func NewServer(opts Options) (*Server, error) {
	switch {
	case opts.Tools == nil:
		return nil, errors.New("a2a: Options.Tools is required")
	case opts.Tasks == nil:
		return nil, errors.New("a2a: Options.Tasks is required")
	case opts.Owner == nil:
		return nil, errors.New("a2a: Options.Owner is required")
	case opts.PushConfigs != nil && opts.PushClient == nil:
		return nil, errors.New("a2a: Options.PushClient is required with PushConfigs")
	case opts.Cluster != nil && (opts.Cluster.WorkQueue == nil || opts.Cluster.Events == nil):
		return nil, errors.New("a2a: Options.Cluster needs a WorkQueue and Events")
	}
	if u, err := url.Parse(opts.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("a2a: Options.PublicURL %q must be an absolute http(s) URL", opts.PublicURL)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 15 * time.Second
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = defaultMaxBodyBytes
	}
	if opts.MaxConns == 0 {
		opts.MaxConns = connlimit.DefaultMaxConns
	}
	if opts.MaxConnsPerClient == 0 {
		opts.MaxConnsPerClient = connlimit.DefaultMaxConnsPerClient
	}
	s := &Server{opts: opts, log: opts.Logger}
	handlerOpts := []a2asrv.RequestHandlerOption{
		a2asrv.WithTaskStore(opts.Tasks),
		a2asrv.WithLogger(opts.Logger),
		a2asrv.WithCapabilityChecks(&a2ago.AgentCapabilities{Streaming: true, PushNotifications: opts.PushConfigs != nil}),
		a2asrv.WithCallInterceptors(
			traceInterceptor{}, // first: every call's span ends, refused ones too (trace.go)
			metricsInterceptor{newFaceMetrics(opts.Metrics)}, // first: sees the answer as sent (metrics.go)
			// Identity first, so that the error log names the caller.
			identityInterceptor{principal: opts.Principal},
			errorInterceptor{log: opts.Logger},
			// After identity: a caller reaches only its own tasks, and
			// sets only callbacks the gateway may call.
			ownershipInterceptor{owner: opts.Owner, isAdmin: opts.IsAdmin, log: opts.Logger},
			callbackInterceptor{check: opts.CheckCallback, log: opts.Logger},
			endedTaskInterceptor{tasks: opts.Tasks},
			// Last, so that its After sees the answer before
			// errorInterceptor maps it: the call's audit record learns its
			// task and failure.
			auditInterceptor{},
		),
	}
	if opts.PushConfigs != nil {
		handlerOpts = append(handlerOpts, a2asrv.WithPushNotifications(opts.PushConfigs, &pushSender{client: opts.PushClient, log: opts.Logger}))
	}
	if opts.Cluster != nil {
		handlerOpts = append(handlerOpts, a2asrv.WithClusterMode(a2asrv.ClusterConfig{
			TaskStore:    opts.Tasks,
			WorkQueue:    notingQueue{opts.Cluster.WorkQueue},
			QueueManager: opts.Cluster.Events,
		}))
	}
	s.handler = a2asrv.NewHandler(NewExecutor(opts.Tools, opts.Logger), append(handlerOpts, opts.HandlerOptions...)...)
	s.jsonrpc = withBinding(BindingJSONRPC, limitBody(opts.MaxBodyBytes, true, cleanAnswers(opts.MaxBodyBytes, newJSONRPCHandler(s.handler, opts.MaxBodyBytes))))
	s.rest = withBinding(BindingREST, limitBody(opts.MaxBodyBytes, false, cleanAnswers(opts.MaxBodyBytes, holdStreamStart(NewRESTHandler(s.handler)))))
	return s, nil
}

// JSONRPCHandler serves A2A JSON-RPC in both versions: mount it at
// JSONRPCPath.
func (s *Server) JSONRPCHandler() http.Handler { return s.jsonrpc }

// RESTHandler serves the A2A HTTP+JSON binding in both versions, paths
// relative to RESTPath: mount it there, with the prefix stripped.
func (s *Server) RESTHandler() http.Handler { return s.rest }

// Card is the gateway's agent card as of now (the tools are listed afresh).
func (s *Server) Card(ctx context.Context) (*a2ago.AgentCard, error) {
	tools, err := s.opts.Tools.ListTools(ctx)
	if err != nil {
		return nil, fmt.Errorf("a2a: agent card: %w", err)
	}
	return Card(CardOptions{
		PublicURL:         s.opts.PublicURL,
		GRPCTarget:        s.GRPCTarget(),
		Tools:             tools,
		Version:           s.opts.Version,
		SecuritySchemes:   s.opts.SecuritySchemes,
		Security:          s.opts.Security,
		PushNotifications: s.opts.PushConfigs != nil,
	}), nil
}

// CardHandler serves Card with both versions' fields (A2A 1.0's
// supportedInterfaces, and 0.3's url, preferredTransport and
// additionalInterfaces): mount it at a2asrv.WellKnownAgentCardPath.
func (s *Server) CardHandler() http.Handler {
	// a2av0's producer writes the 0.3 fields beside 1.0's.
	compat := a2av0.NewAgentCardProducer(a2asrv.AgentCardProducerFn(s.Card)).(cardProducer)
	return a2asrv.NewAgentCardHandler(bothVersionsCard{compat})
}

// ListenGRPC binds the gRPC listener, if gRPC is on and it is not bound
// yet, so that the card names the bound port and a busy address is
// reported at startup. Run calls it too.
func (s *Server) ListenGRPC(ctx context.Context) error {
	if s.opts.GRPCListen == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lis != nil {
		return nil
	}
	var lc net.ListenConfig
	lis, err := lc.Listen(ctx, "tcp", s.opts.GRPCListen)
	if err != nil {
		return fmt.Errorf("a2a: gRPC: listen on %s: %w", s.opts.GRPCListen, err)
	}
	// The same limits as the HTTP server's: without them, a client could
	// hold every descriptor the process has through the gRPC port.
	limits := connlimit.Options{MaxConns: s.opts.MaxConns, MaxConnsPerClient: s.opts.MaxConnsPerClient}
	limits.OnRefuse = connlimit.LogRefusals(s.log.With("listener", "grpc"), limits)
	s.lis = connlimit.NewListener(lis, limits)
	return nil
}

// Close releases the gRPC listener if Run never served it (an assembly
// that failed after ListenGRPC). After Run it does nothing.
func (s *Server) Close() error {
	s.mu.Lock()
	lis := s.lis
	s.mu.Unlock()
	if lis == nil {
		return nil
	}
	if err := lis.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// GRPCTarget is the gRPC interface as clients dial it (host:port): the
// bound address once listening, else the configured one, with an
// unspecified host (all interfaces) replaced by the public URL's host.
// Empty when gRPC is off.
func (s *Server) GRPCTarget() string {
	if s.opts.GRPCListen == "" {
		return ""
	}
	addr := s.opts.GRPCListen
	s.mu.Lock()
	if s.lis != nil {
		addr = s.lis.Addr().String()
	}
	s.mu.Unlock()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		if u, err := url.Parse(s.opts.PublicURL); err == nil && u.Hostname() != "" {
			host = u.Hostname()
		} else {
			host = "127.0.0.1"
		}
	}
	return net.JoinHostPort(host, port)
}

// Run serves the gRPC binding (A2A 1.0's lf.a2a.v1.A2AService and 0.3's
// a2a.v1.A2AService on one port) until ctx ends, then stops gracefully:
// in-flight calls get up to ShutdownTimeout to finish before they are cut
// (and Run returns an error saying so). With gRPC off it returns nil at
// once. Run may be called once.
func (s *Server) Run(ctx context.Context) error {
	if s.opts.GRPCListen == "" {
		s.log.Info("a2a gRPC is off (grpc_listen is empty)")
		return nil
	}
	if err := s.ListenGRPC(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	lis := s.lis
	s.mu.Unlock()

	srv := grpc.NewServer(s.opts.GRPCServerOptions...)
	v1 := s.handler
	if s.opts.GRPCHandler != nil {
		v1 = s.opts.GRPCHandler(v1)
	}
	grpcv1.NewHandler(v1).RegisterWith(srv)
	grpcv0.NewHandler(s.handler).RegisterWith(srv)
	s.log.Info("a2a gRPC listening", "addr", lis.Addr().String(), "target", s.GRPCTarget())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()

	select {
	case err := <-served:
		return fmt.Errorf("a2a: gRPC: serve: %w", err)
	case <-ctx.Done():
	}
	stopped := make(chan struct{})
	go func() { srv.GracefulStop(); close(stopped) }()
	timer := time.NewTimer(s.opts.ShutdownTimeout)
	defer timer.Stop()
	var err error
	select {
	case <-stopped:
	case <-timer.C:
		s.log.Warn("a2a gRPC: shutdown timeout reached; cutting remaining calls", "timeout", s.opts.ShutdownTimeout)
		srv.Stop()
		<-stopped
		err = fmt.Errorf("a2a: gRPC: drain in-flight calls: %w", context.DeadlineExceeded)
	}
	if serveErr := <-served; serveErr != nil && !errors.Is(serveErr, grpc.ErrServerStopped) {
		err = errors.Join(err, fmt.Errorf("a2a: gRPC: serve: %w", serveErr))
	}
	if err == nil {
		s.log.Info("a2a gRPC stopped")
	}
	return err
}
