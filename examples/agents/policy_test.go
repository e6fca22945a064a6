package agents_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/parleyhq/parley/examples/agents"
)

func amount(v float64) map[string]any { return map[string]any{"amount": v} }

// policyTurn is a turn for you over a ticket of customer asking refund,
// with terms by the other side standing (nil: nothing stands) and the
// given history.
func policyTurn(you, customer string, refund float64, standing map[string]any, history ...agents.HistoryEntry) agents.Turn {
	t := agents.Turn{Type: agents.TurnType, NegotiationID: "neg-p", Round: len(history) + 1, MaxRounds: 6, You: you,
		Participants: []string{"billing", "escalation"}, Question: "Approve?",
		Subject: agents.Subject{Kind: "ticket", ID: "T-1", Snapshot: map[string]any{"id": "T-1", "customer": customer, "refund_amount": refund}},
		History: history, AllowedMoves: []string{agents.MovePropose, agents.MoveReject}}
	if standing != nil {
		other := "escalation"
		if you == "escalation" {
			other = "billing"
		}
		t.Standing = &agents.Standing{By: other, Terms: standing}
		t.AllowedMoves = []string{agents.MoveCounter, agents.MoveAccept, agents.MoveReject}
	}
	return t
}

func TestPolicies(t *testing.T) {
	h := func(round int, by, move string, amt float64) agents.HistoryEntry {
		return agents.HistoryEntry{Round: round, By: by, Move: move, Terms: amount(amt)}
	}
	bill := func(opts agents.Options) *agents.Agent {
		a, err := agents.New(agents.RoleBilling, opts)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	esc := func(opts agents.Options) *agents.Agent {
		a, err := agents.New(agents.RoleEscalation, opts)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	sixB, sixE := agents.SixMoveOptions()
	tests := []struct {
		name   string
		agent  *agents.Agent
		turn   agents.Turn
		move   string
		amount float64 // of the move's terms; 0: none expected
		says   string  // in the rationale
	}{
		{"billing opens with the refund asked", bill(agents.Options{}), policyTurn("billing", "acme", 500, nil), "propose", 500, "6-year customer, 12k lifetime value"},
		{"billing opens for an unknown customer", bill(agents.Options{}), policyTurn("billing", "Wayne Enterprises", 80, nil), "propose", 80, "lifetime value"},
		{"billing without an amount rejects", bill(agents.Options{}), policyTurn("billing", "acme", 0, nil), "reject", 0, "no refund amount"},
		{"billing accepts 70%", bill(agents.Options{}), policyTurn("billing", "acme", 500, amount(350), h(1, "billing", "propose", 500), h(2, "escalation", "counter", 350)), "accept", 350, "60%"},
		{"billing accepts exactly 60%", bill(agents.Options{}), policyTurn("billing", "acme", 500, amount(300), h(1, "billing", "propose", 500)), "accept", 300, ""},
		{"billing counters just under 60%", bill(agents.Options{}), policyTurn("billing", "acme", 500, amount(299.99), h(1, "billing", "propose", 500)), "counter", 400, "halfway"},
		{"billing counters at the midpoint", bill(agents.Options{}), policyTurn("billing", "acme", 500, amount(100), h(1, "billing", "propose", 500)), "counter", 300, ""},
		{"billing measures against its last ask", bill(agents.Options{}), policyTurn("billing", "acme", 500, amount(200),
			h(1, "billing", "propose", 500), h(2, "escalation", "counter", 100), h(3, "billing", "counter", 300)), "accept", 200, "300.00 asked"},
		{"billing answers an opener with the ask", bill(agents.Options{}), policyTurn("billing", "acme", 500, amount(250), h(1, "escalation", "propose", 250)), "counter", 375, ""},
		{"billing accept ratio option", bill(agents.Options{AcceptRatio: 0.9}), policyTurn("billing", "acme", 500, amount(350), h(1, "billing", "propose", 500)), "counter", 425, "90%"},
		{"billing rounds to cents", bill(agents.Options{}), policyTurn("billing", "acme", 100.01, amount(10), h(1, "billing", "propose", 100.01)), "counter", 55.01, ""},

		{"escalation counters a high-value customer at 350", esc(agents.Options{}), policyTurn("escalation", "acme", 500, amount(500), h(1, "billing", "propose", 500)), "counter", 350, "high-value"},
		{"escalation accepts at its limit", esc(agents.Options{}), policyTurn("escalation", "acme", 500, amount(350), h(1, "billing", "propose", 350)), "accept", 350, ""},
		{"escalation accepts under its limit", esc(agents.Options{}), policyTurn("escalation", "acme", 500, amount(120.5)), "accept", 120.5, ""},
		{"escalation standard limit 200", esc(agents.Options{}), policyTurn("escalation", "globex", 500, amount(500)), "counter", 200, "standard"},
		{"escalation new-customer limit 100", esc(agents.Options{}), policyTurn("escalation", "initech", 500, amount(150)), "counter", 100, "new"},
		{"escalation rejects over the hard cap", esc(agents.Options{}), policyTurn("escalation", "acme", 5000, amount(2000.01)), "reject", 0, "hard cap"},
		{"escalation counters at the hard cap", esc(agents.Options{}), policyTurn("escalation", "acme", 5000, amount(2000)), "counter", 350, ""},
		{"escalation options", esc(agents.Options{BaseLimit: 100, HighValueFactor: 3, HardCap: 250}), policyTurn("escalation", "acme", 500, amount(260)), "reject", 0, "250.00"},
		{"escalation options limit", esc(agents.Options{BaseLimit: 100, HighValueFactor: 3}), policyTurn("escalation", "acme", 500, amount(301)), "counter", 300, ""},
		{"escalation opens with its limit", esc(agents.Options{}), policyTurn("escalation", "acme", 500, nil), "propose", 350, ""},
		{"escalation opens with a smaller ask", esc(agents.Options{}), policyTurn("escalation", "acme", 90, nil), "propose", 90, ""},
		{"escalation step 1", esc(sixE), policyTurn("escalation", "acme", 500, amount(500), h(1, "billing", "propose", 500)), "counter", 120, "step 1"},
		{"escalation step 2", esc(sixE), policyTurn("escalation", "acme", 500, amount(310),
			h(1, "billing", "propose", 500), h(2, "escalation", "counter", 120), h(3, "billing", "counter", 310)), "counter", 240, "step 2"},
		{"escalation step 2 accepts within the step", esc(sixE), policyTurn("escalation", "acme", 500, amount(240),
			h(1, "billing", "propose", 500), h(2, "escalation", "counter", 120), h(3, "billing", "counter", 240)), "accept", 240, ""},
		{"escalation steps stop at the limit", esc(sixE), policyTurn("escalation", "acme", 500, amount(400),
			h(2, "escalation", "counter", 120), h(4, "escalation", "counter", 240)), "counter", 350, "policy cap"},
		{"billing six-move options", bill(sixB), policyTurn("billing", "acme", 500, amount(240),
			h(1, "billing", "propose", 500), h(2, "escalation", "counter", 120), h(3, "billing", "counter", 310), h(4, "escalation", "counter", 240)), "counter", 275, ""},

		{"custom customer table", esc(agents.Options{Customers: map[string]agents.Customer{"ACME": {Name: "acme", TenureYears: 2, LifetimeValue: 2000}}}),
			policyTurn("escalation", "acme", 500, amount(500)), "counter", 200, "standard"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.agent.Decide(tc.turn)
			if m.Type != agents.MoveType || m.Move != tc.move {
				t.Fatalf("move %+v, want %s", m, tc.move)
			}
			got, has := agents.Amount(m.Terms)
			if tc.amount != 0 && (!has || got != tc.amount) {
				t.Errorf("terms %v, want amount %.2f", m.Terms, tc.amount)
			}
			if tc.amount == 0 && m.Terms != nil {
				t.Errorf("terms %v, want none", m.Terms)
			}
			if m.Move == agents.MoveAccept && !jsonEqual(m.Terms, tc.turn.Standing.Terms) {
				t.Errorf("accept terms %v, standing %v", m.Terms, tc.turn.Standing.Terms)
			}
			if !strings.Contains(m.Rationale, tc.says) || m.Rationale == "" {
				t.Errorf("rationale %q does not say %q", m.Rationale, tc.says)
			}
			validate(t, "move", m.DataPart().Data())
		})
	}
}

// A move the policy wants but the turn does not allow is never sent.
func TestPoliciesKeepToAllowedMoves(t *testing.T) {
	b, _ := agents.New(agents.RoleBilling, agents.Options{})
	e, _ := agents.New(agents.RoleEscalation, agents.Options{})
	tests := []struct {
		name    string
		agent   *agents.Agent
		turn    agents.Turn
		allowed []string
		want    string
	}{
		{"counter not allowed", b, policyTurn("billing", "acme", 500, amount(100)), []string{"accept", "reject"}, "reject"},
		{"only accept", b, policyTurn("billing", "acme", 500, amount(100)), []string{"accept"}, "accept"},
		{"counter when only propose is allowed", e, policyTurn("escalation", "acme", 500, amount(500)), []string{"propose", "reject"}, "propose"},
		{"allowed moves left out, nothing stands", b, policyTurn("billing", "acme", 500, nil), nil, "propose"},
		{"allowed moves left out, terms stand", e, policyTurn("escalation", "acme", 500, amount(500)), nil, "counter"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.turn.AllowedMoves = tc.allowed
			m := tc.agent.Decide(tc.turn)
			if m.Move != tc.want {
				t.Fatalf("move %+v, want %s", m, tc.want)
			}
			if m.Move == agents.MoveAccept && !jsonEqual(m.Terms, tc.turn.Standing.Terms) {
				t.Errorf("accept terms %v", m.Terms)
			}
		})
	}
}

