package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/a2aproject/a2a-go/a2asrv"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2/clientcredentials"
	_ "modernc.org/sqlite" // database/sql driver "sqlite", to tamper with the audit log

	"github.com/parleyhq/parley/adminapi"
	"github.com/parleyhq/parley/agentcards/agentcardstest"
	"github.com/parleyhq/parley/api"
	"github.com/parleyhq/parley/store"
)

// What TestAuthIdP sets up: e2e/js/idp.mjs's clients, resources and
// audiences, the agent, and the policy rule that denies escalate.
const (
	idpAgentName      = "billing"
	idpParleyResource = "urn:parley"        // aud parley
	idpAgentsResource = "urn:parley:agents" // aud parley-agents; parley-gateway only
	idpAgentsAudience = "parley-agents"
	idpGatewayClient  = "parley-gateway"
	idpDenyRule       = "support-no-escalation"
)

// TestAuthIdP is the auth scenario of TestAuthFrontsEveryEndpoint with a
// real identity provider and real clients, end to end:
//
//   - the IdP is the npm package oidc-provider (e2e/js/idp.mjs), started on
//     loopback; it issues client credentials JWT access tokens for Parley's
//     audience, with a roles claim per client, and for the agents' audience
//     to Parley's own client (parley-gateway) only;
//   - the gateway verifies them (discovery and keys from the IdP), and
//     presents its own client credentials token, fetched from the IdP with
//     the resource indicator of the agents (auth.agents_credentials …
//     client_credentials), to a real a2a-go agent on loopback, which
//     accepts only tokens the IdP signed for the agents' audience and
//     records every Authorization header it receives;
//   - the admin API refuses anonymous and support callers and registers the
//     agent for the admin client;
//   - e2e/js/auth-clients.mjs, with the support client's token, drives the
//     reference TypeScript MCP SDK (tools/list hides escalate, save_ticket
//     and get_ticket work, escalate is refused naming its rule) and
//     @a2a-js/sdk 1.3.0 through the relay to the agent;
//   - the agent saw Parley's token, never a caller's;
//   - a caller whose policy does not allow agent:billing:message is
//     refused by the relay, and the agent never hears of it;
//   - after the gateway stops, `gateway audit verify` passes, and finds the
//     record of the escalate denial once a row is altered directly in the
//     SQLite database, whether its hash is left alone or recomputed.
//
// It needs node and e2e/js/node_modules (npm ci in e2e/js); without them it
// is skipped locally, but fails under CI (CI set).
func TestAuthIdP(t *testing.T) {
	node, jsDir := nodeIdP(t)
	ctx := t.Context()

	// --- the IdP ----------------------------------------------------------------
	secrets := map[string]string{}
	for _, c := range []string{"support", "admin", "viewer", idpGatewayClient} {
		secrets[c] = randomHex(t, 24)
	}
	idp := startIdP(t, node, jsDir,
		"IDP_SUPPORT_SECRET="+secrets["support"],
		"IDP_ADMIN_SECRET="+secrets["admin"],
		"IDP_VIEWER_SECRET="+secrets["viewer"],
		"IDP_PARLEY_GATEWAY_SECRET="+secrets[idpGatewayClient],
	)
	provider, err := oidc.NewProvider(ctx, idp.issuer)
	if err != nil {
		t.Fatalf("discovery at the IdP %s: %v\nIdP log:\n%s", idp.issuer, err, idp.logs)
	}
	tokenURL := provider.Endpoint().TokenURL
	t.Logf("IdP %s, token endpoint %s", idp.issuer, tokenURL)

	token := func(client, resource string) string {
		t.Helper()
		cc := clientcredentials.Config{ClientID: client, ClientSecret: secrets[client], TokenURL: tokenURL,
			EndpointParams: map[string][]string{"resource": {resource}}}
		tok, err := cc.Token(ctx)
		if err != nil {
			t.Fatalf("client credentials token for %s (%s): %v\nIdP log:\n%s", client, resource, err, idp.logs)
		}
		return tok.AccessToken
	}
	supportToken := token("support", idpParleyResource)
	adminToken := token("admin", idpParleyResource)
	viewerToken := token("viewer", idpParleyResource)
	callerTokens := map[string]string{"support": supportToken, "admin": adminToken, "viewer": viewerToken}
	if c := jwtClaims(t, supportToken); c["aud"] != "parley" || c["sub"] != "support" || c["iss"] != idp.issuer ||
		fmt.Sprint(c["roles"]) != "[support]" {
		t.Fatalf("the support token's claims are not what the gateway is configured for: %v", c)
	}
	// Only Parley's own client may get tokens for the agents.
	if _, err := (&clientcredentials.Config{ClientID: "support", ClientSecret: secrets["support"], TokenURL: tokenURL,
		EndpointParams: map[string][]string{"resource": {idpAgentsResource}}}).Token(ctx); err == nil {
		t.Fatalf("the IdP gave the support client a token for %s; the agent would accept it", idpAgentsResource)
	}

	// --- the agent ----------------------------------------------------------------
	agent := newRecordingAgent(t, idpAgentName, provider.Verifier(&oidc.Config{ClientID: idpAgentsAudience}))

	// --- the gateway ----------------------------------------------------------------
	dir := t.TempDir()
	db := filepath.Join(dir, "parley.db")
	cfg := filepath.Join(dir, "parley.yaml")
	yaml := fmt.Sprintf(`auth:
  issuer: %s
  audiences: [parley]
  role_claims: [roles]
  admin_roles: [parley-admin]
  policy:
    - name: %s
      match: {role: support}
      deny: ["tool:escalate"]
    - name: support-desk
      match: {role: support}
      allow: ["tool:get_ticket", "tool:save_ticket", "agent:*:message"]
    - name: viewers
      match: {role: viewer}
      allow: ["tool:get_ticket"]
  agents_credentials:
    %s:
      client_credentials:
        token_url: %s
        client_id: %s
        client_secret_env: PARLEY_E2E_AGENTS_SECRET
        resource: %s
`, idp.issuer, idpDenyRule, idpAgentName, tokenURL, idpGatewayClient, idpAgentsResource)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, dir, cleanEnv("PARLEY_E2E_AGENTS_SECRET="+secrets[idpGatewayClient]),
		"--config", cfg,
		"--listen", "127.0.0.1:0",
		"--grpc-listen", "127.0.0.1:0",
		"--allow-private-agent-urls",
		"--store", "sqlite://"+db,
	)
	base := "http://" + p.addr(t)
	logs := func() string {
		return "gateway log (end):\n" + tail(p.logs.String(), 60) + "\nIdP log:\n" + idp.logs.String()
	}

	// --- the admin API: registering an agent needs the admin role ----------------------
	register := func(bearer string) (int, string) {
		t.Helper()
		body, _ := json.Marshal(map[string]string{"url": agent.URL()})
		status, out := bearerRequest(t, http.MethodPost, base+"/api/v1/agents", bearer, "application/json", body)
		return status, out
	}
	if status, out := register(""); status != http.StatusUnauthorized {
		t.Errorf("POST /api/v1/agents without a token = %d %s, want 401", status, out)
	}
	if status, out := register(supportToken); status != http.StatusForbidden {
		t.Errorf("POST /api/v1/agents as support = %d %s, want 403", status, out)
	}
	status, out := register(adminToken)
	var registered struct {
		Name string `json:"name"`
	}
	if status != http.StatusCreated || json.Unmarshal([]byte(out), &registered) != nil || registered.Name != idpAgentName {
		t.Fatalf("POST /api/v1/agents as admin = %d %s, want 201 and the agent named %q\n%s", status, out, idpAgentName, logs())
	}

	// --- the TypeScript MCP client and @a2a-js/sdk, with the support token ----------
	script := filepath.Join(jsDir, "auth-clients.mjs")
	runCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(runCtx, node, script, base, idpAgentName, idp.issuer)
	cmd.Dir = jsDir
	cmd.Env = cleanEnv("E2E_SUPPORT_TOKEN="+supportToken, "E2E_DENY_RULE="+idpDenyRule)
	cmd.WaitDelay = 5 * time.Second
	jsOut, err := cmd.CombinedOutput()
	run := "node auth-clients.mjs " + base + " " + idpAgentName + " " + idp.issuer
	switch {
	case runCtx.Err() != nil:
		t.Fatalf("%s did not finish within its timeout:\n%s\n%s", run, jsOut, logs())
	case err != nil:
		t.Fatalf("%s: %v\n%s\n%s\nthe agent saw:\n%s", run, err, jsOut, logs(), agent.report())
	}
	t.Logf("%s:\n%s", run, jsOut)
	if !bytes.Contains(jsOut, []byte("PASS ")) {
		t.Fatalf("the script exited 0 without its PASS line:\n%s", jsOut)
	}
	for _, want := range []string{"@a2a-js/sdk 1.3.0 ", "@modelcontextprotocol/sdk "} {
		if !bytes.Contains(jsOut, []byte(want)) {
			t.Errorf("the script did not run %q (is e2e/js/node_modules up to date? npm ci):\n%s", want, jsOut)
		}
	}
	if bytes.Contains(jsOut, []byte(supportToken)) {
		t.Errorf("the script printed the support token")
	}

	// --- what the agent saw: Parley's token, never a caller's ------------------------
	seen := agent.requests()
	var messages int
	for _, r := range seen {
		for who, tok := range callerTokens {
			if strings.Contains(r.Authorization, tok) {
				t.Errorf("the agent received the %s caller's token on %s %s", who, r.Method, r.Path)
			}
		}
		if !r.rpc() {
			continue
		}
		messages++
		switch {
		case r.VerifyErr != "":
			t.Errorf("%s %s: the agent refused the gateway's credentials: %s", r.Method, r.Path, r.VerifyErr)
		case r.Subject != idpGatewayClient || r.ClientID != idpGatewayClient || !slices.Contains(r.Audience, idpAgentsAudience):
			t.Errorf("%s %s: the agent got a token for sub %q client_id %q aud %v, want Parley's own (%s) for %s",
				r.Method, r.Path, r.Subject, r.ClientID, r.Audience, idpGatewayClient, idpAgentsAudience)
		}
	}
	// sendMessage and sendMessageStream; the unauthenticated call never
	// got past the gateway.
	if messages != 2 {
		t.Errorf("the agent got %d JSON-RPC requests, want 2 (sendMessage and sendMessageStream through the relay)\n%s", messages, agent.report())
	}
	// One token for both calls: the gateway caches it until it expires.
	if n := strings.Count(idp.logs.String(), "issued a token to "+idpGatewayClient+" for "+idpAgentsResource); n != 1 {
		t.Errorf("the IdP issued %d tokens for %s to %s, want 1 (fetched when first needed, then cached):\n%s",
			n, idpAgentsResource, idpGatewayClient, idp.logs)
	}

	// --- a caller not allowed to message the agent ------------------------------------
	t.Run("relay enforces agent:NAME:message", func(t *testing.T) {
		before := len(agent.requests())
		req := `{"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"kind":"message","messageId":"viewer-1","role":"user","parts":[{"kind":"text","text":"hello from a viewer"}]}}}`
		status, out := bearerRequest(t, http.MethodPost, base+"/a2a/agents/"+idpAgentName, viewerToken, "application/json", []byte(req))
		refused := status == http.StatusForbidden ||
			(status == http.StatusOK && strings.Contains(out, `"error"`) && strings.Contains(out, "agent:"+idpAgentName+":message"))
		if !refused {
			t.Errorf("message/send through the relay as viewer (allowed only tool:get_ticket) = %d %s\n"+
				"want 403, or a JSON-RPC error naming agent:%s:message (the policy's default deny)", status, out, idpAgentName)
		}
		if after := agent.requests()[before:]; slices.ContainsFunc(after, seenRequest.rpc) {
			t.Errorf("the agent received the viewer's message: the relay did not check agent:%s:message\n%s", idpAgentName, agent.report())
		}
		// The denial is audited, and the admin may read the audit log.
		status, out = bearerRequest(t, http.MethodGet, base+"/api/v1/audit?principal=viewer&action=policy.denial", adminToken, "", nil)
		var denials api.AuditList
		if err := json.Unmarshal([]byte(out), &denials); status != http.StatusOK || err != nil ||
			!slices.ContainsFunc(denials.Records, func(r api.AuditRecord) bool { return r.Target == "agent:"+idpAgentName+":message" }) {
			t.Errorf("GET /api/v1/audit?principal=viewer&action=policy.denial as admin = %d %s\nwant the denial of agent:%s:message", status, out, idpAgentName)
		}
	})

	// --- the audit log --------------------------------------------------------------------
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		_ = p.cmd.Process.Kill()
	}
	p.wait(t, 30*time.Second)

	stdout, stderr, code := gatewayExit(t, "audit", "verify", "--store", "sqlite://"+db)
	if code != 0 || !strings.HasPrefix(stdout, "audit chain OK: ") {
		t.Fatalf("gateway audit verify = exit %d\n%s%s\nwant exit 0, audit chain OK", code, stdout, stderr)
	}
	t.Logf("gateway audit verify: %s", strings.TrimSpace(stdout))
	stdout, stderr, code = gatewayExit(t, "audit", "list", "--json", "--limit", "0", "--store", "sqlite://"+db)
	var list api.AuditList
	if err := json.Unmarshal([]byte(stdout), &list); code != 0 || err != nil {
		t.Fatalf("gateway audit list --json = exit %d (%v)\n%s%s", code, err, stdout, stderr)
	}
	find := func(action, subject, target, rule string) (api.AuditRecord, bool) {
		for _, r := range list.Records {
			if r.Action == action && r.Subject == subject && r.Target == target && r.Outcome == "denied" &&
				(rule == "" || strings.Contains(string(r.Detail), `"`+rule+`"`)) {
				return r, true
			}
		}
		return api.AuditRecord{}, false
	}
	escalation, ok := find("policy.denial", "support", "tool:escalate", idpDenyRule)
	var missing []string
	if !ok {
		missing = append(missing, "the denial of tool:escalate to support by rule "+idpDenyRule)
	}
	if _, ok := find("policy.denial", "support", "admin:register_agent", "admin-role-required"); !ok {
		missing = append(missing, "the denial of admin:register_agent to support (rule admin-role-required)")
	}
	for _, endpoint := range []string{"admin", "mcp", "a2a"} {
		if _, ok := find("auth.refused", "", endpoint, ""); !ok {
			missing = append(missing, "the refusal of the anonymous call to "+endpoint)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("the audit log lacks %s:\n%s", strings.Join(missing, "; "), stdout)
	}

	// Tampering: the escalate denial is turned into a success, straight in
	// the database, once with its hash left alone and once (in a copy) with
	// its hash recomputed. Either way verify fails naming that record.
	rehashed := filepath.Join(dir, "rehashed.db")
	sqlExec(t, db, "VACUUM INTO ?", rehashed)
	sqlExec(t, db, `UPDATE audit_log SET outcome = 'ok', detail = '{}' WHERE seq = ?`, escalation.Seq)

	forged := adminapi.AuditFromAPI(escalation)
	forged.Outcome, forged.Detail = "ok", json.RawMessage(`{}`)
	forged.Hash = store.AuditHash(forged)
	sqlExec(t, rehashed, `UPDATE audit_log SET outcome = 'ok', detail = '{}', hash = ? WHERE seq = ?`, forged.Hash, escalation.Seq)

	for _, tc := range []struct{ name, db, reason string }{
		{"altered", db, "its contents do not match its hash"},
		// The forged hash matches the forged contents: what gives it away
		// is the next record's link (or the chain head).
		{"altered and re-hashed", rehashed, "re-hashed"},
	} {
		stdout, stderr, code := gatewayExit(t, "audit", "verify", "--store", "sqlite://"+tc.db)
		want := fmt.Sprintf("audit chain BROKEN at record %d: ", escalation.Seq)
		if code != 1 || !strings.HasPrefix(stdout, want) || !strings.Contains(stdout, tc.reason) {
			t.Errorf("gateway audit verify after the record of the escalate denial (seq %d) was %s = exit %d\n%s%s\nwant exit 1 and %q … %s",
				escalation.Seq, tc.name, code, stdout, stderr, want, tc.reason)
		} else {
			t.Logf("gateway audit verify (%s): %s", tc.name, strings.TrimSpace(stdout))
		}
	}
}

