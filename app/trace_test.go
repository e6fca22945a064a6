package app_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	a2ago "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2aclient"
	grpcv1 "github.com/a2aproject/a2a-go/v2/a2agrpc/v1"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/parleyhq/parley/app"
	"github.com/parleyhq/parley/internal/otlpreceiver"
)

// syncBuffer is a log destination written from the gateway's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// With tracing.endpoint set, an A2A call is a server span for its HTTP
// request under the caller's traceparent, with the A2A method's span
// inside it, and on gRPC a server span under the metadata's traceparent;
// Close flushes them to the collector; the access log line carries the
// trace's ID.
func TestTracingConfig(t *testing.T) {
	// The config's endpoint, not the environment's; a developer's own
	// OTEL_* settings must not drop the spans.
	for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED",
		"OTEL_TRACES_EXPORTER", "OTEL_TRACES_SAMPLER", "OTEL_SERVICE_NAME", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		t.Setenv(k, "")
	}
	rcv := otlpreceiver.Start()
	defer rcv.Close()
	cfg := testConfig(t)
	cfg.Tracing.Endpoint = rcv.URL()
	cfg.Tracing.ServiceName = "parley-app-test"
	var logs syncBuffer
	a, err := app.Build(t.Context(), cfg, app.Options{Logger: app.NewLogger(cfg, &logs)})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if !a.Tracing.Enabled() {
		t.Fatal("tracing is off although tracing.endpoint is set")
	}
	runCtx, stop := context.WithCancel(t.Context())
	ran := make(chan error, 1)
	go func() { ran <- a.Run(runCtx) }()

	const callerTrace, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	const grpcTrace = "0af7651916cd43dd8448eb211c80319c"
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, a.URL+"/a2a",
		strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{"id":"no-such-task"}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Traceparent", "00-"+callerTrace+"-"+callerSpan+"-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// On gRPC there is no HTTP span: the A2A call's span is the server
	// span, under the metadata's traceparent.
	conn, err := grpc.NewClient(a.A2A.GRPCTarget(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = grpcv1.NewGRPCTransport(conn).GetTask(t.Context(), a2aclient.ServiceParams{"traceparent": {"00-" + grpcTrace + "-" + callerSpan + "-01"}},
		&a2ago.GetTaskRequest{ID: "no-such-task"})
	stop()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil { // flushes the spans
		t.Fatal(err)
	}

	spans, bad := rcv.Spans()
	if len(bad) > 0 {
		t.Fatal(bad)
	}
	type span struct {
		Name, Parent, Service string
		Kind                  tracepb.Span_SpanKind
		Error                 bool
	}
	byID := map[string]string{}
	for _, s := range spans {
		byID[s.SpanID] = s.Name
	}
	var got []span
	for _, s := range spans {
		if s.TraceID != callerTrace && s.TraceID != grpcTrace {
			continue
		}
		parent := byID[s.ParentID]
		if s.ParentID == callerSpan {
			parent = "caller"
		}
		got = append(got, span{Name: s.Name, Parent: parent, Service: s.Service, Kind: s.Kind, Error: s.Error})
	}
	want := []span{
		{Name: "A2A GetTask", Parent: "POST /a2a", Service: "parley-app-test", Kind: tracepb.Span_SPAN_KIND_INTERNAL, Error: true},
		{Name: "POST /a2a", Parent: "caller", Service: "parley-app-test", Kind: tracepb.Span_SPAN_KIND_SERVER},
		{Name: "A2A GetTask", Parent: "caller", Service: "parley-app-test", Kind: tracepb.Span_SPAN_KIND_SERVER, Error: true},
	}
	byName := cmpopts.SortSlices(func(a, b span) bool { return a.Name+a.Parent < b.Name+b.Parent })
	if diff := cmp.Diff(want, got, byName); diff != "" {
		t.Errorf("spans of the callers' traces (-want +got):\n%s", diff)
	}
	var access string
	for line := range strings.Lines(logs.String()) {
		if strings.Contains(line, "msg=request") && strings.Contains(line, "path=/a2a") {
			access = line
		}
	}
	if !strings.Contains(access, "trace_id="+callerTrace) {
		t.Errorf("the access log line does not carry the trace: %q", access)
	}
}
