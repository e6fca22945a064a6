package app

// The registry side of upstream MCP servers: the registry over the store,
// seeded from the config file, its admin API routes and their audit
// records, and the loop that hands the connection Manager every change
// made on any replica (the store's feed).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/parleyhq/parley/adminapi"
	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/upstream"
)

// UpstreamRegistryOptions are what newUpstreamRegistry needs beyond the
// configuration and the store.
type UpstreamRegistryOptions struct {
	Logger *slog.Logger
	// Guard is the agents' address guard: --allow-private-agent-urls
	// governs upstream URLs as it governs agents'.
	Guard *agentcards.Guard
	// Pins are the pins the Manager consults (upstream.NewPins over the
	// same store); nil makes new ones.
	Pins *upstream.Pins
	// Conflicts refuses API registrations whose tool or prompt names
	// collide (the Manager); nil checks none.
	Conflicts upstream.ConflictChecker
}

// newUpstreamRegistry builds the registry of upstreams over st and writes
// the config file's upstreams (cfg.MCP.Upstreams) to it. A config
// upstream that is invalid or whose URL the guard refuses stops start-up,
// naming it.
func newUpstreamRegistry(ctx context.Context, cfg config.Config, st store.Store, opts UpstreamRegistryOptions) (*upstream.Registry, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var guard upstream.URLChecker
	if opts.Guard != nil {
		guard = upstreamGuard{guard: opts.Guard, log: logger}
	}
	reg := upstream.NewRegistry(st, upstream.Options{Logger: logger, Guard: guard, Conflicts: opts.Conflicts, Pins: opts.Pins})
	if err := reg.Seed(ctx, UpstreamSpecs(cfg.MCP.Upstreams)); err != nil {
		return nil, fmt.Errorf("the config file's upstreams: %w", err)
	}
	return reg, nil
}

// upstreamGuard is the agents' guard for upstream URLs, except that a
// host that does not resolve now is let through with a warning: an
// upstream that cannot be reached is registered and marked unhealthy
// (the Manager's dials are guarded again, address by address).
type upstreamGuard struct {
	guard *agentcards.Guard
	log   *slog.Logger
}

func (g upstreamGuard) CheckURL(ctx context.Context, raw string) error {
	err := g.guard.CheckURL(ctx, raw)
	if errors.Is(err, agentcards.ErrUnresolvable) {
		g.log.WarnContext(ctx, "upstream host does not resolve now; registering it, its connections are checked when made", "url", raw, "error", err)
		return nil
	}
	return err
}

// UpstreamSpecs turns the config file's upstreams into specs.
func UpstreamSpecs(in []config.Upstream) []upstream.Spec {
	out := make([]upstream.Spec, 0, len(in))
	for _, u := range in {
		spec := upstream.Spec{
			Name: u.Name, URL: u.URL, Command: u.Command, Env: u.Env, Dir: u.Dir,
			Prefix: upstream.Prefix(u.Prefix), Allow: u.Allow, Deny: u.Deny,
		}
		if c := u.Credentials; c != nil {
			spec.Credentials = &upstream.Credentials{BearerTokenFile: c.BearerTokenFile, BearerTokenEnv: c.BearerTokenEnv}
			if cc := c.ClientCredentials; cc != nil {
				spec.Credentials.ClientCredentials = &upstream.ClientCredentials{
					TokenURL: cc.TokenURL, ClientID: cc.ClientID, ClientSecretFile: cc.ClientSecretFile, ClientSecretEnv: cc.ClientSecretEnv,
					Scopes: cc.Scopes, Audience: cc.Audience,
				}
			}
		}
		out = append(out, spec)
	}
	return out
}

// mountUpstreamAPI adds the admin routes of upstreams to r, which the
// caller has put behind the admin face and the audit middleware (the
// routes' records are described by describeUpstreamAdmin). status is the
// Manager, or nil.
func mountUpstreamAPI(r chi.Router, reg *upstream.Registry, status adminapi.UpstreamStatuses, opts adminapi.Options) {
	adminapi.NewUpstreams(reg, status, opts).Mount(r)
}

// Audit actions of the upstream admin routes.
const (
	actionUpstreamRegister = "upstream.register"
	actionUpstreamRemove   = "upstream.remove"
	actionUpstreamApprove  = "upstream.approve"
)

