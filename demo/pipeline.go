package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/app"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/examples/agents"
	"github.com/parleyhq/parley/negotiation"
	"github.com/parleyhq/parley/workspace"
)

// fail says which step of the pipeline failed.
func fail(step string, err error) error { return fmt.Errorf("%s: %w", step, err) }

// pipeline is what the steps of one run hand on to the next: the MCP
// hosts, the ticket as last seen, and what each step learned.
type pipeline struct {
	*demo
	// One MCP client per role, so that the ticket's history says who did
	// what; the support desk also watches progress and the ticket.
	desk, triage, billing *client

	ticket       workspace.Ticket
	triaged      agents.Triage
	taskID       string
	lease        string
	ticketURI    string
	subscribedAt int64 // the ticket's version when the desk subscribed
	negID        string
	view         negotiation.View // the negotiation, once over
}

// ticketDoc is the ticket://{id} resource.
type ticketDoc struct {
	Ticket  workspace.Ticket `json:"ticket"`
	History []struct {
		Version int64           `json:"version"`
		Actor   string          `json:"actor"`
		Action  string          `json:"action"`
		Detail  json.RawMessage `json:"detail"`
	} `json:"history"`
}

// ticketResult is what save_ticket and the other ticket tools return.
type ticketResult struct {
	Ticket workspace.Ticket `json:"ticket"`
}

// drive is the demo proper, against a running gateway: the agents, the
// MCP hosts, then the pipeline's steps in order, the first failure ending
// it.
func (d *demo) drive(ctx context.Context, gw *app.App) error {
	d.printGateway(gw)
	d.out.section("Agents (A2A servers on loopback, registered through POST /api/v1/agents)")
	stopAgents, err := d.startAgents(ctx, gw.URL)
	if err != nil {
		return err
	}
	defer stopAgents()
	p := &pipeline{demo: d}
	defer p.close()
	if err := p.connect(ctx); err != nil {
		return err
	}
	for _, step := range []func(context.Context) error{
		p.fileTicket, p.triageTicket, p.analyse, p.claimTask, p.setRefund,
		p.awaitOutcome, p.readTranscript, p.checkUpdates, p.resolve, p.finalTicket,
	} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	d.holdForUI(d.hold, gw) // ui.go
	return nil
}

// printGateway says where the gateway listens, its store and its rule.
func (d *demo) printGateway(gw *app.App) {
	d.out.section("Gateway")
	d.out.kv("listening", gw.URL+"  (MCP at /mcp, admin API at /api/v1; no-auth mode, loopback only)")
	if kind, target := d.cfg.StoreBackend(); kind == config.BackendSQLite {
		note := ""
		if d.tempStore {
			note = "  (temporary: removed on exit; --keep keeps it)"
		}
		d.out.kv("store", "SQLite "+target+note)
	} else {
		d.out.kv("store", redactStore(d.cfg.Store))
	}
	if d.ui {
		d.out.kv("web UI", uiURL(gw)+"  (open it now to watch the negotiation live)")
	}
	d.out.kv("rule", Rule.Name+": on "+Rule.Trigger+" when "+Rule.When)
	d.out.kv("", fmt.Sprintf("%s negotiate, at most %d rounds, fallback %s", strings.Join(Rule.Participants, " and "), Rule.MaxRounds, Rule.Fallback))
}

// connect opens the MCP hosts' sessions and waits for the agents' tools.
func (p *pipeline) connect(ctx context.Context) (err error) {
	if p.desk, err = p.demo.connect(ctx, "support-desk", true); err != nil {
		return fail("connect the support desk's MCP client", err)
	}
	if p.triage, err = p.demo.connect(ctx, "triage", false); err != nil {
		return fail("connect the triage MCP client", err)
	}
	if p.billing, err = p.demo.connect(ctx, "billing", false); err != nil {
		return fail("connect the billing MCP client", err)
	}
	tools, err := p.triage.waitForTools(ctx, "agent_triage", "agent_billing", "agent_escalation")
	if err != nil {
		return fail("agent tools", err)
	}
	p.out.kv("MCP tools", strings.Join(tools, ", ")+" (each agent as a tool)")
	p.out.kv("MCP clients", fmt.Sprintf("support-desk, triage, 4 analysts, billing over Streamable HTTP (protocol %s)", p.desk.cs.InitializeResult().ProtocolVersion))
	return nil
}

