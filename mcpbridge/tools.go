package mcpbridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/workspace"
)

// Tool names. They are a contract: clients, docs and other issues use them.
const (
	ToolSaveTicket      = "save_ticket"
	ToolGetTicket       = "get_ticket"
	ToolListTickets     = "list_tickets"
	ToolSaveResolution  = "save_resolution"
	ToolEscalate        = "escalate"
	ToolGetStatus       = "get_status"
	ToolSaveAnalysis    = "save_analysis"
	ToolGetAllAnalysis  = "get_all_analysis"
	ToolCreateTask      = "create_task"
	ToolClaimTask       = "claim_task"
	ToolCompleteTask    = "complete_task"
	ToolWaitForTicket   = "wait_for_ticket"
	ToolSummarizeTicket = "summarize_ticket"
)

// schemaTypes makes raw JSON fields mean "any JSON value" in inferred
// schemas, instead of an array of bytes.
var schemaTypes = map[reflect.Type]*jsonschema.Schema{reflect.TypeFor[json.RawMessage](): {Description: "any JSON value"}}

// addTool registers a typed tool with schemas inferred from In and Out and
// enums patched in where the Go type cannot say them, answered by
// typedTool.
func addTool[In, Out any](b *Bridge, t *mcp.Tool, enums map[string][]any, h mcp.ToolHandlerFor[In, Out]) {
	in, err := jsonschema.For[In](&jsonschema.ForOptions{TypeSchemas: schemaTypes})
	if err != nil {
		panic(fmt.Sprintf("tool %s: input schema: %v", t.Name, err)) // a programming error, caught by any test
	}
	for prop, values := range enums {
		if p := in.Properties[prop]; p != nil {
			if p.Items != nil {
				p.Items.Enum = values
			} else {
				p.Enum = values
			}
		}
	}
	out, err := jsonschema.For[Out](&jsonschema.ForOptions{TypeSchemas: schemaTypes})
	if err != nil {
		panic(fmt.Sprintf("tool %s: output schema: %v", t.Name, err))
	}
	t.InputSchema, t.OutputSchema = in, out
	b.args.add(t.Name, in)
	// Not mcp.AddTool: Parley's tools answer through a leaner wrapper of
	// their own (typedTool), which answers as go-sdk's does.
	th, err := typedTool(in, h)
	if err != nil {
		panic(fmt.Sprintf("tool %s: %v", t.Name, err))
	}
	b.server.AddTool(t, th)
}

func statusEnum() []any {
	out := make([]any, len(workspace.Statuses))
	for i, s := range workspace.Statuses {
		out[i] = string(s)
	}
	return out
}

func priorityEnum() []any {
	out := make([]any, len(workspace.Priorities))
	for i, p := range workspace.Priorities {
		out[i] = p
	}
	return out
}

type ticketIDIn struct {
	TicketID string `json:"ticket_id" jsonschema:"the ticket's ID, e.g. T-1001"`
}

type saveTicketIn struct {
	TicketID        string   `json:"ticket_id,omitempty" jsonschema:"the ticket's ID; omit it to create a new ticket with a generated ID"`
	Customer        *string  `json:"customer,omitempty" jsonschema:"the customer's name or account ID; required when creating"`
	Category        *string  `json:"category,omitempty" jsonschema:"the kind of problem, e.g. billing, technical, account"`
	Priority        *string  `json:"priority,omitempty" jsonschema:"how urgent the ticket is"`
	Status          *string  `json:"status,omitempty" jsonschema:"the ticket's new status; the lifecycle is new → triaged → escalated → negotiating → resolved → closed"`
	Summary         *string  `json:"summary,omitempty" jsonschema:"what the customer's problem is, in a sentence or two"`
	RefundAmount    *float64 `json:"refund_amount,omitempty" jsonschema:"the refund the customer asks for, in the account's currency"`
	ExpectedVersion *int64   `json:"expected_version,omitempty" jsonschema:"the version you read; the save fails if someone changed the ticket since (0: it must not exist yet)"`
}

