package a2a

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	a2ago "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2acompat/a2av0"
	"github.com/a2aproject/a2a-go/v2/a2asrv"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Wire constants of the gateway's own A2A face.
const (
	// JSONRPCPath is where the A2A JSON-RPC endpoint is mounted, for both
	// protocol versions.
	JSONRPCPath = "/a2a"
	// RESTPath is where the A2A HTTP+JSON (REST) binding is mounted: A2A
	// 1.0 at its root (RESTPath + "/message:send"), 0.3 under "/v1" as 0.3
	// clients expect (RESTPath + "/v1/message:send").
	RESTPath = "/a2a/rest"
	// AgentName is the gateway's name in its card.
	AgentName = "parley"
	// WorkspaceSkillID names the workspace skill.
	WorkspaceSkillID = "workspace"
)

// CardOptions is what the gateway's card says.
type CardOptions struct {
	// PublicURL is the base URL clients reach the gateway's HTTP server
	// at, such as https://parley.example.com; the JSON-RPC interface is
	// PublicURL + JSONRPCPath, the REST one PublicURL + RESTPath.
	PublicURL string
	// GRPCTarget is the gRPC interface as a dial target (host:port); empty
	// when gRPC is off.
	GRPCTarget string
	// Tools are the tools the workspace skill runs.
	Tools []*mcp.Tool
	// Version is the gateway's version. Default "0.1.0".
	Version string
	// SecuritySchemes and Security say how to authenticate; empty while
	// the gateway runs without authentication.
	SecuritySchemes a2ago.NamedSecuritySchemes
	Security        a2ago.SecurityRequirementsOptions
	// PushNotifications: the card says the gateway sends them.
	PushNotifications bool
}

// Card is the gateway's own A2A agent card: one skill, the shared
// workspace, reachable over JSON-RPC (preferred), REST and gRPC, each in
// A2A 1.0 and 0.3, with streaming. Serve it through a2av0's card producer,
// which adds the 0.3 fields (url, preferredTransport,
// additionalInterfaces) beside supportedInterfaces.
func Card(o CardOptions) *a2ago.AgentCard {
	version := o.Version
	if version == "" {
		version = "0.1.0"
	}
	base := strings.TrimSuffix(o.PublicURL, "/")
	var ifaces []*a2ago.AgentInterface
	for _, v := range []a2ago.ProtocolVersion{a2ago.Version, a2av0.Version} {
		ifaces = append(ifaces,
			&a2ago.AgentInterface{URL: base + JSONRPCPath, ProtocolBinding: a2ago.TransportProtocolJSONRPC, ProtocolVersion: v},
			&a2ago.AgentInterface{URL: base + RESTPath, ProtocolBinding: a2ago.TransportProtocolHTTPJSON, ProtocolVersion: v})
		if o.GRPCTarget != "" {
			ifaces = append(ifaces, &a2ago.AgentInterface{URL: o.GRPCTarget, ProtocolBinding: a2ago.TransportProtocolGRPC, ProtocolVersion: v})
		}
	}
	return &a2ago.AgentCard{
		Name: AgentName,
		Description: "Parley, the MCP and A2A gateway of a support pipeline. Its skill is the shared workspace the " +
			"pipeline's agents coordinate through: tickets, per-agent analyses and a task queue, the same tools MCP hosts call.",
		SupportedInterfaces:  ifaces,
		Version:              version,
		Capabilities:         a2ago.AgentCapabilities{Streaming: true, PushNotifications: o.PushNotifications},
		DefaultInputModes:    []string{"application/json", "text/plain"},
		DefaultOutputModes:   []string{"application/json", "text/plain"},
		Skills:               []a2ago.AgentSkill{WorkspaceSkill(o.Tools)},
		SecuritySchemes:      o.SecuritySchemes,
		SecurityRequirements: o.Security,
	}
}

// bothVersionsCard is a2av0's card producer with its security schemes
// readable in both versions. a2av0 (v2.4.0) writes each scheme in A2A 0.3's
// form ({"type": "openIdConnect", "openIdConnectUrl": …}) with the 1.0
// scheme under "openIdConnect", where A2A 1.0 readers (a2a-go v2's own
// card parser, @a2a-js/sdk 1.x) look for "openIdConnectSecurityScheme":
// they refuse the card. Each scheme gets its 1.0 member beside the 0.3
// fields, which each version's readers ignore in the other's.
type bothVersionsCard struct {
	producer cardProducer
}

