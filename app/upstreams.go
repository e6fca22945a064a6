package app

// Federation's assembly: the connections to upstream MCP servers (the
// Manager), fed by the registry (seeded from the config file, changed
// through the admin API, followed on every replica through the store's
// feed), consulted by the MCP bridge, which mirrors what they serve.

import (
	"context"
	"log/slog"

	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/upstream"
)

// upstreamIdlePerHost is how many idle HTTP connections are kept per
// upstream host: calls to an upstream reuse them (the agents' transport
// keeps fewer, for many hosts called less often).
const upstreamIdlePerHost = 64

// federationParts are what buildUpstreams assembles.
type federationParts struct {
	Manager  *upstream.Manager
	Registry *upstream.Registry
	Follower *upstreamFollower
}

// buildUpstreams builds the Manager and the registry over st. local lists
// Parley's own tool and prompt names (the bridge's, built later: it is
// called only once serving). HTTP upstreams are dialled through guard's
// checks, so that --allow-private-agent-urls governs them as it governs
// agents.
func buildUpstreams(ctx context.Context, cfg config.Config, st store.Store, guard *agentcards.Guard, local func() []string, logger *slog.Logger) (federationParts, error) {
	log := logger.With("component", "upstreams")
	transport := guard.Transport().Clone()
	transport.MaxIdleConnsPerHost = upstreamIdlePerHost
	pins := upstream.NewPins(st, upstream.PinOptions{Logger: log})
	m := upstream.NewManager(upstream.ManagerOptions{
		Logger:    log,
		Transport: transport,
		Pinner:    pins,
		Local:     local,
	})
	reg, err := newUpstreamRegistry(ctx, cfg, st, UpstreamRegistryOptions{Logger: log, Guard: guard, Pins: pins, Conflicts: m})
	if err != nil {
		m.Close()
		return federationParts{}, err
	}
	return federationParts{
		Manager:  m,
		Registry: reg,
		Follower: &upstreamFollower{Registry: reg, Feed: st, Sync: m.Sync, Recheck: m.Recheck, Logger: log},
	}, nil
}
