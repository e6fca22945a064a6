package mcpbridge

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	dto "github.com/prometheus/client_model/go"

	"github.com/parleyhq/parley/observe"
)

// TestMetricsMiddleware: MCP requests are counted by method, tool calls by
// tool (errors too), a tool the bridge does not serve as "unknown", and
// the open sessions of the older generation are gauged.
func TestMetricsMiddleware(t *testing.T) {
	for _, gen := range generations {
		t.Run(gen.name, func(t *testing.T) {
			f := newFixture(t)
			m := observe.NewMetrics()
			f.bridge.Server().AddReceivingMiddleware(f.bridge.MetricsMiddleware(m))
			cs := f.connect(t, gen.version, nil)

			call(t, cs, ToolSaveTicket, map[string]any{"ticket_id": "T-1", "customer": "acme"}, nil)
			call(t, cs, ToolGetTicket, map[string]any{"ticket_id": "T-1"}, nil)
			if res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: ToolGetTicket, Arguments: map[string]any{"ticket_id": "T-404"}}); err != nil || !res.IsError {
				t.Fatalf("get_ticket T-404: %v %+v, want a tool error", err, res)
			}
			for _, name := range []string{"made_up_1", "made_up_2"} {
				if _, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: name, Arguments: map[string]any{}}); err == nil {
					t.Fatalf("%s: no error for a tool that does not exist", name)
				}
			}
			if _, err := cs.ListTools(t.Context(), nil); err != nil {
				t.Fatal(err)
			}

			got := map[string]float64{
				"requests tools/call": value(t, m, "parley_mcp_requests_total", "tools/call"),
				"errors tools/call":   value(t, m, "parley_mcp_request_errors_total", "tools/call"),
				"requests tools/list": value(t, m, "parley_mcp_requests_total", "tools/list"),
				"calls save_ticket":   value(t, m, "parley_mcp_tool_calls_total", ToolSaveTicket, ""),
				"calls get_ticket":    value(t, m, "parley_mcp_tool_calls_total", ToolGetTicket, ""),
				"errors get_ticket":   value(t, m, "parley_mcp_tool_errors_total", ToolGetTicket, ""),
				"calls unknown":       value(t, m, "parley_mcp_tool_calls_total", unknownTool, ""),
				"errors unknown":      value(t, m, "parley_mcp_tool_errors_total", unknownTool, ""),
				"duration count":      histogramCount(t, m, "parley_mcp_tool_call_duration_seconds", ToolSaveTicket, ""),
			}
			want := map[string]float64{
				"requests tools/call": 5, "errors tools/call": 3, "requests tools/list": 1,
				"calls save_ticket": 1, "calls get_ticket": 2, "errors get_ticket": 1,
				"calls unknown": 2, "errors unknown": 2, "duration count": 1,
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("metrics (-want +got):\n%s", diff)
			}
			// The made-up names are no label values.
			if n := seriesWith(t, m, "made_up_1"); n != 0 {
				t.Errorf("%d series name the made-up tool", n)
			}

			wantSessions := 0.0
			if gen.version != "" { // "": the client's default, 2026-07-28
				wantSessions = 1
			}
			if got := gauge(t, m, "parley_mcp_sessions_open"); got != wantSessions {
				t.Errorf("parley_mcp_sessions_open = %v, want %v", got, wantSessions)
			}
		})
	}
}

// find returns the metric name with exactly the label values given (in
// label order), or nil.
func find(t *testing.T, m *observe.Metrics, name string, values ...string) *dto.Metric {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, mt := range f.GetMetric() {
			if len(mt.GetLabel()) != len(values) {
				continue
			}
			for i, l := range mt.GetLabel() {
				if l.GetValue() != values[i] {
					continue metrics
				}
			}
			return mt
		}
	}
	return nil
}

func value(t *testing.T, m *observe.Metrics, name string, values ...string) float64 {
	t.Helper()
	if mt := find(t, m, name, values...); mt != nil {
		return mt.GetCounter().GetValue()
	}
	return 0
}

func histogramCount(t *testing.T, m *observe.Metrics, name string, values ...string) float64 {
	t.Helper()
	if mt := find(t, m, name, values...); mt != nil {
		return float64(mt.GetHistogram().GetSampleCount())
	}
	return 0
}

func gauge(t *testing.T, m *observe.Metrics, name string) float64 {
	t.Helper()
	if mt := find(t, m, name); mt != nil {
		return mt.GetGauge().GetValue()
	}
	return -1
}

// seriesWith counts the series with a label value of v.
func seriesWith(t *testing.T, m *observe.Metrics, v string) int {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range families {
		for _, mt := range f.GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetValue() == v {
					n++
				}
			}
		}
	}
	return n
}

// The middleware adds no allocation to a call of a tool the bridge
// serves, once the tool's instruments exist.
func TestMetricsMiddlewareAllocates0(t *testing.T) {
	f := newFixture(t)
	mw := f.bridge.MetricsMiddleware(observe.NewMetrics())
	res := &mcp.CallToolResult{}
	h := mw(func(context.Context, string, mcp.Request) (mcp.Result, error) { return res, nil })
	req := &mcp.CallToolRequest{Params: &mcp.CallToolParamsRaw{Name: ToolGetTicket}}
	ctx := t.Context()
	if _, err := h(ctx, "tools/call", req); err != nil {
		t.Fatal(err)
	}
	if allocs := testing.AllocsPerRun(200, func() { _, _ = h(ctx, "tools/call", req) }); allocs != 0 {
		t.Errorf("a tools/call allocates %v times in the middleware", allocs)
	}
}
