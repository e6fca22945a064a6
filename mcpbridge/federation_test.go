package mcpbridge

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/upstream"
)

// testUpstream is an MCP server of either generation over a real
// loopback socket: "echo" returns several kinds of content with
// structured output, reporting progress and logging on the way; "ask"
// asks the caller's name (with an elicitation request in a session, an
// input-required result in 2026-07-28) and greets them. It also serves
// a prompt "greet", a resource up://readme and a template up://items/{id}
// (whose item "missing" is an error), completes both, and accepts
// subscriptions.
func testUpstream(t *testing.T, stateless bool) string {
	t.Helper()
	s := mcp.NewServer(&mcp.Implementation{Name: "test-upstream", Version: "1"}, &mcp.ServerOptions{
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
		CompletionHandler: func(context.Context, *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
			return &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{Values: []string{"one"}}}, nil
		},
	})
	s.AddPrompt(&mcp.Prompt{Name: "greet", Arguments: []*mcp.PromptArgument{{Name: "who"}}}, func(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "greet " + req.Params.Arguments["who"]}}}}, nil
	})
	readUp := func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		if req.Params.URI == "up://items/missing" {
			return nil, mcp.ResourceNotFoundError(req.Params.URI)
		}
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "content of " + req.Params.URI}}}, nil
	}
	s.AddResource(&mcp.Resource{Name: "readme", URI: "up://readme"}, readUp)
	s.AddResourceTemplate(&mcp.ResourceTemplate{Name: "item", URITemplate: "up://items/{id}"}, readUp)
	type echoIn struct {
		Text string `json:"text"`
	}
	type echoOut struct {
		Echo string `json:"echo"`
	}
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "echoes"}, func(ctx context.Context, req *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, echoOut, error) {
		for i := range 3 {
			if tok := req.Params.GetProgressToken(); tok != nil {
				_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: float64(i + 1), Total: 3})
			}
		}
		_ = req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Data: "echoing"})
		return &mcp.CallToolResult{Content: []mcp.Content{
			&mcp.TextContent{Text: in.Text},
			&mcp.ImageContent{Data: []byte{1, 2, 3}, MIMEType: "image/png"},
		}}, echoOut{Echo: in.Text}, nil
	})
	nameSchema := &jsonschema.Schema{Type: "object", Properties: map[string]*jsonschema.Schema{"name": {Type: "string"}}, Required: []string{"name"}}
	mcp.AddTool(s, &mcp.Tool{Name: "ask", Description: "asks your name"}, func(ctx context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
		if !stateless {
			res, err := req.Session.Elicit(ctx, &mcp.ElicitParams{Message: "Your name?", RequestedSchema: nameSchema})
			if err != nil {
				return nil, nil, err
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("hello %v", res.Content["name"])}}}, nil, nil
		}
		if r, ok := req.Params.InputResponses["name"].(*mcp.ElicitResult); ok && req.Params.RequestState == "asked" {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("hello %v", r.Content["name"])}}}, nil, nil
		}
		return &mcp.CallToolResult{
			InputRequests: mcp.InputRequestMap{"name": &mcp.ElicitParams{Message: "Your name?", RequestedSchema: nameSchema}},
			RequestState:  "asked",
		}, nil, nil
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: stateless})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// federate puts a Manager with the upstream at url (named "up") behind
// f's bridge and waits until its tools are mirrored.
func federate(t *testing.T, url string) *fixture {
	t.Helper()
	m := upstream.NewManager(upstream.ManagerOptions{})
	t.Cleanup(m.Close)
	f := newFixtureWith(t, Options{Upstreams: m})
	changed := m.Changed()
	if err := m.Sync(t.Context(), []upstream.Spec{{Name: "up", URL: url}}); err != nil {
		t.Fatal(err)
	}
	for {
		if st, _ := m.Status("up"); st.Healthy {
			break
		}
		select {
		case <-changed:
			changed = m.Changed()
		case <-time.After(30 * time.Second):
			t.Fatal("the upstream did not connect")
		}
	}
	f.bridge.fed.sync() // the bridge's loop does the same; done here to not wait for it
	return f
}

