package api_test

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/google/jsonschema-go/jsonschema"
)

// negotiationSchema resolves negotiation.schema.json, or, for a non-empty
// def, the schema of that $defs entry alone.
func negotiationSchema(t *testing.T, def string) *jsonschema.Resolved {
	t.Helper()
	doc, err := os.ReadFile("negotiation.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var s jsonschema.Schema
	if err := json.Unmarshal(doc, &s); err != nil {
		t.Fatalf("negotiation.schema.json: %v", err)
	}
	if def != "" {
		if s.Defs[def] == nil {
			t.Fatalf("negotiation.schema.json has no $defs/%s", def)
		}
		s.OneOf, s.Ref = nil, "#/$defs/"+def
	}
	rs, err := s.Resolve(nil)
	if err != nil {
		t.Fatalf("resolve negotiation.schema.json (%q): %v", def, err)
	}
	return rs
}

func decode(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return v
}

type exchange struct {
	MessageID string          `json:"message_id"`
	ContextID string          `json:"context_id"`
	To        string          `json:"to"`
	Text      string          `json:"text"`
	Turn      json.RawMessage `json:"turn"`
	Reply     json.RawMessage `json:"reply"`
}

type example struct {
	Extension     string          `json:"extension"`
	NegotiationID string          `json:"negotiation_id"`
	Exchange      []exchange      `json:"exchange"`
	Outcome       json.RawMessage `json:"outcome"`
}

func TestNegotiationExampleValidates(t *testing.T) {
	doc, err := os.ReadFile("negotiation-example.json")
	if err != nil {
		t.Fatal(err)
	}
	var ex example
	if err := json.Unmarshal(doc, &ex); err != nil {
		t.Fatal(err)
	}
	root, turnS, moveS, outcomeS := negotiationSchema(t, ""), negotiationSchema(t, "turn"), negotiationSchema(t, "move"), negotiationSchema(t, "outcome")
	if ex.Extension != "urn:parley:a2a:negotiation:v1" || len(ex.Exchange) != 3 {
		t.Fatalf("example: extension %q, %d exchanges; want the v1 URI and the 3-round demo", ex.Extension, len(ex.Exchange))
	}
	type turnT struct {
		Round, MaxRounds int
		You              string
		Standing         *struct {
			By    string
			Terms any
		}
		History      []map[string]any
		AllowedMoves []string `json:"allowed_moves"`
		Type         string
	}
	var standing any
	for i, x := range ex.Exchange {
		round := i + 1
		t.Run(fmt.Sprintf("round %d", round), func(t *testing.T) {
			turn, reply := decode(t, string(x.Turn)), decode(t, string(x.Reply))
			for name, c := range map[string]struct {
				rs *jsonschema.Resolved
				v  any
			}{"turn": {turnS, turn}, "turn (root)": {root, turn}, "move": {moveS, reply}, "move (root)": {root, reply}} {
				if err := c.rs.Validate(c.v); err != nil {
					t.Errorf("%s does not validate: %v", name, err)
				}
			}
			if err := moveS.Validate(turn); err == nil {
				t.Error("a turn validates as a move")
			}
			var tt turnT
			if err := json.Unmarshal(x.Turn, &tt); err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("%s/r%d/%s", ex.NegotiationID, round, x.To); x.MessageID != want || x.ContextID != ex.NegotiationID {
				t.Errorf("messageId %q contextId %q; want %q and %q", x.MessageID, x.ContextID, want, ex.NegotiationID)
			}
			if tt.Round != round || tt.You != x.To || len(tt.History) != round-1 || x.Text == "" {
				t.Errorf("turn round %d you %q history %d text %q", tt.Round, tt.You, len(tt.History), x.Text)
			}
			var got any
			if tt.Standing != nil {
				got = tt.Standing.Terms
			}
			if !reflect.DeepEqual(got, standing) {
				t.Errorf("standing %v, want %v", got, standing)
			}
			var mv struct {
				Move  string
				Terms any
			}
			if err := json.Unmarshal(x.Reply, &mv); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(strings.Join(tt.AllowedMoves, ","), mv.Move) {
				t.Errorf("move %q not in allowed_moves %v", mv.Move, tt.AllowedMoves)
			}
			switch mv.Move {
			case "propose", "counter":
				standing = mv.Terms
			case "accept":
				if !reflect.DeepEqual(mv.Terms, standing) {
					t.Errorf("accept terms %v, standing %v", mv.Terms, standing)
				}
			}
		})
	}
	outcome := decode(t, string(ex.Outcome))
	if err := outcomeS.Validate(outcome); err != nil {
		t.Errorf("outcome does not validate: %v", err)
	}
	if err := root.Validate(outcome); err != nil {
		t.Errorf("outcome does not validate against the root: %v", err)
	}
	o := outcome.(map[string]any)
	if o["status"] != "agreed" || o["rounds"] != float64(len(ex.Exchange)) || !reflect.DeepEqual(o["terms"], standing) ||
		o["negotiation_id"] != ex.NegotiationID {
		t.Errorf("outcome %v; want agreed after %d rounds on %v", o, len(ex.Exchange), standing)
	}
	if !reflect.DeepEqual(standing, map[string]any{"amount": 350.0}) {
		t.Errorf("agreed on %v, want amount 350", standing)
	}
}

// The NEGOTIATION.md examples, as given there.
const (
	docTurn = `{"type": "parley.negotiation.turn", "negotiation_id": "neg-01J", "round": 2, "max_rounds": 6,
  "deadline": "2026-11-21T20:00:00Z", "you": "escalation", "participants": ["billing", "escalation"],
  "question": "Approve an exception refund of 500.00 for ticket T-42?",
  "subject": {"kind": "ticket", "id": "T-42", "snapshot": {"id": "T-42", "refund_amount": 500}},
  "standing": {"by": "billing", "terms": {"amount": 500.00}},
  "history": [{"round": 1, "by": "billing", "move": "propose", "terms": {"amount": 500.00}, "rationale": "6-year customer, 12k lifetime value"}],
  "allowed_moves": ["counter", "accept", "reject"]}`
	docFirstTurn = `{"type": "parley.negotiation.turn", "negotiation_id": "neg-01J", "round": 1, "max_rounds": 6,
  "deadline": "2026-11-21T20:00:00Z", "you": "billing", "participants": ["billing", "escalation"], "question": "",
  "subject": {"kind": "ticket", "id": "T-42", "snapshot": {}}, "standing": null, "history": [], "allowed_moves": ["propose", "reject"]}`
	docMove    = `{"type": "parley.negotiation.move", "move": "counter", "terms": {"amount": 350.00}, "rationale": "policy cap for this tier"}`
	docOutcome = `{"negotiation_id": "neg-01J", "status": "agreed", "decision": "approved", "terms": {"amount": 350.00},
 "rounds": 3, "reason": "billing accepted escalation's counter", "decided_by": "agents", "decided_at": "2026-11-21T19:58:12Z"}`
)

// patch applies changes to a JSON object: a nil value deletes the key.
func patch(t *testing.T, doc string, changes map[string]any) any {
	t.Helper()
	v := decode(t, doc).(map[string]any)
	for k, c := range changes {
		if c == nil {
			delete(v, k)
		} else {
			v[k] = decode(t, fmt.Sprint(c))
		}
	}
	return v
}

func TestNegotiationSchema(t *testing.T) {
	schemas := map[string]*jsonschema.Resolved{}
	for _, d := range []string{"", "turn", "move", "outcome"} {
		schemas[d] = negotiationSchema(t, d)
	}
	tests := []struct {
		name  string
		def   string
		doc   any
		valid bool
		why   string // a word the error must mention
	}{
		{"the spec's turn", "turn", decode(t, docTurn), true, ""},
		{"first turn, nothing standing", "turn", decode(t, docFirstTurn), true, ""},
		{"first turn, moves in another order", "turn", patch(t, docFirstTurn, map[string]any{"allowed_moves": `["reject","propose"]`}), true, ""},
		{"the spec's move", "move", decode(t, docMove), true, ""},
		{"the spec's outcome", "outcome", decode(t, docOutcome), true, ""},
		{"reject without terms", "move", decode(t, `{"type": "parley.negotiation.move", "move": "reject"}`), true, ""},
		{"accept without terms", "move", decode(t, `{"type": "parley.negotiation.move", "move": "accept"}`), true, ""},
		{"pending human", "outcome", decode(t, `{"negotiation_id": "n", "status": "no_agreement", "decision": "pending_human", "rounds": 6, "reason": "6 moves without agreement"}`), true, ""},
		{"decided by a person", "outcome", decode(t, `{"negotiation_id": "n", "status": "no_agreement", "decision": "approved", "terms": {"amount": 300}, "rounds": 6, "decided_by": "alice@example.com", "decided_at": "2026-11-21T21:00:00+01:00"}`), true, ""},
		{"failed", "outcome", decode(t, `{"negotiation_id": "n", "status": "failed", "decision": "denied", "rounds": 2, "reason": "escalation unreachable", "decided_by": "agents", "decided_at": "2026-11-21T19:58:12Z"}`), true, ""},

		{"move of the wrong type", "move", patch(t, docMove, map[string]any{"type": `"parley.negotiation.turn"`}), false, "type"},
		{"unknown move", "move", patch(t, docMove, map[string]any{"move": `"approve"`}), false, "move"},
		{"counter without terms", "move", patch(t, docMove, map[string]any{"terms": nil}), false, "terms"},
		{"propose without terms", "", decode(t, `{"type": "parley.negotiation.move", "move": "propose"}`), false, ""},
		{"terms not an object", "move", patch(t, docMove, map[string]any{"terms": `350`}), false, "terms"},
		{"move missing", "move", patch(t, docMove, map[string]any{"move": nil}), false, "move"},
		{"turn without allowed moves", "turn", patch(t, docTurn, map[string]any{"allowed_moves": nil}), false, "allowed_moves"},
		{"counter while nothing stands", "turn", patch(t, docFirstTurn, map[string]any{"allowed_moves": `["counter","reject"]`}), false, ""},
		{"propose while terms stand", "turn", patch(t, docTurn, map[string]any{"allowed_moves": `["propose","counter","accept","reject"]`}), false, ""},
		{"round 0", "turn", patch(t, docTurn, map[string]any{"round": `0`}), false, "round"},
		{"fractional round", "turn", patch(t, docTurn, map[string]any{"round": `1.5`}), false, "round"},
		{"standing missing", "turn", patch(t, docTurn, map[string]any{"standing": nil}), false, "standing"},
		{"standing without terms", "turn", patch(t, docTurn, map[string]any{"standing": `{"by": "billing"}`}), false, ""},
		{"deadline not a time", "turn", patch(t, docTurn, map[string]any{"deadline": `"in ten minutes"`}), false, ""},
		{"one participant", "turn", patch(t, docTurn, map[string]any{"participants": `["billing"]`}), false, "participants"},
		{"history counter without terms", "turn", patch(t, docTurn, map[string]any{"history": `[{"round": 1, "by": "billing", "move": "propose"}]`}), false, ""},
		{"unknown status", "outcome", patch(t, docOutcome, map[string]any{"status": `"done"`}), false, "status"},
		{"agreed but denied", "outcome", patch(t, docOutcome, map[string]any{"decision": `"denied"`}), false, ""},
		{"agreed without terms", "outcome", patch(t, docOutcome, map[string]any{"terms": nil}), false, ""},
		{"agreed by the fallback", "outcome", patch(t, docOutcome, map[string]any{"decided_by": `"fallback"`}), false, ""},
		{"rejected but approved", "outcome", patch(t, docOutcome, map[string]any{"status": `"rejected"`}), false, ""},
		{"failed without reason", "outcome", patch(t, docOutcome, map[string]any{"status": `"failed"`, "decision": `"denied"`, "reason": nil}), false, ""},
		{"pending human with a decider", "outcome", patch(t, docOutcome, map[string]any{"status": `"no_agreement"`, "decision": `"pending_human"`}), false, ""},
		{"pending human after agreement", "outcome", patch(t, docOutcome, map[string]any{"decision": `"pending_human"`, "decided_by": nil, "decided_at": nil}), false, ""},
		{"decided without a time", "outcome", patch(t, docOutcome, map[string]any{"decided_at": nil}), false, ""},
		{"negative rounds", "outcome", patch(t, docOutcome, map[string]any{"rounds": `-1`}), false, "rounds"},
		{"not an object", "", decode(t, `"accept"`), false, ""},
		{"neither turn, move nor outcome", "", decode(t, `{"type": "parley.negotiation.offer", "move": "accept"}`), false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := schemas[tc.def].Validate(tc.doc)
			if tc.valid {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if tc.def != "" {
					if err := schemas[""].Validate(tc.doc); err != nil {
						t.Fatalf("refused by the root schema: %v", err)
					}
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted %v", tc.doc)
			}
			t.Logf("refused: %v", err)
			if tc.why != "" && !strings.Contains(err.Error(), tc.why) {
				t.Errorf("error %q does not mention %q", err, tc.why)
			}
			if tc.def != "" {
				if err := schemas[""].Validate(tc.doc); err == nil {
					t.Errorf("the root schema accepted %v", tc.doc)
				}
			}
		})
	}
}

// The schema's move enum is the moves of NEGOTIATION.md, nothing more.
func TestNegotiationSchemaMoves(t *testing.T) {
	doc, err := os.ReadFile("negotiation.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Defs map[string]struct {
			Enum []string `json:"enum"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(doc, &s); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.Defs["move_name"].Enum, ","); got != "propose,counter,accept,reject" {
		t.Errorf("moves %s", got)
	}
	if !regexp.MustCompile(`"\$schema": "https://json-schema.org/draft/2020-12/schema"`).Match(doc) {
		t.Error("not draft 2020-12")
	}
}
