package api

import (
	"encoding/json"
	"time"
)

// The admin API's audit log listing, GET /api/v1/audit.

// AuditRecord is one record of the tamper-evident audit log. Every field
// but Hash is covered by Hash (see "Audit chain" in openapi.yaml), so that
// a listing can be verified away from the gateway.
type AuditRecord struct {
	// Seq is the record's position in the chain, from 1, without gaps.
	Seq int64 `json:"seq"`
	// At is when it happened, in UTC with microseconds.
	At time.Time `json:"at"`
	// Subject and Client are the principal: the token's subject and the
	// OAuth client it was issued to.
	Subject string `json:"subject,omitempty"`
	Client  string `json:"client,omitempty"`
	// Action is what was done: mcp.tool_call, a2a.message, a2a.relay,
	// agent.register, agent.approve, agent.remove, negotiation.move,
	// negotiation.decision, policy.denial, ….
	Action string `json:"action"`
	// Target is what it was done to: a tool, an agent, a task.
	Target   string `json:"target,omitempty"`
	TicketID string `json:"ticket_id,omitempty"`
	// Outcome is ok, error or denied.
	Outcome string `json:"outcome"`
	// Detail is a JSON document: for a denial, the rule that decided it.
	Detail json.RawMessage `json:"detail,omitempty"`
	// Links: the record this one follows from, and the MCP request, A2A
	// task and negotiation it belongs to.
	Parent        int64  `json:"parent,omitempty"`
	RequestID     string `json:"request_id,omitempty"`
	TaskID        string `json:"task_id,omitempty"`
	NegotiationID string `json:"negotiation_id,omitempty"`
	// PrevHash is the previous record's Hash ("" for the first); Hash is
	// the hex SHA-256 of the record's canonical encoding.
	PrevHash string `json:"prev_hash"`
	Hash     string `json:"hash"`
}

// AuditList is a page of audit records.
type AuditList struct {
	Records []AuditRecord `json:"records"`
	// Next, when set, is the after= of the next page.
	Next string `json:"next,omitempty"`
}
