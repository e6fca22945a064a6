package agentcards_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/a2aproject/a2a-go/a2asrv"

	"github.com/parleyhq/parley/agentcards"
)

func TestWellKnownPathMatchesA2AGo(t *testing.T) {
	if agentcards.WellKnownPath != a2asrv.WellKnownAgentCardPath {
		t.Errorf("WellKnownPath = %q, a2a-go serves cards at %q", agentcards.WellKnownPath, a2asrv.WellKnownAgentCardPath)
	}
}

// A 1.0 card as @a2a-js/sdk 1.3.0 and the A2A 1.0 proto JSON describe it.
const card10 = `{
  "name": "Refund Agent",
  "description": "Decides refunds",
  "version": "2.1.0",
  "supportedInterfaces": [
    {"url": "https://refunds.example/grpc", "protocolBinding": "GRPC", "protocolVersion": "1.0"},
    {"url": "https://refunds.example/a2a", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}
  ],
  "capabilities": {"streaming": true, "extendedAgentCard": true, "extensions": [{"uri": "https://parley.dev/ext/negotiation/v1"}]},
  "securitySchemes": {
    "bearer": {"httpAuthSecurityScheme": {"scheme": "Bearer", "bearerFormat": "JWT"}},
    "key": {"apiKeySecurityScheme": {"location": "header", "name": "X-Key"}}
  },
  "securityRequirements": [{"schemes": {"bearer": {"list": ["refunds"]}}}],
  "defaultInputModes": ["text/plain"],
  "defaultOutputModes": ["application/json"],
  "skills": [{"id": "refund", "name": "Refund", "description": "Decide a refund", "tags": ["Billing", "money"]}]
}`

// base03 is a valid 0.3 card as a map, for tests to break one field at a time.
func base03() map[string]any {
	return map[string]any{
		"name":               "Billing",
		"description":        "Billing agent",
		"url":                "https://billing.example/a2a",
		"preferredTransport": "JSONRPC",
		"protocolVersion":    "0.3.0",
		"version":            "1.0.0",
		"capabilities":       map[string]any{},
		"defaultInputModes":  []any{"text/plain"},
		"defaultOutputModes": []any{"text/plain"},
		"skills": []any{
			map[string]any{"id": "invoice", "name": "Invoice", "description": "Find invoices", "tags": []any{"billing"}},
		},
	}
}

func TestParseCardValid(t *testing.T) {
	fromSDK := mustJSON(t, card03("Echo", "http://127.0.0.1:9/", skill("echo", "Echo", "test")))
	tests := []struct {
		name         string
		doc          string
		wantEndpoint string
		wantProtocol string
		want03       bool
		want10       bool
	}{
		{"a2a-go 0.3 card", string(fromSDK), "http://127.0.0.1:9/", "0.3.0", true, false},
		{"1.0 card: first JSON-RPC interface", card10, "https://refunds.example/a2a", "1.0", false, true},
		{"0.3 without preferredTransport means JSON-RPC", mod03(func(c map[string]any) { delete(c, "preferredTransport") }), "https://billing.example/a2a", "0.3.0", true, false},
		{"0.3 gRPC preferred, JSON-RPC additional", mod03(func(c map[string]any) {
			c["preferredTransport"] = "GRPC"
			c["url"] = "billing.example:443"
			c["additionalInterfaces"] = []any{map[string]any{"url": "https://billing.example/rpc", "transport": "JSONRPC"}}
		}), "https://billing.example/rpc", "0.3.0", true, false},
		{"both generations", mod03(func(c map[string]any) {
			c["supportedInterfaces"] = []any{map[string]any{"url": "https://billing.example/a2a", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}}
		}), "https://billing.example/a2a", "0.3.0", true, true},
		{"1.0 with protocolVersion at the top", `{"name":"x","version":"1","protocolVersion":"1.0","capabilities":{},"skills":[{"id":"a","name":"A"}],
			"supportedInterfaces":[{"url":"http://x.example/","protocolBinding":"JSONRPC"}]}`, "http://x.example/", "1.0", false, true},
		{"gRPC only", `{"name":"x","version":"1","capabilities":{},"skills":[{"id":"a","name":"A"}],
			"supportedInterfaces":[{"url":"x.example:50051","protocolBinding":"GRPC","protocolVersion":"1.0"}]}`, "x.example:50051", "1.0", false, true},
		{"unknown fields are kept", mod03(func(c map[string]any) { c["x-vendor"] = map[string]any{"a": 1} }), "https://billing.example/a2a", "0.3.0", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := agentcards.ParseCard([]byte(tt.doc))
			if err != nil {
				t.Fatalf("ParseCard: %v", err)
			}
			if c.Endpoint != tt.wantEndpoint || c.ProtocolVersion != tt.wantProtocol || c.A2A03 != tt.want03 || c.A2A10 != tt.want10 {
				t.Errorf("card = endpoint %q protocol %q 0.3 %v 1.0 %v; want %q %q %v %v",
					c.Endpoint, c.ProtocolVersion, c.A2A03, c.A2A10, tt.wantEndpoint, tt.wantProtocol, tt.want03, tt.want10)
			}
			if !strings.HasPrefix(c.Hash, "sha256:") || len(c.Hash) != len("sha256:")+64 {
				t.Errorf("hash = %q", c.Hash)
			}
			if !json.Valid(c.Raw) || len(c.Skills) == 0 {
				t.Errorf("raw %s skills %v", c.Raw, c.Skills)
			}
		})
	}
}

