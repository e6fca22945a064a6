// Package negotiation runs negotiations between registered A2A agents:
// escalation rules start them on workspace changes, the engine carries each
// one turn by turn over Parley's negotiation extension (NEGOTIATION.md),
// every turn is persisted before the next is sent, and the outcome is
// written back into the ticket through the workspace.
//
// A negotiation is held by one replica at a time under a lease in the
// store; a restarted gateway, or another replica once the lease lapses,
// resumes it from its last persisted turn, resending an unanswered turn
// with the same message ID.
package negotiation

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/internal/textcheck"
	"github.com/parleyhq/parley/observe"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/workspace"
)

// Errors callers match with errors.Is.
var (
	ErrNotFound   = store.ErrNotFound
	ErrInvalid    = errors.New("invalid negotiation request")
	ErrNotPending = errors.New("negotiation is not waiting for a person")
	ErrForbidden  = errors.New("forbidden")
)

// Store is what negotiations are kept in.
type Store interface {
	store.Negotiations
	store.Feed
}

// Sender delivers one turn to a participant and returns its reply. A
// transport failure (the agent cannot be reached, HTTP 5xx, a timeout) is
// an error wrapping ErrTransport, and is retried; everything the agent
// answered, valid or not, is a Reply.
type Sender interface {
	Send(ctx context.Context, agent string, msg Outgoing) (Reply, error)
}

// ErrTransport marks a failure to get an answer from an agent at all.
var ErrTransport = errors.New("transport failure")

// Outgoing is one turn as an A2A message.
type Outgoing struct {
	MessageID string
	ContextID string
	Text      string
	Turn      Turn
	Metadata  map[string]any
}

// Reply is what a participant answered.
type Reply struct {
	// Data is the move's data part (the last parley.negotiation.move part
	// found, else the last data part), nil if there was none.
	Data json.RawMessage
	// Problem, if set, makes the reply invalid whatever Data says: an A2A
	// error answer, a task that stopped at input-required, and so on.
	Problem string
	// Forfeit: the task ended failed, rejected or canceled.
	Forfeit bool
	TaskID  string
}

// Auditor appends audit records: *audit.Log. Intend has a record
// committed in the transaction of the next store write made with the
// context it returns (see audit.Log.Intend); Append, for a store without
// an audit outbox, records it once the write has returned.
type Auditor interface {
	Append(ctx context.Context, e audit.Entry) (audit.Record, error)
	Intend(ctx context.Context, build func() audit.Entry) (context.Context, *audit.Intent)
}

// Options configure a Service.
type Options struct {
	Logger *slog.Logger
	// Rules start negotiations on ticket changes; nil: none.
	Rules *Rules
	// Audit, if set, records starts, moves and decisions.
	Audit Auditor
	// Authorize checks that the caller in ctx may act on agent: action
	// "negotiate" to make it a participant (Start), "approve" to decide in
	// its place (Decide). Nil allows everything.
	Authorize func(ctx context.Context, agent, action string) error
	// Agents, if set, must know every participant at start.
	Agents interface {
		Exists(ctx context.Context, name string) (bool, error)
	}
	// Owner names this replica's leases. Default random.
	Owner        string
	Lease        time.Duration // default config.DefaultLease
	TurnTimeout  time.Duration // default config.DefaultTurnTimeout
	RetryBackoff time.Duration // default config.DefaultRetryBackoff
	// Attempts is how many times a turn is sent before its agent counts
	// as unreachable. Default 3.
	Attempts int
	// PollInterval is how often Run looks for work it was not told of
	// (expired leases of other replicas). Default 1s.
	PollInterval time.Duration
	// MaxRunning caps the negotiations this replica runs at once. Default 64.
	MaxRunning int
	// Now reads the clock. Default time.Now.
	Now func() time.Time
	// Sleep waits between retries; default a timer honoring ctx.
	Sleep func(ctx context.Context, d time.Duration) error
	// Metrics receives the engine's instruments (metrics.go). Nil: they
	// are kept on a private registry nobody reads.
	Metrics *observe.Metrics
}

// Actor is the name the engine writes to ticket history under; rules do
// not fire on its own writes.
const Actor = "parley:negotiation"

// Service starts, runs, reads and decides negotiations.
type Service struct {
	st     Store
	ws     *workspace.Workspace
	send   Sender
	opts   Options
	log    *slog.Logger
	wakeup chan struct{}

	metrics *negotiationMetrics // metrics.go

	ready     chan struct{} // closed once Run has subscribed to the feed
	readyOnce sync.Once
}

