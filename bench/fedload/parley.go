package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/bench/internal/shipped"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/upstream"
)

// The upstreams as Parley registers them (mcp.upstreams): the same
// upstream process twice, at the path where it offers both generations
// (Parley speaks 2026-07-28 there) and at the one where it offers only
// sessions (Parley speaks 2025-11-25).
const (
	// upstreamStateless is registered with prefix never: its tool keeps
	// its own name, echo, so that the hosts call the same name directly
	// and through Parley.
	upstreamStateless = "echo"
	// upstreamSessions is registered with prefix always (the default): its
	// tool is sessions_echo.
	upstreamSessions = "sessions"
)

// upstreamSpecs are the mcp.upstreams of the gateway, for the upstream at
// base.
func upstreamSpecs(base string) []config.Upstream {
	return []config.Upstream{
		{Name: upstreamStateless, URL: base + pathBoth, Prefix: config.UpstreamPrefixNever},
		{Name: upstreamSessions, URL: base + pathSessions, Prefix: config.UpstreamPrefixAlways},
	}
}

// exposedTool is the name Parley serves the upstream's echo under, through
// the upstream registered as name.
func exposedTool(name string) string {
	for _, u := range upstreamSpecs("") {
		if u.Name == name {
			return upstream.Spec{Name: u.Name, Prefix: upstream.Prefix(u.Prefix)}.Exposed(toolEcho)
		}
	}
	panic("fedload: no upstream " + name)
}

// benchRole is the role every client's token carries with auth on; the
// policy allows it the upstream's tools.
const benchRole = "fedload-client"

// benchPolicy is the permission policy of the gateway with auth on.
var benchPolicy = config.PolicyRule{
	Name:  "fedload-clients",
	Match: config.PolicyMatch{Role: benchRole},
	Allow: []string{auth.ToolPermission(exposedTool(upstreamStateless)), auth.ToolPermission(exposedTool(upstreamSessions))},
}

// parleyReady is what the gateway's child reports once every upstream is
// connected and serves its tools: its /mcp URL and the protocol revision
// it negotiated with each upstream.
type parleyReady struct {
	URL         string            `json:"url"`
	Generations map[string]string `json:"generations"`
}

// upstreamWait bounds the wait for the upstreams to be connected.
const upstreamWait = 30 * time.Second

// serveParley is the gateway's child (shipped.ServeChild): config.Default()
// with a fresh SQLite file, loopback addresses allowed (the upstream is on
// 127.0.0.1), the upstream in mcp.upstreams and, with -issuer, auth on
// with the bench's policy; it reports once every upstream serves its
// tools.
func serveParley(ctx context.Context, args []string, readyFn func(any) error) error {
	var upstreamURL *string
	return shipped.ServeChild(ctx, childParley, args, readyFn, shipped.ChildOptions{
		Flags: func(fs *flag.FlagSet) { upstreamURL = fs.String("upstream", "", "the upstream's base URL") },
		Configure: func(cfg *config.Config) {
			cfg.AllowPrivateAgentURLs = true
			cfg.MCP.Upstreams = upstreamSpecs(*upstreamURL)
		},
		Policy: []config.PolicyRule{benchPolicy},
		Ready: func(ctx context.Context, g *shipped.Gateway) (any, error) {
			gens, err := awaitUpstreams(ctx, g)
			return parleyReady{URL: g.MCPURL(), Generations: gens}, err
		},
	})
}

// awaitUpstreams waits until every registered upstream is healthy and
// serves its tools, and returns the revision negotiated with each.
func awaitUpstreams(ctx context.Context, g *shipped.Gateway) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, upstreamWait)
	defer cancel()
	for {
		changed := g.Upstreams.Changed()
		var waiting []string
		gens := map[string]string{}
		for _, st := range g.Upstreams.Statuses() {
			if !st.Healthy || len(st.Tools) == 0 {
				waiting = append(waiting, fmt.Sprintf("%s (%s)", st.Name, cmp.Or(st.LastError, "connecting")))
				continue
			}
			gens[st.Name] = st.Generation
		}
		if len(waiting) == 0 && len(gens) > 0 {
			return gens, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("upstreams not ready within %s: %s", upstreamWait, strings.Join(waiting, ", "))
		}
	}
}
