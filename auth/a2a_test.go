package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	a2ago "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2aclient"
	"github.com/a2aproject/a2a-go/v2/a2aclient/agentcard"
	grpcv1 "github.com/a2aproject/a2a-go/v2/a2agrpc/v1"
	"github.com/a2aproject/a2a-go/v2/a2asrv"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/parleyhq/parley/a2a"
	"github.com/parleyhq/parley/a2a/a2astore"
	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/store"
)

// memTasks is an in-memory store.A2ATasks.
type memTasks struct {
	mu    sync.Mutex
	tasks map[string]store.A2ATask
}

func (m *memTasks) CreateA2ATask(_ context.Context, t store.A2ATask, _ []byte) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.tasks[t.ID]; ok {
		return 0, store.ErrExists
	}
	t.Task, t.Version, t.UpdatedAt = append(json.RawMessage(nil), t.Task...), 1, t.CreatedAt
	m.tasks[t.ID] = t
	return 1, nil
}

func (m *memTasks) UpdateA2ATask(_ context.Context, t store.A2ATask, prevVersion int64, _ []byte) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.tasks[t.ID]
	if !ok {
		return 0, store.ErrNotFound
	}
	if prevVersion != 0 && prevVersion != cur.Version {
		return 0, &store.VersionConflictError{Kind: store.KindA2ATask, Key: t.ID, Expected: prevVersion, Current: cur.Version}
	}
	cur.ContextID, cur.State, cur.Task, cur.UpdatedAt = t.ContextID, t.State, append(json.RawMessage(nil), t.Task...), t.UpdatedAt
	cur.Version++
	m.tasks[t.ID] = cur
	return cur.Version, nil
}

func (m *memTasks) GetA2ATask(_ context.Context, id string) (store.A2ATask, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tasks[id]
	if !ok {
		return store.A2ATask{}, store.ErrNotFound
	}
	return t, nil
}

func (m *memTasks) ListA2ATasks(context.Context, store.A2ATaskFilter) ([]store.A2ATask, int, bool, error) {
	return nil, 0, false, errors.New("not needed")
}

func (m *memTasks) A2ATaskEventsAfter(context.Context, string, int64, int) ([]store.A2ATaskEvent, error) {
	return nil, nil
}

func (m *memTasks) LastA2ATaskEventSeq(context.Context, string) (int64, error) { return 0, nil }

func (m *memTasks) SweepA2ATaskEvents(context.Context, []string, time.Time) (int64, error) {
	return 0, nil
}

// whoTools is a ToolCaller with one tool, whoami, that answers with the
// A2A caller and the auth principal its context carries.
type whoTools struct{}

func (whoTools) CallTool(ctx context.Context, name string, _ map[string]any) (*mcp.CallToolResult, error) {
	principal := "-"
	if p, ok := auth.FromContext(ctx); ok {
		principal = p.Name()
	}
	return &mcp.CallToolResult{
		Content:           []mcp.Content{&mcp.TextContent{Text: "ok"}},
		StructuredContent: map[string]any{"caller": a2a.CallerFrom(ctx), "principal": principal},
	}, nil
}

func (whoTools) ListTools(context.Context) ([]*mcp.Tool, error) {
	return []*mcp.Tool{{Name: "whoami", InputSchema: map[string]any{"type": "object"}}}, nil
}