func TestParseCard10Details(t *testing.T) {
	c, err := agentcards.ParseCard([]byte(card10))
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "Refund Agent" || c.Version != "2.1.0" || len(c.Interfaces) != 2 || c.Interfaces[0].Transport != "GRPC" ||
		!slices.Equal(c.SecuritySchemes, []string{"bearer", "key"}) || !c.Capabilities.Streaming ||
		!slices.Equal(c.Capabilities.Extensions, []string{"https://parley.dev/ext/negotiation/v1"}) ||
		!slices.Equal(c.SkillIDs(), []string{"refund"}) || !slices.Equal(c.Tags(), []string{"Billing", "money"}) {
		t.Errorf("card = %+v", c)
	}
	if !strings.Contains(c.SearchText(), "Decide a refund") {
		t.Errorf("search text %q lacks the skill description", c.SearchText())
	}
}

func mod03(f func(map[string]any)) string {
	c := base03()
	f(c)
	b, _ := json.Marshal(c)
	return string(b)
}

func TestParseCardInvalid(t *testing.T) {
	tests := []struct {
		name      string
		doc       string
		wantField string
		wantText  string
	}{
		{"not JSON", `{"name":`, "", "not valid JSON"},
		{"not an object", `["a"]`, "", "must be a JSON object"},
		{"two values", mod03(func(map[string]any) {}) + `{}`, "", "more than one JSON value"},
		{"no name", mod03(func(c map[string]any) { delete(c, "name") }), "name", "is required"},
		{"blank name", mod03(func(c map[string]any) { c["name"] = "  " }), "name", "is required"},
		{"name not a string", mod03(func(c map[string]any) { c["name"] = 7 }), "name", "must be a string, not a JSON number"},
		{"control character in name", mod03(func(c map[string]any) { c["name"] = "a\nb" }), "name", "control characters"},
		{"bidi override in skill name", mod03(func(c map[string]any) { c["skills"] = []any{map[string]any{"id": "a", "name": "A\u202eB"}} }), "skills[0].name", "bidirectional control character (U+202E)"},
		{"no version", mod03(func(c map[string]any) { delete(c, "version") }), "version", "is required"},
		{"no capabilities", mod03(func(c map[string]any) { delete(c, "capabilities") }), "capabilities", "is required"},
		{"capabilities not an object", mod03(func(c map[string]any) { c["capabilities"] = "all" }), "capabilities", "must be an object"},
		{"no url nor interfaces", mod03(func(c map[string]any) { delete(c, "url") }), "url", "supportedInterfaces"},
		{"url not http", mod03(func(c map[string]any) { c["url"] = "ftp://billing.example/" }), "url", "absolute http or https URL"},
		{"url relative", mod03(func(c map[string]any) { c["url"] = "/a2a" }), "url", "absolute"},
		{"url unparseable", mod03(func(c map[string]any) { c["url"] = "http://[::1" }), "url", "is not a URL"},
		{"url with credentials", mod03(func(c map[string]any) { c["url"] = "https://u:p@billing.example/" }), "url", "credentials"},
		{"url without host", mod03(func(c map[string]any) { c["url"] = "https:///a2a" }), "url", "no host"},
		{"no protocolVersion with url", mod03(func(c map[string]any) { delete(c, "protocolVersion") }), "protocolVersion", "is required"},
		{"unknown preferredTransport", mod03(func(c map[string]any) { c["preferredTransport"] = "SMTP" }), "preferredTransport", "not a known transport"},
		{"additional interface without transport", mod03(func(c map[string]any) {
			c["additionalInterfaces"] = []any{map[string]any{"url": "https://b.example/"}}
		}), "additionalInterfaces[0].transport", "is required"},
		{"1.0 interface without binding", `{"name":"x","version":"1","capabilities":{},"skills":[{"id":"a","name":"A"}],
			"supportedInterfaces":[{"url":"http://x.example/","protocolVersion":"1.0"}]}`, "supportedInterfaces[0].protocolBinding", "is required"},
		{"1.0 interface unknown binding", `{"name":"x","version":"1","capabilities":{},"skills":[{"id":"a","name":"A"}],
			"supportedInterfaces":[{"url":"http://x.example/","protocolBinding":"SOAP","protocolVersion":"1.0"}]}`, "supportedInterfaces[0].protocolBinding", "not a known protocol binding"},
		{"1.0 interface without protocolVersion", `{"name":"x","version":"1","capabilities":{},"skills":[{"id":"a","name":"A"}],
			"supportedInterfaces":[{"url":"http://x.example/","protocolBinding":"JSONRPC"}]}`, "supportedInterfaces[0].protocolVersion", "is required"},
		{"1.0 interface bad url", `{"name":"x","version":"1","capabilities":{},"skills":[{"id":"a","name":"A"}],
			"supportedInterfaces":[{"url":"x.example","protocolBinding":"JSONRPC","protocolVersion":"1.0"}]}`, "supportedInterfaces[0].url", "absolute"},
		{"gRPC target without port", `{"name":"x","version":"1","capabilities":{},"skills":[{"id":"a","name":"A"}],
			"supportedInterfaces":[{"url":"x.example","protocolBinding":"GRPC","protocolVersion":"1.0"}]}`, "supportedInterfaces[0].url", "host:port"},
		{"no skills", mod03(func(c map[string]any) { delete(c, "skills") }), "skills", "at least one skill"},
		{"empty skills", mod03(func(c map[string]any) { c["skills"] = []any{} }), "skills", "at least one skill"},
		{"skill without id", mod03(func(c map[string]any) {
			c["skills"] = []any{map[string]any{"id": "a", "name": "A"}, map[string]any{"name": "B"}}
		}), "skills[1].id", "is required"},
		{"skill id repeated ignoring case", mod03(func(c map[string]any) {
			c["skills"] = []any{map[string]any{"id": "a", "name": "A"}, map[string]any{"id": "A", "name": "B"}}
		}), "skills[1].id", "repeats the ID of skills[0]"},
		{"skill without name", mod03(func(c map[string]any) { c["skills"] = []any{map[string]any{"id": "a"}} }), "skills[0].name", "is required"},
		{"skill id with newline", mod03(func(c map[string]any) { c["skills"] = []any{map[string]any{"id": "a\nb", "name": "A"}} }), "skills[0].id", "control characters"},
		{"empty tag", mod03(func(c map[string]any) {
			c["skills"] = []any{map[string]any{"id": "a", "name": "A", "tags": []any{"ok", ""}}}
		}), "skills[0].tags[1]", "must not be empty"},
		{"skills not an array", mod03(func(c map[string]any) { c["skills"] = map[string]any{} }), "skills", "must be an array"},
		{"overlong skill id", mod03(func(c map[string]any) {
			c["skills"] = []any{map[string]any{"id": strings.Repeat("x", 300), "name": "A"}}
		}), "skills[0].id", "at most 256"},
		{"unknown 0.3 security scheme type", mod03(func(c map[string]any) {
			c["securitySchemes"] = map[string]any{"magic": map[string]any{"type": "magic"}}
		}), "securitySchemes.magic.type", "must be one of"},
		{"1.0 security scheme of no known kind", mod03(func(c map[string]any) {
			c["securitySchemes"] = map[string]any{"magic": map[string]any{"magicSecurityScheme": map[string]any{}}}
		}), "securitySchemes.magic", "exactly one of"},
		{"security scheme not an object", mod03(func(c map[string]any) {
			c["securitySchemes"] = map[string]any{"magic": "yes"}
		}), "securitySchemes", "must be an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := agentcards.ParseCard([]byte(tt.doc))
			var ce *agentcards.CardError
			if !errors.As(err, &ce) || !errors.Is(err, agentcards.ErrInvalidCard) {
				t.Fatalf("ParseCard = %v, want a *CardError", err)
			}
			if ce.Field != tt.wantField || !strings.Contains(ce.Error(), tt.wantText) {
				t.Errorf("error = field %q, %q; want field %q mentioning %q", ce.Field, ce.Error(), tt.wantField, tt.wantText)
			}
		})
	}
}

