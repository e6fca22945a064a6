package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	mcpauth "github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// Paths.
const (
	// MCPPath is where the MCP endpoint is mounted; the MCP resource URL is
	// the public URL and MCPPath.
	MCPPath = "/mcp"
	// ProtectedResourceMetadataPath is the RFC 9728 well-known path. Mount
	// Service.ProtectedResourceMetadata at it and at it + MCPPath (the
	// path-specific form RFC 9728 §3.1 gives for a resource with a path,
	// which WWW-Authenticate names).
	ProtectedResourceMetadataPath = "/.well-known/oauth-protected-resource"
)

// tokenInfoPrincipal keys the Principal in go-sdk TokenInfo.Extra.
const tokenInfoPrincipal = "parley.principal"

// ProtectedResourceMetadata serves the MCP resource's OAuth 2.0 protected
// resource metadata (RFC 9728): the resource (public URL + /mcp), the
// issuer as its authorization server, the required scopes, bearer tokens
// in the header. In no-auth mode it answers 404: there is nothing to
// authorize with.
func (s *Service) ProtectedResourceMetadata() http.Handler {
	if s.verifier == nil {
		return http.NotFoundHandler()
	}
	return mcpauth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
		Resource:               s.resource,
		AuthorizationServers:   []string{s.verifier.Issuer()},
		ScopesSupported:        s.requiredScopes(),
		BearerMethodsSupported: []string{"header"},
		ResourceName:           "Parley MCP gateway",
	})
}

// challenge is one WWW-Authenticate: Bearer challenge.
type challenge struct {
	err      string // invalid_token, insufficient_scope, or none
	scope    []string
	metadata string // resource_metadata URL, for MCP
}

func (c challenge) String() string {
	var params []string
	if c.err != "" {
		params = append(params, fmt.Sprintf("error=%q", c.err))
	}
	if len(c.scope) > 0 {
		params = append(params, fmt.Sprintf("scope=%q", strings.Join(c.scope, " ")))
	}
	if c.metadata != "" {
		params = append(params, fmt.Sprintf("resource_metadata=%q", c.metadata))
	}
	if len(params) == 0 {
		return "Bearer"
	}
	return "Bearer " + strings.Join(params, ", ")
}

// refusal is how one face answers a refused request: status, the
// challenge, and the body writer.
type refusal struct {
	status    int
	challenge challenge
	message   string // safe for the caller
}

// refusalFor builds the answer to an authentication error (RFC 6750: no
// error code when no credentials came; invalid_token otherwise; the
// reason stays in the log).
func refusalFor(err error, metadata string, scopes []string) refusal {
	var te *TokenError
	errors.As(err, &te)
	switch {
	case te != nil && te.Reason == ReasonMissing:
		return refusal{status: http.StatusUnauthorized, challenge: challenge{scope: scopes, metadata: metadata}, message: "authentication required"}
	case errors.Is(err, ErrIssuerUnavailable):
		return refusal{status: http.StatusServiceUnavailable, message: "authorization server unavailable"}
	default:
		return refusal{status: http.StatusUnauthorized, challenge: challenge{err: "invalid_token", metadata: metadata}, message: "invalid token"}
	}
}

func scopeRefusal(required []string, metadata string) refusal {
	return refusal{
		status:    http.StatusForbidden,
		challenge: challenge{err: "insufficient_scope", scope: required, metadata: metadata},
		message:   "insufficient scope",
	}
}

// authenticateHTTP runs authentication and the required-scope check for
// one face; on failure it returns the refusal to write.
func (s *Service) authenticateHTTP(r *http.Request, endpoint, metadata string) (*Principal, *refusal) {
	p, err := s.Authenticate(r)
	if err != nil {
		s.refused(r.Context(), endpoint, err)
		ref := refusalFor(err, metadata, s.requiredScopes())
		return nil, &ref
	}
	if missing := s.missingScopes(p); len(missing) > 0 {
		err := missingScopesError{fmt.Errorf("principal %s lacks required scopes %q", p.Name(), missing)}
		s.refused(r.Context(), endpoint, err)
		ref := scopeRefusal(s.requiredScopes(), metadata)
		return nil, &ref
	}
	return p, nil
}

func writeRefusal(w http.ResponseWriter, ref *refusal, body func(w http.ResponseWriter, status int, msg string)) {
	if ref.status == http.StatusUnauthorized || ref.status == http.StatusForbidden {
		w.Header().Set("WWW-Authenticate", ref.challenge.String())
	}
	if ref.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	body(w, ref.status, ref.message)
}

func plainBody(w http.ResponseWriter, status int, msg string) { http.Error(w, msg, status) }

func jsonErrorBody(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func jsonRPCBody(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"jsonrpc": "2.0",
		"id":      nil,
		"error":   map[string]any{"code": -32600, "message": msg},
	})
}

// withAnonymous is the middleware of every face in no-auth mode.
func withAnonymous(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), anonymousPrincipal())))
	})
}

