package mcpbridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/negotiation"
	"github.com/parleyhq/parley/workspace"
)

// Tool names of negotiations.
const (
	ToolStartNegotiation  = "start_negotiation"
	ToolGetNegotiation    = "get_negotiation"
	ToolDecideNegotiation = "decide_negotiation"
)

const negotiationScheme = "negotiation://"

func negotiationURI(id string) string { return negotiationScheme + id }

// Negotiations is what the MCP side needs of the negotiation service:
// *negotiation.Service.
type Negotiations interface {
	Start(ctx context.Context, req negotiation.StartRequest) (negotiation.Started, error)
	TicketChanged(ctx context.Context, t workspace.Ticket, action, actor string, meta map[string]any, requestID string) ([]negotiation.Started, error)
	Get(ctx context.Context, id string) (negotiation.View, error)
	ForTicket(ctx context.Context, ticketID string) ([]negotiation.View, error)
	Decide(ctx context.Context, id string, d negotiation.Decision) (negotiation.View, error)
}

var _ Negotiations = (*negotiation.Service)(nil)

type startNegotiationIn struct {
	TicketID        string         `json:"ticket_id" jsonschema:"the ticket whose refund (or other decision) is negotiated, e.g. T-1001"`
	Participants    []string       `json:"participants" jsonschema:"registered A2A agent names, two or more, in turn order: the first opens"`
	Question        string         `json:"question" jsonschema:"what is to be decided, e.g. Approve an exception refund of 500.00 for ticket T-1001?"`
	Terms           map[string]any `json:"terms,omitempty" jsonschema:"the terms asked for, a JSON object such as {\"amount\": 500}"`
	MaxRounds       int            `json:"max_rounds,omitempty" jsonschema:"the most moves (one participant's turn each) before the fallback decides, 1 to 100 (default 6)"`
	DeadlineSeconds int            `json:"deadline_seconds,omitempty" jsonschema:"how long the negotiation may take from now before the fallback decides (default 600)"`
	Fallback        string         `json:"fallback,omitempty" jsonschema:"what decides when the agents reach no agreement: deny (the default), approve the last standing terms, or ask_human (a person decides, see decide_negotiation)"`
}

type startNegotiationOut struct {
	NegotiationID string `json:"negotiation_id"`
	Status        string `json:"status" jsonschema:"running: the negotiation goes on in the background; read or subscribe to negotiation://{id}, or wait_for_ticket"`
	TicketID      string `json:"ticket_id"`
}

type negotiationIDIn struct {
	NegotiationID string `json:"negotiation_id" jsonschema:"the negotiation's ID, e.g. neg-01j…"`
}

type decideNegotiationIn struct {
	NegotiationID string         `json:"negotiation_id" jsonschema:"the ID of a negotiation waiting for a person (decision pending_human)"`
	Decision      string         `json:"decision" jsonschema:"approve or deny"`
	Terms         map[string]any `json:"terms,omitempty" jsonschema:"with approve: the terms approved, e.g. {\"amount\": 350}; default the last standing terms, else those asked for"`
	Reason        string         `json:"reason,omitempty" jsonschema:"why, for the transcript and the ticket's approval"`
}

// startedOut names a negotiation a save started (or had started).
type startedOut struct {
	NegotiationID string `json:"negotiation_id"`
	Rule          string `json:"rule,omitempty" jsonschema:"the escalation rule that started it"`
}

