package a2astore

import (
	"context"

	"github.com/a2aproject/a2a-go/v2/a2asrv"
)

// Anonymous is the owner of the tasks of callers who are not
// authenticated.
const Anonymous = "anonymous"

// CallerOf is the default owner of a call: the authenticated user of its
// a2asrv.CallContext, else Anonymous.
func CallerOf(ctx context.Context) string {
	if cc, ok := a2asrv.CallContextFrom(ctx); ok && cc.User != nil && cc.User.Authenticated && cc.User.Name != "" {
		return cc.User.Name
	}
	return Anonymous
}
