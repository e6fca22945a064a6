package gateway

// The HTTP server span of every request but MCP's: the caller's trace
// context (traceparent, tracestate headers) is taken as its parent, and
// everything the handler does runs under it. MCP requests get their
// server span from the MCP face instead (mcpbridge.TraceMiddleware), after
// the MCP conventions, under the trace context of their _meta or headers:
// one HTTP request may carry several MCP messages, and a session's
// requests run in the session's context, not the request's.

import (
	"net"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/parleyhq/parley/observe"
)

var tracer = observe.NewTracer("github.com/parleyhq/parley/gateway")

// untracedPaths are the paths whose requests get no span: MCP's (its face
// makes its own) and the probes and scrapes, which would bury the traces
// worth reading.
var untracedPaths = map[string]bool{"/mcp": true, healthzPath: true, readyzPath: true, MetricsPath: true}

// trace starts the request's server span. With tracing off it only calls
// next.
func (g *Gateway) trace(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !observe.On() || untracedPaths[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		ctx := observe.ExtractHTTP(r.Context(), r.Header)
		if !trace.SpanContextFromContext(ctx).IsRemote() {
			ctx = trace.ContextWithSpanContext(ctx, trace.SpanContext{}) // a trace of its own
		}
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		ctx, span := tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
			attribute.String("http.request.method", r.Method),
			attribute.String("url.path", r.URL.Path),
			attribute.String("url.scheme", scheme),
			attribute.String("client.address", clientHost(r.RemoteAddr)),
			attribute.String("parley.request_id", RequestIDFrom(r.Context())),
		))
		defer span.End()
		// chi's wrapper keeps Flusher and Hijacker visible to streaming
		// handlers.
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r.WithContext(ctx))
		status := ww.Status()
		if status == 0 {
			status = http.StatusOK
		}
		if rc := chi.RouteContext(ctx); rc != nil {
			if route := rc.RoutePattern(); route != "" {
				span.SetName(r.Method + " " + route)
				span.SetAttributes(attribute.String("http.route", route))
			}
		}
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if status >= http.StatusInternalServerError {
			span.SetAttributes(attribute.String("error.type", strconv.Itoa(status)))
			span.SetStatus(codes.Error, "")
		}
	})
}

// clientHost is the host of a remote address (host:port).
func clientHost(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}
