package observe

// Trace context in and out: W3C traceparent, tracestate and baggage, in
// HTTP headers (every face, calls to agents and upstreams), gRPC metadata
// (through the same header-shaped maps), MCP _meta (2026-07-28 requests
// carry "traceparent" and "tracestate" there) and the negotiation's stored
// state (a string map), so that work that continues elsewhere, later, on
// another replica, stays in its trace. With tracing off every helper
// returns at once.

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Keys of the W3C trace context, in headers and in MCP _meta.
const (
	TraceParentKey = "traceparent"
	TraceStateKey  = "tracestate"
	baggageKey     = "baggage"
)

// ExtractHTTP returns ctx with the remote span context h carries (its
// traceparent header), if any, as the parent of the spans started next.
func ExtractHTTP(ctx context.Context, h http.Header) context.Context {
	if !On() || h.Get(TraceParentKey) == "" {
		return ctx
	}
	return propagator.Extract(ctx, propagation.HeaderCarrier(h))
}

// InjectHTTP writes ctx's span context (and baggage) into h, for the peer
// a request goes to.
func InjectHTTP(ctx context.Context, h http.Header) {
	if !On() || !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	propagator.Inject(ctx, propagation.HeaderCarrier(h))
}

// metaCarrier reads and writes an MCP request's _meta map: its string
// values under the W3C keys.
type metaCarrier map[string]any

func (m metaCarrier) Get(key string) string {
	s, _ := m[key].(string)
	return s
}

func (m metaCarrier) Set(key, value string) { m[key] = value }

func (m metaCarrier) Keys() []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

// MetaTraceParent reports whether an MCP _meta map carries a traceparent.
func MetaTraceParent(meta map[string]any) bool {
	s, ok := meta[TraceParentKey].(string)
	return ok && s != ""
}

// ExtractMeta returns ctx with the remote span context an MCP request's
// _meta carries ("traceparent", "tracestate", "baggage"), if any.
func ExtractMeta(ctx context.Context, meta map[string]any) context.Context {
	if !On() || !MetaTraceParent(meta) {
		return ctx
	}
	return propagator.Extract(ctx, metaCarrier(meta))
}

// InjectMeta writes ctx's span context into an MCP request's _meta (which
// must not be nil), for an upstream server reading it there.
func InjectMeta(ctx context.Context, meta map[string]any) {
	if !On() || !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	propagator.Inject(ctx, metaCarrier(meta))
}

// Carrier is a span context saved for later (a negotiation's stored
// state), as the W3C header fields: nil when there is none.
type Carrier map[string]string

// Save returns ctx's span context as a Carrier, nil when tracing is off or
// ctx carries no span.
func Save(ctx context.Context) Carrier {
	if !On() || !trace.SpanContextFromContext(ctx).IsValid() {
		return nil
	}
	c := Carrier{}
	propagator.Inject(ctx, propagation.MapCarrier(c))
	return c
}

// Restore returns ctx with the span context c saved as the remote parent
// of the spans started next.
func Restore(ctx context.Context, c Carrier) context.Context {
	if !On() || c[TraceParentKey] == "" {
		return ctx
	}
	return propagator.Extract(ctx, propagation.MapCarrier(c))
}

// Propagator is the W3C trace context and baggage propagator Parley uses,
// for packages that carry context in a shape of their own (gRPC metadata).
func Propagator() propagation.TextMapPropagator { return propagator }
