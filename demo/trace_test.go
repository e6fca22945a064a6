package demo

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/parleyhq/parley/internal/otlpreceiver"
)

// The demo's escalation is one trace, exported over OTLP/HTTP to a
// receiver in this process: the save_ticket call that sets the refund,
// the rule it fires, the negotiation the rule starts (run by the engine
// later, on the change feed's wake-up, from the trace context the
// negotiation's state kept), a turn per move with the A2A call to that
// turn's agent, and the write-back with the resources/updated
// notifications it causes. The gateway's log line about the outcome
// carries the trace's ID.
func TestDemoEscalationIsOneTrace(t *testing.T) {
	rcv := otlpreceiver.Start()
	defer rcv.Close()
	// A developer's own OTEL_* settings must not redirect or drop the spans.
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_TRACES_SAMPLER", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		t.Setenv(k, "")
	}
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL())
	t.Setenv("OTEL_SERVICE_NAME", "parley-demo-test")

	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute) // a hang guard, not a wait
	defer cancel()
	if err := Run(ctx, Options{Stdout: &stdout, Stderr: &stderr, LogLevel: "info"}); err != nil {
		t.Fatalf("Run: %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	// Run closed the gateway, whose last cleanup flushed every span: they
	// are all here.
	spans, bad := rcv.Spans()
	if len(bad) > 0 {
		t.Fatalf("the receiver could not decode: %v", bad)
	}
	byID := map[string]otlpreceiver.Span{}
	children := map[string][]otlpreceiver.Span{}
	for _, s := range spans {
		byID[s.SpanID] = s
		children[s.ParentID] = append(children[s.ParentID], s)
	}

	// The negotiation: one run of it, in the demo.
	runs := named(spans, "negotiation.run")
	if len(runs) != 1 {
		t.Fatalf("%d negotiation.run spans, want 1; spans:\n%s", len(runs), dump(spans))
	}
	run := runs[0]
	trace := inTrace(spans, run.TraceID)
	root := rootOf(byID, run)
	if root.Name != "tools/call save_ticket" || root.Kind != tracepb.Span_SPAN_KIND_SERVER {
		t.Fatalf("the negotiation's trace starts at %q (%v), want the save_ticket call's server span; trace:\n%s", root.Name, root.Kind, tree(children, root, 0))
	}
	if got := root.Attrs["mcp.method.name"]; got != "tools/call" {
		t.Errorf("save_ticket span mcp.method.name = %q", got)
	}
	if got := root.Attrs["gen_ai.tool.name"]; got != "save_ticket" {
		t.Errorf("save_ticket span gen_ai.tool.name = %q", got)
	}
	if got := root.Attrs["mcp.protocol.version"]; got == "" {
		t.Errorf("save_ticket span lacks its protocol version: %v", root.Attrs)
	}
	if root.Service != "parley-demo-test" {
		t.Errorf("service.name = %q, want OTEL_SERVICE_NAME's", root.Service)
	}
	for _, s := range trace {
		if s.ParentID != "" {
			if _, ok := byID[s.ParentID]; !ok {
				t.Errorf("span %q's parent %s was not exported", s.Name, s.ParentID)
			}
		}
	}

	// The tree, keeping the spans the escalation is about: the rule that
	// started the negotiation, its run, turns, A2A calls and write-back,
	// and the notifications of the write-back.
	got := outline(children, root, func(parent, s otlpreceiver.Span) bool {
		switch s.Name {
		case "rules.evaluate":
			return s.Attrs["parley.negotiation.started"] == "["+run.Attrs["parley.negotiation.id"]+"]" && s.SpanID == run.ParentID
		case "negotiation.run", "negotiation.turn", "negotiation.write_back", "A2A SendMessage":
			return true
		case "notifications/resources/updated":
			return parent.Name == "negotiation.write_back" && strings.HasPrefix(s.Attrs["mcp.resource.uri"], "ticket://")
		}
		return false
	})
	want := []string{
		"tools/call save_ticket",
		"  rules.evaluate",
		"    negotiation.run",
		"      negotiation.turn billing", // proposes
		"        A2A SendMessage billing",
		"      negotiation.turn escalation", // counters
		"        A2A SendMessage escalation",
		"      negotiation.turn billing", // accepts
		"        A2A SendMessage billing",
		"      negotiation.write_back",
		"        notifications/resources/updated",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the escalation's trace (-want +got):\n%s\nwhole trace:\n%s", diff, tree(children, root, 0))
	}
	for _, s := range named(trace, "A2A SendMessage") {
		if s.Kind != tracepb.Span_SPAN_KIND_CLIENT || s.Attrs["a2a.context.id"] != run.Attrs["parley.negotiation.id"] {
			t.Errorf("A2A call span %v %v: want a client span in the negotiation's A2A context", s.Kind, s.Attrs)
		}
	}

	// Logs written inside the spans carry their IDs.
	var ended string
	for line := range strings.Lines(stderr.String()) {
		if strings.Contains(line, `msg="negotiation ended"`) {
			ended = line
		}
	}
	if !strings.Contains(ended, "trace_id="+run.TraceID) || !strings.Contains(ended, "span_id=") {
		t.Errorf("the log line of the outcome does not carry the trace %s: %q", run.TraceID, ended)
	}
}

func named(spans []otlpreceiver.Span, name string) []otlpreceiver.Span {
	var out []otlpreceiver.Span
	for _, s := range spans {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

func inTrace(spans []otlpreceiver.Span, traceID string) []otlpreceiver.Span {
	var out []otlpreceiver.Span
	for _, s := range spans {
		if s.TraceID == traceID {
			out = append(out, s)
		}
	}
	return out
}

// rootOf follows s's parents as far as they were exported.
func rootOf(byID map[string]otlpreceiver.Span, s otlpreceiver.Span) otlpreceiver.Span {
	for {
		p, ok := byID[s.ParentID]
		if !ok {
			return s
		}
		s = p
	}
}

// outline renders the subtree of s that keep keeps (a kept span's
// children are considered under it; a dropped span's subtree is
// dropped), children in start order by name, as indented lines; a turn
// and an A2A call show their participant.
func outline(children map[string][]otlpreceiver.Span, s otlpreceiver.Span, keep func(parent, s otlpreceiver.Span) bool) []string {
	var lines []string
	var walk func(s otlpreceiver.Span, depth int)
	walk = func(s otlpreceiver.Span, depth int) {
		label := s.Name
		switch s.Name {
		case "negotiation.turn":
			label += " " + s.Attrs["parley.negotiation.participant"]
		case "A2A SendMessage":
			label += " " + s.Attrs["parley.agent"]
		}
		lines = append(lines, strings.Repeat("  ", depth)+label)
		kids := slices.Clone(children[s.SpanID])
		slices.SortStableFunc(kids, func(a, b otlpreceiver.Span) int { return order(a) - order(b) })
		for _, c := range kids {
			if keep(s, c) {
				walk(c, depth+1)
			}
		}
	}
	walk(s, 0)
	return lines
}

// order sorts siblings the way the escalation runs: turns by round,
// then the write-back.
func order(s otlpreceiver.Span) int {
	switch s.Name {
	case "negotiation.turn":
		var round int
		fmt.Sscan(s.Attrs["parley.negotiation.round"], &round)
		return round
	case "negotiation.write_back":
		return 1000
	}
	return 0
}

// tree renders every span under s, for failure messages.
func tree(children map[string][]otlpreceiver.Span, s otlpreceiver.Span, depth int) string {
	out := fmt.Sprintf("%s%s %v\n", strings.Repeat("  ", depth), s.Name, s.Attrs)
	for _, c := range children[s.SpanID] {
		out += tree(children, c, depth+1)
	}
	return out
}

func dump(spans []otlpreceiver.Span) string {
	var b strings.Builder
	for _, s := range spans {
		fmt.Fprintf(&b, "%s %s<-%s %s\n", s.TraceID[:8], s.SpanID[:8], s.ParentID, s.Name)
	}
	return b.String()
}
