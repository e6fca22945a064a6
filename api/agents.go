package api

import (
	"encoding/json"
	"time"
)

// The admin API for registered A2A agents, under /api/v1/agents.

// RegisterAgentRequest is the body of POST /api/v1/agents: exactly one of
// URL and Card.
type RegisterAgentRequest struct {
	// URL is the agent's base URL or its card's URL; the gateway fetches
	// the card from <URL>/.well-known/agent-card.json (or URL itself when
	// it already ends so).
	URL string `json:"url,omitempty"`
	// Card is the agent card document (A2A 0.3 or 1.0).
	Card json.RawMessage `json:"card,omitempty"`
	// Name is the agent's name in the registry; default the card's name.
	// Names are unique ignoring case.
	Name string `json:"name,omitempty"`
}

// ReplaceAgentRequest is the body of PUT /api/v1/agents/{name}: exactly
// one of URL (fetch the card from there, which becomes the agent's card
// URL) and Card. Replacing approves: a pending card is dropped.
type ReplaceAgentRequest struct {
	URL  string          `json:"url,omitempty"`
	Card json.RawMessage `json:"card,omitempty"`
}

// ApproveAgentRequest is the optional body of POST
// /api/v1/agents/{name}/approve.
type ApproveAgentRequest struct {
	// CardHash, when set, must be the pending card's hash, so that what is
	// adopted is the card that was reviewed.
	CardHash string `json:"card_hash,omitempty"`
}

// Agent is a registered agent.
type Agent struct {
	Name    string `json:"name"`
	Version int64  `json:"version"`
	// URL is the agent's A2A endpoint (its JSON-RPC URL when it has one).
	URL string `json:"url"`
	// Transport is the endpoint's transport: JSONRPC, GRPC or HTTP+JSON.
	Transport string `json:"transport"`
	// SourceURL is where the card is fetched from; absent when the agent
	// was registered by document.
	SourceURL       string       `json:"source_url,omitempty"`
	Description     string       `json:"description"`
	ProtocolVersion string       `json:"protocol_version"`
	Skills          []AgentSkill `json:"skills"`
	// CardHash identifies the adopted card: "sha256:" and the hex SHA-256
	// of its canonical JSON.
	CardHash string `json:"card_hash"`
	// Card is the adopted card document; omitted from lists.
	Card   json.RawMessage `json:"card,omitempty"`
	Health AgentHealth     `json:"health"`
	// Drift reports a fetched card that changed skills, endpoints, security
	// or capabilities: it is in Pending and awaits approval.
	Drift     bool         `json:"drift"`
	Pending   *PendingCard `json:"pending,omitempty"`
	CreatedAt time.Time    `json:"created_at"`
	UpdatedAt time.Time    `json:"updated_at"`
}

// AgentSkill is a skill of an agent.
type AgentSkill struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Tags        []string `json:"tags,omitempty"`
}

// AgentHealth is the outcome of the agent's last probe.
type AgentHealth struct {
	// Status is unknown (never probed), healthy or unreachable.
	Status string `json:"status"`
	// Error says why the last probe failed.
	Error     string     `json:"error,omitempty"`
	CheckedAt *time.Time `json:"checked_at,omitempty"`
}

// PendingCard is a fetched card awaiting approval.
type PendingCard struct {
	CardHash string `json:"card_hash"`
	// Summary says what differs from the adopted card.
	Summary    string    `json:"summary"`
	DetectedAt time.Time `json:"detected_at"`
	// Card is the pending card document; omitted from lists.
	Card json.RawMessage `json:"card,omitempty"`
}

// AgentList is the body of GET /api/v1/agents.
type AgentList struct {
	Agents []Agent `json:"agents"`
	// Next, when set, is the after= value that fetches the next page.
	Next string `json:"next,omitempty"`
}

// RefetchResult is the body of POST /api/v1/agents/{name}/refetch.
type RefetchResult struct {
	// Outcome is unchanged, updated (cosmetic changes adopted), drift
	// (pinned fields changed: the card awaits approval) or drift-cleared
	// (the agent serves its adopted card again).
	Outcome string `json:"outcome"`
	// Changes says what differs from the adopted card.
	Changes string `json:"changes,omitempty"`
	Agent   Agent  `json:"agent"`
}
