package mcpbridge

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/store"
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
	type row struct {
		Target, Ticket, Outcome string
		WithWrite               bool
	}
	var got []row
	for _, r := range recs {
		d := detailOf(t, r)
		if ms, ok := d["duration_ms"].(float64); !ok || ms < 0 {
			t.Errorf("record of %s: duration_ms = %v, want a duration", r.Target, d["duration_ms"])
		}
		got = append(got, row{r.Target, r.TicketID, r.Outcome, d["committed_write"] == "true"})
	}
	// For a session client the SDK asks the confirmation question inside
	// the one call: one record, whose outcome is the declined resolution,
	// which wrote nothing. The Log does not run: the records of calls
	// that wrote nothing were appended as the calls ended, and the
	// save_ticket's, committed with its write, was chained when List
	// flushed the Log.
	want := []row{
		{ToolGetTicket, "T-404", audit.Error, false},
		{ToolSaveResolution, "T-1", audit.OK, false},
		{ToolSaveTicket, "T-1", audit.OK, true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit records (-want +got):\n%s", diff)
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

// Intend commits nothing with writes: every call is recorded after it.
func (f *fakeAuditor) Intend(ctx context.Context, _ func() audit.Entry) (context.Context, *audit.Intent) {
	return ctx, nil
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

// detailOf decodes a record's detail.
func detailOf(t *testing.T, r audit.Record) map[string]any {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal(r.Detail, &d); err != nil {
		t.Fatalf("record %d: detail %s: %v", r.Seq, r.Detail, err)
	}
	return d
}

// A write's record commits in the write's transaction: the call is
// answered without the chain (the Log here never runs: after the call the
// record is in the store's outbox, none in the chain), and a Log started
// later chains it. A call that fails after its write keeps both records;
// one that wrote nothing is recorded after it, as before, with what its
// handler noted.
func TestAuditMiddlewareCommitsWithTheWrite(t *testing.T) {
	type rec struct {
		Target, Outcome string
		Detail          map[string]any
	}
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	write := func(ctx context.Context, st store.Store, id string) error {
		_, err := st.CreateTicket(ctx, store.Ticket{ID: id, Status: "new", Data: json.RawMessage(`{}`), CreatedAt: t0, UpdatedAt: t0},
			store.HistoryEntry{Actor: "test", At: t0, Action: "create"})
		return err
	}
	tests := []struct {
		name    string
		handler func(ctx context.Context, st store.Store) (*mcp.CallToolResult, error)
		// after the call, before any Log runs
		wantChained, wantPending int64
		// after a fresh Log has run, in chain order
		want       []rec
		wantTicket bool
	}{
		{
			name: "write succeeds",
			handler: func(ctx context.Context, st store.Store) (*mcp.CallToolResult, error) {
				audit.NoteDetail(ctx, "upstream", "before-the-write")
				return &mcp.CallToolResult{}, write(ctx, st, "T-1")
			},
			wantPending: 1,
			want:        []rec{{"test_tool", audit.OK, map[string]any{"committed_write": "true", "upstream": "before-the-write"}}},
			wantTicket:  true,
		},
		{
			name: "write then failure",
			handler: func(ctx context.Context, st store.Store) (*mcp.CallToolResult, error) {
				if err := write(ctx, st, "T-1"); err != nil {
					return nil, err
				}
				return nil, errors.New("the answer could not be built")
			},
			wantChained: 1, wantPending: 1,
			want: []rec{
				{"test_tool", audit.Error, map[string]any{"after_committed_write": "true", "error": "the answer could not be built"}},
				{"test_tool", audit.OK, map[string]any{"committed_write": "true"}},
			},
			wantTicket: true,
		},
		{
			name: "failure before writing",
			handler: func(ctx context.Context, st store.Store) (*mcp.CallToolResult, error) {
				return nil, errors.New("refused")
			},
			wantChained: 1,
			want:        []rec{{"test_tool", audit.Error, map[string]any{"error": "refused"}}},
		},
		{
			name: "no store write",
			handler: func(ctx context.Context, st store.Store) (*mcp.CallToolResult, error) {
				audit.NoteDetail(ctx, "upstream", "billing")
				return &mcp.CallToolResult{}, nil
			},
			wantChained: 1,
			want:        []rec{{"test_tool", audit.OK, map[string]any{"upstream": "billing"}}},
		},
		{
			name: "two writes, one record",
			handler: func(ctx context.Context, st store.Store) (*mcp.CallToolResult, error) {
				if err := write(ctx, st, "T-1"); err != nil {
					return nil, err
				}
				return &mcp.CallToolResult{}, write(ctx, st, "T-2")
			},
			wantPending: 1,
			want:        []rec{{"test_tool", audit.OK, map[string]any{"committed_write": "true"}}},
			wantTicket:  true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "parley.db"), sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			log := audit.New(st, audit.Options{})
			b, err := New(workspace.New(st, workspace.Options{}), st, Options{})
			if err != nil {
				t.Fatal(err)
			}
			mcp.AddTool(b.Server(), &mcp.Tool{Name: "test_tool"}, func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
				res, err := tt.handler(ctx, st)
				return res, nil, err
			})
			b.Server().AddReceivingMiddleware(AuditMiddleware(log))
			srv := httptest.NewServer(b)
			t.Cleanup(srv.Close)
			cs := (&fixture{bridge: b, url: srv.URL}).connect(t, "2025-11-25", nil)
			if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_tool", Arguments: map[string]any{}}); err != nil {
				t.Fatal(err)
			}

			head, err := st.AuditHead(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pending, err := log.Pending(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if head.Seq != tt.wantChained || pending != tt.wantPending {
				t.Errorf("after the call: %d records chained, %d in the outbox; want %d and %d", head.Seq, pending, tt.wantChained, tt.wantPending)
			}
			_, err = st.GetTicket(ctx, "T-1")
			if tt.wantTicket != (err == nil) {
				t.Errorf("ticket T-1 after the call: %v; want it stored: %v", err, tt.wantTicket)
			}

			// A fresh Log, as after a restart: Run chains what waits in
			// the outbox as it starts (and, stopped, before it returns).
			fresh := audit.New(st, audit.Options{})
			runCtx, stop := context.WithCancel(ctx)
			stop()
			if err := fresh.Run(runCtx); err != nil {
				t.Fatal(err)
			}
			recs, _, err := fresh.List(ctx, audit.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			var got []rec
			for _, r := range recs {
				d := detailOf(t, r)
				if ms, ok := d["duration_ms"].(float64); !ok || ms < 0 {
					t.Errorf("record %d: duration_ms = %v, want a duration", r.Seq, d["duration_ms"])
				}
				delete(d, "duration_ms")
				got = append(got, rec{r.Target, r.Outcome, d})
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
			res, err := fresh.Verify(ctx)
			if err != nil || !res.OK || res.Pending != 0 || res.Records != int64(len(tt.want)) {
				t.Errorf("Verify = %+v, %v; want OK with %d records, none pending", res, err, len(tt.want))
			}
		})
	}
}
