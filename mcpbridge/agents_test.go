package mcpbridge

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2asrv"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/a2a/agentpool"
	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/agentcards/agentcardstest"
	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/store/sqlite"
	"github.com/parleyhq/parley/workspace"
)

// escalationAgent is an A2A 1.0 agent (a2a-go v2) that reports progress,
// asks for a decision (input-required) and then answers with a data
// artifact.
type escalationAgent struct {
	// metadata receives the metadata of each message the agent gets.
	metadata chan map[string]any
}

func (a escalationAgent) Execute(_ context.Context, ec *a2asrv.ExecutorContext) iter.Seq2[a2a.Event, error] {
	return func(yield func(a2a.Event, error) bool) {
		if a.metadata != nil && ec.Message != nil {
			select {
			case a.metadata <- ec.Message.Metadata:
			default:
			}
		}
		say := func(state a2a.TaskState, text string) a2a.Event {
			return a2a.NewStatusUpdateEvent(ec, state, a2a.NewMessageForTask(a2a.MessageRoleAgent, ec, a2a.NewTextPart(text)))
		}
		var events []a2a.Event
		if ec.StoredTask == nil {
			events = []a2a.Event{a2a.NewSubmittedTask(ec, ec.Message), say(a2a.TaskStateWorking, "checking the customer's tenure"),
				say(a2a.TaskStateInputRequired, "Approve a refund of 350.00?")}
		} else {
			answer := ""
			for _, p := range ec.Message.Parts {
				answer += p.Text()
			}
			art := a2a.NewArtifactEvent(ec, a2a.NewDataPart(map[string]any{"approved": answer == "yes", "amount": 350.0}))
			art.Artifact.Name = "decision"
			events = []a2a.Event{say(a2a.TaskStateWorking, "applying the decision"), art, say(a2a.TaskStateCompleted, "done")}
		}
		for _, ev := range events {
			if !yield(ev, nil) {
				return
			}
		}
	}
}

func (escalationAgent) Cancel(_ context.Context, ec *a2asrv.ExecutorContext) iter.Seq2[a2a.Event, error] {
	return func(yield func(a2a.Event, error) bool) {
		yield(a2a.NewStatusUpdateEvent(ec, a2a.TaskStateCanceled, nil), nil)
	}
}

type agentFixture struct {
	*fixture
	reg *agentcards.Registry
}

func newAgentFixture(t *testing.T) *agentFixture {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := agentcards.New(st, agentcards.Options{AllowPrivate: true, HealthInterval: -1})
	pool := agentpool.New(reg, agentpool.Options{Guard: reg.Guard()})
	ws := workspace.New(st, workspace.Options{})
	b, err := New(ws, st, Options{Agents: reg, AgentClients: pool, EventStore: NewEventStore(st, EventStoreOptions{})})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := runFollowing(t, ctx, b)
	srv := httptest.NewServer(b)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		cancel()
		<-done
		pool.Close()
		st.Close()
	})
	return &agentFixture{fixture: &fixture{bridge: b, ws: ws, url: srv.URL}, reg: reg}
}

// startAgent serves an a2a-go v2 agent (A2A 1.0 JSON-RPC) with exec on
// loopback.
func startAgent(t *testing.T, name string, exec a2asrv.AgentExecutor, skills ...a2a.AgentSkill) *agentcardstest.Peer1 {
	t.Helper()
	return agentcardstest.NewPeer1With(t, name, exec, skills)
}