// MCP wraps the MCP endpoint (/mcp) per the MCP authorization spec: a
// request without a token answers 401 with WWW-Authenticate: Bearer
// resource_metadata="…" (and the required scopes); a bad token 401 with
// error="invalid_token"; a token without the required scopes 403 with
// error="insufficient_scope". An accepted request carries its Principal
// and go-sdk's auth.TokenInfo (UserID = Principal.Name), which binds an MCP
// session to the user that opened it: another user presenting the
// session's ID is refused by the SDK.
func (s *Service) MCP(next http.Handler) http.Handler {
	if s.verifier == nil {
		return withAnonymous(next)
	}
	// go-sdk keeps its TokenInfo under a private key; its own middleware is
	// the way to set it. Authentication has already happened: the verifier
	// handed to it reads the result from the context. Its own checks
	// (an Expiration, not past) never decide anything Verify did not:
	// Verify requires a numeric exp not yet past, on every face alike.
	inner := mcpauth.RequireBearerToken(func(ctx context.Context, _ string, _ *http.Request) (*mcpauth.TokenInfo, error) {
		p, ok := FromContext(ctx)
		if !ok {
			return nil, mcpauth.ErrInvalidToken
		}
		return TokenInfo(p), nil
	}, nil)(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ref := s.authenticateHTTP(r, "mcp", s.metaURL)
		if ref != nil {
			writeRefusal(w, ref, plainBody)
			return
		}
		inner.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

// TokenInfo is go-sdk's view of p: scopes, expiry, UserID = p.Name(), and
// p itself in Extra (see FromTokenInfo).
func TokenInfo(p *Principal) *mcpauth.TokenInfo {
	return &mcpauth.TokenInfo{
		Scopes:     p.Scopes,
		Expiration: p.Expiry,
		UserID:     p.Name(),
		Extra:      map[string]any{tokenInfoPrincipal: p},
	}
}

// FromTokenInfo returns the Principal that Service.MCP put in a go-sdk
// TokenInfo (an MCP handler's req.Extra.TokenInfo).
func FromTokenInfo(ti *mcpauth.TokenInfo) (*Principal, bool) {
	if ti == nil {
		return nil, false
	}
	p, ok := ti.Extra[tokenInfoPrincipal].(*Principal)
	return p, ok && p != nil
}

// A2A wraps the A2A JSON-RPC endpoint (/a2a): a missing or bad token
// answers 401 (WWW-Authenticate: Bearer, a JSON-RPC error body), missing
// required scopes 403. An accepted request carries its Principal, which
// A2APrincipal hands to the a2a server (a2a.Options.Principal). The agent
// card is public: do not wrap its handler.
func (s *Service) A2A(next http.Handler) http.Handler {
	if s.verifier == nil {
		return withAnonymous(next)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ref := s.authenticateHTTP(r, "a2a", "")
		if ref != nil {
			writeRefusal(w, ref, jsonRPCBody)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

// Admin wraps the admin API: a missing or bad token answers 401
// ({"error": …} like the API's other errors), missing required scopes
// 403. Which admin actions the caller may perform is AdminAuthorizer's
// business.
func (s *Service) Admin(next http.Handler) http.Handler {
	if s.verifier == nil {
		return withAnonymous(next)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ref := s.authenticateHTTP(r, "admin", "")
		if ref != nil {
			writeRefusal(w, ref, jsonErrorBody)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

// AdminAuthorizer returns the function for adminapi.Options.Authorize:
// it decides admin:ACTION (AdminPermission of the adminapi action) for the
// caller, authenticating the request itself when Admin did not wrap it.
// An unauthenticated caller gets an error that wraps unauthenticated
// (pass adminapi.ErrUnauthenticated, so that the API answers 401) and
// ErrUnauthenticated; a denial is a *DeniedError (403) naming the rule.
func (s *Service) AdminAuthorizer(unauthenticated error) func(r *http.Request, action string) error {
	if unauthenticated == nil {
		unauthenticated = ErrUnauthenticated
	}
	return func(r *http.Request, action string) error {
		ctx := r.Context()
		if _, ok := FromContext(ctx); !ok {
			p, ref := s.authenticateHTTP(r, "admin", "")
			if ref != nil {
				if ref.status == http.StatusForbidden {
					return fmt.Errorf("%w: %s", ErrForbidden, ref.message)
				}
				return &unauthError{sentinel: unauthenticated, msg: ref.message}
			}
			ctx = WithPrincipal(ctx, p)
		}
		err := s.Authorize(ctx, AdminPermission(action), map[string]any{"admin_action": action})
		if errors.Is(err, ErrUnauthenticated) {
			return &unauthError{sentinel: unauthenticated, msg: "authentication required"}
		}
		return err
	}
}

// unauthError is an authentication failure as the admin API reports it.
type unauthError struct {
	sentinel error
	msg      string
}

func (e *unauthError) Error() string { return e.msg }

func (e *unauthError) Unwrap() []error { return []error{e.sentinel, ErrUnauthenticated} }