type saveTicketOut struct {
	Ticket  workspace.Ticket `json:"ticket"`
	Created bool             `json:"created"`
	// Negotiations are those the save started through escalation rules
	// (or that they had started for this version).
	Negotiations []startedOut `json:"negotiations,omitempty" jsonschema:"negotiations escalation rules started for this version of the ticket; each runs in the background, follow negotiation://{id}"`
}

type listTicketsIn struct {
	Status   []string `json:"status,omitempty" jsonschema:"only tickets in one of these statuses"`
	Category string   `json:"category,omitempty" jsonschema:"only tickets of this category"`
	Cursor   string   `json:"cursor,omitempty" jsonschema:"next_cursor from the previous page"`
	Limit    int      `json:"limit,omitempty" jsonschema:"tickets per page, 1 to 500 (default 50)"`
}

type resolutionIn struct {
	TicketID        string `json:"ticket_id" jsonschema:"the ticket's ID"`
	Resolution      string `json:"resolution" jsonschema:"how the ticket was resolved, for the customer and other agents"`
	ExpectedVersion *int64 `json:"expected_version,omitempty" jsonschema:"the version you read; the save fails if someone changed the ticket since"`
}

type resolutionOut struct {
	Ticket workspace.Ticket `json:"ticket"`
	// Saved is false when the person asked to confirm declined or cancelled.
	Saved   bool   `json:"saved"`
	Outcome string `json:"outcome" jsonschema:"saved; or declined or cancelled by the person asked to confirm"`
}

type escalateIn struct {
	TicketID        string `json:"ticket_id" jsonschema:"the ticket's ID"`
	Reason          string `json:"reason" jsonschema:"why the ticket needs escalation, e.g. refund over the agent's limit"`
	ExpectedVersion *int64 `json:"expected_version,omitempty" jsonschema:"the version you read; the save fails if someone changed the ticket since"`
}

type escalateOut struct {
	Ticket       workspace.Ticket `json:"ticket"`
	Negotiations []startedOut     `json:"negotiations,omitempty" jsonschema:"negotiations escalation rules started for the escalation; each runs in the background, follow negotiation://{id}"`
}

type analysisIn struct {
	TicketID  string `json:"ticket_id" jsonschema:"the ticket's ID"`
	Namespace string `json:"namespace" jsonschema:"your own namespace, e.g. sentiment, category, priority, history; each agent writes only its own"`
	Findings  any    `json:"findings" jsonschema:"your findings: any JSON value, typically an object"`
}

