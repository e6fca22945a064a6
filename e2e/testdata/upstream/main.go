// Command upstream is the e2e tests' own MCP server, put behind the
// gateway as an upstream (e2e/federation_test.go), over Streamable HTTP
// (-http) or stdio (without it). Its tools:
//
//   - echo {text}: "NAME: text", so that a test tells upstreams apart;
//   - whoami: what the request carried, as structured content: the
//     Authorization header (HTTP only) and the request's _meta;
//   - block: blocks until its request is cancelled or the process is
//     killed; it logs "block started pid=PID" to stderr first, so that a
//     test knows the call arrived (and which process to kill);
//   - describe: its description is -desc or the contents of -desc-file at
//     start, so that a test can change a tool's definition across
//     restarts (drift).
//
// Besides tools, a prompt greet {who} ("NAME greets WHO") and a resource
// NAME://readme ("readme of NAME"), so that tests see prompts and
// resources forwarded, authorized and audited; the URI carries NAME so
// that two instances' resources do not collide.
//
// With -record FILE every HTTP request's JSON-RPC method and Authorization
// header are appended to FILE as JSON lines, so that a test can check
// what the gateway presented on every request, not only on tool calls.
// Over HTTP it prints "upstream NAME listening on http://ADDR/mcp" to
// stdout once it accepts connections.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func main() {
	name := flag.String("name", "upstream", "the name echo answers with")
	httpAddr := flag.String("http", "", "serve Streamable HTTP on this address instead of stdio")
	stateless := flag.Bool("stateless", false, "over HTTP, serve 2026-07-28 (stateless) instead of 2025-11-25 sessions")
	desc := flag.String("desc", "Describes itself.", "the description of the describe tool")
	descFile := flag.String("desc-file", "", "read the describe tool's description from this file")
	record := flag.String("record", "", "append each HTTP request's method and Authorization header to this file")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("upstream " + *name + ": ")

	description := *desc
	if *descFile != "" {
		b, err := os.ReadFile(*descFile)
		if err != nil {
			log.Fatal(err)
		}
		description = strings.TrimSpace(string(b))
	}
	s := newServer(*name, description)
	if *httpAddr == "" {
		if err := s.Run(context.Background(), &mcp.StdioTransport{}); err != nil {
			log.Fatal(err)
		}
		return
	}
	var h http.Handler = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s },
		&mcp.StreamableHTTPOptions{Stateless: *stateless})
	if *record != "" {
		h = &recorder{next: h, path: *record}
	}
	l, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("upstream %s listening on http://%s/mcp\n", *name, l.Addr())
	log.Fatal(http.Serve(l, h))
}

type echoIn struct {
	Text string `json:"text"`
}

func newServer(name, description string) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "e2e-upstream-" + name, Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "Echoes text, prefixed with the upstream's name."},
		func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: name + ": " + in.Text}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "whoami", Description: "Says what the request carried."},
		func(_ context.Context, req *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
			out := map[string]any{"meta": req.Params.Meta}
			if req.Extra != nil && req.Extra.Header != nil {
				out["authorization"] = req.Extra.Header.Get("Authorization")
			}
			b, _ := json.Marshal(out)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(b)}}, StructuredContent: out}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "block", Description: "Blocks until cancelled."},
		func(ctx context.Context, _ *mcp.CallToolRequest, _ any) (*mcp.CallToolResult, any, error) {
			log.Printf("block started pid=%d", os.Getpid())
			<-ctx.Done()
			return nil, nil, ctx.Err()
		})
	mcp.AddTool(s, &mcp.Tool{Name: "describe", Description: description},
		func(context.Context, *mcp.CallToolRequest, any) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: description}}}, nil, nil
		})
	s.AddPrompt(&mcp.Prompt{Name: "greet", Description: "Greets someone.", Arguments: []*mcp.PromptArgument{{Name: "who"}}},
		func(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user",
				Content: &mcp.TextContent{Text: name + " greets " + req.Params.Arguments["who"]}}}}, nil
		})
	readme := name + "://readme"
	s.AddResource(&mcp.Resource{Name: "readme", URI: readme, MIMEType: "text/plain"},
		func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: readme, MIMEType: "text/plain", Text: "readme of " + name}}}, nil
		})
	return s
}

// recorder appends each request's JSON-RPC method and Authorization
// header to a file.
type recorder struct {
	next http.Handler
	path string
	mu   sync.Mutex
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	method := r.Method
	if r.Body != nil && r.Method == http.MethodPost {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var msg struct {
			Method string `json:"method"`
		}
		if json.Unmarshal(body, &msg) == nil && msg.Method != "" {
			method = msg.Method
		}
	}
	line, _ := json.Marshal(map[string]string{"method": method, "authorization": r.Header.Get("Authorization")})
	rec.mu.Lock()
	f, err := os.OpenFile(rec.path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err == nil {
		_, _ = f.Write(append(line, '\n'))
		_ = f.Close()
	}
	rec.mu.Unlock()
	rec.next.ServeHTTP(w, r)
}
