// Package agentcards is the registry of A2A agents Parley talks to:
// registering them (by URL, fetching and validating their card, or by
// document), discovering them (search by skill, tag or text), probing their
// health, and pinning their cards so that a changed card is flagged as
// drift rather than silently adopted. It also holds the guard that keeps
// caller-supplied URLs from reaching internal addresses.
//
// Every change to an agent (registered, card adopted or flagged, health
// status changed, removed) is one store write that emits a store.KindAgent
// change keyed by the agent's name on the store's feed, on every replica:
// follow the feed to hear of agents coming and going, and Get the agent
// (ErrNotFound: it was removed).
package agentcards

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/parleyhq/parley/store"
)

// Errors callers match with errors.Is.
var (
	ErrNotFound        = store.ErrNotFound
	ErrExists          = store.ErrExists
	ErrVersionConflict = store.ErrVersionConflict
	// ErrInvalid: a request the registry cannot act on (a bad name, both or
	// neither of URL and card).
	ErrInvalid = errors.New("invalid input")
	// ErrNoDrift: there is no card awaiting approval.
	ErrNoDrift = errors.New("no card awaiting approval")
	// ErrStalePending: the card awaiting approval is not the one the
	// approver saw (its hash differs).
	ErrStalePending = errors.New("the card awaiting approval has changed")
	// ErrNoSourceURL: the agent was registered by document, so there is no
	// URL to fetch its card from.
	ErrNoSourceURL = errors.New("agent was registered by document and has no card URL")
)

// Health states.
const (
	StatusUnknown     = store.AgentUnknown
	StatusHealthy     = store.AgentHealthy
	StatusUnreachable = store.AgentUnreachable
)

// Store is what the registry keeps its agents in.
type Store interface {
	store.Agents
}

// Options tune a Registry.
type Options struct {
	Logger *slog.Logger
	// Now reads the clock. Default time.Now.
	Now func() time.Time
	// AllowPrivate turns the address guard off (see Guard), for agents on
	// private networks and for tests on loopback.
	AllowPrivate bool
	// Resolver resolves hosts for the guard's checks. Default
	// net.DefaultResolver.
	Resolver Resolver
	// FetchTimeout bounds fetching a card or probing an agent. Default 10s.
	FetchTimeout time.Duration
	// MaxCardBytes caps a card, fetched or given. Default 1 MiB.
	MaxCardBytes int64
	// UserAgent is sent when fetching cards. Default "parley-gateway".
	UserAgent string

	// HealthInterval is how often Run probes each agent. Default 30s;
	// negative disables probing (Run then only waits for its context).
	HealthInterval time.Duration
	// ProbeConcurrency bounds how many agents are probed at once. Default 8.
	ProbeConcurrency int
	// NewTicker makes Run's ticker; tests pass one they drive. Default
	// time.NewTicker.
	NewTicker func(d time.Duration) (ticks <-chan time.Time, stop func())
}

// Registry is the agent card registry.
type Registry struct {
	st     Store
	opts   Options
	log    *slog.Logger
	guard  *Guard
	client *http.Client
}

// New returns a Registry over st.
func New(st Store, opts Options) *Registry {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.FetchTimeout <= 0 {
		opts.FetchTimeout = 10 * time.Second
	}
	if opts.MaxCardBytes <= 0 {
		opts.MaxCardBytes = 1 << 20
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "parley-gateway"
	}
	if opts.HealthInterval == 0 {
		opts.HealthInterval = 30 * time.Second
	}
	if opts.ProbeConcurrency <= 0 {
		opts.ProbeConcurrency = 8
	}
	if opts.NewTicker == nil {
		opts.NewTicker = func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		}
	}
	guard := NewGuard(GuardOptions{AllowPrivate: opts.AllowPrivate, Resolver: opts.Resolver, DialTimeout: opts.FetchTimeout})
	return &Registry{
		st: st, opts: opts, log: opts.Logger, guard: guard,
		// The fetch timeout is applied per request through its context.
		client: guard.Client(0),
	}
}

// Guard is the registry's address guard, for checking other URLs callers
// supply (A2A push-notification URLs) and for HTTP clients that call
// registered agents.
func (r *Registry) Guard() *Guard { return r.guard }

// now is the clock truncated to what the store keeps (microseconds).
func (r *Registry) now() time.Time { return r.opts.Now().UTC().Truncate(time.Microsecond) }

