package workspace_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/sqlite"
	"github.com/parleyhq/parley/workspace"
)

// clock is a settable clock for lease tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newWorkspace(t *testing.T) (*workspace.Workspace, *sqlite.Store, *clock) {
	return newWorkspaceTB(t)
}

func newWorkspaceTB(t testing.TB) (*workspace.Workspace, *sqlite.Store, *clock) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &clock{now: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)}
	return workspace.New(st, workspace.Options{Now: clk.Now}), st, clk
}

func ptr[T any](v T) *T { return &v }

func TestStatusTransitions(t *testing.T) {
	tests := []struct {
		from, to workspace.Status
		ok       bool
	}{
		{workspace.StatusNew, workspace.StatusTriaged, true},
		{workspace.StatusNew, workspace.StatusNew, true},
		{workspace.StatusNew, workspace.StatusNegotiating, false},
		{workspace.StatusTriaged, workspace.StatusEscalated, true},
		{workspace.StatusEscalated, workspace.StatusNegotiating, true},
		{workspace.StatusNegotiating, workspace.StatusResolved, true},
		{workspace.StatusNegotiating, workspace.StatusNew, false},
		{workspace.StatusResolved, workspace.StatusClosed, true},
		{workspace.StatusResolved, workspace.StatusTriaged, true},
		{workspace.StatusResolved, workspace.StatusEscalated, false},
		{workspace.StatusClosed, workspace.StatusTriaged, false},
		{workspace.StatusClosed, workspace.StatusClosed, true},
	}
	for _, tt := range tests {
		if got := tt.from.CanMoveTo(tt.to); got != tt.ok {
			t.Errorf("%s -> %s allowed = %v, want %v", tt.from, tt.to, got, tt.ok)
		}
	}
}

func TestSaveTicket(t *testing.T) {
	ctx := t.Context()
	ws, _, clk := newWorkspace(t)

	created, isNew, err := ws.SaveTicket(ctx, "triage", workspace.TicketInput{
		ID: "T-1", Customer: ptr("acme"), Category: ptr("billing"), Priority: ptr("high"),
		Summary: ptr("charged twice"), RefundAmount: ptr(350.0),
	})
	if err != nil || !isNew {
		t.Fatalf("create: %v (new=%v)", err, isNew)
	}
	if created.Status != workspace.StatusNew || created.Version != 1 || created.RefundAmount != 350 || created.Customer != "acme" {
		t.Errorf("created = %+v", created)
	}
	got, err := ws.GetTicket(ctx, "T-1")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(created) {
		t.Errorf("read back %+v\nwant %+v", got, created)
	}

	clk.Advance(time.Minute)
	updated, isNew, err := ws.SaveTicket(ctx, "triage", workspace.TicketInput{ID: "T-1", Status: ptr(workspace.StatusTriaged), ExpectedVersion: ptr(int64(1))})
	if err != nil || isNew {
		t.Fatalf("update: %v (new=%v)", err, isNew)
	}
	if updated.Status != workspace.StatusTriaged || updated.Version != 2 || updated.Summary != "charged twice" || !updated.UpdatedAt.Equal(clk.Now()) {
		t.Errorf("updated = %+v (fields not given must stay)", updated)
	}

	// A save that changes nothing writes nothing.
	same, _, err := ws.SaveTicket(ctx, "triage", workspace.TicketInput{ID: "T-1", Category: ptr("billing")})
	if err != nil || same.Version != 2 {
		t.Errorf("no-op save = version %d, %v; want version 2 unchanged", same.Version, err)
	}

	_, _, err = ws.SaveTicket(ctx, "billing", workspace.TicketInput{ID: "T-1", Summary: ptr("x"), ExpectedVersion: ptr(int64(1))})
	var vc *store.VersionConflictError
	if !errors.As(err, &vc) || vc.Current != 2 || !strings.Contains(err.Error(), "current version is 2") {
		t.Errorf("stale save error = %v, want a conflict naming current version 2", err)
	}

	h, err := ws.History(ctx, "T-1")
	if err != nil || len(h) != 2 || h[0].Actor != "triage" || h[1].Action != "save" {
		t.Fatalf("history = %+v, %v", h, err)
	}
	var detail map[string]any
	if err := json.Unmarshal(h[1].Detail, &detail); err != nil || detail["from"] != "new" || detail["to"] != "triaged" {
		t.Errorf("history detail = %s", h[1].Detail)
	}

	generated, _, err := ws.SaveTicket(ctx, "triage", workspace.TicketInput{Customer: ptr("globex")})
	if err != nil || !strings.HasPrefix(generated.ID, "T-") {
		t.Errorf("create without ID = %+v, %v", generated, err)
	}
}

