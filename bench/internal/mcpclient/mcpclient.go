// Package mcpclient is the MCP host side the MCP benchmarks share: the
// protocol generation the hosts speak, connecting a go-sdk ClientSession
// per host (each with a connection pool and, with auth on, a bearer token
// of its own), and the measured loop of tool calls.
package mcpclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/bench/internal/cli"
)

// Mode is the protocol generation the clients speak.
type Mode string

// Modes.
const (
	// ModeStateless is 2026-07-28: no session, every request stands alone
	// (the go-sdk client's default).
	ModeStateless Mode = "stateless"
	// ModeSession is 2025-11-25: initialize, Mcp-Session-Id, a standalone
	// GET stream per client.
	ModeSession Mode = "session"
)

// The protocol revisions of the two generations.
const (
	SessionVersion   = "2025-11-25"
	StatelessVersion = "2026-07-28"
)

// ProtocolVersion is what the clients of m pin; "" takes the client's
// default (the newest, stateless).
func (m Mode) ProtocolVersion() string {
	if m == ModeSession {
		return SessionVersion
	}
	return ""
}

// Connect opens a ClientSession named name on endpoint over hc, and checks
// that it speaks mode's generation.
func Connect(ctx context.Context, endpoint string, hc *http.Client, mode Mode, name string) (*mcp.ClientSession, error) {
	c := mcp.NewClient(&mcp.Implementation{Name: name, Version: "1"}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc, MaxRetries: -1},
		&mcp.ClientSessionOptions{ProtocolVersion: mode.ProtocolVersion()})
	if err != nil {
		return nil, err
	}
	got := cs.InitializeResult().ProtocolVersion
	switch {
	case mode == ModeStateless && got < StatelessVersion:
		cs.Close()
		return nil, fmt.Errorf("stateless mode: the server negotiated %s, not %s or later", got, StatelessVersion)
	case mode == ModeSession && cs.ID() == "":
		cs.Close()
		return nil, fmt.Errorf("session mode: the server negotiated %s without a session ID", got)
	}
	return cs, nil
}

// Target is a server the clients connect to.
type Target struct {
	// Name labels the clients' goroutines in CPU profiles (target=Name).
	Name string
	// URL is the MCP endpoint.
	URL string
	// HTTPClient is the HTTP client of client i.
	HTTPClient func(i int) (*http.Client, error)
	// ClientName is the name client i gives in initialize.
	ClientName func(i int) string
}

// ConnectClients opens n ClientSessions on t at once, before any timing,
// each within timeout, and checks that they speak mode's generation. On
// failure it closes those it opened.
func ConnectClients(ctx context.Context, t Target, mode Mode, n int, timeout time.Duration) ([]*mcp.ClientSession, error) {
	css := make([]*mcp.ClientSession, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range css {
		hc, err := t.HTTPClient(i)
		if err != nil {
			wg.Wait()
			CloseAll(css)
			return nil, err
		}
		wg.Go(func() {
			pprof.Do(ctx, pprof.Labels("role", "client", "target", t.Name), func(ctx context.Context) {
				cctx, cancel := context.WithTimeout(ctx, timeout)
				defer cancel()
				css[i], errs[i] = Connect(cctx, t.URL, hc, mode, t.ClientName(i))
			})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		CloseAll(css)
		return nil, err
	}
	return css, nil
}

// CloseAll closes the sessions of css that are open (not nil).
func CloseAll(css []*mcp.ClientSession) {
	for _, cs := range css {
		if cs != nil {
			_ = cs.Close()
		}
	}
}

// ResultText is the text content of res; an error's is cut to 300 bytes,
// to fit in a report.
func ResultText(res *mcp.CallToolResult) string {
	var s string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			s += tc.Text
		}
	}
	if len(s) > 300 && res.IsError {
		s = s[:300] + "…"
	}
	return s
}

// SDKVersion is the go-sdk module version this binary was built with.
func SDKVersion() string {
	if v := cli.ModuleVersion("github.com/modelcontextprotocol/go-sdk"); v != "" {
		return "go-sdk " + v
	}
	return "go-sdk (version unknown)"
}

// ParseModes reads a -mode flag: stateless, session or both.
func ParseModes(s string) ([]Mode, error) {
	switch s {
	case "both":
		return []Mode{ModeStateless, ModeSession}, nil
	case string(ModeStateless), string(ModeSession):
		return []Mode{Mode(s)}, nil
	}
	return nil, fmt.Errorf("-mode %q: want stateless, session or both", s)
}
