package mcpbridge

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/store/sqlite"
	"github.com/parleyhq/parley/workspace"
)

// generations are the two protocol generations /mcp serves; the Go client
// negotiates 2026-07-28 (stateless) unless pinned to a session revision.
var generations = []struct {
	name    string
	version string
}{
	{"sessions 2025-11-25", "2025-11-25"},
	{"stateless 2026-07-28", ""},
}

type fixture struct {
	bridge *Bridge
	ws     *workspace.Workspace
	url    string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureWith(t, Options{})
}

// newFixtureWith is newFixture with opts (such as Upstreams); the body
// limit and the event store are the fixture's.
func newFixtureWith(t *testing.T, opts Options) *fixture {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ws := workspace.New(st, workspace.Options{ConfirmRefundAbove: ptr(200.0)})
	// Session streams go to the SQLite file, as in the gateway.
	opts.MaxBodyBytes, opts.EventStore = 64<<10, NewEventStore(st, EventStoreOptions{})
	b, err := New(ws, st, opts)
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
		st.Close()
	})
	return &fixture{bridge: b, ws: ws, url: srv.URL}
}

// runFollowing runs b.Run(ctx) and returns once Run follows the change
// feed: the tests' changes must reach it (wait_for_ticket's wake-ups,
// resource updates), and it follows the feed from the changes committed
// after it subscribed. The returned channel is closed when Run returns.
func runFollowing(t *testing.T, ctx context.Context, b *Bridge) <-chan struct{} {
	t.Helper()
	following, done := make(chan struct{}), make(chan struct{})
	b.following = func() { close(following) }
	go func() { defer close(done); _ = b.Run(ctx) }()
	select {
	case <-following:
	case <-done:
		t.Fatal("the bridge stopped before it followed the change feed")
	}
	return done
}

func (f *fixture) connect(t *testing.T, version string, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "test-host", Version: "1"}, opts)
	cs, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: f.url}, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("connect (%q): %v", version, err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// call calls a tool and decodes its structured output into out.
func call(t *testing.T, cs *mcp.ClientSession, name string, args any, out any) *mcp.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if res.IsError {
		t.Fatalf("%s: tool error: %s", name, text(res))
	}
	if out != nil {
		data, _ := json.Marshal(res.StructuredContent)
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s: decode %s: %v", name, data, err)
		}
	}
	return res
}

