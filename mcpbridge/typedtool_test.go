package mcpbridge

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/workspace"
)

// twin registers a handler twice on s: as name+"_sdk" through go-sdk's
// generic wrapper, and as name+"_ours" through typedTool, with the same
// schemas (patched by patch, if set).
func twin[In, Out any](t *testing.T, s *mcp.Server, name string, patch func(in *jsonschema.Schema), h mcp.ToolHandlerFor[In, Out]) {
	t.Helper()
	schemas := func() (*jsonschema.Schema, *jsonschema.Schema) {
		in, err := jsonschema.For[In](&jsonschema.ForOptions{TypeSchemas: schemaTypes})
		if err != nil {
			t.Fatal(err)
		}
		if patch != nil {
			patch(in)
		}
		out, err := jsonschema.For[Out](&jsonschema.ForOptions{TypeSchemas: schemaTypes})
		if err != nil {
			t.Fatal(err)
		}
		return in, out
	}
	in, out := schemas()
	mcp.AddTool(s, &mcp.Tool{Name: name + "_sdk", InputSchema: in, OutputSchema: out}, h)
	in, out = schemas()
	th, err := typedTool(in, h)
	if err != nil {
		t.Fatal(err)
	}
	s.AddTool(&mcp.Tool{Name: name + "_ours", InputSchema: in, OutputSchema: out}, th)
}

type echoIn struct {
	Limit    int      `json:"limit,omitempty"`
	Amount   *float64 `json:"amount,omitempty"`
	Statuses []string `json:"statuses,omitempty"`
	Findings any      `json:"findings,omitempty"`
	Name     string   `json:"name"`
}

