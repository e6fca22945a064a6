package observe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/parleyhq/parley/observe"
)

// install installs a recording provider for the test's duration (tests
// that install one do not run in parallel: the provider is the process's).
func install(t *testing.T) *tracetest.SpanRecorder {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	uninstall := observe.Install(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	t.Cleanup(uninstall)
	return rec
}

var tracer = observe.NewTracer("github.com/parleyhq/parley/observe_test")

// A traceparent as a caller sends it.
const (
	callerTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpan   = "00f067aa0ba902b7"
	callerParent = "00-" + callerTrace + "-" + callerSpan + "-01"
)

// With no provider installed, starting a span costs nothing and changes
// nothing: the context is returned as it was.
func TestTracerOff(t *testing.T) {
	ctx := t.Context()
	allocs := testing.AllocsPerRun(100, func() {
		c, span := tracer.Start(ctx, "x")
		span.End()
		if c != ctx {
			t.Fatal("the context changed with tracing off")
		}
	})
	if allocs != 0 {
		t.Errorf("Start and End allocate %v times with tracing off, want 0", allocs)
	}
	if observe.On() {
		t.Fatal("On with nothing installed")
	}
	h := http.Header{}
	observe.InjectHTTP(ctx, h)
	meta := map[string]any{}
	observe.InjectMeta(ctx, meta)
	if len(h) > 0 || len(meta) > 0 || observe.Save(ctx) != nil {
		t.Errorf("trace context written with tracing off: %v %v", h, meta)
	}
}

// The caller's context comes in through _meta (2026-07-28 MCP requests)
// and headers, and the span started under it is its child; it goes out
// through headers, _meta and a saved carrier as the current span.
func TestPropagation(t *testing.T) {
	rec := install(t)
	tests := []struct {
		name    string
		extract func(context.Context) context.Context
	}{
		{"_meta", func(ctx context.Context) context.Context {
			return observe.ExtractMeta(ctx, map[string]any{"traceparent": callerParent, "progressToken": 1})
		}},
		{"headers", func(ctx context.Context) context.Context {
			return observe.ExtractHTTP(ctx, http.Header{"Traceparent": {callerParent}})
		}},
		{"saved carrier", func(ctx context.Context) context.Context {
			return observe.Restore(ctx, observe.Carrier{"traceparent": callerParent})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, span := tracer.Start(tt.extract(t.Context()), "child")
			span.End()
			got := rec.Ended()[len(rec.Ended())-1]
			if got.SpanContext().TraceID().String() != callerTrace || got.Parent().SpanID().String() != callerSpan || !got.Parent().IsRemote() {
				t.Errorf("span %v under parent %v, want a child of the caller's %s", got.SpanContext(), got.Parent(), callerParent)
			}
			want := "00-" + callerTrace + "-" + span.SpanContext().SpanID().String() + "-01"
			h := http.Header{}
			observe.InjectHTTP(ctx, h)
			meta := map[string]any{"progressToken": 1}
			observe.InjectMeta(ctx, meta)
			if diff := cmp.Diff(want, h.Get("traceparent")); diff != "" {
				t.Errorf("header traceparent (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(map[string]any{"traceparent": want, "progressToken": 1}, meta); diff != "" {
				t.Errorf("_meta (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(observe.Carrier{"traceparent": want}, observe.Save(ctx)); diff != "" {
				t.Errorf("saved (-want +got):\n%s", diff)
			}
		})
	}
	// Without a traceparent, nothing is extracted.
	ctx := observe.ExtractMeta(t.Context(), map[string]any{"tracestate": "a=b"})
	if trace.SpanContextFromContext(ctx).IsValid() {
		t.Error("a span context from _meta without traceparent")
	}
}

// Requests through Transport carry the trace: the context's own span, or
// with Span a client span of their own; the caller's traceparent a relay
// copied in is replaced. With tracing off the request passes untouched.
func TestTransport(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Clone() }))
	defer srv.Close()
	send := func(t *testing.T, ctx context.Context, opts observe.TransportOptions) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, nil)
		req.Header.Set("Traceparent", callerParent) // as the relay copies it
		resp, err := (&http.Client{Transport: observe.Transport(nil, opts)}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if req.Header.Get("Traceparent") != callerParent {
			t.Error("the transport changed the caller's request")
		}
	}

	t.Run("off", func(t *testing.T) {
		send(t, t.Context(), observe.TransportOptions{Span: true})
		if got.Get("Traceparent") != callerParent {
			t.Errorf("traceparent %q, want the caller's, untouched", got.Get("Traceparent"))
		}
	})
	rec := install(t)
	ctx, parent := tracer.Start(observe.ExtractHTTP(t.Context(), http.Header{"Traceparent": {callerParent}}), "call")
	defer parent.End()
	t.Run("context's span", func(t *testing.T) {
		send(t, ctx, observe.TransportOptions{})
		want := "00-" + callerTrace + "-" + parent.SpanContext().SpanID().String() + "-01"
		if diff := cmp.Diff(want, got.Get("Traceparent")); diff != "" {
			t.Errorf("traceparent (-want +got):\n%s", diff)
		}
	})
	t.Run("client span", func(t *testing.T) {
		send(t, ctx, observe.TransportOptions{Span: true, SpanName: "relay"})
		ended := rec.Ended()
		client := ended[len(ended)-1]
		if client.Name() != "POST relay" || client.SpanKind() != trace.SpanKindClient || client.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Fatalf("span %q kind %v parent %v, want the client span POST relay under the call", client.Name(), client.SpanKind(), client.Parent().SpanID())
		}
		want := "00-" + callerTrace + "-" + client.SpanContext().SpanID().String() + "-01"
		if diff := cmp.Diff(want, got.Get("Traceparent")); diff != "" {
			t.Errorf("traceparent (-want +got):\n%s", diff)
		}
	})
}

