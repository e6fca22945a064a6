package mcpbridge

import (
	"context"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/observe"
)

// Metrics of the MCP face. The method and tool labels are bounded: a
// method outside mcpMethods is counted as "other", a tool the bridge does
// not serve (a caller may name any) as "unknown".
const (
	otherMethod = "other"
	unknownTool = "unknown"
)

// mcpMethods are the MCP methods a server receives (go-sdk's
// serverMethodInfos, both generations): the values the method label takes.
var mcpMethods = []string{
	"initialize", "ping", "server/discover",
	"tools/list", "tools/call",
	"prompts/list", "prompts/get",
	"resources/list", "resources/templates/list", "resources/read",
	"resources/subscribe", "resources/unsubscribe", "subscriptions/listen",
	"completion/complete", "logging/setLevel",
	"notifications/initialized", "notifications/cancelled", "notifications/progress",
	"notifications/roots/list_changed",
}

// methodInstruments are one method's children, made on its first
// request (so that only the series in use are exported), then read
// without a lock.
type methodInstruments struct {
	once     sync.Once
	make     func() // sets the three below
	requests prometheus.Counter
	errors   prometheus.Counter
	duration prometheus.Observer
}

func (mi *methodInstruments) get() *methodInstruments {
	mi.once.Do(mi.make)
	return mi
}

// toolInstruments are one tool's children, looked up on its first call.
type toolInstruments struct {
	calls    prometheus.Counter
	errors   prometheus.Counter
	duration prometheus.Observer
}

// mcpMetrics are the MCP face's instruments.
type mcpMetrics struct {
	b       *Bridge
	methods map[string]*methodInstruments // read-only after construction
	other   *methodInstruments

	toolCalls    *prometheus.CounterVec
	toolErrors   *prometheus.CounterVec
	toolDuration *prometheus.HistogramVec
	tools        observe.Children[string, *toolInstruments] // only tools the bridge serves
	unknown      *toolInstruments                           // the tools it does not
}

// MetricsMiddleware is a go-sdk receiving middleware counting the MCP
// requests the gateway answers: parley_mcp_requests_total,
// parley_mcp_request_errors_total and parley_mcp_request_duration_seconds
// by method, and for tools/call parley_mcp_tool_calls_total,
// parley_mcp_tool_errors_total and parley_mcp_tool_call_duration_seconds
// by tool and upstream (empty for Parley's own tools and the agent tools).
// It also registers parley_mcp_sessions_open. Put it outermost, so that
// the time the auth and audit middleware take is counted.
//
// An error is a JSON-RPC error answer, or a tool result marked isError.
// A call that asks for input (multi round-trip) is not an error.
func (b *Bridge) MetricsMiddleware(m *observe.Metrics) mcp.Middleware {
	mm := &mcpMetrics{b: b, methods: make(map[string]*methodInstruments, len(mcpMethods))}
	requests := m.CounterVec(prometheus.CounterOpts{Subsystem: "mcp", Name: "requests_total",
		Help: "MCP requests and notifications received, by method."}, "method")
	errs := m.CounterVec(prometheus.CounterOpts{Subsystem: "mcp", Name: "request_errors_total",
		Help: "MCP requests answered with an error (a JSON-RPC error, or a tool result marked isError), by method."}, "method")
	duration := m.HistogramVec(prometheus.HistogramOpts{Subsystem: "mcp", Name: "request_duration_seconds",
		Help: "Time to answer an MCP request, by method."}, "method")
	for _, method := range append(mcpMethods, otherMethod) {
		mi := &methodInstruments{}
		mi.make = func() {
			mi.requests = requests.WithLabelValues(method)
			mi.errors = errs.WithLabelValues(method)
			mi.duration = duration.WithLabelValues(method)
		}
		mm.methods[method] = mi
	}
	mm.other = mm.methods[otherMethod]
	mm.toolCalls = m.CounterVec(prometheus.CounterOpts{Subsystem: "mcp", Name: "tool_calls_total",
		Help: "MCP tool calls, by tool and by the upstream serving it (empty: Parley's own)."}, "tool", "upstream")
	mm.toolErrors = m.CounterVec(prometheus.CounterOpts{Subsystem: "mcp", Name: "tool_errors_total",
		Help: "MCP tool calls that failed (a JSON-RPC error or a result marked isError), by tool and upstream."}, "tool", "upstream")
	mm.toolDuration = m.HistogramVec(prometheus.HistogramOpts{Subsystem: "mcp", Name: "tool_call_duration_seconds",
		Help: "Time to answer an MCP tool call, by tool and upstream."}, "tool", "upstream")
	mm.unknown = mm.instruments(unknownTool, "")
	m.GaugeFunc(prometheus.GaugeOpts{Subsystem: "mcp", Name: "sessions_open",
		Help: "MCP sessions (protocol 2025-11-25 and older) this replica holds open."}, b.openSessions)
	return mm.middleware
}

