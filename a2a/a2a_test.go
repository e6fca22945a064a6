package a2a_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	a2ago "github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2aclient"
	"github.com/a2aproject/a2a-go/a2aclient/agentcard"
	"github.com/a2aproject/a2a-go/a2asrv"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/parleyhq/parley/a2a"
	"github.com/parleyhq/parley/mcpbridge"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/sqlite"
	"github.com/parleyhq/parley/workspace"
)

// userHeader names the caller in these tests; the test Principal reads it
// from the call's headers (JSON-RPC) or metadata (gRPC), as the auth issue's
// will read a bearer token.
const userHeader = "X-Test-User"

func headerPrincipal(ctx context.Context) (string, bool) {
	cc, ok := a2asrv.CallContextFrom(ctx)
	if !ok {
		return "", false
	}
	if v, ok := cc.RequestMeta().Get(userHeader); ok && len(v) > 0 && v[0] != "" {
		return v[0], true
	}
	return "", false
}

// gateway is the A2A face of a gateway over a real MCP bridge and a SQLite
// file, on real loopback sockets: JSON-RPC and the card on an httptest
// server, gRPC on its own listener.
type gateway struct {
	st   *sqlite.Store
	srv  *a2a.Server
	http *httptest.Server
	stop func()
}

func startGateway(t *testing.T, dbPath string) *gateway {
	t.Helper()
	st, err := sqlite.Open(t.Context(), dbPath, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	confirmAbove := 200.0
	ws := workspace.New(st, workspace.Options{ConfirmRefundAbove: &confirmAbove})
	bridge, err := mcpbridge.New(ws, st, mcpbridge.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	hs := httptest.NewServer(mux)
	srv, err := a2a.NewServer(a2a.Options{
		Tools:      a2a.NewMCPTools(bridge.Server(), nil),
		Tasks:      st,
		PublicURL:  hs.URL,
		GRPCListen: "127.0.0.1:0",
		Principal:  headerPrincipal,
		IsAdmin:    func(ctx context.Context) bool { return a2a.CallerFrom(ctx) == "root" },
		Logger:     slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(a2a.JSONRPCPath, srv.Handler())
	mux.Handle(a2asrv.WellKnownAgentCardPath, srv.CardHandler())
	if err := srv.ListenGRPC(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	var once sync.Once
	g := &gateway{st: st, srv: srv, http: hs}
	g.stop = func() {
		once.Do(func() {
			hs.CloseClientConnections()
			hs.Close()
			cancel()
			if err := <-done; err != nil {
				t.Errorf("gRPC Run: %v", err)
			}
			st.Close()
		})
	}
	t.Cleanup(g.stop)
	return g
}

// testWriter sends logs to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// asUser makes a client send userHeader on every call.
type asUser struct {
	a2aclient.PassthroughInterceptor
	name string
}

func (u asUser) Before(ctx context.Context, req *a2aclient.Request) (context.Context, error) {
	req.Meta[userHeader] = []string{u.name}
	return ctx, nil
}

// client builds an a2a-go client from the gateway's card, preferring the
// given transport, for user (no identity if empty).
func (g *gateway) client(t *testing.T, transport a2ago.TransportProtocol, user string) *a2aclient.Client {
	t.Helper()
	// No total Timeout: it would cut streams.
	card, err := agentcard.NewResolver(&http.Client{}).Resolve(t.Context(), g.http.URL)
	if err != nil {
		t.Fatalf("resolve card: %v", err)
	}
	opts := []a2aclient.FactoryOption{
		a2aclient.WithJSONRPCTransport(&http.Client{}),
		a2aclient.WithGRPCTransport(grpc.WithTransportCredentials(insecure.NewCredentials())),
		a2aclient.WithConfig(a2aclient.Config{PreferredTransports: []a2ago.TransportProtocol{transport}}),
	}
	if user != "" {
		opts = append(opts, a2aclient.WithInterceptors(asUser{name: user}))
	}
	c, err := a2aclient.NewFromCard(t.Context(), card, opts...)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	t.Cleanup(func() { c.Destroy() })
	return c
}

func toolMessage(tool string, args map[string]any) *a2ago.MessageSendParams {
	data := map[string]any{"tool": tool}
	if args != nil {
		data["arguments"] = args
	}
	return &a2ago.MessageSendParams{Message: a2ago.NewMessage(a2ago.MessageRoleUser, a2ago.DataPart{Data: data})}
}

func send(t *testing.T, c *a2aclient.Client, params *a2ago.MessageSendParams) *a2ago.Task {
	t.Helper()
	res, err := c.SendMessage(t.Context(), params)
	if err != nil {
		t.Fatalf("message/send: %v", err)
	}
	task, ok := res.(*a2ago.Task)
	if !ok {
		t.Fatalf("message/send returned %T, want a task", res)
	}
	return task
}

// artifactData is the data part of the task's only artifact.
func artifactData(t *testing.T, task *a2ago.Task, tool string) (map[string]any, string) {
	t.Helper()
	if task.Status.State != a2ago.TaskStateCompleted {
		t.Fatalf("task state = %s (%s), want completed", task.Status.State, statusText(task.Status))
	}
	if len(task.Artifacts) != 1 {
		t.Fatalf("task has %d artifacts, want 1", len(task.Artifacts))
	}
	art := task.Artifacts[0]
	if art.Name != tool {
		t.Errorf("artifact name = %q, want %q", art.Name, tool)
	}
	var data map[string]any
	var text string
	for _, p := range art.Parts {
		switch p := p.(type) {
		case a2ago.DataPart:
			data = p.Data
		case a2ago.TextPart:
			text = p.Text
		}
	}
	if data == nil {
		t.Fatalf("artifact has no data part: %#v", art.Parts)
	}
	return data, text
}

func statusText(s a2ago.TaskStatus) string {
	if s.Message == nil {
		return ""
	}
	var out []string
	for _, p := range s.Message.Parts {
		if tp, ok := p.(a2ago.TextPart); ok {
			out = append(out, tp.Text)
		}
	}
	return strings.Join(out, " ")
}

var transports = []a2ago.TransportProtocol{a2ago.TransportProtocolJSONRPC, a2ago.TransportProtocolGRPC}

// TestWorkspaceSkill drives the workspace skill end to end with a2a-go's
// client, over each binding.
func TestWorkspaceSkill(t *testing.T) {
	for _, transport := range transports {
		t.Run(string(transport), func(t *testing.T) {
			g := startGateway(t, filepath.Join(t.TempDir(), "parley.db"))
			c := g.client(t, transport, "alice")
			anon := g.client(t, transport, "")
			if transport == a2ago.TransportProtocolGRPC {
				// The factory falls back to JSON-RPC silently: with the
				// HTTP server gone, only gRPC can answer.
				g.http.CloseClientConnections()
				g.http.Close()
			}
			ctx := t.Context()

			var ticketID, saveTaskID string
			t.Run("save and get a ticket", func(t *testing.T) {
				saved := send(t, c, toolMessage(mcpbridge.ToolSaveTicket, map[string]any{
					"customer": "ACME Corp", "category": "billing", "summary": "Charged twice", "refund_amount": 120,
				}))
				data, text := artifactData(t, saved, mcpbridge.ToolSaveTicket)
				ticket, _ := data["ticket"].(map[string]any)
				ticketID, _ = ticket["id"].(string)
				if data["created"] != true || ticketID == "" || ticket["customer"] != "ACME Corp" {
					t.Fatalf("save_ticket data = %v", data)
				}
				if !strings.Contains(text, ticketID) {
					t.Errorf("artifact text %q lacks the ticket ID", text)
				}
				saveTaskID = string(saved.ID)

				got := send(t, c, toolMessage(mcpbridge.ToolGetTicket, map[string]any{"ticket_id": ticketID}))
				data, _ = artifactData(t, got, mcpbridge.ToolGetTicket)
				if data["id"] != ticketID || data["category"] != "billing" || data["refund_amount"] != 120.0 || data["version"] != 1.0 {
					t.Errorf("get_ticket data = %v", data)
				}
				// The write went through MCP in the caller's name.
				hist, err := g.st.TicketHistory(ctx, ticketID)
				if err != nil || len(hist) != 1 || hist[0].Actor != "a2a:alice" {
					t.Errorf("ticket history = %+v, %v; want one entry by a2a:alice", hist, err)
				}
			})

			t.Run("tool error fails the task", func(t *testing.T) {
				task := send(t, c, toolMessage(mcpbridge.ToolGetTicket, map[string]any{"ticket_id": "T-404"}))
				if task.Status.State != a2ago.TaskStateFailed {
					t.Fatalf("state = %s, want failed", task.Status.State)
				}
				if msg := statusText(task.Status); !strings.Contains(msg, "get_ticket failed") || !strings.Contains(msg, "T-404") {
					t.Errorf("status message = %q", msg)
				}
				if len(task.Artifacts) != 0 {
					t.Errorf("failed task has artifacts: %v", task.Artifacts)
				}
			})

			t.Run("bad input is a tool error", func(t *testing.T) {
				task := send(t, c, toolMessage(mcpbridge.ToolSaveTicket, map[string]any{"customer": "X", "colour": "blue"}))
				if task.Status.State != a2ago.TaskStateFailed || !strings.Contains(statusText(task.Status), "colour") {
					t.Errorf("state = %s, message %q; want failed naming the unknown argument", task.Status.State, statusText(task.Status))
				}
			})

			rejected := []struct {
				name string
				msg  *a2ago.MessageSendParams
				want string
			}{
				{"unknown tool", toolMessage("launch_rockets", nil), `no tool "launch_rockets"`},
				{"no tool call", &a2ago.MessageSendParams{Message: a2ago.NewMessage(a2ago.MessageRoleUser, a2ago.TextPart{Text: "hello"})}, "no tool call"},
				{"arguments not an object", &a2ago.MessageSendParams{Message: a2ago.NewMessage(a2ago.MessageRoleUser,
					a2ago.DataPart{Data: map[string]any{"tool": "get_ticket", "arguments": "T-1"}})}, "must be a JSON object"},
			}
			for _, tt := range rejected {
				t.Run(tt.name, func(t *testing.T) {
					task := send(t, c, tt.msg)
					msg := statusText(task.Status)
					if task.Status.State != a2ago.TaskStateRejected || !strings.Contains(msg, tt.want) {
						t.Errorf("state = %s, message %q; want rejected with %q", task.Status.State, msg, tt.want)
					}
					if !strings.Contains(msg, "get_ticket") || !strings.Contains(msg, "save_ticket") {
						t.Errorf("message %q does not list the tools", msg)
					}
				})
			}

			t.Run("a JSON text part works too", func(t *testing.T) {
				task := send(t, c, &a2ago.MessageSendParams{Message: a2ago.NewMessage(a2ago.MessageRoleUser,
					a2ago.TextPart{Text: `{"tool": "get_ticket", "arguments": {"ticket_id": "` + ticketID + `"}}`})})
				if data, _ := artifactData(t, task, mcpbridge.ToolGetTicket); data["id"] != ticketID {
					t.Errorf("data = %v", data)
				}
			})

			t.Run("input the skill cannot ask for", func(t *testing.T) {
				// A refund above the confirmation threshold needs a person
				// to confirm (MCP elicitation).
				big := send(t, c, toolMessage(mcpbridge.ToolSaveTicket, map[string]any{"customer": "Big", "refund_amount": 900}))
				data, _ := artifactData(t, big, mcpbridge.ToolSaveTicket)
				id := data["ticket"].(map[string]any)["id"].(string)
				task := send(t, c, toolMessage(mcpbridge.ToolSaveResolution, map[string]any{"ticket_id": id, "resolution": "refund"}))
				if task.Status.State != a2ago.TaskStateFailed || !strings.Contains(statusText(task.Status), "through MCP") {
					t.Errorf("state = %s, message %q; want failed, pointing at MCP", task.Status.State, statusText(task.Status))
				}
				if tk, err := g.st.GetTicket(ctx, id); err != nil || tk.Status == "resolved" {
					t.Errorf("ticket = %+v, %v; want it unresolved", tk, err)
				}
			})

			t.Run("stream", func(t *testing.T) {
				var events []a2ago.Event
				for ev, err := range c.SendStreamingMessage(ctx, toolMessage(mcpbridge.ToolGetTicket, map[string]any{"ticket_id": ticketID})) {
					if err != nil {
						t.Fatalf("message/stream: %v", err)
					}
					events = append(events, ev)
				}
				var kinds []string
				var artifact *a2ago.TaskArtifactUpdateEvent
				for _, ev := range events {
					switch ev := ev.(type) {
					case *a2ago.Task:
						kinds = append(kinds, "task:"+string(ev.Status.State))
					case *a2ago.TaskStatusUpdateEvent:
						kinds = append(kinds, fmt.Sprintf("status:%s:%v", ev.Status.State, ev.Final))
					case *a2ago.TaskArtifactUpdateEvent:
						kinds = append(kinds, "artifact")
						artifact = ev
					default:
						kinds = append(kinds, fmt.Sprintf("%T", ev))
					}
				}
				want := []string{"task:submitted", "status:working:false", "artifact", "status:completed:true"}
				if !slices.Equal(kinds, want) {
					t.Fatalf("events = %v, want %v", kinds, want)
				}
				var data map[string]any
				for _, p := range artifact.Artifact.Parts {
					if dp, ok := p.(a2ago.DataPart); ok {
						data = dp.Data
					}
				}
				if data["id"] != ticketID || artifact.Artifact.Name != mcpbridge.ToolGetTicket {
					t.Errorf("streamed artifact = %+v", artifact.Artifact)
				}
			})

			t.Run("tasks/get of a finished task", func(t *testing.T) {
				task, err := c.GetTask(ctx, &a2ago.TaskQueryParams{ID: a2ago.TaskID(saveTaskID)})
				if err != nil {
					t.Fatalf("tasks/get: %v", err)
				}
				data, _ := artifactData(t, task, mcpbridge.ToolSaveTicket)
				if data["ticket"].(map[string]any)["id"] != ticketID {
					t.Errorf("data = %v", data)
				}
				if len(task.History) == 0 {
					t.Error("task has no history")
				}
				// The caller who created it is recorded.
				if caller, err := g.srv.Tasks().Caller(ctx, task.ID); err != nil || caller != "alice" {
					t.Errorf("caller = %q, %v; want alice", caller, err)
				}
			})

			t.Run("tasks/get of an unknown task", func(t *testing.T) {
				_, err := c.GetTask(ctx, &a2ago.TaskQueryParams{ID: "no-such-task"})
				if err == nil || !strings.Contains(strings.ToLower(err.Error()), "not found") {
					t.Errorf("tasks/get unknown = %v, want task not found", err)
				}
			})

			t.Run("anonymous caller", func(t *testing.T) {
				task := send(t, anon, toolMessage(mcpbridge.ToolGetStatus, nil))
				artifactData(t, task, mcpbridge.ToolGetStatus)
				if caller, err := g.srv.Tasks().Caller(ctx, task.ID); err != nil || caller != a2a.Anonymous {
					t.Errorf("caller = %q, %v; want %s", caller, err, a2a.Anonymous)
				}
				mine, _, err := g.srv.Tasks().List(ctx, store.A2ATaskFilter{Caller: a2a.Anonymous})
				if err != nil || len(mine) != 1 || mine[0].ID != task.ID {
					t.Errorf("anonymous tasks = %v, %v", mine, err)
				}
			})

			t.Run("concurrent calls", func(t *testing.T) {
				const n = 8
				var wg sync.WaitGroup
				ids := make(chan string, n)
				for i := range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						res, err := c.SendMessage(ctx, toolMessage(mcpbridge.ToolSaveTicket, map[string]any{"customer": fmt.Sprintf("C-%d", i)}))
						if err != nil {
							t.Errorf("send %d: %v", i, err)
							return
						}
						task, ok := res.(*a2ago.Task)
						if !ok || task.Status.State != a2ago.TaskStateCompleted || len(task.Artifacts) != 1 {
							t.Errorf("send %d: %#v", i, res)
							return
						}
						for _, p := range task.Artifacts[0].Parts {
							if dp, ok := p.(a2ago.DataPart); ok {
								ids <- dp.Data["ticket"].(map[string]any)["id"].(string)
							}
						}
					}()
				}
				wg.Wait()
				close(ids)
				seen := map[string]bool{}
				for id := range ids {
					seen[id] = true
				}
				if len(seen) != n {
					t.Errorf("%d distinct tickets, want %d", len(seen), n)
				}
			})
		})
	}
}

// TestTasksSurviveRestart: a task finished before a restart is read with
// tasks/get after it, from the same SQLite file.
func TestTasksSurviveRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	first := startGateway(t, path)
	task := send(t, first.client(t, a2ago.TransportProtocolJSONRPC, "alice"),
		toolMessage(mcpbridge.ToolSaveTicket, map[string]any{"customer": "Persisted"}))
	if task.Status.State != a2ago.TaskStateCompleted {
		t.Fatalf("state = %s", task.Status.State)
	}
	first.stop()

	second := startGateway(t, path)
	got, err := second.client(t, a2ago.TransportProtocolJSONRPC, "alice").GetTask(t.Context(), &a2ago.TaskQueryParams{ID: task.ID})
	if err != nil {
		t.Fatalf("tasks/get after restart: %v", err)
	}
	data, _ := artifactData(t, got, mcpbridge.ToolSaveTicket)
	if data["ticket"].(map[string]any)["customer"] != "Persisted" || got.ContextID != task.ContextID {
		t.Errorf("after restart task = %+v", got)
	}
}

// TestTaskStoreReopen: a task saved through one store instance reads back
// whole from the next one on the same file.
func TestTaskStoreReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "parley.db")
	st, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	msg := a2ago.NewMessage(a2ago.MessageRoleUser, a2ago.DataPart{Data: map[string]any{"tool": "get_status"}})
	task := a2ago.NewSubmittedTask(&a2asrv.RequestContext{TaskID: a2ago.NewTaskID(), ContextID: "ctx-1"}, msg)
	task.Status = a2ago.TaskStatus{State: a2ago.TaskStateCompleted}
	task.Artifacts = []*a2ago.Artifact{{ID: "art-1", Name: "get_status",
		Parts: a2ago.ContentParts{a2ago.DataPart{Data: map[string]any{"open": 3.0, "none": nil}}, a2ago.TextPart{Text: "3 open"}}}}
	callCtx, cc := a2asrv.WithCallContext(ctx, nil)
	cc.User = &a2asrv.AuthenticatedUser{UserName: "bob"}
	if err := a2a.NewTaskStore(st, nil).Save(callCtx, task); err != nil {
		t.Fatalf("Save: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st, err = sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ts := a2a.NewTaskStore(st, nil)
	got, err := ts.Get(ctx, task.ID)
	if err != nil {
		t.Fatalf("Get after reopen: %v", err)
	}
	want, _ := json.Marshal(task)
	have, _ := json.Marshal(got)
	if string(want) != string(have) {
		t.Errorf("after reopen:\n got %s\nwant %s", have, want)
	}
	if caller, err := ts.Caller(ctx, task.ID); err != nil || caller != "bob" {
		t.Errorf("caller = %q, %v; want bob", caller, err)
	}
	if _, err := ts.Get(ctx, "nope"); !errors.Is(err, a2ago.ErrTaskNotFound) {
		t.Errorf("Get unknown = %v, want ErrTaskNotFound", err)
	}
}

func TestAgentCard(t *testing.T) {
	g := startGateway(t, filepath.Join(t.TempDir(), "parley.db"))
	resp, err := http.Get(g.http.URL + a2asrv.WellKnownAgentCardPath)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET card: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	var card a2ago.AgentCard
	if err := json.Unmarshal(body, &card); err != nil {
		t.Fatal(err)
	}
	grpcTarget := g.srv.GRPCTarget()
	if !strings.HasPrefix(grpcTarget, "127.0.0.1:") || strings.HasSuffix(grpcTarget, ":0") {
		t.Errorf("gRPC target = %q, want the bound loopback port", grpcTarget)
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"name", card.Name == "parley"},
		{"protocolVersion", raw["protocolVersion"] == "0.3.0"},
		{"url", card.URL == g.http.URL+"/a2a"},
		{"preferredTransport", card.PreferredTransport == a2ago.TransportProtocolJSONRPC},
		{"interfaces", slices.Equal(card.AdditionalInterfaces, []a2ago.AgentInterface{
			{Transport: a2ago.TransportProtocolJSONRPC, URL: g.http.URL + "/a2a"},
			{Transport: a2ago.TransportProtocolGRPC, URL: grpcTarget},
		})},
		{"streaming", raw["capabilities"].(map[string]any)["streaming"] == true},
		{"one skill", len(card.Skills) == 1 && card.Skills[0].ID == "workspace"},
		{"skill tags name the tools", len(card.Skills) == 1 && slices.Contains(card.Skills[0].Tags, "get_ticket") && slices.Contains(card.Skills[0].Tags, "claim_task")},
		{"skill description lists the tools", len(card.Skills) == 1 && strings.Contains(card.Skills[0].Description, "- save_ticket: ")},
		{"skill examples", len(card.Skills) == 1 && slices.Contains(card.Skills[0].Examples, `{"tool":"get_ticket","arguments":{"ticket_id":"T-1001"}}`)},
		{"no security yet", raw["securitySchemes"] == nil && raw["security"] == nil},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("card %s wrong:\n%s", c.name, body)
		}
	}
}

