package mcpbridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/negotiation"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/workspace"
)

type waitIn struct {
	TicketID       string   `json:"ticket_id" jsonschema:"the ticket's ID"`
	Statuses       []string `json:"statuses" jsonschema:"return once the ticket is in one of these statuses"`
	TimeoutSeconds int      `json:"timeout_seconds,omitempty" jsonschema:"give up after this long and return the ticket as it stands (default 60)"`
	SinceVersion   *int64   `json:"since_version,omitempty" jsonschema:"the version you last read: every change after it is reported, even one made before this call arrived (default: the version when the call starts)"`
}

type waitOut struct {
	Ticket   workspace.Ticket `json:"ticket"`
	Reached  bool             `json:"reached" jsonschema:"true if the ticket reached one of the statuses"`
	TimedOut bool             `json:"timed_out"`
	Changes  int              `json:"changes" jsonschema:"how many changes to the ticket were seen while waiting"`
	// NegotiationEvents counts the negotiation moves and outcomes reported.
	NegotiationEvents int `json:"negotiation_events,omitempty" jsonschema:"how many moves and outcomes of the ticket's negotiations were reported while waiting"`
	// Decided lists the negotiations the person decided through this call.
	Decided []string `json:"decided,omitempty" jsonschema:"negotiations you decided while waiting, when asked"`
}

// waitState is what wait_for_ticket carries across the round trip of a
// question to the person (signed, in the request state), so that its
// retry goes on where it stopped: nothing reported twice, nothing missed.
type waitState struct {
	// Cutoff: negotiation events up to it were known when the wait began.
	Cutoff   time.Time `json:"cutoff"`
	Changes  int       `json:"changes"`
	Progress int       `json:"progress"`
	Events   int       `json:"events"`
	// Entries is, by negotiation, how much of its transcript is reported.
	Entries map[string]int `json:"entries,omitempty"`
	// Asked: the negotiations put to the person already; Asking the one
	// the pending question is about.
	Asked  []string `json:"asked,omitempty"`
	Asking string   `json:"asking,omitempty"`
	// Decided: the negotiations the person decided through this call.
	Decided []string `json:"decided,omitempty"`
	// Deadline is when the call times out, for a replica that takes the
	// call over (takeover.go).
	Deadline time.Time `json:"deadline,omitzero"`
}

// progressEvent is one progress message, in the order things happened.
type progressEvent struct {
	at          time.Time
	negotiation bool // at equal times the engine's entry came first
	msg         string
}

