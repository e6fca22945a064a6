package negotiation_test

import (
	"encoding/json"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/negotiation"
	"github.com/parleyhq/parley/observe"
	"github.com/parleyhq/parley/workspace"
)

// TestMetrics: a rule that fires, the negotiation it starts and how it
// ends are counted: started by rule, finished by outcome and decision,
// its rounds and its duration (on the bubble's clock: the agents think
// for a second each).
func TestMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		slow := func(f func(negotiation.Outgoing) (negotiation.Reply, error)) func(negotiation.Outgoing) (negotiation.Reply, error) {
			return func(out negotiation.Outgoing) (negotiation.Reply, error) {
				time.Sleep(time.Second)
				return f(out)
			}
		}
		rules, err := negotiation.CompileRules([]config.Rule{{
			Name:         "refund-over-limit",
			When:         `ticket.category == "billing" && ticket.refund_amount > 200.0`,
			Participants: []string{"billing", "escalation"},
			Question:     "Approve a refund of {{money .ticket.refund_amount}}?",
			Terms:        map[string]string{"amount": "ticket.refund_amount"},
		}}, negotiation.RuleOptions{})
		if err != nil {
			t.Fatal(err)
		}
		m := observe.NewMetrics()
		e := newEnv(t, script{"billing": slow(biller(500, 300)), "escalation": slow(approver(350, 2000))},
			negotiation.Options{Rules: rules, Metrics: m})

		tk := e.ticket(t, workspace.StatusNew, 500)
		started, err := e.svc.TicketChanged(t.Context(), tk, "save", "test", nil, "")
		if err != nil || len(started) != 1 {
			t.Fatalf("TicketChanged = %+v, %v; want one negotiation", started, err)
		}
		v := e.runUntil(t, started[0].ID)
		if v.Outcome == nil || v.Outcome.Status != negotiation.StatusAgreed || v.Outcome.Rounds != 3 {
			t.Fatalf("outcome %+v, want agreed in 3 rounds", v.Outcome)
		}
		// By hand, on another ticket: no rule.
		other := e.ticket(t, workspace.StatusEscalated, 100)
		byHand, err := e.svc.Start(t.Context(), negotiation.StartRequest{TicketID: other.ID, Participants: []string{"escalation", "billing"},
			Question: "Approve?", Terms: json.RawMessage(`{"amount": 100}`), StartedBy: "test"})
		if err != nil {
			t.Fatal(err)
		}
		// Escalation opens at its limit, which billing accepts.
		if v := e.runUntil(t, byHand.ID); v.Outcome == nil || v.Outcome.Status != negotiation.StatusAgreed || v.Outcome.Rounds != 2 {
			t.Fatalf("outcome by hand %+v, want agreed in 2 rounds", v.Outcome)
		}

		const want = `
# HELP parley_negotiations_finished_total Negotiations ended and written back, by outcome (agreed, rejected, no_agreement, failed) and decision (approved, denied, pending_human).
# TYPE parley_negotiations_finished_total counter
parley_negotiations_finished_total{decision="approved",outcome="agreed"} 2
# HELP parley_negotiations_started_total Negotiations started, by the escalation rule that started them (empty: started by hand).
# TYPE parley_negotiations_started_total counter
parley_negotiations_started_total{rule=""} 1
parley_negotiations_started_total{rule="refund-over-limit"} 1
# HELP parley_rules_fired_total Escalation rules whose condition held for a ticket change, by rule.
# TYPE parley_rules_fired_total counter
parley_rules_fired_total{rule="refund-over-limit"} 1
`
		if err := testutil.GatherAndCompare(m.Registry(), stringsReader(want),
			"parley_negotiations_finished_total", "parley_negotiations_started_total", "parley_rules_fired_total"); err != nil {
			t.Error(err)
		}
		families, err := m.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][2]float64{} // count, sum
		for _, f := range families {
			switch f.GetName() {
			case "parley_negotiations_rounds", "parley_negotiations_duration_seconds":
				h := f.GetMetric()[0].GetHistogram()
				got[f.GetName()] = [2]float64{float64(h.GetSampleCount()), h.GetSampleSum()}
			}
		}
		// Rounds 3 and 2; 3 turns of a second and 2 (the clock is the
		// bubble's: exact).
		wantHist := map[string][2]float64{
			"parley_negotiations_rounds":           {2, 5},
			"parley_negotiations_duration_seconds": {2, 5},
		}
		if diff := cmp.Diff(wantHist, got); diff != "" {
			t.Errorf("histograms (-want +got):\n%s", diff)
		}
	})
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }
