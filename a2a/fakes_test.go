package a2a

import (
	"context"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// fakeTools is a ToolCaller with one tool, for tests that need no MCP.
type fakeTools struct{}

func (fakeTools) CallTool(_ context.Context, name string, _ map[string]any) (*mcp.CallToolResult, error) {
	if name != "echo" {
		return nil, fmt.Errorf("unknown tool %q", name)
	}
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "echo"}}}, nil
}

func (fakeTools) ListTools(context.Context) ([]*mcp.Tool, error) {
	return []*mcp.Tool{{Name: "echo", Description: "Echo. Says it back."}}, nil
}
