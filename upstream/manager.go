package upstream

// The Manager holds this replica's connections to the registered
// upstreams: the registry hands it the wanted set (Sync), it connects,
// watches and reconnects each, and the MCP bridge mirrors what they serve
// (Served, Changed).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ManagerOptions tune a Manager. The zero value is a sensible default.
type ManagerOptions struct {
	Logger *slog.Logger
	// Transport carries requests to HTTP upstreams: the SSRF guard's (so
	// that --allow-private-agent-urls governs upstreams as it governs
	// agents). Default http.DefaultTransport.
	Transport http.RoundTripper
	// Pinner decides which tools may be served (the registry's Pins). Nil
	// serves every tool.
	Pinner Pinner
	// Local lists the names of Parley's own tools and prompts, which no
	// upstream may take. Nil: none.
	Local func() []string
	// Getenv reads credentials' variables and a stdio upstream's
	// inherited environment. Default os.Getenv.
	Getenv func(string) string
	// MinBackoff and MaxBackoff bound the wait before reconnecting to an
	// upstream that is down (it doubles from MinBackoff). Defaults 500ms
	// and 30s.
	MinBackoff, MaxBackoff time.Duration
	// ProbeInterval is how often a connected upstream is checked. Default
	// 15s.
	ProbeInterval time.Duration
	// MaxSessions bounds the call sessions open to one HTTP upstream (per
	// set of caller capabilities, for a session upstream); a call beyond
	// it waits for a session to be free. Default 64.
	MaxSessions int
	// Client names Parley to upstreams. Default "parley".
	Client *mcp.Implementation
	// Now reads the clock. Default time.Now.
	Now func() time.Time
}

// Manager connects to the registered upstreams. Start Run; Sync hands it
// the registered specs.
type Manager struct {
	opts ManagerOptions
	log  *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	ups     map[string]*Conn
	order   []string
	change  chan struct{} // closed at the next change
	stopped bool
}

// NewManager returns a Manager with no upstreams.
func NewManager(opts ManagerOptions) *Manager {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Transport == nil {
		opts.Transport = http.DefaultTransport
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 500 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(30*time.Second, opts.MinBackoff)
	}
	if opts.ProbeInterval <= 0 {
		opts.ProbeInterval = 15 * time.Second
	}
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = 64
	}
	if opts.Client == nil {
		opts.Client = &mcp.Implementation{Name: "parley", Title: "Parley gateway"}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{opts: opts, log: opts.Logger, ctx: ctx, cancel: cancel,
		ups: map[string]*Conn{}, change: make(chan struct{})}
}

// Run waits until ctx ends, then closes every connection (stopping stdio
// upstreams) and waits for the loops to end.
func (m *Manager) Run(ctx context.Context) error {
	<-ctx.Done()
	m.Close()
	return nil
}

// Close closes every connection and waits for the loops to end. Safe to
// call more than once.
func (m *Manager) Close() {
	m.mu.Lock()
	m.stopped = true
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
}

// Sync makes the connected set the given specs, in their order (which
// decides who keeps a name two upstreams serve: the earlier). An upstream
// whose spec is unchanged keeps its connection; a changed one reconnects;
// one not in specs is disconnected.
func (m *Manager) Sync(ctx context.Context, specs []Spec) error {
	m.mu.Lock()
	if m.stopped {
		m.mu.Unlock()
		return errors.New("the upstream manager is stopped")
	}
	var stop []*Conn
	var errs []error
	wanted := map[string]bool{}
	order := make([]string, 0, len(specs))
	for _, spec := range specs {
		spec = spec.Normalized()
		if wanted[spec.Name] {
			errs = append(errs, fmt.Errorf("upstream %q is given twice", spec.Name))
			continue
		}
		wanted[spec.Name] = true
		order = append(order, spec.Name)
		if old := m.ups[spec.Name]; old != nil {
			if reflect.DeepEqual(old.spec, spec) {
				continue
			}
			stop = append(stop, old)
		}
		u, err := m.newConn(spec)
		if err != nil {
			errs = append(errs, err)
			delete(m.ups, spec.Name)
			order = order[:len(order)-1]
			continue
		}
		m.ups[spec.Name] = u
		m.wg.Go(u.run)
	}
	for name, u := range m.ups {
		if !wanted[name] {
			stop = append(stop, u)
			delete(m.ups, name)
		}
	}
	m.order = order
	m.mu.Unlock()
	for _, u := range stop {
		u.stop()
	}
	m.changed()
	return errors.Join(errs...)
}

