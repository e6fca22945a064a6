package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	mcpauth "github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/parleyhq/parley/adminapi"
	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
)

const metaURL = testPublicURL + "/.well-known/oauth-protected-resource/mcp"

// leaky are words of refusal reasons that must stay in the log, out of
// the response.
var leaky = []string{"audience", "issuer", "expired", "signature", "kid", "alg", "nbf", "malformed", "key"}

// echo answers 200 with the principal's name and the go-sdk TokenInfo's
// user.
func echo() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := auth.FromContext(r.Context())
		if !ok {
			http.Error(w, "no principal", http.StatusTeapot)
			return
		}
		user := "-"
		if ti := mcpauth.TokenInfoFromContext(r.Context()); ti != nil {
			user = ti.UserID
		}
		_, _ = io.WriteString(w, p.Name()+" "+user)
	})
}

func do(h http.Handler, method, target, authz string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"x"}`))
	if authz != "" {
		r.Header.Set("Authorization", authz)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

func TestMCPRefusesBadTokens(t *testing.T) {
	iss := newIssuer(t)
	var refused []string
	s := iss.service(t, func(_ *config.Auth, o *auth.Options) {
		o.OnRefused = func(_ context.Context, endpoint string, err error) {
			var te *auth.TokenError
			if errors.As(err, &te) {
				refused = append(refused, endpoint+":"+string(te.Reason))
			}
		}
	})
	h := s.MCP(echo())
	for _, tt := range badTokens(t, iss) {
		t.Run(tt.name, func(t *testing.T) {
			refused = nil
			rec := do(h, http.MethodPost, "/mcp", tt.header)
			if rec.Code != http.StatusUnauthorized {
				t.Fatalf("status = %d, want 401; body %q", rec.Code, rec.Body)
			}
			want := `Bearer error="invalid_token", resource_metadata="` + metaURL + `"`
			if tt.reason == auth.ReasonMissing {
				want = `Bearer resource_metadata="` + metaURL + `"`
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != want {
				t.Errorf("WWW-Authenticate = %q, want %q", got, want)
			}
			body := strings.ToLower(rec.Body.String())
			for _, w := range leaky {
				if strings.Contains(body, w) {
					t.Errorf("body %q tells the caller %q", body, w)
				}
			}
			if want := []string{"mcp:" + string(tt.reason)}; !slices.Equal(refused, want) {
				t.Errorf("OnRefused heard %q, want %q", refused, want)
			}
		})
	}
}

func TestMCPAcceptsAndBindsTokenInfo(t *testing.T) {
	iss := newIssuer(t)
	s := iss.service(t, nil)
	var ti *mcpauth.TokenInfo
	h := s.MCP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ti = mcpauth.TokenInfoFromContext(r.Context())
		echo().ServeHTTP(w, r)
	}))
	rec := do(h, http.MethodPost, "/mcp", "Bearer "+iss.token(nil))
	if rec.Code != http.StatusOK || rec.Body.String() != "alice alice" {
		t.Fatalf("status %d, body %q", rec.Code, rec.Body)
	}
	if ti == nil || ti.UserID != "alice" || ti.Expiration.IsZero() || !slices.Contains(ti.Scopes, "parley.read") {
		t.Fatalf("TokenInfo = %+v", ti)
	}
	if p, ok := auth.FromTokenInfo(ti); !ok || p.Subject != "alice" {
		t.Errorf("FromTokenInfo = %+v, %v", p, ok)
	}
	// The scheme is case-insensitive, as in go-sdk.
	if rec := do(h, http.MethodPost, "/mcp", "bearer "+iss.token(nil)); rec.Code != http.StatusOK {
		t.Errorf("lower-case scheme: status %d", rec.Code)
	}
}

func TestRequiredScopes(t *testing.T) {
	iss := newIssuer(t)
	s := iss.service(t, func(c *config.Auth, _ *auth.Options) { c.RequiredScopes = []string{"parley.mcp", "parley.read"} })
	tests := []struct {
		name       string
		face       func(http.Handler) http.Handler
		authz      string
		status     int
		wwwAuth    string
		bodyPrefix string
	}{
		{"mcp, scopes missing", s.MCP, "Bearer " + iss.token(nil), http.StatusForbidden,
			`Bearer error="insufficient_scope", scope="parley.mcp parley.read", resource_metadata="` + metaURL + `"`, "insufficient scope"},
		{"mcp, no token names the scopes", s.MCP, "", http.StatusUnauthorized,
			`Bearer scope="parley.mcp parley.read", resource_metadata="` + metaURL + `"`, "authentication required"},
		{"mcp, scopes granted", s.MCP, "Bearer " + iss.token(map[string]any{"scope": "parley.read parley.mcp"}), http.StatusOK, "", "alice"},
		{"mcp, scopes as scp list", s.MCP, "Bearer " + iss.token(map[string]any{"scope": nil, "scp": []string{"parley.mcp", "parley.read"}}), http.StatusOK, "", "alice"},
		{"a2a, scopes missing", s.A2A, "Bearer " + iss.token(nil), http.StatusForbidden,
			`Bearer error="insufficient_scope", scope="parley.mcp parley.read"`, `{"error":{"code":-32600,"message":"insufficient scope"}`},
		{"admin, scopes missing", s.Admin, "Bearer " + iss.token(nil), http.StatusForbidden,
			`Bearer error="insufficient_scope", scope="parley.mcp parley.read"`, `{"error":"insufficient scope"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(tt.face(echo()), http.MethodPost, "/", tt.authz)
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d; body %q", rec.Code, tt.status, rec.Body)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != tt.wwwAuth {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.wwwAuth)
			}
			if body := strings.ReplaceAll(rec.Body.String(), `"jsonrpc":"2.0","id":null,`, ""); !strings.HasPrefix(body, tt.bodyPrefix) {
				t.Errorf("body = %q, want it to start with %q", body, tt.bodyPrefix)
			}
		})
	}
}

