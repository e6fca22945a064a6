package a2a

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/a2aproject/a2a-go/v2/a2asrv"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/observe"
)

// Bindings of the gateway's own A2A face, as the binding label names them.
const (
	BindingJSONRPC = "jsonrpc"
	BindingREST    = "rest"
	BindingGRPC    = "grpc"
)

// a2aMethods are the A2A 1.0 methods of a2asrv's request handler (the
// CallContext's method, whichever version and binding the call came in
// by): the values the method label takes; anything else is "other".
var a2aMethods = []string{
	"SendMessage", "SendStreamingMessage", "GetTask", "ListTasks", "CancelTask", "SubscribeToTask",
	"CreateTaskPushConfig", "GetTaskPushConfig", "ListTaskPushConfigs", "DeleteTaskPushConfig",
	"GetExtendedAgentCard", "other",
}

// callInstruments are one (binding, method)'s children, made on its
// first call (so that only the series in use are exported), then read
// without a lock.
type callInstruments struct {
	once     sync.Once
	make     func() // sets the three below
	requests prometheus.Counter
	errors   prometheus.Counter
	duration prometheus.Observer
}

func (ci *callInstruments) get() *callInstruments {
	ci.once.Do(ci.make)
	return ci
}

// faceMetrics counts the calls of the gateway's own A2A face:
// parley_a2a_requests_total, parley_a2a_request_errors_total and
// parley_a2a_request_duration_seconds, by binding and method. The hot
// path only reads maps made up front.
type faceMetrics struct {
	children map[string]map[string]*callInstruments // binding → method
}

func newFaceMetrics(m *observe.Metrics) *faceMetrics {
	requests := m.CounterVec(prometheus.CounterOpts{Subsystem: "a2a", Name: "requests_total",
		Help: "A2A calls of the gateway's own agent, by binding (jsonrpc, rest, grpc) and A2A 1.0 method."}, "binding", "method")
	errs := m.CounterVec(prometheus.CounterOpts{Subsystem: "a2a", Name: "request_errors_total",
		Help: "A2A calls of the gateway's own agent answered with an error, by binding and method."}, "binding", "method")
	duration := m.HistogramVec(prometheus.HistogramOpts{Subsystem: "a2a", Name: "request_duration_seconds",
		Help: "Time to answer an A2A call of the gateway's own agent (a stream: to its first event), by binding and method."}, "binding", "method")
	fm := &faceMetrics{children: map[string]map[string]*callInstruments{}}
	for _, b := range []string{BindingJSONRPC, BindingREST, BindingGRPC} {
		fm.children[b] = make(map[string]*callInstruments, len(a2aMethods))
		for _, method := range a2aMethods {
			ci := &callInstruments{}
			ci.make = func() {
				ci.requests = requests.WithLabelValues(b, method)
				ci.errors = errs.WithLabelValues(b, method)
				ci.duration = duration.WithLabelValues(b, method)
			}
			fm.children[b][method] = ci
		}
	}
	return fm
}

type bindingKey struct{}

// withBinding marks the requests h serves as coming in by binding, for
// the metrics (gRPC calls carry no mark: BindingGRPC).
func withBinding(binding string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), bindingKey{}, binding)))
	})
}

func (fm *faceMetrics) instruments(ctx context.Context, method string) *callInstruments {
	binding, _ := ctx.Value(bindingKey{}).(string)
	byMethod, ok := fm.children[binding]
	if !ok {
		byMethod = fm.children[BindingGRPC]
	}
	ci, ok := byMethod[method]
	if !ok {
		ci = byMethod["other"]
	}
	return ci.get()
}

// metricsInterceptor counts each call of the face. It goes first among
// the interceptors, so that its After sees the answer as the caller gets
// it (errorInterceptor's mapping included) and a refusal by any later
// interceptor counts as an error.
type metricsInterceptor struct{ m *faceMetrics }

type metricsCallKey struct{}

// metricsCall is one call under way. A stream's After runs once per
// event, one at a time: the first one ends the call's latency, and the
// first error counts the call as failed once.
type metricsCall struct {
	ci      *callInstruments
	start   time.Time
	timed   bool
	errored bool
}

func (i metricsInterceptor) Before(ctx context.Context, callCtx *a2asrv.CallContext, _ *a2asrv.Request) (context.Context, any, error) {
	ci := i.m.instruments(ctx, callCtx.Method())
	ci.requests.Inc()
	return context.WithValue(ctx, metricsCallKey{}, &metricsCall{ci: ci, start: time.Now()}), nil, nil
}

func (metricsInterceptor) After(ctx context.Context, _ *a2asrv.CallContext, resp *a2asrv.Response) error {
	c, _ := ctx.Value(metricsCallKey{}).(*metricsCall)
	if c == nil {
		return nil
	}
	if !c.timed {
		c.timed = true
		c.ci.duration.Observe(time.Since(c.start).Seconds())
	}
	if resp != nil && resp.Err != nil && !c.errored {
		c.errored = true
		c.ci.errors.Inc()
	}
	return nil
}
