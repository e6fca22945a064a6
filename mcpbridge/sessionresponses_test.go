package mcpbridge

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/store"
)

// postLog is a balancer that notes, for each POST, what it carried (a
// request's method, or "response") and the replica it went to.
type postLog struct {
	rr *roundRobin

	mu   sync.Mutex
	log  []string // "method@replica"
	sent sync.Mutex
}

func (p *postLog) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPost || req.Body == nil {
		return p.rr.RoundTrip(req)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	var msg struct {
		Method string `json:"method"`
		Params struct {
			Name string `json:"name"`
		} `json:"params"`
	}
	_ = json.Unmarshal(body, &msg)
	what := msg.Method
	switch {
	case what == "":
		what = "response"
	case msg.Params.Name != "":
		what += " " + msg.Params.Name
	}
	// Which replica the next request goes to, and sending it, in one step:
	// the client sends a response while its call's POST is open, never two
	// POSTs at once.
	p.sent.Lock()
	i := p.next()
	p.mu.Lock()
	p.log = append(p.log, what+"@"+string(rune('A'+i)))
	p.mu.Unlock()
	resp, err := p.rr.RoundTrip(req)
	p.sent.Unlock()
	return resp, err
}

func (p *postLog) since(n int) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.log[n:]...)
}

// next is the replica the next request goes to.
func (p *postLog) next() int {
	p.rr.mu.Lock()
	defer p.rr.mu.Unlock()
	return p.rr.next
}

func (p *postLog) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.log)
}

// connectHost connects a go-sdk client that answers elicitation and
// sampling through rt, in 2025-11-25 session mode.
func connectHost(t *testing.T, rt http.RoundTripper, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "balanced-host", Version: "1"}, opts)
	cs, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{
		Endpoint:             "http://balancer/mcp",
		HTTPClient:           &http.Client{Transport: rt},
		DisableStandaloneSSE: true,
	}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// untilMarker reads ch up to the change of the ticket marker and returns
// the kinds of the changes before it.
func untilMarker(t *testing.T, ch <-chan store.Change, marker string) map[string]int {
	t.Helper()
	kinds := map[string]int{}
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case c := <-ch:
			if c.Kind == store.KindTicket && c.Key == marker {
				return kinds
			}
			kinds[c.Kind]++
		case <-timeout.C:
			t.Fatalf("the change of %s never came", marker)
		}
	}
}

// The server's requests of a session (elicitation for a big refund's
// confirmation, sampling for a summary) are answered by the client through
// a balancer without stickiness: the answer lands on the replica that did
// not ask, and still reaches the call waiting on the other. An answer that
// lands on the replica that asked costs no store write.
func TestSessionResponsesReachTheReplicaThatAsked(t *testing.T) {
	for _, be := range sessionBackends {
		t.Run(be.name, func(t *testing.T) {
			clock := &sessionClock{now: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)}
			open := be.newOpen(t)
			reps := startReplicas(t, open, clock, 2)
			watch := open(t)
			changes, err := watch.Subscribe(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			runCtx, stop := context.WithCancel(context.Background())
			watchDone := make(chan struct{})
			go func() { defer close(watchDone); _ = watch.Run(runCtx) }()
			t.Cleanup(func() { stop(); <-watchDone })

			var asked []string
			var askedMu sync.Mutex
			host := &mcp.ClientOptions{
				ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
					askedMu.Lock()
					asked = append(asked, "elicitation")
					askedMu.Unlock()
					return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirm": true}}, nil
				},
				CreateMessageHandler: func(_ context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
					askedMu.Lock()
					asked = append(asked, "sampling")
					askedMu.Unlock()
					return &mcp.CreateMessageResult{Model: "host-model", Role: "assistant", Content: &mcp.TextContent{Text: "Acme was charged twice."}}, nil
				},
			}

			for _, tc := range []struct {
				name    string
				targets []*replica
				// wantLog is the POSTs of the calls and the client's answers.
				wantLog []string
				// wantStored is whether the answers went through the store.
				wantStored bool
			}{
				{
					name: "other replica", targets: reps, wantStored: true,
					wantLog: []string{
						"tools/call save_resolution@A", "response@B",
						"tools/call summarize_ticket@A", "response@B",
					},
				},
				{
					name: "same replica", targets: reps[:1], wantStored: false,
					wantLog: []string{
						"tools/call save_resolution@A", "response@A",
						"tools/call summarize_ticket@A", "response@A",
					},
				},
			} {
				t.Run(tc.name, func(t *testing.T) {
					askedMu.Lock()
					asked = nil
					askedMu.Unlock()
					pl := &postLog{rr: newRoundRobin(t, "alice", tc.targets...)}
					cs := connectHost(t, pl, host)
					ticket := "T-" + strings.ReplaceAll(tc.name, " ", "-")
					call(t, cs, ToolSaveTicket, map[string]any{"ticket_id": ticket, "customer": "acme", "summary": "charged twice", "refund_amount": 5000}, nil)
					// Line the balancer up so that each call goes to A.
					if pl.next() != 0 {
						call(t, cs, ToolGetTicket, map[string]any{"ticket_id": ticket}, nil)
					}
					n := pl.len()

					ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
					defer cancel()
					res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: ToolSaveResolution,
						Arguments: map[string]any{"ticket_id": ticket, "resolution": "refunded"}})
					if err != nil {
						t.Fatalf("save_resolution: %v", err)
					}
					if out := resolution(t, res); !out.Saved || out.Ticket.Status != "resolved" {
						t.Errorf("save_resolution = %+v; want saved and resolved", out)
					}
					// Line up again: the answer's POST took a turn.
					if pl.next() != 0 {
						call(t, cs, ToolGetTicket, map[string]any{"ticket_id": ticket}, nil)
					}
					var sum summarizeOut
					res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: ToolSummarizeTicket, Arguments: map[string]any{"ticket_id": ticket}})
					if err != nil {
						t.Fatalf("summarize_ticket: %v", err)
					}
					if data, _ := json.Marshal(res.StructuredContent); json.Unmarshal(data, &sum) != nil || sum.Source != "sampling" || sum.Model != "host-model" {
						t.Errorf("summarize_ticket = %+v (%s); want the host's summary", sum, text(res))
					}

					var got []string
					for _, e := range pl.since(n) {
						if strings.HasPrefix(e, "response") || strings.Contains(e, "save_resolution") || strings.Contains(e, "summarize_ticket") {
							got = append(got, e)
						}
					}
					if diff := cmp.Diff(tc.wantLog, got); diff != "" {
						t.Errorf("POSTs (-want +got):\n%s", diff)
					}
					askedMu.Lock()
					if diff := cmp.Diff([]string{"elicitation", "sampling"}, asked); diff != "" {
						t.Errorf("the host was asked (-want +got):\n%s", diff)
					}
					askedMu.Unlock()

					// The answers went through the store only when they
					// landed on the replica that did not ask. The change of
					// the marker ticket, written after, bounds the wait.
					marker := ticket + "-marker"
					call(t, cs, ToolSaveTicket, map[string]any{"ticket_id": marker, "customer": "acme"}, nil)
					kinds := untilMarker(t, changes, marker)
					if stored := kinds[store.KindMCPSessionResponse] > 0; stored != tc.wantStored {
						t.Errorf("answers stored = %v (changes %v), want %v", stored, kinds, tc.wantStored)
					}
					// Answered requests are forgotten on both replicas.
					for i, r := range reps {
						sr := r.bridge.sessions.responses
						sr.mu.Lock()
						if len(sr.sent) != 0 {
							t.Errorf("replica %d still awaits %v", i, sr.sent)
						}
						sr.mu.Unlock()
					}
				})
			}
		})
	}
}

