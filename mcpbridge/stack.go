package mcpbridge

import (
	"context"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/internal/stack"
)

// GrowStackMiddleware is a go-sdk receiving middleware that gives the
// goroutine handling a request its working stack at once
// (internal/stack), before the middleware and the handler go deep. go-sdk
// handles each call on a goroutine of its own, which starts small: without
// it, the stack grows two or three times per call, each time copying every
// frame of the middleware chain. Put it outermost.
func GrowStackMiddleware() mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			stack.Grow()
			return next(ctx, method, req)
		}
	}
}
