package auth

import (
	"errors"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/parleyhq/parley/observe"
)

func TestRefusalReason(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"missing", &TokenError{Reason: ReasonMissing}, "missing"},
		{"expired, wrapped", fmt.Errorf("mcp: %w", &TokenError{Reason: ReasonExpired}), "expired"},
		{"spaces become underscores", &TokenError{Reason: ReasonBadSignature}, "bad_signature"},
		{"scopes", missingScopesError{errors.New("principal alice lacks required scopes")}, "insufficient_scope"},
		{"anything else", errors.New("boom"), "other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := refusalReason(tt.err); got != tt.want {
				t.Errorf("refusalReason(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
	// The wrapper keeps the text the log and the audit record show.
	if got := (missingScopesError{errors.New("principal alice lacks required scopes")}).Error(); got != "principal alice lacks required scopes" {
		t.Errorf("missingScopesError text = %q", got)
	}
}

func TestDenialKinds(t *testing.T) {
	m := observe.NewMetrics()
	am := newAuthMetrics(m)
	am.denied(ToolPermission("save_ticket"), "default-deny")
	am.denied(AgentPermission("billing", AgentMessage), "no-agents")
	am.denied("made-up:"+"x", "default-deny")
	for _, tt := range []struct {
		kind, rule string
		want       float64
	}{
		{"tool", "default-deny", 1}, {"agent", "no-agents", 1}, {"other", "default-deny", 1},
	} {
		if got := testutil.ToFloat64(am.denials.WithLabelValues(tt.kind, tt.rule)); got != tt.want {
			t.Errorf("denials{kind=%q,rule=%q} = %v, want %v", tt.kind, tt.rule, got, tt.want)
		}
	}
}
