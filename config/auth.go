package config

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"sort"
	"strings"
)

// Auth configures who may call the gateway and what they may do:
// verification of OIDC bearer tokens on every endpoint (MCP, A2A, the admin
// API), the permission policy, and the credentials the gateway presents to
// registered agents. Package auth implements it.
//
// Authentication is on whenever Issuer is set. With no issuer the gateway
// runs in no-auth mode: every caller is an anonymous principal with every
// permission, which is refused on a non-loopback listen address unless
// InsecureNoAuth is set.
type Auth struct {
	// Issuer is the OIDC issuer URL (https://idp.example.com/realms/x),
	// whose discovery document and keys verify the tokens. Empty: no-auth
	// mode.
	Issuer string `yaml:"issuer"`
	// Audiences are the token audiences (aud) the gateway accepts: a token
	// must name at least one. Required with Issuer. MCP clients ask for the
	// MCP resource URL (public_url + /mcp) as audience (RFC 8707), so list
	// it here when they call the gateway.
	Audiences []string `yaml:"audiences"`
	// RoleClaims name the claims that carry a caller's roles or groups, as
	// dotted paths into the token's claims ("roles", "groups",
	// "realm_access.roles", "resource_access.parley.roles"). A claim may be
	// a list of strings or one string.
	RoleClaims []string `yaml:"role_claims"`
	// RequiredScopes must all be granted to a token (its scope or scp
	// claim) for any call: without them MCP answers 403 insufficient_scope.
	RequiredScopes []string `yaml:"required_scopes"`
	// AdminRoles are the roles that make a caller an administrator: it may
	// perform every admin action (registering, approving, replacing,
	// refetching and removing agents need one of them whatever the policy
	// says) and see every A2A task.
	AdminRoles []string `yaml:"admin_roles"`
	// InsecureNoAuth lets no-auth mode (no Issuer) listen on non-loopback
	// addresses. Only for trying Parley out on a trusted network.
	InsecureNoAuth bool `yaml:"insecure_no_auth"`
	// Policy maps principals to permissions, first matching rule first.
	// With authentication on, whatever no rule allows is denied.
	Policy []PolicyRule `yaml:"policy"`
	// AgentsCredentials are the credentials the gateway presents to each
	// registered agent (by agent name) when it calls it. An agent without
	// an entry is called without credentials; a caller's own token is never
	// passed on.
	AgentsCredentials map[string]AgentCredentials `yaml:"agents_credentials"`
}

// PolicyRule is one rule of the permission policy: principals that Match
// are allowed the permissions in Allow and refused those in Deny.
//
// Permissions: "tool:NAME" (an MCP tool, an upstream's by the name Parley
// serves it under: github_create_issue), "prompt:NAME" (an upstream's MCP
// prompt), "resource:UPSTREAM" (listing, reading, subscribing to and
// completing the resources of the upstream registered as UPSTREAM; Parley's
// own resources need no permission), "agent:NAME:message", "agent:NAME:negotiate",
// "agent:NAME:approve" (A2A agents), "admin:ACTION" (admin API:
// list_agents, get_agent, register_agent, replace_agent, refetch_agent,
// approve_agent, remove_agent, list_audit, list_upstreams, get_upstream,
// register_upstream, remove_upstream, approve_upstream, list_tickets,
// get_ticket, list_negotiations, get_negotiation, decide_negotiation,
// verify_audit, watch_changes). A segment "*"
// matches any value ("tool:*", "agent:*:negotiate"); a lone "*" matches
// everything.
//
// "upstream:NAME" grants (or, in Deny, refuses) every tool, prompt and
// resource the upstream NAME serves ("upstream:*": every upstream's), and
// nothing else. It is one more pattern in the usual order: the first rule
// whose patterns cover the tool (by tool:, prompt:, resource: or upstream:) and whose match holds
// decides, and within a rule Deny wins. So allow [upstream:github] with
// deny [tool:github_delete_repo] grants all of github but that tool, and
// an earlier rule allowing one tool lets it through a later rule's deny of
// its whole upstream. CEL sees the upstream as request.upstream, and a
// resource's URI as request.uri.
type PolicyRule struct {
	// Name identifies the rule in decisions, logs and the audit log.
	Name  string      `yaml:"name"`
	Match PolicyMatch `yaml:"match"`
	Allow []string    `yaml:"allow"`
	Deny  []string    `yaml:"deny"`
}

// PolicyMatch says which principals a rule applies to. Every field set must
// hold; at least one must be set.
type PolicyMatch struct {
	// Subject is the token's sub.
	Subject string `yaml:"subject"`
	// Client is the OAuth client the token was issued to (azp or client_id).
	Client string `yaml:"client"`
	// Scope must be among the token's scopes.
	Scope string `yaml:"scope"`
	// Role must be among the roles read from RoleClaims.
	Role string `yaml:"role"`
	// CEL is a boolean CEL expression over claims (the token's claims),
	// principal (sub, client, iss, scopes, roles) and request (permission,
	// kind, tool, prompt, upstream, agent, action, arguments when known), e.g.
	// `request.tool == "get_ticket" && "support" in claims.groups`.
	CEL string `yaml:"cel"`
}

// AgentCredentials are the credentials presented to one agent: exactly
// one of ClientCredentials, BearerTokenFile and BearerTokenEnv.
type AgentCredentials struct {
	// ClientCredentials fetches (and renews) a token with the OAuth 2
	// client credentials grant.
	ClientCredentials *ClientCredentials `yaml:"client_credentials"`
	// BearerTokenFile is a file holding a bearer token; it is read again
	// when it changes (rotated tokens).
	BearerTokenFile string `yaml:"bearer_token_file"`
	// BearerTokenEnv is an environment variable holding a bearer token.
	BearerTokenEnv string `yaml:"bearer_token_env"`
}

