package relay

import (
	"context"
	"net/http"

	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/auth"
)

// Directory finds registered agents: agentcards.Registry.
type Directory interface {
	Get(ctx context.Context, name string) (agentcards.Agent, error)
}

// Anonymous is the caller recorded for a call that carries no identity, as
// on the gateway's own A2A face.
const Anonymous = "anonymous"

// Principal names the caller of a relayed call from the HTTP request's
// context (auth.Service.A2APrincipal), and reports whether there is one.
type Principal func(ctx context.Context) (name string, ok bool)

// caller names who is calling, with the gateway's own face's rules: the
// Principal's name, else the auth.Principal in the request's context
// (auth.Service.A2A in front puts it there), else Anonymous. A call without
// one proceeds as Anonymous: rejecting it is the job of the authentication
// middleware in front.
func (rl *Relay) caller(r *http.Request) string { return rl.callerOf(r.Context()) }

// callerOf is caller for a call's context.
func (rl *Relay) callerOf(ctx context.Context) string {
	if rl.opts.Principal != nil {
		if name, ok := rl.opts.Principal(ctx); ok && name != "" {
			return name
		}
	}
	if p, ok := auth.FromContext(ctx); ok && p.Name() != "" {
		return p.Name()
	}
	return Anonymous
}
