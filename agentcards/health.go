package agentcards

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/parleyhq/parley/store"
)

// Health probing. An agent registered by URL is probed by fetching its
// card again, which also applies the pinning rules (a changed card is
// adopted or flagged as drift, see Compare); one registered by document
// by an HTTP GET of its JSON-RPC endpoint, where any answer below 500
// counts as reachable (a JSON-RPC endpoint need not answer GET), or for a
// gRPC-only agent by opening a TCP connection. A failed probe makes the
// agent unreachable at once, with the error; the next good one makes it
// healthy. Only changes of status are changes on the store's feed.

// recordHealth stores the outcome of a probe (err nil: healthy) and logs
// transitions.
func (r *Registry) recordHealth(ctx context.Context, name string, probeErr error) {
	if probeErr != nil && ctx.Err() != nil {
		// The probe was cut short by its caller (a shutdown), not by the
		// agent: that says nothing about the agent's health.
		return
	}
	h := store.AgentHealth{Status: store.AgentHealthy, CheckedAt: r.now()}
	if probeErr != nil {
		h.Status, h.Error = store.AgentUnreachable, probeErr.Error()
	}
	before, _ := r.st.GetAgent(ctx, name)
	after, err := r.st.SetAgentHealth(ctx, name, h)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil {
			r.log.Warn("cannot record agent health", "agent", name, "error", err)
		}
		return
	}
	if before.Health.Status != after.Health.Status {
		level := r.log.Info
		if h.Status == store.AgentUnreachable {
			level = r.log.Warn
		}
		level("agent health changed", "agent", after.Name, "from", before.Health.Status, "to", h.Status, "error", h.Error)
	}
}

// Probe checks one agent now and records the outcome, returning the agent
// as it stands afterwards; a failed probe is not an error (it is in
// Health), a missing agent is (ErrNotFound).
func (r *Registry) Probe(ctx context.Context, name string) (Agent, error) {
	a, err := r.Get(ctx, name)
	if err != nil {
		return Agent{}, err
	}
	r.probe(ctx, a)
	return r.Get(ctx, name)
}

func (r *Registry) probe(ctx context.Context, a Agent) {
	if a.SourceURL != "" {
		// Refetch records the health (and logs its transitions) itself.
		if _, err := r.Refetch(ctx, a.Name); err != nil && ctx.Err() == nil {
			r.log.Debug("agent probe failed", "agent", a.Name, "error", err)
		}
		return
	}
	r.recordHealth(ctx, a.Name, r.probeEndpoint(ctx, a.Card))
}

// probeEndpoint checks that an agent's endpoint answers.
func (r *Registry) probeEndpoint(ctx context.Context, c *Card) error {
	ctx, cancel := context.WithTimeout(ctx, r.opts.FetchTimeout)
	defer cancel()
	target := c.Endpoint
	if target == "" {
		return errors.New("the card declares no endpoint")
	}
	if c.EndpointTransport == TransportGRPC {
		addr, err := dialTarget(target)
		if err != nil {
			return fmt.Errorf("endpoint %s: %w", target, err)
		}
		conn, err := r.guard.DialContext(ctx, "tcp", addr)
		if err != nil {
			return r.unreachable(ctx, target, err)
		}
		return conn.Close()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("endpoint %s: %w", target, err)
	}
	req.Header.Set("User-Agent", r.opts.UserAgent)
	resp, err := r.client.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("endpoint %s: no answer within %s", target, r.opts.FetchTimeout)
		}
		return r.unreachable(ctx, target, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		return fmt.Errorf("endpoint %s answered HTTP %s", target, resp.Status)
	}
	return nil
}

// probeError is a failed probe: its message is in the caller's terms
// (NetErrorReason, kept in the agent's health for anyone to read), err
// the full error.
type probeError struct {
	msg string
	err error
}

func (e *probeError) Error() string { return e.msg }
func (e *probeError) Unwrap() error { return e.err }

// unreachable explains why target could not be reached, logging the full
// error.
func (r *Registry) unreachable(ctx context.Context, target string, err error) error {
	r.log.DebugContext(ctx, "agent probe: endpoint unreachable", "endpoint", target, "err", err)
	reason, _ := NetErrorReason(err)
	return &probeError{msg: fmt.Sprintf("endpoint %s could not be reached: %s", target, reason), err: err}
}

// ProbeAll probes every agent now, at most ProbeConcurrency at once, and
// returns when all are done. Probe failures are recorded, not returned;
// only failing to list the agents (or ctx ending) is an error.
func (r *Registry) ProbeAll(ctx context.Context) error {
	return r.probeRound(ctx, false)
}

// probeRound probes every agent, or with onlyDue those not probed for at
// least half an interval: several replicas sharing a store then probe
// each agent about once per interval between them rather than once each.
func (r *Registry) probeRound(ctx context.Context, onlyDue bool) error {
	agents, err := r.All(ctx, Query{})
	if err != nil {
		return err
	}
	now := r.now()
	sem := make(chan struct{}, r.opts.ProbeConcurrency)
	var wg sync.WaitGroup
	for _, a := range agents {
		if onlyDue && !a.Health.CheckedAt.IsZero() && now.Sub(a.Health.CheckedAt) < r.opts.HealthInterval/2 {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		}
		wg.Go(func() {
			defer func() { <-sem }()
			r.probe(ctx, a)
		})
	}
	wg.Wait()
	return ctx.Err()
}

// Run probes the agents every HealthInterval (at once, then on every tick)
// until ctx ends, and then returns nil. A round still running when a tick
// comes is not overlapped: the tick is taken once the round is over. The
// caller owns Run's goroutine.
func (r *Registry) Run(ctx context.Context) error {
	if r.opts.HealthInterval < 0 {
		<-ctx.Done()
		return nil
	}
	ticks, stop := r.opts.NewTicker(r.opts.HealthInterval)
	defer stop()
	for {
		if err := r.probeRound(ctx, true); err != nil && ctx.Err() == nil {
			r.log.Warn("agent health round failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticks:
		}
	}
}

// dialTarget turns a gRPC interface URL or host:port into host:port.
func dialTarget(s string) (string, error) {
	if !strings.Contains(s, "://") {
		return s, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", err
	}
	if u.Hostname() == "" {
		return "", errors.New("no host")
	}
	if u.Port() != "" {
		return u.Host, nil
	}
	port := "80"
	if u.Scheme == "https" || u.Scheme == "grpcs" {
		port = "443"
	}
	return net.JoinHostPort(u.Hostname(), port), nil
}
