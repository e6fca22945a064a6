package mcpbridge

import (
	"context"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
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

// fakeAuditor notes which calls' records were waited for (Append) and
// which were queued (Record), and fails Append when told to.
type fakeAuditor struct {
	mu                 sync.Mutex
	appended, recorded []string
	fail               error
}

func (f *fakeAuditor) Append(_ context.Context, e audit.Entry) (audit.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.appended = append(f.appended, e.Target)
	if f.fail != nil {
		return audit.Record{}, f.fail
	}
	return audit.Record{Seq: int64(len(f.appended))}, nil
}

func (f *fakeAuditor) Record(_ context.Context, e audit.Entry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recorded = append(f.recorded, e.Target)
}

// A write is answered only once its record is committed, and answered
// with an error if the record could not be written; a read's record is
// queued and the read answered whatever becomes of it.
func TestAuditMiddlewareWritesWaitForTheirRecord(t *testing.T) {
	for _, tt := range []struct {
		name string
		fail error
	}{
		{"records written", nil},
		{"records failing", errors.New("disk full")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			a := &fakeAuditor{fail: tt.fail}
			f.bridge.Server().AddReceivingMiddleware(AuditMiddleware(a))
			cs := f.connect(t, "2025-11-25", nil)
			save, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: ToolSaveTicket, Arguments: map[string]any{"ticket_id": "T-1", "customer": "acme"}})
			if err != nil {
				t.Fatal(err)
			}
			get, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: ToolGetTicket, Arguments: map[string]any{"ticket_id": "T-1"}})
			if err != nil {
				t.Fatal(err)
			}
			// A write that failed anyway keeps its own error.
			bad, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: ToolSaveTicket, Arguments: map[string]any{"ticket_id": "T-1", "expected_version": 99}})
			if err != nil {
				t.Fatal(err)
			}
			a.mu.Lock()
			appended, recorded := slices.Clone(a.appended), slices.Clone(a.recorded)
			a.mu.Unlock()
			if want := []string{ToolSaveTicket, ToolSaveTicket}; !slices.Equal(appended, want) {
				t.Errorf("records waited for = %v, want %v", appended, want)
			}
			if want := []string{ToolGetTicket}; !slices.Equal(recorded, want) {
				t.Errorf("records queued = %v, want %v", recorded, want)
			}
			if get.IsError {
				t.Errorf("get_ticket = %s, want the ticket whatever its record", toolErrorText(get))
			}
			if !bad.IsError || toolErrorText(bad) == errNotAudited {
				t.Errorf("save_ticket with a stale version = %+v, want its own error", bad.Content)
			}
			if tt.fail == nil && save.IsError {
				t.Errorf("save_ticket = %s", toolErrorText(save))
			}
			if tt.fail != nil && (!save.IsError || toolErrorText(save) != errNotAudited) {
				t.Errorf("save_ticket without its record = IsError %v %q, want the audit error", save.IsError, toolErrorText(save))
			}
		})
	}
}

// The tools whose records are queued are exactly those annotated
// read-only.
func TestAuditReadTools(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range []*fixture{newFixture(t), newAgentFixture(t).fixture, newNegFixture(t, &scriptSender{}, nil).fixture} {
		cs := f.connect(t, "2025-11-25", nil)
		for tool, err := range cs.Tools(t.Context(), nil) {
			if err != nil {
				t.Fatal(err)
			}
			seen[tool.Name] = true
			readOnly := tool.Annotations != nil && tool.Annotations.ReadOnlyHint
			if readOnly != readTools[tool.Name] {
				t.Errorf("tool %s: ReadOnlyHint %v, but readTools says %v", tool.Name, readOnly, readTools[tool.Name])
			}
		}
	}
	for name := range readTools {
		if !seen[name] {
			t.Errorf("readTools names %s, which no bridge serves", name)
		}
	}
}