func TestFederationAcrossGenerations(t *testing.T) {
	for _, up := range []struct {
		name      string
		stateless bool
	}{{"upstream 2026-07-28", true}, {"upstream 2025-11-25", false}} {
		url := testUpstream(t, up.stateless)
		f := federate(t, url)
		for _, host := range generations {
			t.Run(up.name+"/host "+host.name, func(t *testing.T) {
				n := &notes{}
				opts := n.clientOptions()
				opts.ElicitationHandler = func(_ context.Context, r *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
					return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"name": "Ada"}}, nil
				}
				cs := f.connect(t, host.version, opts)
				tools, err := cs.ListTools(t.Context(), nil)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.ContainsFunc(tools.Tools, func(tl *mcp.Tool) bool { return tl.Name == "up_echo" }) ||
					!slices.ContainsFunc(tools.Tools, func(tl *mcp.Tool) bool { return tl.Name == ToolGetTicket }) {
					t.Fatalf("tools/list lacks up_echo or Parley's own tools")
				}
				res := callEcho(t, cs, host.version)
				if len(res.Content) != 2 {
					t.Fatalf("up_echo: %+v", res)
				}
				if img, ok := res.Content[1].(*mcp.ImageContent); !ok || img.MIMEType != "image/png" || len(img.Data) != 3 {
					t.Errorf("image content lost: %#v", res.Content[1])
				}
				if diff := cmp.Diff(map[string]any{"echo": "hi"}, res.StructuredContent); diff != "" {
					t.Errorf("structured content (-want +got):\n%s", diff)
				}
				n.check(t)

				res, err = cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "up_ask", Arguments: map[string]any{}})
				if err != nil {
					t.Fatal(err)
				}
				if got := text(res); got != "hello Ada" {
					t.Errorf("up_ask: %q (error %v), want the elicited name", got, res.IsError)
				}
			})
		}
	}
}

// TestFederatedNotificationsBeforeWait: a session upstream's call runs
// on a goroutine of its own, and its progress and log messages may be
// handled before the host request waits for it. They still reach the host:
// here the host request waits only once the upstream's call has ended.
func TestFederatedNotificationsBeforeWait(t *testing.T) {
	f := federate(t, testUpstream(t, false))
	f.bridge.fed.started = func(c *continuation) {
		for {
			c.mu.Lock()
			finished, changed := c.finished, c.changed
			c.mu.Unlock()
			if finished {
				return
			}
			<-changed
		}
	}
	for _, host := range generations {
		t.Run(host.name, func(t *testing.T) {
			n := &notes{}
			callEcho(t, f.connect(t, host.version, n.clientOptions()), host.version)
			n.check(t)
		})
	}
}

// notes records what a host gets of up_echo's progress and log messages.
type notes struct {
	mu       sync.Mutex
	progress []float64 // under the host's token, "host-token"
	logs     []any
	arrived  chan struct{}
}

// clientOptions records into n.
func (n *notes) clientOptions() *mcp.ClientOptions {
	n.arrived = make(chan struct{}, 16)
	return &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
			n.mu.Lock()
			defer n.mu.Unlock()
			if r.Params.ProgressToken == "host-token" {
				n.progress = append(n.progress, r.Params.Progress)
			}
			n.arrived <- struct{}{}
		},
		LoggingMessageHandler: func(_ context.Context, r *mcp.LoggingMessageRequest) {
			n.mu.Lock()
			defer n.mu.Unlock()
			n.logs = append(n.logs, r.Params.Data)
			n.arrived <- struct{}{}
		},
	}
}

// check waits for up_echo's 3 progress notifications and 1 log message
// (go-sdk's client may hand a notification to its handler after the
// result it preceded), and checks them.
func (n *notes) check(t *testing.T) {
	t.Helper()
	for range 4 {
		select {
		case <-n.arrived:
		case <-time.After(10 * time.Second):
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if diff := cmp.Diff([]float64{1, 2, 3}, n.progress); diff != "" {
		t.Errorf("progress under the host's token (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]any{"echoing"}, n.logs); diff != "" {
		t.Errorf("log messages (-want +got):\n%s", diff)
	}
}

// callEcho calls up_echo with a progress token and log level info, as a
// host of version ("" for 2026-07-28) asks for them, and fails t unless
// it succeeds.
func callEcho(t *testing.T, cs *mcp.ClientSession, version string) *mcp.CallToolResult {
	t.Helper()
	var level mcp.Meta
	if version != "" {
		//lint:ignore SA1019 session hosts set their level so
		if err := cs.SetLoggingLevel(t.Context(), &mcp.SetLoggingLevelParams{Level: "info"}); err != nil {
			t.Fatal(err)
		}
	} else {
		level = mcp.Meta{mcp.MetaKeyLogLevel: "info"}
	}
	params := &mcp.CallToolParams{Name: "up_echo", Arguments: map[string]any{"text": "hi"}, Meta: level}
	params.SetProgressToken("host-token")
	res, err := cs.CallTool(t.Context(), params)
	if err != nil || res.IsError {
		t.Fatalf("up_echo: %+v, %v", res, err)
	}
	return res
}

// TestFederatedRequestStateIsSealed: a 2026-07-28 host gets Parley's
// sealed requestState, never the upstream's, and a tampered one is
// refused with a JSON-RPC error, whichever generation the upstream
// speaks.
func TestFederatedRequestStateIsSealed(t *testing.T) {
	for _, stateless := range []bool{true, false} {
		f := federate(t, testUpstream(t, stateless))
		c := mcp.NewClient(&mcp.Implementation{Name: "raw-host", Version: "1"}, &mcp.ClientOptions{
			MultiRoundTrip: &mcp.MultiRoundTripOptions{Disabled: true},
			Capabilities:   &mcp.ClientCapabilities{Elicitation: &mcp.ElicitationCapabilities{Form: &mcp.FormElicitationCapabilities{}}},
		})
		cs, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: f.url}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cs.Close() })
		res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "up_ask", Arguments: map[string]any{}})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.InputRequests) != 1 || res.RequestState == "" || res.RequestState == "asked" {
			t.Fatalf("stateless %v: want one input request and a sealed state, got %+v", stateless, res)
		}
		var key string
		for k := range res.InputRequests {
			key = k
		}
		answer := mcp.InputResponseMap{key: &mcp.ElicitResult{Action: "accept", Content: map[string]any{"name": "Ada"}}}
		_, err = cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "up_ask", Arguments: map[string]any{},
			InputResponses: answer, RequestState: res.RequestState + "x"})
		var rpcErr *jsonrpc.Error
		if !errors.As(err, &rpcErr) || rpcErr.Code != jsonrpc.CodeInvalidParams {
			t.Errorf("stateless %v: tampered state: %v, want an invalid-params error", stateless, err)
		}
		res, err = cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "up_ask", Arguments: map[string]any{},
			InputResponses: answer, RequestState: res.RequestState})
		if err != nil {
			t.Fatal(err)
		}
		if got := text(res); got != "hello Ada" {
			t.Errorf("stateless %v: retry: %q, want hello Ada", stateless, got)
		}
	}
}

