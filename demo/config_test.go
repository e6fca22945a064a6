package demo

import (
	"context"
	"testing"

	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/negotiation"
	"github.com/parleyhq/parley/workspace"
)

// TestRuleCompiles: the demo's escalation rule passes the start-up type
// check and fires on the demo's ticket (a billing refund of 500, nothing
// approved yet), and not once it is approved.
func TestRuleCompiles(t *testing.T) {
	rules, err := negotiation.CompileRules([]config.Rule{Rule}, negotiation.RuleOptions{})
	if err != nil {
		t.Fatalf("the demo's rule does not compile: %v", err)
	}
	ticket := workspace.Ticket{ID: "T-1", Customer: customer, Category: "billing", Status: workspace.StatusTriaged, RefundAmount: 500, Version: 3}
	got, err := rules.Evaluate(context.Background(), config.TriggerTicketSaved, ticket)
	if err != nil || len(got) != 1 {
		t.Errorf("on a billing refund of 500: %d matches, %v; want the rule to fire", len(got), err)
	}
	ticket.Approval = &workspace.Approval{NegotiationID: "neg-1", Status: "agreed", Decision: "approved"}
	if got, err := rules.Evaluate(context.Background(), config.TriggerTicketSaved, ticket); err != nil || len(got) != 0 {
		t.Errorf("on an approved refund: %d matches, %v; want none", len(got), err)
	}
}
