package audit

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/observe"
)

// NotedOutcome returns the outcome the handler noted for the call in ctx
// so far (NoteDenied: Denied; NoteFailed: Error), or "" when it noted
// none or ctx carries no Note. Metrics middleware inside Middleware reads
// it to count as failed the calls whose failure the answer's status does
// not show (a JSON-RPC error answered with 200).
func NotedOutcome(ctx context.Context) string {
	n := noteFrom(ctx)
	if n == nil {
		return ""
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.outcome
}

// auditMetrics count the group commits of audit records. A nil
// *auditMetrics (a Log nobody set metrics on) counts nothing.
type auditMetrics struct {
	batch    prometheus.Histogram
	failures prometheus.Counter
}

// SetMetrics makes l count its group commits on m: the records per batch
// and the batches that failed. Call it before Run (app.Build does).
func (l *Log) SetMetrics(m *observe.Metrics) {
	l.metrics = &auditMetrics{
		batch: m.Histogram(prometheus.HistogramOpts{Subsystem: "audit", Name: "batch_records",
			Help:    "Audit records committed together by one group commit.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}}),
		failures: m.Counter(prometheus.CounterOpts{Subsystem: "audit", Name: "batch_failures_total",
			Help: "Group commits of audit records that failed (their callers are told; records of committed writes wait in the outbox)."}),
	}
}

// batchCommitted counts a group commit of records (queued ones, not those
// chained from the outbox) that ended with err.
func (am *auditMetrics) batchCommitted(records int, err error) {
	if am == nil || records == 0 {
		return
	}
	if err != nil {
		am.failures.Inc()
		return
	}
	am.batch.Observe(float64(records))
}
