package auth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
)

// servedBy is an UpstreamLookup over a fixed table: exposed name → upstream.
func servedBy(tools, prompts map[string]string) auth.UpstreamLookup {
	return func(kind, name string) (string, bool) {
		table := tools
		if kind == auth.KindPrompt {
			table = prompts
		}
		u, ok := table[name]
		return u, ok
	}
}

func TestPolicyWholeUpstream(t *testing.T) {
	rules := []config.PolicyRule{
		{Name: "no-deletes", Match: config.PolicyMatch{Role: "dev"}, Deny: []string{"tool:github_delete_repo"}},
		{Name: "lead-search", Match: config.PolicyMatch{Role: "lead"}, Allow: []string{"tool:jira_search"}},
		{Name: "no-jira", Match: config.PolicyMatch{Role: "lead"}, Deny: []string{"upstream:jira"}},
		{Name: "devs", Match: config.PolicyMatch{Role: "dev"}, Allow: []string{"upstream:github", "tool:get_ticket"}, Deny: []string{"tool:github_admin_*"}},
		{Name: "leads", Match: config.PolicyMatch{Role: "lead"}, Allow: []string{"upstream:*"}},
		{Name: "cel-upstream", Match: config.PolicyMatch{CEL: `request.upstream == "fs" && "reader" in principal.roles`}, Allow: []string{"tool:*"}},
	}
	pol, err := auth.NewPolicy(rules, auth.PolicyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lookup := servedBy(
		map[string]string{"github_search": "github", "github_delete_repo": "github", "github_admin_keys": "github",
			"jira_search": "jira", "jira_create": "jira", "read_file": "fs"},
		map[string]string{"github_summary": "github", "jira_digest": "jira"},
	)
	dev := &auth.Principal{Subject: "dana", Roles: []string{"dev"}}
	lead := &auth.Principal{Subject: "lee", Roles: []string{"lead"}}
	reader := &auth.Principal{Subject: "rob", Roles: []string{"reader"}}
	tests := []struct {
		name    string
		lookup  bool // SetUpstreams called
		p       *auth.Principal
		perm    string
		allowed bool
		rule    string
	}{
		{"whole upstream grants its tool", true, dev, "tool:github_search", true, "devs"},
		{"whole upstream grants its prompt", true, dev, "prompt:github_summary", true, "devs"},
		{"not another upstream's tool", true, dev, "tool:jira_search", false, auth.RuleDefaultDeny},
		{"earlier rule's deny of one tool wins", true, dev, "tool:github_delete_repo", false, "no-deletes"},
		{"deny in the same rule wins over the upstream grant", true, dev, "tool:github_admin_keys", false, "devs"},
		{"named own tool in the same rule", true, dev, "tool:get_ticket", true, "devs"},
		{"upstream:* does not cover Parley's own tools", true, lead, "tool:get_ticket", false, auth.RuleDefaultDeny},
		{"upstream:* does not cover agent tools", true, lead, "tool:agent_billing", false, auth.RuleDefaultDeny},
		{"upstream:* covers every upstream", true, lead, "tool:github_delete_repo", true, "leads"},
		{"earlier allow of one tool goes through a later deny of its upstream", true, lead, "tool:jira_search", true, "lead-search"},
		{"deny of a whole upstream", true, lead, "tool:jira_create", false, "no-jira"},
		{"deny of a whole upstream covers its prompts", true, lead, "prompt:jira_digest", false, "no-jira"},
		{"a tool no upstream serves now is not covered", true, lead, "tool:github_gone", false, auth.RuleDefaultDeny},
		{"CEL sees request.upstream", true, reader, "tool:read_file", true, "cel-upstream"},
		{"CEL, another upstream", true, reader, "tool:github_search", false, auth.RuleDefaultDeny},
		{"without a lookup nothing is an upstream's", false, dev, "tool:github_search", false, auth.RuleDefaultDeny},
		{"without a lookup an upstream deny covers nothing", false, lead, "tool:jira_create", false, auth.RuleDefaultDeny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.lookup {
				pol.SetUpstreams(lookup)
			} else {
				pol.SetUpstreams(nil)
			}
			d := pol.Decide(context.Background(), tt.p, tt.perm, nil)
			if d.Allowed != tt.allowed || d.Rule != tt.rule {
				t.Errorf("Decide(%s) = %+v, want allowed=%v by %q", tt.perm, d, tt.allowed, tt.rule)
			}
		})
	}
}

