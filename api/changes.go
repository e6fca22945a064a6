package api

// The admin API's change stream, GET /api/v1/changes.

// Change is one event of GET /api/v1/changes (server-sent events): what
// changed, not how; a UI refetches what it shows.
type Change struct {
	// Kind is ticket, analysis, negotiation, agent, upstream or
	// upstream_tool.
	Kind string `json:"kind"`
	// Key names the thing: a ticket's or negotiation's ID, an agent's or
	// upstream's name; TICKET/NAMESPACE for an analysis.
	Key     string `json:"key"`
	Version int64  `json:"version,omitempty"`
}