func TestProtectedResourceMetadata(t *testing.T) {
	iss := newIssuer(t)
	s := iss.service(t, func(c *config.Auth, o *auth.Options) {
		c.RequiredScopes = []string{"parley.mcp"}
		o.PublicURL = testPublicURL + "/" // a trailing slash is dropped
	})
	if s.Resource() != testPublicURL+"/mcp" || s.ResourceMetadataURL() != metaURL {
		t.Errorf("Resource %q, metadata URL %q", s.Resource(), s.ResourceMetadataURL())
	}
	rec := do(s.ProtectedResourceMetadata(), http.MethodGet, auth.ProtectedResourceMetadataPath+auth.MCPPath, "")
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("status %d, content type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var meta map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &meta); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"resource":                 testPublicURL + "/mcp",
		"authorization_servers":    []any{iss.URL()},
		"scopes_supported":         []any{"parley.mcp"},
		"bearer_methods_supported": []any{"header"},
		"resource_name":            "Parley MCP gateway",
	}
	for k, v := range want {
		got, _ := json.Marshal(meta[k])
		w, _ := json.Marshal(v)
		if string(got) != string(w) {
			t.Errorf("%s = %s, want %s", k, got, w)
		}
	}
	if rec := do(s.ProtectedResourceMetadata(), http.MethodPost, "/", ""); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d", rec.Code)
	}
}

func TestA2AFace(t *testing.T) {
	iss := newIssuer(t)
	s := iss.service(t, nil)
	// Behind A2A, A2APrincipal (the a2a server's Principal, which its
	// identity interceptor calls before every call) names the caller.
	var user string
	h := s.A2A(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, _ = s.A2APrincipal(r.Context())
	}))
	for _, tt := range badTokens(t, iss) {
		rec := do(h, http.MethodPost, "/a2a", tt.header)
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", tt.name, rec.Code)
			continue
		}
		want := `Bearer error="invalid_token"`
		if tt.reason == auth.ReasonMissing {
			want = "Bearer"
		}
		if got := rec.Header().Get("WWW-Authenticate"); got != want {
			t.Errorf("%s: WWW-Authenticate %q, want %q", tt.name, got, want)
		}
		var body struct {
			JSONRPC string `json:"jsonrpc"`
			Error   struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.JSONRPC != "2.0" || body.Error.Code == 0 {
			t.Errorf("%s: body %q is not a JSON-RPC error", tt.name, rec.Body)
		}
	}
	if user != "" {
		t.Fatalf("a refused request reached the handler as %q", user)
	}
	if rec := do(h, http.MethodPost, "/a2a", "Bearer "+iss.token(map[string]any{"sub": "billing-bot"})); rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	if user != "billing-bot" {
		t.Errorf("a2a caller = %q, want billing-bot", user)
	}
}

