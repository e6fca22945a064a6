package negotiation_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/negotiation"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/workspace"
)

var refundRule = config.Rule{
	Name:         "refund-over-limit",
	When:         `ticket.category == "billing" && ticket.refund_amount > 200.0 && !has(ticket.approval)`,
	Participants: []string{"billing", "escalation"},
	Question:     "Approve an exception refund of {{money .ticket.refund_amount}} for ticket {{.ticket.id}}?",
	Terms:        map[string]string{"amount": "ticket.refund_amount"},
}

// TestRulesFireOncePerVersion: a rule starts one negotiation per ticket
// version however often that version is evaluated (the tool's own call,
// the change feed, another replica), none while one is under way, and
// none on the engine's own writes.
func TestRulesFireOncePerVersion(t *testing.T) {
	rules, err := negotiation.CompileRules([]config.Rule{refundRule}, negotiation.RuleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, script{"billing": biller(500, 300), "escalation": approver(350, 2000)}, negotiation.Options{Rules: rules})
	ctx := t.Context()
	tk := e.ticket(t, workspace.StatusTriaged, 100) // under the limit: nothing
	if got, err := e.svc.TicketChanged(ctx, tk, "save", "test", nil, ""); err != nil || len(got) != 0 {
		t.Fatalf("under the limit: %v, %v", got, err)
	}
	amount := 500.0
	tk, _, err = e.ws.SaveTicket(ctx, "billing", workspace.TicketInput{ID: tk.ID, RefundAmount: &amount})
	if err != nil {
		t.Fatal(err)
	}
	first, err := e.svc.TicketChanged(ctx, tk, "save", "billing", nil, "req-1")
	if err != nil || len(first) != 1 || first[0].Existing || first[0].Rule != refundRule.Name {
		t.Fatalf("over the limit: %+v, %v", first, err)
	}
	// The same version again (the feed, another replica): the same one.
	again, err := e.svc.TicketChanged(ctx, tk, "save", "billing", nil, "")
	if err != nil || len(again) != 1 || !again[0].Existing || again[0].ID != first[0].ID {
		t.Fatalf("same version again: %+v, %v", again, err)
	}
	// A later version while it runs: nothing new.
	summary := "customer called again"
	tk2, _, err := e.ws.SaveTicket(ctx, "billing", workspace.TicketInput{ID: tk.ID, Summary: &summary})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := e.svc.TicketChanged(ctx, tk2, "save", "billing", nil, ""); err != nil || len(got) != 0 {
		t.Fatalf("while one is under way: %+v, %v", got, err)
	}
	v := e.runUntil(t, first[0].ID)
	if v.Outcome.Status != negotiation.StatusAgreed || v.Rule != refundRule.Name || v.Question != "Approve an exception refund of 500.00 for ticket "+tk.ID+"?" {
		t.Fatalf("view %+v", v)
	}
	if !negotiation.SameTerms(v.Requested, []byte(`{"amount": 500}`)) {
		t.Errorf("requested terms %s", v.Requested)
	}
	// The engine's own write-back starts nothing, and the approval it
	// wrote makes the rule's condition false from then on.
	final, err := e.ws.GetTicket(ctx, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := e.svc.TicketChanged(ctx, final, "approval", negotiation.Actor, nil, ""); err != nil || len(got) != 0 {
		t.Fatalf("engine's own write: %+v, %v", got, err)
	}
	if got, err := e.svc.TicketChanged(ctx, final, "save", "billing", nil, ""); err != nil || len(got) != 0 {
		t.Fatalf("after the approval: %+v, %v", got, err)
	}
	all, err := e.svc.ForTicket(ctx, tk.ID)
	if err != nil || len(all) != 1 {
		t.Fatalf("negotiations of the ticket: %d, %v", len(all), err)
	}
}

// TestRulesFromFeed: a change made without the MCP tools (another
// replica, the A2A skill) starts the rule's negotiation through Run.
func TestRulesFromFeed(t *testing.T) {
	rules, err := negotiation.CompileRules([]config.Rule{refundRule}, negotiation.RuleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, script{"billing": biller(500, 300), "escalation": approver(350, 2000)}, negotiation.Options{Rules: rules})
	tk := e.ticket(t, workspace.StatusTriaged, 0) // under the limit: nothing
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.svc.Run(ctx) }()
	defer func() { cancel(); <-done }()
	// Run hears only changes committed after it subscribed: one write once
	// it says it has.
	select {
	case <-e.svc.Ready():
	case err := <-done:
		t.Fatalf("Run returned before it was ready: %v", err)
	}
	amount := 900.0
	if _, _, err := e.ws.SaveTicket(ctx, "a2a:billing", workspace.TicketInput{ID: tk.ID, RefundAmount: &amount}); err != nil {
		t.Fatal(err)
	}
	ch, unwatch := watchTicket(t, e, tk.ID)
	defer unwatch()
	for final := range ch {
		if final.Approval != nil && final.Approval.Decision == negotiation.DecisionApproved {
			if !strings.Contains(string(final.Approval.Terms), "350") || final.Status != workspace.StatusTriaged {
				t.Errorf("approval %+v, status %s", final.Approval, final.Status)
			}
			ns, _, err := e.st.ListNegotiations(ctx, store.NegotiationFilter{SubjectID: tk.ID})
			if err != nil || len(ns) != 1 {
				t.Fatalf("negotiations of the ticket: %+v, %v; want the rule's one", ns, err)
			}
			return
		}
	}
	t.Fatal("no approval written back")
}

