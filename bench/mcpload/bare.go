package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/bench/internal/mcpclient"
	"github.com/parleyhq/parley/workspace"
)

// bareTicketIn is get_ticket's input, the same shape as Parley's.
type bareTicketIn struct {
	TicketID string `json:"ticket_id" jsonschema:"the ticket's ID, e.g. T-1001"`
}

// newBareHandler is the baseline: a go-sdk server with one get_ticket tool
// that looks the ticket up in a map, behind the SDK's Streamable HTTP
// handlers with their default options and the same generation dispatch as
// Parley's /mcp. Its result has the shape and size of Parley's (the
// ticket as structured output, the same JSON as text, a ticket:// resource
// link), so the two servers send the same bytes and differ only in how
// they get the ticket and in what Parley's endpoint does around the SDK.
func newBareHandler(tickets map[string]workspace.Ticket) http.Handler {
	// Named so that the serverInfo each result carries is as long as
	// Parley's.
	srv := mcp.NewServer(&mcp.Implementation{Name: "go-sdk", Title: "Bare go server", Version: "0.1.0"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: toolGet, Title: "Read a ticket",
		Description: "Read a support ticket: customer, category, priority, status, summary, refund_amount, resolution, escalation, approval and version.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, func(_ context.Context, _ *mcp.CallToolRequest, in bareTicketIn) (*mcp.CallToolResult, workspace.Ticket, error) {
		t, ok := tickets[in.TicketID] // read-only after setup: no lock
		if !ok {
			return nil, workspace.Ticket{}, fmt.Errorf("ticket %q not found", in.TicketID)
		}
		text, err := json.Marshal(t)
		if err != nil {
			return nil, workspace.Ticket{}, err
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(text)}, bareTicketLink(t)}}, t, nil
	})
	get := func(*http.Request) *mcp.Server { return srv }
	stateful := mcp.NewStreamableHTTPHandler(get, nil)
	stateless := mcp.NewStreamableHTTPHandler(get, &mcp.StreamableHTTPOptions{Stateless: true})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Parley's dispatch (mcpbridge.Bridge.ServeHTTP), without its body
		// buffering: sessions and pre-2026-07-28 requests to the stateful
		// handler, the rest to the stateless one.
		if r.Header.Get("Mcp-Session-Id") == "" && r.Header.Get("Mcp-Protocol-Version") >= mcpclient.StatelessVersion {
			stateless.ServeHTTP(w, r)
			return
		}
		stateful.ServeHTTP(w, r)
	})
}

// bareTicketLink is the resource link Parley puts in a ticket result.
func bareTicketLink(t workspace.Ticket) *mcp.ResourceLink {
	orDash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	return &mcp.ResourceLink{
		URI:         "ticket://" + t.ID,
		Name:        t.ID,
		Title:       "Ticket " + t.ID,
		Description: fmt.Sprintf("%s ticket of %s, %s (version %d)", orDash(t.Category), orDash(t.Customer), t.Status, t.Version),
		MIMEType:    "application/json",
	}
}
