package config_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/parleyhq/parley/config"
)

func TestLoadAuthFromFile(t *testing.T) {
	path := writeFile(t, "parley.yaml", `
auth:
  issuer: https://idp.example.com
  audiences: [parley]
  role_claims: [roles, realm_access.roles]
  required_scopes: [parley.mcp]
  admin_roles: [ops]
  policy:
    - name: admins
      match: {role: parley-admin}
      allow: ["*"]
    - name: support-agents
      match: {cel: '"support" in claims.groups'}
      allow: ["tool:get_ticket", "tool:save_ticket", "agent:billing:message"]
      deny: ["tool:escalate"]
  agents_credentials:
    billing:
      client_credentials:
        token_url: https://idp.example.com/token
        client_id: parley
        client_secret_env: BILLING_SECRET
        scopes: [billing.a2a]
        resource: https://billing.example.com
    escalation:
      bearer_token_file: /run/secrets/escalation
`)
	got, err := config.Load([]string{"--config", path}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := config.Auth{
		Issuer:         "https://idp.example.com",
		Audiences:      []string{"parley"},
		RoleClaims:     []string{"roles", "realm_access.roles"},
		RequiredScopes: []string{"parley.mcp"},
		AdminRoles:     []string{"ops"},
		Policy: []config.PolicyRule{
			{Name: "admins", Match: config.PolicyMatch{Role: "parley-admin"}, Allow: []string{"*"}},
			{Name: "support-agents", Match: config.PolicyMatch{CEL: `"support" in claims.groups`},
				Allow: []string{"tool:get_ticket", "tool:save_ticket", "agent:billing:message"}, Deny: []string{"tool:escalate"}},
		},
		AgentsCredentials: map[string]config.AgentCredentials{
			"billing": {ClientCredentials: &config.ClientCredentials{
				TokenURL: "https://idp.example.com/token", ClientID: "parley", ClientSecretEnv: "BILLING_SECRET",
				Scopes: []string{"billing.a2a"}, Resource: "https://billing.example.com",
			}},
			"escalation": {BearerTokenFile: "/run/secrets/escalation"},
		},
	}
	if !reflect.DeepEqual(got.Auth, want) {
		t.Errorf("Auth =\n  %+v\nwant\n  %+v", got.Auth, want)
	}
	if !got.Auth.Enabled() || config.Default().Auth.Enabled() {
		t.Error("Enabled")
	}
}

func TestLoadAuthFlagsAndEnv(t *testing.T) {
	withAuth := func(mod func(*config.Auth)) config.Config {
		c := config.Default()
		mod(&c.Auth)
		return c
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want config.Config
	}{
		{
			name: "env",
			env:  map[string]string{"PARLEY_OIDC_ISSUER": "https://idp.example.com", "PARLEY_OIDC_AUDIENCE": "parley, https://parley.example.com/mcp,"},
			want: withAuth(func(a *config.Auth) {
				a.Issuer = "https://idp.example.com"
				a.Audiences = []string{"parley", "https://parley.example.com/mcp"}
			}),
		},
		{
			name: "flags override env",
			args: []string{"--oidc-issuer", "http://127.0.0.1:9999", "--oidc-audience=a,b"},
			env:  map[string]string{"PARLEY_OIDC_ISSUER": "https://idp.example.com", "PARLEY_OIDC_AUDIENCE": "parley"},
			want: withAuth(func(a *config.Auth) { a.Issuer = "http://127.0.0.1:9999"; a.Audiences = []string{"a", "b"} }),
		},
		{
			name: "insecure no-auth, bare flag",
			args: []string{"--insecure-no-auth", "--listen", ":8080"},
			want: func() config.Config {
				c := withAuth(func(a *config.Auth) { a.InsecureNoAuth = true })
				c.Listen = ":8080"
				return c
			}(),
		},
		{
			name: "insecure no-auth from env",
			env:  map[string]string{"PARLEY_INSECURE_NO_AUTH": "true"},
			want: withAuth(func(a *config.Auth) { a.InsecureNoAuth = true }),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := config.Load(tt.args, env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Load =\n  %+v\nwant\n  %+v", got, tt.want)
			}
		})
	}
}