// close ends the MCP hosts' sessions.
func (p *pipeline) close() {
	for _, c := range []*client{p.billing, p.triage, p.desk} {
		if c != nil {
			c.close()
		}
	}
}

// fileTicket: 1. the ticket arrives.
func (p *pipeline) fileTicket(ctx context.Context) error {
	p.out.section("1. A customer writes in")
	var created ticketResult
	if _, err := p.desk.call(ctx, "save_ticket", map[string]any{"customer": customer, "summary": ticketText}, &created); err != nil {
		return fail("create the ticket (save_ticket)", err)
	}
	t := created.Ticket
	p.ticket = t
	p.out.kv("save_ticket", fmt.Sprintf("%s created for %s, status %s (v%d)", t.ID, t.Customer, t.Status, t.Version))
	p.out.kv("text", strconv.Quote(t.Summary))
	return nil
}

// triageTicket: 2. triage by the triage agent, through its MCP tool, saved
// to the ticket.
func (p *pipeline) triageTicket(ctx context.Context) error {
	p.out.section("2. Triage (the triage agent over A2A, through the agent_triage tool)")
	t := p.ticket
	var triaged struct {
		Agent string        `json:"agent"`
		State string        `json:"state"`
		Data  agents.Triage `json:"data"`
	}
	if _, err := p.triage.call(ctx, "agent_triage", map[string]any{
		"message": t.Summary,
		"data":    map[string]any{"ticket": map[string]any{"id": t.ID, "customer": t.Customer, "summary": t.Summary}},
	}, &triaged); err != nil {
		return fail("triage (agent_triage)", err)
	}
	tr := triaged.Data
	if tr.Category == "" || tr.Priority == "" {
		return fail("triage (agent_triage)", fmt.Errorf("the agent's answer has no category or priority (state %q)", triaged.State))
	}
	p.triaged = tr
	p.out.kv("agent_triage", fmt.Sprintf("%s, %s priority, %s sentiment; asks for a refund of %.2f (task %s)", tr.Category, tr.Priority, tr.Sentiment, tr.RefundAmount, triaged.State))
	for _, r := range splitReasons(tr.Rationale) {
		p.out.kv("", r)
	}
	var saved ticketResult
	if _, err := p.triage.call(ctx, "save_ticket", map[string]any{"ticket_id": t.ID, "category": tr.Category, "priority": tr.Priority,
		"status": string(workspace.StatusTriaged), "expected_version": t.Version}, &saved); err != nil {
		return fail("save the triage (save_ticket)", err)
	}
	t = saved.Ticket
	p.ticket = t
	p.out.kv("save_ticket", fmt.Sprintf("%s: category %s, priority %s, status %s (v%d)", t.ID, t.Category, t.Priority, t.Status, t.Version))
	return nil
}

// analyse: 3. four analysts at once, each its own MCP client writing its
// own namespace, printed in a fixed order; then read back in one call.
func (p *pipeline) analyse(ctx context.Context) error {
	p.out.section("3. Four analyses in parallel, each agent in its own namespace")
	if err := p.saveAnalyses(ctx); err != nil {
		return err
	}
	var all struct {
		Analyses []struct {
			Namespace string `json:"namespace"`
			Author    string `json:"author"`
			Findings  any    `json:"findings"`
		} `json:"analyses"`
	}
	if _, err := p.desk.call(ctx, "get_all_analysis", map[string]any{"ticket_id": p.ticket.ID}, &all); err != nil {
		return fail("aggregate the analyses (get_all_analysis)", err)
	}
	p.out.kv("get_all_analysis", fmt.Sprintf("%d namespaces, one read:", len(all.Analyses)))
	for _, a := range all.Analyses {
		p.out.kv("  "+a.Namespace, fmt.Sprintf("%-22s %s", "by "+a.Author, describeFindings(a.Findings)))
	}
	if len(all.Analyses) != 4 {
		return fail("aggregate the analyses (get_all_analysis)", fmt.Errorf("%d namespaces, want 4", len(all.Analyses)))
	}
	return nil
}