func text(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

func links(res *mcp.CallToolResult) []string {
	var out []string
	for _, c := range res.Content {
		if l, ok := c.(*mcp.ResourceLink); ok {
			out = append(out, l.URI)
		}
	}
	return out
}

func TestToolsBothGenerations(t *testing.T) {
	for _, gen := range generations {
		t.Run(gen.name, func(t *testing.T) {
			f := newFixture(t)
			cs := f.connect(t, gen.version, nil)

			tools, err := cs.ListTools(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, tool := range tools.Tools {
				names = append(names, tool.Name)
				if tool.OutputSchema == nil || tool.Description == "" {
					t.Errorf("tool %s lacks an output schema or description", tool.Name)
				}
				// Clients such as the TypeScript SDK reject a property whose
				// schema is a bare true/false.
				for _, schema := range []any{tool.InputSchema, tool.OutputSchema} {
					data, _ := json.Marshal(schema)
					var s struct {
						Properties map[string]json.RawMessage `json:"properties"`
					}
					_ = json.Unmarshal(data, &s)
					for prop, ps := range s.Properties {
						if !strings.HasPrefix(strings.TrimSpace(string(ps)), "{") {
							t.Errorf("tool %s: property %s has schema %s, not an object", tool.Name, prop, ps)
						}
					}
				}
			}
			for _, want := range []string{ToolSaveTicket, ToolGetTicket, ToolListTickets, ToolSaveResolution, ToolEscalate, ToolGetStatus,
				ToolSaveAnalysis, ToolGetAllAnalysis, ToolCreateTask, ToolClaimTask, ToolCompleteTask, ToolWaitForTicket, ToolSummarizeTicket} {
				if !slices.Contains(names, want) {
					t.Errorf("tools/list lacks %s (has %v)", want, names)
				}
			}

			var saved saveTicketOut
			res := call(t, cs, ToolSaveTicket, map[string]any{"ticket_id": "T-1", "customer": "acme", "category": "billing",
				"priority": "high", "summary": "charged twice", "refund_amount": 120.0}, &saved)
			if !saved.Created || saved.Ticket.Version != 1 || saved.Ticket.Status != workspace.StatusNew {
				t.Errorf("save_ticket = %+v", saved)
			}
			if got := links(res); !slices.Equal(got, []string{"ticket://T-1"}) {
				t.Errorf("save_ticket links = %v, want ticket://T-1", got)
			}
			call(t, cs, ToolSaveTicket, map[string]any{"ticket_id": "T-1", "status": "triaged", "expected_version": 1}, &saved)
			if saved.Created || saved.Ticket.Version != 2 {
				t.Errorf("update = %+v", saved)
			}
			var got workspace.Ticket
			call(t, cs, ToolGetTicket, map[string]any{"ticket_id": "T-1"}, &got)
			if got.Status != workspace.StatusTriaged || got.RefundAmount != 120 || got.Customer != "acme" {
				t.Errorf("get_ticket = %+v", got)
			}
			var page workspace.TicketPage
			call(t, cs, ToolListTickets, map[string]any{"status": []string{"triaged"}, "category": "billing"}, &page)
			if len(page.Tickets) != 1 || page.Tickets[0].ID != "T-1" {
				t.Errorf("list_tickets = %+v", page)
			}
			for _, ns := range []string{"sentiment", "history"} {
				call(t, cs, ToolSaveAnalysis, map[string]any{"ticket_id": "T-1", "namespace": ns, "findings": map[string]any{"ns": ns}}, nil)
			}
			var all allAnalysisOut
			call(t, cs, ToolGetAllAnalysis, map[string]any{"ticket_id": "T-1"}, &all)
			if len(all.Analyses) != 2 || all.Analyses[0].Namespace != "history" || all.Analyses[0].Author != "test-host" {
				t.Errorf("get_all_analysis = %+v", all)
			}
			var esc escalateOut
			call(t, cs, ToolEscalate, map[string]any{"ticket_id": "T-1", "reason": "refund over limit"}, &esc)
			if !esc.Ticket.Escalated || esc.Ticket.Status != workspace.StatusEscalated {
				t.Errorf("escalate = %+v", esc)
			}
			var task taskOut
			call(t, cs, ToolCreateTask, map[string]any{"type": "billing", "payload": map[string]any{"ticket_id": "T-1"}}, &task)
			var claimed taskOut
			call(t, cs, ToolClaimTask, map[string]any{"types": []string{"billing"}, "lease_seconds": 60}, &claimed)
			if claimed.Task.ID != task.Task.ID || claimed.Task.LeaseToken == "" || claimed.Task.Claimant != "test-host" {
				t.Errorf("claim_task = %+v", claimed)
			}
			var done taskOut
			call(t, cs, ToolCompleteTask, map[string]any{"task_id": claimed.Task.ID, "lease_token": claimed.Task.LeaseToken, "result": map[string]any{"ok": true}}, &done)
			if done.Task.Status != "done" {
				t.Errorf("complete_task = %+v", done)
			}
			var status workspace.PipelineStatus
			call(t, cs, ToolGetStatus, map[string]any{}, &status)
			if status.TotalTickets != 1 || status.Tickets[workspace.StatusEscalated] != 1 || status.PendingTasks != 0 {
				t.Errorf("get_status = %+v", status)
			}
			// Under the confirmation threshold: resolves at once.
			var resolved resolutionOut
			call(t, cs, ToolSaveResolution, map[string]any{"ticket_id": "T-1", "resolution": "refunded 120"}, &resolved)
			if !resolved.Saved || resolved.Ticket.Status != workspace.StatusResolved {
				t.Errorf("save_resolution = %+v", resolved)
			}
		})
	}
}

func TestToolErrors(t *testing.T) {
	for _, gen := range generations {
		t.Run(gen.name, func(t *testing.T) {
			f := newFixture(t)
			cs := f.connect(t, gen.version, nil)
			call(t, cs, ToolSaveTicket, map[string]any{"ticket_id": "T-1", "customer": "acme"}, nil)
			call(t, cs, ToolSaveTicket, map[string]any{"ticket_id": "T-1", "summary": "x"}, nil)
			tests := []struct {
				name string
				tool string
				args map[string]any
				want string
			}{
				{"unknown ticket", ToolGetTicket, map[string]any{"ticket_id": "T-404"}, "not found"},
				{"stale version", ToolSaveTicket, map[string]any{"ticket_id": "T-1", "summary": "y", "expected_version": 1}, "current version is 2"},
				{"unknown argument", ToolGetTicket, map[string]any{"ticket_id": "T-1", "bogus": 1}, "bogus"},
				{"wrong type", ToolSaveTicket, map[string]any{"ticket_id": "T-1", "refund_amount": "lots"}, "refund_amount"},
				{"enum violated", ToolSaveTicket, map[string]any{"ticket_id": "T-1", "priority": "critical"}, "priority"},
				{"missing required", ToolEscalate, map[string]any{"ticket_id": "T-1"}, "reason"},
				{"invalid transition", ToolSaveTicket, map[string]any{"ticket_id": "T-1", "status": "negotiating"}, "cannot move from new to negotiating"},
				{"since_version ahead", ToolWaitForTicket, map[string]any{"ticket_id": "T-1", "statuses": []string{"closed"}, "since_version": 99}, "since_version: 99"},
				{"no statuses", ToolWaitForTicket, map[string]any{"ticket_id": "T-1", "statuses": []string{}}, "statuses"},
				{"timeout too long", ToolWaitForTicket, map[string]any{"ticket_id": "T-1", "statuses": []string{"closed"}, "timeout_seconds": 100000}, "timeout_seconds"},
				{"lease not held", ToolCompleteTask, map[string]any{"task_id": "task-x", "lease_token": "t"}, "not found"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: tt.tool, Arguments: tt.args})
					if err != nil {
						t.Fatalf("protocol error %v; want a tool error", err)
					}
					if !res.IsError || !strings.Contains(text(res), tt.want) {
						t.Errorf("result isError=%v %q; want an error mentioning %q", res.IsError, text(res), tt.want)
					}
				})
			}
			if _, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "no_such_tool"}); err == nil || !strings.Contains(err.Error(), "no_such_tool") {
				t.Errorf("unknown tool: %v, want a protocol error naming it", err)
			}
			got, _ := f.ws.GetTicket(t.Context(), "T-1")
			if got.Version != 2 || got.Priority != "" || got.RefundAmount != 0 {
				t.Errorf("bad calls changed the ticket: %+v", got)
			}
		})
	}
}

