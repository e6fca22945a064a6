package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/observe"
)

// MetricsPath is where the Prometheus exposition is served.
const MetricsPath = "/metrics"

// httpMetrics count every HTTP request by the route that served it (the
// chi pattern, "/a2a/agents/*" rather than the agent's path, so that the
// label stays bounded) and the class of its status (2xx…5xx).
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
	routes   observe.Children[string, *routeInstruments]
}

// routeInstruments are one route's children, looked up on its first
// request (routes are the ones mounted: a bounded set).
type routeInstruments struct {
	byClass  [6]prometheus.Counter // index: status / 100 (2…5); 0 and 1 unused
	duration prometheus.Observer
}

// unmatchedRoute labels requests no route matched (404s of any path).
const unmatchedRoute = "unmatched"

func newHTTPMetrics(m *observe.Metrics) *httpMetrics {
	return &httpMetrics{
		requests: m.CounterVec(prometheus.CounterOpts{Subsystem: "http", Name: "requests_total",
			Help: "HTTP requests answered, by route pattern and status class (2xx, 3xx, 4xx, 5xx)."}, "route", "code"),
		duration: m.HistogramVec(prometheus.HistogramOpts{Subsystem: "http", Name: "request_duration_seconds",
			Help: "Time to answer an HTTP request (a stream: until it ends), by route pattern."}, "route"),
		inFlight: m.Gauge(prometheus.GaugeOpts{Subsystem: "http", Name: "requests_in_flight",
			Help: "HTTP requests being served (streams included)."}),
	}
}

// statusClasses name the classes of final statuses (an informational 1xx
// is not an answer).
var statusClasses = [6]string{2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}

func (hm *httpMetrics) route(pattern string) *routeInstruments {
	if ri, ok := hm.routes.Lookup(pattern); ok {
		return ri // without making a closure: the hot path allocates nothing
	}
	return hm.routes.Get(pattern, func() *routeInstruments {
		ri := &routeInstruments{duration: hm.duration.WithLabelValues(pattern)}
		for class := 2; class < len(statusClasses); class++ {
			ri.byClass[class] = hm.requests.WithLabelValues(pattern, statusClasses[class])
		}
		return ri
	})
}

// metrics counts requests. It goes inside accessLog, whose wrapper records
// the status this reads.
func (g *Gateway) metrics(next http.Handler) http.Handler {
	hm := g.httpMetrics
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		hm.inFlight.Inc()
		defer func() {
			hm.inFlight.Dec()
			status := http.StatusOK // nothing written: net/http sends 200
			if sw, ok := w.(interface{ Status() int }); ok && sw.Status() != 0 {
				status = sw.Status()
			}
			pattern := unmatchedRoute
			// The pattern is known once routing is done: after next.
			if rc := chi.RouteContext(r.Context()); rc != nil {
				if p := rc.RoutePattern(); p != "" {
					pattern = p
				}
			}
			ri := hm.route(pattern)
			class := status / 100
			switch {
			case class < 2:
				class = 2 // the first status written was informational
			case class >= len(statusClasses):
				class = 5
			}
			ri.byClass[class].Inc()
			ri.duration.Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(w, r)
	})
}

// ServeMetrics serves h at MetricsPath on ln, a listener of its own
// (metrics.listen), until ctx is done, then drains as Serve does. The
// listener answers nothing else, and only to requests whose Host the
// gateway accepts (the same DNS-rebinding guard as the main listener). It
// asks for no token: Prometheus scrapes without one, so the listener is
// protected by where it is bound (loopback, or a network only the
// scraper reaches). Serve closes ln.
func (g *Gateway) ServeMetrics(ctx context.Context, ln net.Listener, h http.Handler) error {
	mux := http.NewServeMux()
	mux.Handle("GET "+MetricsPath, h)
	srv := &http.Server{
		Handler:           g.checkHostOrigin(mux),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
	g.log.Info("metrics listening", "addr", ln.Addr().String(), "path", MetricsPath)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("gateway: serve metrics: %w", err)
	case <-ctx.Done():
	}
	drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(drainCtx)
	if err != nil {
		err = fmt.Errorf("gateway: drain metrics requests: %w", errors.Join(err, srv.Close()))
	}
	if serveErr := <-served; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, fmt.Errorf("gateway: serve metrics: %w", serveErr))
	}
	return err
}
