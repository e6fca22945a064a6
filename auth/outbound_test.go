package auth_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
)

// agentServer records the Authorization header of every request.
type agentServer struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func newAgentServer(t *testing.T) *agentServer {
	a := &agentServer{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.seen = append(a.seen, r.Header.Get("Authorization"))
		a.mu.Unlock()
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *agentServer) last() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.seen) == 0 {
		return "<none>"
	}
	return a.seen[len(a.seen)-1]
}

// tokenEndpoint is an OAuth 2 token endpoint for the client credentials
// grant: it checks the client and hands out numbered tokens.
type tokenEndpoint struct {
	*httptest.Server
	calls atomic.Int32
	form  atomic.Value // url.Values of the last request
}

func newTokenEndpoint(t *testing.T) *tokenEndpoint {
	te := &tokenEndpoint{}
	te.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		te.form.Store(r.PostForm)
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		if r.PostForm.Get("grant_type") != "client_credentials" || id != "parley" || secret != "s3cret" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
			return
		}
		n := te.calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"access_token": "cc-token-" + string(rune('0'+n)),
			"token_type":   "Bearer",
			"expires_in":   3600,
		})
	}))
	t.Cleanup(te.Close)
	return te
}

func TestOutboundSetsOwnTokenAndDropsTheCallers(t *testing.T) {
	agent := newAgentServer(t)
	te := newTokenEndpoint(t)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "escalation.token")
	if err := os.WriteFile(tokenFile, []byte("file-token-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"BILLING_SECRET": "s3cret", "LEGAL_TOKEN": "env-token"}
	out, err := auth.NewOutbound(context.Background(), map[string]config.AgentCredentials{
		"Billing": {ClientCredentials: &config.ClientCredentials{
			TokenURL: te.URL, ClientID: "parley", ClientSecretEnv: "BILLING_SECRET",
			Scopes: []string{"agents.billing"}, Resource: "https://billing.example.com",
		}},
		"escalation": {BearerTokenFile: tokenFile},
		"legal":      {BearerTokenEnv: "LEGAL_TOKEN"},
	}, auth.OutboundOptions{Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := out.Agents(), []string{"billing", "escalation", "legal"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Agents = %q, want %q", got, want)
	}

	// send sends a request as the gateway would while relaying a caller's
	// request: the caller's Authorization is still on it.
	send := func(agentName string) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, agent.URL, strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer CALLERS-TOKEN")
		resp, err := (&http.Client{Transport: out.Transport(agentName, nil)}).Do(req)
		if err != nil {
			t.Fatalf("%s: %v", agentName, err)
		}
		resp.Body.Close()
		if req.Header.Get("Authorization") != "Bearer CALLERS-TOKEN" {
			t.Error("the transport modified the caller's request")
		}
		return agent.last()
	}

	tests := []struct {
		agent string
		want  string
	}{
		{"billing", "Bearer cc-token-1"},
		{"BILLING", "Bearer cc-token-1"}, // cached, names case-insensitive
		{"escalation", "Bearer file-token-1"},
		{"legal", "Bearer env-token"},
		{"unconfigured", ""}, // stripped, nothing added
	}
	for _, tt := range tests {
		if got := send(tt.agent); got != tt.want {
			t.Errorf("%s: agent saw Authorization %q, want %q", tt.agent, got, tt.want)
		}
	}
	if n := te.calls.Load(); n != 1 {
		t.Errorf("token endpoint called %d times, want 1 (the token is cached)", n)
	}
	if form, _ := te.form.Load().(interface{ Get(string) string }); form == nil ||
		form.Get("scope") != "agents.billing" || form.Get("resource") != "https://billing.example.com" {
		t.Errorf("token request form = %v", te.form.Load())
	}

	// A rotated token file is read again.
	if err := os.WriteFile(tokenFile, []byte("file-token-two"), 0o600); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Minute)
	_ = os.Chtimes(tokenFile, future, future)
	if got := send("escalation"); got != "Bearer file-token-two" {
		t.Errorf("after rotation the agent saw %q", got)
	}

	// gRPC credentials carry the same token.
	md, err := out.PerRPCCredentials("legal").GetRequestMetadata(context.Background())
	if err != nil || md["authorization"] != "Bearer env-token" {
		t.Errorf("PerRPCCredentials = %v, %v", md, err)
	}
	if out.PerRPCCredentials("unconfigured") != nil {
		t.Error("PerRPCCredentials for an agent without credentials")
	}

	// A nil Outbound still strips.
	req, _ := http.NewRequest(http.MethodGet, agent.URL, nil)
	req.Header.Set("Authorization", "Bearer CALLERS-TOKEN")
	resp, err := (&http.Client{Transport: (*auth.Outbound)(nil).Transport("x", nil)}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := agent.last(); got != "" {
		t.Errorf("nil Outbound passed %q on", got)
	}
}

func TestOutboundTokenEndpointRefuses(t *testing.T) {
	agent := newAgentServer(t)
	te := newTokenEndpoint(t)
	out, err := auth.NewOutbound(context.Background(), map[string]config.AgentCredentials{
		"billing": {ClientCredentials: &config.ClientCredentials{TokenURL: te.URL, ClientID: "parley", ClientSecretEnv: "S"}},
	}, auth.OutboundOptions{Getenv: func(string) string { return "wrong" }})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, agent.URL, strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer CALLERS-TOKEN")
	_, err = (&http.Client{Transport: out.Transport("billing", nil)}).Do(req)
	if err == nil || !strings.Contains(err.Error(), `agent "billing"`) {
		t.Errorf("err = %v, want a credentials error naming the agent", err)
	}
	if len(agent.seen) != 0 {
		t.Errorf("the agent was called without credentials: %q", agent.seen)
	}
}

func TestNewOutboundErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	tests := []struct {
		name  string
		creds config.AgentCredentials
		want  string
	}{
		{"secret variable unset", config.AgentCredentials{ClientCredentials: &config.ClientCredentials{TokenURL: "https://idp/token", ClientID: "c", ClientSecretEnv: "NOPE"}}, "NOPE"},
		{"secret file missing", config.AgentCredentials{ClientCredentials: &config.ClientCredentials{TokenURL: "https://idp/token", ClientID: "c", ClientSecretFile: missing}}, "client secret file"},
		{"token variable unset", config.AgentCredentials{BearerTokenEnv: "NOPE"}, "NOPE"},
		{"token file missing", config.AgentCredentials{BearerTokenFile: missing}, "bearer token file"},
		{"nothing", config.AgentCredentials{}, "no credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := auth.NewOutbound(context.Background(), map[string]config.AgentCredentials{"billing": tt.creds},
				auth.OutboundOptions{Getenv: func(string) string { return "" }})
			if err == nil || !strings.Contains(err.Error(), `agent "billing"`) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one naming the agent and %q", err, tt.want)
			}
		})
	}
}