// waitForTicket reports every change of the ticket as progress until it
// reaches a target status. Changes are read from the ticket's history, so
// that two changes close together are two progress notifications. The
// moves and outcomes of the ticket's negotiations are reported too, and a
// negotiation waiting for a person is put to the person through
// elicitation (multi round-trip form) when the client can answer.
func (b *Bridge) waitForTicket(ctx context.Context, req *mcp.CallToolRequest, in waitIn) (*mcp.CallToolResult, waitOut, error) {
	if len(in.Statuses) == 0 {
		return nil, waitOut{}, errors.New("statuses: name at least one status to wait for")
	}
	timeout := time.Duration(in.TimeoutSeconds) * time.Second
	switch {
	case in.TimeoutSeconds == 0:
		timeout = time.Minute
	case timeout < 0 || timeout > b.opts.MaxWait:
		return nil, waitOut{}, fmt.Errorf("timeout_seconds: %d must be from 1 to %d", in.TimeoutSeconds, int(b.opts.MaxWait.Seconds()))
	}
	// Watch before the first read, so that no change falls in between.
	changed, stop := b.watchers.watch(in.TicketID)
	defer stop()
	t, err := b.ws.GetTicket(ctx, in.TicketID)
	if err != nil {
		return nil, waitOut{}, err
	}
	seen := t.Version
	var ws waitState
	retry := req.Params.RequestState != ""
	resumed, err := b.resumedWait(req, in.TicketID)
	if err != nil {
		return nil, waitOut{}, err
	}
	if resumed != nil {
		// Another replica ran this call until it stopped: go on from the
		// state its last progress report carried (takeover.go).
		if err := json.Unmarshal([]byte(resumed.state.Digest), &ws); err != nil || resumed.state.Version > t.Version {
			return nil, waitOut{}, fmt.Errorf("%w: malformed", errBadState)
		}
		seen = resumed.state.Version
		timeout = max(ws.Deadline.Sub(b.opts.Now()), 0)
	} else if retry {
		st, err := b.signer.verify(req.Params.RequestState, ToolWaitForTicket, in.TicketID)
		if err != nil {
			return nil, waitOut{}, err
		}
		if err := json.Unmarshal([]byte(st.Digest), &ws); err != nil || st.Version > t.Version {
			return nil, waitOut{}, fmt.Errorf("%w: malformed", errBadState)
		}
		seen = st.Version
	} else {
		if in.SinceVersion != nil {
			if *in.SinceVersion < 0 || *in.SinceVersion > t.Version {
				return nil, waitOut{}, fmt.Errorf("since_version: %d must be from 0 to the ticket's current version %d", *in.SinceVersion, t.Version)
			}
			seen = *in.SinceVersion
		}
		if b.opts.Negotiations != nil {
			if ws.Cutoff, err = b.versionTime(ctx, t, seen); err != nil {
				return nil, waitOut{}, err
			}
		}
	}
	if ws.Entries == nil {
		ws.Entries = map[string]int{}
	}
	if ws.Deadline.IsZero() {
		ws.Deadline = b.opts.Now().Add(timeout)
	}
	if b.waitRead != nil {
		b.waitRead(in.TicketID)
	}
	reached := func(t workspace.Ticket) bool { return slices.Contains(in.Statuses, string(t.Status)) }
	out := waitOut{Ticket: t, Changes: ws.Changes, NegotiationEvents: ws.Events}
	if retry && ws.Asking != "" {
		decided, err := b.decideAsked(ctx, req, &ws)
		if err != nil {
			return nil, waitOut{}, err
		}
		if decided {
			ws.Decided = append(ws.Decided, ws.Asking)
		}
		ws.Asking = ""
	}
	out.Decided = ws.Decided
	token := req.Params.GetProgressToken()
	// In a session kept in the store, each progress report carries the
	// state the call can go on from on another replica (resumeMeta): the
	// state as it was before the report's batch, since the batch is read
	// again there, and the reports it delivered are skipped by number.
	var skip int
	if resumed != nil {
		skip = resumed.delivered
	}
	var meta mcp.Meta
	notify := func(msg string) {
		ws.Progress++
		if token == nil || ws.Progress <= skip {
			return
		}
		err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{Meta: meta, ProgressToken: token, Progress: float64(ws.Progress), Message: msg})
		if err != nil {
			b.log.Debug("wait_for_ticket: progress not delivered", "ticket", in.TicketID, "error", err)
		}
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		at := ws
		at.Changes, at.Events = out.Changes, out.NegotiationEvents
		if meta, err = b.resumeMeta(req, in.TicketID, seen, at); err != nil {
			return nil, waitOut{}, err
		}
		var events []progressEvent
		// Report the history up to the ticket as read: every change up to
		// the state we judge is reported, none twice.
		if seen < out.Ticket.Version {
			history, err := b.ws.History(ctx, in.TicketID)
			if err != nil {
				return nil, waitOut{}, err
			}
			for _, h := range history {
				if h.Version <= seen || h.Version > out.Ticket.Version {
					continue
				}
				seen = h.Version
				out.Changes++
				events = append(events, progressEvent{at: h.At, msg: describeChange(h)})
			}
		}
		var views []negotiation.View
		if b.opts.Negotiations != nil {
			if views, err = b.opts.Negotiations.ForTicket(ctx, in.TicketID); err != nil {
				return nil, waitOut{}, err
			}
			for _, v := range views {
				for i := ws.Entries[v.ID]; i < len(v.Transcript); i++ {
					e := v.Transcript[i]
					if !e.At.After(ws.Cutoff) {
						continue
					}
					if msg := describeEntry(v, e); msg != "" {
						out.NegotiationEvents++
						events = append(events, progressEvent{at: e.At, negotiation: true, msg: msg})
					}
				}
				ws.Entries[v.ID] = len(v.Transcript)
			}
		}
		slices.SortStableFunc(events, func(a, b progressEvent) int {
			if c := a.at.Compare(b.at); c != 0 {
				return c
			}
			switch {
			case a.negotiation && !b.negotiation:
				return -1
			case b.negotiation && !a.negotiation:
				return 1
			}
			return 0
		})
		for _, e := range events {
			notify(e.msg)
		}
		if reached(out.Ticket) {
			break
		}
		if v, ok := b.toAsk(req, retry, views, ws.Asked); ok {
			ws.Asking, ws.Asked = v.ID, append(ws.Asked, v.ID)
			ws.Changes, ws.Events = out.Changes, out.NegotiationEvents
			return b.askPerson(in.TicketID, seen, ws, v)
		}
		select {
		case <-changed:
		case <-timer.C:
			out.TimedOut = true
			return result(out, out.Ticket), out, nil
		case <-ctx.Done():
			return nil, waitOut{}, ctx.Err()
		}
		if out.Ticket, err = b.ws.GetTicket(ctx, in.TicketID); err != nil {
			return nil, waitOut{}, err
		}
	}
	out.Reached = true
	return result(out, out.Ticket), out, nil
}

