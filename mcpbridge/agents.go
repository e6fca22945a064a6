package mcpbridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	a2ago "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2aclient"
	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/a2a/agentpool"
	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/auth"
)

// Tool names of the agent registry.
const (
	ToolListAgents   = "list_agents"
	ToolGetAgentCard = "get_agent_card"
	// AgentToolPrefix starts the name of every tool that is a registered
	// A2A agent.
	AgentToolPrefix = "agent_"
)

// Agents is the registry of A2A agents, as the MCP side needs it.
type Agents interface {
	List(ctx context.Context, q agentcards.Query) ([]agentcards.Agent, bool, error)
	All(ctx context.Context, q agentcards.Query) ([]agentcards.Agent, error)
	Get(ctx context.Context, name string) (agentcards.Agent, error)
}

// AgentClients gives A2A clients (a2a-go v2) for registered agents:
// *agentpool.Pool.
type AgentClients interface {
	Client(ctx context.Context, name string) (*a2aclient.Client, agentcards.Agent, error)
}

type listAgentsIn struct {
	Skill string `json:"skill,omitempty" jsonschema:"only agents with this skill ID"`
	Tag   string `json:"tag,omitempty" jsonschema:"only agents with a skill of this tag"`
	Query string `json:"q,omitempty" jsonschema:"free text matched against names and descriptions"`
}

type agentSummary struct {
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Tool        string         `json:"tool,omitempty" jsonschema:"the MCP tool that messages this agent, while it is reachable"`
	Health      string         `json:"health"`
	Drift       bool           `json:"drift" jsonschema:"its served card changed and awaits approval"`
	Skills      []skillSummary `json:"skills"`
}

type skillSummary struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Tags        []string `json:"tags,omitempty"`
}

type listAgentsOut struct {
	Agents []agentSummary `json:"agents"`
}

type agentNameIn struct {
	Name string `json:"name" jsonschema:"the agent's registered name"`
}

type agentCardOut struct {
	Name   string          `json:"name"`
	Health string          `json:"health"`
	Card   json.RawMessage `json:"card"`
}

func summarize(a agentcards.Agent) agentSummary {
	s := agentSummary{Name: a.Name, Description: a.Card.Description, Health: a.Health.Status, Drift: a.Drift(), Skills: []skillSummary{}}
	if agentToolAvailable(a) {
		s.Tool = agentToolName(a.Name)
	}
	for _, sk := range a.Card.Skills {
		s.Skills = append(s.Skills, skillSummary{ID: sk.ID, Name: sk.Name, Description: sk.Description, Tags: sk.Tags})
	}
	return s
}

func (b *Bridge) addAgentTools() {
	if b.opts.Agents == nil {
		return
	}
	addTool(b, &mcp.Tool{Name: ToolListAgents, Title: "List registered A2A agents",
		Description: "List the A2A agents registered with Parley, optionally by skill, tag or text, with their skills, health and the MCP tool that messages each one.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, nil, func(ctx context.Context, _ *mcp.CallToolRequest, in listAgentsIn) (*mcp.CallToolResult, listAgentsOut, error) {
		agents, err := b.opts.Agents.All(ctx, agentcards.Query{Skill: in.Skill, Tag: in.Tag, Text: in.Query})
		if err != nil {
			return nil, listAgentsOut{}, err
		}
		out := listAgentsOut{Agents: make([]agentSummary, 0, len(agents))}
		for _, a := range agents {
			out.Agents = append(out.Agents, summarize(a))
		}
		return nil, out, nil
	})
	addTool(b, &mcp.Tool{Name: ToolGetAgentCard, Title: "Read an agent's card",
		Description: "Read the A2A agent card of a registered agent: its skills, interfaces, capabilities and security schemes.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, nil, func(ctx context.Context, _ *mcp.CallToolRequest, in agentNameIn) (*mcp.CallToolResult, agentCardOut, error) {
		a, err := b.opts.Agents.Get(ctx, in.Name)
		if err != nil {
			return nil, agentCardOut{}, err
		}
		return nil, agentCardOut{Name: a.Name, Health: a.Health.Status, Card: a.Card.Raw}, nil
	})
}

