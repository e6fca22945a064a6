package demo

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/parleyhq/parley/negotiation"
)

func TestSplitReasons(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"category billing", []string{"category billing"}},
		{"category billing (refund); priority high (a; b)", []string{"category billing (refund)", "priority high (a; b)"}},
		{"a; ; b;", []string{"a", "", "b"}},
		{"unbalanced) x; y", []string{"unbalanced) x", "y"}},
	}
	for _, tt := range tests {
		if got := splitReasons(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("splitReasons(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := reasonFor("category billing (x); priority high (a; b)", "priority"); got != "priority high (a; b)" {
		t.Errorf("reasonFor(priority) = %q", got)
	}
	if got := reasonFor("category billing", "sentiment"); got != "" {
		t.Errorf("reasonFor(sentiment) = %q, want none", got)
	}
}

func TestDescribe(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"findings in key order", describeFindings(map[string]any{"tier": "high-value", "customer": "acme", "lifetime_value": 12000.0, "flags": []any{"x"}}),
			`customer: acme; flags: ["x"]; lifetime_value: 12000; tier: high-value`},
		{"findings not an object", describeFindings([]any{1.0}), `[1]`},
		{"detail: status and negotiation", describeDetail(json.RawMessage(`{"to":"negotiating","negotiation_id":"neg-1"}`)), "status → negotiating; negotiation neg-1"},
		{"detail: changed fields and decision", describeDetail(json.RawMessage(`{"changed":["refund_amount","priority"],"decision":"approved"}`)), "changed refund_amount, priority; decision approved"},
		{"detail: none", describeDetail(nil), ""},
		{"store password hidden", redactStore("postgres://u:secret@db:5432/parley"), "postgres://u:xxxxx@db:5432/parley"},
		{"store unparsable", redactStore("postgres://u:p@[::1"), "(unparsable store URL)"},
		{"store bare path", storeURL("/tmp/p.db"), "sqlite:///tmp/p.db"},
		{"store URL kept", storeURL("postgres://db/p"), "postgres://db/p"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

// Every kind of transcript entry is one row of six columns, with the
// time relative to the start.
func TestTranscriptRow(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := start.Add(1500 * time.Millisecond)
	tests := []struct {
		name string
		e    negotiation.Entry
		want string
	}{
		{"start", negotiation.Entry{At: start, Kind: negotiation.EntryStart, Text: "began"},
			"  +0.000s\t\tparley\tstart\t\tbegan"},
		{"turn with terms standing", negotiation.Entry{At: at, Kind: negotiation.EntryTurn, Round: 2, Participant: "escalation",
			Data: json.RawMessage(`{"allowed_moves":["counter","accept"],"standing":{"by":"billing","terms":{"amount":500}}}`)},
			"  +1.500s\t2\tparley → escalation\tturn\t\tyour move: counter, accept (standing: 500.00 by billing)"},
		{"resend", negotiation.Entry{At: at, Kind: negotiation.EntryResend, Round: 1, Participant: "billing", Text: "again"},
			"  +1.500s\t1\tparley → billing\tturn\t\tresent: again"},
		{"reply", negotiation.Entry{At: at, Kind: negotiation.EntryReply, Round: 1, Participant: "billing",
			Data: json.RawMessage(`{"move":"propose","terms":{"amount":500},"rationale":"loyal"}`)},
			"  +1.500s\t1\tbilling\tpropose\t500.00\tloyal"},
		{"reply without terms", negotiation.Entry{At: at, Kind: negotiation.EntryReply, Round: 3, Participant: "billing",
			Data: json.RawMessage(`{"move":"reject","rationale":"no"}`)},
			"  +1.500s\t3\tbilling\treject\t\tno"},
		{"outcome", negotiation.Entry{At: at, Kind: negotiation.EntryOutcome,
			Data: json.RawMessage(`{"status":"agreed","decision":"approved","terms":{"amount":350},"reason":"accepted"}`)},
			"  +1.500s\t\tparley\toutcome\t350.00\tagreed, approved: accepted"},
		{"retry", negotiation.Entry{At: at, Kind: negotiation.EntryRetry, Round: 2, Participant: "escalation", Error: "attempt 1 of 3"},
			"  +1.500s\t2\tescalation\tretry\t\tattempt 1 of 3"},
	}
	for _, tt := range tests {
		if got := transcriptRow(tt.e, start); got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}
