package agentcardstest

import (
	"context"
	"errors"
	"iter"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	a2av1 "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2acompat/a2av0"
	a2agrpcv0 "github.com/a2aproject/a2a-go/v2/a2agrpc/v0"
	a2agrpcv1 "github.com/a2aproject/a2a-go/v2/a2agrpc/v1"
	a2asrvv1 "github.com/a2aproject/a2a-go/v2/a2asrv"
	"google.golang.org/grpc"
)

// Bindings of A2A 1.0, as cards name them, and the same in A2A 0.3
// (served by a2a-go v2's compatibility handlers).
const (
	BindingJSONRPC = string(a2av1.TransportProtocolJSONRPC)
	BindingREST    = string(a2av1.TransportProtocolHTTPJSON)
	BindingGRPC    = string(a2av1.TransportProtocolGRPC)

	BindingJSONRPC03 = BindingJSONRPC + "/0.3"
	BindingREST03    = BindingREST + "/0.3"
	BindingGRPC03    = BindingGRPC + "/0.3"
)

// Echo1 is EchoExecutor for a2a-go v2 (A2A 1.0): it answers every
// message with "<Name> echoes: <text>".
type Echo1 struct{ Name string }

// Execute implements a2asrv.AgentExecutor (v2).
func (e Echo1) Execute(_ context.Context, ec *a2asrvv1.ExecutorContext) iter.Seq2[a2av1.Event, error] {
	return func(yield func(a2av1.Event, error) bool) {
		var text strings.Builder
		if ec.Message != nil {
			for _, p := range ec.Message.Parts {
				text.WriteString(p.Text())
			}
		}
		reply := a2av1.NewMessage(a2av1.MessageRoleAgent, a2av1.NewTextPart(e.Name+" echoes: "+text.String()))
		reply.ContextID = ec.ContextID
		yield(reply, nil)
	}
}

// Cancel implements a2asrv.AgentExecutor (v2): echoes have no task.
func (Echo1) Cancel(context.Context, *a2asrvv1.ExecutorContext) iter.Seq2[a2av1.Event, error] {
	return func(yield func(a2av1.Event, error) bool) { yield(nil, a2av1.ErrTaskNotCancelable) }
}

// Peer1 is an a2a-go v2 agent (A2A 1.0) on loopback: JSON-RPC at /jsonrpc,
// REST at /rest and gRPC on a port of its own, and the same in A2A 0.3
// (JSON-RPC at /jsonrpc03, REST at /rest03, the 0.3 gRPC service beside
// the 1.0 one), its card at the well-known path listing the bindings
// NewPeer1 was given, in that order (the first is the one it prefers).
type Peer1 struct {
	Server   *httptest.Server
	GRPCAddr string // host:port of its gRPC server

	stopGRPC func()

	// Calls counts the A2A calls it got on each binding.
	calls sync.Map // binding → *atomic.Int64
}

// NewPeer1 starts an A2A 1.0 agent named name answering with exec (nil:
// Echo1), whose card lists the given bindings (default: JSON-RPC). It
// stops when the test ends.
func NewPeer1(t testing.TB, name string, exec a2asrvv1.AgentExecutor, bindings ...string) *Peer1 {
	t.Helper()
	return NewPeer1With(t, name, exec, []a2av1.AgentSkill{Skill1("echo", "Echo", "echo")}, bindings...)
}

