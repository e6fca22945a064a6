package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/a2a"
	"github.com/parleyhq/parley/a2a/relay"
	"github.com/parleyhq/parley/adminapi"
	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/internal/httpstatus"
	"github.com/parleyhq/parley/internal/jsonrpcedge"
	"github.com/parleyhq/parley/observe"
	"github.com/parleyhq/parley/store"
)

// mountMetrics serves /metrics as cfg.Metrics says: on a listener of its
// own (bound here, so that Build fails on a bad address and MetricsAddr is
// known; served by Run), or on the main listener behind the admin API's
// authentication and the admin:read_metrics permission.
func (a *App) mountMetrics(ctx context.Context, cfg config.Config, authn *auth.Service) error {
	if !cfg.Metrics.Enabled {
		return nil
	}
	if cfg.Metrics.Listen != "" {
		ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Metrics.Listen)
		if err != nil {
			return fmt.Errorf("listen on %s (metrics.listen): %w", cfg.Metrics.Listen, err)
		}
		a.metricsLn = ln
		a.MetricsAddr = ln.Addr().String()
		a.onClose(func() error { return ignoreClosed(ln.Close()) })
		return nil
	}
	a.MetricsAddr = a.Addr
	authorize := authn.AdminAuthorizer(adminapi.ErrUnauthenticated)
	h := a.Metrics.Handler()
	a.Gateway.Router().With(authn.Admin).Get(gateway.MetricsPath, func(w http.ResponseWriter, r *http.Request) {
		if err := authorize(r, auth.AdminReadMetrics); err != nil {
			if errors.Is(err, adminapi.ErrUnauthenticated) {
				gateway.WriteError(w, http.StatusUnauthorized, "authentication required")
				return
			}
			gateway.WriteError(w, http.StatusForbidden, "not allowed to read the metrics (admin:"+auth.AdminReadMetrics+")")
			return
		}
		h.ServeHTTP(w, r)
	})
	return nil
}

// serveMetrics serves the metrics listener, if there is one, until ctx
// ends.
func (a *App) serveMetrics(ctx context.Context) error {
	if a.metricsLn == nil {
		return nil
	}
	return a.Gateway.ServeMetrics(ctx, a.metricsLn, a.Metrics.Handler())
}

// relayMetrics counts the calls relayed to registered agents:
// parley_a2a_relay_requests_total, parley_a2a_relay_errors_total and
// parley_a2a_relay_duration_seconds, by agent, binding (jsonrpc, rest)
// and method. It goes inside the audit middleware (audit.NotedOutcome: a
// failure the relay answered with 200, as JSON-RPC does, was noted for
// the audit) and inside the JSON-RPC edge (whose body names the method,
// so that nothing is decoded again). The agent label is the agent as
// registered, or "unknown" for a name that is not registered; the method
// label a method of A2A 0.3 or 1.0, or "other".
type relayMetrics struct {
	relay    *relay.Relay
	requests *prometheus.CounterVec
	errors   *prometheus.CounterVec
	duration *prometheus.HistogramVec
	children observe.Children[relayKey, *relayInstruments]
}

type relayKey struct{ agent, binding, method string }

type relayInstruments struct {
	requests prometheus.Counter
	errors   prometheus.Counter
	duration prometheus.Observer
}

func newRelayMetrics(m *observe.Metrics, rl *relay.Relay) *relayMetrics {
	return &relayMetrics{
		relay: rl,
		requests: m.CounterVec(prometheus.CounterOpts{Subsystem: "a2a", Name: "relay_requests_total",
			Help: "A2A calls relayed to registered agents, by agent, binding (jsonrpc, rest) and method."}, "agent", "binding", "method"),
		errors: m.CounterVec(prometheus.CounterOpts{Subsystem: "a2a", Name: "relay_errors_total",
			Help: "Relayed A2A calls that failed (refused, the agent unreachable, or an error answer), by agent, binding and method."}, "agent", "binding", "method"),
		duration: m.HistogramVec(prometheus.HistogramOpts{Subsystem: "a2a", Name: "relay_duration_seconds",
			Help: "Time to relay an A2A call (a stream: until it ends), by agent, binding and method."}, "agent", "binding", "method"),
	}
}