// saveAnalyses runs the four analysts at once and prints what each saved.
func (p *pipeline) saveAnalyses(ctx context.Context) error {
	tr := p.triaged
	c := agents.LookupCustomer(p.ticket.Customer)
	work := []struct {
		ns       string
		findings map[string]any
	}{
		{"sentiment", map[string]any{"sentiment": tr.Sentiment, "why": reasonFor(tr.Rationale, "sentiment")}},
		{"category", map[string]any{"category": tr.Category, "why": reasonFor(tr.Rationale, "category")}},
		{"priority", map[string]any{"priority": tr.Priority, "why": reasonFor(tr.Rationale, "priority")}},
		{"history", map[string]any{"customer": c.Name, "tenure_years": c.TenureYears, "lifetime_value": c.LifetimeValue, "tier": c.Tier()}},
	}
	type result struct {
		version int64
		author  string
		took    time.Duration
		err     error
	}
	results := make([]result, len(work))
	began := time.Now()
	var wg sync.WaitGroup
	for i, w := range work {
		wg.Go(func() {
			start := time.Now()
			cl, err := p.demo.connect(ctx, w.ns+"-analyst", false)
			if err != nil {
				results[i].err = err
				return
			}
			defer cl.close()
			var out struct {
				Author  string `json:"author"`
				Version int64  `json:"version"`
			}
			_, err = cl.call(ctx, "save_analysis", map[string]any{"ticket_id": p.ticket.ID, "namespace": w.ns, "findings": w.findings}, &out)
			results[i] = result{out.Version, out.Author, time.Since(start), err}
		})
	}
	wg.Wait()
	took := time.Since(began)
	for i, w := range work {
		r := results[i]
		if r.err != nil {
			return fail("the "+w.ns+" analysis (save_analysis)", r.err)
		}
		p.out.kv("save_analysis", fmt.Sprintf("%-10s by %-20s v%d, %s", w.ns, r.author, r.version, r.took.Round(time.Millisecond)))
	}
	p.out.kv("", fmt.Sprintf("four clients at once: %s in all", took.Round(time.Millisecond)))
	return nil
}

// claimTask: 4. triage queues a billing task, billing claims it.
func (p *pipeline) claimTask(ctx context.Context) error {
	p.out.section("4. Billing takes the ticket; the refund is over the limit")
	var task struct {
		Task workspace.Task `json:"task"`
	}
	if _, err := p.triage.call(ctx, "create_task", map[string]any{"type": "billing",
		"payload": map[string]any{"ticket_id": p.ticket.ID, "refund_requested": p.triaged.RefundAmount}}, &task); err != nil {
		return fail("queue the billing task (create_task)", err)
	}
	p.taskID = task.Task.ID
	p.out.kv("create_task", fmt.Sprintf("%s queued (type billing) by triage", p.taskID))
	if _, err := p.billing.call(ctx, "claim_task", map[string]any{"types": []string{"billing"}, "claimant": "billing"}, &task); err != nil {
		return fail("claim the billing task (claim_task)", err)
	}
	if task.Task.ID != p.taskID {
		return fail("claim the billing task (claim_task)", fmt.Errorf("claimed %s, not the demo's %s: the store has other billing tasks queued (run the demo without --store)", task.Task.ID, p.taskID))
	}
	p.lease = task.Task.LeaseToken
	until := ""
	if task.Task.LeaseUntil != nil {
		until = ", lease until " + task.Task.LeaseUntil.Local().Format("15:04:05")
	}
	p.out.kv("claim_task", fmt.Sprintf("%s claimed by %s%s", p.taskID, task.Task.Claimant, until))
	return nil
}