// Agent is a registered agent.
type Agent struct {
	// Name is the registry's name for the agent: unique ignoring case.
	Name    string
	Version int64
	// SourceURL is where the card is fetched from; empty when registered
	// by document.
	SourceURL string
	// Card is the adopted card.
	Card   *Card
	Health Health
	// Pending is a fetched card that changed pinned fields, awaiting
	// approval; nil when there is none.
	Pending   *Pending
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Drift reports whether a changed card awaits approval.
func (a Agent) Drift() bool { return a.Pending != nil }

// Health is the outcome of an agent's last probe.
type Health struct {
	Status    string // StatusUnknown, StatusHealthy or StatusUnreachable
	Error     string // why the last probe failed
	CheckedAt time.Time
}

// Pending is a card awaiting approval.
type Pending struct {
	Card *Card
	// Summary says how it differs from the adopted card.
	Summary    string
	DetectedAt time.Time
}

// Registration registers or replaces an agent: exactly one of URL and
// Card.
type Registration struct {
	// URL is the agent's base URL, or its card's URL; the card is fetched
	// from CardURL(URL).
	URL string
	// Card is the card document.
	Card json.RawMessage
	// Name is the registry name; default the card's name. Registering
	// only.
	Name string
}

// Query selects agents. Set fields must all match.
type Query struct {
	Skill string // a skill ID, ignoring case
	Tag   string // a skill tag, ignoring case
	// Text matches agents whose name, description, or skill names or
	// descriptions contain every word of it, ignoring case.
	Text  string
	After string // the last name of the previous page
	Limit int    // default 100
}

// MaxNameLen bounds an agent's registry name.
const MaxNameLen = 128

// CheckName reports whether name can name an agent: 1 to MaxNameLen bytes
// of printable UTF-8 without surrounding space, and none of / \ ? # % (the
// name is a URL path segment). The error wraps ErrInvalid.
func CheckName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("name: must not be empty: %w", ErrInvalid)
	case len(name) > MaxNameLen:
		return fmt.Errorf("name: %q is longer than %d bytes: %w", name, MaxNameLen, ErrInvalid)
	case !utf8.ValidString(name):
		return fmt.Errorf("name: is not valid UTF-8: %w", ErrInvalid)
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("name: %q must not start or end with space: %w", name, ErrInvalid)
	case name == "." || name == "..":
		return fmt.Errorf("name: %q is not a name: %w", name, ErrInvalid)
	case strings.ContainsAny(name, `/\?#%`):
		return fmt.Errorf("name: %q must not contain any of / \\ ? # %%: %w", name, ErrInvalid)
	case strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return fmt.Errorf("name: %q must hold only printable characters: %w", name, ErrInvalid)
	}
	return nil
}

func checkRegistration(reg Registration) error {
	switch {
	case reg.URL == "" && len(reg.Card) == 0:
		return fmt.Errorf("give either url (Parley fetches the card) or card (the card document): %w", ErrInvalid)
	case reg.URL != "" && len(reg.Card) > 0:
		return fmt.Errorf("give either url or card, not both: %w", ErrInvalid)
	}
	return nil
}

// obtain gets the card a registration names: fetched from its URL (and
// then returned with the card's URL), or parsed from its document. The
// card's interfaces are checked by the guard either way.
func (r *Registry) obtain(ctx context.Context, reg Registration) (card *Card, cardURL string, err error) {
	if reg.URL != "" {
		if cardURL, err = CardURL(reg.URL); err != nil {
			return nil, "", err
		}
		if card, err = r.fetchCard(ctx, cardURL); err != nil {
			return nil, "", err
		}
	} else {
		if int64(len(reg.Card)) > r.opts.MaxCardBytes {
			return nil, "", cardErr("", "is larger than %d bytes", r.opts.MaxCardBytes)
		}
		if card, err = ParseCard(reg.Card); err != nil {
			return nil, "", err
		}
	}
	if err := r.checkInterfaces(ctx, card); err != nil {
		return nil, "", err
	}
	return card, cardURL, nil
}

