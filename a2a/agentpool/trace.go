package agentpool

// Spans of the calls Parley makes to registered agents: one client span
// per A2A call ("A2A SendMessage"), whatever the binding, with the trace
// context sent along as the call's service parameters (HTTP headers on
// JSON-RPC and REST, gRPC metadata), so that the agent's own spans join
// the trace of the negotiation turn or relayed call that made it.

import (
	"context"
	"net/url"
	"strings"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2aclient"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/parleyhq/parley/internal/a2aevent"
	"github.com/parleyhq/parley/observe"
)

var tracer = observe.NewTracer("github.com/parleyhq/parley/a2a/agentpool")

// Attribute keys of the A2A client spans.
const (
	attrAgent       = attribute.Key("parley.agent")
	attrServerAddr  = attribute.Key("server.address")
	attrA2AMessage  = attribute.Key("a2a.message.id")
	errTypeA2AError = "a2a_error"
)

// traceInterceptor starts a client span for each call to one agent and
// puts the call's trace context into its service parameters. With
// tracing off it does nothing.
type traceInterceptor struct {
	agent string
}

var _ a2aclient.CallInterceptor = traceInterceptor{}

type callSpanKey struct{}

func (i traceInterceptor) Before(ctx context.Context, req *a2aclient.Request) (context.Context, any, error) {
	if !observe.On() || req == nil {
		return ctx, nil, nil
	}
	attrs := []attribute.KeyValue{observe.AttrRPCSystem.String(observe.RPCSystemA2A), observe.AttrRPCMethod.String(req.Method), attrAgent.String(i.agent)}
	if u, err := url.Parse(req.BaseURL); err == nil && u.Hostname() != "" {
		attrs = append(attrs, attrServerAddr.String(u.Hostname()))
	}
	if p, ok := req.Payload.(*a2a.SendMessageRequest); ok && p != nil && p.Message != nil {
		attrs = append(attrs, attrA2AMessage.String(p.Message.ID), observe.AttrA2AContextID.String(p.Message.ContextID))
	}
	ctx, span := tracer.Start(ctx, "A2A "+req.Method, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	if req.ServiceParams == nil {
		req.ServiceParams = a2aclient.ServiceParams{}
	}
	observe.Propagator().Inject(ctx, serviceParamsCarrier(req.ServiceParams))
	return context.WithValue(ctx, callSpanKey{}, span), nil, nil
}

// After ends the call's span: at its answer, or for a stream at its
// first error or its last event (a2a-go calls After once per event).
func (traceInterceptor) After(ctx context.Context, resp *a2aclient.Response) error {
	if !observe.On() {
		return nil // no span was started (and no context lookup is spent)
	}
	span, ok := ctx.Value(callSpanKey{}).(trace.Span)
	if !ok || resp == nil {
		return nil
	}
	if resp.Err != nil {
		span.SetAttributes(observe.AttrErrorType.String(errTypeA2AError))
		span.SetStatus(codes.Error, resp.Err.Error())
		span.End()
		return nil
	}
	if id := answerTaskID(resp.Payload); id != "" {
		span.SetAttributes(observe.AttrA2ATaskID.String(id))
	}
	if !a2aevent.Streaming(resp.Method) || a2aevent.Last(resp.Payload) {
		span.End()
	}
	return nil
}

// answerTaskID is the task an answer is about, "" for none.
func answerTaskID(payload any) string {
	switch p := payload.(type) {
	case *a2a.Task:
		if p != nil {
			return string(p.ID)
		}
	case *a2a.TaskStatusUpdateEvent:
		if p != nil {
			return string(p.TaskID)
		}
	}
	return ""
}

// serviceParamsCarrier writes the trace context into a call's service
// parameters.
type serviceParamsCarrier a2aclient.ServiceParams

func (c serviceParamsCarrier) Get(key string) string {
	if v := a2aclient.ServiceParams(c)[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (c serviceParamsCarrier) Set(key, value string) {
	a2aclient.ServiceParams(c)[strings.ToLower(key)] = []string{value}
}

func (c serviceParamsCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