// The upstream, prompt and resource permissions' patterns.
func TestPolicyUpstreamPatterns(t *testing.T) {
	tests := []struct {
		perm    string
		wantErr string
	}{
		{"upstream:github", ""},
		{"upstream:*", ""},
		{"upstream:git*", ""},
		{"prompt:github_summary", ""},
		{"prompt:*", ""},
		{"upstream:github:tool", "must be upstream:NAME"},
		{"upstream:", "must be"},
		{"resource:github", ""},
		{"resource:*", ""},
		{"resource:git*", ""},
		{"resource:file:///etc/passwd", "must be resource:UPSTREAM"},
		{"resource:", "must be"},
		{"resources:github", "unknown kind"},
	}
	for _, tt := range tests {
		t.Run(tt.perm, func(t *testing.T) {
			_, err := auth.NewPolicy([]config.PolicyRule{{Name: "r", Match: config.PolicyMatch{Role: "x"}, Allow: []string{tt.perm}}}, auth.PolicyOptions{})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("NewPolicy(allow %s): %v", tt.perm, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("NewPolicy(allow %s) = %v, want an error containing %q", tt.perm, err, tt.wantErr)
			}
		})
	}
}

// Prompts are filtered and refused per caller like tools, through a real
// go-sdk server and client, and upstream:NAME grants them.
func TestMCPPromptsPerCaller(t *testing.T) {
	iss := newIssuer(t)
	var denials []string
	s := iss.service(t, func(c *config.Auth, o *auth.Options) {
		c.Policy = []config.PolicyRule{
			{Name: "github-users", Match: config.PolicyMatch{Role: "dev"}, Allow: []string{"upstream:github"}},
			{Name: "one-prompt", Match: config.PolicyMatch{Role: "viewer"}, Allow: []string{"prompt:jira_digest"}},
		}
		o.OnDecision = func(_ context.Context, p *auth.Principal, perm string, d auth.Decision) {
			if !d.Allowed {
				denials = append(denials, p.Name()+" "+perm+" "+d.Rule)
			}
		}
	})
	s.Policy().SetUpstreams(servedBy(nil, map[string]string{"github_summary": "github", "github_review": "github", "jira_digest": "jira"}))
	srv := mcp.NewServer(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	for _, name := range []string{"github_summary", "github_review", "jira_digest"} {
		srv.AddPrompt(&mcp.Prompt{Name: name}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: name}}}}, nil
		})
	}
	srv.AddReceivingMiddleware(s.MCPMiddleware())
	hs := httptest.NewServer(s.MCP(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)))
	defer hs.Close()

	promptNames := func(cs *mcp.ClientSession) []string {
		t.Helper()
		res, err := cs.ListPrompts(context.Background(), nil)
		if err != nil {
			t.Fatalf("prompts/list: %v", err)
		}
		var names []string
		for _, p := range res.Prompts {
			names = append(names, p.Name)
		}
		slices.Sort(names)
		return names
	}
	dev := connect(t, hs.URL, iss.token(map[string]any{"sub": "dana", "roles": []string{"dev"}}))
	viewer := connect(t, hs.URL, iss.token(map[string]any{"sub": "vic", "roles": []string{"viewer"}}))
	if diff := cmp.Diff([]string{"github_review", "github_summary"}, promptNames(dev)); diff != "" {
		t.Errorf("dev's prompts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"jira_digest"}, promptNames(viewer)); diff != "" {
		t.Errorf("viewer's prompts (-want +got):\n%s", diff)
	}
	if _, err := dev.GetPrompt(context.Background(), &mcp.GetPromptParams{Name: "github_review"}); err != nil {
		t.Errorf("dev gets github_review: %v", err)
	}
	_, err := viewer.GetPrompt(context.Background(), &mcp.GetPromptParams{Name: "github_review"})
	if err == nil || !strings.Contains(err.Error(), "prompt:github_review") || !strings.Contains(err.Error(), auth.RuleDefaultDeny) {
		t.Errorf("viewer gets github_review: %v, want a refusal naming the permission and the rule", err)
	}
	if diff := cmp.Diff([]string{"vic prompt:github_review default-deny"}, denials); diff != "" {
		t.Errorf("denials (-want +got):\n%s", diff)
	}
}