func (m *Manager) newConn(spec Spec) (*Conn, error) {
	log := m.log.With("upstream", spec.Name)
	u := &Conn{m: m, spec: spec, log: log,
		refreshCh: make(chan struct{}, 1), failCh: make(chan struct{}, 1),
		pools: map[string]*pool{}, subs: map[string]int{}}
	if spec.Kind() == "http" {
		ts, err := tokenSourceFor(m.ctx, spec.Credentials, m.opts.Getenv)
		if err != nil {
			return nil, fmt.Errorf("upstream %q: %w", spec.Name, err)
		}
		u.http = &http.Client{Transport: traced(&credentialTransport{ts: ts, base: m.opts.Transport})} // trace.go
	}
	u.ctx, u.cancel = context.WithCancel(m.ctx)
	return u, nil
}

// Recheck lists the named upstream's tools again and checks them against
// their pins (after an approval on any replica).
func (m *Manager) Recheck(_ context.Context, name string) error {
	m.mu.Lock()
	u := m.ups[name]
	m.mu.Unlock()
	if u != nil {
		u.Refresh()
	}
	return nil
}

// Get returns the named upstream.
func (m *Manager) Get(name string) (*Conn, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.ups[name]
	return u, ok
}

// Conns lists the connections in registration order.
func (m *Manager) Conns() []*Conn {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Conn, 0, len(m.order))
	for _, n := range m.order {
		out = append(out, m.ups[n])
	}
	return out
}

// Changed returns a channel closed at the next change of what the
// upstreams serve (connected, down, re-listed, added, removed).
func (m *Manager) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.change
}

func (m *Manager) changed() {
	m.mu.Lock()
	close(m.change)
	m.change = make(chan struct{})
	m.mu.Unlock()
}

// Status reports the named upstream's connection on this replica.
func (m *Manager) Status(name string) (Status, bool) {
	u, ok := m.Get(name)
	if !ok {
		return Status{}, false
	}
	return u.status(), true
}

// Statuses reports every upstream's, in registration order.
func (m *Manager) Statuses() []Status {
	ups := m.Conns()
	out := make([]Status, len(ups))
	for i, u := range ups {
		out[i] = u.status()
	}
	return out
}

// conflictProbeTimeout bounds Conflicts' probe of an upstream.
const conflictProbeTimeout = 15 * time.Second

// Conflicts probes spec's upstream (connects, lists its tools and
// prompts) and reports the exposed names it would serve that Parley
// itself or another upstream serves already. An upstream that cannot be
// reached has no conflicts (fail-open: it is registered, and marked
// unhealthy until it answers). The error is for a spec that cannot be
// probed at all (bad credentials).
func (m *Manager) Conflicts(ctx context.Context, spec Spec) ([]Conflict, error) {
	spec = spec.Normalized()
	probe, err := m.newConn(spec)
	if err != nil {
		return nil, err
	}
	defer probe.cancel()
	ctx, cancel := context.WithTimeout(ctx, conflictProbeTimeout)
	defer cancel()
	s, err := probe.connectControl(ctx)
	if err != nil {
		m.log.InfoContext(ctx, "upstream not reachable for a conflict check; registering it anyway", "upstream", spec.Name, "error", err)
		return nil, nil
	}
	defer s.close()
	// No pins for a probe: a tool held back is still a name taken.
	probe.m = &Manager{opts: m.opts, log: m.log}
	probe.m.opts.Pinner = nil
	cat, err := probe.list(ctx, s.cs)
	if err != nil {
		m.log.InfoContext(ctx, "upstream could not be listed for a conflict check; registering it anyway", "upstream", spec.Name, "error", err)
		return nil, nil
	}
	taken := map[string]string{}
	for _, u := range m.Conns() {
		if u.spec.Name == spec.Name {
			continue
		}
		c := u.Catalog()
		if c == nil {
			continue
		}
		for _, t := range c.Tools {
			taken[u.spec.Exposed(t.Name)] = u.spec.Name
		}
		for _, t := range c.HeldBack {
			taken[u.spec.Exposed(t)] = u.spec.Name
		}
		for _, p := range c.Prompts {
			taken[u.spec.Exposed(p.Name)] = u.spec.Name
		}
	}
	if m.opts.Local != nil {
		for _, n := range m.opts.Local() {
			taken[n] = "parley"
		}
	}
	var out []Conflict
	check := func(name string) {
		exposed := spec.Exposed(name)
		if owner, ok := taken[exposed]; ok {
			out = append(out, Conflict{Name: exposed, Owner: owner})
		} else if len(exposed) > len(reservedPrefix) && exposed[:len(reservedPrefix)] == reservedPrefix {
			out = append(out, Conflict{Name: exposed, Owner: "parley"})
		}
	}
	for _, t := range cat.Tools {
		check(t.Name)
	}
	for _, p := range cat.Prompts {
		check(p.Name)
	}
	slices.SortFunc(out, func(a, b Conflict) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return slices.Compact(out), nil
}
