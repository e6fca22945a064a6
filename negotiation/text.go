package negotiation

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// turnText is the readable part of a turn, for agents that reason over
// text.
func turnText(t Turn, requested json.RawMessage, problem string) string {
	var b strings.Builder
	if problem != "" {
		fmt.Fprintf(&b, "Your previous reply was not a valid move: %s. Please answer this turn again.\n\n", problem)
	}
	fmt.Fprintf(&b, "Negotiation %s, round %d of %d (deadline %s). You are %s; participants: %s.\n",
		t.NegotiationID, t.Round, t.MaxRounds, t.Deadline.Format("2006-01-02 15:04:05Z07:00"), t.You, strings.Join(t.Participants, ", "))
	fmt.Fprintf(&b, "Question: %s\n", t.Question)
	if len(requested) > 0 {
		fmt.Fprintf(&b, "Asked for: %s\n", FormatTerms(requested))
	}
	for _, h := range t.History {
		fmt.Fprintf(&b, "Round %d: %s %s", h.Round, h.By, pastTense(h.Move))
		if len(h.Terms) > 0 {
			fmt.Fprintf(&b, " %s", FormatTerms(h.Terms))
		}
		if h.Rationale != "" {
			fmt.Fprintf(&b, " (%s)", h.Rationale)
		}
		b.WriteString("\n")
	}
	if t.Standing == nil {
		b.WriteString("Nothing has been proposed yet.\n")
	} else {
		fmt.Fprintf(&b, "Standing: %s by %s.\n", FormatTerms(t.Standing.Terms), t.Standing.By)
	}
	fmt.Fprintf(&b, "Your move, one of: %s. Answer with a data part {\"type\": %q, \"move\": …, \"terms\": {…}, \"rationale\": \"…\"}.",
		strings.Join(t.AllowedMoves, ", "), MoveType)
	return b.String()
}

// FormatTerms writes terms for people: amount 350.00, other: value.
func FormatTerms(terms json.RawMessage) string {
	var m map[string]any
	if json.Unmarshal(terms, &m) != nil || len(m) == 0 {
		return string(terms)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		v := m[k]
		switch x := v.(type) {
		case float64:
			parts[i] = k + " " + strconv.FormatFloat(x, 'f', 2, 64)
		case string:
			parts[i] = k + " " + x
		default:
			d, _ := json.Marshal(x)
			parts[i] = k + " " + string(d)
		}
	}
	if len(parts) == 1 && keys[0] == "amount" {
		return strings.TrimPrefix(parts[0], "amount ")
	}
	return strings.Join(parts, ", ")
}

func pastTense(move string) string {
	switch move {
	case MovePropose:
		return "proposed"
	case MoveCounter:
		return "countered"
	case MoveAccept:
		return "accepted"
	case MoveReject:
		return "rejected"
	}
	return move
}

// DescribeMove says a move in a line (transcripts, wait_for_ticket's
// progress): "round 2/6: escalation countered 350.00".
func DescribeMove(m MoveRecord, maxRounds int) string {
	s := fmt.Sprintf("round %d/%d: %s %s", m.Round, maxRounds, m.By, pastTense(m.Move))
	if len(m.Terms) > 0 && m.Move != MoveAccept {
		s += " " + FormatTerms(m.Terms)
	}
	return s
}
