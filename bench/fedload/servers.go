package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/parleyhq/parley/bench/internal/child"
	"github.com/parleyhq/parley/bench/internal/mcpclient"
	"github.com/parleyhq/parley/bench/internal/oidcissuer"
)

// The servers run in child processes of their own (this program started
// again, see package child), so that each one's CPU time is read from its
// own process and not mixed with the clients' or the other's.
const (
	childUpstream = "fedload-upstream" // the go-sdk tool server
	childParley   = "fedload-parley"   // the gateway, app.Build, fronting it
)

// serveFuncs are the child processes this program can be.
var serveFuncs = map[string]child.Func{
	childUpstream: serveUpstream,
	childParley:   serveParley,
}

// server is one of the two processes, as the clients see it.
type server struct {
	name string
	url  string // the /mcp endpoint the hosts call
	proc *child.Process
	auth bool // clients send a bearer token
}

// env is what a run loads: the upstream, the gateway in front of it, and
// with auth on the issuer of the clients' tokens.
type env struct {
	upstream    *server
	parley      *server
	generations map[string]string // Parley → upstream, by registered name
	issuer      *oidcissuer.Issuer
	dir         string // temp dir: the gateway's SQLite file
	clients     mcpclient.HTTPClients
}

// httpClient is a new HTTP client for client i (-1: a probe) of s, with a
// connection pool of its own, as each MCP host process would have. With
// auth on, every request to the gateway carries the client's bearer token
// (one per client, subject fedload-i, signed once).
func (e *env) httpClient(s *server, i int) (*http.Client, error) {
	return e.clients.New(s.url, s.auth, i)
}

// close stops what setup started: the gateway first, so that it does not
// see its upstream go away.
func (e *env) close() error {
	var errs []error
	e.clients.CloseIdle()
	for _, s := range []*server{e.parley, e.upstream} {
		if s != nil && s.proc != nil {
			errs = append(errs, s.proc.Stop())
		}
	}
	if e.issuer != nil {
		errs = append(errs, e.issuer.Close())
	}
	if e.dir != "" {
		errs = append(errs, os.RemoveAll(e.dir))
	}
	return errors.Join(errs...)
}

// setup starts the upstream, then the gateway with it in mcp.upstreams
// (which reports once it is connected to it), waits until the gateway
// lists the upstream's tools, and with auth on checks that the gateway
// enforces it.
func setup(ctx context.Context, cfg *Config) (e *env, err error) {
	e = &env{clients: mcpclient.HTTPClients{Subject: "fedload", Role: benchRole}}
	started := e
	defer func() {
		if err != nil {
			err = errors.Join(err, started.close())
		}
	}()
	if e.dir, err = os.MkdirTemp("", "fedload-*"); err != nil {
		return nil, err
	}
	var ur upstreamReady
	p, err := child.Start(ctx, childUpstream, cfg.childArgs(serverUpstream), cfg.Stderr, &ur)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", serverUpstream, err)
	}
	e.upstream = &server{name: serverUpstream, url: ur.URL + pathBoth, proc: p}
	cfg.progress("%s at %s (pid %d): echo at %s (both generations) and %s (sessions only)", serverUpstream, ur.URL, p.Pid, pathBoth, pathSessions)

	args := []string{"-store", "sqlite://" + filepath.Join(e.dir, "parley.db"), "-upstream", ur.URL}
	if cfg.Auth {
		if e.issuer, err = oidcissuer.Start(ctx); err != nil {
			return nil, err
		}
		e.clients.Issuer = e.issuer
		cfg.progress("OIDC issuer (RS256) at %s", e.issuer.URL)
		args = append(args, "-issuer", e.issuer.URL)
	}
	var pr parleyReady
	if p, err = child.Start(ctx, childParley, append(args, cfg.childArgs(serverParley)...), cfg.Stderr, &pr); err != nil {
		return nil, fmt.Errorf("%s: %w", serverParley, err)
	}
	e.parley = &server{name: serverParley, url: pr.URL, proc: p, auth: cfg.Auth}
	e.generations = pr.Generations
	for _, name := range []string{upstreamStateless, upstreamSessions} {
		cfg.progress("%s at %s (pid %d) speaks %s to upstream %q (tool %s)", serverParley, pr.URL, p.Pid, e.generations[name], name, exposedTool(name))
	}
	if err := awaitListed(ctx, cfg, e); err != nil {
		return nil, err
	}
	if cfg.Auth {
		if err := checkAuthEnforced(ctx, cfg, e); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// awaitListed waits until the gateway lists every upstream tool the run
// calls: the gateway mirrors what its upstreams serve as they connect,
// and says so with notifications/tools/list_changed, which a session
// client hears on its standalone stream.
func awaitListed(ctx context.Context, cfg *Config, e *env) error {
	ctx, cancel := context.WithTimeout(ctx, upstreamWait)
	defer cancel()
	hc, err := e.httpClient(e.parley, -1)
	if err != nil {
		return err
	}
	changed := make(chan struct{}, 1)
	c := mcp.NewClient(&mcp.Implementation{Name: "fedload-probe", Version: "1"}, &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
			select {
			case changed <- struct{}{}:
			default:
			}
		},
	})
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: e.parley.url, HTTPClient: hc, MaxRetries: -1},
		&mcp.ClientSessionOptions{ProtocolVersion: mcpclient.SessionVersion})
	if err != nil {
		return fmt.Errorf("%s: connect: %w", serverParley, err)
	}
	defer cs.Close()
	want := cfg.tools()
	for {
		var missing []string
		listed := map[string]bool{}
		for t, err := range cs.Tools(ctx, nil) {
			if err != nil {
				return fmt.Errorf("%s: tools/list: %w", serverParley, err)
			}
			listed[t.Name] = true
		}
		for _, name := range want {
			if !listed[name] {
				missing = append(missing, name)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("%s does not list %s within %s", serverParley, strings.Join(missing, ", "), upstreamWait)
		}
	}
}

// checkAuthEnforced makes sure auth is really on at the gateway before it
// is measured: a call without a token is refused with 401 and a Bearer
// challenge.
func checkAuthEnforced(ctx context.Context, cfg *Config, e *env) error {
	cctx, cancel := context.WithTimeout(ctx, cfg.CallTimeout)
	defer cancel()
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"` + toolEcho + `","arguments":{"text":"x"}}}`
	req, err := http.NewRequestWithContext(cctx, http.MethodPost, e.parley.url, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", mcpclient.StatelessVersion)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("auth check: %w", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		return fmt.Errorf("%s: auth check: a call without a token got %s, want 401 with a Bearer challenge: auth is not on", serverParley, resp.Status)
	}
	return nil
}

// tools are the gateway's tools the run calls.
func (c *Config) tools() []string {
	var out []string
	for _, u := range c.Upstreams {
		out = append(out, exposedTool(u))
	}
	return slices.Compact(out)
}
