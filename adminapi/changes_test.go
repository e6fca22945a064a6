package adminapi_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parleyhq/parley/adminapi"
	"github.com/parleyhq/parley/api"
	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/internal/sse"
	"github.com/parleyhq/parley/store/sqlite"
	"github.com/parleyhq/parley/workspace"
)

// changesEnv is a workspace over a fresh SQLite store whose feed is
// served by the change stream, on a real gateway router.
type changesEnv struct {
	st  *sqlite.Store
	ws  *workspace.Workspace
	srv *httptest.Server
}

func newChangesEnv(t *testing.T, opts adminapi.ChangesOptions) *changesEnv {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = st.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	g, err := gateway.New(config.Default(), gateway.Deps{Store: st}, nil)
	if err != nil {
		t.Fatal(err)
	}
	adminapi.NewChanges(st, opts).Mount(g.Router())
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)
	return &changesEnv{st: st, ws: workspace.New(st, workspace.Options{}), srv: srv}
}

// stream opens the change stream (with lastID as Last-Event-ID, if set)
// and returns a reader of its events.
func (e *changesEnv) stream(t *testing.T, ctx context.Context, lastID string) (*http.Response, *sse.Reader) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+adminapi.ChangesPath, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp, sse.NewReader(bufio.NewReader(resp.Body), sse.Options{})
}

func next(t *testing.T, rd *sse.Reader) sse.Event {
	t.Helper()
	ev, err := rd.Next()
	if err != nil {
		t.Fatalf("reading the stream: %v", err)
	}
	return ev
}

func TestChangesStream(t *testing.T) {
	e := newChangesEnv(t, adminapi.ChangesOptions{})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	resp, rd := e.stream(t, ctx, "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if ev := next(t, rd); ev.Type != "ready" {
		t.Fatalf("first event %+v, want ready", ev)
	}
	// After ready, what is committed is delivered: a ticket and its
	// analysis, a task (not passed on) in between.
	cust := "Ada"
	tk, _, err := e.ws.SaveTicket(ctx, "triage", workspace.TicketInput{Customer: &cust})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ws.CreateTask(ctx, "task-1", "triage", json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ws.SaveAnalysis(ctx, "billing-agent", tk.ID, "billing", json.RawMessage(`{"ok":true}`)); err != nil {
		t.Fatal(err)
	}
	var got []api.Change
	var lastID string
	for len(got) < 2 {
		ev := next(t, rd)
		if ev.Type != "change" {
			t.Fatalf("event %+v, want a change", ev)
		}
		var c api.Change
		if err := json.Unmarshal(ev.Data, &c); err != nil {
			t.Fatalf("data %s: %v", ev.Data, err)
		}
		got, lastID = append(got, c), ev.ID
	}
	want := []api.Change{{Kind: "ticket", Key: tk.ID, Version: 1}, {Kind: "analysis", Key: tk.ID + "/billing", Version: 1}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}

	// A client that reconnects with Last-Event-ID hears what it missed.
	resp.Body.Close()
	status := workspace.StatusTriaged
	if _, _, err := e.ws.SaveTicket(ctx, "triage", workspace.TicketInput{ID: tk.ID, Status: &status}); err != nil {
		t.Fatal(err)
	}
	_, rd = e.stream(t, ctx, lastID)
	if ev := next(t, rd); ev.Type != "ready" {
		t.Fatalf("first event on resuming %+v", ev)
	}
	ev := next(t, rd)
	var c api.Change
	_ = json.Unmarshal(ev.Data, &c)
	if diff := cmp.Diff(api.Change{Kind: "ticket", Key: tk.ID, Version: 2}, c); diff != "" || ev.Type != "change" {
		t.Errorf("the missed change (-want +got):\n%s", diff)
	}
}

func TestChangesStreamBounds(t *testing.T) {
	e := newChangesEnv(t, adminapi.ChangesOptions{MaxStreams: 1, MaxDuration: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	_, rd := e.stream(t, ctx, "")
	if ev := next(t, rd); ev.Type != "ready" {
		t.Fatalf("first event %+v", ev)
	}
	if r := call(t, e.srv, "GET", adminapi.ChangesPath, ""); r.status != 503 || r.header.Get("Retry-After") == "" {
		t.Errorf("a stream beyond MaxStreams: %d %s", r.status, r.body)
	}
	// The first stream ends on its own after MaxDuration (the test's
	// timeout only stops a hang), freeing its place.
	for {
		if _, err := rd.Next(); err != nil {
			break
		}
	}
	_, rd = e.stream(t, ctx, "")
	if ev := next(t, rd); ev.Type != "ready" {
		t.Errorf("after the first stream ended: %+v", ev)
	}
	for _, tc := range []struct{ path, lastID string }{{adminapi.ChangesPath + "?kind=ticket", ""}, {adminapi.ChangesPath, "abc"}} {
		req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+tc.path, nil)
		if tc.lastID != "" {
			req.Header.Set("Last-Event-ID", tc.lastID)
		}
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("GET %s (Last-Event-ID %q): %d, want 400", tc.path, tc.lastID, resp.StatusCode)
		}
	}
}

func TestAuditVerifyAPI(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	st, err := sqlite.Open(t.Context(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := audit.New(st, audit.Options{})
	for range 5 {
		if _, err := log.Append(t.Context(), audit.Entry{Action: audit.ActionMCPToolCall, Target: "get_ticket"}); err != nil {
			t.Fatal(err)
		}
	}
	g, err := gateway.New(config.Default(), gateway.Deps{Store: st}, nil)
	if err != nil {
		t.Fatal(err)
	}
	adminapi.NewAuditVerify(log, adminapi.Options{}).Mount(g.Router())
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)

	got := decodeAs[api.AuditVerification](t, call(t, srv, "GET", adminapi.AuditVerifyPath, ""))
	if diff := cmp.Diff(api.AuditVerification{OK: true, Records: 5, Summary: "audit chain OK: 5 records"}, got); diff != "" {
		t.Errorf("an intact chain (-want +got):\n%s", diff)
	}
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(t.Context(), `UPDATE audit_log SET target = 'save_ticket' WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	got = decodeAs[api.AuditVerification](t, call(t, srv, "GET", adminapi.AuditVerifyPath, ""))
	if got.OK || got.FirstBad != 3 || got.Problem != "altered" || got.Records != 2 || !strings.HasPrefix(got.Summary, "audit chain BROKEN at record 3") {
		t.Errorf("a tampered chain: %+v", got)
	}
	if r := call(t, srv, "GET", adminapi.AuditVerifyPath+"?fast=1", ""); r.status != 400 {
		t.Errorf("with a query: %d %s", r.status, r.body)
	}
}
