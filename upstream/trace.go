package upstream

import (
	"net/http"

	"github.com/parleyhq/parley/observe"
)

// traced is rt with every request to an upstream carrying its context's
// trace context in traceparent and tracestate headers: the MCP client
// span the bridge starts for a forwarded call (mcpbridge), so that the
// upstream's spans join the host's trace. No span of its own: the MCP
// call is the span.
func traced(rt http.RoundTripper) http.RoundTripper {
	return observe.Transport(rt, observe.TransportOptions{})
}
