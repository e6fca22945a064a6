package mcpbridge

import (
	"context"
	"encoding/json"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/audit"
)

// Auditor appends audit records: audit.Log. Append returns once the
// record is committed; Record may return before; Intend has the record
// committed with the call's first store write.
type Auditor interface {
	Append(ctx context.Context, e audit.Entry) (audit.Record, error)
	Record(ctx context.Context, e audit.Entry)
	Intend(ctx context.Context, build func() audit.Entry) (context.Context, *audit.Intent)
}

// readTools are the tools that change nothing: those annotated
// ReadOnlyHint (TestAuditReadTools keeps the two in step). wait_for_ticket
// may decide a negotiation for the person it asks, but that decision has
// a record of its own, written by the negotiation service.
var readTools = map[string]bool{
	ToolGetTicket: true, ToolListTickets: true, ToolGetStatus: true, ToolGetAllAnalysis: true,
	ToolWaitForTicket: true, ToolListAgents: true, ToolGetAgentCard: true, ToolGetNegotiation: true,
}

// Actions of the records of requests other than tools/call forwarded to
// an upstream (federation): every upstream call is audited, not only tool
// calls.
const (
	ActionMCPPromptGet           = "mcp.prompt_get"
	ActionMCPResourceRead        = "mcp.resource_read"
	ActionMCPResourceSubscribe   = "mcp.resource_subscribe"
	ActionMCPResourceUnsubscribe = "mcp.resource_unsubscribe"
	ActionMCPComplete            = "mcp.completion"
)

// upstreamActions are the audited methods besides tools/call, by method.
var upstreamActions = map[string]string{
	"prompts/get":           ActionMCPPromptGet,
	"resources/read":        ActionMCPResourceRead,
	"resources/subscribe":   ActionMCPResourceSubscribe,
	"resources/unsubscribe": ActionMCPResourceUnsubscribe,
	"completion/complete":   ActionMCPComplete,
}

// errNotAudited answers a call whose change was made but whose audit
// record could not be written.
const errNotAudited = "the call could not be recorded in the audit log, so it is not confirmed: " +
	"its change may have been applied; read the current state before retrying"

// AuditMiddleware is a go-sdk receiving middleware that appends one audit
// record per tool call: the tool, the caller (from the context: put it
// inside the auth middleware, which names the caller), the ticket the
// arguments name, the outcome, how long the call took (duration_ms), and
// what the handler noted (audit.NoteDetail: the upstream a call was
// forwarded to, say). A call that asks for input (multi round-trip) is
// recorded as pending; its retry is recorded again.
//
// A call that may change something has its record committed in the
// transaction of its first store write (audit.Log.Intend), so that the
// change and its record commit together or not at all, whenever the
// process dies; that record says the outcome OK, "committed_write", and
// the duration and notes up to the write. Such a call is answered at once:
// its record is durable, and the appender chains it with its next batch.
// If the call fails after its write committed, a second record says how
// ("after_committed_write"): the change stands, and so does its record,
// which cannot be taken back. A call that wrote nothing with its record (it
// failed first, or changed nothing in the store, like a call forwarded to
// an upstream) is answered only once its record is committed (Append), and
// if that record cannot be written a successful call is answered with an
// error instead: an acknowledged change always has its record. A read's
// record is queued (Record) and the read answered at once: it is lost only
// if the process dies before the record's batch commits (see
// audit.Log.Record), and a read is not failed for want of it.
//
// A read is one of Parley's own read tools (readTools), or a call
// forwarded to an upstream tool whose definition is annotated
// readOnlyHint: true (markUpstreamRead). That hint is the upstream's word,
// not a guarantee, but the definition that carries it is pinned: the
// first one seen is recorded, and a changed one (a hint switched off or
// on included) is held back until an admin approves it, so an upstream
// cannot turn a tool read-only in Parley's eyes on its own. Every other
// upstream tool is treated as a write, since it may change things at the
// upstream: its call is answered once its record is committed.
//
// The other requests forwarded to an upstream (prompts/get,
// resources/read, resources/subscribe and unsubscribe, completion/complete:
// upstreamActions) have a record each too, written once the upstream has
// answered: the caller, the prompt's name (as Parley serves it) or the
// URI (a completion's: the prompt or the resource template), the outcome,
// the upstream and duration_ms, linked to the caller's request ID. Those
// records are queued (Record) like a read tool's: none of these changes
// anything Parley keeps, and a subscription is the upstream's state. The
// same requests of Parley's own resources are not recorded (nothing else
// reads them but the caller, as before federation).
func AuditMiddleware(log Auditor) mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if action, ok := upstreamActions[method]; ok {
				return auditUpstreamCall(ctx, log, action, next, method, req)
			}
			params, ok := req.GetParams().(*mcp.CallToolParamsRaw)
			if method != "tools/call" || !ok {
				return next(ctx, method, req)
			}
			start := time.Now()
			var args struct {
				TicketID string `json:"ticket_id"`
			}
			_ = json.Unmarshal(params.Arguments, &args)
			links := audit.Links{TicketID: args.TicketID, RequestID: requestID(req)}
			ctx = audit.WithLinks(ctx, links)
			ctx, note := audit.WithNote(ctx)
			read := readTools[params.Name]
			class := &callClass{}
			ctx = context.WithValue(ctx, callClassKey{}, class)
			var intent *audit.Intent
			if !read {
				ctx, intent = log.Intend(ctx, func() audit.Entry {
					return audit.Entry{Action: audit.ActionMCPToolCall, Target: params.Name, Outcome: audit.OK,
						Detail: toolDetail(note, start, map[string]any{"committed_write": "true"})}
				})
			}
			res, err := next(ctx, method, req)
			committed := intent.Close()
			if class.upstreamRead && !committed {
				read = true // a federated tool its pinned definition says is read-only
			}
			entry := audit.Entry{Action: audit.ActionMCPToolCall, Target: params.Name, Outcome: audit.OK}
			detail := map[string]any{}
			succeeded := false
			switch r, _ := res.(*mcp.CallToolResult); {
			case err != nil:
				entry.Outcome, detail["error"] = audit.Error, err.Error()
			case r != nil && r.IsError:
				entry.Outcome, detail["error"] = audit.Error, toolErrorText(r)
			case r != nil && r.InputRequests != nil:
				detail["status"] = "input_required"
			default:
				succeeded = true
			}
			if committed {
				if succeeded {
					return res, err // recorded with the write
				}
				detail["after_committed_write"] = "true"
			}
			entry.Detail = toolDetail(note, start, detail)
			if read {
				log.Record(ctx, entry) // logs its own failures
				return res, err
			}
			// Append logs its own failures. A failure after a committed
			// write keeps its own answer: the write has its record.
			if _, aerr := log.Append(ctx, entry); aerr != nil && succeeded && !committed {
				out := &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: errNotAudited}}}
				return out, nil
			}
			return res, err
		}
	}
}