func TestSaveTicketRejects(t *testing.T) {
	ctx := t.Context()
	ws, st, _ := newWorkspace(t)
	if _, _, err := ws.SaveTicket(ctx, "a", workspace.TicketInput{ID: "T-1", Customer: ptr("acme")}); err != nil {
		t.Fatal(err)
	}
	if _, err := ws.SaveResolution(ctx, "a", workspace.ResolutionInput{TicketID: "T-1", Resolution: "refunded"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ws.SaveTicket(ctx, "a", workspace.TicketInput{ID: "T-1", Status: ptr(workspace.StatusClosed)}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		in        workspace.TicketInput
		want      error
		wantField string
	}{
		{"no customer on create", workspace.TicketInput{ID: "T-2"}, workspace.ErrInvalid, "customer"},
		{"bad id", workspace.TicketInput{ID: "T 2/x", Customer: ptr("a")}, workspace.ErrInvalid, "id"},
		{"long id", workspace.TicketInput{ID: strings.Repeat("x", 129), Customer: ptr("a")}, workspace.ErrInvalid, "id"},
		{"bad priority", workspace.TicketInput{ID: "T-2", Customer: ptr("a"), Priority: ptr("critical")}, workspace.ErrInvalid, "priority"},
		{"negative refund", workspace.TicketInput{ID: "T-2", Customer: ptr("a"), RefundAmount: ptr(-1.0)}, workspace.ErrInvalid, "refund_amount"},
		{"unknown status", workspace.TicketInput{ID: "T-2", Customer: ptr("a"), Status: ptr(workspace.Status("done"))}, workspace.ErrInvalid, "status"},
		{"long summary", workspace.TicketInput{ID: "T-2", Customer: ptr("a"), Summary: ptr(strings.Repeat("x", workspace.MaxTextLen+1))}, workspace.ErrInvalid, "summary"},
		{"transition from closed", workspace.TicketInput{ID: "T-1", Status: ptr(workspace.StatusTriaged)}, workspace.ErrInvalidTransition, ""},
		{"expected version of a missing ticket", workspace.TicketInput{ID: "T-9", Customer: ptr("a"), ExpectedVersion: ptr(int64(3))}, workspace.ErrNotFound, ""},
		{"expected version 0 of an existing ticket", workspace.TicketInput{ID: "T-1", Summary: ptr("x"), ExpectedVersion: ptr(int64(0))}, workspace.ErrVersionConflict, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ws.SaveTicket(ctx, "a", tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			var ve *workspace.ValidationError
			if tt.wantField != "" && (!errors.As(err, &ve) || ve.Field != tt.wantField) {
				t.Errorf("error %v does not name field %q", err, tt.wantField)
			}
		})
	}
	// Nothing above changed state.
	page, err := ws.ListTickets(ctx, workspace.TicketQuery{})
	if err != nil || len(page.Tickets) != 1 || page.Tickets[0].Version != 3 {
		t.Errorf("after rejected saves: %+v, %v", page, err)
	}
	if n, _ := st.CountTickets(ctx); n["closed"] != 1 {
		t.Errorf("counts = %v", n)
	}
}

func TestEscalateAndResolve(t *testing.T) {
	ctx := t.Context()
	ws, _, _ := newWorkspace(t)
	if _, _, err := ws.SaveTicket(ctx, "triage", workspace.TicketInput{ID: "T-1", Customer: ptr("acme"), Status: ptr(workspace.StatusTriaged)}); err != nil {
		t.Fatal(err)
	}
	if _, err := ws.Escalate(ctx, "billing", "T-1", "", nil); !errors.Is(err, workspace.ErrInvalid) {
		t.Errorf("escalate without reason: %v", err)
	}
	if _, err := ws.Escalate(ctx, "billing", "T-404", "x", nil); !errors.Is(err, workspace.ErrNotFound) {
		t.Errorf("escalate unknown ticket: %v", err)
	}
	esc, err := ws.Escalate(ctx, "billing", "T-1", "refund over limit", ptr(int64(1)))
	if err != nil || !esc.Escalated || esc.Status != workspace.StatusEscalated || esc.EscalationReason != "refund over limit" {
		t.Fatalf("escalate = %+v, %v", esc, err)
	}
	if _, err := ws.SaveResolution(ctx, "billing", workspace.ResolutionInput{TicketID: "T-1", Resolution: "refunded", ExpectedVersion: ptr(int64(1))}); !errors.Is(err, workspace.ErrVersionConflict) {
		t.Errorf("stale resolution: %v", err)
	}
	if _, err := ws.SaveResolution(ctx, "billing", workspace.ResolutionInput{TicketID: "T-1"}); !errors.Is(err, workspace.ErrInvalid) {
		t.Errorf("empty resolution: %v", err)
	}
	res, err := ws.SaveResolution(ctx, "billing", workspace.ResolutionInput{TicketID: "T-1", Resolution: "refunded 350"})
	if err != nil || res.Status != workspace.StatusResolved || res.Resolution != "refunded 350" || res.Version != 3 {
		t.Fatalf("resolve = %+v, %v", res, err)
	}
	if _, _, err := ws.SaveTicket(ctx, "a", workspace.TicketInput{ID: "T-1", Status: ptr(workspace.StatusClosed)}); err != nil {
		t.Fatal(err)
	}
	if _, err := ws.Escalate(ctx, "billing", "T-1", "again", nil); !errors.Is(err, workspace.ErrInvalidTransition) {
		t.Errorf("escalating a closed ticket: %v", err)
	}
}

func TestConcurrentUnpinnedSavesAllApply(t *testing.T) {
	ctx := t.Context()
	ws, _, _ := newWorkspace(t)
	if _, _, err := ws.SaveTicket(ctx, "a", workspace.TicketInput{ID: "T-1", Customer: ptr("acme")}); err != nil {
		t.Fatal(err)
	}
	// Writers that pin no version retry a lost race instead of failing.
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			if _, err := ws.SaveAnalysis(ctx, "a", "T-1", fmt.Sprintf("ns%d", i), json.RawMessage(`{}`)); err != nil {
				t.Error(err)
			}
			if _, _, err := ws.SaveTicket(ctx, "a", workspace.TicketInput{ID: "T-1", Summary: ptr(fmt.Sprint(i))}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got, err := ws.GetTicket(ctx, "T-1")
	if err != nil || got.Version < 2 || got.Version > 5 {
		t.Errorf("after concurrent saves: %+v, %v", got, err)
	}
}

func TestAnalyses(t *testing.T) {
	ctx := t.Context()
	ws, _, _ := newWorkspace(t)
	if _, err := ws.SaveAnalysis(ctx, "sentiment-agent", "T-1", "sentiment", json.RawMessage(`{}`)); !errors.Is(err, workspace.ErrNotFound) {
		t.Errorf("analysis of unknown ticket: %v", err)
	}
	if _, _, err := ws.SaveTicket(ctx, "a", workspace.TicketInput{ID: "T-1", Customer: ptr("acme")}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ns, findings string
		want         error
	}{
		{"sentiment", `{"score":-0.6}`, nil},
		{"priority", `{"level":"high"}`, nil},
		{"bad ns/x", `{}`, workspace.ErrInvalid},
		{"history", `{"broken"`, workspace.ErrInvalid},
	}
	for _, tt := range tests {
		_, err := ws.SaveAnalysis(ctx, tt.ns+"-agent", "T-1", tt.ns, json.RawMessage(tt.findings))
		if !errors.Is(err, tt.want) {
			t.Errorf("SaveAnalysis(%s, %s) = %v, want %v", tt.ns, tt.findings, err, tt.want)
		}
	}
	all, err := ws.AllAnalysis(ctx, "T-1")
	if err != nil || len(all) != 2 || all[0].Namespace != "priority" || all[1].Author != "sentiment-agent" || string(all[1].Findings) != `{"score":-0.6}` {
		t.Errorf("AllAnalysis = %+v, %v", all, err)
	}
}

func TestTaskQueueLeases(t *testing.T) {
	ctx := t.Context()
	ws, _, clk := newWorkspace(t)
	task, err := ws.CreateTask(ctx, "", "billing", json.RawMessage(`{"ticket_id":"T-1"}`))
	if err != nil || task.Status != store.TaskPending || !strings.HasPrefix(task.ID, "task-") {
		t.Fatalf("CreateTask = %+v, %v", task, err)
	}
	if _, err := ws.CreateTask(ctx, "t1", "billing", json.RawMessage(`nope`)); !errors.Is(err, workspace.ErrInvalid) {
		t.Errorf("bad payload: %v", err)
	}
	if _, err := ws.ClaimTask(ctx, "worker-a", nil, 0); !errors.Is(err, workspace.ErrInvalid) {
		t.Errorf("claim without types: %v", err)
	}
	if _, err := ws.ClaimTask(ctx, "worker-a", []string{"billing"}, 2*time.Hour); !errors.Is(err, workspace.ErrInvalid) {
		t.Errorf("claim with a lease over the limit: %v", err)
	}
	if _, err := ws.ClaimTask(ctx, "worker-a", []string{"triage"}, 0); !errors.Is(err, workspace.ErrNoTask) {
		t.Errorf("claim with no matching task: %v", err)
	}
	a, err := ws.ClaimTask(ctx, "worker-a", []string{"billing"}, time.Minute)
	if err != nil || a.LeaseToken == "" || a.Claimant != "worker-a" || !a.LeaseUntil.Equal(clk.Now().Add(time.Minute)) {
		t.Fatalf("claim = %+v, %v", a, err)
	}
	clk.Advance(30 * time.Second)
	if _, err := ws.ClaimTask(ctx, "worker-b", []string{"billing"}, time.Minute); !errors.Is(err, workspace.ErrNoTask) {
		t.Errorf("claim during a live lease: %v", err)
	}
	clk.Advance(31 * time.Second)
	b, err := ws.ClaimTask(ctx, "worker-b", []string{"billing"}, time.Minute)
	if err != nil || b.ID != a.ID || b.Attempts != 2 {
		t.Fatalf("claim after expiry = %+v, %v", b, err)
	}
	if _, err := ws.CompleteTask(ctx, a.ID, a.LeaseToken, nil); !errors.Is(err, workspace.ErrLeaseLost) {
		t.Errorf("complete by the expired claimant: %v", err)
	}
	if _, err := ws.CompleteTask(ctx, a.ID, "", nil); !errors.Is(err, workspace.ErrInvalid) {
		t.Errorf("complete without token: %v", err)
	}
	done, err := ws.CompleteTask(ctx, b.ID, b.LeaseToken, json.RawMessage(`{"refund":"issued"}`))
	if err != nil || done.Status != store.TaskDone || done.LeaseToken != "" {
		t.Errorf("complete = %+v, %v", done, err)
	}

	retry, _ := ws.CreateTask(ctx, "t-retry", "billing", nil)
	c, err := ws.ClaimTask(ctx, "worker-c", []string{"billing"}, 0)
	if err != nil || c.ID != retry.ID {
		t.Fatalf("claim = %+v, %v", c, err)
	}
	if requeued, err := ws.FailTask(ctx, c.ID, c.LeaseToken, "upstream timeout", true); err != nil || requeued.Status != store.TaskPending {
		t.Errorf("fail with retry = %+v, %v", requeued, err)
	}
	st, err := ws.Status(ctx)
	if err != nil || st.PendingTasks != 1 || st.ClaimedTasks != 0 {
		t.Errorf("status = %+v, %v", st, err)
	}
}

func TestStatus(t *testing.T) {
	ctx := t.Context()
	ws, _, _ := newWorkspace(t)
	for i, s := range []workspace.Status{workspace.StatusNew, workspace.StatusTriaged, workspace.StatusTriaged, workspace.StatusEscalated} {
		if _, _, err := ws.SaveTicket(ctx, "a", workspace.TicketInput{ID: fmt.Sprintf("T-%d", i), Customer: ptr("c"), Status: ptr(s)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ws.CreateTask(ctx, "", "triage", nil); err != nil {
		t.Fatal(err)
	}
	st, err := ws.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := workspace.PipelineStatus{
		Tickets:      map[workspace.Status]int64{"new": 1, "triaged": 2, "escalated": 1, "negotiating": 0, "resolved": 0, "closed": 0},
		TotalTickets: 4, PendingTasks: 1,
	}
	if fmt.Sprint(st) != fmt.Sprint(want) {
		t.Errorf("status = %+v\nwant %+v", st, want)
	}
	page, err := ws.ListTickets(ctx, workspace.TicketQuery{Statuses: []workspace.Status{"triaged"}, Limit: 1})
	if err != nil || len(page.Tickets) != 1 || page.Next != "T-1" {
		t.Errorf("first page = %+v, %v", page, err)
	}
	page, err = ws.ListTickets(ctx, workspace.TicketQuery{Statuses: []workspace.Status{"triaged"}, Limit: 1, Cursor: page.Next})
	if err != nil || len(page.Tickets) != 1 || page.Tickets[0].ID != "T-2" || page.Next != "" {
		t.Errorf("second page = %+v, %v", page, err)
	}
	if _, err := ws.ListTickets(ctx, workspace.TicketQuery{Limit: 1000}); !errors.Is(err, workspace.ErrInvalid) {
		t.Errorf("limit over max: %v", err)
	}
}

// Every write, and only a write, emits one change on the store's feed.
func TestWritesEmitChanges(t *testing.T) {
	ctx := t.Context()
	ws, st, _ := newWorkspace(t)
	feed, err := st.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, _, _ = ws.SaveTicket(ctx, "a", workspace.TicketInput{ID: "T-1", Customer: ptr("acme")})
	_, _, _ = ws.SaveTicket(ctx, "a", workspace.TicketInput{ID: "T-1", Customer: ptr("acme")}) // no-op
	_, _, _ = ws.SaveTicket(ctx, "a", workspace.TicketInput{ID: "T-1", Status: ptr(workspace.StatusClosed)})
	_, _, _ = ws.SaveTicket(ctx, "a", workspace.TicketInput{ID: "T-1", Status: ptr(workspace.StatusNew)}) // refused
	_, _ = ws.Escalate(ctx, "a", "T-2", "x", nil)                                                         // unknown
	task, _ := ws.CreateTask(ctx, "task-1", "triage", nil)
	claimed, _ := ws.ClaimTask(ctx, "w", []string{"triage"}, 0)
	_, _ = ws.CompleteTask(ctx, task.ID, claimed.LeaseToken, nil)
	want := []string{"ticket T-1 v1", "ticket T-1 v2", "task task-1 v1", "task task-1 v2", "task task-1 v3"}
	for i, w := range want {
		select {
		case c := <-feed:
			if got := fmt.Sprintf("%s %s v%d", c.Kind, c.Key, c.Version); got != w {
				t.Errorf("change %d = %s, want %s", i, got, w)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("change %d (%s) never arrived", i, w)
		}
	}
}
