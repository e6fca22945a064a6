package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"strings"
	"sync"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2asrv"
	"google.golang.org/grpc"
)

// restSub is where under an agent's relay path its REST face is.
const restSub = "rest"

// RESTURL is the base URL of the relay's REST face for the named agent
// (A2A 1.0 at it, 0.3 under its /v1, as 0.3 clients put every path).
func (rl *Relay) RESTURL(name string) string { return rl.AgentURL(name) + "/" + restSub }

// serveREST relays a REST call to the named agent through the forwarder:
// the SDK's REST bindings read the caller's request and write the answer
// (events streamed one by one), the forwarder calls the agent over
// whatever binding and version its card offers. rest is the path under
// the agent's REST base. A2A 1.0's message:send goes through the JSON-RPC
// relay instead, when that answers as this path would (sendREST).
func (rl *Relay) serveREST(w http.ResponseWriter, r *http.Request, name, rest string) {
	if rl.opts.Clients == nil {
		http.NotFound(w, r)
		return
	}
	if r.ContentLength > rl.opts.MaxBodyBytes {
		writeRESTError(w, http.StatusRequestEntityTooLarge, "INVALID_ARGUMENT",
			fmt.Sprintf("the request body is larger than the %d bytes the gateway accepts", rl.opts.MaxBodyBytes))
		return
	}
	body := r.Body
	if isRESTSend(r, rest) {
		// Relayed by the JSON-RPC relay when it answers as this path would
		// (restsend.go); else body is the request's body as it came.
		var done bool
		if done, body = rl.sendREST(w, r, name); done {
			return
		}
	}
	r2 := r.WithContext(withAgent(r.Context(), name))
	u := *r.URL
	u.Path, u.RawPath = rest, ""
	if u.Path == "" {
		u.Path = "/"
	}
	r2.URL = &u
	if body != nil {
		r2.Body = http.MaxBytesReader(w, body, rl.opts.MaxBodyBytes)
	}
	rl.rest.ServeHTTP(w, r2)
}

// writeRESTError answers in the form of A2A 1.0's REST errors.
func writeRESTError(w http.ResponseWriter, status int, grpcStatus, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": status, "status": grpcStatus, "message": msg}})
}

// TenantHandler routes the calls of the gateway's gRPC A2A 1.0 service by
// the request's tenant (A2A 1.0 AgentInterface.tenant): no tenant is the
// gateway's own face (own), any other names the registered agent the
// call is relayed to (the relayed cards list the gRPC interface with the
// agent's name as its tenant). Put it under the gRPC service's
// authentication and audit interceptors: the forwarder checks that the
// caller may message the agent, and notes the call as relayed to it for
// its audit record (audit.NoteTarget).
func (rl *Relay) TenantHandler(own a2asrv.RequestHandler) a2asrv.RequestHandler {
	return tenantRouter{own: own, rl: rl}
}

type tenantRouter struct {
	own a2asrv.RequestHandler
	rl  *Relay
}

var _ a2asrv.RequestHandler = tenantRouter{}

// pick chooses the handler of a call by its tenant: the request's, else
// the one TenantServerOptions read from the gRPC request (a2a-go v2.4.0's
// gRPC handler leaves it out of CancelTask's and SubscribeToTask's
// requests).
func (t tenantRouter) pick(ctx context.Context, tenant string) a2asrv.RequestHandler {
	if tenant == "" {
		tenant = grpcTenant(ctx)
	}
	if tenant == "" || t.rl.opts.Clients == nil {
		return t.own
	}
	return forwarder{rl: t.rl, name: tenant}
}

func (t tenantRouter) GetTask(ctx context.Context, req *a2a.GetTaskRequest) (*a2a.Task, error) {
	return t.pick(ctx, req.Tenant).GetTask(ctx, req)
}

func (t tenantRouter) ListTasks(ctx context.Context, req *a2a.ListTasksRequest) (*a2a.ListTasksResponse, error) {
	return t.pick(ctx, req.Tenant).ListTasks(ctx, req)
}

func (t tenantRouter) CancelTask(ctx context.Context, req *a2a.CancelTaskRequest) (*a2a.Task, error) {
	return t.pick(ctx, req.Tenant).CancelTask(ctx, req)
}