// checkInterfaces refuses a card whose interfaces point at blocked
// addresses. A host that does not resolve now is let through: the
// guarded dial checks it again whenever it is used.
func (r *Registry) checkInterfaces(ctx context.Context, c *Card) error {
	if r.guard.AllowPrivate() {
		return nil
	}
	for _, i := range c.Interfaces {
		host := interfaceHost(i.URL)
		if host == "" {
			continue // validation refused such cards; stored ones are not re-checked
		}
		if err := r.guard.CheckHost(ctx, host); err != nil && !errors.Is(err, ErrUnresolvable) {
			var be *BlockedError
			if errors.As(err, &be) {
				be.URL = i.URL
			}
			return fmt.Errorf("the card's %s interface: %w", i.Transport, err)
		}
	}
	return nil
}

// interfaceHost is the host of an interface URL or host:port dial target.
func interfaceHost(s string) string {
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			return ""
		}
		return u.Hostname()
	}
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		return ""
	}
	return host
}

// Register adds an agent. Registering by URL fetches the card (and counts
// as a successful probe); registering by document leaves the health
// unknown until the first probe. Errors: ErrInvalid, a *CardError
// (ErrInvalidCard), a *BlockedError (ErrBlockedAddress), a *FetchError
// (ErrFetch), ErrExists when the name is taken.
func (r *Registry) Register(ctx context.Context, reg Registration) (Agent, error) {
	if err := checkRegistration(reg); err != nil {
		return Agent{}, err
	}
	if reg.Name != "" {
		if err := CheckName(reg.Name); err != nil {
			return Agent{}, err
		}
	}
	card, cardURL, err := r.obtain(ctx, reg)
	if err != nil {
		return Agent{}, err
	}
	name := reg.Name
	if name == "" {
		name = card.Name
		if err := CheckName(name); err != nil {
			return Agent{}, fmt.Errorf("the card's name cannot be used as the agent's name (give a name): %w", err)
		}
	}
	now := r.now()
	rec := store.Agent{
		Name:      name,
		SourceURL: cardURL,
		CreatedAt: now,
		UpdatedAt: now,
		Health:    store.AgentHealth{Status: store.AgentUnknown},
	}
	setCard(&rec, card)
	if cardURL != "" {
		rec.Health = store.AgentHealth{Status: store.AgentHealthy, CheckedAt: now}
	}
	stored, err := r.st.CreateAgent(ctx, rec)
	if errors.Is(err, store.ErrExists) {
		return Agent{}, fmt.Errorf("agent name %q is taken (names are unique ignoring case): %w", name, ErrExists)
	}
	if err != nil {
		return Agent{}, fmt.Errorf("register agent %q: %w", name, err)
	}
	r.log.Info("agent registered", "agent", name, "source", cardURL, "endpoint", card.Endpoint, "skills", len(card.Skills), "hash", card.Hash)
	return fromStore(stored)
}

func setCard(rec *store.Agent, c *Card) {
	rec.Card = c.Raw
	rec.CardHash = c.Hash
	rec.SkillIDs = c.SkillIDs()
	rec.Tags = c.Tags()
	rec.SearchText = c.SearchText()
}

func clearPending(rec *store.Agent) {
	rec.PendingCard, rec.PendingHash, rec.DriftSummary, rec.DriftAt = nil, "", "", time.Time{}
}

// Get returns the agent named name (ignoring case). ErrNotFound if none.
func (r *Registry) Get(ctx context.Context, name string) (Agent, error) {
	rec, err := r.st.GetAgent(ctx, name)
	if err != nil {
		return Agent{}, err
	}
	return fromStore(rec)
}

// List returns the agents matching q, by name, and whether more follow.
func (r *Registry) List(ctx context.Context, q Query) ([]Agent, bool, error) {
	recs, more, err := r.st.ListAgents(ctx, store.AgentFilter{SkillID: q.Skill, Tag: q.Tag, Text: q.Text, After: q.After, Limit: q.Limit})
	if err != nil {
		return nil, false, fmt.Errorf("list agents: %w", err)
	}
	out := make([]Agent, 0, len(recs))
	for _, rec := range recs {
		a, err := fromStore(rec)
		if err != nil {
			return nil, false, err
		}
		out = append(out, a)
	}
	return out, more, nil
}

// All returns every agent matching q, reading page after page.
func (r *Registry) All(ctx context.Context, q Query) ([]Agent, error) {
	var out []Agent
	for {
		page, more, err := r.List(ctx, q)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if !more || len(page) == 0 {
			return out, nil
		}
		q.After = page[len(page)-1].Name
	}
}

