package auth_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/parleyhq/parley/adminapi"
	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
)

func TestCheckNoAuth(t *testing.T) {
	tests := []struct {
		addrs    []string
		insecure bool
		refused  string // the address named, "" if accepted
	}{
		{[]string{"127.0.0.1:8080", "127.0.0.1:8081"}, false, ""},
		{[]string{"[::1]:8080"}, false, ""},
		{[]string{"localhost:8080", ""}, false, ""}, // empty: gRPC off
		{[]string{"127.0.0.2:0"}, false, ""},
		{[]string{":8080"}, false, ":8080"},
		{[]string{"127.0.0.1:8080", "0.0.0.0:8081"}, false, "0.0.0.0:8081"},
		{[]string{"[::]:8080"}, false, "[::]:8080"},
		{[]string{"10.0.0.5:8080"}, false, "10.0.0.5:8080"},
		{[]string{"parley.internal:8080"}, false, "parley.internal:8080"},
		{[]string{"nonsense"}, false, "nonsense"},
		{[]string{":8080", "0.0.0.0:8081"}, true, ""},
	}
	for _, tt := range tests {
		err := auth.CheckNoAuth(tt.addrs, tt.insecure)
		switch {
		case tt.refused == "" && err != nil:
			t.Errorf("CheckNoAuth(%q, %v) = %v, want nil", tt.addrs, tt.insecure, err)
		case tt.refused != "" && (!errors.Is(err, auth.ErrNoAuthNotLoopback) || !strings.Contains(err.Error(), tt.refused) ||
			!strings.Contains(err.Error(), "--insecure-no-auth")):
			t.Errorf("CheckNoAuth(%q, %v) = %v, want a refusal naming %s and --insecure-no-auth", tt.addrs, tt.insecure, err, tt.refused)
		}
	}
	if !strings.Contains(auth.NoAuthWarning, "AUTHENTICATION IS OFF") {
		t.Error("the warning is not loud")
	}
}

func TestNoAuthMode(t *testing.T) {
	ctx := context.Background()
	cfg := config.Default().Auth
	cfg.Policy = []config.PolicyRule{{Name: "ignored", Match: config.PolicyMatch{Role: "x"}, Deny: []string{"*"}}}
	s, err := auth.New(ctx, cfg, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Enabled() || s.Verifier() != nil || s.Resource() != "" {
		t.Errorf("no-auth service: enabled %v", s.Enabled())
	}
	// Every face: the anonymous principal, whatever the request carries.
	for name, face := range map[string]func(http.Handler) http.Handler{"mcp": s.MCP, "a2a": s.A2A, "admin": s.Admin} {
		for _, authz := range []string{"", "Bearer garbage"} {
			rec := do(face(echo()), http.MethodPost, "/", authz)
			if rec.Code != http.StatusOK || rec.Body.String() != "anonymous -" {
				t.Errorf("%s with %q: %d %q", name, authz, rec.Code, rec.Body)
			}
		}
	}
	// Every permission, admin ones included.
	for _, perm := range []string{"tool:save_resolution", "agent:billing:approve", "admin:remove_agent"} {
		if d := s.Decide(ctx, perm, nil); !d.Allowed || d.Rule != auth.RuleNoAuth {
			t.Errorf("%s: %+v", perm, d)
		}
	}
	if !s.ToolFilter(ctx, "escalate") || s.AuthorizeTool(ctx, "escalate") != nil {
		t.Error("no-auth tools")
	}
	r, _ := http.NewRequest(http.MethodDelete, "/api/v1/agents/x", nil)
	if err := s.AdminAuthorizer(adminapi.ErrUnauthenticated)(r, adminapi.ActionRemoveAgent); err != nil {
		t.Errorf("no-auth admin: %v", err)
	}
	if name, ok := s.A2APrincipal(auth.WithPrincipal(ctx, &auth.Principal{Anonymous: true})); !ok || name != "anonymous" {
		t.Errorf("A2APrincipal = %q, %v", name, ok)
	}
	if rec := do(s.ProtectedResourceMetadata(), http.MethodGet, "/", ""); rec.Code != http.StatusNotFound {
		t.Errorf("metadata in no-auth mode: %d", rec.Code)
	}
	if !auth.IsAdmin(auth.WithPrincipal(ctx, &auth.Principal{Anonymous: true, Admin: true})) || auth.IsAdmin(ctx) {
		t.Error("IsAdmin")
	}
}

func TestNewNeedsPublicURL(t *testing.T) {
	iss := newIssuer(t)
	if _, err := auth.New(context.Background(), iss.authConfig(), auth.Options{}); err == nil || !strings.Contains(err.Error(), "PublicURL") {
		t.Errorf("New without PublicURL: %v", err)
	}
	if _, err := auth.New(context.Background(), iss.authConfig(), auth.Options{PublicURL: "parley.example.com"}); err == nil {
		t.Error("New with a relative PublicURL succeeded")
	}
}
