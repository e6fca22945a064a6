package a2a_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	a2ago "github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2asrv"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/parleyhq/parley/a2a"
	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/audit/auditgrpc"
	"github.com/parleyhq/parley/mcpbridge"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/sqlite"
	"github.com/parleyhq/parley/workspace"
)

type auditUserKey struct{}

// auditedGateway is the A2A face of a gateway whose calls are audited the
// way serve.go wires it: audit.Middleware around JSON-RPC, the audit gRPC
// interceptors after the (test) identity ones, records in a real SQLite
// file.
func auditedGateway(t *testing.T) (*gateway, *audit.Log, *appendCounter) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	counter := &appendCounter{Audit: st, appended: make(chan struct{}, 1000)}
	log := audit.New(counter, audit.Options{Principal: func(ctx context.Context) audit.Principal {
		name, _ := ctx.Value(auditUserKey{}).(string)
		return audit.Principal{Subject: name}
	}})
	// What auth does in front of the real server: the caller into the
	// context, before the audit layer reads it.
	withUser := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), auditUserKey{}, r.Header.Get(userHeader))))
		})
	}
	grpcUser := func(ctx context.Context) context.Context {
		md, _ := metadata.FromIncomingContext(ctx)
		if v := md.Get(userHeader); len(v) == 1 {
			ctx = context.WithValue(ctx, auditUserKey{}, v[0])
		}
		return ctx
	}
	describe := func(method string) audit.Entry {
		if method == "message/send" || method == "message/stream" {
			return audit.Entry{Action: audit.ActionA2AMessage, Target: "parley"}
		}
		return audit.Entry{Action: "a2a.call", Target: "parley"}
	}
	grpcOpts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			return h(grpcUser(ctx), req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			return h(srv, ctxStream{ss, grpcUser(ss.Context())})
		}),
	}
	grpcOpts = append(grpcOpts, auditgrpc.ServerOptions(log, func(full string) (audit.Entry, string, bool) {
		m := a2a.GRPCMethod(full)
		return describe(m), m, m != ""
	})...)

	ws := workspace.New(st, workspace.Options{})
	bridge, err := mcpbridge.New(ws, st, mcpbridge.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	hs := httptest.NewServer(mux)
	srv, err := a2a.NewServer(a2a.Options{
		Tools:             a2a.NewMCPTools(bridge.Server(), nil),
		Tasks:             st,
		PublicURL:         hs.URL,
		GRPCListen:        "127.0.0.1:0",
		Principal:         headerPrincipal,
		GRPCServerOptions: grpcOpts,
		Logger:            slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(a2a.JSONRPCPath, withUser(audit.Middleware(log, func(_ *http.Request, m string) (audit.Entry, bool) {
		return describe(m), m != ""
	})(srv.Handler())))
	mux.Handle(a2asrv.WellKnownAgentCardPath, srv.CardHandler())
	if err := srv.ListenGRPC(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	g := &gateway{st: st, srv: srv, http: hs}
	g.stop = func() {
		hs.CloseClientConnections()
		hs.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gRPC Run: %v", err)
		}
		st.Close()
	}
	t.Cleanup(g.stop)
	return g, log, counter
}

// appendCounter signals every record appended: a call's record is
// written once its handler has returned, which may be after the caller
// has its answer (a streamed one, or one larger than the server buffers).
type appendCounter struct {
	store.Audit
	appended chan struct{}
}

func (c *appendCounter) AppendAudit(ctx context.Context, r store.AuditRecord) (store.AuditRecord, error) {
	out, err := c.Audit.AppendAudit(ctx, r)
	if err == nil {
		c.appended <- struct{}{}
	}
	return out, err
}

// wait waits for n more records.
func (c *appendCounter) wait(t *testing.T, ctx context.Context, n int) {
	t.Helper()
	for i := range n {
		select {
		case <-c.appended:
		case <-ctx.Done():
			t.Fatalf("%d of %d records appended", i, n)
		}
	}
}

type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s ctxStream) Context() context.Context { return s.ctx }

// auditRow is what these tests check of a record.
type auditRow struct {
	Subject, Action, Target, Outcome, TaskID, Method, Reason string
}

func rowOf(t *testing.T, r audit.Record) auditRow {
	t.Helper()
	var d map[string]string
	if err := json.Unmarshal(r.Detail, &d); err != nil {
		t.Fatalf("record %d: detail %s: %v", r.Seq, r.Detail, err)
	}
	return auditRow{r.Subject, r.Action, r.Target, r.Outcome, r.TaskID, d["method"], d["reason"]}
}

// TestAuditOfCallsOnAnotherCallersTask: on both bindings, every attempt
// of one caller on another's task (read, cancel, resubscribe, continue,
// push notification configs) is refused as "not found" and recorded as
// denied, naming the task; the owner's own calls are recorded as they
// went, with the task; every gRPC call is recorded as its JSON-RPC twin
// is; a hostile 100 KB task ID is recorded bounded; the chain verifies.
// Before, these were "a2a.call ok" with no task, and gRPC calls were not
// recorded at all (issue 10, finding 8).
func TestAuditOfCallsOnAnotherCallersTask(t *testing.T) {
	g, log, counter := auditedGateway(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	hostile := strings.Repeat("x", 100<<10)

	for _, transport := range []a2ago.TransportProtocol{a2ago.TransportProtocolJSONRPC, a2ago.TransportProtocolGRPC} {
		t.Run(string(transport), func(t *testing.T) {
			alice := g.client(t, transport, "alice")
			bob := g.client(t, transport, "bob")
			res, err := alice.SendMessage(ctx, toolMessage("list_tickets", nil))
			if err != nil {
				t.Fatalf("alice's message/send: %v", err)
			}
			task, ok := res.(*a2ago.Task)
			if !ok {
				t.Fatalf("result %T", res)
			}
			id := task.ID
			if _, err := alice.GetTask(ctx, &a2ago.TaskQueryParams{ID: id}); err != nil {
				t.Fatalf("alice's tasks/get: %v", err)
			}
			counter.wait(t, ctx, 2)
			first, _, err := log.List(ctx, audit.Filter{Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			after := int64(0)
			if len(first) > 0 {
				after = first[len(first)-1].Seq
			}

			// Bob's attempts, each refused as if the task did not exist.
			attempts := []struct {
				method string
				call   func() error
			}{
				{"tasks/get", func() error { _, err := bob.GetTask(ctx, &a2ago.TaskQueryParams{ID: id}); return err }},
				{"tasks/cancel", func() error { _, err := bob.CancelTask(ctx, &a2ago.TaskIDParams{ID: id}); return err }},
				{"tasks/resubscribe", func() error {
					for _, err := range bob.ResubscribeToTask(ctx, &a2ago.TaskIDParams{ID: id}) {
						if err != nil {
							return err
						}
					}
					return nil
				}},
				{"message/send", func() error {
					msg := toolMessage("list_tickets", nil)
					msg.Message.TaskID = id
					_, err := bob.SendMessage(ctx, msg)
					return err
				}},
				{"tasks/pushNotificationConfig/set", func() error {
					_, err := bob.SetTaskPushConfig(ctx, &a2ago.TaskPushConfig{TaskID: id, Config: a2ago.PushConfig{URL: "https://bob.example.com/hook"}})
					return err
				}},
				{"tasks/pushNotificationConfig/get", func() error {
					_, err := bob.GetTaskPushConfig(ctx, &a2ago.GetTaskPushConfigParams{TaskID: id})
					return err
				}},
				{"tasks/pushNotificationConfig/list", func() error {
					_, err := bob.ListTaskPushConfig(ctx, &a2ago.ListTaskPushConfigParams{TaskID: id})
					return err
				}},
				{"tasks/pushNotificationConfig/delete", func() error {
					return bob.DeleteTaskPushConfig(ctx, &a2ago.DeleteTaskPushConfigParams{TaskID: id, ConfigID: "c1"})
				}},
			}
			var want []auditRow
			for _, a := range attempts {
				err := a.call()
				if err == nil || !strings.Contains(strings.ToLower(err.Error()), "task not found") {
					t.Errorf("bob's %s on alice's task: %v, want task not found", a.method, err)
				}
				action := "a2a.call"
				if a.method == "message/send" {
					action = audit.ActionA2AMessage
				}
				want = append(want, auditRow{"bob", action, "parley", audit.Denied, string(id), a.method, "the task belongs to another caller"})
			}
			// A task that does not exist, with a 100 KB ID: a failure,
			// naming the task in a bounded form.
			if _, err := bob.GetTask(ctx, &a2ago.TaskQueryParams{ID: a2ago.TaskID(hostile)}); err == nil {
				t.Error("tasks/get of an unknown task succeeded")
			}
			want = append(want, auditRow{"bob", "a2a.call", "parley", audit.Error, audit.BoundID(hostile), "tasks/get", "task not found"})
			// The owner's own calls go through, and say which task.
			if _, err := alice.CancelTask(ctx, &a2ago.TaskIDParams{ID: id}); err == nil {
				t.Error("cancelling a completed task succeeded")
			}
			want = append(want, auditRow{"alice", "a2a.call", "parley", audit.Error, string(id), "tasks/cancel", "task cannot be canceled"})
			if _, err := alice.GetTask(ctx, &a2ago.TaskQueryParams{ID: id}); err != nil {
				t.Errorf("alice's tasks/get: %v", err)
			}
			want = append(want, auditRow{"alice", "a2a.call", "parley", audit.OK, string(id), "tasks/get", ""})

			counter.wait(t, ctx, len(want))
			recs, _, err := log.List(ctx, audit.Filter{After: after, Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			var got []auditRow
			for _, r := range recs {
				got = append(got, rowOf(t, r))
				if len(r.TaskID) > audit.MaxIDBytes {
					t.Errorf("record %d keeps a %d-byte task ID", r.Seq, len(r.TaskID))
				}
			}
			// Records are in the order the calls' handlers returned,
			// which for a stream may be after the next call's.
			sortRows(got)
			sortRows(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("records:\n%s\nwant:\n%s", rows(got), rows(want))
			}
			// The first calls, alice's, are recorded too, with the task
			// the message created.
			if len(first) < 2 {
				t.Fatalf("alice's first calls left %d records", len(first))
			}
			wantFirst := []auditRow{
				{"alice", audit.ActionA2AMessage, "parley", audit.OK, string(id), "message/send", ""},
				{"alice", "a2a.call", "parley", audit.OK, string(id), "tasks/get", ""},
			}
			if gotFirst := []auditRow{rowOf(t, first[len(first)-2]), rowOf(t, first[len(first)-1])}; !reflect.DeepEqual(gotFirst, wantFirst) {
				t.Errorf("alice's first records:\n%s\nwant:\n%s", rows(gotFirst), rows(wantFirst))
			}
		})
	}

	res, err := log.Verify(ctx)
	if err != nil || !res.OK {
		t.Errorf("the chain does not verify: %+v, %v", res, err)
	}
}

func sortRows(rs []auditRow) {
	slices.SortFunc(rs, func(a, b auditRow) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
}

func rows(rs []auditRow) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "  %+v\n", r)
	}
	return b.String()
}

// TestRequestTaskID: the task a relayed JSON-RPC request names, in both
// A2A versions, for its audit record.
func TestRequestTaskID(t *testing.T) {
	tests := []struct {
		name string
		req  string
		want string
	}{
		{"0.3 tasks/get", `{"method":"tasks/get","params":{"id":"t1"}}`, "t1"},
		{"0.3 tasks/cancel", `{"method":"tasks/cancel","params":{"id":"t1"}}`, "t1"},
		{"0.3 tasks/resubscribe", `{"method":"tasks/resubscribe","params":{"id":"t1"}}`, "t1"},
		{"0.3 message continuing a task", `{"method":"message/send","params":{"message":{"taskId":"t1","messageId":"m"}}}`, "t1"},
		{"0.3 new message", `{"method":"message/stream","params":{"message":{"messageId":"m"}}}`, ""},
		{"0.3 push set", `{"method":"tasks/pushNotificationConfig/set","params":{"taskId":"t1","pushNotificationConfig":{"id":"c1"}}}`, "t1"},
		{"0.3 push get", `{"method":"tasks/pushNotificationConfig/get","params":{"id":"t1","pushNotificationConfigId":"c1"}}`, "t1"},
		{"1.0 GetTask", `{"method":"GetTask","params":{"id":"t1"}}`, "t1"},
		{"1.0 SubscribeToTask", `{"method":"SubscribeToTask","params":{"id":"t1"}}`, "t1"},
		{"1.0 SendMessage", `{"method":"SendMessage","params":{"message":{"taskId":"t1"}}}`, "t1"},
		{"1.0 push get names the config in id", `{"method":"GetTaskPushNotificationConfig","params":{"taskId":"t1","id":"c1"}}`, "t1"},
		{"no params", `{"method":"tasks/get"}`, ""},
		{"id not a string", `{"method":"tasks/get","params":{"id":7}}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req map[string]any
			if err := json.Unmarshal([]byte(tt.req), &req); err != nil {
				t.Fatal(err)
			}
			if got := a2a.RequestTaskID(req); got != tt.want {
				t.Errorf("RequestTaskID = %q, want %q", got, tt.want)
			}
		})
	}
}