func (b *Bridge) addNegotiationTools() {
	if b.opts.Negotiations == nil {
		return
	}
	addTool(b, &mcp.Tool{Name: ToolStartNegotiation, Title: "Start a negotiation between agents",
		Description: "Start a negotiation between registered A2A agents about a ticket (e.g. an exception refund). It returns at once with a link to " +
			"negotiation://{id}; the agents move in turn (propose, counter, accept, reject) in the background and the outcome is written into the ticket's approval. " +
			"Follow it with wait_for_ticket (rounds arrive as progress) or by subscribing to the resource.",
	}, map[string][]any{"fallback": {config.FallbackDeny, config.FallbackApprove, config.FallbackAskHuman}}, b.startNegotiation)
	addTool(b, &mcp.Tool{Name: ToolGetNegotiation, Title: "Read a negotiation",
		Description: "Read a negotiation: its outcome (status, decision, terms, rounds, reason, decided_by), the standing terms, every move and the full transcript.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, nil, b.getNegotiation)
	addTool(b, &mcp.Tool{Name: ToolDecideNegotiation, Title: "Decide a negotiation the agents could not settle",
		Description: "Approve or deny a negotiation waiting for a person (its fallback is ask_human and the agents reached no agreement). " +
			"The decision, with you as decided_by, is written into the ticket's approval.",
	}, map[string][]any{"decision": {"approve", "deny"}}, b.decideNegotiation)
}

// who names the caller as the person behind a decision: the authenticated
// principal's subject, else the client.
func (b *Bridge) who(ctx context.Context, req *mcp.CallToolRequest) string {
	if p, ok := auth.FromContext(ctx); ok && p.Subject != "" {
		return p.Subject
	}
	return b.opts.Actor(ctx, req)
}

// onBehalfOf is the metadata naming the caller that negotiations started
// for it carry in their turns, as agent tools do.
func onBehalfOf(ctx context.Context) map[string]any {
	if p, ok := auth.FromContext(ctx); ok {
		return auth.OnBehalfOf(p)
	}
	return nil
}

func (b *Bridge) startNegotiation(ctx context.Context, req *mcp.CallToolRequest, in startNegotiationIn) (*mcp.CallToolResult, startNegotiationOut, error) {
	sr := negotiation.StartRequest{TicketID: in.TicketID, Participants: in.Participants, Question: in.Question,
		MaxRounds: in.MaxRounds, Deadline: time.Duration(in.DeadlineSeconds) * time.Second, Fallback: in.Fallback,
		StartedBy: b.who(ctx, req), Metadata: onBehalfOf(ctx), RequestID: audit.LinksFrom(ctx).RequestID}
	if in.DeadlineSeconds < 0 {
		return nil, startNegotiationOut{}, fmt.Errorf("deadline_seconds: %d must be positive", in.DeadlineSeconds)
	}
	if in.Terms != nil {
		terms, err := json.Marshal(in.Terms)
		if err != nil {
			return nil, startNegotiationOut{}, fmt.Errorf("terms: %w", err)
		}
		sr.Terms = terms
	}
	st, err := b.opts.Negotiations.Start(ctx, sr)
	if err != nil {
		return nil, startNegotiationOut{}, negotiationError("", err)
	}
	out := startNegotiationOut{NegotiationID: st.ID, Status: negotiation.StatusRunning, TicketID: in.TicketID}
	text, _ := json.Marshal(out)
	res := &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(text)}, negotiationLink(st.ID, st.Rule, in.TicketID)}}
	if t, err := b.ws.GetTicket(ctx, in.TicketID); err == nil {
		res.Content = append(res.Content, ticketLink(t))
	}
	return res, out, nil
}

func (b *Bridge) getNegotiation(ctx context.Context, _ *mcp.CallToolRequest, in negotiationIDIn) (*mcp.CallToolResult, negotiation.View, error) {
	v, err := b.opts.Negotiations.Get(ctx, in.NegotiationID)
	if err != nil {
		return nil, negotiation.View{}, negotiationError(in.NegotiationID, err)
	}
	return viewResult(v), v, nil
}

func (b *Bridge) decideNegotiation(ctx context.Context, req *mcp.CallToolRequest, in decideNegotiationIn) (*mcp.CallToolResult, negotiation.View, error) {
	d := negotiation.Decision{Reason: in.Reason, DecidedBy: b.who(ctx, req)}
	switch in.Decision {
	case "approve":
		d.Approve = true
	case "deny":
	default:
		return nil, negotiation.View{}, fmt.Errorf("decision: %q must be approve or deny", in.Decision)
	}
	if in.Terms != nil {
		if !d.Approve {
			return nil, negotiation.View{}, errors.New("terms: only an approval has terms")
		}
		terms, err := json.Marshal(in.Terms)
		if err != nil {
			return nil, negotiation.View{}, fmt.Errorf("terms: %w", err)
		}
		d.Terms = terms
	}
	v, err := b.opts.Negotiations.Decide(ctx, in.NegotiationID, d)
	if err != nil {
		return nil, negotiation.View{}, negotiationError(in.NegotiationID, err)
	}
	return viewResult(v), v, nil
}

// viewResult is a tool result that carries a negotiation's view and links
// to it and its ticket.
func viewResult(v negotiation.View) *mcp.CallToolResult {
	text, _ := json.Marshal(v)
	res := &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(text)}, negotiationLink(v.ID, v.Rule, v.Subject.ID)}}
	if v.Subject.ID != "" {
		res.Content = append(res.Content, &mcp.ResourceLink{URI: ticketURI(v.Subject.ID), Name: v.Subject.ID, Title: "Ticket " + v.Subject.ID, MIMEType: "application/json"})
	}
	return res
}