// agentToolAvailable: reachable agents are tools. An agent not probed yet
// counts as reachable: its card was just fetched or given.
func agentToolAvailable(a agentcards.Agent) bool {
	return a.Card != nil && a.Health.Status != agentcards.StatusUnreachable
}

// agentToolName makes an MCP tool name from an agent name: letters, digits,
// _ and -, at most 64 characters.
func agentToolName(name string) string {
	var b strings.Builder
	b.WriteString(AgentToolPrefix)
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	out := b.String()
	if len(out) > 64 {
		out = out[:64]
	}
	return out
}

// agentTools tracks which agents are registered as tools, by tool name.
type agentTools struct {
	mu    sync.Mutex
	hash  map[string]string // tool name → card hash it was built from
	agent map[string]string // tool name → agent name
}

// syncAgentTools makes the tool list match the reachable registered
// agents; the SDK tells clients with tools/list_changed.
func (b *Bridge) syncAgentTools(ctx context.Context) error {
	if b.opts.Agents == nil || b.opts.AgentClients == nil {
		return nil
	}
	agents, err := b.opts.Agents.All(ctx, agentcards.Query{})
	if err != nil {
		return fmt.Errorf("list agents for MCP tools: %w", err)
	}
	b.agentTools.mu.Lock()
	defer b.agentTools.mu.Unlock()
	want := map[string]agentcards.Agent{}
	for _, a := range agents {
		if agentToolAvailable(a) {
			want[agentToolName(a.Name)] = a
		}
	}
	var gone []string
	for name := range b.agentTools.hash {
		if _, ok := want[name]; !ok {
			gone = append(gone, name)
			delete(b.agentTools.hash, name)
			delete(b.agentTools.agent, name)
		}
	}
	if len(gone) > 0 {
		b.server.RemoveTools(gone...)
	}
	for name, a := range want {
		if b.agentTools.hash[name] == a.Card.Hash {
			continue
		}
		b.server.AddTool(agentTool(name, a), b.callAgent(a.Name))
		b.agentTools.hash[name] = a.Card.Hash
		b.agentTools.agent[name] = a.Name
	}
	return nil
}

var agentToolInput = &jsonschema.Schema{
	Type: "object",
	Properties: map[string]*jsonschema.Schema{
		"message":    {Type: "string", Description: "what to ask or tell the agent"},
		"data":       {Type: "object", Description: "structured input for the agent, sent as a data part"},
		"context_id": {Type: "string", Description: "continue an earlier conversation with the agent (context_id of a previous result)"},
	},
	Required:             []string{"message"},
	AdditionalProperties: &jsonschema.Schema{Not: &jsonschema.Schema{}},
}

func agentTool(name string, a agentcards.Agent) *mcp.Tool {
	var desc strings.Builder
	fmt.Fprintf(&desc, "Message the A2A agent %q through Parley", a.Name)
	if a.Card.Description != "" {
		fmt.Fprintf(&desc, ": %s", a.Card.Description)
	}
	desc.WriteString(". Skills:")
	for _, s := range a.Card.Skills {
		fmt.Fprintf(&desc, "\n- %s", s.Name)
		if s.Description != "" {
			fmt.Fprintf(&desc, ": %s", s.Description)
		}
	}
	desc.WriteString("\nStatus updates arrive as progress; if the agent needs more input you are asked for it.")
	return &mcp.Tool{Name: name, Title: "Agent " + a.Name, Description: desc.String(), InputSchema: agentToolInput}
}

type agentCallIn struct {
	Message   string         `json:"message"`
	Data      map[string]any `json:"data,omitempty"`
	ContextID string         `json:"context_id,omitempty"`
}

// agentState is the signed state of an agent call waiting for the
// person's answer: the A2A task to continue.
type agentState struct {
	TaskID    string `json:"task_id"`
	ContextID string `json:"context_id"`
}

