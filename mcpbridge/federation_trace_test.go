package mcpbridge

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/parleyhq/parley/observe"
)

// A call forwarded to an upstream is a client span "tools/call {tool}"
// under the host's request span, and the upstream gets that client span
// as its parent, in the request's _meta and in its HTTP headers (not the
// host's traceparent), whichever generation it speaks.
func TestFederationTraceContext(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	t.Cleanup(observe.Install(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))))
	const hostTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	hostParent := "00-" + hostTrace + "-00f067aa0ba902b7-01"

	for _, stateless := range []bool{true, false} {
		var mu sync.Mutex
		var gotMeta, gotHeader string
		s := mcp.NewServer(&mcp.Implementation{Name: "traced-upstream", Version: "1"}, nil)
		mcp.AddTool(s, &mcp.Tool{Name: "echo"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, struct{}, error) {
			mu.Lock()
			defer mu.Unlock()
			gotMeta, _ = req.Params.GetMeta()["traceparent"].(string)
			gotHeader = req.Extra.Header.Get("Traceparent")
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, struct{}{}, nil
		})
		srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: stateless}))
		t.Cleanup(srv.Close)
		f := federate(t, srv.URL)
		f.bridge.Server().AddReceivingMiddleware(TraceMiddleware())

		t.Run(map[bool]string{true: "upstream 2026-07-28", false: "upstream 2025-11-25"}[stateless], func(t *testing.T) {
			cs := f.connect(t, "", nil)
			rec.Reset()
			res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "up_echo", Arguments: map[string]any{}, Meta: mcp.Meta{"traceparent": hostParent}})
			if err != nil || res.IsError {
				t.Fatalf("up_echo: %v %+v", err, res)
			}
			var host, client sdktrace.ReadOnlySpan
			for _, sp := range rec.Ended() {
				switch {
				case sp.Name() == "tools/call up_echo" && sp.SpanKind() == trace.SpanKindServer:
					host = sp
				case sp.Name() == "tools/call echo" && sp.SpanKind() == trace.SpanKindClient:
					client = sp
				}
			}
			if host == nil || client == nil || client.Parent().SpanID() != host.SpanContext().SpanID() || host.SpanContext().TraceID().String() != hostTrace {
				t.Fatalf("want the client span tools/call echo under the host's tools/call up_echo in the host's trace; got %v %v", host, client)
			}
			want := "00-" + hostTrace + "-" + client.SpanContext().SpanID().String() + "-01"
			mu.Lock()
			defer mu.Unlock()
			if diff := cmp.Diff([]string{want, want}, []string{gotMeta, gotHeader}); diff != "" {
				t.Errorf("traceparent the upstream got in _meta and headers (-want +got):\n%s", diff)
			}
		})
	}
}
