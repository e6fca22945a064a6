// Package auth is who may call the gateway and what they may do.
//
// Authentication: bearer JWT access tokens from one OIDC issuer, verified
// by a Verifier (go-oidc: discovery, cached keys picked up again on
// rotation, signature, issuer, audience, expiry, not-before). The verified
// token becomes a Principal in the request context (FromContext).
//
// A Service puts that in front of every endpoint: Service.MCP (the MCP
// authorization spec: protected-resource metadata, WWW-Authenticate, 403
// insufficient_scope, a session bound to its user), Service.A2A and
// Service.GRPCServerOptions (A2A JSON-RPC and gRPC), Service.Admin and
// Service.AdminAuthorizer (the admin API).
//
// Authorization: a Policy compiled from the configuration maps principals
// (by subject, client, scope, role or a CEL expression) to permissions:
// "tool:NAME", "prompt:NAME", "resource:UPSTREAM" (the resources of an
// upstream MCP server Parley fronts), "agent:NAME:ACTION", "admin:ACTION";
// a rule's "upstream:NAME" grants or denies every tool, prompt and
// resource of that upstream at once. With authentication on the default is
// deny. Every Decision names the rule that decided it.
//
// No-auth mode (no issuer configured) makes every caller the anonymous
// principal with every permission; CheckNoAuth refuses it on non-loopback
// addresses unless explicitly allowed.
//
// Outbound: calls the gateway makes to registered agents carry the
// gateway's own credentials, configured per agent (Outbound), never the
// caller's token.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/observe"
)

// Errors for callers of Authorize and the admin seam.
var (
	// ErrUnauthenticated: there is no authenticated caller.
	ErrUnauthenticated = errors.New("authentication required")
	// ErrForbidden: the caller is authenticated but not allowed.
	ErrForbidden = errors.New("not allowed")
)

// DeniedError is a policy denial. Its text names the permission and the
// rule, which callers may be shown.
type DeniedError struct {
	Permission string
	Decision   Decision
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("%s: %s (rule %s)", ErrForbidden, e.Permission, e.Decision.Rule)
}

func (e *DeniedError) Unwrap() error { return ErrForbidden }

// Options configure a Service beyond the configuration file.
type Options struct {
	// PublicURL is the base URL clients reach the gateway at (config's
	// PublicBaseURL): the MCP resource is PublicURL + "/mcp" and its
	// metadata is published under it. Required when auth is on.
	PublicURL string
	// Logger receives one line per refused token (with its reason) and per
	// denial. Default: discard.
	Logger *slog.Logger
	// HTTPClient fetches the issuer's discovery document and keys.
	HTTPClient *http.Client
	// OnDecision, if set, hears every decision made through Authorize,
	// AuthorizeTool and AuthorizeAdmin (not ToolFilter, which only hides
	// tools): the audit log's hook. It runs synchronously.
	OnDecision func(ctx context.Context, p *Principal, permission string, d Decision)
	// OnRefused, if set, hears every refused request (missing or bad token,
	// missing scope) with its endpoint ("mcp", "a2a", "grpc", "admin"): the
	// audit log's hook. It runs synchronously.
	OnRefused func(ctx context.Context, endpoint string, err error)
	// MinKeyRefresh, TokenCacheSize, TokenCacheTTL: see VerifierConfig
	// (MinKeyRefresh, CacheSize, CacheTTL).
	MinKeyRefresh  time.Duration
	TokenCacheSize int
	TokenCacheTTL  time.Duration
	// CELCostLimit: see PolicyOptions.
	CELCostLimit uint64
	// Now reads the clock (token expiry). Default time.Now.
	Now func() time.Time
	// Metrics receives the refusal and denial counters (metrics.go).
	// Nil: they are kept on a private registry nobody reads.
	Metrics *observe.Metrics
}

// Service authenticates and authorizes requests on every endpoint. Build
// one per process with New; it is safe for concurrent use.
type Service struct {
	cfg      config.Auth
	opts     Options
	log      *slog.Logger
	verifier *Verifier // nil in no-auth mode
	policy   *Policy
	resource string // the MCP resource URL
	metaURL  string // its protected-resource metadata URL
	metrics  *authMetrics
}

