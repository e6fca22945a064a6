package mcpbridge

import (
	"context"
	"encoding/json"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/audit"
)

// Auditor appends audit records: audit.Log. Append returns once the
// record is committed; Record may return before.
type Auditor interface {
	Append(ctx context.Context, e audit.Entry) (audit.Record, error)
	Record(ctx context.Context, e audit.Entry)
}

// readTools are the tools that change nothing: those annotated
// ReadOnlyHint (TestAuditReadTools keeps the two in step). wait_for_ticket
// may decide a negotiation for the person it asks, but that decision has
// a record of its own, written by the negotiation service.
var readTools = map[string]bool{
	ToolGetTicket: true, ToolListTickets: true, ToolGetStatus: true, ToolGetAllAnalysis: true,
	ToolWaitForTicket: true, ToolListAgents: true, ToolGetAgentCard: true, ToolGetNegotiation: true,
}

// errNotAudited answers a call whose change was made but whose audit
// record could not be written.
const errNotAudited = "the call could not be recorded in the audit log, so it is not confirmed: " +
	"its change may have been applied; read the current state before retrying"

// AuditMiddleware is a go-sdk receiving middleware that appends one audit
// record per tool call: the tool, the caller (from the context: put it
// inside the auth middleware, which names the caller), the ticket the
// arguments name, and the outcome. A call that asks for input (multi
// round-trip) is recorded as pending; its retry is recorded again.
//
// A call that may change something is answered only once its record is
// committed (Append), and if the record cannot be written a successful
// call is answered with an error instead: an acknowledged change always
// has its record. (The change and its record are two transactions: a
// crash between them leaves a change without a record, whose caller got
// no answer.) A read's record is queued (Record) and the read answered at
// once: it is lost only if the process dies before the record's batch
// commits (see audit.Log.Record), and a read is not failed for want of it.
func AuditMiddleware(log Auditor) mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			params, ok := req.GetParams().(*mcp.CallToolParamsRaw)
			if method != "tools/call" || !ok {
				return next(ctx, method, req)
			}
			var args struct {
				TicketID string `json:"ticket_id"`
			}
			_ = json.Unmarshal(params.Arguments, &args)
			links := audit.Links{TicketID: args.TicketID}
			if extra := req.GetExtra(); extra != nil && extra.Header != nil {
				links.RequestID = extra.Header.Get("X-Request-Id")
			}
			ctx = audit.WithLinks(ctx, links)
			res, err := next(ctx, method, req)
			entry := audit.Entry{Action: audit.ActionMCPToolCall, Target: params.Name, Outcome: audit.OK}
			succeeded := false
			switch r, _ := res.(*mcp.CallToolResult); {
			case err != nil:
				entry.Outcome, entry.Detail = audit.Error, map[string]string{"error": err.Error()}
			case r != nil && r.IsError:
				entry.Outcome, entry.Detail = audit.Error, map[string]string{"error": toolErrorText(r)}
			case r != nil && r.InputRequests != nil:
				entry.Detail = map[string]string{"status": "input_required"}
			default:
				succeeded = true
			}
			if readTools[params.Name] {
				log.Record(ctx, entry) // logs its own failures
				return res, err
			}
			// Append logs its own failures.
			if _, aerr := log.Append(ctx, entry); aerr != nil && succeeded {
				out := &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: errNotAudited}}}
				return out, nil
			}
			return res, err
		}
	}
}

func toolErrorText(r *mcp.CallToolResult) string {
	for _, c := range r.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			return t.Text
		}
	}
	return "tool error"
}