type cardProducer interface {
	a2asrv.AgentCardProducer
	a2asrv.AgentCardJSONProducer
}

func (b bothVersionsCard) Card(ctx context.Context) (*a2ago.AgentCard, error) {
	return b.producer.Card(ctx)
}

func (b bothVersionsCard) CardJSON(ctx context.Context) ([]byte, error) {
	doc, err := b.producer.CardJSON(ctx)
	if err != nil {
		return nil, err
	}
	card, err := b.producer.Card(ctx)
	if err != nil {
		return nil, err
	}
	if len(card.SecuritySchemes) == 0 {
		return doc, nil
	}
	v10, err := json.Marshal(card.SecuritySchemes)
	if err != nil {
		return nil, err
	}
	var schemes10 map[string]map[string]json.RawMessage
	var out map[string]json.RawMessage
	if err := json.Unmarshal(v10, &schemes10); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(doc, &out); err != nil {
		return nil, err
	}
	var schemes03 map[string]map[string]json.RawMessage
	if err := json.Unmarshal(out["securitySchemes"], &schemes03); err != nil {
		return nil, err
	}
	for name, members := range schemes10 {
		if schemes03[name] == nil {
			schemes03[name] = map[string]json.RawMessage{}
		}
		for k, v := range members {
			schemes03[name][k] = v
		}
	}
	if out["securitySchemes"], err = json.Marshal(schemes03); err != nil {
		return nil, err
	}
	return json.Marshal(out)
}

// WorkspaceSkill describes the workspace skill: how to call a tool, and
// every tool there is.
func WorkspaceSkill(tools []*mcp.Tool) a2ago.AgentSkill {
	sorted := slices.Clone(tools)
	slices.SortFunc(sorted, func(a, b *mcp.Tool) int { return strings.Compare(a.Name, b.Name) })
	var desc strings.Builder
	desc.WriteString(`Run one of the shared workspace's tools per message: send a data part {"tool": "<name>", "arguments": {...}} ` +
		`(the arguments as the tool's MCP input schema describes them). The task's artifact, named after the tool, holds the ` +
		`tool's structured result as a data part and its text as a text part. A tool error fails the task with the error ` +
		`in the status message. Tools:`)
	names := toolNames(sorted)
	for _, t := range sorted {
		fmt.Fprintf(&desc, "\n- %s: %s", t.Name, firstSentence(t.Description))
	}
	return a2ago.AgentSkill{
		ID:          WorkspaceSkillID,
		Name:        "Shared workspace",
		Description: desc.String(),
		Tags:        append([]string{"workspace", "mcp", "tickets", "tasks"}, names...),
		Examples:    skillExamples(names),
		InputModes:  []string{"application/json"},
		OutputModes: []string{"application/json", "text/plain"},
	}
}

// skillExamples are example messages' data parts for the tools present.
func skillExamples(names []string) []string {
	known := []struct {
		tool string
		args map[string]any
	}{
		{"get_ticket", map[string]any{"ticket_id": "T-1001"}},
		{"save_ticket", map[string]any{"customer": "ACME Corp", "category": "billing", "summary": "Charged twice for the March invoice", "refund_amount": 120}},
		{"claim_task", map[string]any{"types": []string{"triage"}}},
	}
	// A struct, so that "tool" comes first.
	type example struct {
		Tool      string         `json:"tool"`
		Arguments map[string]any `json:"arguments"`
	}
	var out []string
	for _, k := range known {
		if slices.Contains(names, k.tool) {
			data, _ := json.Marshal(example{k.tool, k.args})
			out = append(out, string(data))
		}
	}
	if len(out) == 0 && len(names) > 0 {
		data, _ := json.Marshal(example{names[0], map[string]any{}})
		out = append(out, string(data))
	}
	return out
}

// firstSentence shortens a tool description for the skill's list.
func firstSentence(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i+1]
	}
	return s
}
