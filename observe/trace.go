package observe

// OpenTelemetry tracing for every package: the tracer each instrumented
// package starts its spans with, which follows the provider installed for
// the process (observe/tracing builds it: OTLP/HTTP from the OTEL_*
// environment variables and the config), and W3C trace context and
// baggage in and out (trace_propagation.go). With none installed, which
// is the case without an endpoint, every span helper returns at once (On
// reports false): no span is created, no context allocated, nothing
// exported. This file links only OpenTelemetry's API, not its SDK or
// exporters, so that domain packages stay free of gRPC.

import (
	"context"
	"sync/atomic"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// installed is the trace pipeline the span helpers use, nil when tracing
// is off.
type installed struct {
	provider trace.TracerProvider
}

var active atomic.Pointer[installed]

// propagator is W3C trace context and baggage, used in and out on every
// face (HTTP headers, gRPC metadata, MCP _meta).
var propagator propagation.TextMapPropagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// Install makes tp the provider of every span Parley starts, until the
// returned function uninstalls it (if it is still the one installed).
// observe/tracing installs the OTLP pipeline it builds; nothing installs
// one when tracing is off.
func Install(tp trace.TracerProvider) (uninstall func()) {
	s := &installed{provider: tp}
	active.Store(s)
	return func() { active.CompareAndSwap(s, nil) }
}

// On reports whether a trace pipeline is installed. Span helpers check it
// first, so that with tracing off they cost one atomic load.
func On() bool { return active.Load() != nil }

// noSpan is what Start returns when tracing is off: ending it, or setting
// attributes on it, does nothing (and a zero-size value in an interface
// allocates nothing).
var noSpan trace.Span = noop.Span{}

// Tracer is a named tracer (the instrumenting package's import path) that
// follows the installed pipeline: create one per package, at package
// level, and start spans with it.
type Tracer struct {
	name  string
	cache atomic.Pointer[tracerCache]
}

type tracerCache struct {
	state  *installed
	tracer trace.Tracer
}

// NewTracer returns the tracer of the package whose import path is name.
func NewTracer(name string) *Tracer { return &Tracer{name: name} }

// Start starts a span as a child of the span in ctx (or of the remote
// parent Extract put there). With tracing off it returns ctx and a span
// that does nothing.
func (t *Tracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	s := active.Load()
	if s == nil {
		return ctx, noSpan
	}
	c := t.cache.Load()
	if c == nil || c.state != s {
		c = &tracerCache{state: s, tracer: s.provider.Tracer(t.name)}
		t.cache.Store(c)
	}
	return c.tracer.Start(ctx, name, opts...)
}
