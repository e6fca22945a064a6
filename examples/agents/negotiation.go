package agents

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/a2aproject/a2a-go/v2/a2a"
)

// The negotiation extension's wire names (NEGOTIATION.md).
const (
	// ExtensionURI identifies Parley's negotiation extension, version 1.
	ExtensionURI = "urn:parley:a2a:negotiation:v1"
	// TurnType is the type of the data part of a turn Parley sends.
	TurnType = "parley.negotiation.turn"
	// MoveType is the type of the data part a participant answers with.
	MoveType = "parley.negotiation.move"
	// CorrectiveSuffix ends the messageId of a corrective turn.
	CorrectiveSuffix = "/c1"
	// AmountKey is the term the example agents negotiate over.
	AmountKey = "amount"
)

// Moves.
const (
	MovePropose = "propose"
	MoveCounter = "counter"
	MoveAccept  = "accept"
	MoveReject  = "reject"
)

// Turn is the parley.negotiation.turn data part.
type Turn struct {
	Type          string         `json:"type"`
	NegotiationID string         `json:"negotiation_id"`
	Round         int            `json:"round"`
	MaxRounds     int            `json:"max_rounds"`
	Deadline      string         `json:"deadline"`
	You           string         `json:"you"`
	Participants  []string       `json:"participants"`
	Question      string         `json:"question"`
	Subject       Subject        `json:"subject"`
	Standing      *Standing      `json:"standing"`
	History       []HistoryEntry `json:"history"`
	AllowedMoves  []string       `json:"allowed_moves"`
}

// Subject is what is negotiated about, e.g. a ticket with its snapshot.
type Subject struct {
	Kind     string         `json:"kind"`
	ID       string         `json:"id"`
	Snapshot map[string]any `json:"snapshot"`
}

// Standing is the offer on the table.
type Standing struct {
	By    string         `json:"by"`
	Terms map[string]any `json:"terms"`
}

// HistoryEntry is one move made so far.
type HistoryEntry struct {
	Round     int            `json:"round"`
	By        string         `json:"by"`
	Move      string         `json:"move"`
	Terms     map[string]any `json:"terms,omitempty"`
	Rationale string         `json:"rationale,omitempty"`
}

// Move is the parley.negotiation.move data part.
type Move struct {
	Type      string         `json:"type"`
	Move      string         `json:"move"`
	Terms     map[string]any `json:"terms,omitempty"`
	Rationale string         `json:"rationale,omitempty"`
}

// DataPart is the move as the A2A data part the agent answers with. An
// amount the agent computed is written with two decimals (350.00).
func (m Move) DataPart() *a2a.Part {
	data := map[string]any{"type": MoveType, "move": m.Move}
	if m.Terms != nil {
		terms := make(map[string]any, len(m.Terms))
		for k, v := range m.Terms {
			if f, ok := v.(float64); ok && k == AmountKey {
				v = json.Number(strconv.FormatFloat(f, 'f', 2, 64))
			}
			terms[k] = v
		}
		data["terms"] = terms
	}
	if m.Rationale != "" {
		data["rationale"] = m.Rationale
	}
	return a2a.NewDataPart(data)
}

// String says the move in words, for the text part of the answer.
func (m Move) String() string {
	var b strings.Builder
	b.WriteString(m.Move)
	if amt, ok := Amount(m.Terms); ok {
		fmt.Fprintf(&b, " %s", money(amt))
	}
	if m.Rationale != "" {
		fmt.Fprintf(&b, ": %s", m.Rationale)
	}
	return b.String()
}

// TurnFrom finds the turn data part of a message: ok is false when the
// message carries none.
func TurnFrom(msg *a2a.Message) (Turn, bool, error) {
	if msg == nil {
		return Turn{}, false, nil
	}
	for _, p := range msg.Parts {
		if p == nil {
			continue
		}
		data, _ := p.Data().(map[string]any)
		if data == nil || data["type"] != TurnType {
			continue
		}
		raw, err := json.Marshal(data)
		if err != nil {
			return Turn{}, true, fmt.Errorf("turn data part: %w", err)
		}
		var t Turn
		if err := json.Unmarshal(raw, &t); err != nil {
			return Turn{}, true, fmt.Errorf("turn data part: %w", err)
		}
		return t, true, nil
	}
	return Turn{}, false, nil
}

// Amount reads the amount term.
func Amount(terms map[string]any) (float64, bool) {
	return number(terms[AmountKey])
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, !math.IsNaN(n) && !math.IsInf(n, 0)
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
		return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
	}
	return 0, false
}

// requested is the refund the subject asks for.
func (t Turn) requested() (float64, bool) {
	for _, k := range []string{"refund_amount", AmountKey} {
		if f, ok := number(t.Subject.Snapshot[k]); ok && f > 0 {
			return f, true
		}
	}
	return 0, false
}

// customerName is the subject's customer.
func (t Turn) customerName() string {
	switch c := t.Subject.Snapshot["customer"].(type) {
	case string:
		return c
	case map[string]any:
		if n, ok := c["name"].(string); ok {
			return n
		}
	}
	return ""
}

// allowed is allowed_moves, or what NEGOTIATION.md implies when a turn
// leaves it out.
func (t Turn) allowed() []string {
	if len(t.AllowedMoves) > 0 {
		return t.AllowedMoves
	}
	if t.Standing == nil {
		return []string{MovePropose, MoveReject}
	}
	return []string{MoveCounter, MoveAccept, MoveReject}
}

// myMoves counts the offers this participant has made so far and returns
// the last amount it asked for.
func (t Turn) myMoves() (n int, lastAsk float64, ok bool) {
	for _, h := range t.History {
		if h.By != t.You || (h.Move != MovePropose && h.Move != MoveCounter) {
			continue
		}
		n++
		if a, has := Amount(h.Terms); has {
			lastAsk, ok = a, true
		}
	}
	return n, lastAsk, ok
}

