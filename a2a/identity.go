package a2a

import (
	"context"
	"encoding/json"

	"github.com/a2aproject/a2a-go/v2/a2asrv"

	"github.com/parleyhq/parley/auth"
)

// Anonymous is the caller recorded for a call that carries no identity.
const Anonymous = "anonymous"

// principalAttribute is the call's user attribute carrying the caller's
// auth.Principal. The SDK carries the user (with its attributes) to the
// replica that runs the task (a2asrv.ClusterConfig's context codec), where
// the workspace skill needs the whole principal: the MCP tools it calls
// apply the caller's permissions.
const principalAttribute = "parley.principal"

// Principal names the caller of an A2A call from the call's context, and
// reports whether there is one. It runs before every call on every
// binding: ctx carries the HTTP request's context (and what HTTP
// middleware put there) or the RPC's (and what gRPC server interceptors
// put there). A call without a principal proceeds as Anonymous: rejecting
// it is the job of the authentication middleware in front (a real 401 or
// Unauthenticated).
type Principal func(ctx context.Context) (name string, ok bool)

// CallerFrom names the caller of the A2A call in ctx: the authenticated
// user of its call context, or Anonymous.
func CallerFrom(ctx context.Context) string {
	if cc, ok := a2asrv.CallContextFrom(ctx); ok && cc.User != nil && cc.User.Authenticated && cc.User.Name != "" {
		return cc.User.Name
	}
	return Anonymous
}

// identityInterceptor sets the call context's user from the Principal
// before each call, on every binding, with the caller's auth.Principal
// (when the request has one) as an attribute.
type identityInterceptor struct {
	a2asrv.PassthroughCallInterceptor
	principal Principal
}

func (i identityInterceptor) Before(ctx context.Context, callCtx *a2asrv.CallContext, _ *a2asrv.Request) (context.Context, any, error) {
	if i.principal == nil || callCtx == nil {
		return ctx, nil, nil
	}
	name, ok := i.principal(ctx)
	if !ok || name == "" {
		return ctx, nil, nil
	}
	var attrs map[string]any
	if p, ok := auth.FromContext(ctx); ok {
		if m, err := toMap(p); err == nil {
			attrs = map[string]any{principalAttribute: m}
		}
	}
	callCtx.User = a2asrv.NewAuthenticatedUser(name, attrs)
	return ctx, nil, nil
}

// withExecutorPrincipal gives ctx the caller's auth.Principal from the
// executor context's user when ctx has none: a task run on another
// replica than the one its message reached.
func withExecutorPrincipal(ctx context.Context, ec *a2asrv.ExecutorContext) context.Context {
	if _, ok := auth.FromContext(ctx); ok || ec == nil || ec.User == nil {
		return ctx
	}
	raw, ok := ec.User.Attributes[principalAttribute]
	if !ok {
		return ctx
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return ctx
	}
	var p auth.Principal
	if err := json.Unmarshal(b, &p); err != nil {
		return ctx
	}
	return auth.WithPrincipal(ctx, &p)
}

func toMap(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	err = json.Unmarshal(b, &m)
	return m, err
}
