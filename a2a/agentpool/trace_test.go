package agentpool_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/google/go-cmp/cmp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/parleyhq/parley/a2a/agentpool"
	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/agentcards/agentcardstest"
	"github.com/parleyhq/parley/observe"
)

// A call to an agent is a client span "A2A SendMessage" under the
// caller's span, and the agent gets that span's context in traceparent,
// on every HTTP binding and version.
func TestPoolTraceContext(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	t.Cleanup(observe.Install(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))))
	tracer := observe.NewTracer("test")
	for _, binding := range []string{agentcardstest.BindingJSONRPC, agentcardstest.BindingREST, agentcardstest.BindingJSONRPC03} {
		t.Run(binding, func(t *testing.T) {
			ctx := t.Context()
			reg := newRegistry(t)
			peer := agentcardstest.NewPeer1(t, "billing", nil, binding)
			if _, err := reg.Register(ctx, agentcards.Registration{URL: peer.URL()}); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var sent []string
			pool := agentpool.New(reg, agentpool.Options{
				Guard: reg.Guard(),
				Outbound: func(_ string, base http.RoundTripper) http.RoundTripper {
					return roundTripper(func(r *http.Request) (*http.Response, error) {
						mu.Lock()
						sent = append(sent, r.Header.Get("Traceparent"))
						mu.Unlock()
						return base.RoundTrip(r)
					})
				},
			})
			t.Cleanup(pool.Close)
			client, _, err := pool.Client(ctx, "billing")
			if err != nil {
				t.Fatal(err)
			}
			ctx, parent := tracer.Start(ctx, "negotiation.turn")
			rec.Reset()
			_, err = client.SendMessage(ctx, &a2a.SendMessageRequest{Message: a2a.NewMessage(a2a.MessageRoleUser, a2a.NewTextPart("refund 350"))})
			parent.End()
			if err != nil {
				t.Fatal(err)
			}
			var call sdktrace.ReadOnlySpan
			for _, s := range rec.Ended() {
				if s.Name() == "A2A SendMessage" {
					call = s
				}
			}
			if call == nil || call.SpanKind() != trace.SpanKindClient || call.Parent().SpanID() != parent.SpanContext().SpanID() {
				t.Fatalf("no client span A2A SendMessage under the caller's span (got %v)", call)
			}
			want := "00-" + call.SpanContext().TraceID().String() + "-" + call.SpanContext().SpanID().String() + "-01"
			mu.Lock()
			defer mu.Unlock()
			if diff := cmp.Diff([]string{want}, sent); diff != "" {
				t.Errorf("traceparent sent to the agent (-want +got):\n%s", diff)
			}
		})
	}
}