// NewPeer1With is NewPeer1 with the skills its card lists.
func NewPeer1With(t testing.TB, name string, exec a2asrvv1.AgentExecutor, skills []a2av1.AgentSkill, bindings ...string) *Peer1 {
	t.Helper()
	if exec == nil {
		exec = Echo1{Name: name}
	}
	if len(bindings) == 0 {
		bindings = []string{BindingJSONRPC}
	}
	p := &Peer1{}
	handler := a2asrvv1.NewHandler(exec)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// The 1.0 service is lf.a2a.v1.A2AService, the 0.3 one a2a.v1.A2AService.
	grpcBinding := func(method string) string {
		if strings.HasPrefix(method, "/lf.") {
			return BindingGRPC
		}
		return BindingGRPC03
	}
	gs := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		p.count(grpcBinding(info.FullMethod))
		return h(ctx, req)
	}), grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		p.count(grpcBinding(info.FullMethod))
		return h(srv, ss)
	}))
	a2agrpcv1.NewHandler(handler).RegisterWith(gs)
	a2agrpcv0.NewHandler(handler).RegisterWith(gs)
	served := make(chan error, 1)
	go func() { served <- gs.Serve(ln) }()
	var stopOnce sync.Once
	p.stopGRPC = func() { stopOnce.Do(gs.Stop) }
	t.Cleanup(func() {
		p.stopGRPC()
		if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			t.Errorf("gRPC server of %s: %v", name, err)
		}
	})
	p.GRPCAddr = ln.Addr().String()

	mux := http.NewServeMux()
	counted := func(binding string, h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p.count(binding)
			h.ServeHTTP(w, r)
		})
	}
	mux.Handle("/jsonrpc", counted(BindingJSONRPC, a2asrvv1.NewJSONRPCHandler(handler)))
	mux.Handle("/rest/", counted(BindingREST, http.StripPrefix("/rest", a2asrvv1.NewRESTHandler(handler))))
	mux.Handle("/jsonrpc03", counted(BindingJSONRPC03, a2av0.NewJSONRPCHandler(handler)))
	mux.Handle("/rest03/", counted(BindingREST03, http.StripPrefix("/rest03", a2av0.NewRESTHandler(handler))))
	p.Server = httptest.NewServer(mux)
	t.Cleanup(p.Server.Close)

	card := Card1(name, skills...)
	for _, b := range bindings {
		url := map[string]string{
			BindingJSONRPC: p.Server.URL + "/jsonrpc", BindingREST: p.Server.URL + "/rest", BindingGRPC: p.GRPCAddr,
			BindingJSONRPC03: p.Server.URL + "/jsonrpc03", BindingREST03: p.Server.URL + "/rest03", BindingGRPC03: p.GRPCAddr,
		}[b]
		if url == "" {
			t.Fatalf("NewPeer1: unknown binding %q", b)
		}
		binding, version, _ := strings.Cut(b, "/")
		iface := a2av1.NewAgentInterface(url, a2av1.TransportProtocol(binding))
		if version != "" {
			iface.ProtocolVersion = a2av1.ProtocolVersion(version)
		}
		card.SupportedInterfaces = append(card.SupportedInterfaces, iface)
	}
	mux.Handle(a2asrvv1.WellKnownAgentCardPath, a2asrvv1.NewStaticAgentCardHandler(card))
	return p
}

func (p *Peer1) count(binding string) {
	n, _ := p.calls.LoadOrStore(binding, new(atomic.Int64))
	n.(*atomic.Int64).Add(1)
}

// Calls is how many A2A calls the agent got on binding.
func (p *Peer1) Calls(binding string) int64 {
	if n, ok := p.calls.Load(binding); ok {
		return n.(*atomic.Int64).Load()
	}
	return 0
}

// URL is the agent's base URL (no trailing slash), where its card is.
func (p *Peer1) URL() string { return p.Server.URL }

// Stop stops the agent: connections to it (HTTP and gRPC) are refused
// from now on.
func (p *Peer1) Stop() {
	p.Server.Close()
	p.stopGRPC()
}

// Card1 is Card03 for A2A 1.0: a valid card but for its interfaces,
// which the caller adds as it serves them.
func Card1(name string, skills ...a2av1.AgentSkill) *a2av1.AgentCard {
	return &a2av1.AgentCard{
		Name:               name,
		Description:        name + ", a test agent (A2A 1.0)",
		Version:            "1.0.0",
		Capabilities:       a2av1.AgentCapabilities{Streaming: true},
		DefaultInputModes:  []string{"text/plain"},
		DefaultOutputModes: []string{"text/plain"},
		Skills:             skills,
	}
}

// Skill1 is Skill for A2A 1.0 cards.
func Skill1(id, name string, tags ...string) a2av1.AgentSkill {
	return a2av1.AgentSkill{ID: id, Name: name, Description: name + " for customers", Tags: tags}
}
