package negotiation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/parleyhq/parley/internal/textcheck"
)

// The negotiation extension's wire format, version 1 (NEGOTIATION.md and
// api/negotiation.schema.json). Agents of other teams implement it from
// that page: these types must not drift from it.
const (
	// ExtensionURI names the extension in agent cards, in the request's
	// extensions header and in message.extensions.
	ExtensionURI = "urn:parley:a2a:negotiation:v1"
	// TurnType and MoveType are the "type" of the data parts.
	TurnType = "parley.negotiation.turn"
	MoveType = "parley.negotiation.move"
)

// Moves.
const (
	MovePropose = "propose"
	MoveCounter = "counter"
	MoveAccept  = "accept"
	MoveReject  = "reject"
)

// Outcome statuses.
const (
	StatusRunning      = "running" // not an outcome: the negotiation is under way
	StatusAgreed       = "agreed"
	StatusRejected     = "rejected"
	StatusNoAgreement  = "no_agreement"
	StatusFailed       = "failed"
	DecisionApproved   = "approved"
	DecisionDenied     = "denied"
	DecisionPending    = "pending_human"
	DecidedByAgents    = "agents"
	DecidedByFallback  = "fallback"
	subjectKindTicket  = "ticket"
	correctiveSuffix   = "/c1"
	maxRationaleLength = 4096
)

// Turn is the data part Parley sends the participant whose move it is.
type Turn struct {
	Type          string       `json:"type"`
	NegotiationID string       `json:"negotiation_id"`
	Round         int          `json:"round"`
	MaxRounds     int          `json:"max_rounds"`
	Deadline      time.Time    `json:"deadline"`
	You           string       `json:"you"`
	Participants  []string     `json:"participants"`
	Question      string       `json:"question"`
	Subject       Subject      `json:"subject"`
	Standing      *Standing    `json:"standing"`
	History       []MoveRecord `json:"history"`
	AllowedMoves  []string     `json:"allowed_moves"`
}

// Subject is what is negotiated about, with a snapshot as stored when the
// turn was built.
type Subject struct {
	Kind     string          `json:"kind"`
	ID       string          `json:"id"`
	Snapshot json.RawMessage `json:"snapshot"`
}

// Standing is the proposal on the table.
type Standing struct {
	By    string          `json:"by"`
	Terms json.RawMessage `json:"terms"`
}

// MoveRecord is one move in a turn's history.
type MoveRecord struct {
	Round     int             `json:"round"`
	By        string          `json:"by"`
	Move      string          `json:"move"`
	Terms     json.RawMessage `json:"terms,omitempty"`
	Rationale string          `json:"rationale,omitempty"`
}

// Move is the data part a participant answers with.
type Move struct {
	Type      string          `json:"type"`
	Move      string          `json:"move"`
	Terms     json.RawMessage `json:"terms,omitempty"`
	Rationale string          `json:"rationale,omitempty"`
}

// Outcome is how a negotiation ended, as written back into its subject and
// at the head of negotiation://{id}.
type Outcome struct {
	NegotiationID string          `json:"negotiation_id"`
	Status        string          `json:"status"`
	Decision      string          `json:"decision"`
	Terms         json.RawMessage `json:"terms,omitempty"`
	Rounds        int             `json:"rounds"`
	Reason        string          `json:"reason"`
	DecidedBy     string          `json:"decided_by,omitempty"`
	DecidedAt     *time.Time      `json:"decided_at,omitempty"`
}

// allowedMoves says which moves may follow: a proposal while nothing
// stands, then counters, acceptance or rejection.
func allowedMoves(standing *Standing) []string {
	if standing == nil {
		return []string{MovePropose, MoveReject}
	}
	return []string{MoveCounter, MoveAccept, MoveReject}
}

// ErrInvalidMove: a reply is not a valid move for the turn.
var ErrInvalidMove = errors.New("invalid move")

// ParseMove reads a participant's move from a data part and checks it
// against the turn: the type, a move in allowed, terms where required
// (a JSON object), and an accept's terms equal to the standing ones.
func ParseMove(data json.RawMessage, allowed []string, standing *Standing) (Move, error) {
	var m Move
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		return Move{}, fmt.Errorf("%w: the data part is not a move object: %v", ErrInvalidMove, err)
	}
	if m.Type != MoveType {
		return Move{}, fmt.Errorf("%w: type is %q, want %q", ErrInvalidMove, m.Type, MoveType)
	}
	if !slices.Contains(allowed, m.Move) {
		return Move{}, fmt.Errorf("%w: move %q is not allowed now (allowed_moves: %v)", ErrInvalidMove, m.Move, allowed)
	}
	if len(m.Rationale) > maxRationaleLength {
		return Move{}, fmt.Errorf("%w: rationale is %d bytes, at most %d", ErrInvalidMove, len(m.Rationale), maxRationaleLength)
	}
	// The move's text reaches the other participants, the transcript and
	// the ticket: the workspace's text rule applies to all of it.
	if err := textcheck.JSON(data); err != nil {
		return Move{}, fmt.Errorf("%w: %v", ErrInvalidMove, err)
	}
	hasTerms := len(m.Terms) > 0 && string(m.Terms) != "null"
	switch m.Move {
	case MovePropose, MoveCounter:
		if !hasTerms {
			return Move{}, fmt.Errorf("%w: %s needs terms", ErrInvalidMove, m.Move)
		}
		var obj map[string]any
		if err := json.Unmarshal(m.Terms, &obj); err != nil || obj == nil {
			return Move{}, fmt.Errorf("%w: terms must be a JSON object, e.g. {\"amount\": 350.00}", ErrInvalidMove)
		}
	case MoveAccept:
		if hasTerms && !SameTerms(m.Terms, standing.Terms) {
			return Move{}, fmt.Errorf("%w: accept's terms %s differ from the standing terms %s", ErrInvalidMove, m.Terms, standing.Terms)
		}
		m.Terms = standing.Terms
	case MoveReject:
		m.Terms = nil
	}
	return m, nil
}

// SameTerms reports whether two terms are equal as JSON values (500
// equals 500.00).
func SameTerms(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// MessageID is the A2A messageId of a turn: the same on every resend, so
// that an agent acts on a turn once.
func MessageID(negotiationID string, round int, participant string, corrective bool) string {
	id := fmt.Sprintf("%s/r%d/%s", negotiationID, round, participant)
	if corrective {
		id += correctiveSuffix
	}
	return id
}