type analysisOut struct {
	Namespace string    `json:"namespace"`
	Author    string    `json:"author"`
	Findings  any       `json:"findings" jsonschema:"the findings: any JSON value"`
	Version   int64     `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
}

type allAnalysisOut struct {
	TicketID string        `json:"ticket_id"`
	Analyses []analysisOut `json:"analyses"`
}

func toAnalysisOut(as []workspace.Analysis) []analysisOut {
	out := make([]analysisOut, len(as))
	for i, a := range as {
		var f any
		_ = json.Unmarshal(a.Findings, &f)
		out[i] = analysisOut{Namespace: a.Namespace, Author: a.Author, Findings: f, Version: a.Version, UpdatedAt: a.UpdatedAt}
	}
	return out
}

type createTaskIn struct {
	TaskID  string `json:"task_id,omitempty" jsonschema:"the task's ID; omit it for a generated one"`
	Type    string `json:"type" jsonschema:"the kind of work, e.g. triage, billing, escalation; workers claim by type"`
	Payload any    `json:"payload,omitempty" jsonschema:"what the worker needs, e.g. {\"ticket_id\": \"T-1001\"}"`
}

type claimTaskIn struct {
	Types        []string `json:"types" jsonschema:"the task types you can work on"`
	Claimant     string   `json:"claimant,omitempty" jsonschema:"your name as a worker (default: your client's name)"`
	LeaseSeconds int      `json:"lease_seconds,omitempty" jsonschema:"how long the task is yours before others may claim it (default 300)"`
}

type completeTaskIn struct {
	TaskID     string `json:"task_id" jsonschema:"the claimed task's ID"`
	LeaseToken string `json:"lease_token" jsonschema:"the lease_token claim_task returned"`
	Result     any    `json:"result,omitempty" jsonschema:"the outcome of the work"`
	Error      string `json:"error,omitempty" jsonschema:"set to fail the task instead, saying why"`
	Retry      bool   `json:"retry,omitempty" jsonschema:"with error: put the task back for another attempt"`
}

type taskOut struct {
	Task workspace.Task `json:"task"`
}

func (b *Bridge) addTools() {
	addTool(b, &mcp.Tool{Name: ToolSaveTicket, Title: "Create or update a ticket",
		Description: "Create a support ticket, or update the fields you pass on an existing one (fields you omit stay as they are). " +
			"Triage agents set category, priority and status triaged here. Pass expected_version to make sure nobody changed the ticket since you read it. " +
			"If an escalation rule holds for the saved ticket (a refund over the limit), it starts a negotiation between agents: the result lists it under negotiations and links to negotiation://{id}.",
	}, map[string][]any{"priority": priorityEnum(), "status": statusEnum()}, b.saveTicket)
	addTool(b, &mcp.Tool{Name: ToolGetTicket, Title: "Read a ticket",
		Description: "Read a support ticket: customer, category, priority, status, summary, refund_amount, resolution, escalation, approval and version.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, nil, b.getTicket)
	addTool(b, &mcp.Tool{Name: ToolListTickets, Title: "List tickets",
		Description: "List tickets by ID, optionally only those in some statuses or of one category, a page at a time.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, map[string][]any{"status": statusEnum()}, b.listTickets)
	addTool(b, &mcp.Tool{Name: ToolSaveResolution, Title: "Resolve a ticket",
		Description: "Record how a ticket was resolved and mark it resolved. For a refund above the confirmation threshold a person is asked to confirm first; if they decline, nothing changes.",
	}, nil, b.saveResolution)
	addTool(b, &mcp.Tool{Name: ToolEscalate, Title: "Escalate a ticket",
		Description: "Escalate a ticket to a supervisor or escalation agent, saying why. Escalation rules may start a negotiation between agents.",
	}, nil, b.escalate)
	addTool(b, &mcp.Tool{Name: ToolGetStatus, Title: "Pipeline status",
		Description: "Count tickets by status and the open tasks in the queue.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, nil, b.getStatus)
	addTool(b, &mcp.Tool{Name: ToolSaveAnalysis, Title: "Save your analysis of a ticket",
		Description: "Write your findings about a ticket under your own namespace (sentiment, category, priority, history, …). Agents analysing in parallel each use their own namespace and never overwrite each other.",
	}, nil, b.saveAnalysis)
	addTool(b, &mcp.Tool{Name: ToolGetAllAnalysis, Title: "Read every analysis of a ticket",
		Description: "Read the findings every agent saved about a ticket, one entry per namespace: the aggregate of a parallel analysis.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, nil, b.getAllAnalysis)
	addTool(b, &mcp.Tool{Name: ToolCreateTask, Title: "Queue a task",
		Description: "Put work on the shared queue for whichever agent handles that type of task.",
	}, nil, b.createTask)
	addTool(b, &mcp.Tool{Name: ToolClaimTask, Title: "Claim the next task",
		Description: "Take the oldest ready task of the types you handle. It is yours for the lease; finish it with complete_task and the lease_token, or it becomes claimable again when the lease runs out.",
	}, nil, b.claimTask)
	addTool(b, &mcp.Tool{Name: ToolCompleteTask, Title: "Complete or fail a task",
		Description: "Finish a task you claimed, with its result; or pass error to fail it (retry: true puts it back on the queue).",
	}, nil, b.completeTask)
	addTool(b, &mcp.Tool{Name: ToolWaitForTicket, Title: "Wait for a ticket to reach a status",
		Description: "Wait until a ticket reaches one of the given statuses, reporting every change as a progress notification (triaged, escalated, negotiating, …), " +
			"and every move and outcome of the ticket's negotiations (\"round 2/6: escalation countered 350.00\"). If a negotiation needs a person to decide and your client " +
			"can answer elicitation, you are asked to approve or deny it. Returns the ticket, or after timeout_seconds the ticket as it stands with timed_out true.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, map[string][]any{"statuses": statusEnum()}, b.waitForTicket)
	addTool(b, &mcp.Tool{Name: ToolSummarizeTicket, Title: "Summarize a ticket",
		Description: "Write a summary of a ticket, its analyses and history with your model (through sampling) and store it on the ticket. Without sampling, Parley builds a plain summary from the data and says so.",
	}, nil, b.summarizeTicket)
}

// result is a tool result whose text is the structured output, linking to
// the ticket it concerns.
func result(out any, t workspace.Ticket) *mcp.CallToolResult {
	text, _ := json.Marshal(out)
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(text)}, ticketLink(t)}}
}

func (b *Bridge) saveTicket(ctx context.Context, req *mcp.CallToolRequest, in saveTicketIn) (*mcp.CallToolResult, saveTicketOut, error) {
	ti := workspace.TicketInput{ID: in.TicketID, Customer: in.Customer, Category: in.Category, Priority: in.Priority,
		Summary: in.Summary, RefundAmount: in.RefundAmount, ExpectedVersion: in.ExpectedVersion}
	if in.Status != nil {
		s := workspace.Status(*in.Status)
		ti.Status = &s
	}
	// A save that changes nothing writes no version, and starts nothing:
	// tell it apart by the version before.
	before := int64(-1)
	if b.opts.Negotiations != nil && in.TicketID != "" {
		if cur, err := b.ws.GetTicket(ctx, in.TicketID); err == nil {
			before = cur.Version
		}
	}
	t, created, err := b.ws.SaveTicket(ctx, b.opts.Actor(ctx, req), ti)
	if errors.Is(err, workspace.ErrConfirmationRequired) {
		return nil, saveTicketOut{}, fmt.Errorf("%w; resolve it with %s, which asks a person to confirm the refund", err, ToolSaveResolution)
	}
	if err != nil {
		return nil, saveTicketOut{}, err
	}
	out := saveTicketOut{Ticket: t, Created: created}
	if created || t.Version != before {
		action := "save"
		if created {
			action = "create"
		}
		out.Negotiations = b.ticketChanged(ctx, req, t, action)
	}
	return withNegotiationLinks(result(out, t), t.ID, out.Negotiations), out, nil
}

func (b *Bridge) getTicket(ctx context.Context, _ *mcp.CallToolRequest, in ticketIDIn) (*mcp.CallToolResult, workspace.Ticket, error) {
	t, err := b.ws.GetTicket(ctx, in.TicketID)
	if err != nil {
		return nil, workspace.Ticket{}, err
	}
	return result(t, t), t, nil
}

func (b *Bridge) listTickets(ctx context.Context, _ *mcp.CallToolRequest, in listTicketsIn) (*mcp.CallToolResult, workspace.TicketPage, error) {
	q := workspace.TicketQuery{Category: in.Category, Cursor: in.Cursor, Limit: in.Limit}
	for _, s := range in.Status {
		q.Statuses = append(q.Statuses, workspace.Status(s))
	}
	page, err := b.ws.ListTickets(ctx, q)
	if err != nil {
		return nil, workspace.TicketPage{}, err
	}
	res := &mcp.CallToolResult{}
	text, _ := json.Marshal(page)
	res.Content = append(res.Content, &mcp.TextContent{Text: string(text)})
	for _, t := range page.Tickets {
		res.Content = append(res.Content, ticketLink(t))
	}
	return res, page, nil
}

func (b *Bridge) escalate(ctx context.Context, req *mcp.CallToolRequest, in escalateIn) (*mcp.CallToolResult, escalateOut, error) {
	t, err := b.ws.Escalate(ctx, b.opts.Actor(ctx, req), in.TicketID, in.Reason, in.ExpectedVersion)
	if err != nil {
		return nil, escalateOut{}, err
	}
	out := escalateOut{Ticket: t}
	out.Negotiations = b.ticketChanged(ctx, req, t, "escalate")
	return withNegotiationLinks(result(out, t), t.ID, out.Negotiations), out, nil
}

func (b *Bridge) getStatus(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, workspace.PipelineStatus, error) {
	st, err := b.ws.Status(ctx)
	if err != nil {
		return nil, workspace.PipelineStatus{}, err
	}
	return nil, st, nil
}

func (b *Bridge) saveAnalysis(ctx context.Context, req *mcp.CallToolRequest, in analysisIn) (*mcp.CallToolResult, analysisOut, error) {
	findings, err := json.Marshal(in.Findings)
	if err != nil {
		return nil, analysisOut{}, fmt.Errorf("findings: %w", err)
	}
	a, err := b.ws.SaveAnalysis(ctx, b.opts.Actor(ctx, req), in.TicketID, in.Namespace, findings)
	if err != nil {
		return nil, analysisOut{}, err
	}
	out := toAnalysisOut([]workspace.Analysis{a})[0]
	return result(out, workspace.Ticket{ID: in.TicketID}), out, nil
}

func (b *Bridge) getAllAnalysis(ctx context.Context, _ *mcp.CallToolRequest, in ticketIDIn) (*mcp.CallToolResult, allAnalysisOut, error) {
	as, err := b.ws.AllAnalysis(ctx, in.TicketID)
	if err != nil {
		return nil, allAnalysisOut{}, err
	}
	return nil, allAnalysisOut{TicketID: in.TicketID, Analyses: toAnalysisOut(as)}, nil
}

func (b *Bridge) createTask(ctx context.Context, _ *mcp.CallToolRequest, in createTaskIn) (*mcp.CallToolResult, taskOut, error) {
	var payload json.RawMessage
	if in.Payload != nil {
		var err error
		if payload, err = json.Marshal(in.Payload); err != nil {
			return nil, taskOut{}, fmt.Errorf("payload: %w", err)
		}
	}
	t, err := b.ws.CreateTask(ctx, in.TaskID, in.Type, payload)
	if err != nil {
		return nil, taskOut{}, err
	}
	return nil, taskOut{Task: t}, nil
}

func (b *Bridge) claimTask(ctx context.Context, req *mcp.CallToolRequest, in claimTaskIn) (*mcp.CallToolResult, taskOut, error) {
	claimant := in.Claimant
	if claimant == "" {
		claimant = b.opts.Actor(ctx, req)
	}
	t, err := b.ws.ClaimTask(ctx, claimant, in.Types, time.Duration(in.LeaseSeconds)*time.Second)
	if err != nil {
		return nil, taskOut{}, err
	}
	return nil, taskOut{Task: t}, nil
}

func (b *Bridge) completeTask(ctx context.Context, _ *mcp.CallToolRequest, in completeTaskIn) (*mcp.CallToolResult, taskOut, error) {
	var (
		t   workspace.Task
		err error
	)
	if in.Error != "" {
		t, err = b.ws.FailTask(ctx, in.TaskID, in.LeaseToken, in.Error, in.Retry)
	} else {
		var res json.RawMessage
		if in.Result != nil {
			if res, err = json.Marshal(in.Result); err != nil {
				return nil, taskOut{}, fmt.Errorf("result: %w", err)
			}
		}
		t, err = b.ws.CompleteTask(ctx, in.TaskID, in.LeaseToken, res)
	}
	if err != nil {
		return nil, taskOut{}, err
	}
	return nil, taskOut{Task: t}, nil
}
