package auth

import (
	"context"
	"slices"
	"strings"
	"time"
)

// AnonymousName is the name of the principal of no-auth mode.
const AnonymousName = "anonymous"

// Principal is the caller of a request: who the token says it is and what
// it was granted. Handlers read it with FromContext. A Principal is not
// modified once in a context; treat it as read-only.
type Principal struct {
	// Subject is the token's sub.
	Subject string
	// ClientID is the OAuth client the token was issued to: azp, else
	// client_id.
	ClientID string
	// Issuer is the token's iss.
	Issuer string
	// Audiences is the token's aud.
	Audiences []string
	// Scopes are the granted scopes: the space-separated scope claim, else
	// scp (a list or a space-separated string).
	Scopes []string
	// Roles are read from the configured role claims (roles, groups,
	// realm_access.roles, …), deduplicated, in claim order.
	Roles []string
	// Claims are the token's claims as decoded JSON (numbers are float64).
	// Nil for the anonymous principal.
	Claims map[string]any
	// Expiry is when the token expires; zero for the anonymous principal.
	Expiry time.Time
	// Admin: the principal holds one of the configured admin roles (or is
	// the anonymous principal of no-auth mode).
	Admin bool
	// Anonymous marks the principal of no-auth mode, which may do anything.
	Anonymous bool
}

// Name identifies the principal in logs, the audit log, A2A task ownership
// and MCP session binding: the subject, else the client ID, else
// "anonymous".
func (p *Principal) Name() string {
	switch {
	case p == nil:
		return ""
	case p.Subject != "":
		return p.Subject
	case p.ClientID != "":
		return p.ClientID
	case p.Anonymous:
		return AnonymousName
	}
	return ""
}

// HasScope reports whether the token granted scope s.
func (p *Principal) HasScope(s string) bool { return p != nil && slices.Contains(p.Scopes, s) }

// HasRole reports whether the principal holds role r.
func (p *Principal) HasRole(r string) bool { return p != nil && slices.Contains(p.Roles, r) }

// anonymousPrincipal is the caller in no-auth mode.
func anonymousPrincipal() *Principal {
	return &Principal{Anonymous: true, Admin: true}
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal in ctx, put there by one of the
// Service's middlewares or interceptors (or WithPrincipal).
func FromContext(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	return p, ok && p != nil
}

// IsAdmin reports whether the caller in ctx holds an admin role (always
// true in no-auth mode): it may, for one, see every caller's A2A tasks.
func IsAdmin(ctx context.Context) bool {
	p, ok := FromContext(ctx)
	return ok && p.Admin
}

// claimsMapping turns verified claims into a Principal.
type claimsMapping struct {
	roleClaims [][]string // dotted paths, split
	adminRoles []string
}

func newClaimsMapping(roleClaims, adminRoles []string) claimsMapping {
	m := claimsMapping{adminRoles: slices.Clone(adminRoles)}
	for _, c := range roleClaims {
		if c = strings.TrimSpace(c); c != "" {
			m.roleClaims = append(m.roleClaims, strings.Split(c, "."))
		}
	}
	return m
}

// principal maps claims to a Principal. It never fails: claims of an
// unexpected type are ignored (and so grant nothing).
func (m claimsMapping) principal(claims map[string]any) *Principal {
	p := &Principal{
		Subject:   stringClaim(claims, "sub"),
		Issuer:    stringClaim(claims, "iss"),
		Audiences: stringsClaim(claims["aud"], false),
		Claims:    claims,
	}
	p.ClientID = stringClaim(claims, "azp")
	if p.ClientID == "" {
		p.ClientID = stringClaim(claims, "client_id")
	}
	if s, ok := claims["scope"].(string); ok {
		p.Scopes = strings.Fields(s)
	} else {
		p.Scopes = stringsClaim(claims["scp"], true)
	}
	for _, path := range m.roleClaims {
		for _, r := range stringsClaim(lookup(claims, path), false) {
			if r != "" && !slices.Contains(p.Roles, r) {
				p.Roles = append(p.Roles, r)
			}
		}
	}
	if exp, ok := numericDate(claims["exp"]); ok {
		p.Expiry = exp
	}
	for _, r := range m.adminRoles {
		if slices.Contains(p.Roles, r) {
			p.Admin = true
			break
		}
	}
	return p
}

// lookup follows a dotted path through nested JSON objects. A key holding
// a dot itself ("https://example.com/roles") is also found whole.
func lookup(claims map[string]any, path []string) any {
	if v, ok := claims[strings.Join(path, ".")]; ok {
		return v
	}
	var cur any = claims
	for _, seg := range path {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		if cur, ok = obj[seg]; !ok {
			return nil
		}
	}
	return cur
}

func stringClaim(claims map[string]any, name string) string {
	s, _ := claims[name].(string)
	return s
}

// stringsClaim reads a claim that is a list of strings or one string
// (split on spaces when fields is set). Non-string items are skipped.
func stringsClaim(v any, fields bool) []string {
	switch v := v.(type) {
	case string:
		if fields {
			return strings.Fields(v)
		}
		if v == "" {
			return nil
		}
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, item := range v {
			if s, ok := item.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
