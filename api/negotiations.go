package api

import (
	"encoding/json"
	"time"
)

// The admin API's negotiations: GET /api/v1/negotiations,
// GET /api/v1/negotiations/{id} and POST /api/v1/negotiations/{id}/decide.

// NegotiationSubject names what a negotiation is about.
type NegotiationSubject struct {
	Kind    string `json:"kind"`
	ID      string `json:"id"`
	Version int64  `json:"version,omitempty"`
}

// NegotiationOutcome is how a negotiation ended (decision pending_human
// while it waits for a person).
type NegotiationOutcome struct {
	Status    string          `json:"status"`
	Decision  string          `json:"decision"`
	Terms     json.RawMessage `json:"terms,omitempty"`
	Rounds    int             `json:"rounds"`
	Reason    string          `json:"reason"`
	DecidedBy string          `json:"decided_by,omitempty"`
	DecidedAt *time.Time      `json:"decided_at,omitempty"`
}

// NegotiationSummary is a negotiation without its moves and transcript.
type NegotiationSummary struct {
	ID string `json:"id"`
	// Status is running until an outcome is known, then the outcome's:
	// agreed, rejected, no_agreement or failed.
	Status       string              `json:"status"`
	Rule         string              `json:"rule,omitempty"`
	Subject      NegotiationSubject  `json:"subject"`
	Question     string              `json:"question"`
	Participants []string            `json:"participants"`
	Rounds       int                 `json:"rounds"`
	MaxRounds    int                 `json:"max_rounds"`
	StartedBy    string              `json:"started_by"`
	StartedAt    time.Time           `json:"started_at"`
	Deadline     time.Time           `json:"deadline"`
	Outcome      *NegotiationOutcome `json:"outcome,omitempty"`
	Version      int64               `json:"version"`
}

// NegotiationMove is one participant's move: the moves of the rounds so
// far, in order.
type NegotiationMove struct {
	Round     int             `json:"round"`
	By        string          `json:"by"`
	Move      string          `json:"move"`
	Terms     json.RawMessage `json:"terms,omitempty"`
	Rationale string          `json:"rationale,omitempty"`
}

// NegotiationEntry is one line of a negotiation's transcript: start,
// turn, resend, retry, reply, invalid, outcome or decided.
type NegotiationEntry struct {
	At          time.Time       `json:"at"`
	Kind        string          `json:"kind"`
	Round       int             `json:"round,omitempty"`
	Participant string          `json:"participant,omitempty"`
	Text        string          `json:"text,omitempty"`
	Data        json.RawMessage `json:"data,omitempty"`
	Error       string          `json:"error,omitempty"`
}

// Negotiation is a negotiation in full.
type Negotiation struct {
	NegotiationSummary
	RequestedTerms json.RawMessage    `json:"requested_terms,omitempty"`
	Fallback       string             `json:"fallback"`
	Moves          []NegotiationMove  `json:"moves"`
	Transcript     []NegotiationEntry `json:"transcript"`
}

// NegotiationList is a page of negotiations, by ID.
type NegotiationList struct {
	Negotiations []NegotiationSummary `json:"negotiations"`
	// Next, when set, is the after= of the next page.
	Next string `json:"next,omitempty"`
}

// DecideNegotiationRequest is a person's decision on a negotiation that
// waits in pending_human.
type DecideNegotiationRequest struct {
	// Decision is approve or deny.
	Decision string `json:"decision"`
	// Terms, for an approval, are the terms approved; default the last
	// standing terms, else those asked for.
	Terms json.RawMessage `json:"terms,omitempty"`
	// Reason is shown with the outcome.
	Reason string `json:"reason,omitempty"`
}
