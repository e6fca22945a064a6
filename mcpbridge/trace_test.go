package mcpbridge

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/parleyhq/parley/observe"
)

// headerTransport adds a traceparent header to every request, as a host
// that propagates context in HTTP headers does.
type headerTransport struct{ traceparent string }

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if h.traceparent != "" {
		r = r.Clone(r.Context())
		r.Header.Set("Traceparent", h.traceparent)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// An MCP request's span is a server span "tools/call {tool}" with the MCP
// conventions' attributes, under the trace context the host sent: in
// _meta (which wins) or in the HTTP headers; without either it starts a
// trace of its own. The tool runs under it. Real go-sdk client and server
// over HTTP, both protocol generations.
func TestTraceMiddleware(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	t.Cleanup(observe.Install(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))))

	const (
		metaTrace, metaSpan     = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
		headerTrace, headerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	)
	metaParent := "00-" + metaTrace + "-" + metaSpan + "-01"
	headerParent := "00-" + headerTrace + "-" + headerSpan + "-01"

	var inTool trace.SpanContext
	server := mcp.NewServer(&mcp.Implementation{Name: "test"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "echo"}, func(ctx context.Context, _ *mcp.CallToolRequest, in struct{}) (*mcp.CallToolResult, struct{}, error) {
		inTool = trace.SpanContextFromContext(ctx)
		return nil, struct{}{}, nil
	})
	server.AddReceivingMiddleware(TraceMiddleware())
	getServer := func(*http.Request) *mcp.Server { return server }
	stateless := httptest.NewServer(mcp.NewStreamableHTTPHandler(getServer, &mcp.StreamableHTTPOptions{Stateless: true}))
	defer stateless.Close()
	sessions := httptest.NewServer(mcp.NewStreamableHTTPHandler(getServer, nil))
	defer sessions.Close()

	tests := []struct {
		name       string
		url        string
		version    string // pinned protocol version; "" for the newest
		meta       mcp.Meta
		header     string
		wantTrace  string // "" for a new trace
		wantParent string
	}{
		{"2026-07-28 _meta", stateless.URL, "", mcp.Meta{"traceparent": metaParent}, "", metaTrace, metaSpan},
		{"2026-07-28 _meta wins over headers", stateless.URL, "", mcp.Meta{"traceparent": metaParent}, headerParent, metaTrace, metaSpan},
		{"2026-07-28 headers", stateless.URL, "", nil, headerParent, headerTrace, headerSpan},
		{"2026-07-28 none", stateless.URL, "", nil, "", "", ""},
		{"session headers", sessions.URL, "2025-11-25", nil, headerParent, headerTrace, headerSpan},
		{"session none", sessions.URL, "2025-11-25", nil, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := mcp.NewClient(&mcp.Implementation{Name: "host"}, nil)
			cs, err := client.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: tt.url,
				HTTPClient: &http.Client{Transport: headerTransport{tt.header}}}, &mcp.ClientSessionOptions{ProtocolVersion: tt.version})
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			rec.Reset()
			if _, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Meta: tt.meta, Name: "echo", Arguments: map[string]any{}}); err != nil {
				t.Fatal(err)
			}
			var span sdktrace.ReadOnlySpan
			for _, s := range rec.Ended() {
				if s.Name() == "tools/call echo" {
					span = s
				}
			}
			if span == nil {
				t.Fatalf("no tools/call echo span among %d", len(rec.Ended()))
			}
			if !inTool.Equal(span.SpanContext()) {
				t.Errorf("the tool ran under %v, not the request's span %v", inTool, span.SpanContext())
			}
			gotTrace, gotParent := span.SpanContext().TraceID().String(), span.Parent().SpanID().String()
			if tt.wantTrace == "" {
				if span.Parent().IsValid() || gotTrace == metaTrace || gotTrace == headerTrace {
					t.Errorf("span in trace %s under %s, want a new trace", gotTrace, gotParent)
				}
			} else if gotTrace != tt.wantTrace || gotParent != tt.wantParent {
				t.Errorf("span in trace %s under %s, want %s under %s", gotTrace, gotParent, tt.wantTrace, tt.wantParent)
			}
			attrs := map[string]string{}
			for _, kv := range span.Attributes() {
				attrs[string(kv.Key)] = kv.Value.Emit()
			}
			want := map[string]string{"mcp.method.name": "tools/call", "gen_ai.tool.name": "echo", "gen_ai.operation.name": "execute_tool",
				"jsonrpc.protocol.version": "2.0", "network.transport": "tcp", "network.protocol.name": "http",
				"mcp.protocol.version": cs.InitializeResult().ProtocolVersion}
			if id := cs.ID(); id != "" {
				want["mcp.session.id"] = id
			}
			if diff := cmp.Diff(want, attrs); diff != "" {
				t.Errorf("attributes (-want +got):\n%s", diff)
			}
			if span.SpanKind() != trace.SpanKindServer {
				t.Errorf("kind %v, want server", span.SpanKind())
			}
		})
	}
}

// A forwarded request's _meta carries Parley's span, not the host's, and
// keeps the host's other entries.
func TestTracedMeta(t *testing.T) {
	in := mcp.Meta{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "tracestate": "host=1", "progressToken": "p"}
	if got := tracedMeta(t.Context(), in); !cmp.Equal(got, in) {
		t.Errorf("with tracing off the meta changed: %v", got)
	}
	rec := tracetest.NewSpanRecorder()
	t.Cleanup(observe.Install(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))))
	ctx, span := tracer.Start(t.Context(), "tools/call x")
	defer span.End()
	got := tracedMeta(ctx, in)
	want := mcp.Meta{"traceparent": "00-" + span.SpanContext().TraceID().String() + "-" + span.SpanContext().SpanID().String() + "-01", "progressToken": "p"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("meta (-want +got):\n%s", diff)
	}
	if in["traceparent"] != "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" {
		t.Error("the host's meta was changed")
	}
}
