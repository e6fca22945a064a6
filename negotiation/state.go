package negotiation

import (
	"encoding/json"
	"time"

	"github.com/parleyhq/parley/observe"
)

// State is a negotiation's durable state: everything needed to resume it
// on any replica, and its transcript. It is stored as the record's Data.
type State struct {
	ID           string          `json:"negotiation_id"`
	Rule         string          `json:"rule,omitempty"`
	Subject      SubjectRef      `json:"subject"`
	Question     string          `json:"question"`
	Participants []string        `json:"participants"`
	Requested    json.RawMessage `json:"requested_terms,omitempty"`
	MaxRounds    int             `json:"max_rounds"`
	Deadline     time.Time       `json:"deadline"`
	Fallback     string          `json:"fallback"`
	StartedBy    string          `json:"started_by"`
	StartedAt    time.Time       `json:"started_at"`
	// Metadata goes into every turn message's metadata (on whose behalf
	// Parley acts).
	Metadata map[string]any `json:"metadata,omitempty"`
	// RequestID links audit records to the request that started it.
	RequestID string `json:"request_id,omitempty"`
	// Trace is the trace context of the span that started it (W3C
	// traceparent and tracestate), so that every run of it, on any
	// replica, joins that trace. Absent when tracing was off.
	Trace observe.Carrier `json:"trace,omitempty"`

	// Status is running until an outcome is known, then the outcome's.
	Status   string       `json:"status"`
	Standing *Standing    `json:"standing"`
	History  []MoveRecord `json:"history"`
	// Pending is the turn sent (or about to be) and not yet answered.
	Pending *PendingTurn `json:"pending,omitempty"`
	Outcome *Outcome     `json:"outcome,omitempty"`

	// SubjectMarked: the ticket records the negotiation (status
	// negotiating); PriorStatus is the status to give it back.
	SubjectMarked bool   `json:"subject_marked,omitempty"`
	PriorStatus   string `json:"prior_status,omitempty"`
	// WrittenBack: the current outcome is in the ticket.
	WrittenBack bool `json:"written_back,omitempty"`

	Transcript []Entry `json:"transcript"`
}

// SubjectRef names the subject and the version that started it.
type SubjectRef struct {
	Kind    string `json:"kind"`
	ID      string `json:"id"`
	Version int64  `json:"version,omitempty"`
}

// PendingTurn is a turn in flight. Its message ID stays the same across
// resends, so an agent acts on it once.
type PendingTurn struct {
	Round      int    `json:"round"`
	To         string `json:"to"`
	MessageID  string `json:"message_id"`
	Corrective bool   `json:"corrective,omitempty"`
	// Problem says what was wrong with the reply a corrective turn
	// corrects.
	Problem string `json:"problem,omitempty"`
}

// Entry is one line of the transcript: a turn sent, a reply, a resend,
// a failure, or the outcome.
type Entry struct {
	At          time.Time       `json:"at"`
	Kind        string          `json:"kind"`
	Round       int             `json:"round,omitempty"`
	Participant string          `json:"participant,omitempty"`
	MessageID   string          `json:"message_id,omitempty"`
	Text        string          `json:"text,omitempty"`
	Data        json.RawMessage `json:"data,omitempty"`
	Error       string          `json:"error,omitempty"`
}

// Transcript entry kinds.
const (
	EntryStart   = "start"
	EntryTurn    = "turn"    // a turn was sent (data: the turn)
	EntryResend  = "resend"  // the pending turn is sent again after a restart or takeover
	EntryRetry   = "retry"   // a transport failure; the turn is retried
	EntryReply   = "reply"   // a participant's reply (data: the move as received)
	EntryInvalid = "invalid" // a reply that is not a valid move
	EntryOutcome = "outcome" // the outcome (data: the outcome)
	EntryDecided = "decided" // a person decided a pending_human negotiation
)

// View is negotiation://{id} and get_negotiation's answer: the outcome
// first, then the state and the full transcript.
type View struct {
	Outcome      *Outcome        `json:"outcome"`
	ID           string          `json:"negotiation_id"`
	Status       string          `json:"status"`
	Rule         string          `json:"rule,omitempty"`
	Subject      SubjectRef      `json:"subject"`
	Question     string          `json:"question"`
	Participants []string        `json:"participants"`
	Requested    json.RawMessage `json:"requested_terms,omitempty"`
	Round        int             `json:"rounds"`
	MaxRounds    int             `json:"max_rounds"`
	Deadline     time.Time       `json:"deadline"`
	Fallback     string          `json:"fallback"`
	StartedBy    string          `json:"started_by"`
	StartedAt    time.Time       `json:"started_at"`
	Standing     *Standing       `json:"standing"`
	History      []MoveRecord    `json:"history"`
	Transcript   []Entry         `json:"transcript"`
	Version      int64           `json:"version"`
}

func (s *State) view(version int64) View {
	return View{
		Outcome: s.Outcome, ID: s.ID, Status: s.Status, Rule: s.Rule, Subject: s.Subject, Question: s.Question,
		Participants: s.Participants, Requested: s.Requested, Round: len(s.History), MaxRounds: s.MaxRounds,
		Deadline: s.Deadline, Fallback: s.Fallback, StartedBy: s.StartedBy, StartedAt: s.StartedAt,
		Standing: s.Standing, History: s.History, Transcript: s.Transcript, Version: version,
	}
}