// New builds the Service from the auth configuration. With an issuer it
// discovers the issuer and fetches its keys (an unreachable issuer is an
// error naming it and the cause) and compiles the policy (an invalid rule
// is an error naming the rule). Without one, the Service is in no-auth
// mode: check CheckNoAuth first, and log NoAuthWarning.
func New(ctx context.Context, cfg config.Auth, opts Options) (*Service, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: cfg, opts: opts, log: opts.Logger, metrics: newAuthMetrics(opts.Metrics)}
	// The policy is compiled in no-auth mode too (where it is not
	// consulted), so that a bad rule is found before auth is turned on.
	policy, err := NewPolicy(cfg.Policy, PolicyOptions{CELCostLimit: opts.CELCostLimit})
	if err != nil {
		return nil, err
	}
	s.policy = policy
	if !cfg.Enabled() {
		return s, nil
	}
	if opts.PublicURL == "" {
		return nil, errors.New("auth: Options.PublicURL is required when an OIDC issuer is set")
	}
	base, err := url.Parse(strings.TrimSuffix(opts.PublicURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("auth: Options.PublicURL %q must be an absolute http(s) URL", opts.PublicURL)
	}
	s.resource = base.String() + MCPPath
	s.metaURL = base.String() + ProtectedResourceMetadataPath + MCPPath

	v, err := NewVerifier(ctx, VerifierConfig{
		Issuer:        cfg.Issuer,
		Audiences:     cfg.Audiences,
		RoleClaims:    cfg.RoleClaims,
		AdminRoles:    cfg.AdminRoles,
		HTTPClient:    opts.HTTPClient,
		MinKeyRefresh: opts.MinKeyRefresh,
		CacheSize:     opts.TokenCacheSize,
		CacheTTL:      opts.TokenCacheTTL,
		Now:           opts.Now,
	})
	if err != nil {
		return nil, err
	}
	s.verifier = v
	return s, nil
}

// Enabled reports whether authentication is on.
func (s *Service) Enabled() bool { return s.verifier != nil }

// Verifier is the token verifier, nil in no-auth mode.
func (s *Service) Verifier() *Verifier { return s.verifier }

// Policy is the compiled policy (not consulted in no-auth mode).
func (s *Service) Policy() *Policy { return s.policy }

// Resource is the MCP resource URL (PublicURL + /mcp); empty in no-auth
// mode.
func (s *Service) Resource() string { return s.resource }

// ResourceMetadataURL is the URL of the MCP resource's protected-resource
// metadata, as named in WWW-Authenticate; empty in no-auth mode.
func (s *Service) ResourceMetadataURL() string { return s.metaURL }

// Authenticate verifies the bearer token of r and returns its principal
// (the anonymous principal in no-auth mode). Errors are *TokenError. It
// does not check required scopes (see Middleware faces).
func (s *Service) Authenticate(r *http.Request) (*Principal, error) {
	return s.authenticateHeader(r.Context(), r.Header.Get("Authorization"))
}

func (s *Service) authenticateHeader(ctx context.Context, header string) (*Principal, error) {
	if s.verifier == nil {
		return anonymousPrincipal(), nil
	}
	token, err := bearerToken(header)
	if err != nil {
		return nil, err
	}
	return s.verifier.Verify(ctx, token)
}

// bearerToken extracts the token of an "Authorization: Bearer TOKEN"
// header value, the way go-sdk's auth middleware does (two fields, the
// scheme case-insensitive).
func bearerToken(header string) (string, error) {
	if header == "" {
		return "", &TokenError{Reason: ReasonMissing}
	}
	// The usual header, "Bearer " and a token of visible ASCII, without
	// splitting it: what strings.Fields would make of it.
	if len(header) > 7 && header[6] == ' ' && strings.EqualFold(header[:6], "bearer") && visibleASCII(header[7:]) {
		return header[7:], nil
	}
	fields := strings.Fields(header)
	if len(fields) == 0 || !strings.EqualFold(fields[0], "bearer") {
		// Another scheme (Basic, …) counts as no credentials (RFC 6750
		// §3.1: the challenge then carries no error code).
		return "", &TokenError{Reason: ReasonMissing, Detail: "the Authorization header is not a Bearer credential"}
	}
	if len(fields) != 2 {
		return "", &TokenError{Reason: ReasonMalformed, Detail: `the Authorization header is not "Bearer TOKEN"`}
	}
	return fields[1], nil
}

