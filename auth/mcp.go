package auth

import (
	"context"
	"encoding/json"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ToolFilter reports whether the caller in ctx may call the named MCP
// tool, for showing each caller only those tools in tools/list. It does
// not report to OnDecision (hiding a tool is not a denial). The CEL
// request sees tool and listing = true, not the arguments: a rule that
// needs the arguments does not show its tool.
func (s *Service) ToolFilter(ctx context.Context, toolName string) bool {
	return s.Decide(ctx, ToolPermission(toolName), map[string]any{"listing": true}).Allowed
}

// AuthorizeTool checks the caller in ctx may call the named MCP tool: nil,
// or an error naming the rule (a *DeniedError, or ErrUnauthenticated).
func (s *Service) AuthorizeTool(ctx context.Context, name string) error {
	return s.Authorize(ctx, ToolPermission(name), nil)
}

// AuthorizeToolCall is AuthorizeTool with the call's arguments, which CEL
// rules see as request.arguments.
func (s *Service) AuthorizeToolCall(ctx context.Context, name string, arguments map[string]any) error {
	req := map[string]any{}
	if arguments != nil {
		req["arguments"] = arguments
	}
	return s.Authorize(ctx, ToolPermission(name), req)
}

// MCPContext returns ctx carrying the principal of an MCP request: the one
// Service.MCP put in the request's TokenInfo (go-sdk does not hand MCP
// handlers the HTTP request's context). In no-auth mode it is the anonymous
// principal. A ctx that already has a principal is returned as it is.
func (s *Service) MCPContext(ctx context.Context, req mcp.Request) context.Context {
	if _, ok := FromContext(ctx); ok {
		return ctx
	}
	if req != nil {
		if extra := req.GetExtra(); extra != nil {
			if p, ok := FromTokenInfo(extra.TokenInfo); ok {
				return WithPrincipal(ctx, p)
			}
		}
	}
	if s.verifier == nil {
		return WithPrincipal(ctx, anonymousPrincipal())
	}
	return ctx
}

// MCPMiddleware is a go-sdk receiving middleware (Server.AddReceivingMiddleware)
// that enforces the policy on MCP: every method's context carries the
// caller's Principal (MCPContext); tools/list lists only the tools the
// caller may call (ToolFilter); tools/call of any other tool answers a tool
// error naming the rule (AuthorizeToolCall, reported to OnDecision).
//
// Requests that did not come over HTTP (an in-process session, such as
// the one the A2A side calls tools through: no RequestExtra) and carry no
// principal in their context pass unchecked: whoever drives such a session
// authorizes its own callers (the A2A executor with AuthorizeTool).
func (s *Service) MCPMiddleware() mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			ctx = s.MCPContext(ctx, req)
			if _, ok := FromContext(ctx); !ok && (req == nil || req.GetExtra() == nil) {
				return next(ctx, method, req)
			}
			switch method {
			case "tools/list":
				res, err := next(ctx, method, req)
				if lr, ok := res.(*mcp.ListToolsResult); ok && err == nil {
					kept := lr.Tools[:0:0]
					for _, t := range lr.Tools {
						if t != nil && s.ToolFilter(ctx, t.Name) {
							kept = append(kept, t)
						}
					}
					lr.Tools = kept
				}
				return res, err
			case "tools/call":
				params, ok := req.GetParams().(*mcp.CallToolParamsRaw)
				if !ok {
					return next(ctx, method, req)
				}
				var args map[string]any
				if len(params.Arguments) > 0 {
					// Arguments that are not an object are for the tool to
					// refuse; rules just do not see them.
					_ = json.Unmarshal(params.Arguments, &args)
				}
				if err := s.AuthorizeToolCall(ctx, params.Name, args); err != nil {
					return &mcp.CallToolResult{
						IsError: true,
						Content: []mcp.Content{&mcp.TextContent{Text: err.Error()}},
					}, nil
				}
			}
			return next(ctx, method, req)
		}
	}
}