func TestStateSealer(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newStateSealer([]byte("key"), func() time.Time { return now }, time.Minute)
	sealed, err := s.seal(fedState{Upstream: "up", Op: "tools/call t", Caller: "alice", State: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	later := newStateSealer([]byte("key"), func() time.Time { return now.Add(2 * time.Minute) }, time.Minute)
	other := newStateSealer([]byte("other key"), func() time.Time { return now }, time.Minute)
	for _, tc := range []struct {
		name   string
		s      stateSealer
		raw    string
		op     string
		caller string
		ok     bool
	}{
		{"as issued", s, sealed, "tools/call t", "alice", true},
		{"tampered", s, sealed[:len(sealed)-2] + "AA", "tools/call t", "alice", false},
		{"another caller", s, sealed, "tools/call t", "bob", false},
		{"another tool", s, sealed, "tools/call u", "alice", false},
		{"expired", later, sealed, "tools/call t", "alice", false},
		{"another key", other, sealed, "tools/call t", "alice", false},
		{"not base64", s, "!!", "tools/call t", "alice", false},
	} {
		st, err := tc.s.open(tc.raw, "up", tc.op, tc.caller)
		if tc.ok != (err == nil) {
			t.Errorf("%s: error %v, want ok %v", tc.name, err, tc.ok)
		}
		if tc.ok && st.State != "secret" {
			t.Errorf("%s: upstream state %q", tc.name, st.State)
		}
		if !tc.ok && err != nil && !errors.Is(err, errBadFedState) {
			t.Errorf("%s: %v is not errBadFedState", tc.name, err)
		}
	}
	// The upstream's state is kept from the host, not only signed.
	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || strings.Contains(string(raw), "secret") {
		t.Errorf("the sealed state shows the upstream's (%v)", err)
	}
}

// The bridge tells the policy which upstream serves a tool (UpstreamOf),
// from what it mirrors: upstream:NAME grants the upstream's tools and
// nothing of Parley's own, and no longer once the upstream is gone.
func TestUpstreamOfGrantsWholeUpstream(t *testing.T) {
	f := federate(t, testUpstream(t, true))
	pol, err := auth.NewPolicy([]config.PolicyRule{
		{Name: "up-users", Match: config.PolicyMatch{Role: "dev"}, Allow: []string{"upstream:up"}},
	}, auth.PolicyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pol.SetUpstreams(f.bridge.UpstreamOf)
	dev := &auth.Principal{Subject: "dana", Roles: []string{"dev"}}
	decide := func() map[string]string {
		out := map[string]string{}
		for _, perm := range []string{"tool:up_echo", "tool:up_ask", "tool:" + ToolGetTicket, "tool:up_missing"} {
			d := pol.Decide(t.Context(), dev, perm, nil)
			out[perm] = fmt.Sprintf("%v %s", d.Allowed, d.Rule)
		}
		return out
	}
	want := map[string]string{
		"tool:up_echo": "true up-users", "tool:up_ask": "true up-users",
		"tool:" + ToolGetTicket: "false " + auth.RuleDefaultDeny, "tool:up_missing": "false " + auth.RuleDefaultDeny,
	}
	if diff := cmp.Diff(want, decide()); diff != "" {
		t.Errorf("decisions with the upstream mirrored (-want +got):\n%s", diff)
	}

	// Removed: its tools are no one's.
	if err := f.bridge.fed.m.Sync(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	f.bridge.fed.sync()
	want["tool:up_echo"], want["tool:up_ask"] = "false "+auth.RuleDefaultDeny, "false "+auth.RuleDefaultDeny
	if diff := cmp.Diff(want, decide()); diff != "" {
		t.Errorf("decisions with the upstream removed (-want +got):\n%s", diff)
	}
}
