package auditgrpc_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/audit/auditgrpc"
	"github.com/parleyhq/parley/audit/audittest"
	"github.com/parleyhq/parley/store"
)

// The interceptors commit a WithWrite entry's record with the call's
// first write (the Log here never runs: the record waits in the outbox),
// record a call that failed after its write a second time, and one that
// wrote nothing after it, as any other: as the HTTP middleware does
// (audit's TestMiddlewareCommitsWithTheWrite), for unary and streaming calls.
func TestInterceptorsCommitWithTheWrite(t *testing.T) {
	const full = "/a2a.v1.A2AService/SendMessage"
	type rec struct {
		Action, Target, Outcome, TaskID string
		Detail                          map[string]string
	}
	for _, tt := range []struct {
		name      string
		withWrite bool
		handler   func(ctx context.Context, st store.Store) error
		// after the call, before a Log runs
		wantChained, wantPending int64
		// after a fresh Log has run, in chain order
		want []rec
	}{
		{
			name: "written", withWrite: true,
			handler: func(ctx context.Context, st store.Store) error {
				audit.NoteTask(ctx, "task-1")
				return audittest.CreateTicket(ctx, st, "T-1")
			},
			wantPending: 1,
			want: []rec{{audit.ActionA2AMessage, "parley", audit.OK, "task-1",
				map[string]string{"committed_write": "true", "grpc_method": full, "method": "message/send"}}},
		},
		{
			name: "written, then failed", withWrite: true,
			handler: func(ctx context.Context, st store.Store) error {
				if err := audittest.CreateTicket(ctx, st, "T-1"); err != nil {
					return err
				}
				audit.NoteTask(ctx, "task-1")
				return status.Error(codes.Internal, "the answer could not be built")
			},
			wantChained: 1, wantPending: 1,
			want: []rec{
				{audit.ActionA2AMessage, "parley", audit.Error, "task-1",
					map[string]string{"after_committed_write": "true", "grpc_code": "Internal", "grpc_method": full, "method": "message/send"}},
				// The task was noted after the write: the record committed
				// with it says what was known then.
				{audit.ActionA2AMessage, "parley", audit.OK, "",
					map[string]string{"committed_write": "true", "grpc_method": full, "method": "message/send"}},
			},
		},
		{
			name: "refused before writing", withWrite: true,
			handler: func(ctx context.Context, _ store.Store) error {
				audit.NoteDenied(ctx, "the task belongs to another caller")
				return status.Error(codes.NotFound, "task not found")
			},
			wantChained: 1,
			want: []rec{{audit.ActionA2AMessage, "parley", audit.Denied, "",
				map[string]string{"grpc_code": "NotFound", "grpc_method": full, "method": "message/send", "reason": "the task belongs to another caller"}}},
		},
		{
			name: "written, entry not WithWrite",
			handler: func(ctx context.Context, st store.Store) error {
				return audittest.CreateTicket(ctx, st, "T-1")
			},
			wantChained: 1,
			want: []rec{{audit.ActionA2AMessage, "parley", audit.OK, "",
				map[string]string{"grpc_code": "OK", "grpc_method": full, "method": "message/send"}}},
		},
	} {
		for _, kind := range []string{"unary", "stream"} {
			t.Run(tt.name+"/"+kind, func(t *testing.T) {
				st := audittest.OpenSQLite(t)
				l := audit.New(st, audit.Options{})
				describe := func(string) (audit.Entry, string, bool) {
					return audit.Entry{Action: audit.ActionA2AMessage, Target: "parley", WithWrite: tt.withWrite}, "message/send", true
				}
				ctx := t.Context()
				switch kind {
				case "unary":
					_, _ = auditgrpc.UnaryServerInterceptor(l, describe)(ctx, nil, &grpc.UnaryServerInfo{FullMethod: full},
						func(ctx context.Context, _ any) (any, error) { return nil, tt.handler(ctx, st) })
				case "stream":
					_ = auditgrpc.StreamServerInterceptor(l, describe)(nil, ctxStream{ctx: ctx}, &grpc.StreamServerInfo{FullMethod: full},
						func(_ any, ss grpc.ServerStream) error { return tt.handler(ss.Context(), st) })
				}

				if chained, pending := audittest.Counts(t, st); chained != tt.wantChained || pending != tt.wantPending {
					t.Errorf("after the call: %d records chained, %d in the outbox; want %d and %d", chained, pending, tt.wantChained, tt.wantPending)
				}
				fresh := audit.New(st, audit.Options{})
				stopped, stop := context.WithCancel(ctx)
				stop()
				if err := fresh.Run(stopped); err != nil { // chains the outbox as it starts
					t.Fatal(err)
				}
				recs, _, err := fresh.List(ctx, audit.Filter{})
				if err != nil {
					t.Fatal(err)
				}
				var got []rec
				for _, r := range recs {
					var d map[string]string
					if err := json.Unmarshal(r.Detail, &d); err != nil {
						t.Fatalf("detail %s: %v", r.Detail, err)
					}
					got = append(got, rec{r.Action, r.Target, r.Outcome, r.TaskID, d})
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("records (-want +got):\n%s", diff)
				}
				if res, err := fresh.Verify(ctx); err != nil || !res.OK || res.Pending != 0 {
					t.Errorf("Verify = %+v, %v; want OK, none pending", res, err)
				}
			})
		}
	}
}

// ctxStream is a server stream that has only a context.
type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s ctxStream) Context() context.Context { return s.ctx }
