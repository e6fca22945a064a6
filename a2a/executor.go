package a2a

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"slices"
	"strings"

	a2ago "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2asrv"
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
// whose data is an object with a "tool" key, or else the first text part
// that is such a JSON object (for clients that can only send text).
// "arguments" may be omitted (no arguments) but must otherwise be a JSON
// object.
func ParseToolRequest(msg *a2ago.Message) (ToolRequest, error) {
	if msg == nil {
		return ToolRequest{}, errNoToolRequest
	}
	for _, p := range msg.Parts {
		if p == nil {
			continue
		}
		if d, ok := p.Data().(map[string]any); ok {
			if _, has := d["tool"]; has {
				return toolRequest(d)
			}
		}
	}
	for _, p := range msg.Parts {
		if p == nil {
			continue
		}
		text := strings.TrimSpace(p.Text())
		if !strings.HasPrefix(text, "{") {
			continue
		}
		var data map[string]any
		if json.Unmarshal([]byte(text), &data) == nil {
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
		return ToolRequest{}, fmt.Errorf(`"arguments" of tool %q must be a JSON object, not %s`, name, jsonKind(args))
	}
	return req, nil
}

// jsonKind names a decoded JSON value's kind in JSON's terms.
func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case float64, json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	}
	return "null"
}

// interruptedTask is the status message of a task whose replica stopped
// while it ran.
const interruptedTask = "the gateway replica running this task stopped before it finished, so the tool may or may not " +
	"have run: check (get_ticket, get_status) and send the message again"

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
func (e *Executor) Execute(ctx context.Context, ec *a2asrv.ExecutorContext) iter.Seq2[a2ago.Event, error] {
	return func(yield func(a2ago.Event, error) bool) {
		ctx = withExecutorPrincipal(ctx, ec)
		if ec.StoredTask != nil {
			// Every message starts a task of its own and ends it (the SDK
			// refuses messages to ended tasks), so a stored task that has
			// not ended is one whose replica stopped running it: the work
			// queue handed it on when the lease ran out. Its tool may have
			// run; running it again could write twice.
			yield(e.finish(ec, a2ago.TaskStateFailed, interruptedTask, nil), nil)
			return
		}
		// Streaming clients get the task first, as the protocol expects.
		if !yield(a2ago.NewSubmittedTask(ec, ec.Message), nil) {
			return
		}
		for _, ev := range e.run(ctx, ec, yield) {
			if !yield(ev, nil) {
				return
			}
		}
	}
}

// run calls the tool and returns the events that end the task: the
// artifact and completed, or a final status. The working status goes out
// through yield before the tool runs, so that a streaming client sees it
// while it does; run returns nil once yield declines.
func (e *Executor) run(ctx context.Context, ec *a2asrv.ExecutorContext, yield func(a2ago.Event, error) bool) []a2ago.Event {
	req, err := ParseToolRequest(ec.Message)
	if err != nil {
		return []a2ago.Event{e.finish(ec, a2ago.TaskStateRejected, e.withToolList(ctx, err.Error()), nil)}
	}
	if !yield(a2ago.NewStatusUpdateEvent(ec, a2ago.TaskStateWorking,
		agentMessage(ec, a2ago.NewTextPart("calling tool "+req.Tool))), nil) {
		return nil
	}

	res, err := e.tools.CallTool(ctx, req.Tool, req.Arguments)
	if err != nil {
		if known, listErr := e.knownTool(ctx, req.Tool); listErr == nil && !known {
			return []a2ago.Event{e.finish(ec, a2ago.TaskStateRejected,
				e.withToolList(ctx, fmt.Sprintf("there is no tool %q", req.Tool)), nil)}
		}
		e.log.WarnContext(ctx, "a2a workspace skill: tool call failed", "tool", req.Tool, "caller", CallerFrom(ctx), "err", err)
		return []a2ago.Event{e.finish(ec, a2ago.TaskStateFailed, fmt.Sprintf("tool %s could not be called: %v", req.Tool, err),
			map[string]any{"tool": req.Tool, "error": err.Error()})}
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
		return []a2ago.Event{e.finish(ec, a2ago.TaskStateFailed, msg, map[string]any{"tool": req.Tool, "error": msg})}
	}
	if res.IsError {
		if text == "" {
			text = "the tool reported an error without saying what"
		}
		return []a2ago.Event{e.finish(ec, a2ago.TaskStateFailed, fmt.Sprintf("tool %s failed: %s", req.Tool, text),
			map[string]any{"tool": req.Tool, "error": text})}
	}

	var parts []*a2ago.Part
	if data := structured(res); data != nil {
		parts = append(parts, a2ago.NewDataPart(data))
	}
	if text != "" {
		parts = append(parts, a2ago.NewTextPart(text))
	}
	if len(parts) == 0 {
		parts = append(parts, a2ago.NewTextPart("tool "+req.Tool+" returned nothing"))
	}
	artifact := a2ago.NewArtifactEvent(ec, parts...)
	artifact.Artifact.Name = req.Tool
	artifact.Artifact.Description = "result of tool " + req.Tool
	artifact.LastChunk = true
	return []a2ago.Event{artifact, a2ago.NewStatusUpdateEvent(ec, a2ago.TaskStateCompleted, nil)}
}

// Cancel implements a2asrv.AgentExecutor. A tool call is short and not
// interruptible halfway (its write is one transaction), so cancelling
// marks the task cancelled.
func (e *Executor) Cancel(ctx context.Context, ec *a2asrv.ExecutorContext) iter.Seq2[a2ago.Event, error] {
	return func(yield func(a2ago.Event, error) bool) {
		yield(a2ago.NewStatusUpdateEvent(ec, a2ago.TaskStateCanceled, nil), nil)
	}
}

// finish is the final status event: the task ends in state with msg (and
// data, if any) as the status message.
func (e *Executor) finish(ec *a2asrv.ExecutorContext, state a2ago.TaskState, msg string, data map[string]any) *a2ago.TaskStatusUpdateEvent {
	parts := []*a2ago.Part{a2ago.NewTextPart(msg)}
	if data != nil {
		parts = append(parts, a2ago.NewDataPart(data))
	}
	return a2ago.NewStatusUpdateEvent(ec, state, agentMessage(ec, parts...))
}

func agentMessage(ec *a2asrv.ExecutorContext, parts ...*a2ago.Part) *a2ago.Message {
	return a2ago.NewMessageForTask(a2ago.MessageRoleAgent, ec, parts...)
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
