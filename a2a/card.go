package a2a

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	a2ago "github.com/a2aproject/a2a-go/a2a"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Wire constants of the gateway's own A2A face.
const (
	// JSONRPCPath is where the A2A JSON-RPC endpoint is mounted.
	JSONRPCPath = "/a2a"
	// ProtocolVersion is the A2A version a2a-go v0.3 speaks.
	ProtocolVersion = "0.3.0"
	// AgentName is the gateway's name in its card.
	AgentName = "parley"
	// WorkspaceSkillID names the workspace skill.
	WorkspaceSkillID = "workspace"
)

// CardOptions is what the gateway's card says.
type CardOptions struct {
	// PublicURL is the base URL clients reach the gateway's HTTP server
	// at, such as https://parley.example.com; the JSON-RPC interface is
	// PublicURL + JSONRPCPath.
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
	Security        []a2ago.SecurityRequirements
}

// Card is the gateway's own A2A agent card (A2A 0.3 fields): one skill,
// the shared workspace, reachable over JSON-RPC (preferred) and gRPC, with
// streaming.
func Card(o CardOptions) a2ago.AgentCard {
	version := o.Version
	if version == "" {
		version = "0.1.0"
	}
	jsonrpcURL := strings.TrimSuffix(o.PublicURL, "/") + JSONRPCPath
	interfaces := []a2ago.AgentInterface{{Transport: a2ago.TransportProtocolJSONRPC, URL: jsonrpcURL}}
	if o.GRPCTarget != "" {
		interfaces = append(interfaces, a2ago.AgentInterface{Transport: a2ago.TransportProtocolGRPC, URL: o.GRPCTarget})
	}
	return a2ago.AgentCard{
		Name: AgentName,
		Description: "Parley, the MCP and A2A gateway of a support pipeline. Its skill is the shared workspace the " +
			"pipeline's agents coordinate through: tickets, per-agent analyses and a task queue, the same tools MCP hosts call.",
		URL:                  jsonrpcURL,
		PreferredTransport:   a2ago.TransportProtocolJSONRPC,
		AdditionalInterfaces: interfaces,
		ProtocolVersion:      ProtocolVersion,
		Version:              version,
		Capabilities:         a2ago.AgentCapabilities{Streaming: true},
		DefaultInputModes:    []string{"application/json", "text/plain"},
		DefaultOutputModes:   []string{"application/json", "text/plain"},
		Skills:               []a2ago.AgentSkill{WorkspaceSkill(o.Tools)},
		SecuritySchemes:      o.SecuritySchemes,
		Security:             o.Security,
	}
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