// waitFor polls cond, a hang guard for what the change feed delivers.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAgentsAsTools(t *testing.T) {
	f := newAgentFixture(t)
	ctx := t.Context()
	changed := make(chan struct{}, 8)
	var mu sync.Mutex
	var progress []string
	var asked string
	cs := f.connect(t, "2025-11-25", &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} },
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			mu.Lock()
			progress = append(progress, req.Params.Message)
			mu.Unlock()
		},
		ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			asked = req.Params.Message
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"answer": "yes"}}, nil
		},
	})

	// As auth's MCP middleware does, name the caller in the context.
	f.bridge.Server().AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			return next(auth.WithPrincipal(ctx, &auth.Principal{Subject: "carol", ClientID: "support-app"}), method, req)
		}
	})
	seen := make(chan map[string]any, 4)
	agent := startAgent(t, "Escalation Desk", escalationAgent{metadata: seen}, agentcardstest.Skill1("approve-refund", "Approve refunds", "billing"))
	if _, err := f.reg.Register(ctx, agentcards.Registration{URL: agent.URL()}); err != nil {
		t.Fatal(err)
	}
	const tool = "agent_escalation_desk"
	waitFor(t, "the agent's tool", func() bool { return slices.Contains(f.bridge.agentToolNames(), tool) })
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Fatal("no notifications/tools/list_changed when the agent registered")
	}
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var found *mcp.Tool
	for _, tl := range tools.Tools {
		if tl.Name == tool {
			found = tl
		}
	}
	if found == nil || !strings.Contains(found.Description, "Approve refunds") {
		t.Fatalf("tools/list lacks %s with the agent's skills: %+v", tool, found)
	}

	var agents listAgentsOut
	call(t, cs, ToolListAgents, map[string]any{"skill": "approve-refund"}, &agents)
	if len(agents.Agents) != 1 || agents.Agents[0].Tool != tool || agents.Agents[0].Skills[0].ID != "approve-refund" {
		t.Errorf("list_agents = %+v", agents)
	}
	var card agentCardOut
	call(t, cs, ToolGetAgentCard, map[string]any{"name": "Escalation Desk"}, &card)
	if !strings.Contains(string(card.Card), `"approve-refund"`) {
		t.Errorf("get_agent_card = %s", card.Card)
	}

	params := &mcp.CallToolParams{Name: tool, Arguments: map[string]any{"message": "refund 350 for T-1", "data": map[string]any{"ticket_id": "T-1"}}}
	params.SetProgressToken("agent-call")
	res, err := cs.CallTool(ctx, params)
	if err != nil || res.IsError {
		t.Fatalf("calling the agent tool: %v %+v", err, res)
	}
	select {
	case md := <-seen:
		if got := fmt.Sprint(md["parley"]); !strings.Contains(got, "on_behalf_of") || !strings.Contains(got, "carol") {
			t.Errorf("the agent's message metadata = %v, want parley.on_behalf_of naming carol", md)
		}
	default:
		t.Error("the agent received no message")
	}
	if !strings.Contains(asked, "Approve a refund of 350.00?") || !strings.Contains(asked, "Escalation Desk") {
		t.Errorf("elicitation = %q, want the agent's question", asked)
	}
	out, _ := json.Marshal(res.StructuredContent)
	var got struct {
		Agent string `json:"agent"`
		State string `json:"state"`
		Data  struct {
			Approved bool    `json:"approved"`
			Amount   float64 `json:"amount"`
		} `json:"data"`
	}
	if err := json.Unmarshal(out, &got); err != nil || got.State != "completed" || !got.Data.Approved || got.Data.Amount != 350 {
		t.Errorf("result = %s", out)
	}
	waitFor(t, "progress", func() bool { mu.Lock(); defer mu.Unlock(); return len(progress) >= 3 })
	mu.Lock()
	if !slices.Contains(progress, "working: checking the customer's tenure") || !slices.Contains(progress, "working: applying the decision") {
		t.Errorf("progress = %q", progress)
	}
	mu.Unlock()

	// An agent that goes away stops being a tool.
	if err := f.reg.Remove(ctx, "Escalation Desk"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the tool to go", func() bool { return len(f.bridge.agentToolNames()) == 0 })
	if res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: map[string]any{"message": "x"}}); err == nil && !res.IsError {
		t.Error("the removed agent's tool still answers")
	}
}

func TestAgentToolName(t *testing.T) {
	tests := map[string]string{
		"billing":               "agent_billing",
		"Escalation Desk":       "agent_escalation_desk",
		"a/b.c":                 "agent_a_b_c",
		strings.Repeat("x", 80): "agent_" + strings.Repeat("x", 58),
	}
	for in, want := range tests {
		if got := agentToolName(in); got != want {
			t.Errorf("agentToolName(%q) = %q, want %q", in, got, want)
		}
	}
}

// An agent tool's error says what went wrong in the caller's terms: the
// host that does not resolve (.invalid never does), the refused
// connection; never the gateway's resolver address or Go's error types.
func TestAgentToolErrorsLeakNothing(t *testing.T) {
	f := newAgentFixture(t)
	ctx := t.Context()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String() + "/"
	ln.Close()
	tests := []struct {
		name, endpoint, want string
	}{
		{"Ghost", "http://ghost.parley-test.invalid/", `agent "Ghost" could not be reached: host ghost.parley-test.invalid could not be resolved`},
		{"Dead", dead, `agent "Dead" could not be reached: connection refused`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			card, err := json.Marshal(agentcardstest.Card03(tt.name, tt.endpoint, agentcardstest.Skill("x", "X")))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.reg.Register(ctx, agentcards.Registration{Card: card}); err != nil {
				t.Fatal(err)
			}
			res, err := f.bridge.callAgent(tt.name)(ctx, &mcp.CallToolRequest{Params: &mcp.CallToolParamsRaw{
				Name: agentToolName(tt.name), Arguments: json.RawMessage(`{"message":"hi"}`)}})
			if err != nil || !res.IsError || len(res.Content) == 0 {
				t.Fatalf("callAgent = %+v, %v; want a tool error", res, err)
			}
			text := res.Content[0].(*mcp.TextContent).Text
			if !strings.Contains(text, tt.want) {
				t.Errorf("tool error %q, want %q", text, tt.want)
			}
			for _, leak := range []string{":53", "lookup ", "dial tcp", "failed to send", "*net.", "net.OpError", "DNSError", "url.Error"} {
				if strings.Contains(text, leak) {
					t.Errorf("tool error %q carries %q", text, leak)
				}
			}
		})
	}
}