// New returns a Service. Run must be running for negotiations to advance.
func New(st Store, ws *workspace.Workspace, send Sender, opts Options) *Service {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Owner == "" {
		opts.Owner = "replica-" + rand.Text()[:12]
	}
	if opts.Lease <= 0 {
		opts.Lease = config.DefaultLease
	}
	if opts.TurnTimeout <= 0 {
		opts.TurnTimeout = config.DefaultTurnTimeout
	}
	if opts.RetryBackoff <= 0 {
		opts.RetryBackoff = config.DefaultRetryBackoff
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 3
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.MaxRunning <= 0 {
		opts.MaxRunning = 64
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	return &Service{st: st, ws: ws, send: send, opts: opts, log: opts.Logger,
		wakeup: make(chan struct{}, 1), ready: make(chan struct{}), metrics: newNegotiationMetrics(opts.Metrics)}
}

// Ready is closed once Run has subscribed to the store's change feed:
// from then on Run hears of every change committed (a ticket change that
// a rule may start a negotiation for, a negotiation created elsewhere).
// A change committed before that is not evaluated by Run's feed path, so
// whoever must not miss one waits on Ready rather than guessing with a
// sleep. It stays closed once closed, also after Run returns.
func (s *Service) Ready() <-chan struct{} { return s.ready }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Service) now() time.Time { return s.opts.Now().UTC().Truncate(time.Microsecond) }

// StartRequest starts a negotiation about a ticket.
type StartRequest struct {
	TicketID     string
	Participants []string // in turn order, the opener first
	Question     string
	// Terms asked for, a JSON object such as {"amount": 500}; optional.
	Terms     json.RawMessage
	MaxRounds int           // default 6
	Deadline  time.Duration // default 10m
	Fallback  string        // deny (default), approve, ask_human
	// StartedBy names who started it, for the transcript and audit.
	StartedBy string
	Metadata  map[string]any
	RequestID string

	rule       string
	triggerKey string
	version    int64
}

// Started is a negotiation that was started (or had been, by the same
// trigger).
type Started struct {
	ID   string
	Rule string
	// Existing: the trigger had already started it (another replica, or
	// the change feed, got there first).
	Existing bool
}

// Start starts a negotiation by hand: the caller must be allowed to make
// each participant negotiate.
func (s *Service) Start(ctx context.Context, req StartRequest) (Started, error) {
	if s.opts.Authorize != nil {
		for _, p := range req.Participants {
			if err := s.opts.Authorize(ctx, p, "negotiate"); err != nil {
				return Started{}, err
			}
		}
	}
	return s.start(ctx, req)
}

func (s *Service) start(ctx context.Context, req StartRequest) (Started, error) {
	if err := s.checkStart(ctx, &req); err != nil {
		return Started{}, err
	}
	t, err := s.ws.GetTicket(ctx, req.TicketID)
	if err != nil {
		return Started{}, err
	}
	now := s.now()
	st := State{
		ID: "neg-" + strings.ToLower(rand.Text()[:16]), Rule: req.rule,
		Subject:  SubjectRef{Kind: subjectKindTicket, ID: t.ID, Version: t.Version},
		Question: req.Question, Participants: req.Participants, Requested: req.Terms,
		MaxRounds: req.MaxRounds, Deadline: now.Add(req.Deadline), Fallback: req.Fallback,
		StartedBy: req.StartedBy, StartedAt: now, Metadata: req.Metadata, RequestID: req.RequestID,
		Status: StatusRunning, History: []MoveRecord{},
		PriorStatus: string(t.Status),
		Trace:       observe.Save(ctx), // the runner's spans join the starter's trace
	}
	st.Transcript = append(st.Transcript, Entry{At: now, Kind: EntryStart,
		Text: fmt.Sprintf("%s started a negotiation between %s: %s", req.StartedBy, strings.Join(req.Participants, ", "), req.Question)})
	data, err := json.Marshal(st)
	if err != nil {
		return Started{}, err
	}
	// The start's record commits with the negotiation, not with the
	// ticket's mark below, which ctx's own record (a tool call's, say)
	// may go with.
	ictx, saved := s.intend(ctx, &st, audit.Entry{Action: audit.ActionNegotiationStart, Target: st.ID,
		Detail: map[string]any{"rule": st.Rule, "participants": st.Participants, "question": st.Question, "ticket_version": t.Version}})
	_, err = s.st.CreateNegotiation(ictx, store.Negotiation{ID: st.ID, SubjectKind: subjectKindTicket, SubjectID: t.ID,
		TriggerKey: req.triggerKey, State: store.NegotiationRunning, Data: data, CreatedAt: now, UpdatedAt: now})
	saved(err == nil)
	if errors.Is(err, store.ErrExists) && req.triggerKey != "" {
		n, gerr := s.st.GetNegotiationByTrigger(ctx, req.triggerKey)
		if gerr != nil {
			return Started{}, errors.Join(err, gerr)
		}
		return Started{ID: n.ID, Rule: req.rule, Existing: true}, nil
	}
	if err != nil {
		return Started{}, fmt.Errorf("start negotiation: %w", err)
	}
	// Mark the ticket now, so that whoever started it sees it negotiating
	// as soon as this returns; the runner's own (idempotent) mark covers a
	// failure here.
	if _, _, err := s.ws.BeginNegotiation(ctx, Actor, t.ID, st.ID); err != nil {
		s.log.WarnContext(ctx, "negotiation started; marking its ticket failed, the runner will retry", "negotiation", st.ID, "ticket", t.ID, "error", err)
	}
	s.metrics.negotiationStarted(st.Rule)
	s.log.InfoContext(ctx, "negotiation started", "negotiation", st.ID, "ticket", t.ID, "rule", st.Rule, "participants", st.Participants)
	s.Wake()
	return Started{ID: st.ID, Rule: req.rule}, nil
}

func (s *Service) checkStart(ctx context.Context, req *StartRequest) error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
	}
	if req.TicketID == "" {
		return bad("ticket_id", "is required")
	}
	if len(req.Participants) < 2 {
		return bad("participants", "name at least two registered agents")
	}
	seen := map[string]bool{}
	for _, p := range req.Participants {
		k := strings.ToLower(p)
		if p == "" || seen[k] {
			return bad("participants", "names must be non-empty and distinct, got %q", req.Participants)
		}
		seen[k] = true
		if s.opts.Agents != nil {
			ok, err := s.opts.Agents.Exists(ctx, p)
			if err != nil {
				return err
			}
			if !ok {
				return bad("participants", "no registered agent is named %q", p)
			}
		}
	}
	if strings.TrimSpace(req.Question) == "" {
		return bad("question", "say what is to be decided")
	}
	if len(req.Question) > workspace.MaxTextLen {
		return bad("question", "is %d bytes, at most %d", len(req.Question), workspace.MaxTextLen)
	}
	if len(req.Terms) > 0 {
		var obj map[string]any
		if err := json.Unmarshal(req.Terms, &obj); err != nil || obj == nil {
			return bad("terms", "must be a JSON object such as {\"amount\": 500}")
		}
	}
	switch {
	case req.MaxRounds == 0:
		req.MaxRounds = config.DefaultMaxRounds
	case req.MaxRounds < 1 || req.MaxRounds > 100:
		return bad("max_rounds", "%d must be from 1 to 100", req.MaxRounds)
	}
	switch {
	case req.Deadline == 0:
		req.Deadline = config.DefaultDeadline
	case req.Deadline < 0:
		return bad("deadline", "must be positive")
	}
	switch req.Fallback {
	case "":
		req.Fallback = config.FallbackDeny
	case config.FallbackDeny, config.FallbackApprove, config.FallbackAskHuman:
	default:
		return bad("fallback", "%q must be deny, approve or ask_human", req.Fallback)
	}
	if req.StartedBy == "" {
		req.StartedBy = "unknown"
	}
	return nil
}

