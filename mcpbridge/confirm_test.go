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

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/workspace"
)

// resolveCall calls save_resolution, with a request state and an answer
// if given.
func resolveCall(t *testing.T, cs *mcp.ClientSession, args map[string]any, state string, answer string) *mcp.CallToolResult {
	t.Helper()
	p := &mcp.CallToolParams{Name: ToolSaveResolution, Arguments: args, RequestState: state}
	if answer != "" {
		p.InputResponses = mcp.InputResponseMap{"confirm": &mcp.ElicitResult{Action: answer, Content: map[string]any{"confirm": answer == "accept"}}}
	}
	res, err := cs.CallTool(t.Context(), p)
	if err != nil {
		t.Fatalf("save_resolution: %v", err)
	}
	return res
}

// question returns the confirmation question a result asks, or fails.
func question(t *testing.T, res *mcp.CallToolResult) string {
	t.Helper()
	q, ok := res.InputRequests["confirm"].(*mcp.ElicitParams)
	if !ok || res.RequestState == "" || res.IsError {
		t.Fatalf("result = %+v (%s); want a confirmation question", res, text(res))
	}
	return q.Message
}

// person answers confirmation questions the way the test says, and
// remembers what they were asked.
type person struct {
	mu     sync.Mutex
	answer string
	asked  []string
}

func (p *person) handle(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.asked = append(p.asked, req.Params.Message)
	return &mcp.ElicitResult{Action: p.answer, Content: map[string]any{"confirm": p.answer == "accept"}}, nil
}

func (p *person) set(answer string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	asked := p.asked
	p.answer, p.asked = answer, nil
	return asked
}