// versionTime is when the ticket reached version v (t is its current
// state): negotiation events after it are news to a caller who read v.
func (b *Bridge) versionTime(ctx context.Context, t workspace.Ticket, v int64) (time.Time, error) {
	if v == t.Version {
		return t.UpdatedAt, nil
	}
	if v == 0 {
		return time.Time{}, nil
	}
	history, err := b.ws.History(ctx, t.ID)
	if err != nil {
		return time.Time{}, err
	}
	for _, h := range history {
		if h.Version == v {
			return h.At, nil
		}
	}
	return time.Time{}, nil
}

// toAsk picks a negotiation waiting for a person that has not been put to
// them in this call, if the client can answer an elicitation. A client of
// a session revision gets one question per call: the SDK answers the
// first round trip for it, not a second.
func (b *Bridge) toAsk(req *mcp.CallToolRequest, retry bool, views []negotiation.View, asked []string) (negotiation.View, bool) {
	if !canElicit(req) || (retry && !multiRoundTrip(req)) {
		return negotiation.View{}, false
	}
	for _, v := range views {
		if v.Outcome != nil && v.Outcome.Decision == negotiation.DecisionPending && !slices.Contains(asked, v.ID) {
			return v, true
		}
	}
	return negotiation.View{}, false
}

// askPerson ends this round of the wait with the question about v; the
// client's retry carries the answer and ws.
func (b *Bridge) askPerson(ticketID string, seen int64, ws waitState, v negotiation.View) (*mcp.CallToolResult, waitOut, error) {
	data, err := json.Marshal(ws)
	if err != nil {
		return nil, waitOut{}, err
	}
	state, err := b.signer.sign(requestState{Tool: ToolWaitForTicket, TicketID: ticketID, Version: seen, Digest: string(data)})
	if err != nil {
		return nil, waitOut{}, err
	}
	return &mcp.CallToolResult{InputRequests: mcp.InputRequestMap{"decision": pendingQuestion(v)}, RequestState: state}, waitOut{}, nil
}