// callAgent sends the tool's input to the agent as a streaming A2A message.
// Status updates become progress notifications, artifacts the result; an
// agent asking for input (input-required) becomes an elicitation whose
// answer continues the same A2A task.
func (b *Bridge) callAgent(agentName string) mcp.ToolHandler {
	toolName := agentToolName(agentName)
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		var in agentCallIn
		if err := json.Unmarshal(req.Params.Arguments, &in); err != nil {
			return nil, fmt.Errorf("arguments: %w", err)
		}
		client, _, err := b.opts.AgentClients.Client(ctx, agentName)
		if err != nil {
			b.log.WarnContext(ctx, "agent tool: no client for the agent", "agent", agentName, "err", err)
			return toolError(agentpool.CallError(agentName, err)), nil
		}
		msg := a2ago.NewMessage(a2ago.MessageRoleUser, a2ago.NewTextPart(in.Message))
		if len(in.Data) > 0 {
			msg.Parts = append(msg.Parts, a2ago.NewDataPart(in.Data))
		}
		msg.ContextID = in.ContextID
		if req.Params.RequestState != "" {
			// The person answered the agent's question: continue its task.
			st, err := b.signer.verify(req.Params.RequestState, toolName, "")
			if err != nil {
				return nil, err
			}
			var pending agentState
			if err := json.Unmarshal([]byte(st.Digest), &pending); err != nil {
				return nil, fmt.Errorf("%w: malformed", errBadState)
			}
			answer, ok := req.Params.InputResponses["input"].(*mcp.ElicitResult)
			if !ok {
				return nil, errors.New(`inputResponses: "input" must answer the agent's question`)
			}
			if answer.Action != "accept" {
				return toolError(fmt.Errorf("the agent %q asked for input and the person %sd; its task %s stays waiting", agentName, answer.Action, pending.TaskID)), nil
			}
			text, _ := answer.Content["answer"].(string)
			msg = a2ago.NewMessage(a2ago.MessageRoleUser, a2ago.NewTextPart(text))
			msg.TaskID, msg.ContextID = a2ago.TaskID(pending.TaskID), pending.ContextID
		}
		// The agent sees on whose behalf Parley asks (never their token:
		// the pool's transport carries Parley's own credentials).
		if p, ok := auth.FromContext(ctx); ok {
			msg.Metadata = auth.WithOnBehalfOf(msg.Metadata, p)
		}
		return b.streamAgent(ctx, req, client, agentName, toolName, msg)
	}
}

func (b *Bridge) streamAgent(ctx context.Context, req *mcp.CallToolRequest, client *a2aclient.Client, agentName, toolName string, msg *a2ago.Message) (*mcp.CallToolResult, error) {
	token := req.Params.GetProgressToken()
	progress := 0
	notify := func(text string) {
		if token == nil {
			return
		}
		progress++
		if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: token, Progress: float64(progress), Message: text}); err != nil {
			b.log.Debug("agent tool: progress not delivered", "agent", agentName, "error", err)
		}
	}
	var (
		parts             []*a2ago.Part
		taskID, contextID string
		final             *a2ago.TaskStatus
	)
	for ev, err := range client.SendStreamingMessage(ctx, &a2ago.SendMessageRequest{Message: msg}) {
		if err != nil {
			// The caller hears what went wrong in its terms (never the
			// gateway's resolver or Go's error types); the log has it all.
			b.log.WarnContext(ctx, "agent tool: the call failed", "agent", agentName, "err", err)
			return toolError(agentpool.CallError(agentName, err)), nil
		}
		switch e := ev.(type) {
		case *a2ago.Message:
			// A direct reply ends the exchange.
			parts = append(parts, e.Parts...)
			contextID = e.ContextID
		case *a2ago.Task:
			taskID, contextID = string(e.ID), e.ContextID
			for _, art := range e.Artifacts {
				if art != nil {
					parts = append(parts, art.Parts...)
				}
			}
			st := e.Status
			final = &st
		case *a2ago.TaskStatusUpdateEvent:
			taskID, contextID = string(e.TaskID), e.ContextID
			st := e.Status
			final = &st
			notify(describeStatus(st))
		case *a2ago.TaskArtifactUpdateEvent:
			if e.Artifact != nil {
				parts = append(parts, e.Artifact.Parts...)
				notify("artifact " + e.Artifact.Name)
			}
		}
	}
	if final != nil {
		switch final.State {
		case a2ago.TaskStateInputRequired, a2ago.TaskStateAuthRequired:
			pending, _ := json.Marshal(agentState{TaskID: taskID, ContextID: contextID})
			state, err := b.signer.sign(requestState{Tool: toolName, Digest: string(pending)})
			if err != nil {
				return nil, err
			}
			question := statusText(*final)
			if question == "" {
				question = "The agent needs more input."
			}
			return &mcp.CallToolResult{
				InputRequests: mcp.InputRequestMap{"input": &mcp.ElicitParams{
					Message: fmt.Sprintf("Agent %s asks: %s", agentName, question),
					RequestedSchema: map[string]any{"type": "object", "properties": map[string]any{
						"answer": map[string]any{"type": "string", "title": "Your answer to the agent"},
					}, "required": []string{"answer"}},
				}},
				RequestState: state,
			}, nil
		case a2ago.TaskStateFailed, a2ago.TaskStateRejected, a2ago.TaskStateCanceled:
			return toolError(fmt.Errorf("agent %q: task %s %s: %s", agentName, taskID, stateName(final.State), statusText(*final))), nil
		}
	}
	return agentResult(agentName, taskID, contextID, parts, final), nil
}