func resolution(t *testing.T, res *mcp.CallToolResult) resolutionOut {
	t.Helper()
	if res.IsError || res.InputRequests != nil {
		t.Fatalf("save_resolution = %+v (%s); want a result", res, text(res))
	}
	var out resolutionOut
	data, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// A confirmation binds the refund and the ticket version it was given
// for, whatever the retry carries (expected_version included), and is
// good for one resolve.
func TestConfirmationBindsRefundAndVersion(t *testing.T) {
	for _, gen := range generations {
		t.Run(gen.name, func(t *testing.T) {
			f := newFixture(t) // confirmation above 200
			ctx := t.Context()
			// asker takes the questions home as request state; host is the
			// generation under test, whose person answers what they are
			// asked (through the SDK's elicitation bridge for sessions, the
			// client's multi round-trip loop for stateless).
			asker := f.connect(t, "", &mcp.ClientOptions{MultiRoundTrip: &mcp.MultiRoundTripOptions{Disabled: true}})
			pers := &person{answer: "decline"}
			host := f.connect(t, gen.version, &mcp.ClientOptions{ElicitationHandler: pers.handle})
			tk, _, err := f.ws.SaveTicket(ctx, "desk", workspace.TicketInput{ID: "T-1", Customer: ptr("acme"), RefundAmount: ptr(600.0)})
			if err != nil {
				t.Fatal(err)
			}
			args := map[string]any{"ticket_id": "T-1", "resolution": "refund"}
			first := resolveCall(t, asker, args, "", "")
			if q := question(t, first); !strings.Contains(q, "600.00") {
				t.Errorf("question = %q, want the amount 600.00", q)
			}

			// The person is shown 600; meanwhile the refund becomes 5000.
			var raised saveTicketOut
			call(t, host, ToolSaveTicket, map[string]any{"ticket_id": "T-1", "refund_amount": 5000, "expected_version": tk.Version}, &raised)

			// The answer to the 600 question, retried with expected_version
			// set to the current version, must not resolve at 5000: the
			// person is asked about 5000 (and declines).
			pinned := map[string]any{"ticket_id": "T-1", "resolution": "refund", "expected_version": raised.Ticket.Version}
			out := resolution(t, resolveCall(t, host, pinned, first.RequestState, "accept"))
			asked := pers.set("decline")
			if len(asked) != 1 || !strings.Contains(asked[0], "5000.00") || !strings.Contains(asked[0], "changed") {
				t.Errorf("asked %q; want one question about 5000.00 saying the ticket changed", asked)
			}
			if out.Saved || out.Outcome != "declined" {
				t.Errorf("retry with the 600 answer: %+v; want declined, not saved", out)
			}
			if got, _ := f.ws.GetTicket(ctx, "T-1"); got.Status == workspace.StatusResolved || got.Version != raised.Ticket.Version {
				t.Fatalf("resolved at %.2f with the confirmation of 600.00: %+v", got.RefundAmount, got)
			}

			// Confirmed at 5000: resolved, with nobody asked again.
			second := resolveCall(t, asker, args, "", "")
			if q := question(t, second); !strings.Contains(q, "5000.00") {
				t.Errorf("question = %q, want 5000.00", q)
			}
			out = resolution(t, resolveCall(t, host, args, second.RequestState, "accept"))
			if !out.Saved || out.Ticket.Status != workspace.StatusResolved || out.Ticket.RefundAmount != 5000 {
				t.Fatalf("confirmed retry: %+v", out)
			}
			if asked := pers.set("decline"); len(asked) != 0 {
				t.Errorf("asked %q after a valid confirmation", asked)
			}

			// Replaying either answer resolves nothing more: the person is
			// asked again each time (and declines).
			for _, state := range []string{second.RequestState, first.RequestState} {
				if replay := resolution(t, resolveCall(t, host, args, state, "accept")); replay.Saved {
					t.Errorf("replayed answer saved: %+v", replay)
				}
			}
			if asked := pers.set("decline"); len(asked) != 2 {
				t.Errorf("asked %q on replays; want a question each", asked)
			}
			got, _ := f.ws.GetTicket(ctx, "T-1")
			if got.Version != out.Ticket.Version {
				t.Errorf("a replayed confirmation wrote version %d", got.Version)
			}
			hist, _ := f.ws.History(ctx, "T-1")
			resolves := 0
			for _, h := range hist {
				if h.Action == "resolve" {
					resolves++
					if !strings.Contains(string(h.Detail), `"refund_confirmed":{"amount":5000,"by":"test-host","via":"MCP elicitation"}`) {
						t.Errorf("resolve history = %s, want who confirmed what", h.Detail)
					}
				}
			}
			if resolves != 1 {
				t.Errorf("%d resolves in the history, want 1", resolves)
			}
		})
	}
}

// The same answer sent by many retries at once resolves the ticket once.
func TestConfirmationUsedOnceConcurrently(t *testing.T) {
	f := newFixture(t)
	cs := f.connect(t, "", &mcp.ClientOptions{MultiRoundTrip: &mcp.MultiRoundTripOptions{Disabled: true}})
	if _, _, err := f.ws.SaveTicket(t.Context(), "desk", workspace.TicketInput{ID: "T-1", Customer: ptr("acme"), RefundAmount: ptr(900.0)}); err != nil {
		t.Fatal(err)
	}
	args := map[string]any{"ticket_id": "T-1", "resolution": "refund"}
	state := resolveCall(t, cs, args, "", "").RequestState
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		saved int
	)
	for range 6 {
		wg.Go(func() {
			p := &mcp.CallToolParams{Name: ToolSaveResolution, Arguments: args, RequestState: state,
				InputResponses: mcp.InputResponseMap{"confirm": &mcp.ElicitResult{Action: "accept"}}}
			res, err := cs.CallTool(t.Context(), p)
			if err == nil && !res.IsError && res.InputRequests == nil {
				mu.Lock()
				saved++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if got, _ := f.ws.GetTicket(t.Context(), "T-1"); saved != 1 || got.Version != 2 {
		t.Errorf("%d retries saved, ticket at version %d; want one resolve", saved, got.Version)
	}
}

// save_ticket cannot resolve a refund that needs a person: the workspace
// refuses, and the tool says where to go instead.
func TestSaveTicketCannotSkipConfirmation(t *testing.T) {
	for _, gen := range generations {
		t.Run(gen.name, func(t *testing.T) {
			f := newFixture(t)
			cs := f.connect(t, gen.version, nil)
			call(t, cs, ToolSaveTicket, map[string]any{"ticket_id": "T-1", "customer": "acme", "refund_amount": 5000}, nil)
			for _, args := range []map[string]any{
				{"ticket_id": "T-1", "status": "resolved"},
				{"ticket_id": "T-2", "customer": "acme", "refund_amount": 5000, "status": "resolved"},
			} {
				res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: ToolSaveTicket, Arguments: args})
				if err != nil || !res.IsError || !strings.Contains(text(res), "a person must confirm it") || !strings.Contains(text(res), "save_resolution") {
					t.Errorf("save_ticket %v = %v, %q; want a tool error pointing at save_resolution", args, err, text(res))
				}
			}
			got, _ := f.ws.GetTicket(t.Context(), "T-1")
			if got.Status != workspace.StatusNew || got.Version != 1 {
				t.Errorf("ticket = %+v, want unchanged", got)
			}
		})
	}
}

// recorder keeps the last tools/call request a client sent.
type recorder struct {
	mu     sync.Mutex
	header http.Header
	body   []byte
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Method == http.MethodPost {
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		if bytes.Contains(body, []byte(`"tools/call"`)) {
			r.mu.Lock()
			r.header, r.body = req.Header.Clone(), body
			r.mu.Unlock()
		}
	}
	return http.DefaultTransport.RoundTrip(req)
}

// Arguments are checked as the client wrote them: numbers beyond float64
// or int64, invalid UTF-8 and unpaired surrogates are refused naming the
// argument, in both generations, before the SDK decodes them.
func TestArgumentsCheckedAsWritten(t *testing.T) {
	tests := []struct {
		name string
		tool string
		args string
		want string
	}{
		{"refund beyond float64", ToolSaveTicket, `{"ticket_id": "T-1", "refund_amount": 1e309}`,
			"argument refund_amount: 1e309 is out of range: the largest number accepted is 1.7976931348623157e+308"},
		{"negative refund beyond float64", ToolSaveTicket, `{"ticket_id": "T-1", "refund_amount": -2e308}`, "argument refund_amount: -2e308 is out of range"},
		{"version beyond int64", ToolSaveTicket, `{"ticket_id": "T-1", "summary": "x", "expected_version": 9223372036854775808}`,
			"argument expected_version: 9223372036854775808 is out of range: whole numbers here go up to 9223372036854775807"},
		{"version with a fraction", ToolSaveResolution, `{"ticket_id": "T-1", "resolution": "x", "expected_version": 1.5}`,
			"argument expected_version: 1.5 must be a whole number"},
		{"nested number", ToolSaveAnalysis, `{"ticket_id": "T-1", "namespace": "n", "findings": {"scores": [1, 1e400]}}`,
			"argument findings.scores[1]: 1e400 is out of range"},
		{"invalid UTF-8", ToolSaveTicket, "{\"ticket_id\": \"T-1\", \"summary\": \"a\xff\xfeb\"}", "argument summary: is not valid UTF-8"},
		{"invalid UTF-8 in findings", ToolSaveAnalysis, "{\"ticket_id\": \"T-1\", \"namespace\": \"n\", \"findings\": {\"note\": \"\xc3\"}}",
			"argument findings.note: is not valid UTF-8"},
		{"unpaired surrogate", ToolSaveTicket, `{"ticket_id": "T-1", "customer": "a\ud800b"}`, "argument customer: is not valid UTF-16 (an unpaired surrogate escape)"},
		{"bidi override reaches the workspace", ToolSaveTicket, `{"ticket_id": "T-1", "summary": "refund \u202e0005"}`,
			"invalid summary: has a bidirectional control character (U+202E) at byte 7"},
		{"ESC reaches the workspace", ToolEscalate, `{"ticket_id": "T-1", "reason": "\u001b[2J"}`, "invalid reason: has a control character (U+001B)"},
	}
	for _, gen := range generations {
		t.Run(gen.name, func(t *testing.T) {
			f := newFixture(t)
			rec := &recorder{}
			c := mcp.NewClient(&mcp.Implementation{Name: "test-host", Version: "1"}, nil)
			cs, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: f.url, HTTPClient: &http.Client{Transport: rec}},
				&mcp.ClientSessionOptions{ProtocolVersion: gen.version})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cs.Close() })
			call(t, cs, ToolSaveTicket, map[string]any{"ticket_id": "T-1", "customer": "acme"}, nil)
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					res := callRaw(t, cs, rec, f.url, tt.tool, tt.args)
					if !res.IsError || !strings.Contains(text(res), tt.want) {
						t.Errorf("%s %s = isError %v %q; want a tool error with %q", tt.tool, tt.args, res.IsError, text(res), tt.want)
					}
				})
			}
			got, _ := f.ws.GetTicket(t.Context(), "T-1")
			if got.Version != 1 || got.Summary != "" || got.Escalated {
				t.Errorf("refused calls changed the ticket: %+v", got)
			}
			// A U+FFFD the client sent is text like any other.
			var out saveTicketOut
			res := callRaw(t, cs, rec, f.url, ToolSaveTicket, `{"ticket_id": "T-1", "summary": "\ufffd and `+"\uFFFD"+`"}`)
			data, _ := json.Marshal(res.StructuredContent)
			_ = json.Unmarshal(data, &out)
			if res.IsError || out.Ticket.Summary != "\uFFFD and \uFFFD" {
				t.Errorf("literal U+FFFD: %q, %+v", text(res), out)
			}
		})
	}
}

