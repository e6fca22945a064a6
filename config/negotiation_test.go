package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/config"
)

const validRuleYAML = `
negotiation:
  turn_timeout: 45s
  lease: 20s
  retry_backoff: 250ms
  rules:
    - name: refund-over-limit
      trigger: ticket.saved
      when: ticket.category == "billing" && ticket.refund_amount > 200.0
      participants: [billing, escalation]
      opener: billing
      question: "Approve an exception refund of {{money .ticket.refund_amount}} for ticket {{.ticket.id}}?"
      terms:
        amount: ticket.refund_amount
      max_rounds: 8
      deadline: 5m
      fallback: ask_human
    - name: minimal_rule.2
      when: "true"
      participants: [a, b, c]
`

func TestLoadNegotiation(t *testing.T) {
	path := writeFile(t, "parley.yaml", validRuleYAML)
	cfg, err := config.Load([]string{"--config", path}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	n := cfg.Negotiation
	if n.TurnTimeout != 45*time.Second || n.Lease != 20*time.Second || n.RetryBackoff != 250*time.Millisecond {
		t.Errorf("timings = %v %v %v", n.TurnTimeout, n.Lease, n.RetryBackoff)
	}
	if len(n.Rules) != 2 {
		t.Fatalf("rules = %+v", n.Rules)
	}
	r := n.Rules[0]
	if r.Name != "refund-over-limit" || r.Terms["amount"] != "ticket.refund_amount" || r.MaxRounds != 8 ||
		r.Deadline != 5*time.Minute || r.Fallback != config.FallbackAskHuman || r.Opener != "billing" {
		t.Errorf("rule 0 = %+v", r)
	}

	// Defaults are applied by WithDefaults, not by Load.
	d := n.Rules[1].WithDefaults()
	want := config.Rule{
		Name: "minimal_rule.2", Trigger: config.TriggerTicketSaved, When: "true",
		Participants: []string{"a", "b", "c"}, Opener: "a",
		MaxRounds: config.DefaultMaxRounds, Deadline: config.DefaultDeadline, Fallback: config.FallbackDeny,
	}
	if d.Name != want.Name || d.Trigger != want.Trigger || d.Opener != want.Opener || d.MaxRounds != want.MaxRounds ||
		d.Deadline != want.Deadline || d.Fallback != want.Fallback || strings.Join(d.Participants, ",") != "a,b,c" {
		t.Errorf("WithDefaults = %+v, want %+v", d, want)
	}
	if n.Rules[1].Trigger != "" {
		t.Error("WithDefaults changed the rule it was called on")
	}
}

func TestNegotiationDefaults(t *testing.T) {
	cfg, err := config.Load(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	n := cfg.Negotiation
	if n.TurnTimeout != config.DefaultTurnTimeout || n.Lease != config.DefaultLease || n.RetryBackoff != config.DefaultRetryBackoff || len(n.Rules) != 0 {
		t.Errorf("defaults = %+v", n)
	}
}

func TestLoadNegotiationFlagsAndEnv(t *testing.T) {
	cfg, err := config.Load([]string{"--negotiation-lease", "1m", "--negotiation-retry-backoff", "2s"}, env(map[string]string{
		"PARLEY_NEGOTIATION_TURN_TIMEOUT": "7s",
		"PARLEY_NEGOTIATION_LEASE":        "9s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	n := cfg.Negotiation
	if n.TurnTimeout != 7*time.Second || n.Lease != time.Minute || n.RetryBackoff != 2*time.Second {
		t.Errorf("got %v %v %v", n.TurnTimeout, n.Lease, n.RetryBackoff)
	}
}

func TestWithDefaultsOpenerCase(t *testing.T) {
	r := config.Rule{Participants: []string{"Billing", "Escalation"}, Opener: "escalation"}.WithDefaults()
	if r.Opener != "Escalation" {
		t.Errorf("Opener = %q, want the participant's spelling", r.Opener)
	}
}

func TestRuleValidate(t *testing.T) {
	ok := config.Rule{Name: "r", When: "true", Participants: []string{"a", "b"}}
	if err := ok.Validate(); err != nil {
		t.Errorf("Validate(%+v) = %v", ok, err)
	}
	bad := ok
	bad.Participants = []string{"a", "A"}
	if err := bad.Validate(); err == nil || !strings.HasPrefix(err.Error(), "participants[1]: ") {
		t.Errorf("Validate(%+v) = %v, want a participants[1] error", bad, err)
	}
}

func TestLoadNegotiationInvalid(t *testing.T) {
	// rule wraps the fields of one rule (indented under "- ") in a config.
	rule := func(fields string) string {
		return "negotiation:\n  rules:\n    - " + strings.ReplaceAll(strings.TrimSpace(fields), "\n", "\n      ") + "\n"
	}
	base := "name: r\nwhen: 'true'\nparticipants: [billing, escalation]\n"
	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		file      string
		wantField string
		wantLine  int
		wantMsg   []string
	}{
		{name: "no name", file: rule("when: 'true'\nparticipants: [a, b]"),
			wantField: "negotiation.rules[0].name", wantMsg: []string{"needs a name"}},
		{name: "name with a space", file: rule("name: refund over limit\nwhen: 'true'\nparticipants: [a, b]"),
			wantField: "negotiation.rules[0].name", wantLine: 3, wantMsg: []string{"letters, digits"}},
		{name: "name with a slash", file: rule("name: a/b\nwhen: 'true'\nparticipants: [a, b]"),
			wantField: "negotiation.rules[0].name"},
		{name: "name too long", file: rule("name: " + strings.Repeat("x", 129) + "\nwhen: 'true'\nparticipants: [a, b]"),
			wantField: "negotiation.rules[0].name"},
		{name: "names repeat",
			file:      "negotiation:\n  rules:\n    - {name: r, when: 'true', participants: [a, b]}\n    - {name: r, when: 'true', participants: [a, b]}\n",
			wantField: "negotiation.rules[1].name", wantLine: 4, wantMsg: []string{"unique", "negotiation.rules[0]"}},
		{name: "unknown trigger", file: rule(base + "trigger: ticket.deleted"),
			wantField: "negotiation.rules[0].trigger", wantLine: 6, wantMsg: []string{"ticket.saved", "ticket.escalated"}},
		{name: "no condition", file: rule("name: r\nparticipants: [a, b]"),
			wantField: "negotiation.rules[0].when", wantMsg: []string{"CEL"}},
		{name: "blank condition", file: rule("name: r\nwhen: '  '\nparticipants: [a, b]"),
			wantField: "negotiation.rules[0].when"},
		{name: "no participants", file: rule("name: r\nwhen: 'true'"),
			wantField: "negotiation.rules[0].participants", wantMsg: []string{"two or more"}},
		{name: "one participant", file: rule("name: r\nwhen: 'true'\nparticipants: [billing]"),
			wantField: "negotiation.rules[0].participants", wantLine: 5},
		{name: "empty participant", file: rule("name: r\nwhen: 'true'\nparticipants: [billing, '']"),
			wantField: "negotiation.rules[0].participants[1]", wantMsg: []string{"not empty"}},
		{name: "participant with spaces", file: rule("name: r\nwhen: 'true'\nparticipants: [billing, ' x']"),
			wantField: "negotiation.rules[0].participants[1]", wantMsg: []string{"space"}},
		{name: "participants repeat ignoring case", file: rule("name: r\nwhen: 'true'\nparticipants: [billing, escalation, Billing]"),
			wantField: "negotiation.rules[0].participants[2]", wantMsg: []string{"distinct", "participants[0]"}},
		{name: "opener not a participant", file: rule(base + "opener: triage"),
			wantField: "negotiation.rules[0].opener", wantLine: 6, wantMsg: []string{"billing, escalation"}},
		{name: "max rounds negative", file: rule(base + "max_rounds: -1"),
			wantField: "negotiation.rules[0].max_rounds", wantMsg: []string{"1 to 100"}},
		{name: "max rounds too many", file: rule(base + "max_rounds: 101"),
			wantField: "negotiation.rules[0].max_rounds"},
		{name: "max rounds not a number", file: rule(base + "max_rounds: six"),
			wantField: "negotiation.rules[0].max_rounds", wantMsg: []string{"whole number"}},
		{name: "negative deadline", file: rule(base + "deadline: -1m"),
			wantField: "negotiation.rules[0].deadline", wantMsg: []string{"positive"}},
		{name: "deadline not a duration", file: rule(base + "deadline: soon"),
			wantField: "negotiation.rules[0].deadline", wantMsg: []string{"duration"}},
		{name: "unknown fallback", file: rule(base + "fallback: escalate"),
			wantField: "negotiation.rules[0].fallback", wantMsg: []string{"deny", "approve", "ask_human"}},
		{name: "blank term", file: rule(base + "terms: {amount: ''}"),
			wantField: "negotiation.rules[0].terms.amount", wantMsg: []string{"CEL expression"}},
		{name: "bad term name", file: rule(base + "terms: {'a b': x}"),
			wantField: "negotiation.rules[0].terms", wantMsg: []string{"term names"}},
		{name: "unknown key in a rule", file: rule(base + "participant: [a, b]"),
			wantMsg: []string{`unknown key "negotiation.rules[0].participant"`, "participants"}},
		{name: "second rule is the bad one",
			file:      "negotiation:\n  rules:\n    - {name: a, when: 'true', participants: [x, y]}\n    - {name: b, when: 'true', participants: [x, y], fallback: maybe}\n",
			wantField: "negotiation.rules[1].fallback", wantLine: 4},
		{name: "zero turn timeout in the file", file: "negotiation:\n  turn_timeout: 0s\n",
			wantField: "negotiation.turn_timeout", wantLine: 2, wantMsg: []string{"positive"}},
		{name: "negative lease from the environment", env: map[string]string{"PARLEY_NEGOTIATION_LEASE": "-5s"},
			wantField: "negotiation.lease", wantMsg: []string{"(from PARLEY_NEGOTIATION_LEASE)"}},
		{name: "zero retry backoff from a flag", args: []string{"--negotiation-retry-backoff", "0"},
			wantField: "negotiation.retry_backoff", wantMsg: []string{"(from --negotiation-retry-backoff)"}},
		{name: "turn timeout not a duration", env: map[string]string{"PARLEY_NEGOTIATION_TURN_TIMEOUT": "30"},
			wantField: "negotiation.turn_timeout", wantMsg: []string{"duration"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append([]string{"--config", writeFile(t, "parley.yaml", tt.file)}, args...)
			}
			_, err := config.Load(args, env(tt.env))
			if err == nil {
				t.Fatal("Load succeeded")
			}
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T) is not a *config.Error", err, err)
			}
			if ce.Field != tt.wantField {
				t.Errorf("Field = %q, want %q (%v)", ce.Field, tt.wantField, err)
			}
			if tt.wantLine != 0 && ce.Source.Line != tt.wantLine {
				t.Errorf("Line = %d, want %d (%v)", ce.Source.Line, tt.wantLine, err)
			}
			for _, sub := range tt.wantMsg {
				if !strings.Contains(err.Error(), sub) {
					t.Errorf("error %q does not contain %q", err, sub)
				}
			}
		})
	}
}

func TestUsageNegotiation(t *testing.T) {
	var buf strings.Builder
	config.Usage(&buf)
	for _, want := range []string{
		"-negotiation-turn-timeout", "PARLEY_NEGOTIATION_TURN_TIMEOUT", "(default 30s)",
		"-negotiation-lease", "PARLEY_NEGOTIATION_LEASE", "(default 15s)",
		"-negotiation-retry-backoff", "PARLEY_NEGOTIATION_RETRY_BACKOFF", "(default 500ms)",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("usage lacks %q", want)
		}
	}
}