// negotiationError makes the service's errors read well as tool errors.
func negotiationError(id string, err error) error {
	switch {
	case errors.Is(err, negotiation.ErrNotFound) && id != "":
		return fmt.Errorf("negotiation %q not found", id)
	case errors.Is(err, negotiation.ErrNotPending):
		return fmt.Errorf("%w; only a negotiation whose decision is pending_human can be decided", err)
	}
	return err // ErrInvalid and the others say what is wrong already
}

func negotiationLink(id, rule, ticketID string) *mcp.ResourceLink {
	desc := "Negotiation about ticket " + ticketID + ": outcome, moves and transcript"
	if rule != "" {
		desc += " (started by rule " + rule + ")"
	}
	return &mcp.ResourceLink{URI: negotiationURI(id), Name: id, Title: "Negotiation " + id, Description: desc, MIMEType: "application/json"}
}

// ticketChanged tells the negotiation service of a ticket this call wrote,
// so that escalation rules start their negotiations now and the caller
// gets the links. A rule that fails is logged: the write stands.
func (b *Bridge) ticketChanged(ctx context.Context, req *mcp.CallToolRequest, t workspace.Ticket, action string) []startedOut {
	if b.opts.Negotiations == nil {
		return nil
	}
	started, err := b.opts.Negotiations.TicketChanged(ctx, t, action, b.opts.Actor(ctx, req), onBehalfOf(ctx), audit.LinksFrom(ctx).RequestID)
	if err != nil {
		b.log.WarnContext(ctx, "escalation rules", "ticket", t.ID, "version", t.Version, "action", action, "error", err)
	}
	var out []startedOut
	for _, s := range started {
		out = append(out, startedOut{NegotiationID: s.ID, Rule: s.Rule})
	}
	return out
}

// withNegotiationLinks adds a link to each negotiation to a tool result.
func withNegotiationLinks(res *mcp.CallToolResult, ticketID string, started []startedOut) *mcp.CallToolResult {
	for _, s := range started {
		res.Content = append(res.Content, negotiationLink(s.NegotiationID, s.Rule, ticketID))
	}
	return res
}

func (b *Bridge) readNegotiation(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	uri := req.Params.URI
	id, ok := strings.CutPrefix(uri, negotiationScheme)
	if !ok || id == "" {
		return nil, mcp.ResourceNotFoundError(uri)
	}
	v, err := b.opts.Negotiations.Get(ctx, id)
	if errors.Is(err, negotiation.ErrNotFound) || errors.Is(err, negotiation.ErrInvalid) {
		return nil, mcp.ResourceNotFoundError(uri)
	}
	if err != nil {
		return nil, err
	}
	return jsonResource(uri, v)
}

// negotiationTickets remembers which ticket each negotiation is about (it
// never changes), so that a negotiation's change wakes its ticket's
// waiters without reading the negotiation each time.
type negotiationTickets struct {
	mu sync.Mutex
	m  map[string]string
}

const maxRememberedNegotiations = 10_000

func (b *Bridge) negotiationTicket(ctx context.Context, id string) (string, error) {
	b.negTickets.mu.Lock()
	ticket, ok := b.negTickets.m[id]
	b.negTickets.mu.Unlock()
	if ok {
		return ticket, nil
	}
	v, err := b.opts.Negotiations.Get(ctx, id)
	if err != nil {
		return "", err
	}
	b.negTickets.mu.Lock()
	if len(b.negTickets.m) >= maxRememberedNegotiations {
		clear(b.negTickets.m)
	}
	b.negTickets.m[id] = v.Subject.ID
	b.negTickets.mu.Unlock()
	return v.Subject.ID, nil
}

// negotiationChanged handles a negotiation's change from the feed: the
// resource's subscribers hear of it, and wait_for_ticket calls on its
// ticket wake up.
func (b *Bridge) negotiationChanged(ctx context.Context, id string) []string {
	if b.opts.Negotiations == nil {
		return nil
	}
	if !b.watchers.empty() {
		ticket, err := b.negotiationTicket(ctx, id)
		if err != nil && ctx.Err() == nil {
			b.log.Warn("negotiation change: read negotiation", "negotiation", id, "error", err)
		}
		if ticket != "" {
			b.watchers.wake(ticket)
		}
	}
	return []string{negotiationURI(id)}
}

// describeOutcome says how a negotiation ended in a line:
// "negotiation neg-…: agreed, approved 350.00".
func describeOutcome(id string, o negotiation.Outcome) string {
	s := fmt.Sprintf("negotiation %s: %s, %s", id, o.Status, o.Decision)
	if o.Decision == negotiation.DecisionApproved && len(o.Terms) > 0 {
		s += " " + negotiation.FormatTerms(o.Terms)
	}
	switch o.DecidedBy {
	case "", negotiation.DecidedByAgents:
	default:
		s += " by " + o.DecidedBy
	}
	if o.Decision == negotiation.DecisionPending {
		s += " (a person must decide)"
	}
	return s
}

