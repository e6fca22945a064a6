package mcpbridge

import (
	"context"
	"encoding/json"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/audit"
)

// Auditor appends audit records: audit.Log.
type Auditor interface {
	Append(ctx context.Context, e audit.Entry) (audit.Record, error)
}

// AuditMiddleware is a go-sdk receiving middleware that appends one audit
// record per tool call: the tool, the caller (from the context: put it
// inside the auth middleware, which names the caller), the ticket the
// arguments name, and the outcome. A call that asks for input (multi
// round-trip) is recorded as pending; its retry is recorded again.
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
			switch r, _ := res.(*mcp.CallToolResult); {
			case err != nil:
				entry.Outcome, entry.Detail = audit.Error, map[string]string{"error": err.Error()}
			case r != nil && r.IsError:
				entry.Outcome, entry.Detail = audit.Error, map[string]string{"error": toolErrorText(r)}
			case r != nil && r.InputRequests != nil:
				entry.Detail = map[string]string{"status": "input_required"}
			}
			// Append logs its own failures; a tool call is not failed for
			// want of its audit record.
			_, _ = log.Append(ctx, entry)
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