// nodeIdP finds node and e2e/js with oidc-provider and the client SDKs
// installed, or skips the test (fails it under CI).
func nodeIdP(t *testing.T) (node, jsDir string) {
	t.Helper()
	node, script := nodeClient(t) // node and @modelcontextprotocol/sdk
	jsDir = filepath.Dir(script)
	for _, pkg := range []string{"oidc-provider", "a2a-js-10"} {
		if _, err := os.Stat(filepath.Join(jsDir, "node_modules", pkg, "package.json")); errors.Is(err, os.ErrNotExist) {
			if os.Getenv("CI") != "" {
				t.Fatalf("the npm packages are not installed (cd e2e/js && npm ci): %v (CI is set, so this test must run)", err)
			}
			t.Skipf("the npm packages are not installed (cd e2e/js && npm ci): %v", err)
		} else if err != nil {
			t.Fatal(err)
		}
	}
	return node, jsDir
}

// idpProcess is e2e/js/idp.mjs running.
type idpProcess struct {
	issuer string
	logs   *syncBuffer // stderr, and stdout after the issuer line
}

// startIdP starts e2e/js/idp.mjs on a free loopback port and waits for the
// issuer URL it prints once it answers. The test's cleanup closes its stdin
// (which stops it) and waits for it.
func startIdP(t *testing.T, node, jsDir string, env ...string) *idpProcess {
	t.Helper()
	logs := &syncBuffer{}
	first := &firstLine{line: make(chan string, 1), rest: logs}
	cmd := exec.Command(node, "idp.mjs", "--until-stdin-closes", "0")
	cmd.Dir = jsDir
	cmd.Env = cleanEnv(env...)
	cmd.Stdout, cmd.Stderr = first, logs
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the IdP: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	select {
	case issuer := <-first.line:
		if !strings.HasPrefix(issuer, "http://127.0.0.1:") {
			t.Fatalf("the IdP printed %q, want its issuer URL http://127.0.0.1:<port>\n%s", issuer, logs)
		}
		return &idpProcess{issuer: issuer, logs: logs}
	case err := <-exited:
		exited <- err // for the cleanup
		t.Fatalf("the IdP exited (%v) before printing its issuer:\n%s", err, logs)
	case <-time.After(30 * time.Second):
		t.Fatalf("the IdP did not print its issuer within 30s:\n%s", logs)
	}
	return nil
}

