package negotiation_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/parleyhq/parley/negotiation"
	"github.com/parleyhq/parley/workspace"
)

// What agents and people write into a negotiation reaches other agents,
// the transcript and the ticket: hidden or reordering characters are
// refused where they come in (a move is invalid; a decision is refused).
func TestHiddenTextRefused(t *testing.T) {
	allowed := []string{negotiation.MovePropose, negotiation.MoveCounter, negotiation.MoveReject}
	moves := []struct {
		name string
		data string
		want string // "" valid
	}{
		{"multi-line rationale", `{"type": "` + negotiation.MoveType + `", "move": "reject", "rationale": "over policy\n\tsee limit"}`, ""},
		{"override in the rationale", `{"type": "` + negotiation.MoveType + `", "move": "reject", "rationale": "no\u202e"}`,
			"rationale: has a bidirectional control character (U+202E)"},
		{"ESC in the terms", `{"type": "` + negotiation.MoveType + `", "move": "propose", "terms": {"amount": 5, "note": "\u001b[2J"}}`,
			"terms.note: has a control character (U+001B)"},
		{"invalid UTF-8", "{\"type\": \"" + negotiation.MoveType + "\", \"move\": \"reject\", \"rationale\": \"\xff\"}", "rationale: is not valid UTF-8"},
	}
	for _, tt := range moves {
		t.Run(tt.name, func(t *testing.T) {
			_, err := negotiation.ParseMove(json.RawMessage(tt.data), allowed, nil)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("ParseMove = %v, want valid", err)
			case tt.want != "" && (!errors.Is(err, negotiation.ErrInvalidMove) || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("ParseMove = %v, want an invalid move: %q", err, tt.want)
			}
		})
	}
	for _, d := range []negotiation.Decision{
		{Approve: false, DecidedBy: "alice", Reason: "no\x1b[2J"},
		{Approve: true, DecidedBy: "alice", Terms: json.RawMessage(`{"amount": 1, "note": "\u2066"}`)},
	} {
		// Checked before the negotiation is looked up.
		var svc *negotiation.Service
		if _, err := svc.Decide(t.Context(), "neg-x", d); !errors.Is(err, negotiation.ErrInvalid) {
			t.Errorf("Decide(%+v) = %v, want invalid", d, err)
		}
	}
}

// An agent's error text is quoted in the outcome's reason; what the
// workspace would refuse is escaped in the write-back, so the outcome
// reaches the ticket instead of failing the write-back for ever.
// It runs on the real clock (retries do not sleep here): a write-back
// that fails for ever keeps the runner busy, which would stall a bubble's
// clock, while runUntil's timeout ends this test.
func TestWriteBackEscapesQuotedText(t *testing.T) {
	e := newEnv(t, script{"billing": biller(500, 300), "escalation": func(negotiation.Outgoing) (negotiation.Reply, error) {
		return negotiation.Reply{}, fmt.Errorf("%w: agent says \x1b[2J\u202eko", negotiation.ErrTransport)
	}}, negotiation.Options{})
	tk := e.ticket(t, workspace.StatusEscalated, 500)
	started, err := e.svc.Start(t.Context(), negotiation.StartRequest{TicketID: tk.ID, Participants: []string{"billing", "escalation"},
		Question: "Approve?", StartedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	v := e.runUntil(t, started.ID)
	if v.Outcome == nil || v.Outcome.Status != negotiation.StatusFailed {
		t.Fatalf("outcome %+v, want failed", v.Outcome)
	}
	got, err := e.ws.GetTicket(t.Context(), tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Approval == nil || !strings.Contains(got.Approval.Reason, `agent says \u001b[2J\u202eko`) || got.Status != workspace.StatusEscalated {
		t.Errorf("ticket %s approval %+v; want the outcome written back with the agent's text escaped", got.Status, got.Approval)
	}
}
