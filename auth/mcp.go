package auth

import (
	"context"
	"encoding/json"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
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

// PromptFilter reports whether the caller in ctx may get the named MCP
// prompt, for prompts/list (ToolFilter's counterpart: not reported to
// OnDecision). Every prompt Parley serves is an upstream's: prompt:NAME,
// or upstream:UPSTREAM, grants it.
func (s *Service) PromptFilter(ctx context.Context, name string) bool {
	return s.Decide(ctx, PromptPermission(name), map[string]any{"listing": true}).Allowed
}

// AuthorizePrompt checks the caller in ctx may get the named MCP prompt.
func (s *Service) AuthorizePrompt(ctx context.Context, name string) error {
	return s.Authorize(ctx, PromptPermission(name), nil)
}

// ResourceFilter reports whether the caller in ctx may use the resources
// of the named upstream, for resources/list and resources/templates/list
// (not reported to OnDecision). The CEL request sees listing = true and no
// uri: a rule that needs the URI does not list the upstream's resources.
func (s *Service) ResourceFilter(ctx context.Context, upstream string) bool {
	return s.Decide(ctx, ResourcePermission(upstream), map[string]any{"listing": true}).Allowed
}

// AuthorizeResource checks the caller in ctx may use the resources of the
// named upstream, here uri (a resource's URI or a resource template, which
// CEL rules see as request.uri).
func (s *Service) AuthorizeResource(ctx context.Context, upstream, uri string) error {
	return s.Authorize(ctx, ResourcePermission(upstream), map[string]any{"uri": uri})
}

// authorizeUpstreamResource is AuthorizeResource for the upstream serving
// uri; a URI no upstream serves (Parley's own resources, or nothing) is not
// the policy's: nil.
func (s *Service) authorizeUpstreamResource(ctx context.Context, uri string) error {
	u, ok := s.policy.UpstreamOf(KindResource, uri)
	if !ok {
		return nil
	}
	return s.AuthorizeResource(ctx, u, uri)
}

// resourceListed reports whether a resources/list or templates/list entry
// (a URI or a URI template) is shown to the caller in ctx: Parley's own
// always, an upstream's with its resource permission.
func (s *Service) resourceListed(ctx context.Context, uri string) bool {
	u, ok := s.policy.UpstreamOf(KindResource, uri)
	return !ok || s.ResourceFilter(ctx, u)
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
// Prompts likewise: prompts/list lists only the prompts the caller may get
// (PromptFilter), and prompts/get of another answers an error naming the
// rule (AuthorizePrompt). Upstream resources likewise, per upstream
// (resource:UPSTREAM): resources/list and resources/templates/list list
// only those of the upstreams the caller may use (ResourceFilter), and
// resources/read, resources/subscribe, the resource subscriptions of
// subscriptions/listen and the completion of a resource template of
// another upstream answer an error naming the rule (AuthorizeResource);
// completion of a prompt needs the prompt's permission. Parley's own
// resources are not the policy's: every caller lists, reads and
// subscribes to them. Unsubscribing is never refused.
//
// Requests that did not come over HTTP (an in-process session, such as
// the one the A2A side calls tools through: no RequestExtra) and carry no
// principal in their context pass unchecked: whoever drives such a session
// authorizes its own callers (the A2A executor with AuthorizeTool).
func (s *Service) MCPMiddleware() mcp.Middleware {
	// Only a CEL rule reads a call's arguments: without one, they are not
	// decoded for every call (the policy does not change once built).
	argsMatter := s.policy.readsRequest()
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
			case "prompts/list":
				// Upstream prompts are filtered like tools (upstream federation).
				res, err := next(ctx, method, req)
				if lr, ok := res.(*mcp.ListPromptsResult); ok && err == nil {
					kept := lr.Prompts[:0:0]
					for _, p := range lr.Prompts {
						if p != nil && s.PromptFilter(ctx, p.Name) {
							kept = append(kept, p)
						}
					}
					lr.Prompts = kept
				}
				return res, err
			case "prompts/get":
				if params, ok := req.GetParams().(*mcp.GetPromptParams); ok {
					if err := s.AuthorizePrompt(ctx, params.Name); err != nil {
						return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: err.Error()}
					}
				}
			case "resources/list":
				res, err := next(ctx, method, req)
				if lr, ok := res.(*mcp.ListResourcesResult); ok && err == nil {
					kept := lr.Resources[:0:0]
					for _, r := range lr.Resources {
						if r != nil && s.resourceListed(ctx, r.URI) {
							kept = append(kept, r)
						}
					}
					lr.Resources = kept
				}
				return res, err
			case "resources/templates/list":
				res, err := next(ctx, method, req)
				if lr, ok := res.(*mcp.ListResourceTemplatesResult); ok && err == nil {
					kept := lr.ResourceTemplates[:0:0]
					for _, t := range lr.ResourceTemplates {
						if t != nil && s.resourceListed(ctx, t.URITemplate) {
							kept = append(kept, t)
						}
					}
					lr.ResourceTemplates = kept
				}
				return res, err
			case "resources/read":
				if params, ok := req.GetParams().(*mcp.ReadResourceParams); ok {
					if err := s.authorizeUpstreamResource(ctx, params.URI); err != nil {
						return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: err.Error()}
					}
				}
			case "resources/subscribe":
				if params, ok := req.GetParams().(*mcp.SubscribeParams); ok {
					if err := s.authorizeUpstreamResource(ctx, params.URI); err != nil {
						return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: err.Error()}
					}
				}
			case "subscriptions/listen":
				// 2026-07-28's subscriptions replace resources/subscribe;
				// the SDK subscribes to each URI without this middleware.
				if params, ok := req.GetParams().(*mcp.SubscriptionsListenParams); ok && params.Notifications != nil {
					for _, uri := range params.Notifications.ResourceSubscriptions {
						if err := s.authorizeUpstreamResource(ctx, uri); err != nil {
							return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: err.Error()}
						}
					}
				}
			case "completion/complete":
				if params, ok := req.GetParams().(*mcp.CompleteParams); ok && params.Ref != nil {
					var err error
					switch params.Ref.Type {
					case "ref/prompt":
						err = s.AuthorizePrompt(ctx, params.Ref.Name)
					case "ref/resource":
						err = s.authorizeUpstreamResource(ctx, params.Ref.URI)
					}
					if err != nil {
						return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: err.Error()}
					}
				}
			case "tools/call":
				params, ok := req.GetParams().(*mcp.CallToolParamsRaw)
				if !ok {
					return next(ctx, method, req)
				}
				var args map[string]any
				if argsMatter && len(params.Arguments) > 0 && !isAnonymous(ctx) {
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

// readsRequest reports whether a decision of p can depend on its request
// argument: whether a rule has a CEL expression (which sees it).
func (p *Policy) readsRequest() bool {
	if p == nil {
		return false
	}
	for _, r := range p.rules {
		if r.prog != nil {
			return true
		}
	}
	return false
}

// isAnonymous reports whether ctx's caller is no-auth mode's anonymous
// principal, whom the policy allows everything without looking further.
func isAnonymous(ctx context.Context) bool {
	p, ok := FromContext(ctx)
	return ok && p != nil && p.Anonymous
}