// TestTypedToolAnswersAsTheSDK: a tool answered by typedTool answers every
// call as go-sdk's generic wrapper answers it, field by field (content,
// structured content, isError, resultType, protocol errors), for every
// kind of tool result and every kind of bad arguments, in both protocol
// generations.
func TestTypedToolAnswersAsTheSDK(t *testing.T) {
	ticket := workspace.Ticket{ID: "T-1", Customer: "acme", Category: "billing", Priority: "high", Status: workspace.StatusEscalated,
		Summary: "charged twice: \"é\" <b> & more", RefundAmount: 120.5, Escalated: true, EscalationReason: "over the limit", Version: 7,
		Approval:  &workspace.Approval{NegotiationID: "n-1"},
		CreatedAt: time.Date(2026, 3, 1, 10, 0, 0, 123456789, time.UTC), UpdatedAt: time.Date(2026, 3, 2, 11, 0, 0, 0, time.UTC)}
	s := mcp.NewServer(&mcp.Implementation{Name: "twins", Version: "1"}, nil)
	// A ticket read: content set by the handler (text and a link), the
	// output an object; a tool error; a JSON-RPC error; a wrapped one.
	twin(t, s, "get", nil, func(_ context.Context, _ *mcp.CallToolRequest, in ticketIDIn) (*mcp.CallToolResult, workspace.Ticket, error) {
		switch in.TicketID {
		case "T-1":
			return result(ticket, ticket), ticket, nil
		case "rpc":
			return nil, workspace.Ticket{}, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "no such thing"}
		case "wrapped":
			return nil, workspace.Ticket{}, errors.Join(errors.New("wrapped"), &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "inner"})
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ignored"}}}, ticket, workspace.ErrNotFound
	})
	// No result from the handler: the output is the content.
	twin(t, s, "save", nil, func(_ context.Context, _ *mcp.CallToolRequest, in saveTicketIn) (*mcp.CallToolResult, saveTicketOut, error) {
		out := saveTicketOut{Ticket: ticket, Created: in.TicketID == ""}
		if in.RefundAmount != nil {
			out.Ticket.RefundAmount = *in.RefundAmount
		}
		if in.ExpectedVersion != nil {
			out.Ticket.Version = *in.ExpectedVersion
		}
		return nil, out, nil
	})
	// Output that is not an object: added as text after the content.
	twin(t, s, "names", nil, func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, []string, error) {
		if in.Name == "bare" {
			return nil, in.Statuses, nil
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "names:"}}}, in.Statuses, nil
	})
	// A nil pointer output: a zero object, not null.
	twin(t, s, "task", nil, func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, *taskOut, error) {
		if in.Name == "nil" {
			return nil, nil, nil
		}
		return nil, &taskOut{Task: workspace.Task{ID: "task-1", Type: in.Name}}, nil
	})
	// An interface output left nil: no structured content at all.
	twin(t, s, "nothing", nil, func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
		if in.Name == "nil" {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil, nil
		}
		return nil, in.Findings, nil
	})
	// The arguments as decoded, with defaults in the schema.
	twin(t, s, "echo", func(in *jsonschema.Schema) {
		in.Properties["limit"].Default = json.RawMessage(`50`)
		in.Properties["statuses"].Default = json.RawMessage(`["new"]`)
	}, func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, echoIn, error) {
		return nil, in, nil
	})
	twin(t, s, "echo_plain", nil, func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, echoIn, error) {
		return nil, in, nil
	})

	type call struct {
		tool, args string // args "" for none
	}
	calls := []call{
		{"get", `{"ticket_id":"T-1"}`},
		{"get", `{ "ticket_id" : "T\u002d1" }`},
		{"get", `{"ticket_id":"T-404"}`},
		{"get", `{"ticket_id":"rpc"}`},
		{"get", `{"ticket_id":"wrapped"}`},
		{"get", `{"ticket_id":"T-1","bogus":1}`},
		{"get", `{"Ticket_id":"T-1"}`},
		{"get", `{"ticket_id":1}`},
		{"get", `{}`},
		{"get", ``},
		{"get", `null`},
		{"get", `[1]`},
		{"get", `"T-1"`},
		{"save", `{"ticket_id":"T-1","refund_amount":99.25,"expected_version":3}`},
		{"save", `{"refund_amount":"lots"}`},
		{"save", `{"expected_version":3.0}`},
		{"save", `{"expected_version":3.5}`},
		{"save", `{"priority":null}`},
		{"save", ``},
		{"names", `{"name":"x","statuses":["new","closed"]}`},
		{"names", `{"name":"bare","statuses":["new"]}`},
		{"names", `{"name":"x"}`},
		{"task", `{"name":"nil"}`},
		{"task", `{"name":"triage"}`},
		{"nothing", `{"name":"nil"}`},
		{"nothing", `{"name":"x","findings":{"b":1,"a":[true,null,"s"]}}`},
		{"nothing", `{"name":"x","findings":"text"}`},
		{"echo", `{"name":"x"}`},
		{"echo", `{"name":"x","limit":3,"statuses":[]}`},
		{"echo", `{"name":"x","limit":"3"}`},
		{"echo", ``},
		{"echo_plain", `{"name":"x","limit":3,"amount":1e2,"findings":{"z":1,"a":{"k":[1.5,"<&>"]}}}`},
		{"echo_plain", `{"name":"x","limit":3.0}`},
		{"echo_plain", `{"name":"x","limit":1e2}`},
		{"echo_plain", `{"name":"x","amount":1e400}`},
		{"echo_plain", `{"name":"x","name":"y"}`},
	}
	// Integers beyond 2^53: go-sdk decodes In from the arguments encoded
	// again from a map of float64, which rounds them (or overflows an int64
	// with a message about Go types); typedTool decodes them as written.
	exact := []string{`9007199254740993`, `9223372036854775807`, `-9223372036854775808`}

	for _, g := range []struct {
		name      string
		version   string
		stateless bool
	}{
		{"sessions 2025-11-25", "2025-11-25", false},
		{"stateless 2026-07-28", "", true},
	} {
		t.Run(g.name, func(t *testing.T) {
			srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s },
				&mcp.StreamableHTTPOptions{Stateless: g.stateless}))
			t.Cleanup(srv.Close)
			c := mcp.NewClient(&mcp.Implementation{Name: "test-host", Version: "1"}, nil)
			cs, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: srv.URL}, &mcp.ClientSessionOptions{ProtocolVersion: g.version})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cs.Close() })
			for _, c := range calls {
				sdk := answerOf(t, cs, c.tool+"_sdk", c.args)
				ours := answerOf(t, cs, c.tool+"_ours", c.args)
				if diff := cmp.Diff(sdk, ours); diff != "" {
					t.Errorf("%s %s: answers differ (-sdk +ours):\n%s", c.tool, c.args, diff)
				}
				if wantType := map[bool]any{true: "complete", false: nil}[g.stateless]; sdk.Err == "" && ours.Whole["resultType"] != wantType {
					t.Errorf("%s %s: resultType %v, want %v", c.tool, c.args, ours.Whole["resultType"], wantType)
				}
			}
			for _, n := range exact {
				res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "echo_plain_ours", Arguments: json.RawMessage(`{"name":"x","limit":` + n + `}`)})
				if err != nil || res.IsError || !strings.Contains(text(res), `"limit":`+n+`,`) {
					t.Errorf("limit %s: %v, %s; want it echoed exactly", n, err, text(res))
				}
			}
		})
	}
}