// firstLine sends the first line written to it on line and passes the
// rest on.
type firstLine struct {
	mu   sync.Mutex
	buf  []byte
	done bool
	line chan string
	rest io.Writer
}

func (f *firstLine) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return f.rest.Write(p)
	}
	f.buf = append(f.buf, p...)
	if i := bytes.IndexByte(f.buf, '\n'); i >= 0 {
		f.done = true
		f.line <- strings.TrimSpace(string(f.buf[:i]))
		if _, err := f.rest.Write(f.buf[i+1:]); err != nil {
			return 0, err
		}
		f.buf = nil
	}
	return len(p), nil
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// recordingAgent is a real a2a-go agent (relayEchoExecutor, A2A 0.3
// JSON-RPC) on loopback that, like an agent behind Parley would, serves its
// card publicly and accepts JSON-RPC only with a bearer token the IdP
// signed for the agents' audience. It records every request's
// Authorization header and what it made of it.
type recordingAgent struct {
	srv      *httptest.Server
	verifier *oidc.IDTokenVerifier
	rpc      http.Handler
	card     http.Handler

	mu   sync.Mutex
	seen []seenRequest
}

// seenRequest is one request the agent received.
type seenRequest struct {
	Method, Path, Authorization string
	// For JSON-RPC requests: the verified token's claims, or why it was
	// refused.
	Subject, ClientID string
	Audience          []string
	VerifyErr         string
}

