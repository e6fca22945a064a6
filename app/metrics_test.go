package app_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"
	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/agentcards/agentcardstest"
	"github.com/parleyhq/parley/app"
	"github.com/parleyhq/parley/config"
)

// runApp builds and runs the gateway cfg describes until the test ends.
func runApp(t *testing.T, cfg config.Config) *app.App {
	t.Helper()
	a, err := app.Build(t.Context(), cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.WithoutCancel(t.Context()))
	ran := make(chan error, 1)
	go func() { ran <- a.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-ran; err != nil {
			t.Errorf("Run = %v", err)
		}
		if err := a.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
	})
	return a
}

// get GETs u with a bearer token (none when empty) and returns the status
// and body.
func get(t *testing.T, u, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestMetricsProtectedLikeAdminAPI: with auth on, /metrics on the main
// listener wants a token (401 without), and a caller with an admin role or
// the admin:read_metrics permission (403 for anyone else); refusals and
// denials are themselves counted.
func TestMetricsProtectedLikeAdminAPI(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	o := &oidctest.Server{PublicKeys: []oidctest.PublicKey{{PublicKey: key.Public(), KeyID: "k1", Algorithm: oidc.RS256}}}
	issuer := httptest.NewServer(o)
	t.Cleanup(issuer.Close)
	o.SetIssuer(issuer.URL)
	token := func(sub string, roles ...string) string {
		now := time.Now()
		b, _ := json.Marshal(map[string]any{"iss": issuer.URL, "aud": "parley", "sub": sub, "roles": roles,
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
		return oidctest.SignIDToken(key, "k1", oidc.RS256, string(b))
	}

	cfg := testConfig(t)
	cfg.Auth.Issuer, cfg.Auth.Audiences = issuer.URL, []string{"parley"}
	cfg.Auth.Policy = []config.PolicyRule{{Name: "scraper", Match: config.PolicyMatch{Subject: "prometheus"}, Allow: []string{"admin:read_metrics"}}}
	a := runApp(t, cfg)
	if a.MetricsAddr != a.Addr {
		t.Errorf("MetricsAddr = %q, want the main listener's %q", a.MetricsAddr, a.Addr)
	}
	u := a.URL + "/metrics"

	tests := []struct {
		name, token string
		want        int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"bad token", "not-a-jwt", http.StatusUnauthorized},
		{"a user", token("alice"), http.StatusForbidden},
		{"an admin", token("root", "parley-admin"), http.StatusOK},
		{"the scraper's grant", token("prometheus"), http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := get(t, u, tt.token)
			if status != tt.want {
				t.Fatalf("GET /metrics = %d %s, want %d", status, body, tt.want)
			}
			if status == http.StatusOK && !strings.Contains(body, "parley_auth_token_refusals_total") {
				t.Errorf("the exposition lacks parley_auth_token_refusals_total:\n%s", body)
			}
		})
	}

	reg := a.Metrics.Registry()
	if got := counterValue(t, reg, "parley_auth_token_refusals_total", map[string]string{"endpoint": "admin", "reason": "missing"}); got != 1 {
		t.Errorf("refusals of a missing token = %v, want 1", got)
	}
	if got := counterValue(t, reg, "parley_auth_token_refusals_total", map[string]string{"endpoint": "admin", "reason": "malformed"}); got != 1 {
		t.Errorf("refusals of a malformed token = %v, want 1", got)
	}
	if got := counterValue(t, reg, "parley_auth_policy_denials_total", map[string]string{"kind": "admin", "rule": "default-deny"}); got != 1 {
		t.Errorf("policy denials = %v, want 1", got)
	}
}

// TestMetricsOwnListener: with metrics.listen, /metrics is served there
// (no token asked, behind the Host check) and not on the main listener;
// MCP calls show in it.
func TestMetricsOwnListener(t *testing.T) {
	cfg := testConfig(t)
	cfg.Metrics.Listen = "127.0.0.1:0"
	a := runApp(t, cfg)
	if a.MetricsAddr == "" || a.MetricsAddr == a.Addr {
		t.Fatalf("MetricsAddr = %q (main %q), want a listener of its own", a.MetricsAddr, a.Addr)
	}

	cs, err := mcp.NewClient(&mcp.Implementation{Name: "app-test", Version: "1"}, nil).
		Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: a.URL + "/mcp"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "get_status", Arguments: map[string]any{}}); err != nil {
		t.Fatal(err)
	}
	cs.Close()

	status, body := get(t, "http://"+a.MetricsAddr+"/metrics", "")
	if status != http.StatusOK || !strings.Contains(body, `parley_mcp_tool_calls_total{tool="get_status",upstream=""} 1`) {
		t.Errorf("GET /metrics on its listener = %d, want 200 with the get_status call:\n%s", status, body)
	}
	if status, _ := get(t, a.URL+"/metrics", ""); status != http.StatusNotFound {
		t.Errorf("GET /metrics on the main listener = %d, want 404", status)
	}
	if status, _ := get(t, "http://"+a.MetricsAddr+"/healthz", ""); status != http.StatusNotFound {
		t.Errorf("GET /healthz on the metrics listener = %d, want 404: it serves /metrics only", status)
	}
	// The DNS-rebinding guard: a Host the gateway does not answer to.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+a.MetricsAddr+"/metrics", nil)
	req.Host = "evil.example"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("GET /metrics with Host evil.example = %d, want 403", resp.StatusCode)
	}
}

