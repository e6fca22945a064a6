package store

import (
	"context"
	"encoding/json"
	"time"
)

// KindAgent is the feed kind of a registered A2A agent: its registration,
// card changes (adopted or flagged as drift), health transitions and its
// removal. The key is the agent's name.
const KindAgent = "agent"

// Agent health states.
const (
	AgentUnknown     = "unknown" // never probed
	AgentHealthy     = "healthy"
	AgentUnreachable = "unreachable"
)

// Agent is a registered A2A agent. Its documents are owned by package
// agentcards; the store keeps them, and the derived columns it searches.
type Agent struct {
	// Name is unique ignoring case: "Billing" and "billing" are the same
	// agent, and lookups find it by either.
	Name    string
	Version int64
	// SourceURL is where the card is fetched from; empty when the agent was
	// registered by document.
	SourceURL string
	// Card is the adopted card document; CardHash identifies it.
	Card     json.RawMessage
	CardHash string

	// Search columns, derived from Card by the caller: the skill IDs and
	// the skills' tags, matched whole and ignoring case (the store keeps
	// them lower-cased), and free text matched by substring ignoring case.
	SkillIDs   []string
	Tags       []string
	SearchText string

	// Drift: a fetched card that differs from the adopted one where it
	// matters, kept aside until approved. PendingCard is nil when there is
	// none.
	PendingCard  json.RawMessage
	PendingHash  string
	DriftSummary string
	DriftAt      time.Time

	Health AgentHealth

	CreatedAt time.Time
	UpdatedAt time.Time
}

// AgentHealth is the outcome of an agent's last probe.
type AgentHealth struct {
	Status    string // AgentUnknown, AgentHealthy or AgentUnreachable
	Error     string // why the last probe failed; empty when healthy
	CheckedAt time.Time
}

// AgentFilter selects agents. Empty fields match everything; set fields
// must all match.
type AgentFilter struct {
	// SkillID matches an agent with a skill of this ID, ignoring case.
	SkillID string
	// Tag matches an agent with a skill tagged so, ignoring case.
	Tag string
	// Text matches an agent whose SearchText contains every
	// whitespace-separated word of it, ignoring case.
	Text string
	// After is the name of the last agent of the previous page.
	After string
	// Limit caps the page; values <= 0 mean 100.
	Limit int
}

// Agents keeps the registry of A2A agents. Every write that changes an
// agent bumps its version and emits a KindAgent change.
type Agents interface {
	// CreateAgent stores a new agent at version 1. ErrExists if the name is
	// taken (ignoring case).
	CreateAgent(ctx context.Context, a Agent) (Agent, error)
	// GetAgent finds an agent by name, ignoring case.
	GetAgent(ctx context.Context, name string) (Agent, error)
	// ListAgents returns the agents matching f ordered by name (ignoring
	// case), and whether more follow.
	ListAgents(ctx context.Context, f AgentFilter) (agents []Agent, more bool, err error)
	// UpdateAgent replaces an agent's source URL, cards, search columns and
	// drift if its stored version is still expectedVersion, and bumps the
	// version. Name, health and CreatedAt are kept. A *VersionConflictError
	// if the version moved, ErrNotFound if the agent is gone.
	UpdateAgent(ctx context.Context, a Agent, expectedVersion int64) (Agent, error)
	// SetAgentHealth records a probe. Only a change of status bumps the
	// version and emits a change; a probe confirming the status just
	// records its time and error.
	SetAgentHealth(ctx context.Context, name string, h AgentHealth) (Agent, error)
	// DeleteAgent removes an agent, emitting a change with the version it
	// would have had next. ErrNotFound if there is none.
	DeleteAgent(ctx context.Context, name string, at time.Time) error
}