func TestBadHTTPInput(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name       string
		body       string
		header     map[string]string
		wantStatus int
		wantBody   string
	}{
		{"oversized body", `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":"` + strings.Repeat("a", 70<<10) + `"}}`,
			nil, http.StatusRequestEntityTooLarge, `"code":-32600`},
		{"malformed JSON", `{"jsonrpc":"2.0",`, map[string]string{"Mcp-Protocol-Version": "2026-07-28"}, http.StatusBadRequest, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, f.url, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus || !strings.Contains(string(body), tt.wantBody) {
				t.Errorf("status %d body %s; want %d with %q", resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}

func TestWaitForTicketProgress(t *testing.T) {
	for _, gen := range generations {
		t.Run(gen.name, func(t *testing.T) {
			f := newFixture(t)
			var mu sync.Mutex
			var progress []string
			cs := f.connect(t, gen.version, &mcp.ClientOptions{
				ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
					mu.Lock()
					progress = append(progress, req.Params.Message)
					mu.Unlock()
				},
			})
			ctx := t.Context()
			if _, _, err := f.ws.SaveTicket(ctx, "triage", workspace.TicketInput{ID: "T-1", Customer: ptr("acme")}); err != nil {
				t.Fatal(err)
			}
			waiting := f.bridge.waiting("T-1")
			go func() {
				// Change the ticket only once the call is waiting on it.
				<-waiting
				_, _, _ = f.ws.SaveTicket(ctx, "triage", workspace.TicketInput{ID: "T-1", Status: ptr(workspace.StatusTriaged)})
				_, _ = f.ws.Escalate(ctx, "billing", "T-1", "refund over limit", nil)
				_, _ = f.ws.SaveResolution(ctx, "billing", workspace.ResolutionInput{TicketID: "T-1", Resolution: "refunded"})
			}()
			params := &mcp.CallToolParams{Name: ToolWaitForTicket, Arguments: map[string]any{"ticket_id": "T-1", "statuses": []string{"resolved"}, "timeout_seconds": 30, "since_version": 1}}
			params.SetProgressToken("wait-1")
			res, err := cs.CallTool(ctx, params)
			if err != nil || res.IsError {
				t.Fatalf("wait_for_ticket: %v %v", err, res)
			}
			var out waitOut
			data, _ := json.Marshal(res.StructuredContent)
			if err := json.Unmarshal(data, &out); err != nil {
				t.Fatal(err)
			}
			if !out.Reached || out.TimedOut || out.Ticket.Status != workspace.StatusResolved || out.Changes != 3 {
				t.Errorf("wait_for_ticket = %+v", out)
			}
			// Notifications are handled apart from the response: give them
			// a moment to land (a hang guard, not a timing assertion).
			want := []string{"triaged", "escalated: refund over limit", "resolved"}
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				mu.Lock()
				n := len(progress)
				mu.Unlock()
				if n >= len(want) {
					break
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(progress, want) {
				t.Errorf("progress = %q, want %q", progress, want)
			}
		})
	}
}

func TestWaitForTicketTimesOut(t *testing.T) {
	f := newFixture(t)
	cs := f.connect(t, "", nil)
	if _, _, err := f.ws.SaveTicket(t.Context(), "a", workspace.TicketInput{ID: "T-1", Customer: ptr("acme")}); err != nil {
		t.Fatal(err)
	}
	var out waitOut
	call(t, cs, ToolWaitForTicket, map[string]any{"ticket_id": "T-1", "statuses": []string{"closed"}, "timeout_seconds": 1}, &out)
	if !out.TimedOut || out.Reached || out.Ticket.ID != "T-1" {
		t.Errorf("wait_for_ticket = %+v, want timed out", out)
	}
}

func TestElicitationConfirmsRefund(t *testing.T) {
	for _, gen := range generations {
		for _, answer := range []string{"accept", "decline", "cancel"} {
			t.Run(gen.name+"/"+answer, func(t *testing.T) {
				f := newFixture(t)
				var asked string
				cs := f.connect(t, gen.version, &mcp.ClientOptions{
					ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
						asked = req.Params.Message
						if answer == "accept" {
							return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirm": true}}, nil
						}
						return &mcp.ElicitResult{Action: answer}, nil
					},
				})
				if _, _, err := f.ws.SaveTicket(t.Context(), "a", workspace.TicketInput{ID: "T-1", Customer: ptr("acme"), RefundAmount: ptr(350.0)}); err != nil {
					t.Fatal(err)
				}
				var out resolutionOut
				call(t, cs, ToolSaveResolution, map[string]any{"ticket_id": "T-1", "resolution": "refund 350"}, &out)
				if !strings.Contains(asked, "350.00") {
					t.Errorf("elicitation message = %q, want the amount", asked)
				}
				got, _ := f.ws.GetTicket(t.Context(), "T-1")
				if answer == "accept" {
					if !out.Saved || got.Status != workspace.StatusResolved || got.Resolution != "refund 350" {
						t.Errorf("accepted: out %+v ticket %+v", out, got)
					}
					return
				}
				wantOutcome := map[string]string{"decline": "declined", "cancel": "cancelled"}[answer]
				if out.Saved || out.Outcome != wantOutcome || got.Version != 1 || got.Status != workspace.StatusNew {
					t.Errorf("%s: out %+v, ticket %+v; want unchanged", answer, out, got)
				}
			})
		}
	}
}

func TestRequestStateIsVerified(t *testing.T) {
	f := newFixture(t)
	cs := f.connect(t, "", &mcp.ClientOptions{MultiRoundTrip: &mcp.MultiRoundTripOptions{Disabled: true}})
	if _, _, err := f.ws.SaveTicket(t.Context(), "a", workspace.TicketInput{ID: "T-1", Customer: ptr("acme"), RefundAmount: ptr(350.0)}); err != nil {
		t.Fatal(err)
	}
	first, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: ToolSaveResolution, Arguments: map[string]any{"ticket_id": "T-1", "resolution": "refund 350"}})
	if err != nil || first.InputRequests == nil || first.RequestState == "" {
		t.Fatalf("first call = %+v, %v; want input requests", first, err)
	}
	accept := mcp.InputResponseMap{"confirm": &mcp.ElicitResult{Action: "accept"}}
	tampered := first.RequestState[:len(first.RequestState)-2] + "xx"
	tests := []struct {
		name, state, resolution, want string
	}{
		{"forged signature", tampered, "refund 350", "signature"},
		{"other resolution", first.RequestState, "refund 9999", "different resolution"},
		{"garbage", "nonsense", "refund 350", "malformed"},
	}
	for _, tt := range tests {
		res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: ToolSaveResolution, RequestState: tt.state, InputResponses: accept,
			Arguments: map[string]any{"ticket_id": "T-1", "resolution": tt.resolution}})
		if err != nil || !res.IsError || !strings.Contains(text(res), tt.want) {
			t.Errorf("%s: %v %+v; want a tool error mentioning %q", tt.name, err, res, tt.want)
		}
	}
	got, _ := f.ws.GetTicket(t.Context(), "T-1")
	if got.Version != 1 {
		t.Errorf("ticket changed by a refused retry: %+v", got)
	}
}