// decideAsked applies the person's answer about ws.Asking. A decline or
// cancel leaves the negotiation pending_human (decide_negotiation can
// still settle it); so does a decision someone else made first.
func (b *Bridge) decideAsked(ctx context.Context, req *mcp.CallToolRequest, ws *waitState) (bool, error) {
	id := ws.Asking
	answer, ok := req.Params.InputResponses["decision"].(*mcp.ElicitResult)
	if !ok {
		return false, fmt.Errorf(`inputResponses: "decision" must answer the question about negotiation %s`, id)
	}
	v, err := b.opts.Negotiations.Get(ctx, id)
	if err != nil {
		return false, negotiationError(id, err)
	}
	d, ok, err := decisionFromAnswer(v, answer, b.who(ctx, req))
	if err != nil || !ok {
		if !ok && err == nil {
			b.log.InfoContext(ctx, "wait_for_ticket: the person did not decide", "negotiation", id, "action", answer.Action)
		}
		return false, err
	}
	for attempt := 0; ; attempt++ {
		_, err = b.opts.Negotiations.Decide(ctx, id, d)
		if !errors.Is(err, negotiation.ErrNotPending) || attempt >= 20 {
			break
		}
		// The outcome may be in the ticket a moment before the negotiation
		// records that it waits: try again while it still says pending.
		if v, gerr := b.opts.Negotiations.Get(ctx, id); gerr != nil || v.Outcome == nil || v.Outcome.Decision != negotiation.DecisionPending {
			break
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	if errors.Is(err, negotiation.ErrNotPending) {
		b.log.InfoContext(ctx, "wait_for_ticket: the negotiation was decided meanwhile", "negotiation", id)
		return false, nil
	}
	if err != nil {
		return false, negotiationError(id, err)
	}
	return true, nil
}

func canElicit(req *mcp.CallToolRequest) bool {
	if req.Session == nil {
		return false
	}
	p := req.Session.InitializeParams()
	return p != nil && p.Capabilities != nil && p.Capabilities.Elicitation != nil
}

// multiRoundTrip: the client speaks a revision with multi round-trip
// requests itself (the SDK fulfills input requests for older ones once).
func multiRoundTrip(req *mcp.CallToolRequest) bool {
	if req.Session == nil {
		return false
	}
	p := req.Session.InitializeParams()
	return p != nil && p.ProtocolVersion >= statelessVersion
}

// describeChange says in a word or two what a history entry did: the new
// status where the status changed ("triaged", "escalated"), else the action.
func describeChange(h store.HistoryEntry) string {
	var d struct {
		To            string   `json:"to"`
		Changed       []string `json:"changed"`
		Reason        string   `json:"reason"`
		Decision      string   `json:"decision"`
		NegotiationID string   `json:"negotiation_id"`
	}
	_ = json.Unmarshal(h.Detail, &d)
	switch {
	case h.Action == "approval" && d.Decision != "":
		s := fmt.Sprintf("approval %s by negotiation %s", d.Decision, d.NegotiationID)
		if d.To != "" {
			s += "; status " + d.To
		}
		return s
	case d.To != "" && d.Reason != "":
		return fmt.Sprintf("%s: %s", d.To, d.Reason)
	case d.To != "":
		return d.To
	case len(d.Changed) > 0:
		return fmt.Sprintf("%s updated %s", h.Actor, strings.Join(d.Changed, ", "))
	}
	return fmt.Sprintf("%s by %s", h.Action, h.Actor)
}

type summarizeOut struct {
	Ticket  workspace.Ticket `json:"ticket"`
	Summary string           `json:"summary"`
	Model   string           `json:"model" jsonschema:"the model that wrote the summary, as the host reported it; parley/plain when built from the data"`
	Source  string           `json:"source" jsonschema:"sampling (the host's model) or data (built by Parley because the client cannot sample)"`
}

const plainModel = "parley/plain"

// summarizeTicket asks the host's model through sampling, in the multi
// round-trip form: the first call returns an input request, the client's
// retry carries the model's answer and the signed state of the question.
func (b *Bridge) summarizeTicket(ctx context.Context, req *mcp.CallToolRequest, in ticketIDIn) (*mcp.CallToolResult, summarizeOut, error) {
	doc, err := b.ticketResource(ctx, in.TicketID)
	if err != nil {
		return nil, summarizeOut{}, err
	}
	actor := b.opts.Actor(ctx, req)
	if req.Params.RequestState != "" {
		if _, err := b.signer.verify(req.Params.RequestState, ToolSummarizeTicket, in.TicketID); err != nil {
			return nil, summarizeOut{}, err
		}
		text, model, err := samplingAnswer(req.Params.InputResponses["summary"])
		if err != nil {
			return nil, summarizeOut{}, err
		}
		return b.storeSummary(ctx, actor, in.TicketID, workspace.GeneratedSummary{Text: text, Model: model, Source: "sampling"})
	}
	if !canSample(req) {
		return b.storeSummary(ctx, actor, in.TicketID, workspace.GeneratedSummary{Text: plainSummary(doc), Model: plainModel, Source: "data"})
	}
	state, err := b.signer.sign(requestState{Tool: ToolSummarizeTicket, TicketID: in.TicketID, Version: doc.Ticket.Version})
	if err != nil {
		return nil, summarizeOut{}, err
	}
	data, _ := json.MarshalIndent(doc, "", "  ")
	return &mcp.CallToolResult{
		InputRequests: mcp.InputRequestMap{"summary": &mcp.CreateMessageParams{
			SystemPrompt: "You summarize customer support tickets for the agents and people working on them. Be factual and brief.",
			Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{
				Text: "Summarize this support ticket, its agents' analyses and its history in three sentences: " +
					"the customer's problem, what has been done, and what is pending.\n\n" + string(data),
			}}},
			MaxTokens: 400,
		}},
		RequestState: state,
	}, summarizeOut{}, nil
}

