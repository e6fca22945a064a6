package a2a

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	a2ago "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2aclient/agentcard"
	"github.com/a2aproject/a2a-go/v2/a2acompat/a2av0"
	"github.com/a2aproject/a2a-go/v2/a2asrv"
	"github.com/google/go-cmp/cmp"

	"github.com/parleyhq/parley/mcpbridge"
)

// TestAgentCard: the card served at the well-known path lists all six
// interfaces in A2A 1.0's supportedInterfaces and carries A2A 0.3's
// fields for 0.3 clients.
func TestAgentCard(t *testing.T) {
	g := startGateway(t)
	resp, err := http.Get(g.http.URL + a2asrv.WellKnownAgentCardPath)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET card: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	grpcTarget := g.srv.GRPCTarget()
	if !strings.HasPrefix(grpcTarget, "127.0.0.1:") || strings.HasSuffix(grpcTarget, ":0") {
		t.Errorf("gRPC target = %q, want the bound loopback port", grpcTarget)
	}
	var raw struct {
		SupportedInterfaces  []map[string]any `json:"supportedInterfaces"`
		URL                  string           `json:"url"`
		PreferredTransport   string           `json:"preferredTransport"`
		ProtocolVersion      string           `json:"protocolVersion"`
		AdditionalInterfaces []map[string]any `json:"additionalInterfaces"`
		Name                 string           `json:"name"`
		Capabilities         map[string]any   `json:"capabilities"`
		Skills               []struct {
			ID          string   `json:"id"`
			Tags        []string `json:"tags"`
			Description string   `json:"description"`
			Examples    []string `json:"examples"`
		} `json:"skills"`
		SecuritySchemes any `json:"securitySchemes"`
		Security        any `json:"security"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	jsonrpc, rest := g.http.URL+JSONRPCPath, g.http.URL+RESTPath
	iface := func(url, binding, version string) map[string]any {
		return map[string]any{"url": url, "protocolBinding": binding, "protocolVersion": version}
	}
	wantIfaces := []map[string]any{
		iface(jsonrpc, "JSONRPC", "1.0"), iface(rest, "HTTP+JSON", "1.0"), iface(grpcTarget, "GRPC", "1.0"),
		iface(jsonrpc, "JSONRPC", "0.3"), iface(rest, "HTTP+JSON", "0.3"), iface(grpcTarget, "GRPC", "0.3"),
	}
	if diff := cmp.Diff(wantIfaces, raw.SupportedInterfaces); diff != "" {
		t.Errorf("supportedInterfaces (-want +got):\n%s", diff)
	}
	// A2A 0.3: the preferred interface in url and preferredTransport, the
	// other 0.3 ones in additionalInterfaces.
	if raw.URL != jsonrpc || raw.PreferredTransport != "JSONRPC" || !strings.HasPrefix(raw.ProtocolVersion, "0.3") {
		t.Errorf("0.3 fields: url %q, preferredTransport %q, protocolVersion %q; want %q, JSONRPC, 0.3",
			raw.URL, raw.PreferredTransport, raw.ProtocolVersion, jsonrpc)
	}
	wantAdditional := []map[string]any{{"transport": "HTTP+JSON", "url": rest}, {"transport": "GRPC", "url": grpcTarget}}
	if diff := cmp.Diff(wantAdditional, raw.AdditionalInterfaces); diff != "" {
		t.Errorf("additionalInterfaces (-want +got):\n%s", diff)
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"name", raw.Name == AgentName},
		{"streaming", raw.Capabilities["streaming"] == true},
		{"no push notifications without a config store", raw.Capabilities["pushNotifications"] != true},
		{"one skill", len(raw.Skills) == 1 && raw.Skills[0].ID == WorkspaceSkillID},
		{"skill tags name the tools", len(raw.Skills) == 1 && slices.Contains(raw.Skills[0].Tags, "get_ticket") && slices.Contains(raw.Skills[0].Tags, "claim_task")},
		{"skill description lists the tools", len(raw.Skills) == 1 && strings.Contains(raw.Skills[0].Description, "- save_ticket: ")},
		{"skill examples", len(raw.Skills) == 1 && slices.Contains(raw.Skills[0].Examples, `{"tool":"get_ticket","arguments":{"ticket_id":"T-1001"}}`)},
		{"no security yet", raw.SecuritySchemes == nil && raw.Security == nil},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("card %s wrong:\n%s", c.name, body)
		}
	}
}

// TestCardResolves: a2a-go v2's card resolver reads the card (as 1.0 and,
// through a2av0's parser, as 0.3), and a client built from the resolved
// card reaches the gateway on each of the six interfaces.
func TestCardResolves(t *testing.T) {
	g := startGateway(t)
	card, err := agentcard.NewResolver(&http.Client{}).Resolve(t.Context(), g.http.URL)
	if err != nil {
		t.Fatalf("resolve card: %v", err)
	}
	if len(card.SupportedInterfaces) != 6 || card.Name != AgentName {
		t.Fatalf("resolved card: %d interfaces, name %q", len(card.SupportedInterfaces), card.Name)
	}
	old, err := (&agentcard.Resolver{Client: &http.Client{}, CardParser: a2av0.NewAgentCardParser()}).Resolve(t.Context(), g.http.URL)
	if err != nil {
		t.Fatalf("resolve card as 0.3: %v", err)
	}
	if len(old.SupportedInterfaces) == 0 || old.SupportedInterfaces[0].URL != g.http.URL+JSONRPCPath {
		t.Errorf("card read as 0.3: interfaces %+v", old.SupportedInterfaces)
	}
	for _, b := range bindings {
		t.Run(b.name, func(t *testing.T) {
			// The endpoint the card names for b, found by the client
			// factory: only b's transport is offered.
			i := slices.IndexFunc(card.SupportedInterfaces, func(i *a2ago.AgentInterface) bool {
				return i.ProtocolBinding == b.proto && i.ProtocolVersion == b.version
			})
			if i < 0 {
				t.Fatalf("the card lists no %s interface", b.name)
			}
			c := newClient(t, card.SupportedInterfaces[i], "alice")
			task := send(t, c, toolMessage(mcpbridge.ToolGetStatus, nil))
			artifactData(t, task, mcpbridge.ToolGetStatus)
		})
	}
}

func TestCard(t *testing.T) {
	schemes := a2ago.NamedSecuritySchemes{"oidc": a2ago.OpenIDConnectSecurityScheme{OpenIDConnectURL: "https://idp.example.com/.well-known/openid-configuration"}}
	tests := []struct {
		name       string
		opts       CardOptions
		interfaces []string
	}{
		{"no gRPC", CardOptions{PublicURL: "https://parley.example.com/"}, []string{
			"JSONRPC 1.0 https://parley.example.com/a2a", "HTTP+JSON 1.0 https://parley.example.com/a2a/rest",
			"JSONRPC 0.3 https://parley.example.com/a2a", "HTTP+JSON 0.3 https://parley.example.com/a2a/rest"}},
		{"with gRPC and security", CardOptions{PublicURL: "https://parley.example.com", GRPCTarget: "parley.example.com:8081",
			SecuritySchemes: schemes, PushNotifications: true}, []string{
			"JSONRPC 1.0 https://parley.example.com/a2a", "HTTP+JSON 1.0 https://parley.example.com/a2a/rest", "GRPC 1.0 parley.example.com:8081",
			"JSONRPC 0.3 https://parley.example.com/a2a", "HTTP+JSON 0.3 https://parley.example.com/a2a/rest", "GRPC 0.3 parley.example.com:8081"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			card := Card(tt.opts)
			var got []string
			for _, i := range card.SupportedInterfaces {
				got = append(got, string(i.ProtocolBinding)+" "+string(i.ProtocolVersion)+" "+i.URL)
			}
			if diff := cmp.Diff(tt.interfaces, got); diff != "" {
				t.Errorf("interfaces (-want +got):\n%s", diff)
			}
			if !card.Capabilities.Streaming || card.Capabilities.PushNotifications != tt.opts.PushNotifications || card.Version == "" {
				t.Errorf("card = %+v", card)
			}
			if tt.opts.SecuritySchemes != nil && len(card.SecuritySchemes) != 1 {
				t.Errorf("security schemes = %v", card.SecuritySchemes)
			}
			if _, err := json.Marshal(card); err != nil {
				t.Errorf("card does not encode: %v", err)
			}
		})
	}
}

func TestGRPCTargetOnAllInterfaces(t *testing.T) {
	tasks := newOwnedTasks()
	base := Options{Tools: fakeTools{}, Tasks: tasks, Owner: tasks.Owner}
	opts := base
	opts.PublicURL, opts.GRPCListen = "https://parley.example.com", ":8443"
	srv, err := NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.GRPCTarget(); got != "parley.example.com:8443" {
		t.Errorf("GRPCTarget = %q, want the public host with the gRPC port", got)
	}
	for _, bad := range []string{"", "parley.example.com", "ftp://x"} {
		opts := base
		opts.PublicURL = bad
		if _, err := NewServer(opts); err == nil {
			t.Errorf("NewServer with PublicURL %q succeeded", bad)
		}
	}
}

// TestCardSecurityBothVersions: the card's security scheme reads in both
// versions: A2A 1.0 readers (a2a-go v2's own card parser) find
// openIdConnectSecurityScheme, 0.3 readers (a2av0's parser, the legacy
// "type" form) the same URL.
func TestCardSecurityBothVersions(t *testing.T) {
	const oidcURL = "https://idp.example.com/.well-known/openid-configuration"
	g := startGateway(t, func(o *Options) {
		o.SecuritySchemes = a2ago.NamedSecuritySchemes{"oidc": a2ago.OpenIDConnectSecurityScheme{OpenIDConnectURL: oidcURL}}
		o.Security = a2ago.SecurityRequirementsOptions{{"oidc": a2ago.SecuritySchemeScopes{}}}
	})
	for _, tc := range []struct {
		name     string
		resolver *agentcard.Resolver
	}{
		{"1.0", agentcard.NewResolver(&http.Client{})},
		{"0.3", &agentcard.Resolver{Client: &http.Client{}, CardParser: a2av0.NewAgentCardParser()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			card, err := tc.resolver.Resolve(t.Context(), g.http.URL)
			if err != nil {
				t.Fatalf("resolve the card: %v", err)
			}
			s, ok := card.SecuritySchemes["oidc"].(a2ago.OpenIDConnectSecurityScheme)
			if !ok || s.OpenIDConnectURL != oidcURL || len(card.SecurityRequirements) != 1 {
				t.Errorf("security as read: %#v, %#v", card.SecuritySchemes, card.SecurityRequirements)
			}
		})
	}
}
