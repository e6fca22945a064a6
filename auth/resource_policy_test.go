package auth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
)

// resourcesByScheme is an UpstreamLookup for resources: gh:// URIs and
// templates are upstream github's, jira:// ones jira's, others (Parley's
// own) no upstream's.
func resourcesByScheme(kind, name string) (string, bool) {
	if kind != auth.KindResource {
		return "", false
	}
	switch {
	case strings.HasPrefix(name, "gh://"):
		return "github", true
	case strings.HasPrefix(name, "jira://"):
		return "jira", true
	}
	return "", false
}

func TestPolicyResources(t *testing.T) {
	pol, err := auth.NewPolicy([]config.PolicyRule{
		{Name: "devs", Match: config.PolicyMatch{Role: "dev"}, Allow: []string{"upstream:github"}},
		{Name: "no-jira-docs", Match: config.PolicyMatch{Role: "lead"}, Deny: []string{"resource:jira"}},
		{Name: "leads", Match: config.PolicyMatch{Role: "lead"}, Allow: []string{"upstream:*"}},
		{Name: "readers", Match: config.PolicyMatch{Role: "reader"}, Allow: []string{"resource:j*"}},
		{Name: "cel-uri", Match: config.PolicyMatch{CEL: `request.kind == "resource" && request.uri.startsWith("gh://public/")`}, Allow: []string{"resource:*"}},
		{Name: "tools", Match: config.PolicyMatch{Role: "tooler"}, Allow: []string{"tool:*", "prompt:*"}},
	}, auth.PolicyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pol.SetUpstreams(resourcesByScheme)
	dev := &auth.Principal{Subject: "dana", Roles: []string{"dev"}}
	lead := &auth.Principal{Subject: "lee", Roles: []string{"lead"}}
	reader := &auth.Principal{Subject: "rob", Roles: []string{"reader"}}
	tooler := &auth.Principal{Subject: "tom", Roles: []string{"tooler"}}
	tests := []struct {
		name    string
		p       *auth.Principal
		perm    string
		uri     string
		allowed bool
		rule    string
	}{
		{"upstream:NAME covers its resources", dev, "resource:github", "gh://readme", true, "devs"},
		{"not another upstream's", dev, "resource:jira", "jira://board", false, auth.RuleDefaultDeny},
		{"an earlier deny of an upstream's resources", lead, "resource:jira", "jira://board", false, "no-jira-docs"},
		{"upstream:* covers every upstream's resources", lead, "resource:github", "gh://readme", true, "leads"},
		{"resource:GLOB", reader, "resource:jira", "jira://board", true, "readers"},
		{"resource:GLOB, another upstream", reader, "resource:github", "gh://readme", false, auth.RuleDefaultDeny},
		{"CEL sees request.uri", reader, "resource:github", "gh://public/readme", true, "cel-uri"},
		{"tool:* and prompt:* do not cover resources", tooler, "resource:github", "gh://readme", false, auth.RuleDefaultDeny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := pol.Decide(t.Context(), tt.p, tt.perm, map[string]any{"uri": tt.uri})
			if d.Allowed != tt.allowed || d.Rule != tt.rule {
				t.Errorf("Decide(%s, %s) = %+v, want allowed=%v by %q", tt.perm, tt.uri, d, tt.allowed, tt.rule)
			}
		})
	}
	if got, want := auth.ResourcePermission("github"), "resource:github"; got != want {
		t.Errorf("ResourcePermission(github) = %q, want %q", got, want)
	}
}