func (mm *mcpMetrics) middleware(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		mi, ok := mm.methods[method]
		if !ok {
			mi = mm.other
		}
		mi = mi.get()
		var ti *toolInstruments
		if method == "tools/call" {
			if p, ok := req.GetParams().(*mcp.CallToolParamsRaw); ok {
				ti = mm.tool(p.Name)
			}
		}
		start := time.Now()
		res, err := next(ctx, method, req)
		elapsed := time.Since(start).Seconds()
		failed := err != nil
		if r, ok := res.(*mcp.CallToolResult); ok && r != nil && r.IsError {
			failed = true
		}
		mi.requests.Inc()
		mi.duration.Observe(elapsed)
		if failed {
			mi.errors.Inc()
		}
		if ti != nil {
			ti.calls.Inc()
			ti.duration.Observe(elapsed)
			if failed {
				ti.errors.Inc()
			}
		}
		return res, err
	}
}

// tool returns the instruments of the tool a call names: its own when
// the bridge serves it, else the "unknown" tool's, so that a caller
// cannot grow the label set by naming tools that do not exist.
func (mm *mcpMetrics) tool(name string) *toolInstruments {
	if ti, ok := mm.tools.Lookup(name); ok {
		return ti
	}
	// Cached by name only for tools the bridge serves: those names are
	// bounded by what was registered, and a tool keeps its namespaced
	// name. A made-up name is looked up again on every call.
	upstreamName, known := mm.b.servesTool(name)
	if !known {
		return mm.unknown
	}
	return mm.tools.Add(name, mm.instruments(name, upstreamName))
}

func (mm *mcpMetrics) instruments(tool, upstreamName string) *toolInstruments {
	return &toolInstruments{
		calls:    mm.toolCalls.WithLabelValues(tool, upstreamName),
		errors:   mm.toolErrors.WithLabelValues(tool, upstreamName),
		duration: mm.toolDuration.WithLabelValues(tool, upstreamName),
	}
}

// servesTool reports whether the bridge serves a tool of that name, and
// the upstream serving it ("" for Parley's own tools and the agent tools).
func (b *Bridge) servesTool(name string) (upstreamName string, ok bool) {
	if up, ok := b.UpstreamOf(auth.KindTool, name); ok {
		return up, true
	}
	b.args.mu.Lock()
	_, ok = b.args.schemas[name]
	b.args.mu.Unlock()
	if ok {
		return "", true
	}
	b.agentTools.mu.Lock()
	_, ok = b.agentTools.hash[name]
	b.agentTools.mu.Unlock()
	return "", ok
}

// openSessions counts the sessions (2025-11-25 and older: they have an
// ID; a 2026-07-28 request's session lives for that request only) this
// replica's server holds. Called at scrape time only.
func (b *Bridge) openSessions() float64 {
	n := 0
	for s := range b.server.Sessions() {
		if s.ID() != "" {
			n++
		}
	}
	return float64(n)
}