// Replace replaces an agent's card by hand: with the card fetched from
// reg.URL (which becomes the agent's card URL) or with reg.Card (the card
// URL stays). Replacing is an approval: any card awaiting approval is
// dropped. Renaming is not supported (reg.Name must be empty or the same
// name).
func (r *Registry) Replace(ctx context.Context, name string, reg Registration) (Agent, error) {
	if err := checkRegistration(reg); err != nil {
		return Agent{}, err
	}
	if reg.Name != "" && !strings.EqualFold(reg.Name, name) {
		return Agent{}, fmt.Errorf("name: agents cannot be renamed; remove %q and register it as %q: %w", name, reg.Name, ErrInvalid)
	}
	if _, err := r.st.GetAgent(ctx, name); err != nil {
		return Agent{}, err
	}
	card, cardURL, err := r.obtain(ctx, reg)
	if err != nil {
		return Agent{}, err
	}
	out, err := r.update(ctx, name, func(rec *store.Agent) (bool, error) {
		if cardURL != "" {
			rec.SourceURL = cardURL
		}
		setCard(rec, card)
		clearPending(rec)
		return true, nil
	})
	if err != nil {
		return Agent{}, err
	}
	if cardURL != "" {
		r.recordHealth(ctx, name, nil)
		if out, err = r.Get(ctx, name); err != nil {
			return Agent{}, err
		}
	}
	r.log.Info("agent card replaced", "agent", out.Name, "hash", card.Hash)
	return out, nil
}

// Approve adopts the card awaiting approval. If hash is set it must be
// the pending card's (ErrStalePending otherwise), so that an approver
// adopts the card they reviewed. ErrNoDrift if nothing awaits approval.
func (r *Registry) Approve(ctx context.Context, name, hash string) (Agent, error) {
	var adopted string
	out, err := r.update(ctx, name, func(rec *store.Agent) (bool, error) {
		if rec.PendingCard == nil {
			return false, fmt.Errorf("agent %q: %w", rec.Name, ErrNoDrift)
		}
		if hash != "" && hash != rec.PendingHash {
			return false, fmt.Errorf("agent %q: approving %s but the pending card is %s: %w", rec.Name, hash, rec.PendingHash, ErrStalePending)
		}
		pending, _, err := decodeCard(rec.PendingCard)
		if err != nil {
			return false, fmt.Errorf("agent %q: stored pending card: %w", rec.Name, err)
		}
		adopted = pending.Hash
		setCard(rec, pending)
		clearPending(rec)
		return true, nil
	})
	if err != nil {
		return Agent{}, err
	}
	r.log.Info("agent card approved", "agent", out.Name, "hash", adopted)
	return out, nil
}

// Remove deletes an agent. ErrNotFound if there is none.
func (r *Registry) Remove(ctx context.Context, name string) error {
	if err := r.st.DeleteAgent(ctx, name, r.now()); err != nil {
		return err
	}
	r.log.Info("agent removed", "agent", name)
	return nil
}

// Outcome is what a re-fetch did.
type Outcome string

// Re-fetch outcomes.
const (
	// OutcomeUnchanged: the card is the adopted one (or the drift already
	// flagged).
	OutcomeUnchanged Outcome = "unchanged"
	// OutcomeUpdated: only cosmetic fields changed, and the card was adopted.
	OutcomeUpdated Outcome = "updated"
	// OutcomeDrift: pinned fields changed; the card awaits approval.
	OutcomeDrift Outcome = "drift"
	// OutcomeDriftCleared: the agent serves its adopted card again (up to
	// cosmetic changes, which were adopted), so the card that awaited
	// approval was dropped.
	OutcomeDriftCleared Outcome = "drift-cleared"
)

// RefetchResult is the outcome of a re-fetch.
type RefetchResult struct {
	Agent   Agent
	Outcome Outcome
	// Summary says what differs from the adopted card (empty when nothing).
	Summary string
}

