package a2a

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	a2ago "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2acompat/a2av0"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/audit/auditgrpc"
	"github.com/parleyhq/parley/mcpbridge"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/sqlite"
)

type auditUserKey struct{}

// auditedWiring audits the face's calls in st as the gateway's assembly
// does (app/a2a.go, app/app.go, app/auditing.go): audit.Middleware around
// JSON-RPC and REST (REST calls described by RESTMethod), the audit gRPC
// interceptors after the (test) identity ones (gRPC calls described by
// GRPCMethod), the log's group commit running beside the servers. The
// entries are app's a2aEntry's: messages as a2a.message, reads queued,
// writes committed with the call's first store write.
func auditedWiring(st *sqlite.Store) (wiring, *audit.Log, *chainCounter) {
	counter := &chainCounter{Store: st, chained: make(chan struct{}, 10000)}
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
	grpcOpts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			return h(grpcUser(ctx), req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			return h(srv, ctxStream{ss, grpcUser(ss.Context())})
		}),
	}
	grpcOpts = append(grpcOpts, auditgrpc.ServerOptions(log, func(full string) (audit.Entry, string, bool) {
		m := GRPCMethod(full)
		return auditEntry(m), m, m != ""
	})...)
	return wiring{
		jsonrpc: func(h http.Handler) http.Handler {
			return withUser(audit.Middleware(log, func(_ *http.Request, m string) (audit.Entry, bool) {
				return auditEntry(m), m != ""
			})(h))
		},
		rest: func(h http.Handler) http.Handler {
			return withUser(audit.Middleware(log, func(r *http.Request, _ string) (audit.Entry, bool) {
				m := RESTMethod(r.Method, r.URL.Path)
				e := auditEntry(m)
				e.Method = m
				return e, m != ""
			})(h))
		},
		grpc: grpcOpts,
		run:  log.Run,
	}, log, counter
}

// auditEntry is app's a2aEntry (app/auditing.go), which this package
// cannot import.
func auditEntry(method string) audit.Entry {
	action := "a2a.call"
	switch method {
	case "message/send", "message/stream", "SendMessage", "SendStreamingMessage":
		action = audit.ActionA2AMessage
	}
	var read, write bool
	switch method {
	case "tasks/get", "GetTask", "ListTasks", "tasks/list", "GetExtendedAgentCard", "agent/getAuthenticatedExtendedCard",
		"tasks/pushNotificationConfig/get", "tasks/pushNotificationConfig/list",
		"GetTaskPushNotificationConfig", "ListTaskPushNotificationConfigs", "ListTaskPushNotificationConfig":
		read = true
	case "message/send", "message/stream", "SendMessage", "SendStreamingMessage", "tasks/cancel", "CancelTask",
		"tasks/pushNotificationConfig/set", "CreateTaskPushNotificationConfig",
		"tasks/pushNotificationConfig/delete", "DeleteTaskPushNotificationConfig":
		write = true
	}
	return audit.Entry{Action: action, Target: "parley", Read: read, WithWrite: write}
}

// chainCounter signals every record added to the chain, however it gets
// there (appended, in a batch, moved from the outbox a write left it in):
// a call's record is written once its handler has returned, which may be
// after the caller has its answer (a streamed one).
type chainCounter struct {
	*sqlite.Store
	chained chan struct{}
}

func (c *chainCounter) signal(n int) {
	for range n {
		c.chained <- struct{}{}
	}
}

func (c *chainCounter) AppendAudit(ctx context.Context, r store.AuditRecord) (store.AuditRecord, error) {
	out, err := c.Store.AppendAudit(ctx, r)
	if err == nil {
		c.signal(1)
	}
	return out, err
}

func (c *chainCounter) AppendAuditBatch(ctx context.Context, rs []store.AuditRecord) ([]store.AuditRecord, error) {
	out, err := c.Store.AppendAuditBatch(ctx, rs)
	if err == nil {
		c.signal(len(out))
	}
	return out, err
}

func (c *chainCounter) ChainAuditOutbox(ctx context.Context, rs []store.AuditRecord, limit int) ([]store.AuditRecord, int, error) {
	out, moved, err := c.Store.ChainAuditOutbox(ctx, rs, limit)
	if err == nil {
		c.signal(len(out) + moved)
	}
	return out, moved, err
}

