package mcpbridge

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/store/sqlite"
)

// requestIDTransport sends every request with X-Request-Id id.
type requestIDTransport struct{ id string }

func (rt requestIDTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Request-Id", rt.id)
	return http.DefaultTransport.RoundTrip(r)
}

// Every request forwarded to an upstream has an audit record, not only
// tools/call: prompts/get, resources/read, resources/subscribe and
// unsubscribe, and completion/complete, each with its target, outcome,
// upstream and duration, linked to the caller's request ID. Requests of
// Parley's own resources, and requests nothing forwarded, have none. The
// links are in the context before any other middleware runs
// (RequestLinksMiddleware), where the auth middleware's denials are
// recorded.
func TestFederationAuditsEveryUpstreamCall(t *testing.T) {
	f := federate(t, testUpstream(t, false))
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "audit.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := audit.New(st, audit.Options{})
	var mu sync.Mutex
	var outerLinks []string // what a middleware between the two saw (where auth sits)
	probe := func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method == "prompts/get" {
				mu.Lock()
				outerLinks = append(outerLinks, audit.LinksFrom(ctx).RequestID)
				mu.Unlock()
			}
			return next(ctx, method, req)
		}
	}
	f.bridge.Server().AddReceivingMiddleware(RequestLinksMiddleware(), probe, AuditMiddleware(log))

	type row struct {
		Action, Target, Outcome, Upstream string
	}
	for _, host := range generations {
		t.Run(host.name, func(t *testing.T) {
			reqID := "req-" + host.name
			c := mcp.NewClient(&mcp.Implementation{Name: "test-host", Version: "1"}, nil)
			cs, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: f.url,
				HTTPClient: &http.Client{Transport: requestIDTransport{reqID}}}, &mcp.ClientSessionOptions{ProtocolVersion: host.version})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cs.Close() })
			ctx := t.Context()

			pr, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "up_greet", Arguments: map[string]string{"who": "ada"}})
			if err != nil {
				t.Fatalf("prompts/get up_greet: %v", err)
			}
			if got := pr.Messages[0].Content.(*mcp.TextContent).Text; got != "greet ada" {
				t.Errorf("prompts/get up_greet: %q", got)
			}
			rr, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "up://readme"})
			if err != nil || rr.Contents[0].Text != "content of up://readme" {
				t.Fatalf("resources/read up://readme: %v %+v", err, rr)
			}
			if _, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "up://items/missing"}); err == nil {
				t.Errorf("resources/read up://items/missing: no error")
			}
			if _, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: statusURI}); err != nil {
				t.Fatalf("resources/read %s: %v", statusURI, err)
			}
			want := []row{
				{ActionMCPPromptGet, "up_greet", audit.OK, "up"},
				{ActionMCPResourceRead, "up://readme", audit.OK, "up"},
				{ActionMCPResourceRead, "up://items/missing", audit.Error, "up"},
			}
			if host.version != "" {
				// 2026-07-28 subscribes with subscriptions/listen instead.
				if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "up://readme"}); err != nil {
					t.Fatalf("subscribe: %v", err)
				}
				if err := cs.Unsubscribe(ctx, &mcp.UnsubscribeParams{URI: "up://readme"}); err != nil {
					t.Fatalf("unsubscribe: %v", err)
				}
				want = append(want, row{ActionMCPResourceSubscribe, "up://readme", audit.OK, "up"},
					row{ActionMCPResourceUnsubscribe, "up://readme", audit.OK, "up"})
			}
			for _, ref := range []*mcp.CompleteReference{{Type: "ref/prompt", Name: "up_greet"}, {Type: "ref/resource", URI: "up://items/{id}"}} {
				cr, err := cs.Complete(ctx, &mcp.CompleteParams{Ref: ref, Argument: mcp.CompleteParamsArgument{Name: "id"}})
				if err != nil || !slices.Equal(cr.Completion.Values, []string{"one"}) {
					t.Fatalf("complete %+v: %v %+v", ref, err, cr)
				}
			}
			want = append(want, row{ActionMCPComplete, "up_greet", audit.OK, "up"},
				row{ActionMCPComplete, "up://items/{id}", audit.OK, "up"})

			recs, _, err := log.List(ctx, audit.Filter{RequestID: reqID})
			if err != nil {
				t.Fatal(err)
			}
			var got []row
			for _, r := range recs {
				d := detailOf(t, r)
				if ms, ok := d["duration_ms"].(float64); !ok || ms < 0 {
					t.Errorf("record of %s %s: duration_ms = %v, want a duration", r.Action, r.Target, d["duration_ms"])
				}
				up, _ := d["upstream"].(string)
				got = append(got, row{r.Action, r.Target, r.Outcome, up})
			}
			key := func(r row) string { return fmt.Sprint(r) }
			slices.SortFunc(got, func(a, b row) int { return strings.Compare(key(a), key(b)) })
			slices.SortFunc(want, func(a, b row) int { return strings.Compare(key(a), key(b)) })
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("audit records of request %s (-want +got):\n%s", reqID, diff)
			}
			mu.Lock()
			seen := outerLinks[len(outerLinks)-1]
			mu.Unlock()
			if seen != reqID {
				t.Errorf("the middleware outside AuditMiddleware saw request ID %q, want %q", seen, reqID)
			}
		})
	}
}

