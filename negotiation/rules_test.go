package negotiation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/workspace"
)

// refundRule is the demo's rule: an over-limit billing refund is
// negotiated between billing and escalation.
func refundRule() config.Rule {
	return config.Rule{
		Name:         "refund-over-limit",
		When:         `ticket.category == "billing" && ticket.refund_amount > 200.0`,
		Participants: []string{"billing", "escalation"},
		Question:     "Approve an exception refund of {{money .ticket.refund_amount}} for ticket {{.ticket.id}}?",
		Terms:        map[string]string{"amount": "ticket.refund_amount"},
	}
}

func billingTicket(amount float64) workspace.Ticket {
	return workspace.Ticket{ID: "T-7", Customer: "acme", Category: "billing", Priority: "high",
		Status: workspace.StatusTriaged, Summary: "Double charge on the March invoice", RefundAmount: amount, Version: 2}
}

func approvedWith(terms string) *workspace.Approval {
	return &workspace.Approval{NegotiationID: "neg-1", Status: "agreed", Decision: "approved", Rounds: 2, Terms: json.RawMessage(terms)}
}

// datedTicket has fixed times, compared only with each other and with
// literals, never with the clock.
func datedTicket() workspace.Ticket {
	tk := billingTicket(500)
	tk.CreatedAt = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	tk.UpdatedAt = tk.CreatedAt.Add(2 * time.Hour)
	decided := tk.UpdatedAt
	tk.Approval = approvedWith(`{"amount": 350}`)
	tk.Approval.DecidedAt = &decided
	return tk
}

func mustCompile(t *testing.T, rules ...config.Rule) *Rules {
	t.Helper()
	r, err := CompileRules(rules, RuleOptions{})
	if err != nil {
		t.Fatalf("CompileRules: %v", err)
	}
	return r
}

func TestRuleConditions(t *testing.T) {
	approved := &workspace.Approval{NegotiationID: "neg-1", Status: "agreed", Decision: "approved", Rounds: 2}
	tests := []struct {
		name   string
		when   string
		ticket workspace.Ticket
		want   bool
	}{
		{"billing over the limit", `ticket.category == "billing" && ticket.refund_amount > 200.0`, billingTicket(500), true},
		{"billing at the limit", `ticket.category == "billing" && ticket.refund_amount > 200.0`, billingTicket(200), false},
		{"other category", `ticket.category == "billing" && ticket.refund_amount > 200.0`,
			func() workspace.Ticket { tk := billingTicket(500); tk.Category = "shipping"; return tk }(), false},
		{"int literal against a double", `ticket.refund_amount >= 500`, billingTicket(500), true},
		{"status", `ticket.status == "triaged"`, billingTicket(1), true},
		{"status in a list", `ticket.status in ["escalated", "negotiating"]`, billingTicket(1), false},
		{"escalated flag", `ticket.escalated`, func() workspace.Ticket { tk := billingTicket(1); tk.Escalated = true; return tk }(), true},
		{"no approval yet", `!has(ticket.approval)`, billingTicket(500), true},
		{"approval present", `!has(ticket.approval)`,
			func() workspace.Ticket { tk := billingTicket(500); tk.Approval = approved; return tk }(), false},
		{"approval decision", `has(ticket.approval) && ticket.approval.decision == "approved"`,
			func() workspace.Ticket { tk := billingTicket(500); tk.Approval = approved; return tk }(), true},
		{"string contains", `ticket.summary.contains("charge")`, billingTicket(1), true},
		{"string lowerAscii", `ticket.summary.lowerAscii().startsWith("double")`, billingTicket(1), true},
		{"string matches", `ticket.id.matches("^T-[0-9]+$")`, billingTicket(1), true},
		{"index syntax", `ticket["priority"] in ["high", "urgent"]`, billingTicket(1), true},
		{"version", `ticket.version == 2`, billingTicket(1), true},
		{"always", `true`, workspace.Ticket{}, true},
		{"dyn condition", `ticket.escalated || false`, billingTicket(1), false},
		// Fields a ticket lacks read as zero values, so that a rule that
		// compiles does not fail on a ticket without them.
		{"absent approval reads as zero", `ticket.approval.decision == "denied"`, billingTicket(500), false},
		{"absent approval's rounds", `ticket.approval.rounds == 0 && ticket.approval.decision == ""`, billingTicket(500), true},
		{"absent generated summary", `!has(ticket.generated_summary) && ticket.generated_summary.text == ""`, billingTicket(1), true},
		{"has on a field always in the JSON form", `has(ticket.refund_amount)`, billingTicket(0), true},
		{"has on an empty omitted field", `has(ticket.resolution)`, billingTicket(1), false},
		{"approval by index syntax", `ticket["approval"]["decision"] == "approved"`,
			func() workspace.Ticket { tk := billingTicket(500); tk.Approval = approved; return tk }(), true},
		{"approval terms are JSON", `has(ticket.approval.terms.amount) && ticket.approval.terms.amount > 300.0`,
			func() workspace.Ticket {
				tk := billingTicket(500)
				tk.Approval = approvedWith(`{"amount": 350}`)
				return tk
			}(), true},
		{"approval terms absent", `has(ticket.approval.terms.amount) && ticket.approval.terms.amount > 300.0`,
			func() workspace.Ticket { tk := billingTicket(500); tk.Approval = approved; return tk }(), false},
		{"approval terms by index", `ticket.approval.terms["amount"] == 350`,
			func() workspace.Ticket {
				tk := billingTicket(500)
				tk.Approval = approvedWith(`{"amount": 350}`)
				return tk
			}(), true},
		{"times are timestamps", `ticket.updated_at - ticket.created_at > duration("1h")`, datedTicket(), true},
		{"time against a literal", `ticket.created_at < timestamp("2025-06-01T00:00:00Z")`, datedTicket(), true},
		{"approval decided at", `has(ticket.approval.decided_at) && ticket.approval.decided_at > ticket.created_at`, datedTicket(), true},
		{"version above a double", `ticket.version > 1.5`, billingTicket(1), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rule := refundRule()
			rule.When = tt.when
			rules := mustCompile(t, rule)
			got, err := rules.Evaluate(context.Background(), config.TriggerTicketSaved, tt.ticket)
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			if (len(got) == 1) != tt.want {
				t.Errorf("matches = %+v, want match %v", got, tt.want)
			}
		})
	}
}