// describeEntry says a transcript entry as a progress message: the moves
// ("round 2/6: escalation countered 350.00") and the outcomes; "" for the
// entries that are not worth a line (turns sent, retries, …).
func describeEntry(v negotiation.View, e negotiation.Entry) string {
	switch e.Kind {
	case negotiation.EntryStart:
		return fmt.Sprintf("negotiation %s started between %s: %s", v.ID, strings.Join(v.Participants, ", "), v.Question)
	case negotiation.EntryReply:
		for i := len(v.History) - 1; i >= 0; i-- {
			if v.History[i].Round == e.Round {
				return negotiation.DescribeMove(v.History[i], v.MaxRounds)
			}
		}
	case negotiation.EntryOutcome, negotiation.EntryDecided:
		var o negotiation.Outcome
		if json.Unmarshal(e.Data, &o) == nil && o.Decision != "" {
			return describeOutcome(v.ID, o)
		}
	}
	return ""
}

// pendingQuestion is the elicitation that puts a pending_human negotiation
// to the person.
func pendingQuestion(v negotiation.View) *mcp.ElicitParams {
	var msg strings.Builder
	fmt.Fprintf(&msg, "The agents (%s) reached no agreement on ticket %s in negotiation %s", strings.Join(v.Participants, ", "), v.Subject.ID, v.ID)
	if v.Outcome != nil && v.Outcome.Reason != "" {
		fmt.Fprintf(&msg, ": %s", v.Outcome.Reason)
	}
	fmt.Fprintf(&msg, ".\nQuestion: %s", v.Question)
	if len(v.Requested) > 0 {
		fmt.Fprintf(&msg, "\nAsked for: %s", negotiation.FormatTerms(v.Requested))
	}
	if v.Standing != nil {
		fmt.Fprintf(&msg, "\nLast standing offer: %s by %s", negotiation.FormatTerms(v.Standing.Terms), v.Standing.By)
	}
	msg.WriteString("\nApprove or deny?")
	props := map[string]any{
		"decision": map[string]any{"type": "string", "title": "Decision", "enum": []string{"approve", "deny"}},
		"reason":   map[string]any{"type": "string", "title": "Reason (optional)"},
	}
	for k, val := range numericTerms(baseTerms(v)) {
		props[k] = map[string]any{"type": "number", "title": "Approved " + k, "default": val}
	}
	return &mcp.ElicitParams{
		Message:         msg.String(),
		RequestedSchema: map[string]any{"type": "object", "properties": props, "required": []string{"decision"}},
	}
}

// baseTerms are the terms an approval approves unless the person changes
// them: the last standing terms, else those asked for.
func baseTerms(v negotiation.View) json.RawMessage {
	if v.Standing != nil && len(v.Standing.Terms) > 0 {
		return v.Standing.Terms
	}
	return v.Requested
}

// numericTerms are the terms a person can adjust in the question: the
// numeric ones, other than the question's own fields.
func numericTerms(terms json.RawMessage) map[string]float64 {
	var m map[string]any
	if json.Unmarshal(terms, &m) != nil {
		return nil
	}
	out := map[string]float64{}
	for k, v := range m {
		if f, ok := v.(float64); ok && k != "decision" && k != "reason" {
			out[k] = f
		}
	}
	return out
}

// decisionFromAnswer turns the person's answer to pendingQuestion into a
// decision; ok is false when they declined or cancelled.
func decisionFromAnswer(v negotiation.View, answer *mcp.ElicitResult, decidedBy string) (d negotiation.Decision, ok bool, err error) {
	if answer.Action != "accept" {
		return negotiation.Decision{}, false, nil
	}
	choice, _ := answer.Content["decision"].(string)
	switch choice {
	case "approve":
		d.Approve = true
	case "deny":
	default:
		return negotiation.Decision{}, false, fmt.Errorf(`inputResponses: "decision" must be approve or deny, not %q`, choice)
	}
	d.Reason, _ = answer.Content["reason"].(string)
	d.DecidedBy = decidedBy
	if d.Approve {
		base := baseTerms(v)
		var terms map[string]any
		_ = json.Unmarshal(base, &terms)
		changed := false
		for k, old := range numericTerms(base) {
			if n, ok := number(answer.Content[k]); ok && n != old {
				terms[k], changed = n, true
			}
		}
		if changed {
			d.Terms, _ = json.Marshal(terms)
		}
	}
	return d, true, nil
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}