// wait waits for n more records in the chain.
func (c *chainCounter) wait(t *testing.T, ctx context.Context, n int) {
	t.Helper()
	for i := range n {
		select {
		case <-c.chained:
		case <-ctx.Done():
			t.Fatalf("%d of %d records chained", i, n)
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

// The ownedCalls (ownership_test.go), in order, with their methods.
var auditedMethods = [][2]string{
	{"GetTask", "tasks/get"},
	{"CancelTask", "tasks/cancel"},
	{"SubscribeToTask", "tasks/resubscribe"},
	{"SendMessage", "message/send"},
	{"CreateTaskPushNotificationConfig", "tasks/pushNotificationConfig/set"},
	{"GetTaskPushNotificationConfig", "tasks/pushNotificationConfig/get"},
	{"ListTaskPushNotificationConfigs", "tasks/pushNotificationConfig/list"},
	{"DeleteTaskPushNotificationConfig", "tasks/pushNotificationConfig/delete"},
}

// TestAuditOfCallsOnAnotherCallersTask: on every binding, every attempt
// of one caller on another's task (get, cancel, subscribe, continue with
// a message, push-notification configs) is refused as "not found" and
// recorded as denied, naming the task; the owner's own calls are recorded
// as they went, with the task; gRPC and REST calls are recorded as their
// JSON-RPC twins are; a hostile 100 KB task ID is recorded bounded; the
// chain verifies.
func TestAuditOfCallsOnAnotherCallersTask(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "parley.db"))
	w, log, counter := auditedWiring(st)
	g := startDurableGateway(t, st, w)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	hostile := strings.Repeat("x", 100<<10)
	if len(ownedCalls) != len(auditedMethods) {
		t.Fatalf("%d owned calls, %d methods for them", len(ownedCalls), len(auditedMethods))
	}

	for _, b := range bindings {
		t.Run(b.name, func(t *testing.T) {
			method := func(i int) string {
				if b.version == a2av0.Version {
					return auditedMethods[i][1]
				}
				return auditedMethods[i][0]
			}
			get, cancelM, send := method(0), method(1), method(3)
			alice := g.client(t, b, "alice")
			bob := g.client(t, b, "bob")
			res, err := alice.SendMessage(ctx, toolMessage(mcpbridge.ToolGetStatus, nil))
			if err != nil {
				t.Fatalf("alice's message: %v", err)
			}
			task, ok := res.(*a2ago.Task)
			if !ok {
				t.Fatalf("result %T", res)
			}
			id := task.ID
			if _, err := alice.GetTask(ctx, &a2ago.GetTaskRequest{ID: id}); err != nil {
				t.Fatalf("alice's GetTask: %v", err)
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
			var want []auditRow
			for i, call := range ownedCalls {
				if err := call.call(ctx, bob, id); !isNotFound(err) {
					t.Errorf("bob's %s on alice's task: %v, want task not found", call.name, err)
				}
				action := "a2a.call"
				if i == 3 {
					action = audit.ActionA2AMessage
				}
				want = append(want, auditRow{"bob", action, "parley", audit.Denied, string(id), method(i), deniedOtherCallersTask})
			}
			// A task that does not exist, with a 100 KB ID: a failure,
			// naming the task in a bounded form.
			if _, err := bob.GetTask(ctx, &a2ago.GetTaskRequest{ID: a2ago.TaskID(hostile)}); !isNotFound(err) {
				t.Errorf("GetTask of an unknown task: %v, want task not found", err)
			}
			want = append(want, auditRow{"bob", "a2a.call", "parley", audit.Error, audit.BoundID(hostile), get, "task not found"})
			// The owner's own calls go through, and say which task.
			if _, err := alice.CancelTask(ctx, &a2ago.CancelTaskRequest{ID: id}); err == nil {
				t.Error("cancelling a completed task succeeded")
			}
			want = append(want, auditRow{"alice", "a2a.call", "parley", audit.Error, string(id), cancelM, "task cannot be canceled"})
			if _, err := alice.GetTask(ctx, &a2ago.GetTaskRequest{ID: id}); err != nil {
				t.Errorf("alice's GetTask: %v", err)
			}
			want = append(want, auditRow{"alice", "a2a.call", "parley", audit.OK, string(id), get, ""})

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
			// Records are in the order they were chained: reads are
			// queued, writes committed at once, a stream's when it ends.
			sortRows(got)
			sortRows(want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
			// The first calls, alice's, are recorded too, with the task
			// the message created.
			if len(first) < 2 {
				t.Fatalf("alice's first calls left %d records", len(first))
			}
			wantFirst := []auditRow{
				{"alice", audit.ActionA2AMessage, "parley", audit.OK, string(id), send, ""},
				{"alice", "a2a.call", "parley", audit.OK, string(id), get, ""},
			}
			gotFirst := []auditRow{rowOf(t, first[len(first)-2]), rowOf(t, first[len(first)-1])}
			sortRows(gotFirst)
			sortRows(wantFirst)
			if diff := cmp.Diff(wantFirst, gotFirst); diff != "" {
				t.Errorf("alice's first records (-want +got):\n%s", diff)
			}
		})
	}

	res, err := log.Verify(ctx)
	if err != nil || !res.OK {
		t.Errorf("the chain does not verify: %+v, %v", res, err)
	}
	if res.OK && res.Records == 0 {
		t.Error("the chain verified with no records")
	}
}

func sortRows(rs []auditRow) {
	slices.SortFunc(rs, func(a, b auditRow) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
}