func TestSummarizeTicket(t *testing.T) {
	for _, gen := range generations {
		t.Run(gen.name+"/sampling", func(t *testing.T) {
			f := newFixture(t)
			var prompt string
			cs := f.connect(t, gen.version, &mcp.ClientOptions{
				CreateMessageHandler: func(_ context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
					prompt = req.Params.Messages[0].Content.(*mcp.TextContent).Text
					return &mcp.CreateMessageResult{Model: "test-model-1", Role: "assistant", Content: &mcp.TextContent{Text: "Acme was charged twice."}}, nil
				},
			})
			if _, _, err := f.ws.SaveTicket(t.Context(), "a", workspace.TicketInput{ID: "T-1", Customer: ptr("acme"), Summary: ptr("charged twice")}); err != nil {
				t.Fatal(err)
			}
			var out summarizeOut
			call(t, cs, ToolSummarizeTicket, map[string]any{"ticket_id": "T-1"}, &out)
			if out.Source != "sampling" || out.Model != "test-model-1" || out.Summary != "Acme was charged twice." {
				t.Errorf("summarize_ticket = %+v", out)
			}
			if !strings.Contains(prompt, "charged twice") {
				t.Errorf("the model was not shown the ticket: %q", prompt)
			}
			got, _ := f.ws.GetTicket(t.Context(), "T-1")
			if got.GeneratedSummary == nil || got.GeneratedSummary.Model != "test-model-1" {
				t.Errorf("stored summary = %+v", got.GeneratedSummary)
			}
		})
		t.Run(gen.name+"/no sampling", func(t *testing.T) {
			f := newFixture(t)
			cs := f.connect(t, gen.version, nil)
			if _, _, err := f.ws.SaveTicket(t.Context(), "a", workspace.TicketInput{ID: "T-1", Customer: ptr("acme"), Summary: ptr("charged twice")}); err != nil {
				t.Fatal(err)
			}
			var out summarizeOut
			call(t, cs, ToolSummarizeTicket, map[string]any{"ticket_id": "T-1"}, &out)
			if out.Source != "data" || out.Model != plainModel || !strings.Contains(out.Summary, "charged twice") {
				t.Errorf("summarize_ticket = %+v", out)
			}
		})
	}
}