// callRaw calls a tool with arguments exactly as written. The session
// generation goes through the Go client; the stateless one as raw HTTP,
// since the Go client refuses to send some of these: it replays the
// client's own request for a call with the arguments swapped in.
func callRaw(t *testing.T, cs *mcp.ClientSession, rec *recorder, url, tool, args string) *mcp.CallToolResult {
	t.Helper()
	const marker = `{"ticket_id":"T-MARKER"}`
	if cs.InitializeResult() != nil && cs.InitializeResult().ProtocolVersion < statelessVersion {
		res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: tool, Arguments: json.RawMessage(args)})
		if err != nil {
			t.Fatalf("%s: %v", tool, err)
		}
		return res
	}
	if _, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: tool, Arguments: json.RawMessage(marker)}); err != nil {
		t.Fatalf("%s: %v", tool, err)
	}
	rec.mu.Lock()
	header, body := rec.header.Clone(), rec.body
	rec.mu.Unlock()
	if !bytes.Contains(body, []byte(marker)) {
		t.Fatalf("recorded request %s lacks the marker", body)
	}
	body = bytes.Replace(body, []byte(marker), []byte(args), 1)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: HTTP %d %s", tool, resp.StatusCode, data)
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		for line := range strings.Lines(string(data)) {
			if rest, ok := strings.CutPrefix(line, "data: "); ok && strings.Contains(rest, `"result"`) {
				data = []byte(rest)
			}
		}
	}
	var msg struct {
		Result *mcp.CallToolResult `json:"result"`
	}
	if err := json.Unmarshal(data, &msg); err != nil || msg.Result == nil {
		t.Fatalf("%s: response %s: %v", tool, data, err)
	}
	return msg.Result
}
