package observe

import (
	"errors"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every metric Parley exports: parley_mcp_requests_total.
const Namespace = "parley"

// Metrics is the registry one gateway's instruments are registered on. It
// is not Prometheus's global default registry: a process may hold several
// gateways (the tests build many), and each must export only its own.
//
// A nil *Metrics is valid everywhere: instruments made on it are
// registered on a private registry nobody scrapes, so that packages used
// without the assembly (their own unit tests) need no set-up and no
// nil checks on their hot paths.
type Metrics struct {
	reg *prometheus.Registry
}

// NewMetrics returns a registry with the standard Go runtime and process
// collectors (go_*, process_*) on it.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return &Metrics{reg: reg}
}

// Registry is the registry instruments go on, for tests that gather it
// (prometheus/testutil) and for collectors of other kinds. A nil Metrics
// returns a new private registry on each call.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return prometheus.NewRegistry()
	}
	return m.reg
}

// Handler serves the registry in the Prometheus exposition formats
// (text, and OpenMetrics when the scraper asks for it). Errors while
// gathering are logged by the caller's server, and the metrics that could
// be gathered are still served.
func (m *Metrics) Handler() http.Handler {
	reg := m.Registry()
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		Registry:          reg, // promhttp_metric_handler_errors_total
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
	})
}

// CounterVec registers and returns a counter vector. Namespace is set to
// Namespace when empty. Registering the same metric twice on one Metrics
// (two instances of a package over one gateway) returns the first.
func (m *Metrics) CounterVec(opts prometheus.CounterOpts, labels ...string) *prometheus.CounterVec {
	if opts.Namespace == "" {
		opts.Namespace = Namespace
	}
	return register(m, prometheus.NewCounterVec(opts, labels))
}

// Counter registers and returns a counter without labels, as CounterVec.
func (m *Metrics) Counter(opts prometheus.CounterOpts) prometheus.Counter {
	if opts.Namespace == "" {
		opts.Namespace = Namespace
	}
	return register(m, prometheus.NewCounter(opts))
}

// HistogramVec registers and returns a histogram vector, as CounterVec.
// Buckets default to DurationBuckets.
func (m *Metrics) HistogramVec(opts prometheus.HistogramOpts, labels ...string) *prometheus.HistogramVec {
	if opts.Namespace == "" {
		opts.Namespace = Namespace
	}
	if opts.Buckets == nil {
		opts.Buckets = DurationBuckets
	}
	return register(m, prometheus.NewHistogramVec(opts, labels))
}

// Histogram registers and returns a histogram without labels, as
// HistogramVec.
func (m *Metrics) Histogram(opts prometheus.HistogramOpts) prometheus.Histogram {
	if opts.Namespace == "" {
		opts.Namespace = Namespace
	}
	if opts.Buckets == nil {
		opts.Buckets = DurationBuckets
	}
	return register(m, prometheus.NewHistogram(opts))
}

// GaugeVec registers and returns a gauge vector, as CounterVec.
func (m *Metrics) GaugeVec(opts prometheus.GaugeOpts, labels ...string) *prometheus.GaugeVec {
	if opts.Namespace == "" {
		opts.Namespace = Namespace
	}
	return register(m, prometheus.NewGaugeVec(opts, labels))
}

// Gauge registers and returns a gauge without labels, as CounterVec.
func (m *Metrics) Gauge(opts prometheus.GaugeOpts) prometheus.Gauge {
	if opts.Namespace == "" {
		opts.Namespace = Namespace
	}
	return register(m, prometheus.NewGauge(opts))
}

// GaugeFunc registers a gauge whose value f returns at each scrape: for
// values the code keeps anyway (open sessions), so that nothing is
// counted on the hot path. f must be safe for concurrent use and quick.
// A second registration of the same name on one Metrics is ignored (the
// first function keeps answering).
func (m *Metrics) GaugeFunc(opts prometheus.GaugeOpts, f func() float64) {
	if opts.Namespace == "" {
		opts.Namespace = Namespace
	}
	register(m, prometheus.NewGaugeFunc(opts, f))
}

// DurationBuckets are the default histogram buckets for latencies, in
// seconds: from half a millisecond (a cached read) to a minute (a
// negotiation turn's timeout).
var DurationBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// register registers c on m, or returns the collector already registered
// under the same descriptor. Any other error is a programming mistake (two
// metrics of one name with different labels or help) and panics, as
// prometheus.MustRegister does, at start-up.
func register[C prometheus.Collector](m *Metrics, c C) C {
	if err := m.Registry().Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}