func TestAdminFace(t *testing.T) {
	iss := newIssuer(t)
	var decisions []string
	s := iss.service(t, func(c *config.Auth, o *auth.Options) {
		c.Policy = []config.PolicyRule{
			{Name: "support-reads-agents", Match: config.PolicyMatch{Role: "support"}, Allow: []string{"admin:list_agents", "admin:get_agent", "admin:register_agent",
				"admin:list_upstreams", "admin:register_upstream", "admin:approve_upstream"}},
		}
		o.OnDecision = func(_ context.Context, p *auth.Principal, perm string, d auth.Decision) {
			decisions = append(decisions, p.Name()+" "+perm+" "+d.Rule)
		}
	})
	authorize := s.AdminAuthorizer(adminapi.ErrUnauthenticated)
	admin := "Bearer " + iss.token(map[string]any{"sub": "root", "roles": []string{"parley-admin"}})
	support := "Bearer " + iss.token(map[string]any{"sub": "sam", "groups": []string{"support"}})
	nobody := "Bearer " + iss.token(map[string]any{"sub": "nobody"})

	tests := []struct {
		name     string
		authz    string
		action   string
		wantErr  error // nil: allowed
		decision string
	}{
		{"admin registers", admin, adminapi.ActionRegisterAgent, nil, "root admin:register_agent admin-role"},
		{"admin removes", admin, adminapi.ActionRemoveAgent, nil, "root admin:remove_agent admin-role"},
		{"support lists", support, adminapi.ActionListAgents, nil, "sam admin:list_agents support-reads-agents"},
		// The policy grants it, but registering needs the admin role.
		{"support registers", support, adminapi.ActionRegisterAgent, auth.ErrForbidden, "sam admin:register_agent admin-role-required"},
		{"support approves", support, adminapi.ActionApproveAgent, auth.ErrForbidden, "sam admin:approve_agent admin-role-required"},
		{"nobody lists", nobody, adminapi.ActionListAgents, auth.ErrForbidden, "nobody admin:list_agents default-deny"},
		{"admin registers an upstream", admin, adminapi.ActionRegisterUpstream, nil, "root admin:register_upstream admin-role"},
		{"support lists upstreams", support, adminapi.ActionListUpstreams, nil, "sam admin:list_upstreams support-reads-agents"},
		// Registering an upstream may run a command on the gateway's host:
		// the policy cannot grant it without the admin role.
		{"support registers an upstream", support, adminapi.ActionRegisterUpstream, auth.ErrForbidden, "sam admin:register_upstream admin-role-required"},
		{"support approves an upstream's tools", support, adminapi.ActionApproveUpstream, auth.ErrForbidden, "sam admin:approve_upstream admin-role-required"},
		{"support gets an upstream", support, adminapi.ActionGetUpstream, auth.ErrForbidden, "sam admin:get_upstream default-deny"},
		{"nobody removes an upstream", nobody, adminapi.ActionRemoveUpstream, auth.ErrForbidden, "nobody admin:remove_upstream admin-role-required"},
		{"no token", "", adminapi.ActionListAgents, adminapi.ErrUnauthenticated, ""},
		{"bad token", "Bearer x.y.z", adminapi.ActionListAgents, adminapi.ErrUnauthenticated, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			decisions = nil
			r := httptest.NewRequest(http.MethodPost, adminapi.AgentsPath, nil)
			if tt.authz != "" {
				r.Header.Set("Authorization", tt.authz)
			}
			err := authorize(r, tt.action)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if errors.Is(err, auth.ErrForbidden) && errors.Is(err, adminapi.ErrUnauthenticated) {
				t.Errorf("a denial %v would answer 401", err)
			}
			if tt.decision != "" && (len(decisions) != 1 || decisions[0] != tt.decision) {
				t.Errorf("decisions = %q, want %q", decisions, tt.decision)
			}
			if err != nil && tt.wantErr == auth.ErrForbidden && !strings.Contains(err.Error(), strings.Fields(tt.decision)[2]) {
				t.Errorf("denial %q does not name the rule", err)
			}
		})
	}

	// The middleware answers 401 itself, in the admin API's error shape,
	// and the authorizer then uses the principal it found.
	h := s.Admin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := authorize(r, adminapi.ActionRegisterAgent); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		echo().ServeHTTP(w, r)
	}))
	rec := do(h, http.MethodPost, adminapi.AgentsPath, "")
	if rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") != "Bearer" ||
		strings.TrimSpace(rec.Body.String()) != `{"error":"authentication required"}` {
		t.Errorf("no token: %d %q %q", rec.Code, rec.Header().Get("WWW-Authenticate"), rec.Body)
	}
	if rec := do(h, http.MethodPost, adminapi.AgentsPath, admin); rec.Code != http.StatusOK {
		t.Errorf("admin: %d %q", rec.Code, rec.Body)
	}
	if rec := do(h, http.MethodPost, adminapi.AgentsPath, support); rec.Code != http.StatusForbidden {
		t.Errorf("support: %d %q", rec.Code, rec.Body)
	}
}