// TestReady: Ready is closed once Run has subscribed, not before, and
// stays closed after Run returns.
func TestReady(t *testing.T) {
	e := newEnv(t, script{}, negotiation.Options{})
	select {
	case <-e.svc.Ready():
		t.Fatal("ready before Run")
	default:
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.svc.Run(ctx) }()
	select {
	case <-e.svc.Ready():
	case err := <-done:
		t.Fatalf("Run returned before it was ready: %v", err)
	}
	cancel()
	<-done
	select {
	case <-e.svc.Ready():
	default:
		t.Fatal("Ready reopened after Run returned")
	}
}

// watchTicket yields the ticket after each of its changes on the feed.
func watchTicket(t *testing.T, e *env, id string) (<-chan workspace.Ticket, func()) {
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	changes, err := e.st.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan workspace.Ticket)
	go func() {
		defer close(out)
		if tk, err := e.ws.GetTicket(ctx, id); err == nil {
			select {
			case out <- tk:
			case <-ctx.Done():
				return
			}
		}
		for c := range changes {
			if c.Kind != store.KindTicket || c.Key != id {
				continue
			}
			tk, err := e.ws.GetTicket(ctx, id)
			if err != nil {
				return
			}
			select {
			case out <- tk:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, cancel
}

type auditRecorder struct {
	entries chan audit.Entry
}

func (a *auditRecorder) Append(_ context.Context, e audit.Entry) (audit.Record, error) {
	a.entries <- e
	return audit.Record{}, nil
}

// Intend commits nothing with writes: Append records after each.
func (a *auditRecorder) Intend(ctx context.Context, _ func() audit.Entry) (context.Context, *audit.Intent) {
	return ctx, nil
}

// TestAuditTrail: a start, every move and the decision are audited, all
// linked to the negotiation, the ticket and the starting request.
func TestAuditTrail(t *testing.T) {
	rec := &auditRecorder{entries: make(chan audit.Entry, 100)}
	e := newEnv(t, script{"billing": biller(500, 300), "escalation": approver(350, 2000)}, negotiation.Options{Audit: rec})
	tk := e.ticket(t, workspace.StatusEscalated, 500)
	started, err := e.svc.Start(t.Context(), negotiation.StartRequest{TicketID: tk.ID, Participants: []string{"billing", "escalation"},
		Question: "Approve?", StartedBy: "alice", RequestID: "req-42"})
	if err != nil {
		t.Fatal(err)
	}
	e.runUntil(t, started.ID)
	var got []string
	for len(got) < 5 {
		en := <-rec.entries
		if en.Links.NegotiationID != started.ID || en.Links.TicketID != tk.ID || en.Links.RequestID != "req-42" {
			t.Errorf("%s: links %+v", en.Action, en.Links)
		}
		got = append(got, en.Action+":"+en.Target)
	}
	want := []string{audit.ActionNegotiationStart + ":" + started.ID, audit.ActionNegotiationMove + ":billing",
		audit.ActionNegotiationMove + ":escalation", audit.ActionNegotiationMove + ":billing", audit.ActionNegotiationDecision + ":" + started.ID}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("audit trail\n got %v\nwant %v", got, want)
	}
}

// TestAuthorizeParticipants: starting by hand needs the permission to make
// every participant negotiate.
func TestAuthorizeParticipants(t *testing.T) {
	e := newEnv(t, script{}, negotiation.Options{Authorize: func(_ context.Context, agent, action string) error {
		if agent == "escalation" && action == "negotiate" {
			return negotiation.ErrForbidden
		}
		return nil
	}})
	tk := e.ticket(t, workspace.StatusEscalated, 500)
	_, err := e.svc.Start(t.Context(), negotiation.StartRequest{TicketID: tk.ID, Participants: []string{"billing", "escalation"}, Question: "?"})
	if err == nil {
		t.Fatal("started without the permission")
	}
	ns, _, _ := e.st.ListNegotiations(t.Context(), store.NegotiationFilter{})
	if len(ns) != 0 {
		t.Errorf("%d negotiations stored after a refused start", len(ns))
	}
}