// Upstream resources are listed, read, subscribed to and completed per
// caller, through a real go-sdk server and client of both generations
// (2026-07-28 subscribes with subscriptions/listen); Parley's own
// resources stay open to every caller.
func TestMCPResourcesPerCaller(t *testing.T) {
	iss := newIssuer(t)
	// What the policy refused and what the server subscribed, as they
	// happen: a 2026-07-28 client does not wait for subscriptions/listen.
	events := make(chan string, 64)
	s := iss.service(t, func(c *config.Auth, o *auth.Options) {
		c.Policy = []config.PolicyRule{
			{Name: "github-users", Match: config.PolicyMatch{Role: "dev"}, Allow: []string{"upstream:github"}},
			{Name: "jira-docs", Match: config.PolicyMatch{Role: "viewer"}, Allow: []string{"resource:jira", "prompt:*"}},
		}
		o.OnDecision = func(_ context.Context, p *auth.Principal, perm string, d auth.Decision) {
			if !d.Allowed {
				events <- "denied " + p.Name() + " " + perm + " " + d.Rule
			}
		}
	})
	s.Policy().SetUpstreams(resourcesByScheme)
	srv := mcp.NewServer(&mcp.Implementation{Name: "test", Version: "1"}, &mcp.ServerOptions{
		SubscribeHandler: func(ctx context.Context, req *mcp.SubscribeRequest) error {
			p, _ := auth.FromContext(ctx)
			events <- "subscribed " + p.Name() + " " + req.Params.URI
			return nil
		},
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
		CompletionHandler: func(context.Context, *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
			return &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{Values: []string{"1"}}}, nil
		},
	})
	read := func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "x"}}}, nil
	}
	for _, uri := range []string{"status://pipeline", "gh://readme", "jira://board"} {
		srv.AddResource(&mcp.Resource{Name: uri, URI: uri}, read)
	}
	for _, tmpl := range []string{"ticket://{id}", "gh://issues/{n}", "jira://issues/{n}"} {
		srv.AddResourceTemplate(&mcp.ResourceTemplate{Name: tmpl, URITemplate: tmpl}, read)
	}
	srv.AddReceivingMiddleware(s.MCPMiddleware())
	// The SDK serves 2026-07-28 only from a stateless handler.
	servers := map[string]*httptest.Server{}
	for version, stateless := range map[string]bool{"2025-11-25": false, "": true} {
		hs := httptest.NewServer(s.MCP(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv },
			&mcp.StreamableHTTPOptions{Stateless: stateless})))
		defer hs.Close()
		servers[version] = hs
	}

	type view struct {
		Resources, Templates []string
		Read, Subscribe      map[string]string // URI → "ok" or the refusal's permission
		Complete             string
	}
	refusal := func(err error) string {
		var rpcErr *jsonrpc.Error
		switch {
		case err == nil:
			return "ok"
		case errors.As(err, &rpcErr) && rpcErr.Code == jsonrpc.CodeInvalidParams:
			for _, perm := range []string{"resource:github", "resource:jira"} {
				if strings.Contains(rpcErr.Message, perm) {
					return "refused " + perm
				}
			}
		}
		return "error " + err.Error()
	}
	look := func(t *testing.T, cs *mcp.ClientSession) view {
		t.Helper()
		ctx := t.Context()
		v := view{Read: map[string]string{}, Subscribe: map[string]string{}}
		lr, err := cs.ListResources(ctx, nil)
		if err != nil {
			t.Fatalf("resources/list: %v", err)
		}
		for _, r := range lr.Resources {
			v.Resources = append(v.Resources, r.URI)
		}
		lt, err := cs.ListResourceTemplates(ctx, nil)
		if err != nil {
			t.Fatalf("resources/templates/list: %v", err)
		}
		for _, r := range lt.ResourceTemplates {
			v.Templates = append(v.Templates, r.URITemplate)
		}
		slices.Sort(v.Resources)
		slices.Sort(v.Templates)
		for _, uri := range []string{"status://pipeline", "gh://readme", "gh://issues/7", "jira://board"} {
			_, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri})
			v.Read[uri] = refusal(err)
		}
		for _, uri := range []string{"status://pipeline", "gh://readme", "jira://board"} {
			v.Subscribe[uri] = refusal(cs.Subscribe(ctx, &mcp.SubscribeParams{URI: uri}))
		}
		_, err = cs.Complete(ctx, &mcp.CompleteParams{Ref: &mcp.CompleteReference{Type: "ref/resource", URI: "gh://issues/{n}"},
			Argument: mcp.CompleteParamsArgument{Name: "n", Value: ""}})
		v.Complete = refusal(err)
		return v
	}
	devView := view{
		Resources: []string{"gh://readme", "status://pipeline"},
		Templates: []string{"gh://issues/{n}", "ticket://{id}"},
		Read:      map[string]string{"status://pipeline": "ok", "gh://readme": "ok", "gh://issues/7": "ok", "jira://board": "refused resource:jira"},
		Subscribe: map[string]string{"status://pipeline": "ok", "gh://readme": "ok", "jira://board": "refused resource:jira"},
		Complete:  "ok",
	}
	viewerView := view{
		Resources: []string{"jira://board", "status://pipeline"},
		Templates: []string{"jira://issues/{n}", "ticket://{id}"},
		Read:      map[string]string{"status://pipeline": "ok", "gh://readme": "refused resource:github", "gh://issues/7": "refused resource:github", "jira://board": "ok"},
		Subscribe: map[string]string{"status://pipeline": "ok", "gh://readme": "refused resource:github", "jira://board": "ok"},
		Complete:  "refused resource:github",
	}
	for _, version := range []string{"2025-11-25", ""} { // "": 2026-07-28
		t.Run("version "+version, func(t *testing.T) {
			url := servers[version].URL
			dev := connectVersion(t, url, iss.token(map[string]any{"sub": "dana", "roles": []string{"dev"}}), version)
			viewer := connectVersion(t, url, iss.token(map[string]any{"sub": "vic", "roles": []string{"viewer"}}), version)
			if got := dev.InitializeResult().ProtocolVersion; (version == "") != (got >= "2026-07-28") {
				t.Fatalf("asked for %q, the session speaks %s", version, got)
			}
			wantDev, wantViewer := devView, viewerView
			if version == "" {
				// subscriptions/listen is not awaited: its refusal ends
				// the stream, which the client does not report; events
				// tells.
				wantDev.Subscribe = map[string]string{"status://pipeline": "ok", "gh://readme": "ok", "jira://board": "ok"}
				wantViewer.Subscribe = wantDev.Subscribe
			}
			if diff := cmp.Diff(wantDev, look(t, dev)); diff != "" {
				t.Errorf("what dev (upstream:github) sees (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(wantViewer, look(t, viewer)); diff != "" {
				t.Errorf("what vic (resource:jira) sees (-want +got):\n%s", diff)
			}
			want := []string{
				"denied dana resource:jira default-deny", "denied dana resource:jira default-deny",
				"denied vic resource:github default-deny", "denied vic resource:github default-deny",
				"denied vic resource:github default-deny", "denied vic resource:github default-deny",
				"subscribed dana gh://readme", "subscribed dana status://pipeline",
				"subscribed vic jira://board", "subscribed vic status://pipeline",
			}
			var got []string
			for range want {
				select {
				case e := <-events:
					got = append(got, e)
				case <-time.After(10 * time.Second):
					t.Fatalf("after %q, nothing more happened", got)
				}
			}
			slices.Sort(got)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("denials and subscriptions (-want +got):\n%s", diff)
			}
			select {
			case e := <-events:
				t.Errorf("more happened: %s", e)
			default:
			}
		})
	}
}

// connectVersion is connect speaking protocol version ("": the latest,
// 2026-07-28).
func connectVersion(t *testing.T, url, token, version string) *mcp.ClientSession {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "client", Version: "1"}, nil)
	cs, err := client.Connect(t.Context(), &mcp.StreamableClientTransport{
		Endpoint:             url,
		HTTPClient:           &http.Client{Transport: bearerTransport{token}},
		DisableStandaloneSSE: true,
		MaxRetries:           -1,
	}, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}
