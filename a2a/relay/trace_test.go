package relay_test

import (
	"net/http"
	"testing"

	a2ago "github.com/a2aproject/a2a-go/a2a"
	"github.com/google/go-cmp/cmp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/parleyhq/parley/observe"
)

// A relayed call is a client span "POST relay" under the relayed
// request's span (the gateway's HTTP span, here a stand-in), and the agent
// gets that client span as its parent in traceparent, in place of the
// caller's.
func TestRelayTraceContext(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	t.Cleanup(observe.Install(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))))
	tracer := observe.NewTracer("test")
	const callerTrace = "0af7651916cd43dd8448eb211c80319c"
	env := newRelayEnvWith(t, nil, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, span := tracer.Start(observe.ExtractHTTP(r.Context(), r.Header), "POST /a2a/agents/*",
				trace.WithSpanKind(trace.SpanKindServer))
			defer span.End()
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	})
	agent := startAgent(t, "billing", newCompleteExecutor("billing"))
	env.register(t, agent)
	client := env.client(t, "billing", map[string]string{userHeader: "alice",
		"Traceparent": "00-" + callerTrace + "-b7ad6b7169203331-01"})
	if _, err := client.SendMessage(t.Context(), &a2ago.MessageSendParams{Message: a2ago.NewMessage(a2ago.MessageRoleUser, a2ago.TextPart{Text: "refund 350"})}); err != nil {
		t.Fatal(err)
	}
	var server, relayed sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		switch s.Name() {
		case "POST /a2a/agents/*":
			server = s
		case "POST relay":
			relayed = s
		}
	}
	if server == nil || relayed == nil || relayed.Parent().SpanID() != server.SpanContext().SpanID() || relayed.SpanKind() != trace.SpanKindClient {
		t.Fatalf("want a client span POST relay under the request's span; spans: %v", rec.Ended())
	}
	want := "00-" + callerTrace + "-" + relayed.SpanContext().SpanID().String() + "-01"
	if diff := cmp.Diff(want, agent.last(t).header.Get("Traceparent")); diff != "" {
		t.Errorf("the agent's traceparent (-want +got):\n%s", diff)
	}
}