func TestCustomers(t *testing.T) {
	acme := agents.LookupCustomer(" ACME ")
	if acme.TenureYears != 6 || acme.LifetimeValue != 12000 || acme.Tier() != agents.TierHigh || acme.Profile() != "6-year customer, 12k lifetime value" {
		t.Errorf("acme: %+v %s %q", acme, acme.Tier(), acme.Profile())
	}
	if got := (agents.Options{}).Limit(acme); got != 350 {
		t.Errorf("acme's limit %.2f, want 350", got)
	}
	// Unknown customers get the same made-up profile every time, and
	// different names mostly different ones.
	seen := map[string]bool{}
	for _, name := range []string{"Wayne Enterprises", "Cyberdyne", "Soylent", "Tyrell", "Wonka", "Oscorp"} {
		c1, c2 := agents.LookupCustomer(name), agents.LookupCustomer(strings.ToUpper(name))
		if c1 != c2 && (c1.TenureYears != c2.TenureYears || c1.LifetimeValue != c2.LifetimeValue) {
			t.Errorf("%s: %+v then %+v", name, c1, c2)
		}
		if c1.TenureYears < 0 || c1.TenureYears > 7 || c1.LifetimeValue < 500 || c1.LifetimeValue > 24250 {
			t.Errorf("%s: %+v out of range", name, c1)
		}
		raw, _ := json.Marshal([]any{c1.TenureYears, c1.LifetimeValue})
		seen[string(raw)] = true
	}
	if len(seen) < 4 {
		t.Errorf("only %d distinct profiles for 6 names", len(seen))
	}
}
