// Package a2a is Parley's A2A protocol adapter: the gateway's own A2A
// server (a2a-go's a2asrv, over JSON-RPC at /a2a and over gRPC on a port
// of its own), whose one skill is the shared workspace; its agent card;
// and its durable task store.
//
// The workspace skill runs the very MCP tools MCP hosts call, through the
// MCP server in process (MCPTools), so the two protocols share one
// implementation of every tool.
package a2a

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	a2ago "github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2agrpc"
	"github.com/a2aproject/a2a-go/a2apb"
	"github.com/a2aproject/a2a-go/a2asrv"

	"github.com/parleyhq/parley/a2a/compat"
	"github.com/parleyhq/parley/internal/connlimit"
	"google.golang.org/grpc"

	"github.com/parleyhq/parley/store"
)

// Options configure a Server.
type Options struct {
	// Tools runs the workspace skill's tools: NewMCPTools over the MCP
	// bridge's server. Required.
	Tools ToolCaller
	// Tasks keeps the A2A tasks: the store. Required.
	Tasks store.A2ATasks
	// PublicURL is the base URL clients reach the gateway's HTTP server
	// at (config's PublicBaseURL); the card points at PublicURL + /a2a.
	// Required.
	PublicURL string
	// GRPCListen is the address the gRPC binding listens on, host:port
	// (port 0 picks a free one). Empty: no gRPC.
	GRPCListen string
	// Principal names the caller of each call; nil: every caller is
	// Anonymous.
	Principal Principal
	// SecuritySchemes and Security go into the card as they are.
	SecuritySchemes a2ago.NamedSecuritySchemes
	Security        []a2ago.SecurityRequirements
	// Version is the gateway's version, for the card.
	Version string
	// MaxBodyBytes bounds a JSON-RPC request body (config's
	// max_body_bytes), and an A2A 1.0 request is refused over it in the
	// caller's version, naming the limit. Default 8 MiB (compat's). The
	// gateway's JSON-RPC edge reads bodies within the same limit first;
	// this one holds where the server is mounted without it.
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
	// HandlerOptions are added to the a2asrv request handler's.
	HandlerOptions []a2asrv.RequestHandlerOption
	Logger         *slog.Logger
	// Now reads the clock for task save times. Default time.Now.
	Now func() time.Time
}

// Server is the gateway's own A2A server. Mount Handler at JSONRPCPath and
// CardHandler at a2asrv.WellKnownAgentCardPath on the HTTP server, and run
// Run beside it for gRPC.
type Server struct {
	opts    Options
	log     *slog.Logger
	tasks   *TaskStore
	handler a2asrv.RequestHandler
	jsonrpc http.Handler

	mu  sync.Mutex
	lis net.Listener
}