// setRefund: 4, continued. The desk subscribes to the ticket (a subscriber
// hears of every change, whoever makes it); billing sets the refund, and
// the rule fires.
func (p *pipeline) setRefund(ctx context.Context) error {
	t := p.ticket
	p.ticketURI = "ticket://" + t.ID
	if err := p.desk.cs.Subscribe(ctx, &mcp.SubscribeParams{URI: p.ticketURI}); err != nil {
		return fail("subscribe to "+p.ticketURI, err)
	}
	p.subscribedAt = t.Version
	p.out.kv("subscribe", p.ticketURI+" (the support desk)")
	if p.triaged.RefundAmount <= 0 {
		return fail("set the refund", errors.New("triage found no refund amount in the ticket"))
	}
	var refund struct {
		Ticket       workspace.Ticket `json:"ticket"`
		Negotiations []struct {
			NegotiationID string `json:"negotiation_id"`
			Rule          string `json:"rule"`
		} `json:"negotiations"`
	}
	p.desk.progressFrom(time.Now()) // progress is timed from the save that fires the rule
	res, err := p.billing.call(ctx, "save_ticket", map[string]any{"ticket_id": t.ID, "refund_amount": p.triaged.RefundAmount, "expected_version": t.Version}, &refund)
	if err != nil {
		return fail("set the refund (save_ticket)", err)
	}
	t = refund.Ticket
	p.ticket = t
	p.out.kv("save_ticket", fmt.Sprintf("%s: refund_amount %.2f by billing (v%d)", t.ID, t.RefundAmount, t.Version))
	if len(refund.Negotiations) != 1 {
		return fail("set the refund (save_ticket)", fmt.Errorf("the rule %s did not fire: the result names %d negotiations", Rule.Name, len(refund.Negotiations)))
	}
	p.negID = refund.Negotiations[0].NegotiationID
	negURI := "negotiation://" + p.negID
	if !slices.Contains(resourceLinks(res), negURI) {
		return fail("set the refund (save_ticket)", fmt.Errorf("the result does not link %s (links: %v)", negURI, resourceLinks(res)))
	}
	p.out.kv("", fmt.Sprintf("rule %s fired: the result links %s", refund.Negotiations[0].Rule, negURI))
	return nil
}

// awaitOutcome: 5. the negotiation, as the support desk sees it live:
// wait_for_ticket's progress notifications, printed as they arrive.
func (p *pipeline) awaitOutcome(ctx context.Context) error {
	p.out.section("5. The negotiation, live (wait_for_ticket's progress notifications)")
	t := p.ticket
	prior, refundVersion := t.Status, t.Version
	// The engine takes the negotiation up in the background and marks the
	// ticket negotiating; wait for that (or for the outcome, if it was
	// quicker), so that waiting for the prior status waits for the outcome.
	if err := waitUntil(ctx, func() (bool, error) {
		var cur workspace.Ticket
		if _, err := p.desk.call(ctx, "get_ticket", map[string]any{"ticket_id": t.ID}, &cur); err != nil {
			return false, err
		}
		return cur.Status == workspace.StatusNegotiating || cur.Approval != nil && cur.Approval.NegotiationID == p.negID, nil
	}); err != nil {
		return fail("wait for the negotiation to start", err)
	}
	var waited struct {
		Ticket            workspace.Ticket `json:"ticket"`
		Reached           bool             `json:"reached"`
		TimedOut          bool             `json:"timed_out"`
		Changes           int              `json:"changes"`
		NegotiationEvents int              `json:"negotiation_events"`
	}
	waitSecs := 60
	if dl, ok := ctx.Deadline(); ok {
		waitSecs = max(1, int(time.Until(dl).Seconds()))
	}
	if _, err := p.desk.callProgress(ctx, "wait_for_ticket", map[string]any{"ticket_id": t.ID, "statuses": []string{string(prior)},
		"since_version": refundVersion, "timeout_seconds": min(waitSecs, 600)}, &waited); err != nil {
		return fail("wait for the outcome (wait_for_ticket)", err)
	}
	// Progress notifications travel apart from the result: let the last
	// ones land before going on.
	p.desk.awaitProgress(ctx, waited.Changes+waited.NegotiationEvents)
	t = waited.Ticket
	p.ticket = t
	if !waited.Reached || t.Approval == nil || t.Approval.NegotiationID != p.negID {
		return fail("wait for the outcome (wait_for_ticket)", fmt.Errorf("the ticket is %s with no outcome of %s (timed out: %v)", t.Status, p.negID, waited.TimedOut))
	}
	p.out.kv("wait_for_ticket", fmt.Sprintf("returned: status %s again, approval %s (%d changes, %d negotiation events)", t.Status, t.Approval.Decision, waited.Changes, waited.NegotiationEvents))
	return nil
}

