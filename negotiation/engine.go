package negotiation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/internal/textcheck"
	"github.com/parleyhq/parley/observe"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/workspace"
)

// engineAuditor is the principal of the engine's own audit records.
var engineAuditor = audit.Principal{Subject: Actor}

// Run drives negotiations until ctx ends: it claims those that are running
// and not held by a live lease (new ones, those a person decided, those of
// a replica that died), and follows the change feed so that it hears of
// new ones at once. On return every negotiation it held is released, so
// that a restarted gateway or another replica resumes it without waiting
// for the lease to lapse. Ready is closed once Run has subscribed to the
// feed.
func (s *Service) Run(ctx context.Context) error {
	changes, err := s.st.Subscribe(ctx)
	if err != nil {
		return fmt.Errorf("negotiations: follow change feed: %w", err)
	}
	s.readyOnce.Do(func() { close(s.ready) })
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, s.opts.MaxRunning)
	done := make(chan struct{}, s.opts.MaxRunning)
	ticker := time.NewTicker(s.opts.PollInterval)
	defer ticker.Stop()
	// Claiming is a write: try only when there may be something to claim
	// (a new negotiation, one decided or released here, a slot freed), and
	// on the ticker for leases that lapsed elsewhere.
	claim := true
	for {
		if claim {
			s.claimAll(ctx, &wg, slots, done)
		}
		claim = false
		select {
		case <-ctx.Done():
			return ctx.Err()
		case c, ok := <-changes:
			if !ok {
				return ctx.Err()
			}
			switch {
			case c.Kind == store.KindTicket:
				s.ticketChangedFromFeed(ctx, c)
			case c.Kind == store.KindNegotiation && c.Version == 1:
				claim = true // created, possibly by another replica
			}
		case <-s.wakeup:
			claim = true
		case <-done:
			claim = true
		case <-ticker.C:
			claim = true
		}
	}
}

// claimAll claims negotiations while slots are free.
func (s *Service) claimAll(ctx context.Context, wg *sync.WaitGroup, slots, done chan struct{}) {
	for ctx.Err() == nil {
		select {
		case slots <- struct{}{}:
		default:
			return // all slots busy
		}
		n, err := s.st.ClaimNegotiation(ctx, s.opts.Owner, s.now(), s.opts.Lease)
		if err != nil {
			<-slots
			if !errors.Is(err, store.ErrNoNegotiation) && ctx.Err() == nil {
				s.log.WarnContext(ctx, "claim negotiation", "error", err)
			}
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				<-slots
				select {
				case done <- struct{}{}:
				default:
				}
			}()
			s.drive(ctx, n)
		}()
	}
}

// ticketChangedFromFeed evaluates the rules for a change made anywhere
// (another replica, the A2A skill, the admin API): the same trigger key as
// the synchronous path makes each rule start once per version.
func (s *Service) ticketChangedFromFeed(ctx context.Context, c store.Change) {
	if s.opts.Rules == nil {
		return
	}
	ctx = observe.ChangeContext(ctx, store.KindTicket, c.Key, c.Version) // in the trace of the write, if noted here
	t, err := s.ws.GetTicket(ctx, c.Key)
	if err != nil || t.Version != c.Version {
		return // gone, or already changed again: the later change is evaluated in its turn
	}
	history, err := s.ws.History(ctx, t.ID)
	if err != nil || len(history) == 0 {
		return
	}
	last := history[len(history)-1]
	if last.Version != t.Version {
		return
	}
	if _, err := s.TicketChanged(ctx, t, last.Action, last.Actor, nil, ""); err != nil && ctx.Err() == nil {
		s.log.WarnContext(ctx, "escalation rules", "ticket", t.ID, "version", t.Version, "error", err)
	}
}

// run is one claimed negotiation being driven.
type run struct {
	s  *Service
	n  store.Negotiation
	st State
}

