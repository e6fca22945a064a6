package audit

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// DescribeGRPC says what a gRPC call does, for its audit record, from its
// full method name (/package.Service/Method): the entry (Action and Target
// at least), the protocol method to name in the detail (for A2A, the
// JSON-RPC method the call is the twin of, so that both bindings read
// alike), and whether to record the call at all.
type DescribeGRPC func(fullMethod string) (e Entry, method string, ok bool)

// GRPCServerOptions are the unary and stream interceptors that append one
// record per call describe accepts, once the call has ended, as Middleware
// does for HTTP: outcome OK, Denied (Unauthenticated, PermissionDenied) or
// Error by the call's status, unless the handler noted worse (NoteDenied,
// NoteFailed); the task noted (NoteTask) in the links; the method, the
// gRPC method and status code, and the reason noted in the detail; a
// Read entry's record queued, any other's committed first. An entry
// marked WithWrite is committed with the call's first store write, if it
// makes one (Log.Intend), as Middleware does: with outcome OK and the
// detail "committed_write": "true", at the time of the write; if the call
// then fails, a second record says so ("after_committed_write"). Add
// them after the authentication interceptors, so that records name the
// caller (calls refused there are recorded by the auth hooks).
func GRPCServerOptions(log *Log, describe DescribeGRPC) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(UnaryServerInterceptor(log, describe)),
		grpc.ChainStreamInterceptor(StreamServerInterceptor(log, describe)),
	}
}

// UnaryServerInterceptor audits unary calls (see GRPCServerOptions).
func UnaryServerInterceptor(log *Log, describe DescribeGRPC) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		entry, method, ok := describe(info.FullMethod)
		if !ok {
			return handler(ctx, req)
		}
		ctx, note := WithNote(ctx)
		wctx, intent := intendGRPC(ctx, log, entry, method, info.FullMethod, note)
		resp, err := handler(wctx, req)
		appendGRPC(ctx, log, entry, method, info.FullMethod, note, intent.Close(), err)
		return resp, err
	}
}

// StreamServerInterceptor audits streaming calls (see GRPCServerOptions):
// the record is written when the stream ends.
func StreamServerInterceptor(log *Log, describe DescribeGRPC) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		entry, method, ok := describe(info.FullMethod)
		if !ok {
			return handler(srv, ss)
		}
		ctx, note := WithNote(ss.Context())
		wctx, intent := intendGRPC(ctx, log, entry, method, info.FullMethod, note)
		err := handler(srv, &notedStream{ServerStream: ss, ctx: wctx})
		appendGRPC(ctx, log, entry, method, info.FullMethod, note, intent.Close(), err)
		return err
	}
}

type notedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *notedStream) Context() context.Context { return s.ctx }

// intendGRPC returns the context for the handler of a call: for a
// WithWrite entry, one whose first store write commits the call's record
// (outcome OK, as the call stands then), and the Intent to close once
// the handler has returned; else ctx and nil.
func intendGRPC(ctx context.Context, log *Log, entry Entry, method, fullMethod string, note *Note) (context.Context, *Intent) {
	if !entry.WithWrite || entry.Read {
		return ctx, nil
	}
	return log.Intend(ctx, func() Entry {
		e := entry
		e.Outcome = OK
		reason := note.apply(&e)
		if e.Detail == nil {
			detail := map[string]string{"committed_write": "true", "grpc_method": fullMethod}
			if method != "" {
				detail["method"] = method
			}
			if reason != "" {
				detail["reason"] = reason
			}
			e.Detail = detail
		}
		return e
	})
}

// appendGRPC records a call once its handler has returned. committed: a
// store write committed its record (intendGRPC).
func appendGRPC(ctx context.Context, log *Log, entry Entry, method, fullMethod string, note *Note, committed bool, err error) {
	code := status.Code(err)
	switch code {
	case codes.OK:
		entry.Outcome = OK
	case codes.Unauthenticated, codes.PermissionDenied:
		entry.Outcome = Denied
	default:
		entry.Outcome = Error
	}
	reason := note.apply(&entry)
	detail := map[string]string{"grpc_method": fullMethod, "grpc_code": code.String()}
	if method != "" {
		detail["method"] = method
	}
	if reason != "" {
		detail["reason"] = reason
	}
	if committed {
		if entry.Outcome == OK {
			return // recorded with the write, and chained by Run
		}
		detail["after_committed_write"] = "true"
	}
	if entry.Detail == nil {
		entry.Detail = detail
	}
	// Logs its own failures; a write's record is committed before the
	// call's status is sent.
	log.appendAs(ctx, entry)
}