func TestCard(t *testing.T) {
	schemes := a2ago.NamedSecuritySchemes{"oidc": a2ago.OpenIDConnectSecurityScheme{OpenIDConnectURL: "https://idp.example.com/.well-known/openid-configuration"}}
	security := []a2ago.SecurityRequirements{{"oidc": a2ago.SecuritySchemeScopes{}}}
	tests := []struct {
		name       string
		opts       a2a.CardOptions
		url        string
		interfaces int
	}{
		{"no gRPC", a2a.CardOptions{PublicURL: "https://parley.example.com/"}, "https://parley.example.com/a2a", 1},
		{"with gRPC and security", a2a.CardOptions{PublicURL: "https://parley.example.com", GRPCTarget: "parley.example.com:8081",
			SecuritySchemes: schemes, Security: security}, "https://parley.example.com/a2a", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			card := a2a.Card(tt.opts)
			if card.URL != tt.url || len(card.AdditionalInterfaces) != tt.interfaces || card.AdditionalInterfaces[0].URL != tt.url {
				t.Errorf("card url %q, interfaces %v", card.URL, card.AdditionalInterfaces)
			}
			if card.ProtocolVersion != "0.3.0" || !card.Capabilities.Streaming || card.Version == "" {
				t.Errorf("card = %+v", card)
			}
			if tt.opts.SecuritySchemes != nil && (len(card.SecuritySchemes) != 1 || len(card.Security) != 1) {
				t.Errorf("security = %v %v", card.SecuritySchemes, card.Security)
			}
			if _, err := json.Marshal(card); err != nil {
				t.Errorf("card does not encode: %v", err)
			}
		})
	}
}

