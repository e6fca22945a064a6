package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
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
		if r.Header.Get("Mcp-Session-Id") == "" && r.Header.Get("Mcp-Protocol-Version") >= statelessVersion {
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
// port of 127.0.0.1, with the gateway's server timeouts.
func serveUpstream(ctx context.Context, args []string, readyFn func(any) error) error {
	fs := flag.NewFlagSet(childUpstream, flag.ContinueOnError)
	cpuprofile := fs.String("cpuprofile", "", "CPU profile of this process")
	write := fs.Bool("echo-write", false, "echo is not annotated readOnlyHint")
	if err := fs.Parse(args); err != nil {
		return err
	}
	stopProfile, err := profile(*cpuprofile)
	if err != nil {
		return err
	}
	defer stopProfile()
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           newUpstreamHandler(*write),
		ReadHeaderTimeout: 10 * time.Second, // the gateway's (gateway.New)
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	if err := readyFn(upstreamReady{URL: "http://" + ln.Addr().String()}); err != nil {
		_ = srv.Close()
		<-done
		return err
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if srv.Shutdown(sctx) != nil {
		_ = srv.Close()
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
