// Package auditgrpc records gRPC calls in the audit log, as
// audit.Middleware does HTTP requests. It is a package of its own so that
// what uses the audit log without serving gRPC (the negotiation engine,
// the MCP bridge) does not link the gRPC server stack: only the gateway's
// assembly, which builds the A2A gRPC face, imports it.
package auditgrpc

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/parleyhq/parley/audit"
)

// Describe says what a gRPC call does, for its audit record, from its
// full method name (/package.Service/Method): the entry (Action and Target
// at least), the protocol method to name in the detail (for A2A, the
// JSON-RPC method the call is the twin of, so that both bindings read
// alike), and whether to record the call at all.
type Describe func(fullMethod string) (e audit.Entry, method string, ok bool)

// ServerOptions are the unary and stream interceptors that append one
// record per call describe accepts, once the call has ended, as
// audit.Middleware does for HTTP: outcome OK, Denied (Unauthenticated,
// PermissionDenied) or Error by the call's status, unless the handler
// noted worse (audit.NoteDenied, audit.NoteFailed); the task noted
// (audit.NoteTask) in the links; the method, the gRPC method and status
// code, and the reason noted in the detail; a Read entry's record queued,
// any other's committed first. An entry marked WithWrite is committed
// with the call's first store write, if it makes one (Log.Intend), as
// audit.Middleware does: with outcome OK and the detail
// "committed_write": "true", at the time of the write; if the call then
// fails, a second record says so ("after_committed_write"). Add them
// after the authentication interceptors, so that records name the caller
// (calls refused there are recorded by the auth hooks).
func ServerOptions(log *audit.Log, describe Describe) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(UnaryServerInterceptor(log, describe)),
		grpc.ChainStreamInterceptor(StreamServerInterceptor(log, describe)),
	}
}

// UnaryServerInterceptor audits unary calls (see ServerOptions).
func UnaryServerInterceptor(log *audit.Log, describe Describe) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		entry, method, ok := describe(info.FullMethod)
		if !ok {
			return handler(ctx, req)
		}
		wctx, call := log.BeginCall(ctx, entry, callDetail(method, info.FullMethod))
		resp, err := handler(wctx, req)
		end(ctx, call, method, info.FullMethod, err)
		return resp, err
	}
}

// StreamServerInterceptor audits streaming calls (see ServerOptions): the
// record is written when the stream ends.
func StreamServerInterceptor(log *audit.Log, describe Describe) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		entry, method, ok := describe(info.FullMethod)
		if !ok {
			return handler(srv, ss)
		}
		wctx, call := log.BeginCall(ss.Context(), entry, callDetail(method, info.FullMethod))
		err := handler(srv, &notedStream{ServerStream: ss, ctx: wctx})
		end(ss.Context(), call, method, info.FullMethod, err)
		return err
	}
}

// notedStream hands the handler the context that carries the call's Note
// (and Intent).
type notedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *notedStream) Context() context.Context { return s.ctx }

// callDetail names a call in the detail of every record of it.
func callDetail(method, fullMethod string) map[string]string {
	d := map[string]string{"grpc_method": fullMethod}
	if method != "" {
		d["method"] = method
	}
	return d
}

// end records a call once its handler has returned, by its status.
func end(ctx context.Context, call *audit.Call, method, fullMethod string, err error) {
	code := status.Code(err)
	outcome := audit.Error
	switch code {
	case codes.OK:
		outcome = audit.OK
	case codes.Unauthenticated, codes.PermissionDenied:
		outcome = audit.Denied
	}
	detail := callDetail(method, fullMethod)
	detail["grpc_code"] = code.String()
	// Logs its own failures; a write's record is committed before the
	// call's status is sent.
	call.End(ctx, outcome, detail)
}