// A response POSTed by another user to someone's session is refused, as
// any request of theirs is, and not passed on.
func TestSessionResponsesOfAnotherUser(t *testing.T) {
	clock := &sessionClock{now: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)}
	open := sessionBackends[0].newOpen(t)
	reps := startReplicas(t, open, clock, 2)
	cs := connectThrough(t, newRoundRobin(t, "alice", reps...))
	resp := `{"jsonrpc":"2.0","id":1,"result":{"action":"accept","content":{"confirm":true}}}`
	for i, r := range reps {
		if status, body := sessionPost(t, r, "mallory", cs.ID(), resp); status != http.StatusForbidden {
			t.Errorf("replica %d: mallory's response = %d %q, want 403", i, status, body)
		}
	}
	st := open(t)
	if rs, err := st.ListMCPSessionResponses(t.Context(), cs.ID()); err != nil || len(rs) != 0 {
		t.Errorf("stored responses = %v, %v; want none", rs, err)
	}
	// Alice's own stray response (no request has that id) is taken and
	// kept for the replica that asked, until swept.
	if status, body := sessionPost(t, reps[0], "alice", cs.ID(), resp); status != http.StatusAccepted {
		t.Errorf("alice's response = %d %q, want 202", status, body)
	}
	rs, err := st.ListMCPSessionResponses(t.Context(), cs.ID())
	if err != nil || len(rs) != 1 || rs[0].RPCID != "1" {
		t.Errorf("stored responses = %+v, %v; want the one with id 1", rs, err)
	}
}

func TestCallID(t *testing.T) {
	for _, tc := range []struct {
		data string
		id   string
		ok   bool
	}{
		{`{"jsonrpc":"2.0","id":3,"method":"elicitation/create","params":{}}`, "3", true},
		{`{"jsonrpc":"2.0","id":"a","method":"ping"}`, `"a"`, true},
		{`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}`, "", false},
		{`{"jsonrpc":"2.0","id":3,"result":{"method":"x"}}`, "", false},
		{`{"jsonrpc":"2.0","id":"a,b","method":"ping"}`, "", false},
		{``, "", false},
	} {
		id, ok := callID([]byte(tc.data))
		if id != tc.id || ok != tc.ok {
			t.Errorf("callID(%s) = %q, %v; want %q, %v", tc.data, id, ok, tc.id, tc.ok)
		}
	}
}

func TestResponsesIn(t *testing.T) {
	for _, tc := range []struct {
		body string
		ids  []string // nil: not a POST of responses only
	}{
		{`{"jsonrpc":"2.0","id":1,"result":{"action":"accept"}}`, []string{"1"}},
		{`{"id": "x" , "jsonrpc":"2.0","error":{"code":-1,"message":"no"}}`, []string{`"x"`}},
		{`[{"jsonrpc":"2.0","id":1,"result":{}},{"jsonrpc":"2.0","id":2,"result":{}}]`, []string{"1", "2"}},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}`, nil},
		{`[{"jsonrpc":"2.0","id":1,"result":{}},{"jsonrpc":"2.0","method":"notifications/initialized"}]`, nil},
		{`{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse"}}`, nil},
		{`{"jsonrpc":"2.0","id":1}`, nil},
		{`{"jsonrpc":"2.0","id":1,"result":`, nil},
		{``, nil},
	} {
		var ids []string
		for _, r := range responsesIn([]byte(tc.body)) {
			ids = append(ids, r.id)
		}
		if diff := cmp.Diff(tc.ids, ids); diff != "" {
			t.Errorf("responsesIn(%s) ids (-want +got):\n%s", tc.body, diff)
		}
	}
}
