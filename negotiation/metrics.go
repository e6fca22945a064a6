package negotiation

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/observe"
)

// negotiationMetrics are the negotiation engine's instruments. Labels are
// bounded: rule names come from the configuration, outcomes and decisions
// from the constants in wire.go.
type negotiationMetrics struct {
	started  *prometheus.CounterVec
	finished *prometheus.CounterVec
	rounds   prometheus.Histogram
	duration prometheus.Histogram
	fired    *prometheus.CounterVec
}

func newNegotiationMetrics(m *observe.Metrics) *negotiationMetrics {
	return &negotiationMetrics{
		started: m.CounterVec(prometheus.CounterOpts{Subsystem: "negotiations", Name: "started_total",
			Help: "Negotiations started, by the escalation rule that started them (empty: started by hand)."}, "rule"),
		finished: m.CounterVec(prometheus.CounterOpts{Subsystem: "negotiations", Name: "finished_total",
			Help: "Negotiations ended and written back, by outcome (agreed, rejected, no_agreement, failed) and decision (approved, denied, pending_human)."},
			"outcome", "decision"),
		rounds: m.Histogram(prometheus.HistogramOpts{Subsystem: "negotiations", Name: "rounds",
			Help:    "Moves a negotiation took before it ended.",
			Buckets: []float64{0, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20}}),
		duration: m.Histogram(prometheus.HistogramOpts{Subsystem: "negotiations", Name: "duration_seconds",
			Help:    "Time from a negotiation's start to its outcome being written back.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}}),
		fired: m.CounterVec(prometheus.CounterOpts{Name: "rules_fired_total",
			Help: "Escalation rules whose condition held for a ticket change, by rule."}, "rule"),
	}
}

// ruleFired counts a rule whose condition held.
func (nm *negotiationMetrics) ruleFired(rule string) { nm.fired.WithLabelValues(rule).Inc() }

// negotiationStarted counts a negotiation created (not one found existing).
func (nm *negotiationMetrics) negotiationStarted(rule string) { nm.started.WithLabelValues(rule).Inc() }

// negotiationEnded counts a negotiation whose outcome was written back,
// once: a person's later decision on a pending one is not counted again.
func (nm *negotiationMetrics) negotiationEnded(st *State, now time.Time) {
	o := st.Outcome
	if o == nil {
		return
	}
	nm.finished.WithLabelValues(o.Status, o.Decision).Inc()
	nm.rounds.Observe(float64(o.Rounds))
	if !st.StartedAt.IsZero() {
		nm.duration.Observe(max(now.Sub(st.StartedAt), 0).Seconds())
	}
}