// NewServer builds the server. It does not listen yet: see ListenGRPC and
// Run.
func NewServer(opts Options) (*Server, error) {
	if opts.Tools == nil {
		return nil, errors.New("a2a: Options.Tools is required")
	}
	if opts.Tasks == nil {
		return nil, errors.New("a2a: Options.Tasks is required")
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
	if opts.MaxConns == 0 {
		opts.MaxConns = connlimit.DefaultMaxConns
	}
	if opts.MaxConnsPerClient == 0 {
		opts.MaxConnsPerClient = connlimit.DefaultMaxConnsPerClient
	}
	s := &Server{opts: opts, log: opts.Logger, tasks: NewTaskStore(opts.Tasks, opts.Now)}
	handlerOpts := []a2asrv.RequestHandlerOption{
		a2asrv.WithTaskStore(s.tasks),
		a2asrv.WithLogger(opts.Logger),
		// Identity first, so that the error log names the caller.
		a2asrv.WithCallInterceptor(IdentityInterceptor(opts.Principal)),
		a2asrv.WithCallInterceptor(errorInterceptor{log: opts.Logger}),
		// After identity: a caller reaches only its own tasks.
		a2asrv.WithCallInterceptor(ownershipInterceptor{tasks: s.tasks, isAdmin: opts.IsAdmin, log: opts.Logger}),
		// Last, so that its After sees the answer before errorInterceptor
		// maps it: the call's audit record learns its task and failure.
		a2asrv.WithCallInterceptor(auditInterceptor{}),
	}
	s.handler = a2asrv.NewHandler(NewExecutor(opts.Tools, opts.Logger), append(handlerOpts, opts.HandlerOptions...)...)
	// compat goes outside the call context, so that the extensions header
	// it copies from 1.0 requests is seen (a2a/compat.MiddlewareWith).
	s.jsonrpc = compat.MiddlewareWith(CallContextMiddleware(a2asrv.NewJSONRPCHandler(s.handler)), compat.Options{MaxBodyBytes: opts.MaxBodyBytes})
	return s, nil
}

// grpcMethods are the JSON-RPC twins of the A2A 0.3 gRPC methods.
var grpcMethods = map[string]string{
	a2apb.A2AService_SendMessage_FullMethodName:                      "message/send",
	a2apb.A2AService_SendStreamingMessage_FullMethodName:             "message/stream",
	a2apb.A2AService_GetTask_FullMethodName:                          "tasks/get",
	a2apb.A2AService_ListTasks_FullMethodName:                        "tasks/list",
	a2apb.A2AService_CancelTask_FullMethodName:                       "tasks/cancel",
	a2apb.A2AService_TaskSubscription_FullMethodName:                 "tasks/resubscribe",
	a2apb.A2AService_CreateTaskPushNotificationConfig_FullMethodName: "tasks/pushNotificationConfig/set",
	a2apb.A2AService_GetTaskPushNotificationConfig_FullMethodName:    "tasks/pushNotificationConfig/get",
	a2apb.A2AService_ListTaskPushNotificationConfig_FullMethodName:   "tasks/pushNotificationConfig/list",
	a2apb.A2AService_DeleteTaskPushNotificationConfig_FullMethodName: "tasks/pushNotificationConfig/delete",
	a2apb.A2AService_GetAgentCard_FullMethodName:                     "agent/getAuthenticatedExtendedCard",
}

// GRPCMethod names the A2A JSON-RPC method a gRPC call of the A2A service
// is the twin of (fullMethod is the gRPC method's full name, as
// interceptors see it), so that what is said about calls (the audit log)
// reads the same on both bindings; "" for a method of another service.
func GRPCMethod(fullMethod string) string { return grpcMethods[fullMethod] }

// RequestHandler is the transport-independent A2A handler, for wrapping
// (the A2A 1.0 translation).
func (s *Server) RequestHandler() a2asrv.RequestHandler { return s.handler }

// Handler serves A2A JSON-RPC (message/send, message/stream, tasks/get,
// tasks/cancel, tasks/resubscribe): mount it at JSONRPCPath.
func (s *Server) Handler() http.Handler { return s.jsonrpc }

// Tasks is the durable task store.
func (s *Server) Tasks() *TaskStore { return s.tasks }

// Card is the gateway's agent card as of now (the tools are listed afresh).
func (s *Server) Card(ctx context.Context) (a2ago.AgentCard, error) {
	tools, err := s.opts.Tools.ListTools(ctx)
	if err != nil {
		return a2ago.AgentCard{}, fmt.Errorf("a2a: agent card: %w", err)
	}
	return Card(CardOptions{
		PublicURL:       s.opts.PublicURL,
		GRPCTarget:      s.GRPCTarget(),
		Tools:           tools,
		Version:         s.opts.Version,
		SecuritySchemes: s.opts.SecuritySchemes,
		Security:        s.opts.Security,
	}), nil
}

// CardHandler serves Card, with A2A 1.0's supportedInterfaces beside the
// 0.3 fields: mount it at a2asrv.WellKnownAgentCardPath. JSON-RPC is offered
// in both versions (compat translates); gRPC speaks 0.3 only.
func (s *Server) CardHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		card, err := s.Card(r.Context())
		if err != nil {
			s.log.ErrorContext(r.Context(), "a2a agent card", "err", err)
			http.Error(w, "agent card unavailable", http.StatusInternalServerError)
			return
		}
		doc, err := json.Marshal(card)
		if err == nil {
			ifaces := compat.InterfacesFor(card.URL, compat.BindingJSONRPC, compat.V10, compat.V03)
			if target := s.GRPCTarget(); target != "" {
				ifaces = append(ifaces, compat.InterfacesFor(target, compat.BindingGRPC, compat.V03)...)
			}
			doc, err = compat.CardWith10(doc, ifaces)
		}
		if err != nil {
			s.log.ErrorContext(r.Context(), "a2a agent card", "err", err)
			http.Error(w, "agent card unavailable", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	})
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

// Run serves the gRPC binding until ctx ends, then stops gracefully:
// in-flight calls get up to ShutdownTimeout to finish before they are
// cut (and Run returns an error saying so). With gRPC off it returns nil
// at once. Run may be called once.
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
	a2agrpc.NewHandler(s.handler).RegisterWith(srv)
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