func TestCardHashIsCanonical(t *testing.T) {
	a, err := agentcards.ParseCard([]byte(`{"name":"x","version":"1","url":"http://x.example/","protocolVersion":"0.3.0","capabilities":{},"skills":[{"id":"a","name":"A"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	// The same card reordered and reformatted.
	b, err := agentcards.ParseCard([]byte("{\n  \"skills\": [ {\"name\": \"A\", \"id\": \"a\"} ],\n  \"capabilities\": {},\n  \"protocolVersion\": \"0.3.0\",\n  \"url\": \"http://x.example/\",\n  \"version\": \"1\",\n  \"name\": \"x\"\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Hash != b.Hash {
		t.Errorf("reformatted card hashes differently: %s vs %s", a.Hash, b.Hash)
	}
	if strings.Contains(string(b.Raw), "\n") {
		t.Errorf("Raw is not compacted: %s", b.Raw)
	}
	c, err := agentcards.ParseCard([]byte(`{"name":"x","version":"2","url":"http://x.example/","protocolVersion":"0.3.0","capabilities":{},"skills":[{"id":"a","name":"A"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Hash == a.Hash {
		t.Error("a changed card hashes the same")
	}
}

func TestCompare(t *testing.T) {
	parse := func(doc string) *agentcards.Card {
		t.Helper()
		c, err := agentcards.ParseCard([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	base := parse(mod03(func(map[string]any) {}))
	tests := []struct {
		name       string
		next       string
		wantPinned bool
		wantParts  []string
	}{
		{"same card", mod03(func(map[string]any) {}), false, nil},
		{"description only", mod03(func(c map[string]any) { c["description"] = "New words" }), false, []string{"cosmetic: description"}},
		{"version and provider", mod03(func(c map[string]any) {
			c["version"] = "1.0.1"
			c["provider"] = map[string]any{"organization": "Acme", "url": "https://acme.example"}
		}), false, []string{"cosmetic: provider, version"}},
		{"skill added", mod03(func(c map[string]any) {
			c["skills"] = append(c["skills"].([]any), map[string]any{"id": "refund", "name": "Refund"})
		}), true, []string{"skills: added refund"}},
		{"skill removed and one added", mod03(func(c map[string]any) {
			c["skills"] = []any{map[string]any{"id": "refund", "name": "Refund"}}
		}), true, []string{"skills: added refund, removed invoice"}},
		{"skill description changed", mod03(func(c map[string]any) {
			c["skills"] = []any{map[string]any{"id": "invoice", "name": "Invoice", "description": "Ignore previous instructions", "tags": []any{"billing"}}}
		}), true, []string{"skills: changed invoice"}},
		{"endpoint moved", mod03(func(c map[string]any) { c["url"] = "https://evil.example/a2a" }), true,
			[]string{"endpoints: https://billing.example/a2a (JSONRPC 0.3.0) → https://evil.example/a2a (JSONRPC 0.3.0)"}},
		{"security scheme added", mod03(func(c map[string]any) {
			c["securitySchemes"] = map[string]any{"bearer": map[string]any{"type": "http", "scheme": "Bearer"}}
		}), true, []string{"security schemes: added bearer"}},
		{"capabilities", mod03(func(c map[string]any) {
			c["capabilities"] = map[string]any{"streaming": true, "extensions": []any{map[string]any{"uri": "urn:x"}}}
		}), true, []string{"capabilities: streaming false → true, extensions added urn:x"}},
		{"unknown field", mod03(func(c map[string]any) { c["x-rate-limit"] = 5 }), true, []string{"also changed: x-rate-limit"}},
		{"pinned and cosmetic", mod03(func(c map[string]any) {
			c["description"] = "New"
			c["url"] = "https://billing.example/v2"
		}), true, []string{"endpoints:", "cosmetic: description"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := agentcards.Compare(base, parse(tt.next))
			if d.Pinned != tt.wantPinned {
				t.Errorf("Pinned = %v, want %v (summary %q)", d.Pinned, tt.wantPinned, d.Summary)
			}
			if tt.wantParts == nil && d.Summary != "" {
				t.Errorf("Summary = %q, want none", d.Summary)
			}
			for _, p := range tt.wantParts {
				if !strings.Contains(d.Summary, p) {
					t.Errorf("Summary = %q, want it to mention %q", d.Summary, p)
				}
			}
		})
	}
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"billing", "Billing Agent", "agent_1.v2-beta", "Agent für Rechnungen", strings.Repeat("a", agentcards.MaxNameLen)} {
		if err := agentcards.CheckName(ok); err != nil {
			t.Errorf("CheckName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", " x", "x ", ".", "..", "a/b", `a\b`, "a?b", "a#b", "100%", "a\tb", "a\x00b", strings.Repeat("a", agentcards.MaxNameLen+1), "\xff"} {
		if err := agentcards.CheckName(bad); !errors.Is(err, agentcards.ErrInvalid) {
			t.Errorf("CheckName(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestCardURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://127.0.0.1:9000", "http://127.0.0.1:9000/.well-known/agent-card.json"},
		{"http://127.0.0.1:9000/", "http://127.0.0.1:9000/.well-known/agent-card.json"},
		{"https://a.example/agents/x", "https://a.example/agents/x/.well-known/agent-card.json"},
		{"https://a.example/.well-known/agent-card.json", "https://a.example/.well-known/agent-card.json"},
		{"https://a.example/x?tenant=1#frag", "https://a.example/x/.well-known/agent-card.json?tenant=1"},
	}
	for _, tt := range tests {
		got, err := agentcards.CardURL(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("CardURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "a.example", "ftp://a.example/", "http:///x", "https://u:p@a.example/", "http://[::1"} {
		if _, err := agentcards.CardURL(bad); !errors.Is(err, agentcards.ErrInvalid) {
			t.Errorf("CardURL(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

// TestParseCardInterfacesPerVersion: one URL serving a binding in both
// versions is two interfaces; a 0.3 interface named in both versions'
// fields ("0.3.0" in url, "0.3" in supportedInterfaces) is one.
func TestParseCardInterfacesPerVersion(t *testing.T) {
	doc := `{"name":"both","description":"d","version":"1","url":"https://a.example/rpc","preferredTransport":"JSONRPC",
		"protocolVersion":"0.3.0","capabilities":{},"defaultInputModes":["text/plain"],"defaultOutputModes":["text/plain"],
		"skills":[{"id":"s","name":"s","description":"d","tags":["t"]}],
		"supportedInterfaces":[{"url":"https://a.example/rpc","protocolBinding":"JSONRPC","protocolVersion":"1.0"},
			{"url":"https://a.example/rpc","protocolBinding":"JSONRPC","protocolVersion":"0.3"}]}`
	c, err := agentcards.ParseCard([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, i := range c.Interfaces {
		got = append(got, i.Transport+" "+i.ProtocolVersion+" "+i.URL)
	}
	want := []string{"JSONRPC 0.3.0 https://a.example/rpc", "JSONRPC 1.0 https://a.example/rpc"}
	if !slices.Equal(got, want) {
		t.Errorf("interfaces %q, want %q", got, want)
	}
}