// Refetch fetches the agent's card again and applies the pinning rules
// (see Compare): cosmetic changes are adopted, changes to pinned fields
// are flagged as drift and kept aside until Approve. The fetch also
// records the agent's health. ErrNoSourceURL for an agent registered by
// document.
func (r *Registry) Refetch(ctx context.Context, name string) (RefetchResult, error) {
	a, err := r.Get(ctx, name)
	if err != nil {
		return RefetchResult{}, err
	}
	if a.SourceURL == "" {
		return RefetchResult{}, fmt.Errorf("agent %q: %w (replace its card instead)", a.Name, ErrNoSourceURL)
	}
	card, err := r.fetchCard(ctx, a.SourceURL)
	if err == nil {
		err = r.checkInterfaces(ctx, card)
	}
	r.recordHealth(ctx, a.Name, err)
	if err != nil {
		return RefetchResult{}, fmt.Errorf("agent %q: %w", a.Name, err)
	}
	return r.applyFetched(ctx, a.Name, card)
}

// applyFetched applies the pinning rules to a freshly fetched card.
func (r *Registry) applyFetched(ctx context.Context, name string, card *Card) (RefetchResult, error) {
	var res RefetchResult
	out, err := r.update(ctx, name, func(rec *store.Agent) (bool, error) {
		adopted, _, err := decodeCard(rec.Card)
		if err != nil {
			return false, fmt.Errorf("agent %q: stored card: %w", rec.Name, err)
		}
		hadPending := rec.PendingCard != nil
		diff := Compare(adopted, card)
		res.Summary = diff.Summary
		switch {
		case diff.Summary == "" && !hadPending:
			res.Outcome = OutcomeUnchanged
			return false, nil
		case !diff.Pinned:
			setCard(rec, card)
			clearPending(rec)
			res.Outcome = OutcomeUpdated
			if hadPending {
				res.Outcome = OutcomeDriftCleared
			}
			return true, nil
		case hadPending && rec.PendingHash == card.Hash:
			res.Outcome = OutcomeDrift
			return false, nil
		default:
			rec.PendingCard = card.Raw
			rec.PendingHash = card.Hash
			rec.DriftSummary = diff.Summary
			rec.DriftAt = r.now()
			res.Outcome = OutcomeDrift
			return true, nil
		}
	})
	if err != nil {
		return RefetchResult{}, err
	}
	res.Agent = out
	switch res.Outcome {
	case OutcomeDrift:
		r.log.Warn("agent card changed: awaiting approval", "agent", out.Name, "changes", res.Summary, "pending_hash", card.Hash)
	case OutcomeUpdated, OutcomeDriftCleared:
		r.log.Info("agent card updated", "agent", out.Name, "outcome", string(res.Outcome), "changes", res.Summary)
	}
	return res, nil
}

// maxRetries bounds re-reads after losing a versioned write race.
const maxRetries = 5

// update reads the agent, lets change edit it, and writes it back if
// change says so, retrying when another write got in between.
func (r *Registry) update(ctx context.Context, name string, change func(rec *store.Agent) (write bool, err error)) (Agent, error) {
	for attempt := 0; ; attempt++ {
		rec, err := r.st.GetAgent(ctx, name)
		if err != nil {
			return Agent{}, err
		}
		version := rec.Version
		write, err := change(&rec)
		if err != nil {
			return Agent{}, err
		}
		if !write {
			return fromStore(rec)
		}
		rec.UpdatedAt = r.now()
		out, err := r.st.UpdateAgent(ctx, rec, version)
		if errors.Is(err, store.ErrVersionConflict) && attempt < maxRetries {
			continue
		}
		if err != nil {
			return Agent{}, fmt.Errorf("update agent %q: %w", name, err)
		}
		return fromStore(out)
	}
}

func fromStore(rec store.Agent) (Agent, error) {
	card, _, err := decodeCard(rec.Card)
	if err != nil {
		return Agent{}, fmt.Errorf("agent %q: stored card: %w", rec.Name, err)
	}
	a := Agent{
		Name:      rec.Name,
		Version:   rec.Version,
		SourceURL: rec.SourceURL,
		Card:      card,
		Health:    Health{Status: rec.Health.Status, Error: rec.Health.Error, CheckedAt: rec.Health.CheckedAt},
		CreatedAt: rec.CreatedAt,
		UpdatedAt: rec.UpdatedAt,
	}
	if rec.PendingCard != nil {
		pending, _, err := decodeCard(rec.PendingCard)
		if err != nil {
			return Agent{}, fmt.Errorf("agent %q: stored pending card: %w", rec.Name, err)
		}
		a.Pending = &Pending{Card: pending, Summary: rec.DriftSummary, DetectedAt: rec.DriftAt}
	}
	return a, nil
}