// relayJSONRPCMethods maps the JSON-RPC methods the relay passes on, as
// the edge hands them (quoted JSON strings), to their label.
var relayJSONRPCMethods = func() map[string]string {
	out := map[string]string{}
	for _, m := range []string{
		// A2A 0.3
		"message/send", "message/stream", "tasks/get", "tasks/list", "tasks/cancel", "tasks/resubscribe",
		"tasks/pushNotificationConfig/set", "tasks/pushNotificationConfig/get",
		"tasks/pushNotificationConfig/list", "tasks/pushNotificationConfig/delete",
		"agent/getAuthenticatedExtendedCard",
		// A2A 1.0
		"SendMessage", "SendStreamingMessage", "GetTask", "ListTasks", "CancelTask", "SubscribeToTask",
		"CreateTaskPushNotificationConfig", "GetTaskPushNotificationConfig",
		"ListTaskPushNotificationConfigs", "ListTaskPushNotificationConfig", "DeleteTaskPushNotificationConfig",
		"GetExtendedAgentCard",
	} {
		out[`"`+m+`"`] = m
	}
	return out
}()

const otherLabel = "other"

func (rm *relayMetrics) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, sub, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, relay.Path+"/"), "/")
		binding, method := a2a.BindingJSONRPC, otherLabel
		if rest, ok := strings.CutPrefix(sub, "rest"); ok && (rest == "" || strings.HasPrefix(rest, "/")) {
			binding = a2a.BindingREST
			if m := a2a.RESTMethod(r.Method, rest); m != "" {
				method = m
			}
		} else if b, ok := r.Body.(*jsonrpcedge.Body); ok {
			if m, ok := relayJSONRPCMethods[string(b.Method())]; ok {
				method = m
			}
		}
		agent, known := rm.relay.KnownAgent(r.Context(), name)
		if !known {
			agent = "unknown"
		}
		ri := rm.instruments(relayKey{agent, binding, method})
		start := time.Now()
		sw := &httpstatus.Recorder{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		ri.requests.Inc()
		ri.duration.Observe(time.Since(start).Seconds())
		if sw.Status >= http.StatusBadRequest || audit.NotedOutcome(r.Context()) != "" {
			ri.errors.Inc()
		}
	})
}

func (rm *relayMetrics) instruments(k relayKey) *relayInstruments {
	if ri, ok := rm.children.Lookup(k); ok {
		return ri // without making a closure: the hot path allocates nothing
	}
	return rm.children.Get(k, func() *relayInstruments {
		return &relayInstruments{
			requests: rm.requests.WithLabelValues(k.agent, k.binding, k.method),
			errors:   rm.errors.WithLabelValues(k.agent, k.binding, k.method),
			duration: rm.duration.WithLabelValues(k.agent, k.binding, k.method),
		}
	})
}

// a2aSweepMetrics count the sweeps of the A2A task event logs.
type a2aSweepMetrics struct {
	sweeps *prometheus.CounterVec
	swept  prometheus.Counter
}

func newA2ASweepMetrics(m *observe.Metrics) *a2aSweepMetrics {
	return &a2aSweepMetrics{
		sweeps: m.CounterVec(prometheus.CounterOpts{Subsystem: "a2a", Name: "event_sweeps_total",
			Help: "Sweeps of the A2A task event logs, by result (ok, error)."}, "result"),
		swept: m.Counter(prometheus.CounterOpts{Subsystem: "a2a", Name: "events_swept_total",
			Help: "A2A task events deleted by sweeps (past their retention)."}),
	}
}

func (sm *a2aSweepMetrics) record(n int64, err error) {
	if err != nil {
		sm.sweeps.WithLabelValues("error").Inc()
		return
	}
	sm.sweeps.WithLabelValues("ok").Inc()
	sm.swept.Add(float64(n))
}

// setStoreMetrics has the store count its write transactions and
// change-feed deliveries, when it can (the SQL stores: store/sqlstore).
func setStoreMetrics(st store.Store, m *observe.Metrics) {
	if s, ok := st.(interface{ SetMetrics(*observe.Metrics) }); ok {
		s.SetMetrics(m)
	}
}
