// Package a2aext asks A2A agents for extensions on calls made with
// a2a-go's client: WithExtensions marks a context, and the Interceptor
// that a client is built with puts the URIs in the request's extensions
// header. It is the client-side half of extension activation (where
// a2a-go keeps its own extension helpers, in a package of this name), and
// a package of its own so that a caller of a pooled client (the
// negotiation engine) need not link the gateway's A2A server.
package a2aext

import (
	"context"
	"strings"

	"github.com/a2aproject/a2a-go/a2aclient"

	"github.com/parleyhq/parley/a2a/compat"
)

type extensionsKey struct{}

// WithExtensions asks for the extensions with these URIs on calls made
// with ctx through a client built with Interceptor: their URIs go in the
// request's extensions header (X-A2A-Extensions, or A2A-Extensions to an
// A2A 1.0 agent, translated by compat).
func WithExtensions(ctx context.Context, uris ...string) context.Context {
	return context.WithValue(ctx, extensionsKey{}, uris)
}

// Interceptor is the a2aclient.CallInterceptor that honours
// WithExtensions; a client without it ignores the mark.
type Interceptor struct {
	a2aclient.PassthroughInterceptor
}

var _ a2aclient.CallInterceptor = Interceptor{}

// Before adds the URIs ctx asks for to the request's extensions header.
func (Interceptor) Before(ctx context.Context, req *a2aclient.Request) (context.Context, error) {
	if uris, _ := ctx.Value(extensionsKey{}).([]string); len(uris) > 0 {
		if req.Meta == nil {
			req.Meta = a2aclient.CallMeta{}
		}
		req.Meta[compat.HeaderExtensions03] = append(req.Meta[compat.HeaderExtensions03], strings.Join(uris, ", "))
	}
	return ctx, nil
}
