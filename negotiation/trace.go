package negotiation

// Spans of escalation and negotiation: rule evaluation, each run of a
// negotiation (under the span that started it, whose trace context the
// negotiation's state keeps: the runner may be another replica, later),
// a span per turn (the A2A call to the agent is its child, made by the
// agent pool), and the write-back. The store writes they make are noted
// (observe.NoteChange), so that the resources/updated notifications they
// cause join the trace too.

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/parleyhq/parley/observe"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/workspace"
)

var tracer = observe.NewTracer("github.com/parleyhq/parley/negotiation")

// Span names.
const (
	spanRules     = "rules.evaluate"
	spanRun       = "negotiation.run"
	spanTurn      = "negotiation.turn"
	spanWriteBack = "negotiation.write_back"
)

// Attribute keys.
const (
	attrTicketID      = attribute.Key("parley.ticket.id")
	attrTicketVersion = attribute.Key("parley.ticket.version")
	attrAction        = attribute.Key("parley.ticket.action")
	attrNegotiationID = attribute.Key("parley.negotiation.id")
	attrRule          = attribute.Key("parley.negotiation.rule")
	attrRound         = attribute.Key("parley.negotiation.round")
	attrParticipant   = attribute.Key("parley.negotiation.participant")
	attrCorrective    = attribute.Key("parley.negotiation.corrective")
	attrMove          = attribute.Key("parley.negotiation.move")
	attrStatus        = attribute.Key("parley.negotiation.status")
	attrDecision      = attribute.Key("parley.negotiation.decision")
	attrStarted       = attribute.Key("parley.negotiation.started")
)

// startRulesSpan starts the span of evaluating the rules for a ticket
// change, as a child of the span in ctx: the tool call that wrote it, or,
// on the change feed, the write this process noted. A change on the feed
// that no trace follows gets no span (rather than a trace per change).
func startRulesSpan(ctx context.Context, t workspace.Ticket, action string) (context.Context, trace.Span) {
	if !observe.On() || !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, trace.SpanFromContext(context.Background())
	}
	return tracer.Start(ctx, spanRules, trace.WithAttributes(attrTicketID.String(t.ID), attrTicketVersion.Int64(t.Version),
		attrAction.String(action)))
}

// endRulesSpan records the negotiations the rules started (or found
// started by the same change).
func endRulesSpan(span trace.Span, started []Started, err error) {
	if !span.IsRecording() {
		return
	}
	ids := make([]string, 0, len(started))
	for _, s := range started {
		ids = append(ids, s.ID)
	}
	span.SetAttributes(attrStarted.StringSlice(ids))
	endSpan(span, err)
}

// startRunSpan starts the span of one run of a negotiation (a claim by
// this replica, until it ends, waits for a person or is given up), under
// the span that started the negotiation, whose context its state saved.
func startRunSpan(ctx context.Context, st *State) (context.Context, trace.Span) {
	if !observe.On() {
		return ctx, trace.SpanFromContext(context.Background())
	}
	if len(st.Trace) > 0 {
		ctx = observe.Restore(ctx, st.Trace)
	} else {
		ctx = trace.ContextWithSpanContext(ctx, trace.SpanContext{}) // a trace of its own
	}
	return tracer.Start(ctx, spanRun, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attrNegotiationID.String(st.ID), attrRule.String(st.Rule), attrTicketID.String(st.Subject.ID)))
}

// endRunSpan records how the run ended.
func endRunSpan(span trace.Span, st *State, err error) {
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(attrStatus.String(st.Status))
	if st.Outcome != nil {
		span.SetAttributes(attrDecision.String(st.Outcome.Decision))
	}
	if errors.Is(err, store.ErrLeaseLost) || errors.Is(err, context.Canceled) {
		span.SetAttributes(attribute.String("parley.negotiation.stopped", err.Error()))
		span.End()
		return
	}
	endSpan(span, err)
}

// startTurnSpan starts the span of the pending turn: the message to one
// participant, its retries, and a corrective turn if its reply is invalid.
func startTurnSpan(ctx context.Context, st *State) (context.Context, trace.Span) {
	if !observe.On() || len(st.Participants) == 0 {
		return ctx, trace.SpanFromContext(context.Background())
	}
	round, to := len(st.History)+1, st.Participants[len(st.History)%len(st.Participants)]
	if p := st.Pending; p != nil {
		round, to = p.Round, p.To
	}
	return tracer.Start(ctx, spanTurn, trace.WithAttributes(attrNegotiationID.String(st.ID), attrRound.Int(round),
		attrParticipant.String(to)))
}

// endTurnSpan records the move the turn got, if any.
func endTurnSpan(span trace.Span, st *State, round int, err error) {
	if !span.IsRecording() {
		return
	}
	if p := st.Pending; p != nil && p.Corrective {
		span.SetAttributes(attrCorrective.Bool(true))
	}
	if n := len(st.History); n > 0 && st.History[n-1].Round == round {
		span.SetAttributes(attrMove.String(st.History[n-1].Move))
	}
	if st.Outcome != nil {
		span.SetAttributes(attrStatus.String(st.Outcome.Status))
	}
	endSpan(span, err)
}

// startWriteBackSpan starts the span of writing the outcome into the
// ticket.
func startWriteBackSpan(ctx context.Context, st *State) (context.Context, trace.Span) {
	if !observe.On() {
		return ctx, trace.SpanFromContext(context.Background())
	}
	attrs := []attribute.KeyValue{attrNegotiationID.String(st.ID), attrTicketID.String(st.Subject.ID)}
	if o := st.Outcome; o != nil {
		attrs = append(attrs, attrStatus.String(o.Status), attrDecision.String(o.Decision))
	}
	return tracer.Start(ctx, spanWriteBack, trace.WithAttributes(attrs...))
}

func endSpan(span trace.Span, err error) {
	if err != nil {
		span.SetAttributes(observe.AttrErrorType.String(observe.ErrorTypeFallback))
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// noteNegotiation notes the span that writes the next version of n (a
// save: version + 1), before the write commits, for the notifications the
// change causes (the workspace notes its tickets' writes itself);
// forgetNegotiation takes it back when the write failed.
func noteNegotiation(ctx context.Context, n store.Negotiation) {
	observe.NoteChange(ctx, store.KindNegotiation, n.ID, n.Version+1)
}

func forgetNegotiation(ctx context.Context, n store.Negotiation) {
	observe.ForgetChange(ctx, store.KindNegotiation, n.ID, n.Version+1)
}