func TestResourcesAndSubscriptions(t *testing.T) {
	for _, gen := range generations {
		t.Run(gen.name, func(t *testing.T) {
			f := newFixture(t)
			updated := make(chan string, 16)
			cs := f.connect(t, gen.version, &mcp.ClientOptions{
				ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
					updated <- req.Params.URI
				},
			})
			ctx := t.Context()
			if _, _, err := f.ws.SaveTicket(ctx, "a", workspace.TicketInput{ID: "T-1", Customer: ptr("acme")}); err != nil {
				t.Fatal(err)
			}
			if _, err := f.ws.SaveAnalysis(ctx, "sentiment-agent", "T-1", "sentiment", json.RawMessage(`{"score":-0.5}`)); err != nil {
				t.Fatal(err)
			}
			res, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "ticket://T-1"})
			if err != nil {
				t.Fatal(err)
			}
			var doc ticketResource
			if err := json.Unmarshal([]byte(res.Contents[0].Text), &doc); err != nil {
				t.Fatal(err)
			}
			if doc.Ticket.ID != "T-1" || len(doc.Analyses) != 1 || len(doc.History) != 1 {
				t.Errorf("ticket://T-1 = %+v", doc)
			}
			if _, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "ticket://T-404"}); err == nil {
				t.Error("reading an unknown ticket succeeded")
			}
			res, err = cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: statusURI})
			if err != nil || !strings.Contains(res.Contents[0].Text, `"total_tickets": 1`) {
				t.Errorf("status://pipeline = %v, %v", res, err)
			}

			if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "ticket://T-1"}); err != nil {
				t.Fatal(err)
			}
			// A write that does not go through MCP at all still reaches the
			// subscriber: updates come from the store's change feed.
			if _, err := f.ws.Escalate(ctx, "billing", "T-1", "over limit", nil); err != nil {
				t.Fatal(err)
			}
			select {
			case uri := <-updated:
				if uri != "ticket://T-1" {
					t.Errorf("updated %s, want ticket://T-1", uri)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no notifications/resources/updated for ticket://T-1")
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// waiting returns a channel closed once a wait_for_ticket call on id has
// read the ticket, so that a test changes it only when the call will
// report the change. Call it before the call starts.
func (b *Bridge) waiting(id string) <-chan struct{} {
	ch := make(chan struct{})
	var once sync.Once
	b.waitRead = func(got string) {
		if got == id {
			once.Do(func() { close(ch) })
		}
	}
	return ch
}