func (b *Bridge) storeSummary(ctx context.Context, actor, id string, sum workspace.GeneratedSummary) (*mcp.CallToolResult, summarizeOut, error) {
	t, err := b.ws.SaveGeneratedSummary(ctx, actor, id, sum, nil)
	if err != nil {
		return nil, summarizeOut{}, err
	}
	out := summarizeOut{Ticket: t, Summary: sum.Text, Model: sum.Model, Source: sum.Source}
	return result(out, t), out, nil
}

func canSample(req *mcp.CallToolRequest) bool {
	if req.Session == nil {
		return false
	}
	p := req.Session.InitializeParams()
	return p != nil && p.Capabilities != nil && p.Capabilities.Sampling != nil
}

// samplingAnswer reads the text and model of a sampling response, in either
// of the forms the SDK delivers it.
func samplingAnswer(resp mcp.InputResponse) (text, model string, err error) {
	var parts []mcp.Content
	switch r := resp.(type) {
	case *mcp.CreateMessageResult:
		parts, model = []mcp.Content{r.Content}, r.Model
	case *mcp.CreateMessageWithToolsResult:
		parts, model = r.Content, r.Model
	case nil:
		return "", "", errors.New(`inputResponses: no answer to input request "summary"`)
	default:
		return "", "", fmt.Errorf(`inputResponses: "summary" must be a sampling result, not %T`, resp)
	}
	var b strings.Builder
	for _, p := range parts {
		if tc, ok := p.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	if strings.TrimSpace(b.String()) == "" {
		return "", "", errors.New("the host's model returned no text to use as a summary")
	}
	if model == "" {
		model = "unknown"
	}
	return b.String(), model, nil
}

func plainSummary(doc ticketResource) string {
	t := doc.Ticket
	var b strings.Builder
	fmt.Fprintf(&b, "Ticket %s from %s", t.ID, orDash(t.Customer))
	if t.Category != "" {
		fmt.Fprintf(&b, " (%s", t.Category)
		if t.Priority != "" {
			fmt.Fprintf(&b, ", %s priority", t.Priority)
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, " is %s", t.Status)
	if t.Summary != "" {
		fmt.Fprintf(&b, ": %s", t.Summary)
	}
	b.WriteString(".")
	if t.RefundAmount > 0 {
		fmt.Fprintf(&b, " Refund requested: %.2f.", t.RefundAmount)
	}
	if t.Escalated {
		fmt.Fprintf(&b, " Escalated: %s.", t.EscalationReason)
	}
	if t.Approval != nil {
		fmt.Fprintf(&b, " Approval: %s.", t.Approval.Decision)
	}
	if t.Resolution != "" {
		fmt.Fprintf(&b, " Resolution: %s.", t.Resolution)
	}
	if len(doc.Analyses) > 0 {
		names := make([]string, len(doc.Analyses))
		for i, a := range doc.Analyses {
			names[i] = a.Namespace
		}
		fmt.Fprintf(&b, " Analyses: %s.", strings.Join(names, ", "))
	}
	fmt.Fprintf(&b, " %d changes so far.", len(doc.History))
	return b.String()
}

// saveResolution resolves a ticket. Whether the refund needs a person's
// confirmation is the workspace's rule: when it refuses for want of one,
// the tool asks through elicitation (multi round-trip form) and retries
// with the person's answer as a workspace.Confirmation of the amount and
// version they were shown. Decline and cancel leave the ticket unchanged.
func (b *Bridge) saveResolution(ctx context.Context, req *mcp.CallToolRequest, in resolutionIn) (*mcp.CallToolResult, resolutionOut, error) {
	actor := b.opts.Actor(ctx, req)
	ri := workspace.ResolutionInput{TicketID: in.TicketID, Resolution: in.Resolution, ExpectedVersion: in.ExpectedVersion}
	if req.Params.RequestState != "" {
		c, answer, err := b.confirmationAnswer(req, in, actor)
		if err != nil {
			return nil, resolutionOut{}, err
		}
		if c == nil {
			t, err := b.ws.GetTicket(ctx, in.TicketID)
			if err != nil {
				return nil, resolutionOut{}, err
			}
			out := resolutionOut{Ticket: t, Saved: false, Outcome: answer}
			return result(out, t), out, nil
		}
		ri.Confirmation = c
	}
	t, err := b.ws.SaveResolution(ctx, actor, ri)
	if need := (*workspace.ConfirmationRequiredError)(nil); errors.As(err, &need) {
		// No confirmation, or one for another amount or version (the
		// ticket changed since, or the answer was used already): ask about
		// the ticket as it stands now.
		return b.askToConfirm(need, in)
	}
	if err != nil {
		return nil, resolutionOut{}, err
	}
	out := resolutionOut{Ticket: t, Saved: true, Outcome: "saved"}
	return result(out, t), out, nil
}

// viaElicitation is how save_resolution's confirmations were given, for
// the ticket's history.
const viaElicitation = "MCP elicitation"

// askToConfirm asks the person to confirm the refund the workspace wants
// confirmed, handing the client a signed state that names it.
func (b *Bridge) askToConfirm(need *workspace.ConfirmationRequiredError, in resolutionIn) (*mcp.CallToolResult, resolutionOut, error) {
	t := need.Ticket
	state, err := b.signer.sign(requestState{Tool: ToolSaveResolution, TicketID: t.ID, Version: t.Version, Amount: need.Amount, Digest: digest(in.Resolution)})
	if err != nil {
		return nil, resolutionOut{}, err
	}
	msg := fmt.Sprintf("Resolve ticket %s of %s with a refund of %.2f (above the %.2f that needs confirmation)? Resolution: %q",
		t.ID, orDash(t.Customer), need.Amount, need.Threshold, in.Resolution)
	if need.Given != nil {
		msg = fmt.Sprintf("The ticket changed since the refund of %.2f was confirmed (now version %d). ", need.Given.Amount, t.Version) + msg
	}
	return &mcp.CallToolResult{
		InputRequests: mcp.InputRequestMap{"confirm": &mcp.ElicitParams{
			Message: msg,
			RequestedSchema: map[string]any{
				"type": "object",
				"properties": map[string]any{
					"confirm": map[string]any{"type": "boolean", "title": "Confirm the refund", "default": true},
				},
			},
		}},
		RequestState: state,
	}, resolutionOut{}, nil
}

// confirmationAnswer reads the person's answer to askToConfirm from a
// retry: a Confirmation of what they were asked if they accepted, else
// nil and "declined" or "cancelled". The state must be one this gateway
// signed for this tool, ticket and resolution text.
func (b *Bridge) confirmationAnswer(req *mcp.CallToolRequest, in resolutionIn, actor string) (*workspace.Confirmation, string, error) {
	st, err := b.signer.verify(req.Params.RequestState, ToolSaveResolution, in.TicketID)
	if err != nil {
		return nil, "", err
	}
	if st.Digest != digest(in.Resolution) {
		return nil, "", fmt.Errorf("%w: the confirmation was for a different resolution text", errBadState)
	}
	answer, ok := req.Params.InputResponses["confirm"].(*mcp.ElicitResult)
	if !ok {
		return nil, "", errors.New(`inputResponses: "confirm" must be the answer to the confirmation question`)
	}
	confirmed := answer.Action == "accept"
	if v, ok := answer.Content["confirm"].(bool); ok && !v {
		confirmed = false
	}
	if !confirmed {
		if answer.Action == "cancel" {
			return nil, "cancelled", nil
		}
		return nil, "declined", nil
	}
	return &workspace.Confirmation{Amount: st.Amount, Version: st.Version, By: actor, Via: viaElicitation}, "", nil
}
