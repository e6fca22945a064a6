package mcpbridge

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/observe"
)

// eventStoreMetrics are the durable MCP event store's instruments: what
// it holds and queues (read at scrape time), what it is handed, and its
// sweeps. The stored events themselves are not counted: that would be a
// query of the store at every scrape.
type eventStoreMetrics struct {
	appended prometheus.Counter
	sweeps   *prometheus.CounterVec
	swept    prometheus.Counter
}

func newEventStoreMetrics(m *observe.Metrics, s *EventStore) *eventStoreMetrics {
	m.GaugeFunc(prometheus.GaugeOpts{Subsystem: "mcp", Name: "event_sessions",
		Help: "MCP sessions whose streams this replica's event store is writing."}, func() float64 {
		s.mu.Lock()
		defer s.mu.Unlock()
		return float64(len(s.sessions))
	})
	m.GaugeFunc(prometheus.GaugeOpts{Subsystem: "mcp", Name: "event_write_queue",
		Help: "MCP stream events and openings queued for the store, not yet committed."}, func() float64 {
		s.mu.Lock()
		defer s.mu.Unlock()
		return float64(len(s.queue))
	})
	return &eventStoreMetrics{
		appended: m.Counter(prometheus.CounterOpts{Subsystem: "mcp", Name: "events_appended_total",
			Help: "MCP stream events handed to the event store (for resumable streams)."}),
		sweeps: m.CounterVec(prometheus.CounterOpts{Subsystem: "mcp", Name: "event_sweeps_total",
			Help: "Sweeps of idle MCP event streams, by result (ok, error)."}, "result"),
		swept: m.Counter(prometheus.CounterOpts{Subsystem: "mcp", Name: "event_streams_swept_total",
			Help: "Idle MCP event streams (with their events) deleted by sweeps."}),
	}
}

func (em *eventStoreMetrics) sweptStreams(n int64, err error) {
	if err != nil {
		em.sweeps.WithLabelValues("error").Inc()
		return
	}
	em.sweeps.WithLabelValues("ok").Inc()
	em.swept.Add(float64(n))
}
