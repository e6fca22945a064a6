package agents_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/parleyhq/parley/examples/agents"
)

// api/negotiation-example.json is what these agents really answer, with
// default options, to the turns it shows.
func TestExampleExchangeIsWhatTheAgentsSay(t *testing.T) {
	doc, err := os.ReadFile("../../api/negotiation-example.json")
	if err != nil {
		t.Fatal(err)
	}
	var ex struct {
		Exchange []struct {
			To    string          `json:"to"`
			Turn  agents.Turn     `json:"turn"`
			Reply json.RawMessage `json:"reply"`
		} `json:"exchange"`
	}
	if err := json.Unmarshal(doc, &ex); err != nil {
		t.Fatal(err)
	}
	if len(ex.Exchange) != 3 {
		t.Fatalf("%d exchanges", len(ex.Exchange))
	}
	for _, x := range ex.Exchange {
		a, err := agents.New(agents.Role(x.To), agents.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var want any
		if err := json.Unmarshal(x.Reply, &want); err != nil {
			t.Fatal(err)
		}
		got := a.Decide(x.Turn).DataPart().Data()
		if !jsonEqual(got, want) {
			g, _ := json.Marshal(got)
			t.Errorf("round %d: %s answers %s, the example says %s", x.Turn.Round, x.To, g, x.Reply)
		}
	}
}
