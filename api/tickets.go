package api

import (
	"encoding/json"
	"time"
)

// The admin API's tickets, GET /api/v1/tickets and /api/v1/tickets/{id}:
// the support pipeline's shared state, read-only (agents write it over MCP
// and A2A).

// Ticket is a support ticket.
type Ticket struct {
	ID               string  `json:"id"`
	Customer         string  `json:"customer"`
	Category         string  `json:"category"`
	Priority         string  `json:"priority"`
	Status           string  `json:"status"`
	Summary          string  `json:"summary"`
	RefundAmount     float64 `json:"refund_amount"`
	Resolution       string  `json:"resolution,omitempty"`
	Escalated        bool    `json:"escalated"`
	EscalationReason string  `json:"escalation_reason,omitempty"`
	// Approval is the decision on the refund, once a negotiation (or a
	// person) made one.
	Approval  *TicketApproval `json:"approval,omitempty"`
	Version   int64           `json:"version"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// TicketApproval is a negotiation's outcome as written back into its
// ticket.
type TicketApproval struct {
	NegotiationID string          `json:"negotiation_id"`
	Status        string          `json:"status"`
	Decision      string          `json:"decision"`
	Terms         json.RawMessage `json:"terms,omitempty"`
	Rounds        int             `json:"rounds"`
	Reason        string          `json:"reason,omitempty"`
	DecidedBy     string          `json:"decided_by,omitempty"`
	DecidedAt     *time.Time      `json:"decided_at,omitempty"`
}

// TicketList is a page of tickets, by ID.
type TicketList struct {
	Tickets []Ticket `json:"tickets"`
	// Next, when set, is the after= of the next page.
	Next string `json:"next,omitempty"`
}

// TicketAnalysis is one agent's findings under its namespace.
type TicketAnalysis struct {
	Namespace string          `json:"namespace"`
	Author    string          `json:"author"`
	Findings  json.RawMessage `json:"findings"`
	Version   int64           `json:"version"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// TicketChange is one entry of a ticket's history.
type TicketChange struct {
	Version int64           `json:"version"`
	Actor   string          `json:"actor"`
	At      time.Time       `json:"at"`
	Action  string          `json:"action"`
	Detail  json.RawMessage `json:"detail,omitempty"`
}

// TicketDetail is a ticket with its analyses, history and negotiations.
type TicketDetail struct {
	Ticket   Ticket           `json:"ticket"`
	Analyses []TicketAnalysis `json:"analyses"`
	History  []TicketChange   `json:"history"`
	// Negotiations are those about the ticket, oldest first, without
	// their transcripts (GET /api/v1/negotiations/{id} has them).
	Negotiations []NegotiationSummary `json:"negotiations"`
}
