package auth

import (
	"errors"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/observe"
)

// authMetrics count what auth refuses. Labels are bounded: endpoints are
// the faces' fixed names, reasons the Reason constants, permission kinds
// the Kind constants and rules the policy's rule names (configuration)
// and the built-in ones.
type authMetrics struct {
	refusals *prometheus.CounterVec
	denials  *prometheus.CounterVec
}

func newAuthMetrics(m *observe.Metrics) *authMetrics {
	return &authMetrics{
		refusals: m.CounterVec(prometheus.CounterOpts{Subsystem: "auth", Name: "token_refusals_total",
			Help: "Requests refused before the policy: no, bad or expired token, or missing scopes; by endpoint (mcp, a2a, grpc, admin; /metrics counts as admin) and reason."},
			"endpoint", "reason"),
		denials: m.CounterVec(prometheus.CounterOpts{Subsystem: "auth", Name: "policy_denials_total",
			Help: "Calls the permission policy denied, by permission kind (tool, prompt, resource, agent, admin) and the rule that decided."},
			"kind", "rule"),
	}
}

// refusalReason names why a request was refused, as a label.
func refusalReason(err error) string {
	var te *TokenError
	if errors.As(err, &te) {
		return strings.ReplaceAll(string(te.Reason), " ", "_")
	}
	var ms missingScopesError
	if errors.As(err, &ms) {
		return "insufficient_scope"
	}
	return "other"
}

// missingScopesError marks a refusal for want of the required scopes,
// keeping the text of the error it wraps.
type missingScopesError struct{ error }

func (e missingScopesError) Unwrap() error { return e.error }

func (am *authMetrics) refused(endpoint string, err error) {
	am.refusals.WithLabelValues(endpoint, refusalReason(err)).Inc()
}

// permissionKinds are the kinds a permission's prefix may name.
var permissionKinds = map[string]bool{KindTool: true, KindPrompt: true, KindResource: true, KindAgent: true, KindAdmin: true, KindUpstream: true}

func (am *authMetrics) denied(permission, rule string) {
	kind, _, _ := strings.Cut(permission, ":")
	if !permissionKinds[kind] {
		kind = "other"
	}
	am.denials.WithLabelValues(kind, rule).Inc()
}