func TestOnBehalfOf(t *testing.T) {
	p := &auth.Principal{Subject: "alice", ClientID: "support-app", Issuer: "https://idp"}
	want := map[string]any{"parley": map[string]any{"on_behalf_of": map[string]any{"sub": "alice", "client": "support-app", "iss": "https://idp"}}}
	if got := auth.OnBehalfOf(p); !reflect.DeepEqual(got, want) {
		t.Errorf("OnBehalfOf = %v", got)
	}
	// Merged into existing metadata; a forged on_behalf_of is replaced.
	meta := map[string]any{
		"trace":  "t-1",
		"parley": map[string]any{"negotiation": "n-1", "on_behalf_of": map[string]any{"sub": "mallory"}},
	}
	got := auth.WithOnBehalfOf(meta, p)
	if got["trace"] != "t-1" {
		t.Errorf("lost other metadata: %v", got)
	}
	entry := got["parley"].(map[string]any)
	if entry["negotiation"] != "n-1" || !reflect.DeepEqual(entry["on_behalf_of"], want["parley"].(map[string]any)["on_behalf_of"]) {
		t.Errorf("parley entry = %v", entry)
	}
	// Without a principal a forged entry is removed.
	got = auth.WithOnBehalfOf(map[string]any{"parley": map[string]any{"on_behalf_of": "mallory"}}, nil)
	if _, ok := got["parley"].(map[string]any)["on_behalf_of"]; ok {
		t.Errorf("forged on_behalf_of kept: %v", got)
	}
	if got := auth.WithOnBehalfOf(nil, &auth.Principal{Anonymous: true}); !reflect.DeepEqual(got,
		map[string]any{"parley": map[string]any{"on_behalf_of": map[string]any{"sub": "anonymous"}}}) {
		t.Errorf("anonymous: %v", got)
	}
	if auth.WithOnBehalfOf(nil, nil) != nil {
		t.Error("nil metadata and principal should stay nil")
	}
}
