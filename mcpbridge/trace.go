package mcpbridge

// Spans of the MCP face, after the OpenTelemetry semantic conventions for
// MCP: one server span per request, "{mcp.method.name} {target}" (the
// tool or prompt name), under the caller's trace context, which a
// 2026-07-28 request carries in its _meta ("traceparent", "tracestate")
// and any request in its HTTP headers; and the resources/updated
// notifications sent for a change, under the span that made it.

import (
	"context"
	"errors"
	"reflect"
	"strconv"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/parleyhq/parley/observe"
	"github.com/parleyhq/parley/store"
)

var tracer = observe.NewTracer("github.com/parleyhq/parley/mcpbridge")

// Attribute keys of the MCP and GenAI semantic conventions (not yet in a
// released semconv package).
const (
	attrMCPMethod          = attribute.Key("mcp.method.name")
	attrMCPSessionID       = attribute.Key("mcp.session.id")
	attrMCPProtocolVersion = attribute.Key("mcp.protocol.version")
	attrMCPResourceURI     = attribute.Key("mcp.resource.uri")
	attrToolName           = attribute.Key("gen_ai.tool.name")
	attrPromptName         = attribute.Key("gen_ai.prompt.name")
	attrOperationName      = attribute.Key("gen_ai.operation.name")
	attrJSONRPCVersion     = attribute.Key("jsonrpc.protocol.version")
	attrRPCStatusCode      = attribute.Key("rpc.response.status_code")
	attrNetworkTransport   = attribute.Key("network.transport")
	attrNetworkProtocol    = attribute.Key("network.protocol.name")
)

// TraceMiddleware is a go-sdk receiving middleware that gives every MCP
// request a server span and runs the request under it, so that what the
// handler does (rules, store writes, upstream calls, log lines) joins the
// caller's trace. Add it outermost (last), so that the span covers auth
// and audit too. With tracing off it only calls next.
func TraceMiddleware() mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if !observe.On() {
				return next(ctx, method, req)
			}
			return traceRequest(ctx, next, method, req)
		}
	}
}

func traceRequest(ctx context.Context, next mcp.MethodHandler, method string, req mcp.Request) (mcp.Result, error) {
	params := requestParams(req)
	var header map[string][]string
	if extra := req.GetExtra(); extra != nil {
		header = extra.Header
	}
	ctx = requestParent(ctx, params, header)
	attrs := make([]attribute.KeyValue, 0, 8)
	attrs = append(attrs, attrMCPMethod.String(method), attrJSONRPCVersion.String("2.0"),
		attrNetworkTransport.String("tcp"), attrNetworkProtocol.String("http"))
	name := method
	switch p := params.(type) {
	case *mcp.CallToolParamsRaw:
		name += " " + p.Name
		attrs = append(attrs, attrToolName.String(p.Name), attrOperationName.String("execute_tool"))
	case *mcp.GetPromptParams:
		name += " " + p.Name
		attrs = append(attrs, attrPromptName.String(p.Name))
	case *mcp.ReadResourceParams:
		attrs = append(attrs, attrMCPResourceURI.String(p.URI))
	case *mcp.SubscribeParams:
		attrs = append(attrs, attrMCPResourceURI.String(p.URI))
	case *mcp.UnsubscribeParams:
		attrs = append(attrs, attrMCPResourceURI.String(p.URI))
	}
	if s := req.GetSession(); s != nil {
		if id := s.ID(); id != "" {
			attrs = append(attrs, attrMCPSessionID.String(id))
		}
	}
	if v := protocolVersion(req, header); v != "" {
		attrs = append(attrs, attrMCPProtocolVersion.String(v))
	}
	ctx, span := tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
	defer span.End()
	res, err := next(ctx, method, req)
	endRequestSpan(span, res, err)
	return res, err
}

// requestParent is ctx with the caller's span context as the parent:
// _meta's on a 2026-07-28 request (the MCP convention, which wins), else
// the HTTP headers'. Without either the span starts a trace of its own: a
// session's handler context is the session's, not this request's, so a
// span it holds is no parent of this request.
func requestParent(ctx context.Context, params mcp.Params, header map[string][]string) context.Context {
	if params != nil {
		if meta := params.GetMeta(); observe.MetaTraceParent(meta) {
			if pctx := observe.ExtractMeta(ctx, meta); trace.SpanContextFromContext(pctx).IsRemote() {
				return pctx
			}
		}
	}
	if header != nil {
		if pctx := observe.ExtractHTTP(ctx, header); trace.SpanContextFromContext(pctx).IsRemote() {
			return pctx
		}
	}
	return trace.ContextWithSpanContext(ctx, trace.SpanContext{}) // a new root
}

// requestParams is req's params, nil if it has none (a typed nil pointer
// included: GetMeta would dereference it).
func requestParams(req mcp.Request) mcp.Params {
	p := req.GetParams()
	if p == nil {
		return nil
	}
	if v := reflect.ValueOf(p); v.Kind() == reflect.Pointer && v.IsNil() {
		return nil
	}
	return p
}

// protocolVersion is the request's MCP protocol revision: its header
// (every request of 2025-06-18 and later carries it), else what the
// session negotiated.
func protocolVersion(req mcp.Request, header map[string][]string) string {
	if v := header["Mcp-Protocol-Version"]; len(v) > 0 && v[0] != "" {
		return v[0]
	}
	if ss, ok := req.GetSession().(*mcp.ServerSession); ok && ss != nil {
		if ip := ss.InitializeParams(); ip != nil {
			return ip.ProtocolVersion
		}
	}
	return ""
}

// endRequestSpan records how the request ended: a JSON-RPC error (its
// code as error.type and rpc.response.status_code), a tool error result
// ("tool_error"), or success.
func endRequestSpan(span trace.Span, res mcp.Result, err error) {
	if err != nil {
		errType := observe.ErrorTypeFallback
		var werr *jsonrpc.Error
		if errors.As(err, &werr) {
			errType = strconv.FormatInt(werr.Code, 10)
			span.SetAttributes(attrRPCStatusCode.String(errType))
		}
		span.SetAttributes(observe.AttrErrorType.String(errType))
		span.SetStatus(codes.Error, err.Error())
		return
	}
	if r, ok := res.(*mcp.CallToolResult); ok && r != nil && r.IsError {
		span.SetAttributes(observe.AttrErrorType.String("tool_error"))
		span.SetStatus(codes.Error, toolErrorText(r))
	}
}

// startNotifySpan starts the span of the resources/updated notifications
// sent for a change, under the span that made the change when this
// process noted it (observe.NoteChange), so that a negotiation's
// write-back and the notifications it causes are one trace.
func startNotifySpan(ctx context.Context, c store.Change, uris []string) (context.Context, trace.Span) {
	if !observe.On() || len(uris) == 0 {
		return ctx, trace.SpanFromContext(context.Background())
	}
	nctx := observe.ChangeContext(ctx, c.Kind, c.Key, c.Version)
	if nctx == ctx {
		// A change this process did not note (another replica's, or a
		// write no trace follows): no span, rather than a trace of one
		// span per change.
		return ctx, trace.SpanFromContext(context.Background())
	}
	return tracer.Start(nctx, methodResourceUpdated, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attrMCPMethod.String(methodResourceUpdated), attrMCPResourceURI.String(uris[0]),
			attribute.Int("parley.notifications.uris", len(uris))))
}