// withAmount copies terms with the amount replaced.
func withAmount(terms map[string]any, amount float64) map[string]any {
	out := make(map[string]any, len(terms)+1)
	for k, v := range terms {
		out[k] = v
	}
	out[AmountKey] = round2(amount)
	return out
}

// legal makes a move the policy chose fit allowed_moves: propose and
// counter stand in for each other, and a move that is not allowed becomes
// a reject (or, if even that is not allowed, the first allowed move).
func legal(t Turn, m Move) Move {
	allowed := t.allowed()
	m.Type = MoveType
	if slices.Contains(allowed, m.Move) {
		if m.Move == MoveAccept && t.Standing != nil {
			m.Terms = t.Standing.Terms
		}
		return m
	}
	switch {
	case m.Move == MoveCounter && slices.Contains(allowed, MovePropose),
		m.Move == MovePropose && slices.Contains(allowed, MoveCounter):
		if m.Move == MoveCounter {
			m.Move = MovePropose
		} else {
			m.Move = MoveCounter
		}
		return m
	case slices.Contains(allowed, MoveReject):
		return Move{Type: MoveType, Move: MoveReject, Rationale: fmt.Sprintf("would %s, which this turn does not allow: %s", m.Move, m.Rationale)}
	}
	m.Move = allowed[0]
	if m.Move == MoveAccept && t.Standing != nil {
		m.Terms = t.Standing.Terms
	}
	return m
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// cents compares amounts to the cent.
func cents(f float64) int64 { return int64(math.Round(f * 100)) }

func money(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }

// decideBilling is billing's policy.
func decideBilling(o Options, customers map[string]Customer, t Turn) Move {
	c := lookupCustomer(customers, t.customerName())
	asked, hasAsk := t.requested()
	if t.Standing == nil {
		if !hasAsk {
			return Move{Move: MoveReject, Rationale: "the subject names no refund amount to propose"}
		}
		return Move{Move: MovePropose, Terms: map[string]any{AmountKey: round2(asked)},
			Rationale: fmt.Sprintf("%s; refund of %s requested", c.Profile(), money(asked))}
	}
	if t.Standing.By == t.You {
		return Move{Move: MoveAccept, Rationale: "these are our own standing terms"}
	}
	standing, ok := Amount(t.Standing.Terms)
	if !ok {
		return Move{Move: MoveReject, Rationale: "the standing terms carry no amount"}
	}
	_, last, hasLast := t.myMoves()
	switch {
	case hasLast:
	case hasAsk:
		last = asked
	default:
		last = standing
	}
	if cents(standing) >= cents(last*o.AcceptRatio) {
		return Move{Move: MoveAccept, Rationale: fmt.Sprintf("%s is at least %s of the %s asked (%s)",
			money(standing), percent(o.AcceptRatio), money(last), c.Profile())}
	}
	mid := round2((last + standing) / 2)
	if cents(mid) <= cents(standing) || cents(mid) >= cents(last) {
		return Move{Move: MoveAccept, Rationale: fmt.Sprintf("%s leaves nothing to split with the %s asked", money(standing), money(last))}
	}
	return Move{Move: MoveCounter, Terms: withAmount(t.Standing.Terms, mid),
		Rationale: fmt.Sprintf("%s is under %s of the %s asked; meeting halfway for a %s", money(standing), percent(o.AcceptRatio), money(last), c.Profile())}
}

// Limit is escalation's approval limit for a customer under o.
func (o Options) Limit(c Customer) float64 {
	o = o.withDefaults()
	switch c.Tier() {
	case TierHigh:
		return round2(o.BaseLimit * o.HighValueFactor)
	case TierNew:
		return round2(o.BaseLimit * o.NewCustomerFactor)
	}
	return round2(o.BaseLimit)
}

// decideEscalation is escalation's policy.
func decideEscalation(o Options, customers map[string]Customer, t Turn) Move {
	c := lookupCustomer(customers, t.customerName())
	limit := o.Limit(c)
	n, _, _ := t.myMoves()
	ceiling, why := limit, fmt.Sprintf("policy cap %s for a %s customer (%s)", money(limit), c.Tier(), c.Profile())
	if o.ConcessionStep > 0 {
		if step := round2(float64(n+1) * o.ConcessionStep); step < limit {
			ceiling = step
			why = fmt.Sprintf("concession step %d: up to %s of a %s cap for a %s customer", n+1, money(step), money(limit), c.Tier())
		}
	}
	if t.Standing == nil {
		offer := ceiling
		if asked, ok := t.requested(); ok && asked < offer {
			offer = asked
		}
		return Move{Move: MovePropose, Terms: map[string]any{AmountKey: round2(offer)}, Rationale: why}
	}
	if t.Standing.By == t.You {
		return Move{Move: MoveAccept, Rationale: "these are our own standing terms"}
	}
	standing, ok := Amount(t.Standing.Terms)
	if !ok {
		return Move{Move: MoveReject, Rationale: "the standing terms carry no amount"}
	}
	switch {
	case cents(standing) > cents(o.HardCap):
		return Move{Move: MoveReject, Rationale: fmt.Sprintf("%s is over the hard cap of %s", money(standing), money(o.HardCap))}
	case cents(standing) <= cents(ceiling):
		return Move{Move: MoveAccept, Rationale: fmt.Sprintf("%s is within %s", money(standing), why)}
	}
	return Move{Move: MoveCounter, Terms: withAmount(t.Standing.Terms, ceiling), Rationale: why}
}

func percent(r float64) string { return strconv.FormatFloat(r*100, 'f', -1, 64) + "%" }
