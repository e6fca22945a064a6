package config

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Negotiation configures the negotiation engine and its escalation rules.
type Negotiation struct {
	// Rules start negotiations when a ticket change matches them; they are
	// compiled at start-up (package negotiation) and an invalid one stops
	// it, naming the rule.
	Rules []Rule `yaml:"rules"`
	// TurnTimeout bounds one turn: the blocking send and, for a task, the
	// polling until it ends.
	TurnTimeout time.Duration `yaml:"turn_timeout"`
	// Lease is how long a replica holds a negotiation it runs without
	// renewing it; another replica takes it over once it lapses.
	Lease time.Duration `yaml:"lease"`
	// RetryBackoff is the first wait before resending a turn after a
	// transport failure; it doubles for each retry.
	RetryBackoff time.Duration `yaml:"retry_backoff"`
}

// Rule is one escalation rule: when Trigger happens to a ticket and When
// holds, the Participants negotiate over Terms.
type Rule struct {
	// Name identifies the rule in logs, errors and negotiations; unique.
	Name string `yaml:"name"`
	// Trigger is the workspace event the rule listens to: ticket.saved
	// (any change to a ticket, the default) or ticket.escalated.
	Trigger string `yaml:"trigger"`
	// When is a CEL condition over `ticket` (the ticket as stored, with
	// its JSON field names and their types: refund_amount is a double,
	// version an int, created_at a timestamp, approval an object), e.g.
	// ticket.category == "billing" && ticket.refund_amount > 200.0. It is
	// type-checked at start-up: it must be a boolean, and a condition
	// that could only fail (ticket.refund_amount > "200") stops start-up
	// naming the rule. A field a ticket lacks reads as its zero value;
	// has(ticket.approval) tells whether it is there.
	When string `yaml:"when"`
	// Participants are registered agent names, two or more, in turn order.
	Participants []string `yaml:"participants"`
	// Opener is the participant who moves first. Default: the first.
	Opener string `yaml:"opener"`
	// Question is a Go text/template over .ticket saying what is decided,
	// e.g. "Approve an exception refund of {{money .ticket.refund_amount}}
	// for ticket {{.ticket.id}}?".
	Question string `yaml:"question"`
	// Terms are the terms under negotiation with the value asked for,
	// each a CEL expression over `ticket`, e.g. amount: ticket.refund_amount.
	// Each must give a value the JSON terms can hold (a number, a string,
	// a boolean, a time, a list or map of them), checked at start-up.
	Terms map[string]string `yaml:"terms"`
	// MaxRounds bounds the number of moves. Default 6.
	MaxRounds int `yaml:"max_rounds"`
	// Deadline bounds the negotiation's wall time from its start. Default 10m.
	Deadline time.Duration `yaml:"deadline"`
	// Fallback decides when no agreement is reached: deny (the default),
	// approve or ask_human.
	Fallback string `yaml:"fallback"`
}

// Negotiation defaults.
const (
	DefaultTurnTimeout  = 30 * time.Second
	DefaultLease        = 15 * time.Second
	DefaultRetryBackoff = 500 * time.Millisecond
	DefaultMaxRounds    = 6
	DefaultDeadline     = 10 * time.Minute
	TriggerTicketSaved  = "ticket.saved"
	TriggerEscalated    = "ticket.escalated"
	FallbackDeny        = "deny"
	FallbackApprove     = "approve"
	FallbackAskHuman    = "ask_human"
)

// Limits on escalation rules.
const (
	// MaxRuleRounds bounds a rule's max_rounds.
	MaxRuleRounds = 100
	// MaxRuleNameLen bounds a rule's name.
	MaxRuleNameLen = 128
)

// WithDefaults returns the rule with its defaults applied: trigger
// ticket.saved, the first participant as opener (and the opener spelt as
// in participants, which are matched ignoring case), max_rounds 6, deadline
// 10m, fallback deny. The question is left as it is: an empty question is
// built from the ticket and the terms when the rule fires (package
// negotiation).
func (r Rule) WithDefaults() Rule {
	r.Participants = slices.Clone(r.Participants)
	r.Terms = maps.Clone(r.Terms)
	if r.Trigger == "" {
		r.Trigger = TriggerTicketSaved
	}
	if r.Opener == "" && len(r.Participants) > 0 {
		r.Opener = r.Participants[0]
	}
	for _, p := range r.Participants {
		if strings.EqualFold(p, r.Opener) {
			r.Opener = p
			break
		}
	}
	if r.MaxRounds == 0 {
		r.MaxRounds = DefaultMaxRounds
	}
	if r.Deadline == 0 {
		r.Deadline = DefaultDeadline
	}
	if r.Fallback == "" {
		r.Fallback = FallbackDeny
	}
	return r
}