// callClass is what the tool's handler says of a call, for its record:
// upstreamRead, that it was forwarded to an upstream tool whose pinned
// definition (the one the host was served, approved if it ever changed)
// is annotated readOnlyHint. Set by the handler, on the middleware's
// goroutine, before it returns.
type callClass struct{ upstreamRead bool }

type callClassKey struct{}

// markUpstreamRead says, for the tool call ctx carries (AuditMiddleware),
// that it goes to an upstream tool annotated read-only: its record is
// queued like a read's.
func markUpstreamRead(ctx context.Context) {
	if c, ok := ctx.Value(callClassKey{}).(*callClass); ok {
		c.upstreamRead = true
	}
}

// requestID is the caller's ID of the HTTP request that carried req
// (X-Request-Id), "" if none.
func requestID(req mcp.Request) string {
	if extra := req.GetExtra(); extra != nil && extra.Header != nil {
		return extra.Header.Get("X-Request-Id")
	}
	return ""
}

// RequestLinksMiddleware is a go-sdk receiving middleware that links every
// audit record written while a request is handled to the caller's request
// ID (audit.WithLinks): put it outside the auth middleware, so that the
// policy.denial records of its refusals carry the ID too.
func RequestLinksMiddleware() mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if id := requestID(req); id != "" {
				ctx = audit.WithLinks(ctx, audit.Links{RequestID: id})
			}
			return next(ctx, method, req)
		}
	}
}

// auditUpstreamCall handles method (one of upstreamActions) and, when the
// handler forwarded it to an upstream (it noted the upstream), records it
// as action.
func auditUpstreamCall(ctx context.Context, log Auditor, action string, next mcp.MethodHandler, method string, req mcp.Request) (mcp.Result, error) {
	start := time.Now()
	ctx = audit.WithLinks(ctx, audit.Links{RequestID: requestID(req)})
	ctx, note := audit.WithNote(ctx)
	res, err := next(ctx, method, req)
	if _, forwarded := note.Detail()["upstream"]; !forwarded {
		return res, err // Parley's own, or nothing served it
	}
	entry := audit.Entry{Action: action, Target: upstreamTarget(req), Outcome: audit.OK}
	detail := map[string]any{}
	switch {
	case err != nil:
		entry.Outcome, detail["error"] = audit.Error, err.Error()
	case inputRequired(res):
		detail["status"] = "input_required"
	}
	entry.Detail = toolDetail(note, start, detail)
	log.Record(ctx, entry) // logs its own failures
	return res, err
}

// upstreamTarget is what a forwarded request concerns: the prompt (by the
// name Parley serves it under) or the resource's URI; for a completion,
// its reference's prompt or URI (template).
func upstreamTarget(req mcp.Request) string {
	switch p := req.GetParams().(type) {
	case *mcp.GetPromptParams:
		return p.Name
	case *mcp.ReadResourceParams:
		return p.URI
	case *mcp.SubscribeParams:
		return p.URI
	case *mcp.UnsubscribeParams:
		return p.URI
	case *mcp.CompleteParams:
		if p.Ref != nil {
			if p.Ref.Type == "ref/prompt" {
				return p.Ref.Name
			}
			return p.Ref.URI
		}
	}
	return ""
}

// inputRequired reports whether res asks the host for input (multi
// round-trip): the call is pending, and its retry is recorded again.
func inputRequired(res mcp.Result) bool {
	switch r := res.(type) {
	case *mcp.GetPromptResult:
		return r != nil && r.InputRequests != nil
	case *mcp.ReadResourceResult:
		return r != nil && r.InputRequests != nil
	}
	return false
}

// toolDetail is the detail of a tool call's record: what the handler
// noted, then own (which wins over a note of the same key), and the time
// since start in milliseconds, to the microsecond.
func toolDetail(note *audit.Note, start time.Time, own map[string]any) map[string]any {
	noted := note.Detail()
	detail := make(map[string]any, len(noted)+len(own)+1)
	for k, v := range noted {
		detail[k] = v
	}
	for k, v := range own {
		detail[k] = v
	}
	detail["duration_ms"] = float64(time.Since(start).Microseconds()) / 1000
	return detail
}

func toolErrorText(r *mcp.CallToolResult) string {
	for _, c := range r.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			return t.Text
		}
	}
	return "tool error"
}