// drive runs a claimed negotiation until it ends, waits for a person, or
// the lease is lost.
func (s *Service) drive(ctx context.Context, n store.Negotiation) {
	st, err := decode(n)
	if err != nil {
		s.log.ErrorContext(ctx, "negotiation unreadable; leaving it", "negotiation", n.ID, "error", err)
		return
	}
	r := &run{s: s, n: n, st: st}
	ctx, span := startRunSpan(ctx, &r.st) // trace.go
	err = r.loop(ctx)
	endRunSpan(span, &r.st, err)
	switch {
	case err == nil:
	case errors.Is(err, store.ErrLeaseLost):
		s.log.WarnContext(ctx, "negotiation taken over by another replica", "negotiation", n.ID)
	case ctx.Err() != nil:
		// Shutting down: let the next runner take it at once.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		_ = s.st.ReleaseNegotiationLease(rctx, n.ID, s.opts.Owner)
		cancel()
	default:
		s.log.ErrorContext(ctx, "negotiation stalled; it will be retried", "negotiation", n.ID, "error", err)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		_ = s.st.ReleaseNegotiationLease(rctx, n.ID, s.opts.Owner)
		cancel()
	}
}

// persist saves the state, keeping the lease while it runs.
func (r *run) persist(ctx context.Context) error {
	state := store.NegotiationRunning
	switch {
	case r.st.Outcome != nil && r.st.WrittenBack && r.st.Outcome.Decision == DecisionPending:
		state = store.NegotiationPendingHuman
	case r.st.Outcome != nil && r.st.WrittenBack:
		state = store.NegotiationDone
	}
	noteNegotiation(ctx, r.n) // before the write: negotiation://{id}'s notifications join the trace (trace.go)
	n, err := r.s.save(ctx, r.n, &r.st, state, r.s.opts.Owner, r.s.now())
	if err != nil {
		forgetNegotiation(ctx, r.n)
		return err
	}
	r.n = n
	return nil
}

// persistAudited persists the state with e, its audit record: both are
// committed, or neither (Service.intend).
func (r *run) persistAudited(ctx context.Context, e audit.Entry) error {
	ictx, saved := r.s.intend(ctx, &r.st, e)
	err := r.persist(ictx)
	saved(err == nil)
	return err
}

func (r *run) loop(ctx context.Context) error {
	s := r.s
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		switch {
		case r.st.Outcome != nil && !r.st.WrittenBack:
			return r.writeBack(ctx)
		case r.st.Outcome != nil:
			return nil // written back: nothing left (a stale claim)
		case !r.st.SubjectMarked:
			_, prior, err := s.ws.BeginNegotiation(ctx, Actor, r.st.Subject.ID, r.st.ID)
			if errors.Is(err, workspace.ErrNotFound) {
				r.end(StatusFailed, DecisionDenied, nil, fmt.Sprintf("ticket %s no longer exists", r.st.Subject.ID))
			} else if err != nil {
				return err
			} else {
				r.st.SubjectMarked = true
				if r.st.PriorStatus == "" {
					r.st.PriorStatus = string(prior)
				}
			}
			if err := r.persist(ctx); err != nil {
				return err
			}
		case !s.now().Before(r.st.Deadline):
			r.noAgreement(fmt.Sprintf("the deadline %s passed after %d of %d rounds", r.st.Deadline.Format(time.RFC3339), len(r.st.History), r.st.MaxRounds))
			if err := r.persist(ctx); err != nil {
				return err
			}
		default:
			if err := r.turn(ctx); err != nil {
				return err
			}
		}
	}
}

// turn sends the pending turn (first persisting it) and applies the reply.
func (r *run) turn(ctx context.Context) (err error) {
	s := r.s
	ctx, span := startTurnSpan(ctx, &r.st) // trace.go
	defer func(round int) { endTurnSpan(span, &r.st, round, err) }(len(r.st.History) + 1)
	if r.st.Pending == nil {
		round := len(r.st.History) + 1
		to := r.st.Participants[(round-1)%len(r.st.Participants)]
		r.st.Pending = &PendingTurn{Round: round, To: to, MessageID: MessageID(r.st.ID, round, to, false)}
		out, err := r.outgoing(ctx)
		if err != nil {
			return err
		}
		data, _ := json.Marshal(out.Turn)
		r.st.Transcript = append(r.st.Transcript, Entry{At: s.now(), Kind: EntryTurn, Round: round, Participant: to, MessageID: out.MessageID, Text: out.Text, Data: data})
		// Persist before sending: whoever resumes sends this same turn.
		if err := r.persist(ctx); err != nil {
			return err
		}
		return r.exchange(ctx, out)
	}
	// A turn persisted by a runner that stopped before its reply was: send
	// it again, with the same message ID.
	out, err := r.outgoing(ctx)
	if err != nil {
		return err
	}
	r.st.Transcript = append(r.st.Transcript, Entry{At: s.now(), Kind: EntryResend, Round: r.st.Pending.Round, Participant: r.st.Pending.To, MessageID: out.MessageID,
		Text: "resent after a restart or takeover; the agent may answer it again without acting twice"})
	if err := r.persist(ctx); err != nil {
		return err
	}
	return r.exchange(ctx, out)
}

