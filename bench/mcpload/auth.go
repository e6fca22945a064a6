package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/mcpbridge"
	"github.com/parleyhq/parley/store"
)

// The -compare auth comparison: Parley's get_ticket with auth off (the
// gateway's no-auth mode) and on (tokens from a local OIDC issuer), both
// wired as cmd/gateway/serve.go wires auth in front of /mcp.
const (
	// AuthTargetRatio is the goal: get_ticket with auth on at
	// least this fraction of its throughput with auth off.
	AuthTargetRatio = 0.9

	// benchRole is the role every client's token carries; the policy
	// allows it tool:get_ticket and nothing else.
	benchRole = "mcpload-client"
	// benchPolicyRule names that rule.
	benchPolicyRule = "mcpload-clients"
	// benchClientID is the OAuth client (azp) of the tokens.
	benchClientID = "mcpload"
	// tokenLifetime outlasts any run: a token is signed once per client.
	tokenLifetime = 24 * time.Hour
)

// issuer is a real OIDC issuer on loopback: go-oidc's oidctest serves the
// discovery document and the key set (one RSA key), and the issuer signs
// RS256 access tokens with that key.
type issuer struct {
	url  string
	key  *rsa.PrivateKey
	kid  string
	stop func()
}

// startIssuer generates the RSA key and serves the issuer on a fresh
// loopback port (profiler label target=issuer).
func startIssuer() (*issuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("issuer: RSA key: %w", err)
	}
	iss := &issuer{key: key, kid: "mcpload-key"}
	o := &oidctest.Server{PublicKeys: []oidctest.PublicKey{{PublicKey: key.Public(), KeyID: iss.kid, Algorithm: oidc.RS256}}}
	ln, err := listen("issuer")
	if err != nil {
		return nil, err
	}
	iss.url = "http://" + ln.Addr().String()
	o.SetIssuer(iss.url)
	iss.stop = serveOn("issuer", ln, o)
	return iss, nil
}

// token signs an access token for subject, for audience, carrying
// benchRole.
func (i *issuer) token(subject, audience string) (string, error) {
	now := time.Now()
	claims, err := json.Marshal(map[string]any{
		"iss":   i.url,
		"aud":   audience,
		"sub":   subject,
		"azp":   benchClientID,
		"scope": "parley.read",
		"roles": []string{benchRole},
		"iat":   now.Unix(),
		"nbf":   now.Add(-time.Minute).Unix(),
		"exp":   now.Add(tokenLifetime).Unix(),
	})
	if err != nil {
		return "", err
	}
	return oidctest.SignIDToken(i.key, i.kid, oidc.RS256, string(claims)), nil
}

// authSetup is how one in-process server puts auth in front of its bridge.
type authSetup struct {
	// issuer is nil for auth off (the gateway's no-auth mode).
	issuer *issuer
	// tokenCache off makes every request verify its token's signature
	// (auth.Options.TokenCacheSize -1).
	tokenCache bool
	// audit adds the audit record of every tool call, as serve.go does.
	audit bool
}

// newAuthService builds the auth.Service as cmd/gateway/serve.go does:
// the configuration's auth section (with the issuer, if any, accepting the
// MCP resource URL as audience, and the bench's policy), the public URL,
// and the audit log's OnDecision and OnRefused hooks (they write only
// denials and refusals, which a run does not make). It returns the audit
// log too.
func newAuthService(ctx context.Context, a authSetup, publicURL string, st store.Store) (*auth.Service, *audit.Log, error) {
	cfg := config.Default().Auth
	cfg.Policy = []config.PolicyRule{{
		Name:  benchPolicyRule,
		Match: config.PolicyMatch{Role: benchRole},
		Allow: []string{auth.ToolPermission(toolGet)},
	}}
	if a.issuer != nil {
		cfg.Issuer = a.issuer.url
		cfg.Audiences = []string{publicURL + auth.MCPPath}
	}
	auditLog := audit.New(st, audit.Options{
		Principal: func(ctx context.Context) audit.Principal {
			p, ok := auth.FromContext(ctx)
			if !ok {
				return audit.Principal{}
			}
			return audit.Principal{Subject: p.Name(), Client: p.ClientID}
		},
	})
	opts := auth.Options{
		PublicURL: publicURL,
		OnDecision: func(ctx context.Context, p *auth.Principal, permission string, d auth.Decision) {
			if !d.Allowed {
				_, _ = auditLog.Append(ctx, audit.Entry{Action: audit.ActionPolicyDenial, Target: permission, Outcome: audit.Denied,
					Detail: map[string]string{"rule": d.Rule, "reason": d.Reason}})
			}
		},
		OnRefused: func(ctx context.Context, endpoint string, err error) {
			_, _ = auditLog.Append(ctx, audit.Entry{Action: "auth.refused", Target: endpoint, Outcome: audit.Denied,
				Detail: map[string]string{"reason": err.Error()}})
		},
	}
	if !a.tokenCache {
		opts.TokenCacheSize = -1
	}
	authn, err := auth.New(ctx, cfg, opts)
	return authn, auditLog, err
}