// ClientCredentials configures the OAuth 2 client credentials grant.
// Secrets are never written in the config file: the secret is read from
// an environment variable or a file.
type ClientCredentials struct {
	TokenURL         string   `yaml:"token_url"`
	ClientID         string   `yaml:"client_id"`
	ClientSecretEnv  string   `yaml:"client_secret_env"`
	ClientSecretFile string   `yaml:"client_secret_file"`
	Scopes           []string `yaml:"scopes"`
	// Audience and Resource are sent as the token request's audience and
	// resource (RFC 8707) parameters when set, for issuers that need them
	// to mint a token for the agent.
	Audience string `yaml:"audience"`
	Resource string `yaml:"resource"`
}

// Auth defaults.
var (
	DefaultRoleClaims = []string{"roles", "groups"}
	DefaultAdminRoles = []string{"parley-admin"}
)

// Enabled reports whether authentication is on (an issuer is set).
func (a Auth) Enabled() bool { return a.Issuer != "" }

// check adds one error per invalid auth setting.
func (a Auth) check(bad func(field, value, reason string)) {
	if a.Issuer != "" && !validIssuer(a.Issuer) {
		bad("auth.issuer", a.Issuer, "must be an absolute https:// URL without query, fragment or user info (http:// only on a loopback host), e.g. https://idp.example.com/realms/parley")
	}
	if a.Issuer != "" && len(a.Audiences) == 0 {
		bad("auth.audiences", "", "must name at least one accepted token audience when auth.issuer is set, e.g. --oidc-audience parley")
	}
	for i, aud := range a.Audiences {
		if strings.TrimSpace(aud) == "" {
			bad(fmt.Sprintf("auth.audiences[%d]", i), aud, "must not be empty")
		}
	}
	if a.Issuer != "" && a.InsecureNoAuth {
		bad("auth.insecure_no_auth", "true", "must not be set together with auth.issuer: it only allows no-auth mode on non-loopback addresses")
	}
	for i, c := range a.RoleClaims {
		if c == "" || slices.Contains(strings.Split(c, "."), "") {
			bad(fmt.Sprintf("auth.role_claims[%d]", i), c, `must be a claim name or a dotted path such as realm_access.roles`)
		}
	}
	for i, s := range a.RequiredScopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n\"\\") {
			bad(fmt.Sprintf("auth.required_scopes[%d]", i), s, "must be one scope: not empty, no spaces, quotes or backslashes")
		}
	}
	for i, r := range a.AdminRoles {
		if r == "" {
			bad(fmt.Sprintf("auth.admin_roles[%d]", i), r, "must not be empty")
		}
	}

	seen := make(map[string]int)
	for i, r := range a.Policy {
		p := fmt.Sprintf("auth.policy[%d]", i)
		switch {
		case strings.TrimSpace(r.Name) == "":
			bad(p+".name", r.Name, "every policy rule needs a name: decisions and the audit log name the rule")
		default:
			if j, dup := seen[r.Name]; dup {
				bad(p+".name", r.Name, fmt.Sprintf("must be unique: auth.policy[%d] has the same name", j))
			} else {
				seen[r.Name] = i
			}
		}
		m := r.Match
		if m.Subject == "" && m.Client == "" && m.Scope == "" && m.Role == "" && strings.TrimSpace(m.CEL) == "" {
			bad(p+".match", "", "must set at least one of subject, client, scope, role, cel (cel: 'true' matches every caller)")
		}
		if len(r.Allow) == 0 && len(r.Deny) == 0 {
			bad(p+".allow", "", "the rule must allow or deny at least one permission")
		}
		for j, perm := range r.Allow {
			if strings.TrimSpace(perm) == "" {
				bad(fmt.Sprintf("%s.allow[%d]", p, j), perm, "must not be empty")
			}
		}
		for j, perm := range r.Deny {
			if strings.TrimSpace(perm) == "" {
				bad(fmt.Sprintf("%s.deny[%d]", p, j), perm, "must not be empty")
			}
		}
	}

	names := make([]string, 0, len(a.AgentsCredentials))
	for name := range a.AgentsCredentials {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		c := a.AgentsCredentials[name]
		p := "auth.agents_credentials." + name
		if strings.TrimSpace(name) == "" {
			bad("auth.agents_credentials", name, "agent names must not be empty")
			continue
		}
		n := 0
		if c.ClientCredentials != nil {
			n++
		}
		if c.BearerTokenFile != "" {
			n++
		}
		if c.BearerTokenEnv != "" {
			n++
		}
		if n != 1 {
			bad(p, "", "must set exactly one of client_credentials, bearer_token_file, bearer_token_env")
			continue
		}
		if cc := c.ClientCredentials; cc != nil {
			if u, err := url.Parse(cc.TokenURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				bad(p+".client_credentials.token_url", cc.TokenURL, "must be the issuer's absolute http(s) token endpoint URL")
			}
			if cc.ClientID == "" {
				bad(p+".client_credentials.client_id", "", "must be set")
			}
			if (cc.ClientSecretEnv == "") == (cc.ClientSecretFile == "") {
				bad(p+".client_credentials.client_secret_env", cc.ClientSecretEnv, "set exactly one of client_secret_env and client_secret_file (secrets are not written in the config file)")
			}
		}
	}
}

// validIssuer accepts https URLs, and http URLs on a loopback host (local
// identity providers for trying things out and for tests).
func validIssuer(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		h := u.Hostname()
		if h == "localhost" {
			return true
		}
		ip := net.ParseIP(h)
		return ip != nil && ip.IsLoopback()
	}
	return false
}