// TestMetricsOff: metrics.enabled false serves no /metrics anywhere.
func TestMetricsOff(t *testing.T) {
	cfg := testConfig(t)
	cfg.Metrics.Enabled = false
	a := runApp(t, cfg)
	if status, _ := get(t, a.URL+"/metrics", ""); status != http.StatusNotFound {
		t.Errorf("GET /metrics = %d, want 404 with metrics off", status)
	}
	if a.MetricsAddr != "" {
		t.Errorf("MetricsAddr = %q, want empty with metrics off", a.MetricsAddr)
	}
}

// counterValue is the value of the counter name with exactly labels in
// reg; 0 when there is no such series.
func counterValue(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// TestRelayMetrics: calls relayed to a registered agent are counted under
// its name; calls naming an agent that is not registered under
// "unknown", as failures (the relay answers them with a JSON-RPC error
// in a 200).
func TestRelayMetrics(t *testing.T) {
	cfg := testConfig(t)
	cfg.AllowPrivateAgentURLs = true // the agent is on loopback
	a := runApp(t, cfg)
	peer := agentcardstest.NewPeer(t, "echo", agentcardstest.Skill("echo", "Echo"))
	if _, err := a.Registry.Register(t.Context(), agentcards.Registration{URL: peer.URL()}); err != nil {
		t.Fatal(err)
	}
	const send = `{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"kind":"message","messageId":"m-1","role":"user","parts":[{"kind":"text","text":"hi"}]}}}`
	for _, agent := range []string{"echo", "echo", "ghost-agent-name"} {
		resp, err := http.Post(a.URL+"/a2a/agents/"+agent, "application/json", strings.NewReader(send))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("relay to %s = %d %s", agent, resp.StatusCode, body)
		}
		if wantErr := agent != "echo"; strings.Contains(string(body), `"error"`) != wantErr {
			t.Fatalf("relay to %s answered %s", agent, body)
		}
	}
	reg := a.Metrics.Registry()
	got := map[string]float64{
		"echo":          counterValue(t, reg, "parley_a2a_relay_requests_total", map[string]string{"agent": "echo", "binding": "jsonrpc", "method": "message/send"}),
		"echo errors":   counterValue(t, reg, "parley_a2a_relay_errors_total", map[string]string{"agent": "echo", "binding": "jsonrpc", "method": "message/send"}),
		"unknown":       counterValue(t, reg, "parley_a2a_relay_requests_total", map[string]string{"agent": "unknown", "binding": "jsonrpc", "method": "message/send"}),
		"unknown error": counterValue(t, reg, "parley_a2a_relay_errors_total", map[string]string{"agent": "unknown", "binding": "jsonrpc", "method": "message/send"}),
	}
	want := map[string]float64{"echo": 2, "echo errors": 0, "unknown": 1, "unknown error": 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("relay metrics (-want +got):\n%s", diff)
	}
}

// TestMetricsDefault: by default /metrics is on the main listener; in
// no-auth mode (loopback only) anyone there may read it, as the admin API.
func TestMetricsDefault(t *testing.T) {
	a := runApp(t, testConfig(t))
	if _, body := get(t, a.URL+"/healthz", ""); body == "" {
		t.Fatal("no /healthz answer")
	}
	status, body := get(t, a.URL+"/metrics", "")
	if status != http.StatusOK || !strings.Contains(body, `parley_http_requests_total{code="2xx",route="/healthz"} 1`) {
		t.Errorf("GET /metrics = %d, want 200 counting the /healthz request:\n%s", status, body)
	}
}
