package workspace

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Status is where a ticket stands in the support pipeline.
type Status string

// Ticket statuses.
const (
	StatusNew         Status = "new"
	StatusTriaged     Status = "triaged"
	StatusEscalated   Status = "escalated"
	StatusNegotiating Status = "negotiating"
	StatusResolved    Status = "resolved"
	StatusClosed      Status = "closed"
)

// Statuses lists every status in pipeline order.
var Statuses = []Status{StatusNew, StatusTriaged, StatusEscalated, StatusNegotiating, StatusResolved, StatusClosed}

// transitions says where a ticket may go from each status. Staying put is
// always allowed (a save that changes other fields).
var transitions = map[Status][]Status{
	StatusNew:         {StatusTriaged, StatusEscalated, StatusResolved, StatusClosed},
	StatusTriaged:     {StatusEscalated, StatusNegotiating, StatusResolved, StatusClosed},
	StatusEscalated:   {StatusTriaged, StatusNegotiating, StatusResolved, StatusClosed},
	StatusNegotiating: {StatusEscalated, StatusTriaged, StatusResolved, StatusClosed},
	StatusResolved:    {StatusTriaged, StatusClosed}, // reopen, or close
	StatusClosed:      {},
}

// Valid reports whether s is a known status.
func (s Status) Valid() bool { _, ok := transitions[s]; return ok }

// CanMoveTo reports whether a ticket in status s may move to next.
func (s Status) CanMoveTo(next Status) bool {
	return s == next || slices.Contains(transitions[s], next)
}

// Priorities a ticket may have; empty means not yet assessed.
var Priorities = []string{"low", "medium", "high", "urgent"}

// Ticket is a support ticket: the shared state that triage, billing and
// escalation agents coordinate through.
type Ticket struct {
	ID               string    `json:"id"`
	Customer         string    `json:"customer"`
	Category         string    `json:"category"`
	Priority         string    `json:"priority"`
	Status           Status    `json:"status"`
	Summary          string    `json:"summary"`
	RefundAmount     float64   `json:"refund_amount"`
	Resolution       string    `json:"resolution,omitempty"`
	Escalated        bool      `json:"escalated"`
	EscalationReason string    `json:"escalation_reason,omitempty"`
	Approval         *Approval `json:"approval,omitempty"`
	// GeneratedSummary is a summary of the ticket, its analyses and history
	// written by a host's model (or built from the data when none could).
	GeneratedSummary *GeneratedSummary `json:"generated_summary,omitempty"`
	Version          int64             `json:"version"`
	CreatedAt        time.Time         `json:"created_at"`
	UpdatedAt        time.Time         `json:"updated_at"`
}

// Approval is the decision on a ticket's refund: the outcome of a
// negotiation, in the shape the negotiation extension writes back
// (NEGOTIATION.md), or of a person deciding one that reached no agreement.
type Approval struct {
	NegotiationID string `json:"negotiation_id"`
	// Status is how the negotiation ended: agreed, rejected, no_agreement
	// or failed.
	Status string `json:"status"`
	// Decision is approved, denied, or pending_human while a person has
	// yet to decide.
	Decision string `json:"decision"`
	// Terms are the agreed terms, such as {"amount": 350.00}.
	Terms  json.RawMessage `json:"terms,omitempty"`
	Rounds int             `json:"rounds"`
	Reason string          `json:"reason,omitempty"`
	// DecidedBy is agents, fallback, or the principal who decided; absent
	// with DecidedAt while the decision is pending_human.
	DecidedBy string     `json:"decided_by,omitempty"`
	DecidedAt *time.Time `json:"decided_at,omitempty"`
}

// GeneratedSummary records who wrote a ticket's summary.
type GeneratedSummary struct {
	Text string `json:"text"`
	// Model names the model that wrote it, as the host reported it.
	Model string `json:"model"`
	// Source is "sampling" (the host's model) or "data" (built by Parley
	// from the ticket because the host could not sample).
	Source string    `json:"source"`
	At     time.Time `json:"at"`
}

// TransitionError reports a status change the lifecycle does not allow.
type TransitionError struct {
	TicketID string
	From, To Status
}

func (e *TransitionError) Error() string {
	allowed := transitions[e.From]
	if len(allowed) == 0 {
		return fmt.Sprintf("ticket %q: cannot move from %s to %s: %s is final", e.TicketID, e.From, e.To, e.From)
	}
	names := make([]string, len(allowed))
	for i, s := range allowed {
		names[i] = string(s)
	}
	return fmt.Sprintf("ticket %q: cannot move from %s to %s (from %s it may go to %s)",
		e.TicketID, e.From, e.To, e.From, strings.Join(names, ", "))
}

// Is makes errors.Is(err, ErrInvalidTransition) true.
func (e *TransitionError) Is(target error) bool { return target == ErrInvalidTransition }