func (t tenantRouter) SendMessage(ctx context.Context, req *a2a.SendMessageRequest) (a2a.SendMessageResult, error) {
	return t.pick(ctx, req.Tenant).SendMessage(ctx, req)
}

func (t tenantRouter) SubscribeToTask(ctx context.Context, req *a2a.SubscribeToTaskRequest) iter.Seq2[a2a.Event, error] {
	return t.pick(ctx, req.Tenant).SubscribeToTask(ctx, req)
}

func (t tenantRouter) SendStreamingMessage(ctx context.Context, req *a2a.SendMessageRequest) iter.Seq2[a2a.Event, error] {
	return t.pick(ctx, req.Tenant).SendStreamingMessage(ctx, req)
}

func (t tenantRouter) GetTaskPushConfig(ctx context.Context, req *a2a.GetTaskPushConfigRequest) (*a2a.PushConfig, error) {
	return t.pick(ctx, req.Tenant).GetTaskPushConfig(ctx, req)
}

func (t tenantRouter) ListTaskPushConfigs(ctx context.Context, req *a2a.ListTaskPushConfigRequest) (*a2a.ListTaskPushConfigResponse, error) {
	return t.pick(ctx, req.Tenant).ListTaskPushConfigs(ctx, req)
}

func (t tenantRouter) CreateTaskPushConfig(ctx context.Context, req *a2a.PushConfig) (*a2a.PushConfig, error) {
	return t.pick(ctx, req.Tenant).CreateTaskPushConfig(ctx, req)
}

func (t tenantRouter) DeleteTaskPushConfig(ctx context.Context, req *a2a.DeleteTaskPushConfigRequest) error {
	return t.pick(ctx, req.Tenant).DeleteTaskPushConfig(ctx, req)
}

func (t tenantRouter) GetExtendedAgentCard(ctx context.Context, req *a2a.GetExtendedAgentCardRequest) (*a2a.AgentCard, error) {
	return t.pick(ctx, req.Tenant).GetExtendedAgentCard(ctx, req)
}

// grpcService10 prefixes the methods of the A2A 1.0 gRPC service, the one
// TenantHandler routes.
const grpcService10 = "/lf.a2a.v1.A2AService/"

// TenantServerOptions are the gRPC server's interceptors that read the
// tenant of every call of the A2A 1.0 service from its request, for
// TenantHandler: a2a-go (v2.4.0) passes the tenant on in most requests
// but not in CancelTask's and SubscribeToTask's, which would otherwise
// reach the gateway's own face rather than the agent they name.
func TenantServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if t, ok := req.(interface{ GetTenant() string }); ok && strings.HasPrefix(info.FullMethod, grpcService10) {
				box := &tenantBox{}
				box.set(t.GetTenant())
				ctx = context.WithValue(ctx, tenantKey{}, box)
			}
			return h(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if !strings.HasPrefix(info.FullMethod, grpcService10) {
				return h(srv, ss)
			}
			box := &tenantBox{}
			return h(srv, tenantStream{ServerStream: ss, ctx: context.WithValue(ss.Context(), tenantKey{}, box), box: box})
		}),
	}
}

type tenantKey struct{}

// tenantBox holds the tenant of a call's request, once read.
type tenantBox struct {
	mu     sync.Mutex
	tenant string
}

func (b *tenantBox) set(t string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tenant = t
}

func (b *tenantBox) get() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.tenant
}

// grpcTenant is the tenant TenantServerOptions read from the call's
// request, or "".
func grpcTenant(ctx context.Context) string {
	if b, ok := ctx.Value(tenantKey{}).(*tenantBox); ok {
		return b.get()
	}
	return ""
}

// tenantStream reads the tenant of a server-streaming call's request as
// the handler receives it (before it calls the request handler).
type tenantStream struct {
	grpc.ServerStream
	ctx context.Context
	box *tenantBox
}

func (s tenantStream) Context() context.Context { return s.ctx }

func (s tenantStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if t, ok := m.(interface{ GetTenant() string }); ok && err == nil {
		s.box.set(t.GetTenant())
	}
	return err
}
