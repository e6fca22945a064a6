package e2e

import (
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/internal/otlpreceiver"
)

// "gateway serve" honours the standard OTEL_* variables: an MCP call
// whose _meta carries a traceparent is a span of the caller's trace,
// exported over OTLP/HTTP to the collector the environment names, under
// the service name it names; the spans still buffered at SIGTERM are
// flushed before the process exits.
func TestServeExportsTraces(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGTERM")
	}
	rcv := otlpreceiver.Start()
	defer rcv.Close()
	p := start(t, t.TempDir(), cleanEnv("OTEL_EXPORTER_OTLP_ENDPOINT="+rcv.URL(), "OTEL_SERVICE_NAME=parley-e2e",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=", "OTEL_SDK_DISABLED=", "OTEL_TRACES_EXPORTER="),
		"--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0")
	addr := p.addr(t)

	const callerTrace, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "e2e-host", Version: "1"}, nil).
		Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: "http://" + addr + "/mcp"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "save_ticket",
		Arguments: map[string]any{"ticket_id": "T-TRACE", "customer": "acme"},
		Meta:      mcp.Meta{"traceparent": "00-" + callerTrace + "-" + callerSpan + "-01"}})
	if err != nil || res.IsError {
		t.Fatalf("save_ticket: %v %+v", err, res)
	}
	cs.Close()

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit status %d after SIGTERM:\n%s", code, p.logs)
	}
	spans, bad := rcv.Spans()
	type span struct{ Name, Parent, Service, Tool string }
	var got []span
	for _, s := range spans {
		if s.TraceID == callerTrace && s.ParentID == callerSpan {
			got = append(got, span{s.Name, s.ParentID, s.Service, s.Attrs["gen_ai.tool.name"]})
		}
	}
	want := []span{{"tools/call save_ticket", callerSpan, "parley-e2e", "save_ticket"}}
	if diff := cmp.Diff(want, got); diff != "" || len(bad) > 0 {
		t.Errorf("spans under the caller's (-want +got):\n%s%v\ngateway log:\n%s", diff, bad, p.logs)
	}
}