// TestA2AServerWiring runs Parley's real A2A server behind the Service,
// wired the way the app is: A2A around the JSON-RPC and REST handlers,
// GRPCServerOptions on the gRPC server, A2APrincipal as the server's
// Principal. Clients present tokens through Outbound.
func TestA2AServerWiring(t *testing.T) {
	iss := newIssuer(t)
	s := iss.service(t, nil)
	tasks := &memTasks{tasks: map[string]store.A2ATask{}}

	mux := http.NewServeMux()
	hs := httptest.NewServer(mux)
	defer hs.Close()
	schemes, security := s.A2ASecurity()
	srv, err := a2a.NewServer(a2a.Options{
		SecuritySchemes: schemes,
		Security:        security,
		Tools:           whoTools{},
		Tasks:           a2astore.NewTaskStore(tasks, a2astore.TaskStoreOptions{}),
		Owner: func(ctx context.Context, id string) (string, error) {
			t, err := tasks.GetA2ATask(ctx, id)
			return t.Caller, err
		},
		PublicURL:         hs.URL,
		GRPCListen:        "127.0.0.1:0",
		Principal:         s.A2APrincipal,
		GRPCServerOptions: s.GRPCServerOptions(),
	})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(a2a.JSONRPCPath, s.A2A(srv.JSONRPCHandler()))
	mux.Handle(a2a.RESTPath+"/", http.StripPrefix(a2a.RESTPath, s.A2A(srv.RESTHandler())))
	mux.Handle(a2asrv.WellKnownAgentCardPath, srv.CardHandler()) // public
	if err := srv.ListenGRPC(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()

	card, err := agentcard.NewResolver(&http.Client{}).Resolve(t.Context(), hs.URL)
	if err != nil {
		t.Fatalf("the card must stay public: %v", err)
	}
	// The card declares the OpenID Connect scheme.
	if sc, ok := card.SecuritySchemes[auth.A2ASecuritySchemeName].(a2ago.OpenIDConnectSecurityScheme); !ok ||
		sc.OpenIDConnectURL != iss.URL()+"/.well-known/openid-configuration" || len(card.SecurityRequirements) != 1 {
		t.Errorf("card security: %#v %#v", card.SecuritySchemes, card.SecurityRequirements)
	}

	// client presents token (none if empty) over the card's 1.0 interface
	// of the transport.
	client := func(transport a2ago.TransportProtocol, token string) *a2aclient.Client {
		t.Helper()
		creds := map[string]config.AgentCredentials{}
		if token != "" {
			creds["parley"] = config.AgentCredentials{BearerTokenEnv: "TOKEN"}
		}
		out, err := auth.NewOutbound(t.Context(), creds, auth.OutboundOptions{Getenv: func(string) string { return token }})
		if err != nil {
			t.Fatal(err)
		}
		grpcOpts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
		if rc := out.PerRPCCredentials("parley"); rc != nil {
			grpcOpts = append(grpcOpts, grpc.WithPerRPCCredentials(rc))
		}
		var ep *a2ago.AgentInterface
		for _, i := range card.SupportedInterfaces {
			if i.ProtocolBinding == transport && i.ProtocolVersion == a2ago.Version {
				ep = i
			}
		}
		if ep == nil {
			t.Fatalf("the card lists no %s 1.0 interface", transport)
		}
		hc := &http.Client{Transport: out.Transport("parley", nil)}
		c, err := a2aclient.NewFromEndpoints(t.Context(), []*a2ago.AgentInterface{ep},
			a2aclient.WithJSONRPCTransport(hc), a2aclient.WithRESTTransport(hc), grpcv1.WithGRPCTransport(grpcOpts...))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Destroy() })
		return c
	}
	msg := func() *a2ago.SendMessageRequest {
		return &a2ago.SendMessageRequest{Message: a2ago.NewMessage(a2ago.MessageRoleUser, a2ago.NewDataPart(map[string]any{"tool": "whoami"}))}
	}

	for _, transport := range []a2ago.TransportProtocol{a2ago.TransportProtocolJSONRPC, a2ago.TransportProtocolHTTPJSON, a2ago.TransportProtocolGRPC} {
		t.Run(string(transport), func(t *testing.T) {
			// Refused without a token, and with a bad one.
			for _, token := range []string{"", iss.token(map[string]any{"aud": "elsewhere"})} {
				_, err := client(transport, token).SendMessage(t.Context(), msg())
				if err == nil {
					t.Fatalf("token %q: message/send succeeded", token)
				}
				if transport == a2ago.TransportProtocolGRPC && !strings.Contains(err.Error(), codes.Unauthenticated.String()) &&
					!errors.Is(err, a2ago.ErrUnauthenticated) {
					t.Errorf("gRPC error %v, want Unauthenticated", err)
				}
				if transport == a2ago.TransportProtocolJSONRPC && !strings.Contains(err.Error(), "401") {
					t.Errorf("JSON-RPC error %v, want a 401", err)
				}
				// The REST client reports the 401's message.
				if transport == a2ago.TransportProtocolHTTPJSON && !strings.Contains(err.Error(), "authentication required") &&
					!strings.Contains(err.Error(), "invalid token") {
					t.Errorf("REST error %v, want the 401's message", err)
				}
			}

			// Accepted with a good one; the task records its caller.
			res, err := client(transport, iss.token(map[string]any{"sub": "billing-bot"})).SendMessage(t.Context(), msg())
			if err != nil {
				t.Fatalf("message/send: %v", err)
			}
			task, ok := res.(*a2ago.Task)
			if !ok {
				t.Fatalf("result %T", res)
			}
			stored, err := tasks.GetA2ATask(t.Context(), string(task.ID))
			if err != nil {
				t.Fatal(err)
			}
			if stored.Caller != "billing-bot" {
				t.Errorf("task caller = %q, want billing-bot", stored.Caller)
			}
			if len(task.Artifacts) != 1 {
				t.Fatalf("task %s has %d artifacts", task.Status.State, len(task.Artifacts))
			}
			seen := false
			for _, p := range task.Artifacts[0].Parts {
				if data, ok := p.Data().(map[string]any); ok {
					seen = true
					// The executor's context carries the principal: it can
					// call Service.AuthorizeTool itself.
					if data["caller"] != "billing-bot" || data["principal"] != "billing-bot" {
						t.Errorf("the tool saw %v", data)
					}
				}
			}
			if !seen {
				t.Errorf("no data part in %#v", task.Artifacts[0].Parts)
			}
		})
	}
}

// TestGRPCInterceptors checks both interceptors on a plain gRPC service
// (health: a unary Check and a streaming Watch).
func TestGRPCInterceptors(t *testing.T) {
	iss := newIssuer(t)
	s := iss.service(t, func(c *config.Auth, _ *auth.Options) { c.RequiredScopes = []string{"parley.a2a"} })

	gs := grpc.NewServer(s.GRPCServerOptions()...)
	healthpb.RegisterHealthServer(gs, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	defer gs.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)

	tests := []struct {
		name string
		md   []string
		want codes.Code
	}{
		{"no token", nil, codes.Unauthenticated},
		{"bad token", []string{"authorization", "Bearer " + iss.token(map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})}, codes.Unauthenticated},
		{"two tokens", []string{"authorization", "Bearer a", "authorization", "Bearer b"}, codes.Unauthenticated},
		{"scope missing", []string{"authorization", "Bearer " + iss.token(nil)}, codes.PermissionDenied},
		{"good", []string{"authorization", "Bearer " + iss.token(map[string]any{"scope": "parley.a2a"})}, codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if tt.md != nil {
				ctx = metadata.AppendToOutgoingContext(ctx, tt.md...)
			}
			_, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
			if got := status.Code(err); got != tt.want {
				t.Errorf("unary: %v, want %v", err, tt.want)
			}
			stream, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{})
			if err == nil {
				_, err = stream.Recv()
			}
			if got := status.Code(err); got != tt.want {
				t.Errorf("stream: %v, want %v", err, tt.want)
			}
			if err != nil && strings.Contains(strings.ToLower(err.Error()), "expired") {
				t.Errorf("error %q tells the caller the reason", err)
			}
		})
	}
}