// TicketChanged evaluates the rules for a ticket as written by actor with
// the given action (the history entry's: "save", "escalate", …) and starts
// the negotiations of the rules that hold, at most once per rule and
// ticket version. Changes the engine itself writes start nothing, and
// neither do tickets with a negotiation under way.
func (s *Service) TicketChanged(ctx context.Context, t workspace.Ticket, action, actor string, meta map[string]any, requestID string) ([]Started, error) {
	if s.opts.Rules == nil || actor == Actor {
		return nil, nil
	}
	ctx, span := startRulesSpan(ctx, t, action) // trace.go
	started, err := s.ticketChanged(ctx, t, action, meta, requestID)
	endRulesSpan(span, started, err)
	return started, err
}

func (s *Service) ticketChanged(ctx context.Context, t workspace.Ticket, action string, meta map[string]any, requestID string) ([]Started, error) {
	triggers := []string{config.TriggerTicketSaved}
	if action == "escalate" {
		triggers = append(triggers, config.TriggerEscalated)
	}
	var matches []Match
	var errs []error
	for _, tr := range triggers {
		m, err := s.opts.Rules.Evaluate(ctx, tr, t)
		matches = append(matches, m...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(matches) == 0 {
		return nil, errors.Join(errs...)
	}
	open, err := s.openFor(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	var started []Started
	for _, m := range matches {
		s.metrics.ruleFired(m.Rule)
		key := fmt.Sprintf("%s/%s/%s/%d", m.Rule, subjectKindTicket, t.ID, t.Version)
		if open != "" {
			// A ticket negotiates one thing at a time; the same trigger
			// replayed (another replica, the feed) finds its own.
			if n, err := s.st.GetNegotiationByTrigger(ctx, key); err == nil {
				started = append(started, Started{ID: n.ID, Rule: m.Rule, Existing: true})
			}
			continue
		}
		st, err := s.start(ctx, StartRequest{TicketID: t.ID, Participants: m.Participants, Question: m.Question,
			Terms: m.Terms, MaxRounds: m.MaxRounds, Deadline: m.Deadline, Fallback: m.Fallback,
			StartedBy: "rule:" + m.Rule, Metadata: meta, RequestID: requestID,
			rule: m.Rule, triggerKey: key, version: t.Version})
		if err != nil {
			errs = append(errs, fmt.Errorf("rule %q: %w", m.Rule, err))
			continue
		}
		started = append(started, st)
		open = st.ID
	}
	return started, errors.Join(errs...)
}

// openFor returns the ID of a negotiation about the ticket that has not
// ended, or "".
func (s *Service) openFor(ctx context.Context, ticketID string) (string, error) {
	ns, _, err := s.st.ListNegotiations(ctx, store.NegotiationFilter{SubjectKind: subjectKindTicket, SubjectID: ticketID,
		States: []string{store.NegotiationRunning, store.NegotiationPendingHuman}, Limit: 1})
	if err != nil || len(ns) == 0 {
		return "", err
	}
	return ns[0].ID, nil
}

// Get returns a negotiation's view.
func (s *Service) Get(ctx context.Context, id string) (View, error) {
	n, st, err := s.load(ctx, id)
	if err != nil {
		return View{}, err
	}
	return st.view(n.Version), nil
}

// ForTicket lists the negotiations about a ticket, oldest first.
func (s *Service) ForTicket(ctx context.Context, ticketID string) ([]View, error) {
	var out []View
	after := ""
	for {
		ns, more, err := s.st.ListNegotiations(ctx, store.NegotiationFilter{SubjectKind: subjectKindTicket, SubjectID: ticketID, After: after, Limit: 100})
		if err != nil {
			return nil, err
		}
		for _, n := range ns {
			st, err := decode(n)
			if err != nil {
				return nil, err
			}
			out = append(out, st.view(n.Version))
		}
		if !more || len(ns) == 0 {
			break
		}
		after = ns[len(ns)-1].ID
	}
	// IDs are random: order by start.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].StartedAt.Before(out[j-1].StartedAt); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out, nil
}

func (s *Service) load(ctx context.Context, id string) (store.Negotiation, State, error) {
	if id == "" || len(id) > 200 {
		return store.Negotiation{}, State{}, fmt.Errorf("%w: negotiation_id: %q is not a negotiation ID", ErrInvalid, id)
	}
	n, err := s.st.GetNegotiation(ctx, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return n, State{}, fmt.Errorf("negotiation %q: %w", id, err)
		}
		return n, State{}, err
	}
	st, err := decode(n)
	return n, st, err
}

func decode(n store.Negotiation) (State, error) {
	var st State
	if err := json.Unmarshal(n.Data, &st); err != nil {
		return State{}, fmt.Errorf("negotiation %q: stored state unreadable: %w", n.ID, err)
	}
	return st, nil
}

// Decision is a person's answer to a pending_human negotiation.
type Decision struct {
	// Approve or deny.
	Approve bool
	// Terms approved; default the last standing terms, else those asked for.
	Terms     json.RawMessage
	Reason    string
	DecidedBy string
}

// Decide settles a negotiation waiting in pending_human. The engine writes
// the decision back into the ticket.
func (s *Service) Decide(ctx context.Context, id string, d Decision) (View, error) {
	if d.DecidedBy == "" {
		return View{}, fmt.Errorf("%w: decided_by: who decides must be known", ErrInvalid)
	}
	if len(d.Reason) > workspace.MaxTextLen {
		return View{}, fmt.Errorf("%w: reason is too long (at most %d bytes)", ErrInvalid, workspace.MaxTextLen)
	}
	if err := textcheck.Text(d.Reason); err != nil {
		return View{}, fmt.Errorf("%w: reason: %v", ErrInvalid, err)
	}
	if len(d.Terms) > 0 {
		var obj map[string]any
		if err := json.Unmarshal(d.Terms, &obj); err != nil || obj == nil {
			return View{}, fmt.Errorf("%w: terms must be a JSON object such as {\"amount\": 350}", ErrInvalid)
		}
		if err := textcheck.JSON(d.Terms); err != nil {
			return View{}, fmt.Errorf("%w: terms: %v", ErrInvalid, err)
		}
	}
	for attempt := 0; ; attempt++ {
		n, st, err := s.load(ctx, id)
		if err != nil {
			return View{}, err
		}
		if n.State != store.NegotiationPendingHuman || st.Outcome == nil || st.Outcome.Decision != DecisionPending {
			return View{}, fmt.Errorf("negotiation %q is %s: %w", id, st.Status, ErrNotPending)
		}
		if s.opts.Authorize != nil && attempt == 0 {
			// Deciding overrules the participants: the decider must be an
			// approver for each of them.
			for _, p := range st.Participants {
				if err := s.opts.Authorize(ctx, p, "approve"); err != nil {
					return View{}, err
				}
			}
		}
		now := s.now()
		o := *st.Outcome
		o.DecidedBy, o.DecidedAt = d.DecidedBy, &now
		if d.Approve {
			o.Decision = DecisionApproved
			switch {
			case len(d.Terms) > 0:
				o.Terms = d.Terms
			case st.Standing != nil:
				o.Terms = st.Standing.Terms
			default:
				o.Terms = st.Requested
			}
		} else {
			o.Decision, o.Terms = DecisionDenied, nil
		}
		o.Reason = strings.TrimSpace(o.Reason + "; decided by " + d.DecidedBy)
		if d.Reason != "" {
			o.Reason += ": " + d.Reason
		}
		st.Outcome, st.WrittenBack = &o, false
		data, _ := json.Marshal(o)
		st.Transcript = append(st.Transcript, Entry{At: now, Kind: EntryDecided, Participant: d.DecidedBy, Data: data, Text: o.Reason})
		ictx, saved := s.intend(ctx, &st, audit.Entry{Action: audit.ActionNegotiationDecision, Target: st.ID,
			Detail: map[string]any{"decision": o.Decision, "terms": o.Terms, "decided_by": o.DecidedBy, "reason": o.Reason}})
		n2, err := s.save(ictx, n, &st, store.NegotiationRunning, "", now)
		saved(err == nil)
		if errors.Is(err, store.ErrVersionConflict) && attempt < 3 {
			continue
		}
		if err != nil {
			return View{}, err
		}
		s.Wake()
		return st.view(n2.Version), nil
	}
}

// save writes st under the lease of owner ("" for none).
func (s *Service) save(ctx context.Context, n store.Negotiation, st *State, state, owner string, now time.Time) (store.Negotiation, error) {
	data, err := json.Marshal(st)
	if err != nil {
		return n, err
	}
	n2 := n
	n2.State, n2.Data, n2.UpdatedAt = state, data, now
	return s.st.UpdateNegotiation(ctx, n2, n.Version, owner, now, s.opts.Lease)
}

// intend prepares e, the audit record of a save of st, for the save made
// with the returned context: that save commits the record in its own
// transaction (audit.Log.Intend), so that the change and its record
// commit together or not at all, whenever the process dies. Call saved
// once the save has returned, saying whether it succeeded: a failed save
// leaves no record, and one that succeeded without carrying it (a store
// without an audit outbox) has it appended then, as before the outbox.
// Only that one save may use the context: a later write through it would
// otherwise carry a record meant for another. Records of the engine's own
// work name it as the principal; those of a request leave it to the log
// (the caller).
func (s *Service) intend(ctx context.Context, st *State, e audit.Entry) (context.Context, func(saved bool)) {
	if s.opts.Audit == nil {
		return ctx, func(bool) {}
	}
	e.Links.NegotiationID = st.ID
	e.Links.TicketID = st.Subject.ID
	if st.RequestID != "" {
		e.Links.RequestID = st.RequestID
	}
	ictx, in := s.opts.Audit.Intend(ctx, func() audit.Entry { return e })
	return ictx, func(saved bool) {
		if in.Close() || !saved {
			return // committed with the save, or nothing to record
		}
		if _, err := s.opts.Audit.Append(ctx, e); err != nil {
			s.log.WarnContext(ctx, "negotiation audit record not written", "negotiation", st.ID, "error", err)
		}
	}
}

// Wake makes Run look for work now.
func (s *Service) Wake() {
	select {
	case s.wakeup <- struct{}{}:
	default:
	}
}