func TestRuleMatch(t *testing.T) {
	rule := refundRule()
	rule.Terms = map[string]string{
		"amount":   "ticket.refund_amount",
		"half":     "ticket.refund_amount / 2.0",
		"count":    "3",
		"customer": "ticket.customer.upperAscii()",
		"flags":    `[ticket.escalated, has(ticket.approval)]`,
		"meta":     `{"priority": ticket.priority, "v": ticket.version}`,
	}
	rule.MaxRounds = 4
	rule.Deadline = time.Minute
	rule.Fallback = config.FallbackAskHuman
	rules := mustCompile(t, rule)
	got, err := rules.Evaluate(context.Background(), config.TriggerTicketSaved, billingTicket(512.5))
	if err != nil || len(got) != 1 {
		t.Fatalf("Evaluate = %+v, %v", got, err)
	}
	m := got[0]
	if m.Rule != "refund-over-limit" || m.MaxRounds != 4 || m.Deadline != time.Minute || m.Fallback != config.FallbackAskHuman {
		t.Errorf("match = %+v", m)
	}
	if want := "Approve an exception refund of 512.50 for ticket T-7?"; m.Question != want {
		t.Errorf("Question = %q, want %q", m.Question, want)
	}
	if !slices.Equal(m.Participants, []string{"billing", "escalation"}) {
		t.Errorf("Participants = %v", m.Participants)
	}
	want := `{"amount":512.5,"count":3,"customer":"ACME","flags":[false,false],"half":256.25,"meta":{"priority":"high","v":2}}`
	var gotTerms, wantTerms map[string]any
	if err := json.Unmarshal(m.Terms, &gotTerms); err != nil {
		t.Fatalf("Terms %s: %v", m.Terms, err)
	}
	_ = json.Unmarshal([]byte(want), &wantTerms)
	if g, w := mustJSON(gotTerms), mustJSON(wantTerms); g != w {
		t.Errorf("Terms = %s, want %s", g, w)
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestRuleTermsJSON(t *testing.T) {
	rule := refundRule()
	rules := mustCompile(t, rule)
	got, err := rules.Evaluate(context.Background(), "", billingTicket(500))
	if err != nil || len(got) != 1 {
		t.Fatalf("Evaluate = %+v, %v", got, err)
	}
	if string(got[0].Terms) != `{"amount":500}` {
		t.Errorf("Terms = %s", got[0].Terms)
	}

	rule.Terms = nil
	got, err = mustCompile(t, rule).Evaluate(context.Background(), "", billingTicket(500))
	if err != nil || len(got) != 1 || string(got[0].Terms) != `{}` {
		t.Fatalf("without terms: Evaluate = %+v, %v", got, err)
	}
}

func TestRuleQuestion(t *testing.T) {
	tests := []struct {
		name     string
		question string
		terms    map[string]string
		ticket   workspace.Ticket
		want     string
	}{
		{"money and id", "Refund {{money .ticket.refund_amount}} on {{.ticket.id}}?", nil, billingTicket(500), "Refund 500.00 on T-7?"},
		{"terms", "Approve {{money .terms.amount}} (asked {{.ticket.refund_amount}})?", map[string]string{"amount": "ticket.refund_amount * 0.5"},
			billingTicket(301), "Approve 150.50 (asked 301)?"},
		{"rule name", "{{.rule}}: {{.ticket.customer}}", nil, billingTicket(500), "refund-over-limit: acme"},
		{"omitted field is empty", "[{{.ticket.resolution}}]", nil, billingTicket(500), "[]"},
		{"guarded optional section", "{{if .ticket.approval}}again{{else}}first{{end}}", nil, billingTicket(500), "first"},
		{"default from terms", "", map[string]string{"amount": "ticket.refund_amount", "reason": `"tenure"`}, billingTicket(250),
			"Agree on the terms for ticket T-7 (rule refund-over-limit): amount 250, reason tenure?"},
		{"default without terms", "", map[string]string{}, billingTicket(250),
			"Agree on how to settle ticket T-7 (rule refund-over-limit)?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rule := refundRule()
			rule.Question = tt.question
			if tt.terms != nil {
				rule.Terms = tt.terms
			}
			got, err := mustCompile(t, rule).Evaluate(context.Background(), config.TriggerTicketSaved, tt.ticket)
			if err != nil || len(got) != 1 {
				t.Fatalf("Evaluate = %+v, %v", got, err)
			}
			if got[0].Question != tt.want {
				t.Errorf("Question = %q, want %q", got[0].Question, tt.want)
			}
		})
	}
}

func TestRuleQuestionFailsAtRuntime(t *testing.T) {
	// The example ticket has an approval, so this compiles; a ticket
	// without one cannot fill it in, and the rule does not match.
	rule := refundRule()
	rule.Question = "Previous decision: {{.ticket.approval.decision}}"
	rules := mustCompile(t, rule)
	got, err := rules.Evaluate(context.Background(), config.TriggerTicketSaved, billingTicket(500))
	if len(got) != 0 || err == nil || !strings.Contains(err.Error(), `rule "refund-over-limit": question:`) {
		t.Fatalf("Evaluate = %+v, %v; want no match and a question error", got, err)
	}
}

func TestRuleOpenerRotation(t *testing.T) {
	tests := []struct {
		participants []string
		opener       string
		want         []string
	}{
		{[]string{"billing", "escalation"}, "", []string{"billing", "escalation"}},
		{[]string{"billing", "escalation"}, "escalation", []string{"escalation", "billing"}},
		{[]string{"a", "b", "c", "d"}, "c", []string{"c", "d", "a", "b"}},
		{[]string{"a", "b", "c"}, "C", []string{"c", "a", "b"}},
		{[]string{"a", "b", "c"}, "a", []string{"a", "b", "c"}},
	}
	for _, tt := range tests {
		rule := refundRule()
		rule.Participants, rule.Opener = tt.participants, tt.opener
		got, err := mustCompile(t, rule).Evaluate(context.Background(), config.TriggerTicketSaved, billingTicket(500))
		if err != nil || len(got) != 1 {
			t.Fatalf("Evaluate = %+v, %v", got, err)
		}
		if !slices.Equal(got[0].Participants, tt.want) {
			t.Errorf("%v opener %q: Participants = %v, want %v", tt.participants, tt.opener, got[0].Participants, tt.want)
		}
	}
}

func TestRuleDefaults(t *testing.T) {
	got, err := mustCompile(t, refundRule()).Evaluate(context.Background(), config.TriggerTicketSaved, billingTicket(500))
	if err != nil || len(got) != 1 {
		t.Fatalf("Evaluate = %+v, %v", got, err)
	}
	m := got[0]
	if m.MaxRounds != config.DefaultMaxRounds || m.Deadline != config.DefaultDeadline || m.Fallback != config.FallbackDeny {
		t.Errorf("defaults: %+v", m)
	}
}

func TestRuleTriggers(t *testing.T) {
	saved := refundRule()
	saved.Name = "on-save"
	explicit := refundRule()
	explicit.Name, explicit.Trigger = "on-save-explicit", config.TriggerTicketSaved
	escalated := refundRule()
	escalated.Name, escalated.Trigger = "on-escalation", config.TriggerEscalated
	rules := mustCompile(t, saved, escalated, explicit)
	if got := rules.Names(); !slices.Equal(got, []string{"on-save", "on-escalation", "on-save-explicit"}) {
		t.Errorf("Names = %v", got)
	}
	names := func(ms []Match) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.Rule)
		}
		return out
	}
	for trigger, want := range map[string][]string{
		config.TriggerTicketSaved: {"on-save", "on-save-explicit"},
		"":                        {"on-save", "on-save-explicit"},
		config.TriggerEscalated:   {"on-escalation"},
		"ticket.deleted":          nil,
	} {
		got, err := rules.Evaluate(context.Background(), trigger, billingTicket(500))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(names(got), want) {
			t.Errorf("trigger %q: matches %v, want %v", trigger, names(got), want)
		}
	}
}