// The bridge names the upstream serving a resource URI, a URI its
// template matches, or the template itself (UpstreamOf, auth.KindResource),
// so that resource:NAME and upstream:NAME grant them; Parley's own
// resources belong to no upstream.
func TestUpstreamOfResources(t *testing.T) {
	f := federate(t, testUpstream(t, true))
	pol, err := auth.NewPolicy([]config.PolicyRule{
		{Name: "up-docs", Match: config.PolicyMatch{Role: "reader"}, Allow: []string{"resource:up"}},
		{Name: "up-users", Match: config.PolicyMatch{Role: "dev"}, Allow: []string{"upstream:up"}},
	}, auth.PolicyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pol.SetUpstreams(f.bridge.UpstreamOf)
	lookups := map[string]string{}
	for _, uri := range []string{"up://readme", "up://items/7", "up://items/{id}", statusURI, "ticket://T-1", "ticket://{id}", "other://x"} {
		u, ok := f.bridge.UpstreamOf(auth.KindResource, uri)
		lookups[uri] = fmt.Sprint(u, " ", ok)
	}
	wantLookups := map[string]string{
		"up://readme": "up true", "up://items/7": "up true", "up://items/{id}": "up true",
		statusURI: " false", "ticket://T-1": " false", "ticket://{id}": " false", "other://x": " false",
	}
	if diff := cmp.Diff(wantLookups, lookups); diff != "" {
		t.Errorf("UpstreamOf(resource, …) (-want +got):\n%s", diff)
	}
	decisions := map[string]bool{}
	for _, p := range []*auth.Principal{{Subject: "rob", Roles: []string{"reader"}}, {Subject: "dana", Roles: []string{"dev"}}} {
		for _, perm := range []string{"resource:up", "prompt:up_greet", "tool:up_echo"} {
			decisions[p.Subject+" "+perm] = pol.Decide(t.Context(), p, perm, nil).Allowed
		}
	}
	wantDecisions := map[string]bool{
		"rob resource:up": true, "rob prompt:up_greet": false, "rob tool:up_echo": false,
		"dana resource:up": true, "dana prompt:up_greet": true, "dana tool:up_echo": true,
	}
	if diff := cmp.Diff(wantDecisions, decisions); diff != "" {
		t.Errorf("decisions (-want +got):\n%s", diff)
	}
}

// methodAuditor is the real audit log, noting which of Append (committed
// before the call is answered) and Record (queued) wrote each tool call's
// record.
type methodAuditor struct {
	*audit.Log
	mu  sync.Mutex
	how map[string]string // target → "append" or "record"
}

func (a *methodAuditor) note(target, how string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.how[target] = how
}

func (a *methodAuditor) Append(ctx context.Context, e audit.Entry) (audit.Record, error) {
	if e.Action == audit.ActionMCPToolCall {
		a.note(e.Target, "append")
	}
	return a.Log.Append(ctx, e)
}

func (a *methodAuditor) Record(ctx context.Context, e audit.Entry) {
	if e.Action == audit.ActionMCPToolCall {
		a.note(e.Target, "record")
	}
	a.Log.Record(ctx, e)
}

// annotatedUpstream serves two tools: "look", annotated readOnlyHint, and
// "change", not (it may change things at the upstream).
func annotatedUpstream(t *testing.T, stateless bool) string {
	t.Helper()
	s := mcp.NewServer(&mcp.Implementation{Name: "annotated-upstream", Version: "1"}, nil)
	answer := func(text string) mcp.ToolHandler {
		return func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, nil
		}
	}
	obj := &jsonschema.Schema{Type: "object"}
	s.AddTool(&mcp.Tool{Name: "look", InputSchema: obj, Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}}, answer("looked"))
	s.AddTool(&mcp.Tool{Name: "change", InputSchema: obj, Annotations: &mcp.ToolAnnotations{IdempotentHint: true}}, answer("changed"))
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: stateless})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// A call of an upstream tool whose (pinned) definition is annotated
// readOnlyHint is recorded like one of Parley's own reads: queued
// (Record), and answered at once. Any other upstream tool's call may
// change things at the upstream, and is answered only once its record is
// committed (Append). Both generations of upstream, both of host.
func TestFederatedReadOnlyToolAuditedAsRead(t *testing.T) {
	for _, up := range []struct {
		name      string
		stateless bool
	}{{"session upstream", false}, {"stateless upstream", true}} {
		t.Run(up.name, func(t *testing.T) {
			f := federate(t, annotatedUpstream(t, up.stateless))
			st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "audit.db"), sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			log := &methodAuditor{Log: audit.New(st, audit.Options{}), how: map[string]string{}}
			f.bridge.Server().AddReceivingMiddleware(AuditMiddleware(log))
			for _, host := range generations {
				t.Run(host.name, func(t *testing.T) {
					log.mu.Lock()
					clear(log.how)
					log.mu.Unlock()
					cs, err := mcp.NewClient(&mcp.Implementation{Name: "test-host", Version: "1"}, nil).Connect(t.Context(),
						&mcp.StreamableClientTransport{Endpoint: f.url}, &mcp.ClientSessionOptions{ProtocolVersion: host.version})
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { cs.Close() })
					got := map[string]string{}
					for _, tool := range []string{"up_look", "up_change"} {
						res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: tool, Arguments: map[string]any{}})
						if err != nil || res.IsError {
							t.Fatalf("call %s: %v %+v", tool, err, res)
						}
						got[tool] = res.Content[0].(*mcp.TextContent).Text
					}
					log.mu.Lock()
					for target, how := range log.how {
						got["audit "+target] = how
					}
					log.mu.Unlock()
					want := map[string]string{
						"up_look": "looked", "up_change": "changed",
						"audit up_look": "record", "audit up_change": "append",
					}
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("answers and how their records were written (-want +got):\n%s", diff)
					}
				})
			}
		})
	}
}
