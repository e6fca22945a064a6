package upstream

// Health and fail-open. Each upstream has a loop: connect its control
// session, list its catalog and publish it (healthy), then watch it (the
// session ending, a probe failing, a call failing at the transport). An
// upstream that cannot be reached is marked unhealthy, its tools leave
// (the bridge tells hosts with list_changed), and it is retried with
// backoff and jitter; its tools come back when it does. Nothing a host
// lists ever waits on an upstream: listings are of the published catalogs.
// For a stdio upstream this loop is also the supervisor: a process that
// exits is started again, with the same backoff.

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// errClosed: the control session ended (the upstream closed it, the
// connection broke, the process exited).
var errClosed = errors.New("the connection to the upstream closed")

// run keeps the upstream connected until it is removed.
func (u *Conn) run() {
	ctx := u.ctx
	wait := u.m.opts.MinBackoff
	for {
		connected, err := u.serve(ctx)
		if ctx.Err() != nil {
			u.down(nil)
			return
		}
		u.down(err)
		if connected {
			wait = u.m.opts.MinBackoff
		}
		// Full jitter between half the wait and the wait, so that replicas
		// do not retry in step.
		d := wait/2 + rand.N(wait/2+1)
		u.log.Info("upstream unavailable; retrying", "in", d.Round(time.Millisecond), "error", err)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			u.down(nil)
			return
		case <-t.C:
		}
		wait = min(2*wait, u.m.opts.MaxBackoff)
	}
}

// serve connects, publishes the catalog and watches the connection until
// it fails; connected reports whether it got as far as publishing.
func (u *Conn) serve(ctx context.Context) (connected bool, err error) {
	s, err := u.connectControl(ctx)
	if err != nil {
		return false, err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer s.close()
	closed := make(chan struct{})
	wg.Go(func() {
		_ = s.cs.Wait()
		close(closed)
	})
	gen := ""
	if ir := s.cs.InitializeResult(); ir != nil {
		gen = ir.ProtocolVersion
	}
	cat, err := u.list(ctx, s.cs)
	if err != nil {
		return false, err
	}
	u.up(s, gen, cat)
	u.resubscribe(ctx, s)

	probe := time.NewTicker(u.m.opts.ProbeInterval)
	defer probe.Stop()
	for {
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case <-closed:
			return true, errClosed
		case <-u.refreshCh:
			cat, err := u.list(ctx, s.cs)
			if err != nil {
				return true, err
			}
			u.publish(cat)
		case <-u.failCh:
			if err := u.probe(ctx, s); err != nil {
				return true, err
			}
		case <-probe.C:
			if err := u.probe(ctx, s); err != nil {
				return true, err
			}
		}
	}
}

// probeTimeout bounds one health probe.
const probeTimeout = 10 * time.Second

// probe checks the upstream answers: a ping in a session, a discover (a
// new client session) in 2026-07-28, which has no ping.
func (u *Conn) probe(ctx context.Context, s *session) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	if u.Generation() < statelessVersion {
		return s.cs.Ping(ctx, nil)
	}
	c := mcp.NewClient(u.m.opts.Client, u.clientOptions(nil))
	cs, err := c.Connect(ctx, u.transport(true), nil)
	if err != nil {
		return err
	}
	return cs.Close()
}

// up publishes a fresh connection.
func (u *Conn) up(s *session, gen string, cat *Catalog) {
	u.mu.Lock()
	u.control, u.gen, u.catalog = s, gen, cat
	if !u.healthy {
		u.healthy, u.since, u.lastErr = true, u.m.opts.Now(), ""
	}
	u.mu.Unlock()
	u.log.Info("upstream connected", "generation", gen, "tools", len(cat.Tools), "held_back", len(cat.HeldBack),
		"prompts", len(cat.Prompts), "resources", len(cat.Resources), "templates", len(cat.Templates))
	u.m.changed()
}

// publish replaces the catalog of a connected upstream.
func (u *Conn) publish(cat *Catalog) {
	u.mu.Lock()
	u.catalog = cat
	u.mu.Unlock()
	u.m.changed()
}

// down marks the upstream unhealthy (err nil: it is being removed) and
// closes its sessions: calls in flight end with an error naming it.
func (u *Conn) down(err error) {
	u.mu.Lock()
	pools := u.pools
	u.pools = map[string]*pool{}
	u.control = nil
	wasHealthy := u.healthy
	if u.healthy || u.since.IsZero() {
		u.since = u.m.opts.Now()
	}
	u.healthy = false
	if err != nil {
		u.lastErr = describe(err)
	}
	u.mu.Unlock()
	for _, p := range pools {
		p.close()
	}
	if wasHealthy {
		u.log.Warn("upstream down", "error", err)
		u.m.changed()
	}
}

// describe says why an upstream is down in an operator's terms, without
// addresses of resolvers or error chains (the log has those).
func describe(err error) string {
	switch {
	case errors.Is(err, errClosed):
		return "the connection closed"
	case errors.Is(err, context.DeadlineExceeded):
		return "it did not answer in time"
	case errors.Is(err, mcp.ErrSessionMissing):
		return "it ended the session"
	}
	return "it could not be reached or answered with an error (see the gateway's log)"
}

// status is the upstream's Status.
func (u *Conn) status() Status {
	u.mu.Lock()
	defer u.mu.Unlock()
	st := Status{Name: u.spec.Name, Kind: u.spec.Kind(), Generation: u.gen, Healthy: u.healthy, LastError: u.lastErr}
	if !u.since.IsZero() {
		st.Since = u.since.UTC().Format(time.RFC3339)
	}
	if c := u.catalog; c != nil && u.healthy {
		for _, t := range c.Tools {
			st.Tools = append(st.Tools, u.spec.Exposed(t.Name))
		}
		for _, p := range c.Prompts {
			st.Prompts = append(st.Prompts, u.spec.Exposed(p.Name))
		}
	}
	if c := u.catalog; c != nil {
		for _, n := range c.HeldBack {
			st.HeldBack = append(st.HeldBack, u.spec.Exposed(n))
		}
	}
	return st
}
