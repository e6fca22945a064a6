package relay

import (
	"net/http"

	"github.com/parleyhq/parley/observe"
)

// tracedTransport is rt with a client span per relayed request ("POST
// relay"), a child of the relayed call's server span (the gateway's HTTP
// middleware), whose trace context replaces the caller's traceparent and
// tracestate on the way to the agent (outboundHeaders copies them in), so
// that the agent's spans are children of the relay's. With tracing off,
// or a request outside any trace, it calls rt at once.
func tracedTransport(rt http.RoundTripper) http.RoundTripper {
	return observe.Transport(rt, observe.TransportOptions{Span: true, SpanName: "relay"})
}
