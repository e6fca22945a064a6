package mcpbridge

// Spans of the requests Parley forwards to upstream MCP servers: one
// client span per request sent ("tools/call {tool}"), whose trace context
// goes upstream in the request's _meta (traceparent, tracestate: what a
// 2026-07-28 server reads) and in its HTTP headers (upstream.traced), in
// place of the host's own, so that the upstream's spans are children of
// Parley's.

import (
	"context"
	"maps"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/parleyhq/parley/observe"
)

const attrUpstream = attribute.Key("parley.upstream")

// startUpstreamSpan starts the client span of op, as a child of the
// host's request span in ctx.
func startUpstreamSpan(ctx context.Context, op *upstreamOp) (context.Context, trace.Span) {
	if !observe.On() || !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, trace.SpanFromContext(context.Background())
	}
	name := op.method
	attrs := []attribute.KeyValue{attrMCPMethod.String(op.method), attrUpstream.String(op.conn.Name()),
		attrJSONRPCVersion.String("2.0")}
	switch op.method {
	case "tools/call":
		name += " " + op.name
		attrs = append(attrs, attrToolName.String(op.name), attrOperationName.String("execute_tool"))
	case "prompts/get":
		name += " " + op.name
		attrs = append(attrs, attrPromptName.String(op.name))
	case "resources/read":
		attrs = append(attrs, attrMCPResourceURI.String(op.name))
	}
	if v := op.conn.Generation(); v != "" {
		attrs = append(attrs, attrMCPProtocolVersion.String(v))
	}
	return tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// tracedMeta is meta with ctx's trace context in it (a copy, when there
// is one to add), replacing what the host sent.
func tracedMeta(ctx context.Context, meta mcp.Meta) mcp.Meta {
	if !observe.On() || !trace.SpanContextFromContext(ctx).IsValid() {
		return meta
	}
	out := maps.Clone(meta)
	if out == nil {
		out = mcp.Meta{}
	}
	delete(out, observe.TraceStateKey)
	observe.InjectMeta(ctx, out)
	return out
}

// endUpstreamSpan records how the upstream answered.
func endUpstreamSpan(span trace.Span, res mcp.Result, err error) {
	if !span.IsRecording() {
		return
	}
	endRequestSpan(span, res, err)
	span.End()
}

// withSpanOf is ctx (which outlives the host's request) with the span of
// the host request in req, so that a call that runs on past the request
// (a session upstream's) is still in the host's trace.
func withSpanOf(ctx, req context.Context) context.Context {
	if !observe.On() {
		return ctx
	}
	if sc := trace.SpanContextFromContext(req); sc.IsValid() {
		return trace.ContextWithSpanContext(ctx, sc)
	}
	return ctx
}