// visibleASCII reports whether s is all printable ASCII, without spaces.
func visibleASCII(s string) bool {
	for i := range len(s) {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// missingScopes lists the required scopes p lacks.
func (s *Service) missingScopes(p *Principal) []string {
	if p.Anonymous {
		return nil
	}
	var missing []string
	for _, sc := range s.cfg.RequiredScopes {
		if !p.HasScope(sc) {
			missing = append(missing, sc)
		}
	}
	return missing
}

// Decide asks the policy about the caller in ctx, without reporting the
// decision to OnDecision. No caller: denied (rule unauthenticated).
func (s *Service) Decide(ctx context.Context, permission string, request map[string]any) Decision {
	p, _ := FromContext(ctx)
	if p == nil && s.verifier == nil {
		p = anonymousPrincipal()
	}
	return s.policy.Decide(ctx, p, permission, request)
}

// Authorize decides whether the caller in ctx has permission (see
// Policy.Decide for request), reports the decision to OnDecision, logs a
// denial, and returns nil, an error wrapping ErrUnauthenticated (no
// caller), or a *DeniedError (wrapping ErrForbidden) naming the rule.
func (s *Service) Authorize(ctx context.Context, permission string, request map[string]any) error {
	p, _ := FromContext(ctx)
	if p == nil && s.verifier == nil {
		p = anonymousPrincipal()
	}
	d := s.policy.Decide(ctx, p, permission, request)
	if s.opts.OnDecision != nil {
		s.opts.OnDecision(ctx, p, permission, d)
	}
	if d.Allowed {
		return nil
	}
	s.metrics.denied(permission, d.Rule)
	s.log.InfoContext(ctx, "permission denied", "principal", p.Name(), "permission", permission, "rule", d.Rule, "reason", d.Reason)
	if p == nil {
		return fmt.Errorf("%w: %s", ErrUnauthenticated, permission)
	}
	return &DeniedError{Permission: permission, Decision: d}
}

// AuthorizeAgent checks the caller in ctx may perform action (AgentMessage,
// AgentNegotiate, AgentApprove) on the named agent.
func (s *Service) AuthorizeAgent(ctx context.Context, agent, action string) error {
	return s.Authorize(ctx, AgentPermission(agent, action), nil)
}

// A2APrincipal names the caller in ctx for a2a.Options.Principal (the
// a2a-go call context's user): the principal's Name, and whether there is
// one. In no-auth mode it is "anonymous".
func (s *Service) A2APrincipal(ctx context.Context) (string, bool) {
	p, ok := FromContext(ctx)
	if !ok {
		return "", false
	}
	return p.Name(), p.Name() != ""
}

func (s *Service) refused(ctx context.Context, endpoint string, err error) {
	s.metrics.refused(endpoint, err)
	var te *TokenError
	if errors.As(err, &te) {
		s.log.InfoContext(ctx, "request refused", "endpoint", endpoint, "reason", string(te.Reason), "err", err)
	} else {
		s.log.InfoContext(ctx, "request refused", "endpoint", endpoint, "err", err)
	}
	if s.opts.OnRefused != nil {
		s.opts.OnRefused(ctx, endpoint, err)
	}
}

// NoAuthWarning is what the gateway logs (at warn level, at start-up) when
// it runs without authentication.
const NoAuthWarning = "AUTHENTICATION IS OFF: no OIDC issuer is configured (--oidc-issuer / PARLEY_OIDC_ISSUER), so every caller of MCP, A2A and the admin API is an anonymous principal with every permission, including registering agents and approving refunds. Use this only to try Parley out."

// NoAuthInsecureWarning is logged in addition to NoAuthWarning when
// no-auth mode listens on a non-loopback address (--insecure-no-auth).
const NoAuthInsecureWarning = "AUTHENTICATION IS OFF ON A NON-LOOPBACK ADDRESS (--insecure-no-auth): anyone who can reach the gateway may do anything."

// ErrNoAuthNotLoopback is returned (wrapped) by CheckNoAuth.
var ErrNoAuthNotLoopback = errors.New("no-auth mode is refused on a non-loopback listen address")

// CheckNoAuth refuses no-auth mode on any listen address that is not
// loopback (an empty host, 0.0.0.0 and [::] listen on every interface;
// host names other than localhost are not resolved and count as
// non-loopback) unless insecure (--insecure-no-auth) is set. Empty
// addresses (a listener turned off) are skipped. Call it only when auth is
// off.
func CheckNoAuth(listenAddrs []string, insecure bool) error {
	if insecure {
		return nil
	}
	for _, addr := range listenAddrs {
		if addr == "" {
			continue
		}
		if !loopbackListen(addr) {
			return fmt.Errorf("auth: %w: %s; configure an OIDC issuer (--oidc-issuer), listen on 127.0.0.1, or pass --insecure-no-auth to accept that anyone who can connect may do anything",
				ErrNoAuthNotLoopback, addr)
		}
	}
	return nil
}

// IsLoopbackListen reports whether a listen address (host:port) binds only
// loopback interfaces.
func IsLoopbackListen(addr string) bool { return loopbackListen(addr) }

func loopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// requiredScopes are the configured required scopes.
func (s *Service) requiredScopes() []string { return slices.Clone(s.cfg.RequiredScopes) }
