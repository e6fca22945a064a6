package a2a

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	a2ago "github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2asrv"
	"github.com/a2aproject/a2a-go/a2asrv/eventqueue"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ToolRequest is what a message asks of the workspace skill: one tool
// call, carried as a data part {"tool": NAME, "arguments": {...}}.
type ToolRequest struct {
	Tool      string
	Arguments map[string]any
}

// errNoToolRequest: the message carries no tool call.
var errNoToolRequest = errors.New(`the message has no tool call: send a data part {"tool": "<name>", "arguments": {...}}`)

// ParseToolRequest finds the tool call in a message: the first data part
// with a "tool" key, or else the first text part that is such a JSON
// object (for clients that can only send text). "arguments" may be
// omitted (no arguments) but must otherwise be a JSON object.
func ParseToolRequest(msg *a2ago.Message) (ToolRequest, error) {
	if msg == nil {
		return ToolRequest{}, errNoToolRequest
	}
	for _, p := range msg.Parts {
		if d, ok := asDataPart(p); ok {
			if _, has := d.Data["tool"]; has {
				return toolRequest(d.Data)
			}
		}
	}
	for _, p := range msg.Parts {
		t, ok := asTextPart(p)
		if !ok || !strings.HasPrefix(strings.TrimSpace(t.Text), "{") {
			continue
		}
		var data map[string]any
		if json.Unmarshal([]byte(t.Text), &data) == nil {
			if _, has := data["tool"]; has {
				return toolRequest(data)
			}
		}
	}
	return ToolRequest{}, errNoToolRequest
}

func toolRequest(data map[string]any) (ToolRequest, error) {
	name, ok := data["tool"].(string)
	if !ok || name == "" {
		return ToolRequest{}, errors.New(`"tool" must be the name of a tool, as a non-empty string`)
	}
	req := ToolRequest{Tool: name, Arguments: map[string]any{}}
	switch args := data["arguments"].(type) {
	case nil:
	case map[string]any:
		req.Arguments = args
	default:
		return ToolRequest{}, fmt.Errorf(`"arguments" of tool %q must be a JSON object, not %T`, name, args)
	}
	return req, nil
}

// Parts arrive as values (a2a-go unmarshals them so); accept pointers too,
// for messages built in process.
func asDataPart(p a2ago.Part) (a2ago.DataPart, bool) {
	switch v := p.(type) {
	case a2ago.DataPart:
		return v, true
	case *a2ago.DataPart:
		if v != nil {
			return *v, true
		}
	}
	return a2ago.DataPart{}, false
}

func asTextPart(p a2ago.Part) (a2ago.TextPart, bool) {
	switch v := p.(type) {
	case a2ago.TextPart:
		return v, true
	case *a2ago.TextPart:
		if v != nil {
			return *v, true
		}
	}
	return a2ago.TextPart{}, false
}

// Executor is the workspace skill: an a2asrv.AgentExecutor that runs the
// tool a message names and returns its result as an artifact.
//
// A task moves submitted → working → completed, with one artifact named
// after the tool holding the tool's structured result (a data part) and
// its text (a text part). A tool that reports an error fails the task with
// the error in the status message; a message without a tool call, or
// naming a tool that does not exist, is rejected with a message that lists
// the tools there are.
type Executor struct {
	tools ToolCaller
	log   *slog.Logger
}

var _ a2asrv.AgentExecutor = (*Executor)(nil)

// NewExecutor returns the workspace skill over tools. A nil logger
// discards logs.
func NewExecutor(tools ToolCaller, logger *slog.Logger) *Executor {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Executor{tools: tools, log: logger}
}

