package sqlstore

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/observe"
)

// storeMetrics are the store's instruments: how long write transactions
// take, by operation, and how far behind its commit a change reaches the
// feed's subscribers. A nil *storeMetrics (a store nobody set metrics on)
// counts nothing, at the cost of a nil check.
type storeMetrics struct {
	txDuration *prometheus.HistogramVec
	ops        observe.Children[string, prometheus.Observer] // ops are the code's constants
	feedLag    prometheus.Histogram
}

// SetMetrics makes db count its write transactions and change-feed
// deliveries on m. Call it once, before the store is used: the assembly
// (app.Build) does, right after opening it.
func (db *DB) SetMetrics(m *observe.Metrics) {
	db.metrics = &storeMetrics{
		txDuration: m.HistogramVec(prometheus.HistogramOpts{Subsystem: "store", Name: "transaction_duration_seconds",
			Help: "Time a write transaction takes, from its start (or its place in a group commit's queue) to its commit, by operation."}, "op"),
		feedLag: m.Histogram(prometheus.HistogramOpts{Subsystem: "store", Name: "feed_delivery_lag_seconds",
			Help:    "Time from a change's timestamp (its commit, as the writer stamped it) to its delivery to a change-feed subscriber (resource notifications, negotiations, caches).",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}}),
	}
}

// txDone observes a write transaction op begun at start; deferred by
// inTx: defer db.metrics.txDone(op, time.Now()).
func (sm *storeMetrics) txDone(op string, start time.Time) {
	if sm == nil {
		return
	}
	o, ok := sm.ops.Lookup(op)
	if !ok {
		o = sm.ops.Get(op, func() prometheus.Observer { return sm.txDuration.WithLabelValues(op) })
	}
	o.Observe(time.Since(start).Seconds())
}

// feedDelivered observes a change stamped at handed to a subscriber.
func (sm *storeMetrics) feedDelivered(at time.Time) {
	if sm == nil || at.IsZero() {
		return
	}
	sm.feedLag.Observe(max(time.Since(at), 0).Seconds())
}