func TestLoadAuthInvalid(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		file      string
		wantField string
		wantLine  int
		wantMsg   []string
	}{
		{
			name:      "issuer over plain http",
			env:       map[string]string{"PARLEY_OIDC_ISSUER": "http://idp.example.com", "PARLEY_OIDC_AUDIENCE": "parley"},
			wantField: "auth.issuer",
			wantMsg:   []string{"(from PARLEY_OIDC_ISSUER)", "https://"},
		},
		{
			name:      "issuer with a query",
			args:      []string{"--oidc-issuer", "https://idp.example.com/?x=1", "--oidc-audience", "parley"},
			wantField: "auth.issuer",
			wantMsg:   []string{"(from --oidc-issuer)"},
		},
		{
			name:      "issuer without audience",
			args:      []string{"--oidc-issuer", "https://idp.example.com"},
			wantField: "auth.audiences",
			wantMsg:   []string{"at least one", "--oidc-audience"},
		},
		{
			name:      "issuer and insecure no-auth",
			args:      []string{"--oidc-issuer", "https://idp.example.com", "--oidc-audience", "parley", "--insecure-no-auth"},
			wantField: "auth.insecure_no_auth",
			wantMsg:   []string{"(from --insecure-no-auth)"},
		},
		{
			name:      "insecure no-auth not a bool",
			env:       map[string]string{"PARLEY_INSECURE_NO_AUTH": "maybe"},
			wantField: "auth.insecure_no_auth",
			wantMsg:   []string{"true or false"},
		},
		{
			name:      "role claim with an empty segment",
			file:      "auth:\n  role_claims: [roles, realm_access..roles]\n",
			wantField: "auth.role_claims[1]",
		},
		{
			name:      "required scope with a space",
			file:      "auth:\n  required_scopes: [\"a b\"]\n",
			wantField: "auth.required_scopes[0]",
		},
		{
			name:      "policy rule without a name",
			file:      "auth:\n  policy:\n    - match: {role: x}\n      allow: [\"*\"]\n    - name: \"\"\n      match: {role: x}\n      allow: [\"*\"]\n",
			wantField: "auth.policy[0].name",
			wantMsg:   []string{"needs a name"},
		},
		{
			name:      "policy rule names repeat",
			file:      "auth:\n  policy:\n    - name: a\n      match: {role: x}\n      allow: [\"*\"]\n    - name: a\n      match: {role: y}\n      allow: [\"*\"]\n",
			wantField: "auth.policy[1].name",
			wantLine:  6,
			wantMsg:   []string{"unique", "auth.policy[0]"},
		},
		{
			name:      "policy rule matching nothing",
			file:      "auth:\n  policy:\n    - name: a\n      match: {}\n      allow: [\"*\"]\n",
			wantField: "auth.policy[0].match",
			wantLine:  4,
			wantMsg:   []string{"cel: 'true'"},
		},
		{
			name:      "policy rule allowing nothing",
			file:      "auth:\n  policy:\n    - name: a\n      match: {role: x}\n",
			wantField: "auth.policy[0].allow",
		},
		{
			name:    "unknown key in a rule's match",
			file:    "auth:\n  policy:\n    - name: a\n      match: {roles: x}\n      allow: [\"*\"]\n",
			wantMsg: []string{`unknown key "auth.policy[0].match.roles"`, "cel, client, role, scope, subject"},
		},
		{
			name:      "agent credentials of two kinds",
			file:      "auth:\n  agents_credentials:\n    billing:\n      bearer_token_env: X\n      bearer_token_file: /x\n",
			wantField: "auth.agents_credentials.billing",
			wantLine:  3,
			wantMsg:   []string{"exactly one"},
		},
		{
			name:      "client credentials without a secret",
			file:      "auth:\n  agents_credentials:\n    billing:\n      client_credentials: {token_url: https://idp/token, client_id: parley}\n",
			wantField: "auth.agents_credentials.billing.client_credentials.client_secret_env",
			wantMsg:   []string{"client_secret_file"},
		},
		{
			name:      "client credentials with a bad token URL",
			file:      "auth:\n  agents_credentials:\n    billing:\n      client_credentials: {token_url: idp/token, client_id: parley, client_secret_env: S}\n",
			wantField: "auth.agents_credentials.billing.client_credentials.token_url",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append([]string{"--config", writeFile(t, "parley.yaml", tt.file)}, args...)
			}
			_, err := config.Load(args, env(tt.env))
			if err == nil {
				t.Fatal("Load succeeded")
			}
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T) is not a *config.Error", err, err)
			}
			if ce.Field != tt.wantField {
				t.Errorf("Field = %q, want %q (%v)", ce.Field, tt.wantField, err)
			}
			if tt.wantLine != 0 && ce.Source.Line != tt.wantLine {
				t.Errorf("Line = %d, want %d (%v)", ce.Source.Line, tt.wantLine, err)
			}
			for _, sub := range tt.wantMsg {
				if !strings.Contains(err.Error(), sub) {
					t.Errorf("error %q does not contain %q", err, sub)
				}
			}
		})
	}
}

func TestUsageAuth(t *testing.T) {
	var buf bytes.Buffer
	config.Usage(&buf)
	for _, want := range []string{
		"-oidc-issuer", "PARLEY_OIDC_ISSUER",
		"-oidc-audience", "PARLEY_OIDC_AUDIENCE", "comma-separated",
		"-insecure-no-auth", "PARLEY_INSECURE_NO_AUTH",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("usage lacks %q", want)
		}
	}
	if strings.Contains(buf.String(), "(default [])") {
		t.Errorf("usage prints an empty list default:\n%s", buf.String())
	}
}