// Execute implements a2asrv.AgentExecutor.
func (e *Executor) Execute(ctx context.Context, reqCtx *a2asrv.RequestContext, q eventqueue.Queue) error {
	if reqCtx.StoredTask == nil {
		// Streaming clients get the task first, as the protocol expects.
		if err := q.Write(ctx, a2ago.NewSubmittedTask(reqCtx, reqCtx.Message)); err != nil {
			return err
		}
	}
	req, err := ParseToolRequest(reqCtx.Message)
	if err != nil {
		return e.finish(ctx, reqCtx, q, a2ago.TaskStateRejected, e.withToolList(ctx, err.Error()), nil)
	}
	working := a2ago.NewStatusUpdateEvent(reqCtx, a2ago.TaskStateWorking,
		agentMessage(reqCtx, a2ago.TextPart{Text: "calling tool " + req.Tool}))
	if err := q.Write(ctx, working); err != nil {
		return err
	}

	res, err := e.tools.CallTool(ctx, req.Tool, req.Arguments)
	if err != nil {
		if known, listErr := e.knownTool(ctx, req.Tool); listErr == nil && !known {
			return e.finish(ctx, reqCtx, q, a2ago.TaskStateRejected,
				e.withToolList(ctx, fmt.Sprintf("there is no tool %q", req.Tool)), nil)
		}
		e.log.WarnContext(ctx, "a2a workspace skill: tool call failed", "tool", req.Tool, "caller", CallerFrom(ctx), "err", err)
		return e.finish(ctx, reqCtx, q, a2ago.TaskStateFailed, fmt.Sprintf("tool %s could not be called: %v", req.Tool, err),
			map[string]any{"tool": req.Tool, "error": err.Error()})
	}
	text := resultText(res)
	if len(res.InputRequests) > 0 {
		// The tool wants a person to confirm or a model to answer (MCP
		// elicitation or sampling), which the A2A skill cannot ask for yet.
		keys := make([]string, 0, len(res.InputRequests))
		for k := range res.InputRequests {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		msg := fmt.Sprintf("tool %s needs input from a person or a model (%s) before it can finish; "+
			"the A2A workspace skill cannot ask for it: call the tool through MCP instead", req.Tool, strings.Join(keys, ", "))
		return e.finish(ctx, reqCtx, q, a2ago.TaskStateFailed, msg, map[string]any{"tool": req.Tool, "error": msg})
	}
	if res.IsError {
		if text == "" {
			text = "the tool reported an error without saying what"
		}
		return e.finish(ctx, reqCtx, q, a2ago.TaskStateFailed, fmt.Sprintf("tool %s failed: %s", req.Tool, text),
			map[string]any{"tool": req.Tool, "error": text})
	}

	var parts []a2ago.Part
	if data := structured(res); data != nil {
		parts = append(parts, a2ago.DataPart{Data: data})
	}
	if text != "" {
		parts = append(parts, a2ago.TextPart{Text: text})
	}
	if len(parts) == 0 {
		parts = append(parts, a2ago.TextPart{Text: "tool " + req.Tool + " returned nothing"})
	}
	artifact := a2ago.NewArtifactEvent(reqCtx, parts...)
	artifact.Artifact.Name = req.Tool
	artifact.Artifact.Description = "result of tool " + req.Tool
	artifact.LastChunk = true
	if err := q.Write(ctx, artifact); err != nil {
		return err
	}
	done := a2ago.NewStatusUpdateEvent(reqCtx, a2ago.TaskStateCompleted, nil)
	done.Final = true
	return q.Write(ctx, done)
}

// Cancel implements a2asrv.AgentExecutor. A tool call is short and not
// interruptible halfway (its write is one transaction), so cancelling
// marks the task cancelled.
func (e *Executor) Cancel(ctx context.Context, reqCtx *a2asrv.RequestContext, q eventqueue.Queue) error {
	ev := a2ago.NewStatusUpdateEvent(reqCtx, a2ago.TaskStateCanceled, nil)
	ev.Final = true
	return q.Write(ctx, ev)
}

// finish ends the task in state with msg (and data, if any) as the status
// message.
func (e *Executor) finish(ctx context.Context, reqCtx *a2asrv.RequestContext, q eventqueue.Queue, state a2ago.TaskState, msg string, data map[string]any) error {
	parts := []a2ago.Part{a2ago.TextPart{Text: msg}}
	if data != nil {
		parts = append(parts, a2ago.DataPart{Data: data})
	}
	ev := a2ago.NewStatusUpdateEvent(reqCtx, state, agentMessage(reqCtx, parts...))
	ev.Final = true
	return q.Write(ctx, ev)
}

func agentMessage(reqCtx *a2asrv.RequestContext, parts ...a2ago.Part) *a2ago.Message {
	return a2ago.NewMessageForTask(a2ago.MessageRoleAgent, reqCtx, parts...)
}

// knownTool reports whether a tool of that name exists.
func (e *Executor) knownTool(ctx context.Context, name string) (bool, error) {
	tools, err := e.tools.ListTools(ctx)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(tools, func(t *mcp.Tool) bool { return t.Name == name }), nil
}

// withToolList appends the names of the tools to msg.
func (e *Executor) withToolList(ctx context.Context, msg string) string {
	tools, err := e.tools.ListTools(ctx)
	if err != nil {
		e.log.WarnContext(ctx, "a2a workspace skill: list tools", "err", err)
		return msg
	}
	return msg + ". Tools: " + strings.Join(toolNames(tools), ", ")
}

func toolNames(tools []*mcp.Tool) []string {
	names := make([]string, 0, len(tools))
	for _, t := range tools {
		names = append(names, t.Name)
	}
	slices.Sort(names)
	return names
}

// resultText joins the text content of a tool result.
func resultText(res *mcp.CallToolResult) string {
	var texts []string
	for _, c := range res.Content {
		if t, ok := c.(*mcp.TextContent); ok && t.Text != "" {
			texts = append(texts, t.Text)
		}
	}
	return strings.Join(texts, "\n")
}

// structured is a tool result's structured content as a data part's data:
// the object itself, or {"result": value} for any other JSON value. It is
// normalized through JSON, so that it holds only the plain types (maps,
// slices, strings, float64, bools, nil) a2a-go can copy and encode.
func structured(res *mcp.CallToolResult) map[string]any {
	if res.StructuredContent == nil {
		return nil
	}
	raw, err := json.Marshal(res.StructuredContent)
	if err != nil {
		return map[string]any{"result": fmt.Sprint(res.StructuredContent)}
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil
	}
	if m, ok := v.(map[string]any); ok {
		return m
	}
	return map[string]any{"result": v}
}
