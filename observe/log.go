package observe

// Log lines written inside a span carry its trace_id and span_id, so that
// a trace viewer's span and the gateway's log lines about it can be
// joined either way.

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// Attribute keys of the trace ids in log records.
const (
	LogTraceID = "trace_id"
	LogSpanID  = "span_id"
)

// LogHandler wraps next so that every record logged with a context that
// carries a span (slog's *Context methods, or a handler given one) has
// trace_id and span_id attributes. Records without one pass unchanged, at
// the cost of a context lookup.
func LogHandler(next slog.Handler) slog.Handler { return traceLogHandler{next: next} }

type traceLogHandler struct{ next slog.Handler }

func (h traceLogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h traceLogHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx != nil {
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			// A copy that shares nothing with the caller's record, which
			// another handler may still read.
			r = r.Clone()
			r.AddAttrs(slog.String(LogTraceID, sc.TraceID().String()), slog.String(LogSpanID, sc.SpanID().String()))
		}
	}
	return h.next.Handle(ctx, r)
}

func (h traceLogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return traceLogHandler{next: h.next.WithAttrs(as)}
}

func (h traceLogHandler) WithGroup(name string) slog.Handler {
	return traceLogHandler{next: h.next.WithGroup(name)}
}
