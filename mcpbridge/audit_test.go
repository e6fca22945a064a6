package mcpbridge

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/store/sqlite"
	"github.com/parleyhq/parley/workspace"
)

// Every tool call lands in the audit log with its tool, ticket and
// outcome, and the chain verifies.
func TestAuditMiddleware(t *testing.T) {
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "parley.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := audit.New(st, audit.Options{})
	b, err := New(workspace.New(st, workspace.Options{ConfirmRefundAbove: ptr(100.0)}), st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b.Server().AddReceivingMiddleware(AuditMiddleware(log))
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close) // after the client session's own cleanup
	f := &fixture{bridge: b, url: srv.URL}
	cs := f.connect(t, "2025-11-25", &mcp.ClientOptions{
		ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return &mcp.ElicitResult{Action: "decline"}, nil
		},
	})
	call(t, cs, ToolSaveTicket, map[string]any{"ticket_id": "T-1", "customer": "acme", "refund_amount": 300.0}, nil)
	if res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: ToolGetTicket, Arguments: map[string]any{"ticket_id": "T-404"}}); err != nil || !res.IsError {
		t.Fatalf("get_ticket T-404: %v %+v", err, res)
	}
	call(t, cs, ToolSaveResolution, map[string]any{"ticket_id": "T-1", "resolution": "refund"}, nil)

	recs, _, err := log.List(ctx, audit.Filter{Action: audit.ActionMCPToolCall})
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ target, ticket, outcome string }
	var got []row
	for _, r := range recs {
		got = append(got, row{r.Target, r.TicketID, r.Outcome})
	}
	// For a session client the SDK asks the confirmation question inside
	// the one call: one record, whose outcome is the declined resolution.
	want := []row{
		{ToolSaveTicket, "T-1", audit.OK},
		{ToolGetTicket, "T-404", audit.Error},
		{ToolSaveResolution, "T-1", audit.OK},
	}
	if len(got) != len(want) {
		t.Fatalf("audit records = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("record %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	res, err := log.Verify(ctx)
	if err != nil || !res.OK {
		t.Errorf("audit chain: %+v, %v", res, err)
	}
}