// readTranscript: 6. the negotiation's transcript, from its resource.
func (p *pipeline) readTranscript(ctx context.Context) error {
	negURI := "negotiation://" + p.negID
	if err := p.desk.readJSON(ctx, negURI, &p.view); err != nil {
		return fail("read "+negURI, err)
	}
	if p.view.Outcome == nil {
		return fail("read "+negURI, errors.New("no outcome"))
	}
	p.out.section("6. The transcript (resources/read " + negURI + ")")
	p.out.transcript(p.view)
	return nil
}

// checkUpdates: the subscriber heard of the changes, one resources/updated
// per change; they are listed from the ticket's history.
func (p *pipeline) checkUpdates(ctx context.Context) error {
	uri, t := p.ticketURI, p.ticket
	want := int(t.Version - p.subscribedAt)
	n := p.desk.awaitUpdates(ctx, uri, want)
	p.out.blank()
	p.out.kv("resources/updated", fmt.Sprintf("%s ×%d since the desk subscribed, one per change:", uri, n))
	var doc ticketDoc
	if err := p.desk.readJSON(ctx, uri, &doc); err != nil {
		return fail("read "+uri, err)
	}
	for _, h := range doc.History {
		if h.Version > p.subscribedAt && h.Version <= t.Version {
			p.out.kv("", fmt.Sprintf("v%d  %-9s by %-18s  %s", h.Version, h.Action, h.Actor, describeDetail(h.Detail)))
		}
	}
	if n < want {
		return fail("resources/updated", fmt.Errorf("the subscriber heard of %d changes to %s, want %d", n, uri, want))
	}
	return nil
}

// resolve: 7. billing completes its task and resolves the ticket with the
// amount the agents agreed on.
func (p *pipeline) resolve(ctx context.Context) error {
	o, t := p.view.Outcome, p.ticket
	if o.Decision != negotiation.DecisionApproved {
		return fail("the negotiation", fmt.Errorf("ended %s, %s: %s (the demo expects the agents to agree)", o.Status, o.Decision, o.Reason))
	}
	approved := amountOf(o.Terms)
	p.out.section("7. Billing resolves the ticket with the approved amount")
	var task struct {
		Task workspace.Task `json:"task"`
	}
	if _, err := p.billing.call(ctx, "complete_task", map[string]any{"task_id": p.taskID, "lease_token": p.lease,
		"result": map[string]any{"ticket_id": t.ID, "negotiation_id": p.negID, "approved_amount": approved}}, &task); err != nil {
		return fail("complete the billing task (complete_task)", err)
	}
	p.out.kv("complete_task", fmt.Sprintf("%s %s", task.Task.ID, task.Task.Status))
	resolution := fmt.Sprintf("Refund of %.2f approved as an exception (asked: %.2f; negotiation %s: %s after %d rounds). Duplicate charge refunded.",
		approved, t.RefundAmount, p.negID, o.Status, o.Rounds)
	var resolved struct {
		Ticket  workspace.Ticket `json:"ticket"`
		Saved   bool             `json:"saved"`
		Outcome string           `json:"outcome"`
	}
	if _, err := p.billing.call(ctx, "save_resolution", map[string]any{"ticket_id": t.ID, "resolution": resolution}, &resolved); err != nil {
		return fail("resolve the ticket (save_resolution)", err)
	}
	if !resolved.Saved || resolved.Ticket.Status != workspace.StatusResolved {
		return fail("resolve the ticket (save_resolution)", fmt.Errorf("not saved (%s), status %s", resolved.Outcome, resolved.Ticket.Status))
	}
	p.out.kv("save_resolution", fmt.Sprintf("%s resolved (v%d)", resolved.Ticket.ID, resolved.Ticket.Version))
	return nil
}

// finalTicket: the final ticket, as any host reads it.
func (p *pipeline) finalTicket(ctx context.Context) error {
	p.out.section("Final ticket (" + p.ticketURI + ")")
	var doc ticketDoc
	if err := p.desk.readJSON(ctx, p.ticketURI, &doc); err != nil {
		return fail("read "+p.ticketURI, err)
	}
	p.out.ticket(doc.Ticket)
	if doc.Ticket.Status != workspace.StatusResolved || doc.Ticket.Approval == nil || doc.Ticket.Approval.Decision != negotiation.DecisionApproved {
		return fail("the final ticket", fmt.Errorf("status %s, approval %+v", doc.Ticket.Status, doc.Ticket.Approval))
	}
	return nil
}