// exchange sends out with retries and applies the answer.
func (r *run) exchange(ctx context.Context, out Outgoing) error {
	s := r.s
	p := r.st.Pending
	var (
		reply   Reply
		sendErr error
	)
	for attempt := 1; attempt <= s.opts.Attempts; attempt++ {
		reply, sendErr = r.sendOnce(ctx, out)
		if sendErr == nil || ctx.Err() != nil || errors.Is(sendErr, store.ErrLeaseLost) {
			break
		}
		if !s.now().Before(r.st.Deadline) {
			break
		}
		r.st.Transcript = append(r.st.Transcript, Entry{At: s.now(), Kind: EntryRetry, Round: p.Round, Participant: p.To, MessageID: p.MessageID,
			Error: fmt.Sprintf("attempt %d of %d: %v", attempt, s.opts.Attempts, sendErr)})
		if attempt < s.opts.Attempts {
			if err := s.opts.Sleep(ctx, s.opts.RetryBackoff<<(attempt-1)); err != nil {
				return err
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if errors.Is(sendErr, store.ErrLeaseLost) {
		return sendErr
	}
	if sendErr != nil {
		if !s.now().Before(r.st.Deadline) {
			r.noAgreement(fmt.Sprintf("the deadline passed while waiting for %s in round %d", p.To, p.Round))
		} else {
			r.end(StatusFailed, DecisionDenied, nil, fmt.Sprintf("%s was unreachable in round %d after %d attempts: %v", p.To, p.Round, s.opts.Attempts, sendErr))
		}
		return r.persist(ctx)
	}
	standing := r.st.Standing
	move, problem := Move{}, reply.Problem
	if problem == "" && reply.Forfeit {
		problem = "the task ended without a move"
	}
	if problem == "" {
		if len(reply.Data) == 0 {
			problem = "the reply has no data part with a parley.negotiation.move"
		} else {
			m, err := ParseMove(reply.Data, allowedMoves(standing), standing)
			if err != nil {
				problem = strings.TrimPrefix(err.Error(), ErrInvalidMove.Error()+": ")
			}
			move = m
		}
	}
	now := s.now()
	if problem != "" {
		r.st.Transcript = append(r.st.Transcript, Entry{At: now, Kind: EntryInvalid, Round: p.Round, Participant: p.To, MessageID: p.MessageID, Data: reply.Data, Error: problem})
		invalid := audit.Entry{Action: audit.ActionNegotiationMove, Target: p.To, Outcome: audit.Error, Principal: engineAuditor,
			Detail: map[string]any{"round": p.Round, "invalid": problem}}
		if reply.Forfeit || p.Corrective {
			r.end(StatusFailed, DecisionDenied, nil, fmt.Sprintf("%s forfeited in round %d: %s", p.To, p.Round, problem))
		} else {
			r.st.Pending = &PendingTurn{Round: p.Round, To: p.To, MessageID: MessageID(r.st.ID, p.Round, p.To, true), Corrective: true, Problem: problem}
			out, err := r.outgoing(ctx)
			if err != nil {
				return err
			}
			data, _ := json.Marshal(out.Turn)
			r.st.Transcript = append(r.st.Transcript, Entry{At: now, Kind: EntryTurn, Round: p.Round, Participant: p.To, MessageID: out.MessageID, Text: out.Text, Data: data})
		}
		// Recorded with the transcript that keeps the invalid reply: a
		// runner that resumes after a failed save asks again, and records
		// what it gets then.
		return r.persistAudited(ctx, invalid)
	}
	rec := MoveRecord{Round: p.Round, By: p.To, Move: move.Move, Terms: move.Terms, Rationale: move.Rationale}
	r.st.History = append(r.st.History, rec)
	r.st.Pending = nil
	r.st.Transcript = append(r.st.Transcript, Entry{At: now, Kind: EntryReply, Round: p.Round, Participant: p.To, MessageID: p.MessageID, Data: reply.Data, Text: DescribeMove(rec, r.st.MaxRounds)})
	switch move.Move {
	case MovePropose, MoveCounter:
		r.st.Standing = &Standing{By: p.To, Terms: move.Terms}
	case MoveAccept:
		r.end(StatusAgreed, DecisionApproved, standing.Terms, fmt.Sprintf("%s accepted %s's %s", p.To, standing.By, lastMoveBy(r.st.History, standing.By)))
	case MoveReject:
		r.end(StatusRejected, DecisionDenied, nil, fmt.Sprintf("%s rejected: %s", p.To, orNone(move.Rationale)))
	}
	if r.st.Outcome == nil && len(r.st.History) >= r.st.MaxRounds {
		r.noAgreement(fmt.Sprintf("no agreement after %d rounds", len(r.st.History)))
	}
	// The move and its record commit together, before the next turn is
	// sent.
	return r.persistAudited(ctx, audit.Entry{Action: audit.ActionNegotiationMove, Target: p.To, Principal: engineAuditor,
		Links:  audit.Links{TaskID: reply.TaskID}, // the agent's A2A task, when it answered with one
		Detail: map[string]any{"round": p.Round, "move": move.Move, "terms": move.Terms, "rationale": move.Rationale, "message_id": p.MessageID}})
}

// sendOnce sends one attempt, holding the lease while the agent thinks.
func (r *run) sendOnce(ctx context.Context, out Outgoing) (Reply, error) {
	s := r.s
	timeout := s.opts.TurnTimeout
	if left := r.st.Deadline.Sub(s.now()); left < timeout {
		timeout = left
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	lost := make(chan error, 1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // renews the lease until the attempt ends
		defer wg.Done()
		t := time.NewTicker(s.opts.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if err := s.st.RenewNegotiationLease(tctx, r.n.ID, s.opts.Owner, s.now(), s.opts.Lease); err != nil {
					if errors.Is(err, store.ErrLeaseLost) {
						lost <- err
						cancel()
						return
					}
				}
			}
		}
	}()
	reply, err := s.send.Send(tctx, out.Turn.You, out)
	close(stop)
	wg.Wait()
	select {
	case lerr := <-lost:
		return Reply{}, lerr
	default:
	}
	if tctx.Err() != nil && ctx.Err() == nil {
		// Too late, even if an answer came: the turn timed out.
		return Reply{}, fmt.Errorf("%w: no answer within %s", ErrTransport, timeout.Round(time.Millisecond))
	}
	return reply, err
}

// outgoing builds the pending turn's message.
func (r *run) outgoing(ctx context.Context) (Outgoing, error) {
	p := r.st.Pending
	t, err := r.s.ws.GetTicket(ctx, r.st.Subject.ID)
	var snapshot json.RawMessage
	switch {
	case err == nil:
		snapshot, _ = json.Marshal(t)
	case errors.Is(err, workspace.ErrNotFound):
		snapshot = json.RawMessage("null")
	default:
		return Outgoing{}, err
	}
	history := r.st.History
	if history == nil {
		history = []MoveRecord{}
	}
	turn := Turn{
		Type: TurnType, NegotiationID: r.st.ID, Round: p.Round, MaxRounds: r.st.MaxRounds, Deadline: r.st.Deadline,
		You: p.To, Participants: r.st.Participants, Question: r.st.Question,
		Subject:  Subject{Kind: r.st.Subject.Kind, ID: r.st.Subject.ID, Snapshot: snapshot},
		Standing: r.st.Standing, History: history, AllowedMoves: allowedMoves(r.st.Standing),
	}
	return Outgoing{MessageID: p.MessageID, ContextID: r.st.ID, Text: turnText(turn, r.st.Requested, p.Problem), Turn: turn, Metadata: r.st.Metadata}, nil
}

// end records the outcome.
func (r *run) end(status, decision string, terms json.RawMessage, reason string) {
	now := r.s.now()
	o := &Outcome{NegotiationID: r.st.ID, Status: status, Decision: decision, Terms: terms, Rounds: len(r.st.History),
		Reason: reason, DecidedBy: DecidedByAgents, DecidedAt: &now}
	r.st.Status, r.st.Outcome, r.st.Pending, r.st.WrittenBack = status, o, nil, false
	data, _ := json.Marshal(o)
	r.st.Transcript = append(r.st.Transcript, Entry{At: now, Kind: EntryOutcome, Data: data, Text: reason})
}

// noAgreement ends the negotiation by its fallback.
func (r *run) noAgreement(why string) {
	switch r.st.Fallback {
	case "approve":
		if r.st.Standing != nil {
			r.end(StatusNoAgreement, DecisionApproved, r.st.Standing.Terms, why+"; the fallback approves the last standing terms")
		} else {
			r.end(StatusNoAgreement, DecisionDenied, nil, why+"; the fallback would approve, but nothing was proposed")
		}
		r.st.Outcome.DecidedBy = DecidedByFallback
	case "ask_human":
		r.end(StatusNoAgreement, DecisionPending, nil, why+"; a person must decide (decide_negotiation)")
		r.st.Outcome.DecidedBy, r.st.Outcome.DecidedAt = "", nil
	default:
		r.end(StatusNoAgreement, DecisionDenied, nil, why+"; the fallback denies")
		r.st.Outcome.DecidedBy = DecidedByFallback
	}
}

// writeBack puts the outcome into the ticket: its approval, and its status
// back to what it was before the negotiation (unless a person must still
// decide).
func (r *run) writeBack(ctx context.Context) error {
	s := r.s
	o := r.st.Outcome
	// The reason quotes others (an agent's error, a rationale): escape what
	// the workspace would refuse rather than never write the outcome back.
	a := workspace.Approval{NegotiationID: o.NegotiationID, Status: o.Status, Decision: o.Decision, Terms: o.Terms,
		Rounds: o.Rounds, Reason: textcheck.Escape(o.Reason), DecidedBy: o.DecidedBy, DecidedAt: o.DecidedAt}
	var status *workspace.Status
	if o.Decision != DecisionPending && r.st.PriorStatus != "" && r.st.PriorStatus != string(workspace.StatusNegotiating) {
		ps := workspace.Status(r.st.PriorStatus)
		status = &ps
	}
	ctx, span := startWriteBackSpan(ctx, &r.st) // trace.go
	defer span.End()
	_, err := s.ws.SaveApproval(ctx, Actor, r.st.Subject.ID, a, status)
	if err != nil && !errors.Is(err, workspace.ErrNotFound) {
		return err
	}
	r.st.WrittenBack = true
	if o.Decision != DecisionPending && o.DecidedBy != DecidedByAgents && o.DecidedBy != DecidedByFallback {
		return r.persist(ctx) // a person's decision: Decide audited it
	}
	// The decision's record commits with the state that says it was
	// written back (not with the ticket's write above): a runner that
	// resumes after a failed save writes it back again, and records it
	// once.
	if err := r.persistAudited(ctx, audit.Entry{Action: audit.ActionNegotiationDecision, Target: r.st.ID, Principal: engineAuditor,
		Detail: map[string]any{"status": o.Status, "decision": o.Decision, "terms": o.Terms, "rounds": o.Rounds, "reason": o.Reason, "decided_by": o.DecidedBy}}); err != nil {
		return err
	}
	s.metrics.negotiationEnded(&r.st, s.now())
	s.log.InfoContext(ctx, "negotiation ended", "negotiation", r.st.ID, "ticket", r.st.Subject.ID, "status", o.Status, "decision", o.Decision, "rounds", o.Rounds)
	return nil
}

func lastMoveBy(h []MoveRecord, by string) string {
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].By == by && (h[i].Move == MovePropose || h[i].Move == MoveCounter) {
			if h[i].Move == MoveCounter {
				return "counter"
			}
			return "proposal"
		}
	}
	return "proposal"
}

func orNone(s string) string {
	if s == "" {
		return "no reason given"
	}
	return s
}
