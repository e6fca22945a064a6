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

	a2ago "github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2aclient"
	"github.com/a2aproject/a2a-go/a2aclient/agentcard"
	"github.com/a2aproject/a2a-go/a2asrv"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/parleyhq/parley/a2a"
	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/store"
)

// memTasks is an in-memory store.A2ATasks.
type memTasks struct {
	mu    sync.Mutex
	tasks map[string]store.A2ATask
}

func (m *memTasks) SaveA2ATask(_ context.Context, id, contextID, caller, state string, taskJSON []byte, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tasks[id]
	if !ok {
		t = store.A2ATask{ID: id, ContextID: contextID, Caller: caller, CreatedAt: at}
	}
	t.State, t.Task = state, append(json.RawMessage(nil), taskJSON...)
	t.Version++
	m.tasks[id] = t
	return nil
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

func (m *memTasks) ListA2ATasks(context.Context, store.A2ATaskFilter) ([]store.A2ATask, bool, error) {
	return nil, false, errors.New("not needed")
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
// wired the way serve.go should: A2A around the JSON-RPC handler,
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
		SecuritySchemes:   schemes,
		Security:          security,
		Tools:             whoTools{},
		Tasks:             tasks,
		PublicURL:         hs.URL,
		GRPCListen:        "127.0.0.1:0",
		Principal:         s.A2APrincipal,
		GRPCServerOptions: s.GRPCServerOptions(),
	})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(a2a.JSONRPCPath, s.A2A(srv.Handler()))
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
		sc.OpenIDConnectURL != iss.URL()+"/.well-known/openid-configuration" || len(card.Security) != 1 {
		t.Errorf("card security: %#v %#v", card.SecuritySchemes, card.Security)
	}

	// client presents token (none if empty) over the transport.
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
		c, err := a2aclient.NewFromCard(t.Context(), card,
			a2aclient.WithJSONRPCTransport(&http.Client{Transport: out.Transport("parley", nil)}),
			a2aclient.WithGRPCTransport(grpcOpts...),
			a2aclient.WithConfig(a2aclient.Config{PreferredTransports: []a2ago.TransportProtocol{transport}}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Destroy() })
		return c
	}
	msg := func() *a2ago.MessageSendParams {
		return &a2ago.MessageSendParams{Message: a2ago.NewMessage(a2ago.MessageRoleUser, a2ago.DataPart{Data: map[string]any{"tool": "whoami"}})}
	}

	for _, transport := range []a2ago.TransportProtocol{a2ago.TransportProtocolJSONRPC, a2ago.TransportProtocolGRPC} {
		t.Run(string(transport), func(t *testing.T) {
			// Refused without a token, and with a bad one.
			for _, token := range []string{"", iss.token(map[string]any{"aud": "elsewhere"})} {
				_, err := client(transport, token).SendMessage(t.Context(), msg())
				if err == nil {
					t.Fatalf("token %q: message/send succeeded", token)
				}
				if transport == a2ago.TransportProtocolGRPC && !strings.Contains(err.Error(), codes.Unauthenticated.String()) {
					t.Errorf("gRPC error %v, want Unauthenticated", err)
				}
				if transport == a2ago.TransportProtocolJSONRPC && !strings.Contains(err.Error(), "401") {
					t.Errorf("JSON-RPC error %v, want a 401", err)
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
				if dp, ok := p.(a2ago.DataPart); ok {
					seen = true
					// The executor's context carries the principal: it can
					// call Service.AuthorizeTool itself.
					if dp.Data["caller"] != "billing-bot" || dp.Data["principal"] != "billing-bot" {
						t.Errorf("the tool saw %v", dp.Data)
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