func TestGRPCTargetOnAllInterfaces(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := a2a.NewServer(a2a.Options{Tools: fakeTools{}, Tasks: st, PublicURL: "https://parley.example.com", GRPCListen: ":8443"})
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.GRPCTarget(); got != "parley.example.com:8443" {
		t.Errorf("GRPCTarget = %q, want the public host with the gRPC port", got)
	}
	for _, bad := range []string{"", "parley.example.com", "ftp://x"} {
		if _, err := a2a.NewServer(a2a.Options{Tools: fakeTools{}, Tasks: st, PublicURL: bad}); err == nil {
			t.Errorf("NewServer with PublicURL %q succeeded", bad)
		}
	}
}

// TestTaskOwnership: a caller reaches only the tasks it started (others'
// answer as not found); an administrator reaches every task.
func TestTaskOwnership(t *testing.T) {
	g := startGateway(t, filepath.Join(t.TempDir(), "parley.db"))
	for _, transport := range []a2ago.TransportProtocol{a2ago.TransportProtocolJSONRPC, a2ago.TransportProtocolGRPC} {
		t.Run(string(transport), func(t *testing.T) {
			task := send(t, g.client(t, transport, "alice"), toolMessage(mcpbridge.ToolSaveTicket, map[string]any{"customer": "Owned"}))
			tests := []struct {
				user string
				ok   bool
			}{{"alice", true}, {"bob", false}, {"", false}, {"root", true}}
			for _, tt := range tests {
				c := g.client(t, transport, tt.user)
				_, err := c.GetTask(t.Context(), &a2ago.TaskQueryParams{ID: task.ID})
				if tt.ok && err != nil {
					t.Errorf("%q tasks/get: %v", tt.user, err)
				}
				if !tt.ok && !isNotFound(err) {
					t.Errorf("%q tasks/get of alice's task: %v, want task not found", tt.user, err)
				}
				if !tt.ok {
					if _, err := c.CancelTask(t.Context(), &a2ago.TaskIDParams{ID: task.ID}); !isNotFound(err) {
						t.Errorf("%q tasks/cancel of alice's task: %v, want task not found", tt.user, err)
					}
				}
			}
		})
	}
}

// isNotFound: task not found, as JSON-RPC (the sentinel) or gRPC (the
// status code; a2a-go's gRPC client does not map it back) says it.
func isNotFound(err error) bool {
	return errors.Is(err, a2ago.ErrTaskNotFound) || status.Code(err) == codes.NotFound
}