// rpc reports whether the request was a JSON-RPC call (not a card fetch).
func (r seenRequest) rpc() bool { return r.Method == http.MethodPost }

func newRecordingAgent(t *testing.T, name string, verifier *oidc.IDTokenVerifier) *recordingAgent {
	t.Helper()
	a := &recordingAgent{
		verifier: verifier,
		rpc:      a2asrv.NewJSONRPCHandler(a2asrv.NewHandler(relayEchoExecutor{name: name})),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a.card = a2asrv.NewStaticAgentCardHandler(agentcardstest.Card03(name, "http://"+ln.Addr().String()+"/",
		agentcardstest.Skill("refunds", "Refunds", "billing")))
	a.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: a}}
	a.srv.Start()
	t.Cleanup(a.srv.Close)
	return a
}

// URL is the agent's base URL.
func (a *recordingAgent) URL() string { return a.srv.URL }

func (a *recordingAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := seenRequest{Method: r.Method, Path: r.URL.Path, Authorization: r.Header.Get("Authorization")}
	if r.URL.Path == a2asrv.WellKnownAgentCardPath {
		a.record(s)
		a.card.ServeHTTP(w, r)
		return
	}
	raw, ok := strings.CutPrefix(s.Authorization, "Bearer ")
	if !ok {
		s.VerifyErr = "no bearer token"
	} else if tok, err := a.verifier.Verify(r.Context(), raw); err != nil {
		s.VerifyErr = err.Error()
	} else {
		var c struct {
			ClientID string `json:"client_id"`
		}
		if err := tok.Claims(&c); err != nil {
			s.VerifyErr = err.Error()
		}
		s.Subject, s.ClientID, s.Audience = tok.Subject, c.ClientID, tok.Audience
	}
	a.record(s)
	if s.VerifyErr != "" {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		http.Error(w, "invalid token", http.StatusUnauthorized)
		return
	}
	a.rpc.ServeHTTP(w, r)
}

