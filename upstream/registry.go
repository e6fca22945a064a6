package upstream

// The registry of upstreams: what is registered, kept in the store so that
// every replica serves the same set. Connections are the Manager's
// business; the app follows the store's feed (store.KindUpstream) and
// hands the Manager the registered specs.
//
// Config file and admin API. Upstreams named in the config file
// (mcp.upstreams) are written to the store at start (Seed) and marked as
// the file's (store.UpstreamFromConfig). The file owns them: the admin API
// may neither replace nor remove them (ErrConfigOwned), a change in the
// file replaces the stored spec at the next start, and one that leaves the
// file is removed at the next start. Upstreams registered through the
// admin API are never touched by seeding, except that a config upstream of
// the same name takes over the registration (the file wins, with a warning
// in the log): an operator's file is the one place that says for certain
// what a deployment serves. Replicas must therefore share one config file.
// (Agents have no config-file counterpart to follow: they are registered
// through the API only.)

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/parleyhq/parley/store"
)

// Errors callers match with errors.Is.
var (
	// ErrInvalid: a spec the registry cannot accept (a bad name, both or
	// neither of url and command, a bad glob, …).
	ErrInvalid = errors.New("invalid upstream")
	// ErrNotFound: no such upstream (or tool).
	ErrNotFound = store.ErrNotFound
	// ErrExists: the name is taken.
	ErrExists = store.ErrExists
	// ErrConflict: the upstream would serve a tool or prompt name that
	// Parley or another upstream serves already. The error is a
	// *ConflictError.
	ErrConflict = errors.New("name collision")
	// ErrConfigOwned: the upstream is defined in the config file, which
	// owns it.
	ErrConfigOwned = errors.New("upstream is defined in the config file")
)

// ConflictError is a registration refused because exposed names collide.
type ConflictError struct {
	// Upstream is the upstream being registered.
	Upstream  string
	Conflicts []Conflict
}

