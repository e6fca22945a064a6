package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"sync/atomic"

	"github.com/parleyhq/parley/bench/internal/child"
	"github.com/parleyhq/parley/bench/internal/shipped"
	"github.com/parleyhq/parley/config"
)

// childGateway is a gateway replica's child process: app.Build from
// config.Default(), as "gateway serve" builds it (shipped.ServeChild).
const childGateway = "replicas-gateway"

// serveFuncs are the child processes this program can be.
var serveFuncs = map[string]child.Func{childGateway: serveGateway}

// stateKey is the key both replicas sign the state of multi round-trip
// tools with, as replicas of one deployment share it (mcp.state_key).
const stateKey = "replicas-bench-shared-state-key"

func serveGateway(ctx context.Context, args []string, readyFn func(any) error) error {
	return shipped.ServeChild(ctx, childGateway, args, readyFn, shipped.ChildOptions{
		Configure: func(cfg *config.Config) { cfg.MCP.StateKey = stateKey },
	})
}

// replica is one gateway process.
type replica struct {
	name string // a, b
	url  string // its /mcp endpoint
	host string // host:port, as nginx names it in X-Upstream
	proc *child.Process
}

// startReplicas starts the two gateways on storeURL, one after the other
// (the first applies the store's migrations).
func startReplicas(ctx context.Context, cfg *Config, storeURL, dir string) ([]*replica, error) {
	var rs []*replica
	for _, name := range []string{"a", "b"} {
		args := []string{"-store", storeURL}
		if cfg.ServerLog != "" {
			args = append(args, "-log", filepath.Join(cfg.ServerLog, "gateway-"+name+".log"))
		}
		if cfg.ServerCPUProfile != "" {
			args = append(args, "-cpuprofile", cfg.ServerCPUProfile+".gateway-"+name+".prof")
		}
		var r struct {
			URL string `json:"url"`
		}
		p, err := child.Start(ctx, childGateway, args, cfg.Stderr, &r)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("gateway %s: %w", name, err), stopReplicas(rs))
		}
		u, err := url.Parse(r.URL)
		if err != nil {
			return nil, errors.Join(err, p.Stop(), stopReplicas(rs))
		}
		rs = append(rs, &replica{name: name, url: r.URL, host: u.Host, proc: p})
		cfg.progress("gateway %s at %s (pid %d), store %s", name, r.URL, p.Pid, redact(storeURL))
	}
	return rs, nil
}

func stopReplicas(rs []*replica) error {
	var errs []error
	for _, r := range rs {
		errs = append(errs, r.proc.Stop())
	}
	return errors.Join(errs...)
}

// redact hides a store URL's password.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}

// landings counts the successful POSTs each replica answered, by the
// X-Upstream header nginx adds, or by the host a POST was sent to when it
// was sent to a replica directly.
// It also counts the sessions each replica opened (answered a POST
// without Mcp-Session-Id with one).
type landings struct {
	hosts  []string // the replicas' host:port, in order
	n      []atomic.Int64
	opened []atomic.Int64
}

func newLandings(hosts []string) *landings {
	return &landings{hosts: hosts, n: make([]atomic.Int64, len(hosts)), opened: make([]atomic.Int64, len(hosts))}
}

// openedBy is how many sessions each replica opened.
func (l *landings) openedBy() []int64 {
	out := make([]int64, len(l.opened))
	for i := range l.opened {
		out[i] = l.opened[i].Load()
	}
	return out
}

// snapshot is the counts so far.
func (l *landings) snapshot() []int64 {
	out := make([]int64, len(l.n))
	for i := range l.n {
		out[i] = l.n[i].Load()
	}
	return out
}

func (l *landings) count(resp *http.Response) {
	if resp.Request.Method != http.MethodPost || resp.StatusCode >= 300 {
		return
	}
	up := resp.Header.Get(upstreamHeader)
	if up == "" {
		up = resp.Request.URL.Host
	}
	opens := resp.Request.Header.Get("Mcp-Session-Id") == "" && resp.Header.Get("Mcp-Session-Id") != ""
	for i, h := range l.hosts {
		if h == up {
			l.n[i].Add(1)
			if opens {
				l.opened[i].Add(1)
			}
		}
	}
}

// counting is a client's transport: it counts where its POSTs landed.
// With openAt set, it sends every request that opens a session (a POST
// without Mcp-Session-Id) to that host instead, so that one replica opens
// every session whatever the balancer would pick; with sendTo set, every
// request.
type counting struct {
	next           http.RoundTripper
	count          *landings
	openAt, sendTo string // host:port; "" leaves requests where they go
}

func (c *counting) RoundTrip(req *http.Request) (*http.Response, error) {
	if c.sendTo != "" {
		req = req.Clone(req.Context())
		req.URL.Host = c.sendTo
		req.Host = c.sendTo
	} else if c.openAt != "" && req.Method == http.MethodPost && req.Header.Get("Mcp-Session-Id") == "" {
		req = req.Clone(req.Context())
		req.URL.Host = c.openAt
		req.Host = c.openAt
	}
	resp, err := c.next.RoundTrip(req)
	if err == nil {
		c.count.count(resp)
	}
	return resp, err
}
