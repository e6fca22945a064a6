package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// testIssuer is a real OIDC issuer on loopback (discovery and JWKS) that
// signs access tokens for Parley's audience.
type testIssuer struct {
	srv *httptest.Server
	key *rsa.PrivateKey
}

func newTestIssuer(t *testing.T) *testIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	o := &oidctest.Server{PublicKeys: []oidctest.PublicKey{{PublicKey: key.Public(), KeyID: "k1", Algorithm: oidc.RS256}}}
	srv := httptest.NewServer(o)
	t.Cleanup(srv.Close)
	o.SetIssuer(srv.URL)
	return &testIssuer{srv: srv, key: key}
}

func (i *testIssuer) token(t *testing.T, sub string, roles ...string) string {
	t.Helper()
	claims, _ := json.Marshal(map[string]any{
		"iss": i.srv.URL, "aud": "parley", "sub": sub, "azp": sub + "-app", "roles": roles,
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	})
	return oidctest.SignIDToken(i.key, "k1", oidc.RS256, string(claims))
}

type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// With an issuer configured, the built gateway refuses anonymous callers on
// MCP, A2A and the admin API, tells MCP clients where to get a token, and
// shows each caller only the tools its policy allows.
func TestAuthFrontsEveryEndpoint(t *testing.T) {
	iss := newTestIssuer(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "parley.yaml")
	err := os.WriteFile(cfg, []byte(`auth:
  issuer: `+iss.srv.URL+`
  audiences: [parley]
  policy:
    - name: support
      match: {role: support}
      allow: ["tool:get_ticket", "tool:save_ticket"]
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	p := start(t, dir, cleanEnv(), "--config", cfg, "--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0",
		"--store", "sqlite://"+filepath.Join(dir, "parley.db"))
	base := "http://" + p.addr(t)

	tests := []struct {
		name, method, path, body string
		wantStatus               int
		wantHeader               string
	}{
		{"mcp", http.MethodPost, "/mcp", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`, 401, `resource_metadata="`},
		{"a2a", http.MethodPost, "/a2a", `{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{"id":"x"}}`, 401, "Bearer"},
		{"admin", http.MethodGet, "/api/v1/agents", "", 401, "Bearer"},
		{"agent card stays public", http.MethodGet, "/.well-known/agent-card.json", "", 200, ""},
		{"protected resource metadata", http.MethodGet, "/.well-known/oauth-protected-resource/mcp", "", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, base+tt.path, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus || !strings.Contains(resp.Header.Get("WWW-Authenticate"), tt.wantHeader) {
				t.Errorf("%s %s: %d %q %s; want %d with WWW-Authenticate containing %q",
					tt.method, tt.path, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body, tt.wantStatus, tt.wantHeader)
			}
			if tt.name == "protected resource metadata" && !strings.Contains(string(body), iss.srv.URL) {
				t.Errorf("metadata does not name the issuer: %s", body)
			}
		})
	}

	// A caller with the support role sees and calls only what the policy
	// allows; a denied tool is refused naming the rule.
	c := mcp.NewClient(&mcp.Implementation{Name: "support-host", Version: "1"}, nil)
	cs, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: base + "/mcp",
		HTTPClient: &http.Client{Transport: bearer{iss.token(t, "alice", "support")}}}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	tools, err := cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range tools.Tools {
		names = append(names, tl.Name)
	}
	if strings.Join(names, ",") != "get_ticket,save_ticket" && strings.Join(names, ",") != "save_ticket,get_ticket" {
		t.Errorf("tools/list for the support role = %v, want only get_ticket and save_ticket", names)
	}
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "save_ticket", Arguments: map[string]any{"ticket_id": "T-1", "customer": "acme"}})
	if err != nil || res.IsError {
		t.Fatalf("allowed save_ticket: %v %+v", err, res)
	}
	res, err = cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "escalate", Arguments: map[string]any{"ticket_id": "T-1", "reason": "x"}})
	if err == nil && !res.IsError {
		t.Errorf("escalate was allowed for the support role")
	}

	// The refusal is in the tamper-evident audit log, which verifies.
	out, errOut, ok := gatewayCmd(t, "audit", "verify", "--store", "sqlite://"+filepath.Join(dir, "parley.db"))
	if !ok || !strings.Contains(out, "OK") {
		t.Errorf("audit verify: %s%s", out, errOut)
	}
	out, _, _ = gatewayCmd(t, "audit", "list", "--json", "--store", "sqlite://"+filepath.Join(dir, "parley.db"))
	if !strings.Contains(out, "policy.denial") || !strings.Contains(out, "escalate") {
		t.Errorf("audit list lacks the denial of escalate:\n%s", out)
	}
	var listed struct {
		Records []struct {
			Action  string `json:"action"`
			Target  string `json:"target"`
			Subject string `json:"subject"`
		} `json:"records"`
	}
	if err := json.Unmarshal([]byte(out), &listed); err != nil {
		t.Fatalf("audit list --json: %v\n%s", err, out)
	}
	var audited bool
	for _, r := range listed.Records {
		audited = audited || r.Action == "mcp.tool_call" && r.Target == "save_ticket" && r.Subject == "alice"
	}
	if !audited {
		t.Errorf("alice's save_ticket call is not in the audit log:\n%s", out)
	}
}