// answer is a tool call's outcome as a client sees it, with every JSON
// text decoded (members of an object have no order).
type answer struct {
	Err        string
	IsError    bool
	Content    []any
	Structured any
	Whole      map[string]any
}

func answerOf(t *testing.T, cs *mcp.ClientSession, tool, args string) answer {
	t.Helper()
	p := &mcp.CallToolParams{Name: tool}
	if args != "" {
		p.Arguments = json.RawMessage(args)
	}
	res, err := cs.CallTool(t.Context(), p)
	if err != nil {
		return answer{Err: strings.ReplaceAll(err.Error(), tool, "TOOL")}
	}
	a := answer{IsError: res.IsError}
	for _, c := range res.Content {
		var v any
		if tc, ok := c.(*mcp.TextContent); ok && json.Unmarshal([]byte(tc.Text), &v) == nil {
			a.Content = append(a.Content, map[string]any{"json text": v})
			continue
		}
		data, _ := json.Marshal(c)
		_ = json.Unmarshal(data, &v)
		a.Content = append(a.Content, v)
	}
	data, _ := json.Marshal(res.StructuredContent)
	_ = json.Unmarshal(data, &a.Structured)
	res.Content, res.StructuredContent = nil, nil
	data, _ = json.Marshal(res)
	_ = json.Unmarshal(data, &a.Whole)
	return a
}

// TestParleyToolsAreMarkedComplete: Parley's tools, registered raw, are
// still marked "resultType": "complete" for a 2026-07-28 client, as go-sdk
// marks the results of its typed tools, and not for a session client.
func TestParleyToolsAreMarkedComplete(t *testing.T) {
	f := newFixture(t)
	if _, _, err := f.ws.SaveTicket(t.Context(), "triage", workspace.TicketInput{ID: "T-1", Customer: ptr("acme")}); err != nil {
		t.Fatal(err)
	}
	for _, g := range generations {
		t.Run(g.name, func(t *testing.T) {
			cs := f.connect(t, g.version, nil)
			want := map[string]any{}
			if g.version == "" {
				want["resultType"] = "complete"
			}
			for _, tc := range []struct{ tool, args string }{
				{ToolGetTicket, `{"ticket_id":"T-1"}`},
				{ToolGetTicket, `{"ticket_id":"T-404"}`},
				{ToolGetStatus, ``},
			} {
				a := answerOf(t, cs, tc.tool, tc.args)
				got := map[string]any{}
				if rt, ok := a.Whole["resultType"]; ok {
					got["resultType"] = rt
				}
				if diff := cmp.Diff(want, got); diff != "" || a.Err != "" {
					t.Errorf("%s %s: %s (-want +got):\n%s", tc.tool, tc.args, a.Err, diff)
				}
			}
		})
	}
}

// TestDecodeArgumentsRefusesDeepJSON: arguments nested deeper than go-sdk
// decodes are refused with its message (over HTTP its transport refuses
// them first; other transports may not).
func TestDecodeArgumentsRefusesDeepJSON(t *testing.T) {
	in, err := jsonschema.For[echoIn](&jsonschema.ForOptions{TypeSchemas: schemaTypes})
	if err != nil {
		t.Fatal(err)
	}
	resolved, err := in.Resolve(&jsonschema.ResolveOptions{ValidateDefaults: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		depth int
		want  string
	}{
		{999, ""}, // 1000 levels with the arguments object
		{1000, `validating "arguments": unmarshaling arguments: json: exceeded maximum nesting depth of 1000`},
	} {
		args := `{"name":"x","findings":` + strings.Repeat("[", tc.depth) + strings.Repeat("]", tc.depth) + `}`
		var v echoIn
		got := ""
		if err := decodeArguments(json.RawMessage(args), resolved, false, &v); err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("depth %d: error %q, want %q", tc.depth, got, tc.want)
		}
	}
}
