package relay

import (
	"net/http"
	"strings"

	"github.com/parleyhq/parley/a2a/compat"
)

// outboundHeaders sets what the agent gets of the caller's headers: the
// content negotiation, the version and extensions (in the agent's
// spelling), the request ID and trace context. Never credentials or
// cookies, never hop-by-hop headers.
func (c *call) outboundHeaders(out *http.Request) {
	in := c.r.Header
	out.Header.Set("Content-Type", "application/json")
	accept := in.Get("Accept")
	if accept == "" {
		accept = "application/json"
		if c.streaming {
			accept = "text/event-stream"
		}
	}
	out.Header.Set("Accept", accept)
	out.Header.Set("User-Agent", "parley-gateway")
	if c.av == compat.V10 {
		out.Header.Set(compat.HeaderVersion, string(compat.V10))
	}
	if ext := extensions(in, c.cv); len(ext) > 0 {
		out.Header[http.CanonicalHeaderKey(extensionsHeader(c.av))] = ext
	}
	id := ""
	if c.rl.opts.RequestID != nil {
		id = c.rl.opts.RequestID(c.r.Context())
	}
	if id == "" {
		id = in.Get("X-Request-Id")
	}
	if id != "" {
		out.Header.Set("X-Request-Id", id)
	}
	for _, h := range []string{"Traceparent", "Tracestate"} {
		if v := in.Get(h); v != "" {
			out.Header.Set(h, v)
		}
	}
}

func extensionsHeader(v compat.Version) string {
	if v == compat.V10 {
		return compat.HeaderExtensions
	}
	return compat.HeaderExtensions03
}

// extensions reads the extensions header of version v, or else the other
// version's spelling.
func extensions(h http.Header, v compat.Version) []string {
	if ext := h.Values(extensionsHeader(v)); len(ext) > 0 {
		return ext
	}
	other := compat.V03
	if v == compat.V03 {
		other = compat.V10
	}
	return h.Values(extensionsHeader(other))
}

func isEventStream(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "text/event-stream")
}
