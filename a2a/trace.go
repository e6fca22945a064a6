package a2a

// Spans of the gateway's own A2A face: one span per A2A call
// ("A2A SendMessage"), on every binding. Under JSON-RPC and REST it is a
// child of the HTTP request's server span (the gateway's middleware took
// the caller's trace context from the headers); under gRPC, where no HTTP
// span exists, it is the server span, under the trace context the call's
// metadata carries.

import (
	"context"

	a2ago "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2asrv"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/parleyhq/parley/internal/a2aevent"
	"github.com/parleyhq/parley/observe"
)

var tracer = observe.NewTracer("github.com/parleyhq/parley/a2a")

// traceInterceptor starts the span of each call in Before and ends it in
// After: at the answer, or for a stream at its first error or last event.
// Put it first, so that a call another interceptor refuses still ends its
// span (a2a-go calls After of the interceptors before the refusing one).
type traceInterceptor struct {
	a2asrv.PassthroughCallInterceptor
}

type callSpanKey struct{}

func (traceInterceptor) Before(ctx context.Context, callCtx *a2asrv.CallContext, req *a2asrv.Request) (context.Context, any, error) {
	if !observe.On() || callCtx == nil {
		return ctx, nil, nil
	}
	kind := trace.SpanKindInternal
	if sc := trace.SpanContextFromContext(ctx); !sc.IsValid() || sc.IsRemote() {
		// No HTTP span (gRPC): this is the server span, under what the
		// caller sent in its metadata.
		kind = trace.SpanKindServer
		if p := callCtx.ServiceParams(); p != nil {
			if v, ok := p.Get(observe.TraceParentKey); ok && len(v) > 0 {
				ctx = observe.Propagator().Extract(ctx, serviceParamsCarrier{p})
			}
		}
	}
	attrs := []attribute.KeyValue{observe.AttrRPCSystem.String(observe.RPCSystemA2A), observe.AttrRPCMethod.String(callCtx.Method())}
	if req != nil {
		if p, ok := req.Payload.(*a2ago.SendMessageRequest); ok && p != nil && p.Message != nil && p.Message.ContextID != "" {
			attrs = append(attrs, observe.AttrA2AContextID.String(p.Message.ContextID))
		}
	}
	ctx, span := tracer.Start(ctx, "A2A "+callCtx.Method(), trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
	return context.WithValue(ctx, callSpanKey{}, span), nil, nil
}

func (traceInterceptor) After(ctx context.Context, callCtx *a2asrv.CallContext, resp *a2asrv.Response) error {
	if !observe.On() {
		return nil // no span was started (and no context lookup is spent)
	}
	span, ok := ctx.Value(callSpanKey{}).(trace.Span)
	if !ok || resp == nil {
		return nil
	}
	if resp.Err != nil {
		span.SetAttributes(observe.AttrErrorType.String(failureReason(resp.Err)))
		span.SetStatus(codes.Error, resp.Err.Error())
		span.End()
		return nil
	}
	if id := responseTaskID(resp.Payload); id != "" {
		span.SetAttributes(observe.AttrA2ATaskID.String(string(id)))
	}
	if m := callCtx.Method(); !a2aevent.Streaming(m) || a2aevent.Last(resp.Payload) {
		span.End()
	}
	return nil
}

// serviceParamsCarrier reads the trace context from a call's service
// parameters (gRPC metadata, HTTP headers).
type serviceParamsCarrier struct{ p *a2asrv.ServiceParams }

func (c serviceParamsCarrier) Get(key string) string {
	if v, ok := c.p.Get(key); ok && len(v) > 0 {
		return v[0]
	}
	return ""
}

func (serviceParamsCarrier) Set(string, string) {}

func (c serviceParamsCarrier) Keys() []string {
	var keys []string
	for k := range c.p.List() {
		keys = append(keys, k)
	}
	return keys
}
