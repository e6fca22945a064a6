package main

import (
	"context"
	"flag"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/bench/internal/child"
	"github.com/parleyhq/parley/bench/internal/mcpclient"
)

// The upstream's paths. pathBoth serves both generations, dispatched as
// Parley's /mcp (and mcpload's bare server) dispatches them: the hosts
// call it directly in either generation, and Parley, whose client asks
// for 2026-07-28 first and takes it where offered, speaks 2026-07-28 to
// it. pathSessions serves sessions only, so that Parley falls back to
// 2025-11-25 there: the same server and tool, reached in the other
// generation.
const (
	pathBoth     = "/mcp"
	pathSessions = "/sessions"
)

// echoIn is echo's input.
type echoIn struct {
	Text string `json:"text" jsonschema:"the text to send back"`
}

// newUpstreamHandler is the upstream: a go-sdk server with one tool, echo,
// which returns its argument as text, behind the SDK's Streamable HTTP
// handlers with their default options, at pathBoth and pathSessions.
// echo is annotated readOnlyHint unless write: Parley records the calls
// of a read-only upstream tool as reads (queued), the others as writes
// (committed before the answer).
func newUpstreamHandler(write bool) http.Handler {
	srv := mcp.NewServer(&mcp.Implementation{Name: "fedload-upstream", Version: "0.1.0"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: toolEcho, Description: "Send the text back.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: !write},
	}, func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
	})
	get := func(*http.Request) *mcp.Server { return srv }
	stateful := mcp.NewStreamableHTTPHandler(get, nil)
	stateless := mcp.NewStreamableHTTPHandler(get, &mcp.StreamableHTTPOptions{Stateless: true})
	mux := http.NewServeMux()
	mux.HandleFunc(pathBoth, func(w http.ResponseWriter, r *http.Request) {
		// Parley's dispatch (mcpbridge.Bridge.ServeHTTP), as in mcpload's
		// bare server: sessions and pre-2026-07-28 requests to the
		// stateful handler, the rest to the stateless one.
		if r.Header.Get("Mcp-Session-Id") == "" && r.Header.Get("Mcp-Protocol-Version") >= mcpclient.StatelessVersion {
			stateless.ServeHTTP(w, r)
			return
		}
		stateful.ServeHTTP(w, r)
	})
	mux.Handle(pathSessions, stateful)
	return mux
}

// upstreamReady is what the upstream child reports: its base URL
// (http://127.0.0.1:PORT), to which the paths above are added.
type upstreamReady struct {
	URL string `json:"url"`
}

// serveUpstream is the upstream's child: newUpstreamHandler on a free
// port of 127.0.0.1, with the gateway's server timeouts (child.ServeHTTP).
func serveUpstream(ctx context.Context, args []string, readyFn func(any) error) error {
	fs := flag.NewFlagSet(childUpstream, flag.ContinueOnError)
	write := fs.Bool("echo-write", false, "echo is not annotated readOnlyHint")
	stopProfile, err := child.ParseFlags(fs, args)
	if err != nil {
		return err
	}
	defer stopProfile()
	return child.ServeHTTP(ctx, newUpstreamHandler(*write), func(base string) error {
		return readyFn(upstreamReady{URL: base})
	})
}
