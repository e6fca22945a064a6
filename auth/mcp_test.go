package auth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
)

// bearerTransport adds a bearer token to every request.
type bearerTransport struct{ token string }

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

type ticketIn struct {
	ID string `json:"id"`
}

// mcpServer is a go-sdk MCP server with three tools, each answering with
// the name of the principal that called it.
func mcpServer(s *auth.Service) *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	for _, name := range []string{"get_ticket", "save_ticket", "escalate"} {
		mcp.AddTool(srv, &mcp.Tool{Name: name}, func(ctx context.Context, _ *mcp.CallToolRequest, _ ticketIn) (*mcp.CallToolResult, any, error) {
			who := "nobody"
			if p, ok := auth.FromContext(ctx); ok {
				who = p.Name()
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: name + " by " + who}}}, nil, nil
		})
	}
	srv.AddReceivingMiddleware(s.MCPMiddleware())
	return srv
}

func connect(t *testing.T, url, token string) *mcp.ClientSession {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "client", Version: "1"}, nil)
	cs, err := client.Connect(context.Background(), &mcp.StreamableClientTransport{
		Endpoint:             url,
		HTTPClient:           &http.Client{Transport: bearerTransport{token}},
		DisableStandaloneSSE: true,
		MaxRetries:           -1,
	}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func toolNames(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	return names
}

func callText(t *testing.T, cs *mcp.ClientSession, name string) (string, bool) {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: map[string]any{"id": "T-1"}})
	if err != nil {
		t.Fatalf("tools/call %s: %v", name, err)
	}
	var text []string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			text = append(text, tc.Text)
		}
	}
	return strings.Join(text, " "), res.IsError
}

func TestMCPThroughGoSDK(t *testing.T) {
	iss := newIssuer(t)
	var denials []string
	s := iss.service(t, func(c *config.Auth, o *auth.Options) {
		c.Policy = []config.PolicyRule{
			{Name: "support", Match: config.PolicyMatch{CEL: `"support" in claims.groups`}, Allow: []string{"tool:get_ticket", "tool:save_ticket"}},
			{Name: "leads", Match: config.PolicyMatch{Role: "lead"}, Allow: []string{"tool:*"}},
		}
		o.OnDecision = func(_ context.Context, p *auth.Principal, perm string, d auth.Decision) {
			if !d.Allowed {
				denials = append(denials, p.Name()+" "+perm+" "+d.Rule)
			}
		}
	})
	srv := mcpServer(s)
	hs := httptest.NewServer(s.MCP(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)))
	defer hs.Close()

	alice := iss.token(map[string]any{"sub": "alice", "groups": []string{"support"}})
	lead := iss.token(map[string]any{"sub": "lena", "roles": []string{"lead"}})

	// tools/list shows each caller only what it may call.
	aliceSession := connect(t, hs.URL, alice)
	if got, want := toolNames(t, aliceSession), []string{"get_ticket", "save_ticket"}; !slices.Equal(got, want) {
		t.Errorf("alice's tools = %q, want %q", got, want)
	}
	if got, want := toolNames(t, connect(t, hs.URL, lead)), []string{"escalate", "get_ticket", "save_ticket"}; !slices.Equal(got, want) {
		t.Errorf("lena's tools = %q, want %q", got, want)
	}

	// Allowed calls run, with the principal in the tool's context.
	if text, isErr := callText(t, aliceSession, "get_ticket"); isErr || text != "get_ticket by alice" {
		t.Errorf("get_ticket: %q (error %v)", text, isErr)
	}
	// A hidden tool is refused on call, naming the rule.
	if text, isErr := callText(t, aliceSession, "escalate"); !isErr || !strings.Contains(text, "tool:escalate") || !strings.Contains(text, auth.RuleDefaultDeny) {
		t.Errorf("escalate: %q (error %v), want a tool error naming the rule", text, isErr)
	}
	if want := []string{"alice tool:escalate default-deny"}; !slices.Equal(denials, want) {
		t.Errorf("denials = %q, want %q", denials, want)
	}

	// Another user cannot ride alice's session: go-sdk compares the
	// session's user with the TokenInfo's.
	body := `{"jsonrpc":"2.0","id":99,"method":"tools/list","params":{}}`
	post := func(token string) int {
		req, _ := http.NewRequest(http.MethodPost, hs.URL, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Mcp-Session-Id", aliceSession.ID())
		req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(lead); code != http.StatusForbidden {
		t.Errorf("lena on alice's session: status %d, want 403", code)
	}
	// A fresh token of alice's is fine.
	if code := post(iss.token(map[string]any{"sub": "alice", "groups": []string{"support"}, "jti": "2"})); code != http.StatusOK {
		t.Errorf("alice on her session with a new token: status %d, want 200", code)
	}
}

func TestMCPMiddlewareInProcessAndNoAuth(t *testing.T) {
	ctx := context.Background()
	// An in-process session (no HTTP, no RequestExtra): its driver
	// authorizes its callers itself, so nothing is filtered.
	iss := newIssuer(t)
	s := iss.service(t, nil) // auth on, no rules: HTTP callers see nothing
	ct, st := mcp.NewInMemoryTransports()
	if _, err := mcpServer(s).Connect(ctx, st, nil); err != nil {
		t.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if got := toolNames(t, cs); len(got) != 3 {
		t.Errorf("in-process tools = %q, want all three", got)
	}

	// No-auth mode: everything, as the anonymous principal.
	na, err := auth.New(ctx, config.Default().Auth, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := mcpServer(na)
	hs := httptest.NewServer(na.MCP(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)))
	defer hs.Close()
	anon := connect(t, hs.URL, "ignored")
	if got := toolNames(t, anon); len(got) != 3 {
		t.Errorf("no-auth tools = %q, want all three", got)
	}
	if text, isErr := callText(t, anon, "escalate"); isErr || text != "escalate by anonymous" {
		t.Errorf("no-auth escalate: %q (error %v)", text, isErr)
	}
}

// TestMCPToolArgumentsReachCEL: a CEL rule sees a call's arguments as
// request.arguments, and one without CEL decides without them.
func TestMCPToolArgumentsReachCEL(t *testing.T) {
	iss := newIssuer(t)
	s := iss.service(t, func(c *config.Auth, _ *auth.Options) {
		c.Policy = []config.PolicyRule{
			{Name: "own-ticket", Match: config.PolicyMatch{CEL: `request.arguments.id == "T-1"`}, Allow: []string{"tool:get_ticket"}},
			{Name: "leads", Match: config.PolicyMatch{Role: "lead"}, Allow: []string{"tool:escalate"}},
		}
	})
	srv := mcpServer(s)
	hs := httptest.NewServer(s.MCP(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)))
	defer hs.Close()
	cs := connect(t, hs.URL, iss.token(map[string]any{"sub": "alice", "roles": []string{"lead"}}))
	for _, tc := range []struct {
		tool, id string
		wantErr  bool
	}{
		{"get_ticket", "T-1", false},
		{"get_ticket", "T-2", true},
		{"escalate", "T-2", false},
	} {
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tc.tool, Arguments: map[string]any{"id": tc.id}})
		if err != nil {
			t.Fatalf("%s %s: %v", tc.tool, tc.id, err)
		}
		if res.IsError != tc.wantErr {
			t.Errorf("%s %s: IsError %v, want %v", tc.tool, tc.id, res.IsError, tc.wantErr)
		}
	}
}