// Validate checks one rule's settings on their own (not the CEL
// expressions or the question template, which package negotiation
// compiles, nor that its name is unique among the rules). The error names
// the field: "participants: must ...".
func (r Rule) Validate() error {
	if ps := r.problems(); len(ps) > 0 {
		return fmt.Errorf("%s: %s", ps[0].field, ps[0].reason)
	}
	return nil
}

// ruleProblem is one invalid setting of a rule; field is relative to the
// rule ("participants[1]").
type ruleProblem struct{ field, value, reason string }

var ruleNameRe = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// problems lists the rule's invalid settings, in field order.
func (r Rule) problems() []ruleProblem {
	var out []ruleProblem
	bad := func(field, value, reason string) { out = append(out, ruleProblem{field, value, reason}) }

	switch {
	case r.Name == "":
		bad("name", r.Name, "every rule needs a name: logs, errors and negotiations name the rule")
	case len(r.Name) > MaxRuleNameLen || !ruleNameRe.MatchString(r.Name):
		bad("name", r.Name, fmt.Sprintf("must be 1 to %d letters, digits, '-', '_' or '.', e.g. refund-over-limit", MaxRuleNameLen))
	}
	switch r.Trigger {
	case "", TriggerTicketSaved, TriggerEscalated:
	default:
		bad("trigger", r.Trigger, fmt.Sprintf("must be %s (the default: any change to a ticket) or %s", TriggerTicketSaved, TriggerEscalated))
	}
	if strings.TrimSpace(r.When) == "" {
		bad("when", r.When, `must be a CEL condition over ticket, e.g. ticket.category == "billing" && ticket.refund_amount > 200.0 ('true' fires on every ticket)`)
	}
	if len(r.Participants) < 2 {
		bad("participants", strings.Join(r.Participants, ","), "must list two or more registered agent names, in turn order")
	}
	seen := make(map[string]int)
	for i, p := range r.Participants {
		f := fmt.Sprintf("participants[%d]", i)
		switch key := strings.ToLower(p); {
		case strings.TrimSpace(p) == "":
			bad(f, p, "must be a registered agent name, not empty")
		case strings.TrimSpace(p) != p:
			bad(f, p, "must not start or end with space")
		default:
			if j, dup := seen[key]; dup {
				bad(f, p, fmt.Sprintf("must be distinct (ignoring case): participants[%d] is %q", j, r.Participants[j]))
			} else {
				seen[key] = i
			}
		}
	}
	if r.Opener != "" && !slices.ContainsFunc(r.Participants, func(p string) bool { return strings.EqualFold(p, r.Opener) }) {
		bad("opener", r.Opener, "must be one of the participants ("+strings.Join(r.Participants, ", ")+"), or empty for the first")
	}
	names := slices.Sorted(maps.Keys(r.Terms))
	for _, name := range names {
		f := "terms." + name
		switch {
		case name == "" || !ruleNameRe.MatchString(name):
			bad("terms", name, "term names must be letters, digits, '-', '_' or '.', e.g. amount")
		case strings.TrimSpace(r.Terms[name]) == "":
			bad(f, r.Terms[name], "must be a CEL expression over ticket giving the value asked for, e.g. ticket.refund_amount")
		}
	}
	if r.MaxRounds < 0 || r.MaxRounds > MaxRuleRounds {
		bad("max_rounds", strconv.Itoa(r.MaxRounds), fmt.Sprintf("must be 1 to %d moves, or 0 for the default %d", MaxRuleRounds, DefaultMaxRounds))
	}
	if r.Deadline < 0 {
		bad("deadline", r.Deadline.String(), "must be a positive duration such as 10m, or 0 for the default "+DefaultDeadline.String())
	}
	switch r.Fallback {
	case "", FallbackDeny, FallbackApprove, FallbackAskHuman:
	default:
		bad("fallback", r.Fallback, fmt.Sprintf("must be %s (the default), %s or %s", FallbackDeny, FallbackApprove, FallbackAskHuman))
	}
	return out
}

// check adds one error per invalid negotiation setting.
func (n Negotiation) check(bad func(field, value, reason string)) {
	if n.TurnTimeout <= 0 {
		bad("negotiation.turn_timeout", n.TurnTimeout.String(), "must be a positive duration such as 30s")
	}
	if n.Lease <= 0 {
		bad("negotiation.lease", n.Lease.String(), "must be a positive duration such as 15s")
	}
	if n.RetryBackoff <= 0 {
		bad("negotiation.retry_backoff", n.RetryBackoff.String(), "must be a positive duration such as 500ms")
	}
	seen := make(map[string]int)
	for i, r := range n.Rules {
		prefix := fmt.Sprintf("negotiation.rules[%d]", i)
		for _, p := range r.problems() {
			bad(prefix+"."+p.field, p.value, p.reason)
		}
		if r.Name == "" {
			continue
		}
		if j, dup := seen[r.Name]; dup {
			bad(prefix+".name", r.Name, fmt.Sprintf("must be unique: negotiation.rules[%d] has the same name", j))
		} else {
			seen[r.Name] = i
		}
	}
}