// A log line written inside a span carries its trace_id and span_id; one
// outside any span carries neither.
func TestLogHandler(t *testing.T) {
	install(t)
	ctx, span := tracer.Start(observe.ExtractHTTP(t.Context(), http.Header{"Traceparent": {callerParent}}), "work")
	defer span.End()
	tests := []struct {
		name string
		ctx  context.Context
		want map[string]any
	}{
		{"inside a span", ctx, map[string]any{"msg": "hello", "k": "v", "trace_id": callerTrace, "span_id": span.SpanContext().SpanID().String()}},
		{"outside", t.Context(), map[string]any{"msg": "hello", "k": "v"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(observe.LogHandler(slog.NewJSONHandler(&buf, &slog.HandlerOptions{
				ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
					if a.Key == slog.TimeKey || a.Key == slog.LevelKey {
						return slog.Attr{}
					}
					return a
				}}))).With("k", "v")
			log.InfoContext(tt.ctx, "hello")
			var got map[string]any
			if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
				t.Fatalf("%v: %s", err, &buf)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("log record (-want +got):\n%s", diff)
			}
		})
	}
}

// A change noted under a span gives its followers that span as parent;
// one not noted, or taken back after a failed write, none.
func TestChangeContext(t *testing.T) {
	install(t)
	ctx, span := tracer.Start(t.Context(), "write")
	defer span.End()
	observe.NoteChange(ctx, "ticket", "T-1", 2)
	got := trace.SpanContextFromContext(observe.ChangeContext(t.Context(), "ticket", "T-1", 2))
	if got.SpanID() != span.SpanContext().SpanID() {
		t.Errorf("the noted change's context is %v, want the writer's span %v", got.SpanID(), span.SpanContext().SpanID())
	}
	// A write that failed takes its note back; another span's note stays.
	observe.NoteChange(ctx, "ticket", "T-3", 1)
	observe.ForgetChange(t.Context(), "ticket", "T-1", 2) // not the writer's span
	observe.ForgetChange(ctx, "ticket", "T-3", 1)
	if sc := trace.SpanContextFromContext(observe.ChangeContext(t.Context(), "ticket", "T-1", 2)); sc.SpanID() != span.SpanContext().SpanID() {
		t.Error("another span's forget removed the writer's note")
	}
	if sc := trace.SpanContextFromContext(observe.ChangeContext(t.Context(), "ticket", "T-3", 1)); sc.IsValid() {
		t.Error("a forgotten change still has its writer's context")
	}
	for _, other := range []struct {
		key     string
		version int64
	}{{"T-1", 3}, {"T-2", 2}} {
		if sc := trace.SpanContextFromContext(observe.ChangeContext(t.Context(), "ticket", other.key, other.version)); sc.IsValid() {
			t.Errorf("change %s v%d has the context of another change", other.key, other.version)
		}
	}
}
