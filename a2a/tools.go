package a2a

import (
	"context"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ToolCaller runs the workspace's tools for the workspace skill. The
// gateway's implementation is MCPTools, which goes through the MCP server
// itself, so that A2A and MCP share one implementation of every tool.
type ToolCaller interface {
	// CallTool runs a tool. A tool that fails reports it in the result
	// (IsError), and a tool that needs input from a person or a model asks
	// for it in the result (InputRequests); an error means the call itself
	// failed (such as an unknown tool).
	CallTool(ctx context.Context, name string, args map[string]any) (*mcp.CallToolResult, error)
	// ListTools lists the tools there are.
	ListTools(ctx context.Context) ([]*mcp.Tool, error)
}

// MCPToolsOptions tune MCPTools.
type MCPToolsOptions struct {
	// ClientName names the in-process MCP client for a caller; the MCP
	// server records it as the actor of the writes the tool makes.
	// Default "a2a:" + caller.
	ClientName func(caller string) string
}

// MCPTools calls the tools of an MCP server in process, over in-memory
// transports. Each call has a session of its own, opened for the call's
// caller (CallerFrom) and closed after it, so calls are independent and
// safe to make concurrently.
type MCPTools struct {
	server     *mcp.Server
	clientName func(string) string
}

var _ ToolCaller = (*MCPTools)(nil)

// NewMCPTools returns a ToolCaller over server, typically
// (*mcpbridge.Bridge).Server().
func NewMCPTools(server *mcp.Server, opts *MCPToolsOptions) *MCPTools {
	m := &MCPTools{server: server, clientName: func(caller string) string { return "a2a:" + caller }}
	if opts != nil && opts.ClientName != nil {
		m.clientName = opts.ClientName
	}
	return m
}

// session opens an in-memory MCP session for the caller in ctx; close ends
// it on both sides.
func (m *MCPTools) session(ctx context.Context) (cs *mcp.ClientSession, closeSession func(), err error) {
	clientT, serverT := mcp.NewInMemoryTransports()
	ss, err := m.server.Connect(ctx, serverT, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to the MCP server in process: %w", err)
	}
	// The client speaks the newest revision, which names the client (the
	// actor of the tool's writes) on every request, and leaves answering a
	// tool's input requests (elicitation, sampling) to the caller instead
	// of failing the call: CallTool returns them in the result.
	client := mcp.NewClient(&mcp.Implementation{Name: m.clientName(CallerFrom(ctx)), Version: "1"},
		&mcp.ClientOptions{MultiRoundTrip: &mcp.MultiRoundTripOptions{Disabled: true}})
	cs, err = client.Connect(ctx, clientT, nil)
	if err != nil {
		_ = ss.Close()
		return nil, nil, fmt.Errorf("open an MCP session in process: %w", err)
	}
	return cs, func() {
		_ = cs.Close()
		_ = ss.Wait()
	}, nil
}

// CallTool implements ToolCaller.
func (m *MCPTools) CallTool(ctx context.Context, name string, args map[string]any) (*mcp.CallToolResult, error) {
	cs, closeSession, err := m.session(ctx)
	if err != nil {
		return nil, err
	}
	defer closeSession()
	if args == nil {
		args = map[string]any{}
	}
	return cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
}

// ListTools implements ToolCaller.
func (m *MCPTools) ListTools(ctx context.Context) ([]*mcp.Tool, error) {
	cs, closeSession, err := m.session(ctx)
	if err != nil {
		return nil, err
	}
	defer closeSession()
	var tools []*mcp.Tool
	for t, err := range cs.Tools(ctx, nil) {
		if err != nil {
			return nil, fmt.Errorf("list MCP tools: %w", err)
		}
		tools = append(tools, t)
	}
	return tools, nil
}
