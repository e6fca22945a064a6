package compat

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/a2aproject/a2a-go/a2a"
)

// a2aGoCard is a 0.3 card as a2a-go renders it, with every kind of field the
// 1.0 rendering changes.
func a2aGoCard(t *testing.T) []byte {
	t.Helper()
	card := &a2a.AgentCard{
		Name:               "Parley",
		Description:        "gateway",
		Version:            "0.1.0",
		ProtocolVersion:    "0.3.0",
		URL:                "https://parley.example.com/a2a",
		PreferredTransport: a2a.TransportProtocolJSONRPC,
		AdditionalInterfaces: []a2a.AgentInterface{
			{Transport: a2a.TransportProtocolJSONRPC, URL: "https://parley.example.com/a2a"},
			{Transport: a2a.TransportProtocolGRPC, URL: "parley.example.com:9090"},
		},
		Capabilities:                      a2a.AgentCapabilities{Streaming: true, StateTransitionHistory: true},
		SupportsAuthenticatedExtendedCard: true,
		DefaultInputModes:                 []string{"application/json"},
		DefaultOutputModes:                []string{"application/json"},
		SecuritySchemes: a2a.NamedSecuritySchemes{
			"oidc":   a2a.OpenIDConnectSecurityScheme{OpenIDConnectURL: "https://id.example.com/.well-known/openid-configuration"},
			"apikey": a2a.APIKeySecurityScheme{Name: "X-Key", In: a2a.APIKeySecuritySchemeInQuery, Description: "key"},
			"oauth": a2a.OAuth2SecurityScheme{Flows: a2a.OAuthFlows{
				ClientCredentials: &a2a.ClientCredentialsOAuthFlow{TokenURL: "https://id.example.com/token", Scopes: map[string]string{"a": "b"}},
				Password:          &a2a.PasswordOAuthFlow{TokenURL: "https://id.example.com/token", Scopes: map[string]string{}},
			}},
			"mtls": a2a.MutualTLSSecurityScheme{},
			"http": a2a.HTTPAuthSecurityScheme{Scheme: "Bearer", BearerFormat: "JWT"},
		},
		Security: []a2a.SecurityRequirements{{"oidc": {"openid", "a2a"}}},
		Skills: []a2a.AgentSkill{{
			ID: "workspace", Name: "Workspace", Description: "shared state", Tags: []string{"tickets"},
			Security: []a2a.SecurityRequirements{{"apikey": {}}},
		}},
	}
	b, err := json.Marshal(card)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCardWith10KeepsA2AGoCard(t *testing.T) {
	orig := a2aGoCard(t)
	merged, err := CardWith10(orig, nil)
	if err != nil {
		t.Fatal(err)
	}
	// a 0.3 reader sees exactly the card it had
	var back a2a.AgentCard
	if err := json.Unmarshal(merged, &back); err != nil {
		t.Fatalf("a2a-go cannot read the merged card: %v\n%s", err, merged)
	}
	again, _ := json.Marshal(&back)
	sameJSON(t, "0.3 view of the merged card", again, orig)

	mv, _ := DecodeJSON(merged)
	m := mv.(obj)
	wantIfaces := []Interface{
		{URL: "https://parley.example.com/a2a", ProtocolBinding: "JSONRPC", ProtocolVersion: "0.3.0"},
		{URL: "parley.example.com:9090", ProtocolBinding: "GRPC", ProtocolVersion: "0.3.0"},
	}
	got, err := CardInterfaces(merged)
	if err != nil || !reflect.DeepEqual(got, wantIfaces) {
		t.Errorf("CardInterfaces(merged) = %+v, %v", got, err)
	}
	if m["capabilities"].(obj)["extendedAgentCard"] != true {
		t.Error("capabilities.extendedAgentCard missing")
	}
	oidc := m["securitySchemes"].(obj)["oidc"].(obj)
	if oidc["type"] != "openIdConnect" || oidc["openIdConnectSecurityScheme"].(obj)["openIdConnectUrl"] == nil {
		t.Errorf("oidc scheme not carried in both shapes: %v", oidc)
	}
	apikey := m["securitySchemes"].(obj)["apikey"].(obj)["apiKeySecurityScheme"].(obj)
	if apikey["location"] != "query" || apikey["in"] != nil {
		t.Errorf("apiKey 1.0 shape: %v", apikey)
	}
	flows := m["securitySchemes"].(obj)["oauth"].(obj)["oauth2SecurityScheme"].(obj)["flows"].(obj)
	if len(flows) != 1 || flows["clientCredentials"] == nil {
		t.Errorf("1.0 OAuth flows are a oneof, want the first one only: %v", flows)
	}
	exactJSON(t, "securityRequirements", mustEncode(t, m["securityRequirements"]), `[{"schemes":{"oidc":{"list":["openid","a2a"]}}}]`)
	exactJSON(t, "skill securityRequirements", mustEncode(t, m["skills"].([]any)[0].(obj)["securityRequirements"]), `[{"schemes":{"apikey":{"list":[]}}}]`)

	// the merged card means the same as the 0.3 card to a 1.0 reader
	a, _ := CardTo10(orig)
	b, _ := CardTo10(merged)
	sameJSON(t, "CardTo10(merged) vs CardTo10(0.3)", b, a)

	// explicit interfaces replace the derived ones
	ifaces := append(InterfacesFor("https://parley.example.com/a2a", BindingJSONRPC, V10, V03),
		Interface{URL: "parley.example.com:9090", ProtocolBinding: BindingGRPC, ProtocolVersion: "0.3"})
	merged, err = CardWith10(orig, ifaces)
	if err != nil {
		t.Fatal(err)
	}
	got, _ = CardInterfaces(merged)
	if !reflect.DeepEqual(got[:3], ifaces) {
		t.Errorf("CardInterfaces = %+v, want %+v first", got, ifaces)
	}
}

func mustEncode(t *testing.T, v any) []byte {
	b, err := EncodeJSON(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCardTo10(t *testing.T) {
	got, err := CardTo10(a2aGoCard(t))
	if err != nil {
		t.Fatal(err)
	}
	c := norm(t, got).(obj)
	for _, f := range cardFields03Only {
		if _, ok := c[f]; ok {
			t.Errorf("0.3 field %s left in a 1.0 card", f)
		}
	}
	if c["capabilities"].(obj)["stateTransitionHistory"] != nil {
		t.Error("stateTransitionHistory is gone in 1.0")
	}
	if s := c["skills"].([]any)[0].(obj); s["security"] != nil || s["securityRequirements"] == nil {
		t.Errorf("skill security: %v", s)
	}
	exactJSON(t, "mtls", mustEncode(t, c["securitySchemes"].(obj)["mtls"]), `{"mtlsSecurityScheme":{}}`)
	exactJSON(t, "http", mustEncode(t, c["securitySchemes"].(obj)["http"]), `{"httpAuthSecurityScheme":{"scheme":"Bearer","bearerFormat":"JWT"}}`)
}

// TestCardDocument10: a 1.0 card rendered by @a2a-js/sdk 1.3.0 becomes a card
// a2a-go reads, and comes back unchanged.
func TestCardDocument10(t *testing.T) {
	var doc struct {
		Card json.RawMessage `json:"card"`
	}
	raw := loadRaw(t, "v10.card-document")
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	c03, err := CardTo03(doc.Card)
	if err != nil {
		t.Fatal(err)
	}
	var card a2a.AgentCard
	if err := json.Unmarshal(c03, &card); err != nil {
		t.Fatalf("a2a-go cannot read %s: %v", c03, err)
	}
	// a 1.0-only agent: the 0.3 url is its first interface, marked 1.0
	if card.URL != "https://agent.example.com/a2a" || card.ProtocolVersion != "1.0" || card.PreferredTransport != "JSONRPC" {
		t.Errorf("url %q version %q transport %q", card.URL, card.ProtocolVersion, card.PreferredTransport)
	}
	if len(card.AdditionalInterfaces) != 1 || card.AdditionalInterfaces[0].Transport != "GRPC" {
		t.Errorf("additionalInterfaces %+v", card.AdditionalInterfaces)
	}
	if _, ok := card.SecuritySchemes["oidc"].(a2a.OpenIDConnectSecurityScheme); !ok {
		t.Errorf("oidc scheme %T", card.SecuritySchemes["oidc"])
	}
	if k, ok := card.SecuritySchemes["apikey"].(a2a.APIKeySecurityScheme); !ok || k.In != "header" || k.Name != "X-API-Key" {
		t.Errorf("apikey scheme %+v", card.SecuritySchemes["apikey"])
	}
	if o, ok := card.SecuritySchemes["oauth"].(a2a.OAuth2SecurityScheme); !ok || o.Flows.ClientCredentials == nil || o.Flows.ClientCredentials.Scopes["a2a.read"] != "read" {
		t.Errorf("oauth scheme %+v", card.SecuritySchemes["oauth"])
	}
	if len(card.Security) != 2 || !reflect.DeepEqual(card.Security[0]["oidc"], a2a.SecuritySchemeScopes{"openid", "a2a"}) {
		t.Errorf("security %+v", card.Security)
	}
	if !card.SupportsAuthenticatedExtendedCard || !card.Capabilities.Streaming {
		t.Error("capabilities")
	}
	if len(card.Skills) != 1 || len(card.Skills[0].Security) != 1 {
		t.Errorf("skills %+v", card.Skills)
	}
	back, err := CardTo10(c03)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "1.0 → 0.3 → 1.0", back, doc.Card)

	ifaces, _ := CardInterfaces(doc.Card)
	if len(ifaces) != 2 || ifaces[1].ProtocolBinding != BindingGRPC || ifaces[1].Version() != V10 {
		t.Errorf("CardInterfaces %+v", ifaces)
	}
}

// TestServedCards: the card the JS server serves to 1.0 clients, rendered for
// 0.3, is what the same server serves to 0.3 clients.
func TestServedCards(t *testing.T) {
	x10, x03 := loadExchange(t, "v10.card"), loadExchange(t, "v03.card")
	got, err := CardTo03(x10.Response.Body)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "CardTo03", got, x03.Response.Body, "securitySchemes")
	ifaces, err := CardInterfaces(x03.Response.Body)
	if err != nil {
		t.Fatal(err)
	}
	if len(ifaces) != 2 || ifaces[0].Version() != V10 || ifaces[1].Version() != V03 {
		t.Errorf("CardInterfaces %+v", ifaces)
	}
	if _, err := CardWith10([]byte(`[1]`), nil); err == nil {
		t.Error("a card must be an object")
	}
	if _, err := CardTo10([]byte(`{`)); AsError(err).Code != CodeParseError {
		t.Error("malformed card")
	}
}

// TestCardWith10FromCard10: a 1.0-only card (as @a2a-js/sdk renders one)
// becomes a document both generations read.
func TestCardWith10FromCard10(t *testing.T) {
	var doc struct {
		Card json.RawMessage `json:"card"`
	}
	if err := json.Unmarshal(loadRaw(t, "v10.card-document"), &doc); err != nil {
		t.Fatal(err)
	}
	merged, err := CardWith10(doc.Card, nil)
	if err != nil {
		t.Fatal(err)
	}
	var card a2a.AgentCard
	if err := json.Unmarshal(merged, &card); err != nil || card.URL != "https://agent.example.com/a2a" {
		t.Fatalf("a2a-go reads %q, %v", card.URL, err)
	}
	if _, ok := card.SecuritySchemes["oidc"].(a2a.OpenIDConnectSecurityScheme); !ok {
		t.Errorf("oidc %T", card.SecuritySchemes["oidc"])
	}
	back, err := CardTo10(merged)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "1.0 → both → 1.0", back, doc.Card)

	// and the 0.3 rendering of the merged card is plain 0.3 again
	c03, err := CardTo03(merged)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := CardTo03(doc.Card)
	sameJSON(t, "CardTo03(merged)", c03, plain)
	for _, e := range securitySchemes {
		if strings.Contains(string(c03), `"`+e.v10+`"`) {
			t.Errorf("1.0 member %s left in %s", e.v10, c03)
		}
	}
}