func (a *recordingAgent) record(s seenRequest) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seen = append(a.seen, s)
}

func (a *recordingAgent) requests() []seenRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.seen)
}

// report lists what the agent received, tokens abbreviated.
func (a *recordingAgent) report() string {
	var b strings.Builder
	for _, r := range a.requests() {
		auth := r.Authorization
		if len(auth) > 24 {
			auth = auth[:24] + "…"
		}
		fmt.Fprintf(&b, "  %s %s Authorization=%q sub=%q client_id=%q aud=%v err=%q\n", r.Method, r.Path, auth, r.Subject, r.ClientID, r.Audience, r.VerifyErr)
	}
	return b.String()
}

// bearerRequest sends one request with an optional bearer token and
// returns the status and body.
func bearerRequest(t *testing.T, method, url, bearer, contentType string, body []byte) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// gatewayExit runs the gateway binary with args and returns stdout, stderr
// and its exit status.
func gatewayExit(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = cleanEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return out.String(), errb.String(), 0
	case errors.As(err, &exitErr) && exitErr.ExitCode() >= 0:
		return out.String(), errb.String(), exitErr.ExitCode()
	default:
		t.Fatalf("gateway %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
		return "", "", -1
	}
}

// sqlExec runs one statement on the SQLite database at path, as someone
// with access to the database file (and not the gateway) would.
func sqlExec(t *testing.T, path, query string, args ...any) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.ExecContext(t.Context(), query, args...)
	if err != nil {
		t.Fatalf("%s on %s: %v", query, path, err)
	}
	if strings.HasPrefix(query, "UPDATE") {
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			t.Fatalf("%s on %s: %d rows changed (%v), want 1", query, path, n, err)
		}
	}
}

// jwtClaims decodes a JWT's claims without verifying it (the gateway and
// the agent verify).
func jwtClaims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	if err == nil {
		err = json.Unmarshal(b, &claims)
	}
	if err != nil {
		t.Fatalf("JWT claims: %v", err)
	}
	return claims
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