func TestCompileRulesInvalid(t *testing.T) {
	tests := []struct {
		name   string
		modify func(r *config.Rule)
		want   []string
	}{
		{"syntax error", func(r *config.Rule) { r.When = `ticket.category == "billing" &&` }, []string{`rule "refund-over-limit": when: `, "Syntax error"}},
		{"non-bool condition", func(r *config.Rule) { r.When = `ticket.refund_amount * 2.0 + 1.0` }, []string{`rule "refund-over-limit": when: `, "double", "boolean"}},
		{"string condition", func(r *config.Rule) { r.When = `"yes"` }, []string{"when: ", "string"}},
		{"unknown variable", func(r *config.Rule) { r.When = `tickt.category == "billing"` }, []string{"when: ", "undeclared reference to 'tickt'"}},
		{"unknown function", func(r *config.Rule) { r.When = `ticket.summary.shout()` }, []string{"when: ", "shout"}},
		{"misspelt field", func(r *config.Rule) { r.When = `ticket.refund_amout > 200.0` }, []string{"when: ", `ticket has no field "refund_amout"`, "refund_amount"}},
		{"misspelt field under has", func(r *config.Rule) { r.When = `has(ticket.aproval)` }, []string{"when: ", `"aproval"`}},
		{"misspelt nested field", func(r *config.Rule) { r.When = `has(ticket.approval) && ticket.approval.decison == "denied"` },
			[]string{"when: ", `ticket.approval has no field "decison"`}},
		{"misspelt field by index", func(r *config.Rule) { r.When = `ticket["categry"] == "x"` }, []string{"when: ", `"categry"`}},
		{"field of a string", func(r *config.Rule) { r.When = `ticket.category.name == "x"` }, []string{"when: ", "ticket.category has no fields"}},
		{"bad terms expression", func(r *config.Rule) { r.Terms = map[string]string{"amount": "ticket.refund_amount +"} }, []string{`rule "refund-over-limit": terms.amount: `}},
		{"terms field typo", func(r *config.Rule) { r.Terms = map[string]string{"amount": "ticket.refund"} }, []string{"terms.amount: ", `"refund"`}},
		{"template syntax", func(r *config.Rule) { r.Question = "Refund {{money .ticket.refund_amount}?" }, []string{`rule "refund-over-limit": question: `}},
		{"template unknown function", func(r *config.Rule) { r.Question = "{{dollars .ticket.refund_amount}}" }, []string{"question: ", "dollars"}},
		{"template field typo", func(r *config.Rule) { r.Question = "Refund for {{.ticket.idd}}" }, []string{"question: on an example ticket", "idd"}},
		{"template term typo", func(r *config.Rule) { r.Question = "Refund {{money .terms.amout}}" }, []string{"question: on an example ticket", "amout"}},
		{"template money of text", func(r *config.Rule) { r.Question = "{{money .ticket.customer}}" }, []string{"question: ", "not a number"}},
		{"too few participants", func(r *config.Rule) { r.Participants = []string{"billing"} }, []string{`rule "refund-over-limit": participants: `}},
		{"opener not a participant", func(r *config.Rule) { r.Opener = "triage" }, []string{"opener: "}},
		{"bad fallback", func(r *config.Rule) { r.Fallback = "maybe" }, []string{"fallback: "}},
		{"bad trigger", func(r *config.Rule) { r.Trigger = "ticket.deleted" }, []string{"trigger: "}},
		{"no condition", func(r *config.Rule) { r.When = "" }, []string{"when: "}},
		// Type errors: each would fail on every ticket (finding 5).
		{"number compared with a string", func(r *config.Rule) { r.When = `ticket.refund_amount > "200"` },
			[]string{`rule "refund-over-limit": when: `, `'>' cannot compare ticket.refund_amount (a number (double)) with "200" (a string)`,
				"write the number 200 without quotes", "line 1, column 22"}},
		{"double plus an int", func(r *config.Rule) { r.When = `ticket.refund_amount + 1 > 200.0` },
			[]string{"when: ", "'+' cannot combine ticket.refund_amount (a number (double)) and 1 (a whole number (int))", "write 1.0"}},
		{"double equals an int", func(r *config.Rule) { r.When = `ticket.refund_amount == 500` }, []string{"when: ", "'=='", "write 500.0"}},
		{"int plus a double", func(r *config.Rule) { r.When = `ticket.version + 1.5 > 2.0` }, []string{"when: ", "'+'", "double(...)"}},
		{"status compared with a number", func(r *config.Rule) { r.When = `ticket.status == 3` },
			[]string{"when: ", "ticket.status (a string) with 3 (a whole number (int))"}},
		{"time compared with a string", func(r *config.Rule) { r.When = `ticket.created_at > "2026-01-01"` },
			[]string{"when: ", "ticket.created_at (a time (timestamp))", `timestamp("2026-01-01")`}},
		{"nested field compared with a string", func(r *config.Rule) { r.When = `ticket.approval.rounds > "2"` },
			[]string{"when: ", "ticket.approval.rounds (a whole number (int))"}},
		{"string where a boolean is needed", func(r *config.Rule) { r.When = `ticket.escalated && ticket.category` },
			[]string{"when: ", "'&&' needs booleans", "ticket.category (a string)"}},
		{"negated string", func(r *config.Rule) { r.When = `!ticket.category` }, []string{"when: ", "'!' needs booleans"}},
		{"string method on a number", func(r *config.Rule) { r.When = `ticket.refund_amount.contains("5")` },
			[]string{"when: ", "contains() cannot be called on ticket.refund_amount (a number (double))"}},
		{"function on the wrong type", func(r *config.Rule) { r.When = `size(ticket.refund_amount) > 1` },
			[]string{"when: ", "size() cannot take ticket.refund_amount (a number (double))"}},
		{"in a list of another type", func(r *config.Rule) { r.When = `ticket.version in ["1", "2"]` }, []string{"when: ", "'in' cannot look for"}},
		{"double in a list of ints", func(r *config.Rule) { r.When = `ticket.refund_amount in [500, 600]` },
			[]string{"when: ", "'in' cannot look for ticket.refund_amount (a number (double)) in [500, 600]"}},
		{"index the ticket with a number", func(r *config.Rule) { r.When = `ticket[1] == "x"` }, []string{"when: ", "cannot be indexed with 1"}},
		{"field of a time", func(r *config.Rule) { r.When = `ticket.created_at.year == 1` }, []string{"when: ", "ticket.created_at has no fields"}},
		{"condition is a string field", func(r *config.Rule) { r.When = `ticket["category"]` }, []string{"when: ", "gives a string", "boolean"}},
		{"condition is a map", func(r *config.Rule) { r.When = `{"a": 1}` }, []string{"when: ", "gives a map"}},
		{"building an object", func(r *config.Rule) { r.When = `parley.Ticket{id: "x"}.id == "x"` }, []string{"when: ", "cannot build objects"}},
		{"term type error", func(r *config.Rule) { r.Terms = map[string]string{"amount": `ticket.refund_amount * "2"`} },
			[]string{`rule "refund-over-limit": terms.amount: `, "'*' cannot combine"}},
		{"term of bytes", func(r *config.Rule) { r.Terms = map[string]string{"amount": `b"abc"`} },
			[]string{`rule "refund-over-limit": terms.amount: `, "gives bytes", "JSON terms cannot hold"}},
		{"term of a type", func(r *config.Rule) { r.Terms = map[string]string{"amount": `type(ticket)`} }, []string{"terms.amount: ", "gives a type"}},
		{"term map with number keys", func(r *config.Rule) { r.Terms = map[string]string{"amount": `{1: 2}`} }, []string{"terms.amount: ", "map(int, int)"}},
		{"term list of bytes", func(r *config.Rule) { r.Terms = map[string]string{"amount": `[b"x"]`} }, []string{"terms.amount: ", "list(bytes)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok := refundRule()
			ok.Name = "fine"
			rule := refundRule()
			tt.modify(&rule)
			_, err := CompileRules([]config.Rule{ok, rule}, RuleOptions{})
			if err == nil {
				t.Fatal("CompileRules succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestRulesCompile: rules that can work compile, the examples people copy
// from (the README's configuration, the demo's rule) among them.
func TestRulesCompile(t *testing.T) {
	tests := []struct {
		name  string
		when  string
		terms map[string]string
	}{
		{"int literal against a double", `ticket.refund_amount > 200`, nil},
		{"times", `ticket.updated_at - ticket.created_at > duration("24h")`, map[string]string{"since": `ticket.created_at`}},
		{"JSON terms", `has(ticket.approval.terms.amount) && ticket.approval.terms.amount >= 300`, map[string]string{"agreed": `ticket.approval.terms`}},
		{"whole objects as terms", `has(ticket.approval)`, map[string]string{"approval": "ticket.approval", "ticket": "ticket"}},
		{"conversions", `double(ticket.version) * 1.5 > ticket.refund_amount`, map[string]string{"v": `string(ticket.version)`}},
		{"comprehension", `["billing", "refunds"].exists(c, c == ticket.category)`, map[string]string{"tags": `["a", ticket.priority]`}},
		{"dyn escape", `dyn(ticket.refund_amount) == 500`, nil},
		{"generated summary", `has(ticket.generated_summary) && ticket.generated_summary.source == "data"`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rule := refundRule()
			rule.When = tt.when
			if tt.terms != nil {
				rule.Terms = tt.terms
			}
			mustCompile(t, rule)
		})
	}
	t.Run("README", func(t *testing.T) {
		data, err := os.ReadFile("../README.md")
		if err != nil {
			t.Fatal(err)
		}
		found := 0
		for _, block := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(data), -1) {
			var doc struct {
				Negotiation config.Negotiation `yaml:"negotiation"`
			}
			if err := yaml.Unmarshal([]byte(block[1]), &doc); err != nil {
				t.Fatalf("README yaml block: %v\n%s", err, block[1])
			}
			for _, r := range doc.Negotiation.Rules {
				found++
				if _, err := CompileRules([]config.Rule{r}, RuleOptions{}); err != nil {
					t.Errorf("README's rule %q: %v", r.Name, err)
				}
			}
		}
		if found == 0 {
			t.Fatal("no rule found in the README's yaml blocks")
		}
	})
}

func TestCompileRulesDuplicateAndUnnamed(t *testing.T) {
	_, err := CompileRules([]config.Rule{refundRule(), refundRule()}, RuleOptions{})
	if err == nil || !strings.Contains(err.Error(), `rule "refund-over-limit": name:`) {
		t.Errorf("duplicate: %v", err)
	}
	unnamed := refundRule()
	unnamed.Name = ""
	_, err = CompileRules([]config.Rule{refundRule(), unnamed}, RuleOptions{})
	if err == nil || !strings.Contains(err.Error(), `rule "#2": name:`) {
		t.Errorf("unnamed: %v", err)
	}
	if r, err := CompileRules(nil, RuleOptions{}); err != nil || len(r.Names()) != 0 {
		t.Errorf("no rules: %v, %v", r, err)
	}
}

// expensive is a condition that costs far more than the default limit:
// 20^4 iterations of a comprehension.
const expensive = `[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20].all(a,
	[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20].all(b,
	[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20].all(c,
	[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20].all(d, a + b + c + d > 0))))`

func TestRuleCostLimit(t *testing.T) {
	costly := refundRule()
	costly.Name = "costly"
	costly.When = `ticket.refund_amount > 0.0 && ` + expensive
	cheap := refundRule()
	rules := mustCompile(t, costly, cheap)
	got, err := rules.Evaluate(context.Background(), config.TriggerTicketSaved, billingTicket(500))
	if len(got) != 1 || got[0].Rule != "refund-over-limit" {
		t.Errorf("matches = %+v, want only the cheap rule", got)
	}
	if err == nil || !strings.Contains(err.Error(), `rule "costly": when: `) || !strings.Contains(err.Error(), "cost limit") ||
		!strings.Contains(err.Error(), "10000") {
		t.Errorf("error = %v, want a cost limit error naming the rule", err)
	}

	// A costly term fails the rule too.
	costlyTerm := refundRule()
	costlyTerm.Terms = map[string]string{"amount": expensive}
	_, err = mustCompile(t, costlyTerm).Evaluate(context.Background(), config.TriggerTicketSaved, billingTicket(500))
	if err == nil || !strings.Contains(err.Error(), "terms.amount: ") || !strings.Contains(err.Error(), "cost limit") {
		t.Errorf("costly term: %v", err)
	}

	// A higher limit lets it through.
	rules, err = CompileRules([]config.Rule{costly}, RuleOptions{CostLimit: 10_000_000})
	if err != nil {
		t.Fatal(err)
	}
	got, err = rules.Evaluate(context.Background(), config.TriggerTicketSaved, billingTicket(500))
	if err != nil || len(got) != 1 {
		t.Errorf("with a higher limit: %+v, %v", got, err)
	}
}

func TestRuleContextCanceled(t *testing.T) {
	rule := refundRule()
	rule.When = `ticket.refund_amount > 0.0 && ` + expensive
	rules, err := CompileRules([]config.Rule{rule}, RuleOptions{CostLimit: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got, err := rules.Evaluate(ctx, config.TriggerTicketSaved, billingTicket(500))
	if len(got) != 0 || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), `rule "refund-over-limit"`) {
		t.Errorf("Evaluate = %+v, %v; want context.Canceled naming the rule", got, err)
	}
}

func TestRuleRuntimeErrors(t *testing.T) {
	// Each rule fails at runtime for this ticket, on values the types do
	// not declare (the approval's JSON terms) or cannot rule out; the good
	// one still matches.
	noKey := refundRule()
	noKey.Name, noKey.When = "no-key", `ticket.approval.terms.amount > 100.0`
	notBool := refundRule()
	notBool.Name, notBool.When = "not-bool", `ticket.approval.terms.ok`
	badTerm := refundRule()
	badTerm.Name, badTerm.Terms = "bad-term", map[string]string{"amount": `ticket.refund_amount / 0.0`}
	rules := mustCompile(t, noKey, notBool, refundRule(), badTerm)
	tk := billingTicket(500)
	tk.Approval = approvedWith(`{"ok": "yes"}`)
	got, err := rules.Evaluate(context.Background(), config.TriggerTicketSaved, tk)
	if len(got) != 1 || got[0].Rule != "refund-over-limit" {
		t.Errorf("matches = %+v", got)
	}
	for _, want := range []string{`rule "no-key": when: `, "no such key", `rule "not-bool": when: `, "not a boolean", `rule "bad-term": terms.amount: `, "JSON number"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not contain %q", err, want)
		}
	}
}

// TestRuleAbsentFieldsNeverFail: every field the ticket declares, read in
// a condition, under has() and as a term, evaluates without error on a
// ticket that has none of the optional ones and on one that has them all.
func TestRuleAbsentFieldsNeverFail(t *testing.T) {
	var paths []string
	var walk func(s *fieldSchema)
	walk = func(s *fieldSchema) {
		paths = append(paths, s.path)
		for _, name := range slices.Sorted(maps.Keys(s.fields)) {
			walk(s.fields[name])
		}
	}
	walk(ticketSchema)
	if len(paths) < 25 {
		t.Fatalf("only %d declared paths: %v", len(paths), paths)
	}
	for _, p := range paths {
		t.Run(p, func(t *testing.T) {
			rule := refundRule()
			rule.When = fmt.Sprintf("%s == %s", p, p)
			if p != "ticket" {
				rule.When += fmt.Sprintf(" && (has(%s) || !has(%s))", p, p)
			}
			rule.Terms = map[string]string{"value": p}
			rule.Question = ""
			rules := mustCompile(t, rule)
			for name, tk := range map[string]workspace.Ticket{"empty": {}, "full": exampleTicket()} {
				got, err := rules.Evaluate(context.Background(), config.TriggerTicketSaved, tk)
				if err != nil || len(got) != 1 {
					t.Errorf("%s ticket: Evaluate = %+v, %v", name, got, err)
				}
			}
		})
	}
}

func TestRulesConcurrent(t *testing.T) {
	rules := mustCompile(t, refundRule())
	done := make(chan error)
	for i := range 8 {
		go func() {
			got, err := rules.Evaluate(context.Background(), config.TriggerTicketSaved, billingTicket(float64(300+i)))
			if err == nil && len(got) != 1 {
				err = errors.New("no match")
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func TestMoney(t *testing.T) {
	for in, want := range map[any]string{500.0: "500.00", 350: "350.00", int64(7): "7.00", 0.005: "0.01", 12.345: "12.35", json.Number("3.1"): "3.10"} {
		got, err := money(in)
		if err != nil || got != want {
			t.Errorf("money(%v) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []any{nil, "12", true} {
		if _, err := money(in); err == nil {
			t.Errorf("money(%v) succeeded", in)
		}
	}
}

// FuzzRuleEvaluate compiles an arbitrary condition and term and evaluates
// them against a ticket made of fuzzed values and against one that lacks
// every optional field: nothing may panic, a rule that does not compile
// is refused naming itself, and a rule that compiles either matches, does
// not, or reports an error naming itself.
func FuzzRuleEvaluate(f *testing.F) {
	f.Add(`ticket.category == "billing" && ticket.refund_amount > 200.0`, "ticket.refund_amount", "billing", 500.0, "Refund {{money .terms.amount}}")
	f.Add(`has(ticket.approval)`, `[1, 2]`, "", -1.0, "{{.ticket.id}}")
	f.Add(`ticket.summary.size() > 3`, `{"a": ticket.summary}`, "x", 0.0, "")
	f.Add(expensive, "1", "y", 1e300, "{{money .terms.amount}}")
	f.Add(`ticket.refund_amount > "200"`, `ticket.refund_amount * "2"`, "billing", 500.0, "")
	f.Add(`ticket["approval"]["decision"] == "denied"`, `ticket.approval.terms`, "billing", 500.0, "")
	f.Add(`ticket.approval.terms.amount > 1.0 || ticket.escalated && ticket.category`, `ticket.approval`, "z", 3.0, "")
	f.Add(`ticket.updated_at - ticket.created_at > duration("1h") ? true : 1`, `b"x"`, "", 2.0, "")
	f.Add(`[ticket].exists(ticket, ticket["x"] == 1)`, `size(ticket.refund_amount)`, "", 2.0, "")
	f.Fuzz(func(t *testing.T, when, term, category string, amount float64, question string) {
		rule := config.Rule{Name: "fuzz", When: when, Participants: []string{"a", "b"},
			Terms: map[string]string{"amount": term}, Question: question}
		rules, err := CompileRules([]config.Rule{rule}, RuleOptions{})
		if err != nil {
			if !strings.HasPrefix(err.Error(), `rule "fuzz": `) {
				t.Fatalf("error does not name the rule: %v", err)
			}
			return
		}
		tk := billingTicket(amount)
		tk.Category, tk.Summary = category, category+category
		for _, tk := range []workspace.Ticket{tk, {ID: "T-7"}} {
			got, err := rules.Evaluate(context.Background(), config.TriggerTicketSaved, tk)
			if err != nil {
				if len(got) != 0 || !strings.Contains(err.Error(), `rule "fuzz": `) && !strings.Contains(err.Error(), `ticket "T-7"`) {
					t.Fatalf("Evaluate = %+v, %v", got, err)
				}
				continue
			}
			for _, m := range got {
				if !json.Valid(m.Terms) {
					t.Fatalf("terms %q are not JSON", m.Terms)
				}
			}
		}
	})
}
