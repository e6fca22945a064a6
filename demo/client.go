package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// client is one MCP host: a go-sdk client session over Streamable HTTP,
// with what its notifications brought.
type client struct {
	cs  *mcp.ClientSession
	out *printer

	mu       sync.Mutex
	since    time.Time // progress times are printed relative to it
	progress int
	updates  map[string]int
	changed  chan struct{} // a notification arrived
}

// connect opens an MCP session named name. A watcher prints progress
// notifications as they arrive and counts resource updates.
func (d *demo) connect(ctx context.Context, name string, watcher bool) (*client, error) {
	c := &client{out: d.out, updates: map[string]int{}, changed: make(chan struct{}, 1), since: time.Now()}
	opts := &mcp.ClientOptions{}
	if watcher {
		opts.ProgressNotificationHandler = c.onProgress
		opts.ResourceUpdatedHandler = c.onUpdated
	}
	mc := mcp.NewClient(&mcp.Implementation{Name: name, Version: d.version}, opts)
	cs, err := mc.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: d.mcpURL, HTTPClient: d.http}, nil)
	if err != nil {
		return nil, err
	}
	c.cs = cs
	return c, nil
}

func (c *client) close() { _ = c.cs.Close() }

func (c *client) signal() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

func (c *client) onProgress(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
	c.mu.Lock()
	c.progress++
	at := time.Since(c.since)
	c.mu.Unlock()
	c.out.kv(fmt.Sprintf("+%.2fs", at.Seconds()), req.Params.Message)
	c.signal()
}

func (c *client) onUpdated(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
	c.mu.Lock()
	c.updates[req.Params.URI]++
	c.mu.Unlock()
	c.signal()
}

// progressFrom resets the progress count and clock.
func (c *client) progressFrom(t time.Time) {
	c.mu.Lock()
	c.since, c.progress = t, 0
	c.mu.Unlock()
}

// awaitProgress waits (up to 5s) for n progress notifications since
// progressFrom.
func (c *client) awaitProgress(ctx context.Context, n int) int {
	return c.await(ctx, func() int { return c.progress }, n)
}

// awaitUpdates waits (up to 5s) for n resources/updated notifications
// about uri, and returns how many arrived.
func (c *client) awaitUpdates(ctx context.Context, uri string, n int) int {
	return c.await(ctx, func() int { return c.updates[uri] }, n)
}

// await waits until count (read under c.mu) reaches n, for at most 5s:
// notifications travel apart from results, and may be late or lost.
func (c *client) await(ctx context.Context, count func() int, n int) int {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		c.mu.Lock()
		got := count()
		c.mu.Unlock()
		if got >= n {
			return got
		}
		select {
		case <-c.changed:
		case <-ctx.Done():
			return got
		}
	}
}

// call calls a tool and decodes its structured result into out. A tool
// error becomes an error with the tool's message.
func (c *client) call(ctx context.Context, name string, args map[string]any, out any) (*mcp.CallToolResult, error) {
	return c.callTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args}, out)
}

// callProgress is call with a progress token: the server's progress
// notifications for the call are printed as they arrive.
func (c *client) callProgress(ctx context.Context, name string, args map[string]any, out any) (*mcp.CallToolResult, error) {
	p := &mcp.CallToolParams{Name: name, Arguments: args}
	p.SetProgressToken(name)
	return c.callTool(ctx, p, out)
}

func (c *client) callTool(ctx context.Context, p *mcp.CallToolParams, out any) (*mcp.CallToolResult, error) {
	res, err := c.cs.CallTool(ctx, p)
	if err != nil {
		return nil, err
	}
	if res.IsError {
		var msgs []string
		for _, ct := range res.Content {
			if t, ok := ct.(*mcp.TextContent); ok {
				msgs = append(msgs, t.Text)
			}
		}
		return res, fmt.Errorf("tool error: %s", strings.Join(msgs, " "))
	}
	if out != nil {
		data, err := json.Marshal(res.StructuredContent)
		if err != nil {
			return res, err
		}
		if err := json.Unmarshal(data, out); err != nil {
			return res, fmt.Errorf("reading the result of %s: %w", p.Name, err)
		}
	}
	return res, nil
}

// readJSON reads the resource uri and decodes its JSON text into v.
func (c *client) readJSON(ctx context.Context, uri string, v any) error {
	rr, err := c.cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri})
	if err != nil {
		return err
	}
	if len(rr.Contents) == 0 {
		return errors.New("no contents")
	}
	return json.Unmarshal([]byte(rr.Contents[0].Text), v)
}

// waitForTools waits until the tools are listed (agent tools appear once
// the gateway has followed the registrations from its change feed), and
// returns their names, sorted.
func (c *client) waitForTools(ctx context.Context, want ...string) ([]string, error) {
	var names []string
	err := waitUntil(ctx, func() (bool, error) {
		res, err := c.cs.ListTools(ctx, nil)
		if err != nil {
			return false, err
		}
		names = names[:0]
		for _, t := range res.Tools {
			if slices.Contains(want, t.Name) {
				names = append(names, t.Name)
			}
		}
		return len(names) == len(want), nil
	})
	if err != nil {
		return nil, fmt.Errorf("waiting for the tools %s: %w", strings.Join(want, ", "), err)
	}
	sort.Strings(names)
	return names, nil
}

// resourceLinks lists the URIs a tool result links to.
func resourceLinks(res *mcp.CallToolResult) []string {
	var out []string
	for _, c := range res.Content {
		if l, ok := c.(*mcp.ResourceLink); ok {
			out = append(out, l.URI)
		}
	}
	return out
}

// waitUntil polls done every 20ms until it holds, fails, or ctx ends.
func waitUntil(ctx context.Context, done func() (bool, error)) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := done()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
