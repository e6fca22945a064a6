package a2a

import (
	"context"
	"net/http"

	"github.com/a2aproject/a2a-go/a2asrv"
)

// Anonymous is the caller recorded for a call that carries no identity.
const Anonymous = "anonymous"

// Principal names the caller of an A2A call from the call's context, and
// reports whether there is one. It runs before every call on both
// bindings: for JSON-RPC ctx carries the HTTP request's context (and what
// HTTP middleware put there), for gRPC the RPC's context (and what gRPC
// server interceptors put there); a2asrv.CallContextFrom(ctx) gives the
// request's headers or metadata through RequestMeta. A call without a
// principal proceeds as Anonymous: rejecting it is the job of the
// authentication middleware in front (a real 401 or Unauthenticated).
type Principal func(ctx context.Context) (name string, ok bool)

// CallerFrom names the caller of the A2A call in ctx: the authenticated
// user of its call context, or Anonymous.
func CallerFrom(ctx context.Context) string {
	if cc, ok := a2asrv.CallContextFrom(ctx); ok && cc.User != nil && cc.User.Authenticated() && cc.User.Name() != "" {
		return cc.User.Name()
	}
	return Anonymous
}

// CallContextMiddleware gives every JSON-RPC request an a2asrv call
// context carrying its HTTP headers, which the call interceptors (identity,
// extensions) read. a2a-go's JSON-RPC handler does not do this itself.
func CallContextMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, _ := a2asrv.WithCallContext(r.Context(), a2asrv.NewRequestMeta(r.Header))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// IdentityInterceptor is an a2asrv.CallInterceptor that sets the call
// context's user from p before each call, on either binding. A nil p
// leaves every caller Anonymous.
func IdentityInterceptor(p Principal) a2asrv.CallInterceptor {
	return identityInterceptor{principal: p}
}

type identityInterceptor struct {
	a2asrv.PassthroughCallInterceptor
	principal Principal
}

func (i identityInterceptor) Before(ctx context.Context, callCtx *a2asrv.CallContext, _ *a2asrv.Request) (context.Context, error) {
	if i.principal == nil || callCtx == nil {
		return ctx, nil
	}
	if name, ok := i.principal(ctx); ok && name != "" {
		callCtx.User = &a2asrv.AuthenticatedUser{UserName: name}
	}
	return ctx, nil
}