// describeUpstreamAdmin records changes to the registered upstreams; rest
// is the path after /api/v1/upstreams. Each record commits with the
// registry's write.
func describeUpstreamAdmin(r *http.Request, rest string) (audit.Entry, bool) {
	if rest != "" && !strings.HasPrefix(rest, "/") {
		return audit.Entry{}, false // /api/v1/upstreamsX
	}
	name, sub, _ := strings.Cut(strings.TrimPrefix(rest, "/"), "/")
	var action string
	switch {
	case r.Method == http.MethodPost && name == "":
		action = actionUpstreamRegister
	case r.Method == http.MethodDelete && name != "" && sub == "":
		action = actionUpstreamRemove
	case r.Method == http.MethodPost && name != "" && sub == "approve":
		action = actionUpstreamApprove
	default:
		return audit.Entry{}, false
	}
	return audit.Entry{Action: action, Target: name, WithWrite: true}, true
}

// upstreamFollower hands the connection Manager what the registry holds,
// at start and after every change on any replica: the specs when an
// upstream is registered, changed or removed (store.KindUpstream), and a
// re-check of an upstream's tools when a pin changes
// (store.KindUpstreamTool: an approval must show the tool again
// everywhere).
type upstreamFollower struct {
	Registry *upstream.Registry
	Feed     store.Feed
	// Sync hands the Manager the registered specs (Manager.Sync).
	Sync func(ctx context.Context, specs []upstream.Spec) error
	// Recheck re-lists an upstream's tools and checks them against their
	// pins again. Nil: Sync is called instead.
	Recheck func(ctx context.Context, name string) error
	Logger  *slog.Logger
	// RetryAfter is the first wait before trying again after a failed
	// sync; it doubles up to a minute. Default 1s.
	RetryAfter time.Duration
	// synced, when set, hears of every completed sync (tests).
	synced func()
}

// Run follows the feed until ctx ends. It fails only when it cannot
// subscribe to the feed; a failed sync is logged and retried.
func (f *upstreamFollower) Run(ctx context.Context) error {
	log := f.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	retryAfter := f.RetryAfter
	if retryAfter <= 0 {
		retryAfter = time.Second
	}
	// Subscribed before the first listing, so that nothing committed in
	// between is missed.
	changes, err := f.Feed.Subscribe(ctx)
	if err != nil {
		return fmt.Errorf("follow upstream changes: %w", err)
	}
	needSync := true
	recheck := map[string]bool{}
	wait := retryAfter
	var retry <-chan time.Time
	for {
		if retry == nil && (needSync || len(recheck) > 0) {
			if f.apply(ctx, log, &needSync, recheck) {
				wait = retryAfter
				if f.synced != nil {
					f.synced()
				}
			} else {
				retry = time.After(wait)
				wait = min(2*wait, time.Minute)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-retry:
			retry = nil
		case c, ok := <-changes:
			if !ok {
				return nil // the store closed, or ctx ended
			}
			f.note(c, &needSync, recheck)
			// Take whatever else is queued now, so that a burst of changes
			// costs one sync.
			for drained := false; !drained; {
				select {
				case c, ok := <-changes:
					if !ok {
						return nil
					}
					f.note(c, &needSync, recheck)
				default:
					drained = true
				}
			}
		}
	}
}

// note records what a change asks for.
func (f *upstreamFollower) note(c store.Change, needSync *bool, recheck map[string]bool) {
	switch c.Kind {
	case store.KindUpstream:
		*needSync = true
	case store.KindUpstreamTool:
		if f.Recheck == nil {
			*needSync = true
		} else {
			recheck[c.Key] = true
		}
	}
}

// apply syncs (clearing *sync once done) and re-checks (deleting each
// upstream done from recheck); it reports whether everything succeeded.
// While a retry is pending, changes only accumulate: the retry carries
// them.
func (f *upstreamFollower) apply(ctx context.Context, log *slog.Logger, sync *bool, recheck map[string]bool) bool {
	if *sync {
		specs, err := f.Registry.Specs(ctx)
		if err == nil {
			err = f.Sync(ctx, specs)
		}
		if err != nil {
			if ctx.Err() == nil {
				log.WarnContext(ctx, "cannot apply the registered upstreams; retrying", "error", err)
			}
			return false
		}
		*sync = false
	}
	ok := true
	for name := range recheck {
		if err := f.Recheck(ctx, name); err != nil {
			if ctx.Err() == nil {
				log.WarnContext(ctx, "cannot re-check an upstream's tools; retrying", "upstream", name, "error", err)
			}
			ok = false
			continue
		}
		delete(recheck, name)
	}
	return ok
}