// withAuth wires authn in front of bridge as serve.go does: the go-sdk
// receiving middleware (tools/list filtering, tools/call checks) and the
// MCP HTTP face (tokens, session binding) around the bridge. With
// auditLog, the receiving middleware is followed by serve.go's audit
// middleware, which appends a record of every tool call.
func withAuth(authn *auth.Service, bridge *mcpbridge.Bridge, auditLog *audit.Log) http.Handler {
	if auditLog != nil {
		bridge.Server().AddReceivingMiddleware(authn.MCPMiddleware(), mcpbridge.AuditMiddleware(auditLog))
	} else {
		bridge.Server().AddReceivingMiddleware(authn.MCPMiddleware())
	}
	return authn.MCP(bridge)
}

// bearer is a client-side transport that sends a bearer token on every
// request, as an MCP host holding an access token does.
type bearer struct {
	header string
	next   http.RoundTripper
}

func (b *bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	// A RoundTripper must not change the caller's request: a shallow copy
	// with its own header map.
	r2 := *r
	r2.Header = r.Header.Clone()
	r2.Header.Set("Authorization", b.header)
	return b.next.RoundTrip(&r2)
}

// checkAuthEnforced makes sure auth is really on at endpoint before it is
// measured: a request without a token is refused with 401 and a
// WWW-Authenticate challenge, a token for another audience likewise, and
// a tool the policy does not allow (save_ticket) is refused to a client
// whose get_ticket succeeds.
func checkAuthEnforced(ctx context.Context, cfg *Config, e *env) error {
	cctx, cancel := context.WithTimeout(ctx, cfg.CallTimeout)
	defer cancel()
	endpoint := e.endpoint(serverAuthOn)
	wrong, err := e.issuer.token("mcpload-intruder", "https://elsewhere.example.com/mcp")
	if err != nil {
		return err
	}
	for _, tc := range []struct{ what, header string }{
		{"no token", ""},
		{"a token for another audience", "Bearer " + wrong},
	} {
		body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_ticket","arguments":{"ticket_id":"` + e.ids[0] + `"}}}`
		req, err := http.NewRequestWithContext(cctx, http.MethodPost, endpoint, strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Mcp-Protocol-Version", statelessVersion)
		if tc.header != "" {
			req.Header.Set("Authorization", tc.header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("auth check (%s): %w", tc.what, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			return fmt.Errorf("auth check: a request with %s got %s (WWW-Authenticate %q), want 401 with a Bearer challenge: auth is not on",
				tc.what, resp.Status, resp.Header.Get("WWW-Authenticate"))
		}
	}

	cs, err := connect(cctx, endpoint, e.httpClient(serverAuthOn, -1), cfg.Modes[0], "mcpload-auth-check")
	if err != nil {
		return fmt.Errorf("auth check: connect with a token: %w", err)
	}
	defer cs.Close()
	if err := getTicket(e.ids[:1])(cctx, cs, 0, 0, mathrand.New(mathrand.NewPCG(1, 1))); err != nil {
		return fmt.Errorf("auth check: get_ticket with a token: %w", err)
	}
	res, err := cs.CallTool(cctx, &mcp.CallToolParams{Name: toolSave, Arguments: saveArgs{TicketID: e.ids[0], Summary: "must be refused"}})
	if err != nil {
		return fmt.Errorf("auth check: save_ticket: %w", err)
	}
	if !res.IsError || !strings.Contains(resultText(res), auth.RuleDefaultDeny) {
		return errors.New("auth check: save_ticket, which the policy does not allow, was not refused by the default-deny rule: " + resultText(res))
	}
	return nil
}