// agentResult turns what the agent produced into a tool result: text parts
// as text, data parts as structured content (the one data part as is,
// several as a list).
func agentResult(agent, taskID, contextID string, parts []*a2ago.Part, final *a2ago.TaskStatus) *mcp.CallToolResult {
	res := &mcp.CallToolResult{}
	var data []any
	for _, p := range parts {
		if p == nil {
			continue
		}
		switch v := p.Content.(type) {
		case a2ago.Text:
			res.Content = append(res.Content, &mcp.TextContent{Text: string(v)})
		case a2ago.Data:
			data = append(data, v.Value)
		case a2ago.URL:
			res.Content = append(res.Content, &mcp.ResourceLink{URI: string(v), Name: p.Filename, MIMEType: p.MediaType})
		}
	}
	out := map[string]any{"agent": agent, "task_id": taskID, "context_id": contextID}
	if final != nil {
		out["state"] = stateName(final.State)
	}
	switch len(data) {
	case 0:
	case 1:
		out["data"] = data[0]
	default:
		out["data"] = data
	}
	res.StructuredContent = out
	if len(res.Content) == 0 {
		text, _ := json.Marshal(out)
		res.Content = []mcp.Content{&mcp.TextContent{Text: string(text)}}
	}
	return res
}

// stateName is a task state as the agent tools say it: A2A 0.3's
// "input-required", not A2A 1.0's "TASK_STATE_INPUT_REQUIRED", whatever
// version the agent speaks.
func stateName(s a2ago.TaskState) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(string(s), "TASK_STATE_")), "_", "-")
}

func describeStatus(st a2ago.TaskStatus) string {
	if text := statusText(st); text != "" {
		return fmt.Sprintf("%s: %s", stateName(st.State), text)
	}
	return stateName(st.State)
}

func statusText(st a2ago.TaskStatus) string {
	if st.Message == nil {
		return ""
	}
	var texts []string
	for _, p := range st.Message.Parts {
		if p == nil {
			continue
		}
		if t, ok := p.Content.(a2ago.Text); ok {
			texts = append(texts, string(t))
		}
	}
	return strings.Join(texts, " ")
}

func toolError(err error) *mcp.CallToolResult {
	res := &mcp.CallToolResult{}
	res.SetError(err)
	return res
}

// agentToolNames lists the agent tools now registered, for tests.
func (b *Bridge) agentToolNames() []string {
	b.agentTools.mu.Lock()
	defer b.agentTools.mu.Unlock()
	names := make([]string, 0, len(b.agentTools.hash))
	for n := range b.agentTools.hash {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