func (e *ConflictError) Error() string {
	var b strings.Builder
	for i, c := range e.Conflicts {
		if i > 0 {
			b.WriteString("; ")
		}
		owner := "Parley itself"
		if c.Owner != "parley" {
			owner = fmt.Sprintf("upstream %q", c.Owner)
		}
		fmt.Fprintf(&b, "%s is already served by %s", c.Name, owner)
	}
	it := "it"
	if len(e.Conflicts) > 1 {
		it = "them"
	}
	fmt.Fprintf(&b, "; upstream %q would serve %s too (give it another prefix or name, or leave the tool out with deny)", e.Upstream, it)
	return b.String()
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// ConflictChecker reports the exposed names an upstream would serve that
// Parley or another upstream serves already. The Manager implements it by
// probing the upstream; an upstream it cannot reach has no conflicts (it
// is registered, and marked unhealthy).
type ConflictChecker interface {
	Conflicts(ctx context.Context, spec Spec) ([]Conflict, error)
}

// URLChecker refuses URLs Parley must not connect to on a caller's behalf
// (server-side request forgery): the agents' address guard,
// agentcards.Guard, is one, so that --allow-private-agent-urls governs
// upstreams too.
type URLChecker interface {
	CheckURL(ctx context.Context, raw string) error
}

// Store is what the registry keeps upstreams in.
type Store interface {
	store.Upstreams
}

// Options tune a Registry.
type Options struct {
	Logger *slog.Logger
	// Now reads the clock. Default time.Now.
	Now func() time.Time
	// Guard checks an HTTP upstream's URL before it is registered; its
	// error refuses the registration. Nil checks nothing: the Manager's
	// dials are guarded too, but the caller hears of a refused address
	// only as an unhealthy upstream.
	Guard URLChecker
	// Conflicts, when set, refuses registrations through the admin API
	// whose exposed names collide with names served already. Nil checks
	// nothing.
	Conflicts ConflictChecker
	// Pins keeps the pins of the upstreams' tools, for Approve and
	// Drifted. Default: pins over the registry's store.
	Pins *Pins
}

// Registry is the set of registered upstreams.
type Registry struct {
	st   Store
	opts Options
	log  *slog.Logger
	pins *Pins
}

// NewRegistry returns a Registry over st.
func NewRegistry(st Store, opts Options) *Registry {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Pins == nil {
		opts.Pins = NewPins(st, PinOptions{Logger: opts.Logger, Now: opts.Now})
	}
	return &Registry{st: st, opts: opts, log: opts.Logger, pins: opts.Pins}
}

// Pins is the registry's tool pinning.
func (r *Registry) Pins() *Pins { return r.pins }

// now is the clock truncated to what the store keeps (microseconds).
func (r *Registry) now() time.Time { return r.opts.Now().UTC().Truncate(time.Microsecond) }

// Upstream is a registered upstream.
type Upstream struct {
	Spec    Spec
	Version int64
	// Source is store.UpstreamFromConfig or store.UpstreamFromAPI.
	Source    string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// FromConfig reports whether the config file owns the upstream.
func (u Upstream) FromConfig() bool { return u.Source == store.UpstreamFromConfig }

// Add registers an upstream through the admin API: the spec is validated
// (ErrInvalid), an HTTP upstream's URL passes the guard (its error, e.g.
// agentcards.ErrBlockedAddress), the name must be free (ErrExists, or
// ErrConfigOwned when the config file defines it), and the names it would
// serve must not collide with names served already (a *ConflictError).
func (r *Registry) Add(ctx context.Context, spec Spec) (Upstream, error) {
	spec = spec.Normalized()
	if err := spec.Validate(); err != nil {
		return Upstream{}, err
	}
	if err := r.checkURL(ctx, spec); err != nil {
		return Upstream{}, err
	}
	// The name is checked before the probe: a taken name needs no
	// connection to refuse.
	switch existing, err := r.st.GetUpstream(ctx, spec.Name); {
	case err == nil:
		return Upstream{}, r.taken(existing)
	case !errors.Is(err, store.ErrNotFound):
		return Upstream{}, fmt.Errorf("register upstream %q: %w", spec.Name, err)
	}
	if r.opts.Conflicts != nil {
		conflicts, err := r.opts.Conflicts.Conflicts(ctx, spec)
		if err != nil {
			return Upstream{}, fmt.Errorf("register upstream %q: checking its names: %w", spec.Name, err)
		}
		if len(conflicts) > 0 {
			return Upstream{}, &ConflictError{Upstream: spec.Name, Conflicts: conflicts}
		}
	}
	doc, err := json.Marshal(spec)
	if err != nil {
		return Upstream{}, fmt.Errorf("register upstream %q: %w", spec.Name, err)
	}
	now := r.now()
	rec, err := r.st.CreateUpstream(ctx, store.Upstream{Name: spec.Name, Spec: doc, Source: store.UpstreamFromAPI, CreatedAt: now, UpdatedAt: now})
	if errors.Is(err, store.ErrExists) {
		// Registered meanwhile, by another caller or replica.
		if existing, gerr := r.st.GetUpstream(ctx, spec.Name); gerr == nil {
			return Upstream{}, r.taken(existing)
		}
		return Upstream{}, fmt.Errorf("upstream name %q is taken: %w", spec.Name, ErrExists)
	}
	if err != nil {
		return Upstream{}, fmt.Errorf("register upstream %q: %w", spec.Name, err)
	}
	r.log.Info("upstream registered", "upstream", spec.Name, "kind", spec.Kind(), "url", spec.URL, "prefix", string(spec.Prefix))
	return fromStore(rec)
}

// taken is the error for a registration under a name in use.
func (r *Registry) taken(existing store.Upstream) error {
	if existing.Source == store.UpstreamFromConfig {
		return fmt.Errorf("upstream %q is defined in the config file (mcp.upstreams): change it there: %w", existing.Name, ErrConfigOwned)
	}
	return fmt.Errorf("upstream name %q is taken (remove it first to register it again): %w", existing.Name, ErrExists)
}

// checkURL passes an HTTP upstream's URL through the guard.
func (r *Registry) checkURL(ctx context.Context, spec Spec) error {
	if spec.URL == "" || r.opts.Guard == nil {
		return nil
	}
	if err := r.opts.Guard.CheckURL(ctx, spec.URL); err != nil {
		return fmt.Errorf("upstream %q: %w", spec.Name, err)
	}
	return nil
}

// Get returns the upstream named name. ErrNotFound if none.
func (r *Registry) Get(ctx context.Context, name string) (Upstream, error) {
	rec, err := r.st.GetUpstream(ctx, name)
	if err != nil {
		return Upstream{}, err
	}
	return fromStore(rec)
}

// List returns every registered upstream, by name.
func (r *Registry) List(ctx context.Context) ([]Upstream, error) {
	recs, err := r.st.ListUpstreams(ctx)
	if err != nil {
		return nil, fmt.Errorf("list upstreams: %w", err)
	}
	out := make([]Upstream, 0, len(recs))
	for _, rec := range recs {
		u, err := fromStore(rec)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// Specs returns the specs of every registered upstream, by name: the set
// the Manager should serve.
func (r *Registry) Specs(ctx context.Context) ([]Spec, error) {
	all, err := r.List(ctx)
	if err != nil {
		return nil, err
	}
	specs := make([]Spec, len(all))
	for i, u := range all {
		specs[i] = u.Spec
	}
	return specs, nil
}

// Remove deletes an upstream registered through the admin API, and the
// pins of its tools: registered again, its tools are pinned afresh.
// ErrNotFound if there is none; ErrConfigOwned if the config file defines
// it (it would come back at the next start).
func (r *Registry) Remove(ctx context.Context, name string) error {
	rec, err := r.st.GetUpstream(ctx, name)
	if err != nil {
		return err
	}
	if rec.Source == store.UpstreamFromConfig {
		return fmt.Errorf("upstream %q is defined in the config file (mcp.upstreams): remove it there and restart: %w", name, ErrConfigOwned)
	}
	if err := r.st.DeleteUpstream(ctx, name, r.now()); err != nil {
		return err
	}
	r.log.Info("upstream removed", "upstream", name)
	return nil
}

// Approve approves the drifted definitions of an upstream's tools (see
// Pins.Approve): every drifted tool when tools is empty. It returns the
// tools approved. ErrNotFound for an unknown upstream or a tool never
// seen.
func (r *Registry) Approve(ctx context.Context, name string, tools []string) ([]string, error) {
	u, err := r.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	return r.pins.Approve(ctx, u.Spec, tools)
}

// Drifted returns the upstream's tools whose definition changed since it
// was approved, by tool name. ErrNotFound for an unknown upstream.
func (r *Registry) Drifted(ctx context.Context, name string) ([]Drift, error) {
	u, err := r.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	return r.pins.Drifted(ctx, u.Spec)
}

// maxRetries bounds re-reads after losing a versioned write race.
const maxRetries = 5

// Seed writes the config file's upstreams to the store, as the file's:
// new ones are created, changed ones replaced (also one registered
// through the admin API under the same name: the file wins), and the
// file's upstreams that are no longer in it removed. Each spec is checked
// as Add checks it, except for name collisions: the file is the
// operator's, and the Manager serves a colliding name from the upstream
// registered first. The first bad spec stops it, naming the upstream.
func (r *Registry) Seed(ctx context.Context, specs []Spec) error {
	wanted := make(map[string]bool, len(specs))
	for i, spec := range specs {
		spec = spec.Normalized()
		if err := spec.Validate(); err != nil {
			return fmt.Errorf("mcp.upstreams[%d] (%s): %w", i, spec.Name, err)
		}
		if wanted[spec.Name] {
			return fmt.Errorf("mcp.upstreams[%d]: upstream %q is named twice: %w", i, spec.Name, ErrInvalid)
		}
		wanted[spec.Name] = true
		if err := r.checkURL(ctx, spec); err != nil {
			return fmt.Errorf("mcp.upstreams[%d]: %w", i, err)
		}
		if err := r.seedOne(ctx, spec); err != nil {
			return err
		}
	}
	stored, err := r.st.ListUpstreams(ctx)
	if err != nil {
		return fmt.Errorf("seed upstreams: %w", err)
	}
	for _, rec := range stored {
		if rec.Source != store.UpstreamFromConfig || wanted[rec.Name] {
			continue
		}
		err := r.st.DeleteUpstream(ctx, rec.Name, r.now())
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("seed upstreams: remove %q, no longer in the config file: %w", rec.Name, err)
		}
		r.log.Info("upstream removed: no longer in the config file", "upstream", rec.Name)
	}
	return nil
}

// seedOne writes one config upstream, retrying when another replica's
// seeding gets in between.
func (r *Registry) seedOne(ctx context.Context, spec Spec) error {
	doc, err := json.Marshal(spec)
	if err != nil {
		return fmt.Errorf("seed upstream %q: %w", spec.Name, err)
	}
	for attempt := 0; ; attempt++ {
		rec, err := r.st.GetUpstream(ctx, spec.Name)
		switch {
		case errors.Is(err, store.ErrNotFound):
			now := r.now()
			_, err = r.st.CreateUpstream(ctx, store.Upstream{Name: spec.Name, Spec: doc, Source: store.UpstreamFromConfig, CreatedAt: now, UpdatedAt: now})
			if err == nil {
				r.log.Info("upstream registered from the config file", "upstream", spec.Name, "kind", spec.Kind())
				return nil
			}
		case err != nil:
		case rec.Source == store.UpstreamFromConfig && sameSpec(rec.Spec, spec):
			return nil
		default:
			if rec.Source != store.UpstreamFromConfig {
				r.log.Warn("the config file's upstream replaces one registered through the admin API", "upstream", spec.Name)
			}
			version := rec.Version
			rec.Spec, rec.Source, rec.UpdatedAt = doc, store.UpstreamFromConfig, r.now()
			if _, err = r.st.UpdateUpstream(ctx, rec, version); err == nil {
				r.log.Info("upstream updated from the config file", "upstream", spec.Name, "kind", spec.Kind())
				return nil
			}
		}
		retry := errors.Is(err, store.ErrExists) || errors.Is(err, store.ErrVersionConflict) || errors.Is(err, store.ErrNotFound)
		if !retry || attempt >= maxRetries {
			return fmt.Errorf("seed upstream %q: %w", spec.Name, err)
		}
	}
}

// sameSpec reports whether a stored spec document is spec.
func sameSpec(doc json.RawMessage, spec Spec) bool {
	var stored Spec
	if err := json.Unmarshal(doc, &stored); err != nil {
		return false
	}
	a, _ := json.Marshal(stored.Normalized())
	b, _ := json.Marshal(spec.Normalized())
	return string(a) == string(b)
}

func fromStore(rec store.Upstream) (Upstream, error) {
	var spec Spec
	if err := json.Unmarshal(rec.Spec, &spec); err != nil {
		return Upstream{}, fmt.Errorf("upstream %q: stored spec: %w", rec.Name, err)
	}
	return Upstream{Spec: spec, Version: rec.Version, Source: rec.Source, CreatedAt: rec.CreatedAt, UpdatedAt: rec.UpdatedAt}, nil
}
