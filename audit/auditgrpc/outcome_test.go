package auditgrpc_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/audit/auditgrpc"
	"github.com/parleyhq/parley/audit/audittest"
)

// TestInterceptorOutcomes: the record of a gRPC call, by its status and
// what the handler noted.
func TestInterceptorOutcomes(t *testing.T) {
	describe := func(full string) (audit.Entry, string, bool) {
		if !strings.HasPrefix(full, "/a2a.v1.A2AService/") {
			return audit.Entry{}, "", false
		}
		return audit.Entry{Action: "a2a.call", Target: "parley"}, "tasks/get", true
	}
	type result struct {
		Outcome, TaskID string
		Detail          map[string]string
	}
	const get = "/a2a.v1.A2AService/GetTask"
	tests := []struct {
		name    string
		method  string
		handler func(ctx context.Context) error
		want    []result
	}{
		{"ok", get, func(ctx context.Context) error { audit.NoteTask(ctx, "t-1"); return nil },
			[]result{{audit.OK, "t-1", map[string]string{"grpc_code": "OK", "grpc_method": get, "method": "tasks/get"}}}},
		{"noted denial", get, func(ctx context.Context) error {
			audit.NoteTask(ctx, "t-1")
			audit.NoteDenied(ctx, "the task belongs to another caller")
			return status.Error(codes.NotFound, "task not found")
		}, []result{{audit.Denied, "t-1", map[string]string{"grpc_code": "NotFound", "grpc_method": get, "method": "tasks/get", "reason": "the task belongs to another caller"}}}},
		{"error status", get, func(ctx context.Context) error { return status.Error(codes.Internal, "boom") },
			[]result{{audit.Error, "", map[string]string{"grpc_code": "Internal", "grpc_method": get, "method": "tasks/get"}}}},
		{"permission denied", get, func(ctx context.Context) error { return status.Error(codes.PermissionDenied, "no") },
			[]result{{audit.Denied, "", map[string]string{"grpc_code": "PermissionDenied", "grpc_method": get, "method": "tasks/get"}}}},
		{"unauthenticated", get, func(ctx context.Context) error { return status.Error(codes.Unauthenticated, "who") },
			[]result{{audit.Denied, "", map[string]string{"grpc_code": "Unauthenticated", "grpc_method": get, "method": "tasks/get"}}}},
		{"another service", "/grpc.health.v1.Health/Check", func(ctx context.Context) error { return nil }, nil},
	}
	for _, tt := range tests {
		for _, kind := range []string{"unary", "stream"} {
			t.Run(tt.name+"/"+kind, func(t *testing.T) {
				st := audittest.OpenSQLite(t)
				log := audit.New(st, audit.Options{}) // not run: each record is appended at once
				ctx := t.Context()
				var err error
				switch kind {
				case "unary":
					_, err = auditgrpc.UnaryServerInterceptor(log, describe)(ctx, nil, &grpc.UnaryServerInfo{FullMethod: tt.method},
						func(ctx context.Context, _ any) (any, error) { return nil, tt.handler(ctx) })
				case "stream":
					err = auditgrpc.StreamServerInterceptor(log, describe)(nil, ctxStream{ctx: ctx}, &grpc.StreamServerInfo{FullMethod: tt.method},
						func(_ any, ss grpc.ServerStream) error { return tt.handler(ss.Context()) })
				}
				if want := tt.handler(context.Background()); status.Code(err) != status.Code(want) {
					t.Errorf("the interceptor returned %v, want the handler's %v", err, want)
				}
				recs, _, err := log.List(ctx, audit.Filter{})
				if err != nil {
					t.Fatal(err)
				}
				var got []result
				for _, r := range recs {
					res := result{Outcome: r.Outcome, TaskID: r.TaskID}
					if err := json.Unmarshal(r.Detail, &res.Detail); err != nil {
						t.Fatalf("detail %s: %v", r.Detail, err)
					}
					got = append(got, res)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("records (-want +got):\n%s", diff)
				}
			})
		}
	}
}
