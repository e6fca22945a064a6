package auth_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
)

func testRules() []config.PolicyRule {
	return []config.PolicyRule{
		{Name: "no-refunds-for-interns", Match: config.PolicyMatch{Role: "intern"}, Deny: []string{"tool:save_resolution"}},
		{Name: "admins", Match: config.PolicyMatch{Role: "parley-admin"}, Allow: []string{"*"}},
		{Name: "billing-bot", Match: config.PolicyMatch{Subject: "billing-bot"}, Allow: []string{"agent:billing:message", "agent:*:negotiate"}},
		{Name: "batch-client", Match: config.PolicyMatch{Client: "batch"}, Allow: []string{"tool:get_*"}},
		{Name: "writers", Match: config.PolicyMatch{Scope: "parley.write"}, Allow: []string{"tool:save_ticket"}},
		{Name: "support-agents", Match: config.PolicyMatch{CEL: `"support" in claims.groups`},
			Allow: []string{"tool:get_ticket", "tool:save_ticket", "tool:save_resolution", "agent:billing:message"}},
		{Name: "small-refunds", Match: config.PolicyMatch{CEL: `request.tool == "approve_refund" && request.arguments.amount <= 100.0`},
			Allow: []string{"tool:approve_refund"}},
		{Name: "escalation-approvers", Match: config.PolicyMatch{Role: "approver", CEL: `principal.client == "console"`},
			Allow: []string{"agent:escalation:approve"}},
		{Name: "region-eu", Match: config.PolicyMatch{CEL: `claims.region.lowerAscii() == "eu"`}, Allow: []string{"agent:eu-*:message"}},
	}
}

func TestPolicyDecisions(t *testing.T) {
	pol, err := auth.NewPolicy(testRules(), auth.PolicyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	alice := &auth.Principal{Subject: "alice", Claims: map[string]any{"groups": []any{"support"}}}
	tests := []struct {
		name    string
		p       *auth.Principal
		perm    string
		request map[string]any
		allowed bool
		rule    string
	}{
		{"role", &auth.Principal{Subject: "ann", Roles: []string{"parley-admin"}}, "tool:anything", nil, true, "admins"},
		{"role, agent permission", &auth.Principal{Roles: []string{"parley-admin"}}, "agent:x:approve", nil, true, "admins"},
		{"subject", &auth.Principal{Subject: "billing-bot"}, "agent:billing:message", nil, true, "billing-bot"},
		{"subject, agent wildcard", &auth.Principal{Subject: "billing-bot"}, "agent:legal:negotiate", nil, true, "billing-bot"},
		{"subject, other action", &auth.Principal{Subject: "billing-bot"}, "agent:legal:approve", nil, false, auth.RuleDefaultDeny},
		{"client glob", &auth.Principal{ClientID: "batch"}, "tool:get_status", nil, true, "batch-client"},
		{"client glob, no match", &auth.Principal{ClientID: "batch"}, "tool:save_ticket", nil, false, auth.RuleDefaultDeny},
		{"scope", &auth.Principal{Scopes: []string{"parley.write"}}, "tool:save_ticket", nil, true, "writers"},
		{"CEL over claims", alice, "tool:get_ticket", nil, true, "support-agents"},
		{"CEL over claims, not listed", alice, "tool:escalate", nil, false, auth.RuleDefaultDeny},
		{"CEL claim missing", &auth.Principal{Subject: "x", Claims: map[string]any{}}, "tool:get_ticket", nil, false, auth.RuleDefaultDeny},
		{"CEL over the request", &auth.Principal{Subject: "x"}, "tool:approve_refund", map[string]any{"arguments": map[string]any{"amount": 50.0}}, true, "small-refunds"},
		{"CEL over the request, too much", &auth.Principal{Subject: "x"}, "tool:approve_refund", map[string]any{"arguments": map[string]any{"amount": 500.0}}, false, auth.RuleDefaultDeny},
		{"CEL and role together", &auth.Principal{Roles: []string{"approver"}, ClientID: "console"}, "agent:escalation:approve", nil, true, "escalation-approvers"},
		{"CEL and role, CEL false", &auth.Principal{Roles: []string{"approver"}, ClientID: "cli"}, "agent:escalation:approve", nil, false, auth.RuleDefaultDeny},
		{"CEL with ext strings, agent glob", &auth.Principal{Claims: map[string]any{"region": "EU"}}, "agent:eu-billing:message", nil, true, "region-eu"},
		{"deny rule first", &auth.Principal{Roles: []string{"intern", "parley-admin"}, Claims: map[string]any{"groups": []any{"support"}}}, "tool:save_resolution", nil, false, "no-refunds-for-interns"},
		{"deny rule, other permission", &auth.Principal{Roles: []string{"intern", "parley-admin"}}, "tool:save_ticket", nil, true, "admins"},
		{"default deny", &auth.Principal{Subject: "stranger"}, "tool:get_ticket", nil, false, auth.RuleDefaultDeny},
		{"no principal", nil, "tool:get_ticket", nil, false, auth.RuleUnauthenticated},
		{"anonymous of no-auth mode", &auth.Principal{Anonymous: true}, "admin:remove_agent", nil, true, auth.RuleNoAuth},
		{"admin role, admin action", &auth.Principal{Admin: true}, "admin:approve_agent", nil, true, auth.RuleAdminRole},
		{"reserved admin action without the role", &auth.Principal{Roles: []string{"parley-admin"}}, "admin:register_agent", nil, false, auth.RuleAdminRoleRequired},
		{"open admin action by policy", &auth.Principal{Roles: []string{"parley-admin"}}, "admin:list_agents", nil, true, "admins"},
		{"malformed permission", &auth.Principal{Roles: []string{"parley-admin"}}, "tools", nil, false, auth.RuleDefaultDeny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := pol.Decide(context.Background(), tt.p, tt.perm, tt.request)
			if d.Allowed != tt.allowed || d.Rule != tt.rule {
				t.Errorf("Decide(%s) = %+v, want allowed=%v by %q", tt.perm, d, tt.allowed, tt.rule)
			}
			if d.Reason == "" {
				t.Error("decision without a reason")
			}
		})
	}
}

