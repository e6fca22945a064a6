package observe

// Outgoing HTTP requests carry their context's trace: a RoundTripper that
// writes traceparent and tracestate into the request's headers, with or
// without a client span of its own.

import (
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

var httpTracer = NewTracer("github.com/parleyhq/parley/observe")

// TransportOptions configure Transport.
type TransportOptions struct {
	// Span, if set, starts a client span per request, named "{method}
	// {SpanName}" ("POST relay"), whose context the peer gets; else the
	// peer gets the context's own span (a caller that made its own span
	// for the call, such as an MCP client span).
	Span     bool
	SpanName string
}

// Transport returns rt with every request carrying the trace context of
// its own context (Request.Context). With tracing off, or a request
// outside any trace, it calls rt at once. The caller's traceparent
// header, if the request copied one in, is replaced, so that the peer's
// spans are children of Parley's.
func Transport(rt http.RoundTripper, opts TransportOptions) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	return &traceTransport{base: rt, opts: opts}
}

type traceTransport struct {
	base http.RoundTripper
	opts TransportOptions
}

// Unwrap returns the transport underneath (as http.Client's
// CloseIdleConnections and tests find it).
func (t *traceTransport) Unwrap() http.RoundTripper { return t.base }

// CloseIdleConnections closes the idle connections of the transport
// underneath, if it keeps any.
func (t *traceTransport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func (t *traceTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !On() || !trace.SpanContextFromContext(req.Context()).IsValid() {
		return t.base.RoundTrip(req)
	}
	ctx := req.Context()
	span := noSpan
	if t.opts.Span {
		name := req.Method
		if t.opts.SpanName != "" {
			name += " " + t.opts.SpanName
		}
		ctx, span = httpTracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
			attribute.String("http.request.method", req.Method),
			attribute.String("server.address", req.URL.Hostname()),
			attribute.String("url.full", redactedURL(req)),
		))
	}
	// A RoundTripper must not change the request it was given.
	out := req.Clone(ctx)
	propagator.Inject(ctx, propagation.HeaderCarrier(out.Header))
	resp, err := t.base.RoundTrip(out)
	switch {
	case err != nil:
		span.SetAttributes(attribute.String("error.type", "transport"))
		span.SetStatus(codes.Error, err.Error())
	case resp.StatusCode >= 400:
		span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode),
			attribute.String("error.type", strconv.Itoa(resp.StatusCode)))
		span.SetStatus(codes.Error, "")
	default:
		span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	}
	// The span ends with the response's headers: a stream's body may last
	// as long as its task.
	span.End()
	return resp, err
}

// redactedURL is the request's URL without user info and query, which may
// hold credentials.
func redactedURL(req *http.Request) string {
	u := *req.URL
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}
