package agentpool_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2asrv"

	"github.com/parleyhq/parley/a2a/agentpool"
	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/agentcards/agentcardstest"
)

// TestCallError: a failed call is said in the caller's terms: an agent
// that cannot be reached (refused on each binding, a proxy's 502 in front
// of it) is ErrAgentUnreachable with a reason and no address; an answer
// the agent gave is passed on.
func TestCallError(t *testing.T) {
	// A REST agent behind a proxy that fails: its card is served, its
	// calls get an HTML 502.
	proxied := http.NewServeMux()
	front := httptest.NewServer(proxied)
	t.Cleanup(front.Close)
	proxied.Handle(a2asrv.WellKnownAgentCardPath, a2asrv.NewStaticAgentCardHandler(&a2a.AgentCard{
		Name: "proxied", Description: "behind a failing proxy", Version: "1",
		SupportedInterfaces: []*a2a.AgentInterface{a2a.NewAgentInterface(front.URL+"/rest", a2a.TransportProtocolHTTPJSON)},
		Skills:              []a2a.AgentSkill{{ID: "x", Name: "X", Description: "x", Tags: []string{"x"}}},
	}))
	proxied.HandleFunc("/rest/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html>bad gateway</html>"))
	})

	tests := []struct {
		name        string
		start       func(t *testing.T) (url string, stop func())
		unreachable bool
		want        string // in the message
		blocked     bool   // the pool's guard refuses loopback
	}{
		{"JSON-RPC to a blocked address", func(t *testing.T) (string, func()) {
			p := agentcardstest.NewPeer1(t, "billing", nil, agentcardstest.BindingJSONRPC)
			return p.URL(), func() {}
		}, true, `agent "billing" could not be reached: the address is not allowed: 127.0.0.1 is a loopback address`, true},
		{"gRPC to a blocked address", func(t *testing.T) (string, func()) {
			p := agentcardstest.NewPeer1(t, "billing", nil, agentcardstest.BindingGRPC)
			return p.URL(), func() {}
		}, true, `agent "billing" could not be reached: the address is not allowed`, true},
		{"JSON-RPC refused", func(t *testing.T) (string, func()) {
			p := agentcardstest.NewPeer1(t, "billing", nil, agentcardstest.BindingJSONRPC)
			return p.URL(), p.Stop
		}, true, `agent "billing" could not be reached: connection refused`, false},
		{"gRPC refused", func(t *testing.T) (string, func()) {
			p := agentcardstest.NewPeer1(t, "billing", nil, agentcardstest.BindingGRPC)
			return p.URL(), p.Stop
		}, true, `agent "billing" could not be reached: connection refused`, false},
		{"REST behind a failing proxy", func(t *testing.T) (string, func()) {
			return front.URL, func() {}
		}, true, `agent "proxied" could not be reached: it answered HTTP 502 Bad Gateway`, false},
		{"an A2A error answer", func(t *testing.T) (string, func()) {
			p := agentcardstest.NewPeer1(t, "billing", nil, agentcardstest.BindingREST)
			return p.URL(), func() {}
		}, false, `agent "billing": `, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			reg := newRegistry(t)
			url, stop := tt.start(t)
			agent, err := reg.Register(ctx, agentcards.Registration{URL: url})
			if err != nil {
				t.Fatal(err)
			}
			guard := reg.Guard()
			if tt.blocked {
				guard = agentcards.NewGuard(agentcards.GuardOptions{})
			}
			pool := agentpool.New(reg, agentpool.Options{Guard: guard})
			t.Cleanup(pool.Close)
			client, _, err := pool.Client(ctx, agent.Name)
			if err != nil {
				t.Fatal(err)
			}
			stop()
			if tt.unreachable {
				_, err = client.SendMessage(ctx, &a2a.SendMessageRequest{Message: a2a.NewMessage(a2a.MessageRoleUser, a2a.NewTextPart("hi"))})
			} else {
				_, err = client.GetTask(ctx, &a2a.GetTaskRequest{ID: "no-such-task"})
			}
			if err == nil {
				t.Fatal("the call succeeded")
			}
			got := agentpool.CallError(agent.Name, err)
			if !strings.Contains(got.Error(), tt.want) {
				t.Errorf("CallError = %q, want it to contain %q", got, tt.want)
			}
			if !tt.blocked && strings.Contains(got.Error(), "127.0.0.1") {
				t.Errorf("CallError names an address: %q", got)
			}
			if errors.Is(got, agentpool.ErrAgentUnreachable) != tt.unreachable {
				t.Errorf("errors.Is(%q, ErrAgentUnreachable) = %v, want %v", got, !tt.unreachable, tt.unreachable)
			}
			if !errors.Is(got, err) {
				t.Error("CallError does not wrap the error")
			}
			if !tt.unreachable && !errors.Is(got, a2a.ErrTaskNotFound) {
				t.Errorf("the agent's answer is lost: %v", got)
			}
		})
	}
}