func TestPolicyInvalidRules(t *testing.T) {
	tests := []struct {
		name string
		rule config.PolicyRule
		want []string
	}{
		{"CEL syntax", config.PolicyRule{Name: "broken", Match: config.PolicyMatch{CEL: `"support" in`}, Allow: []string{"tool:x"}}, []string{`"broken"`, "cel"}},
		{"CEL unknown variable", config.PolicyRule{Name: "typo", Match: config.PolicyMatch{CEL: `claimz.groups == 1`}, Allow: []string{"tool:x"}}, []string{`"typo"`, "claimz"}},
		{"CEL not boolean", config.PolicyRule{Name: "number", Match: config.PolicyMatch{CEL: `1 + 2`}, Allow: []string{"tool:x"}}, []string{`"number"`, "boolean"}},
		{"unknown kind", config.PolicyRule{Name: "kind", Match: config.PolicyMatch{Role: "r"}, Allow: []string{"tools:x"}}, []string{`"kind"`, `unknown kind "tools"`}},
		{"unknown agent action", config.PolicyRule{Name: "act", Match: config.PolicyMatch{Role: "r"}, Allow: []string{"agent:billing:mesage"}}, []string{`"act"`, `"mesage"`}},
		{"agent without action", config.PolicyRule{Name: "noact", Match: config.PolicyMatch{Role: "r"}, Deny: []string{"agent:billing"}}, []string{`"noact"`, "agent:NAME:ACTION"}},
		{"unknown admin action", config.PolicyRule{Name: "adm", Match: config.PolicyMatch{Role: "r"}, Allow: []string{"admin:register"}}, []string{`"adm"`, `"register"`}},
		{"empty match", config.PolicyRule{Name: "everyone", Allow: []string{"tool:x"}}, []string{`"everyone"`, "match"}},
		{"nothing allowed", config.PolicyRule{Name: "idle", Match: config.PolicyMatch{Role: "r"}}, []string{`"idle"`}},
		{"built-in name", config.PolicyRule{Name: auth.RuleDefaultDeny, Match: config.PolicyMatch{Role: "r"}, Allow: []string{"*"}}, []string{"reserved"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules := append(testRules(), tt.rule)
			_, err := auth.NewPolicy(rules, auth.PolicyOptions{})
			if err == nil {
				t.Fatal("NewPolicy succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	// Duplicate names.
	dup := append(testRules(), testRules()[0])
	if _, err := auth.NewPolicy(dup, auth.PolicyOptions{}); err == nil || !strings.Contains(err.Error(), "no-refunds-for-interns") {
		t.Errorf("duplicate rule: %v", err)
	}
	// auth.New refuses too, naming the rule.
	cfg := config.Default().Auth
	cfg.Policy = []config.PolicyRule{{Name: "broken", Match: config.PolicyMatch{CEL: "("}, Allow: []string{"*"}}}
	if _, err := auth.New(context.Background(), cfg, auth.Options{}); err == nil || !strings.Contains(err.Error(), `policy rule "broken"`) {
		t.Errorf("auth.New with a broken rule: %v", err)
	}
}

func TestPolicyCELCostLimit(t *testing.T) {
	rules := []config.PolicyRule{
		{Name: "expensive", Match: config.PolicyMatch{CEL: `claims.groups.exists(g, g.contains("needle"))`}, Allow: []string{"tool:x"}},
		{Name: "expensive-deny", Match: config.PolicyMatch{CEL: `claims.groups.exists(g, g.contains("needle"))`}, Deny: []string{"tool:y"}},
	}
	pol, err := auth.NewPolicy(rules, auth.PolicyOptions{CELCostLimit: 100})
	if err != nil {
		t.Fatal(err)
	}
	groups := make([]any, 1000)
	for i := range groups {
		groups[i] = fmt.Sprintf("group-%d", i)
	}
	groups = append(groups, "needle")
	p := &auth.Principal{Subject: "x", Claims: map[string]any{"groups": groups}}
	d := pol.Decide(context.Background(), p, "tool:x", nil)
	if d.Allowed || d.Rule != auth.RuleDefaultDeny || !strings.Contains(d.Reason, "expensive") || !strings.Contains(d.Reason, "cost") {
		t.Errorf("over the cost limit: %+v", d)
	}
	// A deny rule that cannot be evaluated denies.
	d = pol.Decide(context.Background(), p, "tool:y", nil)
	if d.Allowed || d.Rule != "expensive-deny" {
		t.Errorf("deny rule over the cost limit: %+v", d)
	}
	// Within the limit it matches.
	p.Claims["groups"] = []any{"needle"}
	if d := pol.Decide(context.Background(), p, "tool:x", nil); !d.Allowed || d.Rule != "expensive" {
		t.Errorf("within the limit: %+v", d)
	}
}

func TestPermissionNames(t *testing.T) {
	for got, want := range map[string]string{
		auth.ToolPermission("get_ticket"):                  "tool:get_ticket",
		auth.AgentPermission("billing", auth.AgentMessage): "agent:billing:message",
		auth.AdminPermission("agents.register"):            "admin:register_agent",
		auth.AdminPermission("agents.list"):                "admin:list_agents",
		auth.AdminPermission("approve_agent"):              "admin:approve_agent",
		auth.AdminPermission("upstreams.list"):             "admin:list_upstreams",
		auth.AdminPermission("upstreams.get"):              "admin:get_upstream",
		auth.AdminPermission("upstreams.register"):         "admin:register_upstream",
		auth.AdminPermission("upstreams.remove"):           "admin:remove_upstream",
		auth.AdminPermission("upstreams.approve"):          "admin:approve_upstream",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func TestServiceAuthorize(t *testing.T) {
	iss := newIssuer(t)
	var heard []auth.Decision
	s := iss.service(t, func(c *config.Auth, o *auth.Options) {
		c.Policy = testRules()
		o.OnDecision = func(_ context.Context, _ *auth.Principal, _ string, d auth.Decision) { heard = append(heard, d) }
	})
	ctx := auth.WithPrincipal(context.Background(), &auth.Principal{Subject: "sam", Claims: map[string]any{"groups": []any{"support"}}})
	if err := s.AuthorizeTool(ctx, "get_ticket"); err != nil {
		t.Errorf("AuthorizeTool(get_ticket) = %v", err)
	}
	err := s.AuthorizeTool(ctx, "escalate")
	var denied *auth.DeniedError
	if !errors.As(err, &denied) || !errors.Is(err, auth.ErrForbidden) || denied.Decision.Rule != auth.RuleDefaultDeny ||
		!strings.Contains(err.Error(), "tool:escalate") || !strings.Contains(err.Error(), auth.RuleDefaultDeny) {
		t.Errorf("AuthorizeTool(escalate) = %v", err)
	}
	if err := s.AuthorizeAgent(ctx, "billing", auth.AgentMessage); err != nil {
		t.Errorf("AuthorizeAgent = %v", err)
	}
	if err := s.AuthorizeTool(context.Background(), "get_ticket"); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("no principal: %v", err)
	}
	if len(heard) != 4 {
		t.Errorf("OnDecision heard %d decisions, want 4", len(heard))
	}
	// ToolFilter hides without reporting.
	heard = nil
	if !s.ToolFilter(ctx, "save_ticket") || s.ToolFilter(ctx, "escalate") || s.ToolFilter(context.Background(), "get_ticket") {
		t.Error("ToolFilter")
	}
	if len(heard) != 0 {
		t.Errorf("ToolFilter reported %d decisions", len(heard))
	}
}
