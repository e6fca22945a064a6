package main

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/pprof"
	"time"

	"github.com/parleyhq/parley/negotiation"
	"github.com/parleyhq/parley/store"
)

// outcome is one negotiation as the tool saw it.
type outcome struct {
	id    string
	begin time.Time // before Service.Start
	done  time.Time // its state seen done
	err   error

	rounds int
	// reads: how many times the tool read the negotiation while waiting.
	reads int
	// writes: the negotiation record's version at the end (one per write).
	writes int64
	// bytes: the size of the stored state (with its transcript) at the end.
	bytes int
	// retries, resends and invalid replies in the transcript: none in a
	// clean run.
	anomalies int

	// Where the time went, from the transcript's times (the engine's
	// clock, this process's):
	start     time.Duration // Service.Start returning (the record created)
	firstTurn time.Duration // begin → the first turn built (claimed, ticket marked)
	send      time.Duration // Σ turn built → reply received (turn persisted, the A2A round trip)
	between   time.Duration // Σ reply received → next turn built (move persisted and audited)
	writeBack time.Duration // last reply → done persisted (outcome, ticket approval)
	observe   time.Duration // done persisted → seen here (commit, feed, read)
}

func (o *outcome) e2e() time.Duration { return o.done.Sub(o.begin) }

// negotiate starts a negotiation about ticketID and waits, following the
// change feed, until it is done; then it checks the outcome.
func (e *env) negotiate(ctx context.Context, ticketID string) *outcome {
	o := &outcome{}
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	var (
		started negotiation.Started
		err     error
	)
	o.begin = time.Now()
	// Start is Parley's work (an MCP tool or a rule would call it).
	pprof.Do(ctx, pprof.Labels("role", "engine"), func(ctx context.Context) {
		started, err = e.svc.Start(ctx, negotiation.StartRequest{
			TicketID: ticketID, Participants: []string{billing, escalation}, Question: question,
			Terms: json.RawMessage(fmt.Sprintf(`{"amount": %.2f}`, refundAmount)), StartedBy: "bench",
		})
	})
	o.start = time.Since(o.begin)
	if err != nil {
		o.err = fmt.Errorf("start a negotiation on %s: %w", ticketID, err)
		return o
	}
	o.id = started.ID
	changed, forget := e.watch.add(started.ID)
	defer forget()
	var n store.Negotiation
	for {
		select {
		case <-changed:
		case <-ctx.Done():
			o.err = fmt.Errorf("negotiation %s: not done after %s (state %s, version %d): %w", o.id, e.cfg.Timeout, n.State, n.Version, ctx.Err())
			return o
		}
		n, err = e.st.GetNegotiation(ctx, started.ID)
		o.reads++
		if err != nil {
			o.err = fmt.Errorf("negotiation %s: %w", o.id, err)
			return o
		}
		if n.State != store.NegotiationRunning {
			break
		}
	}
	o.done = time.Now()
	o.writes, o.bytes = n.Version, len(n.Data)
	o.err = e.check(o, n)
	return o
}

// check verifies the stored negotiation ended as the agents' policies
// say (agreed on 275 after -rounds-check moves) and reads the times of its
// transcript into o.
func (e *env) check(o *outcome, n store.Negotiation) error {
	var st negotiation.State
	if err := json.Unmarshal(n.Data, &st); err != nil {
		return fmt.Errorf("negotiation %s: stored state: %w", o.id, err)
	}
	o.rounds = len(st.History)
	var lastTurn, lastReply time.Time
	for _, en := range st.Transcript {
		switch en.Kind {
		case negotiation.EntryTurn:
			if lastTurn.IsZero() {
				o.firstTurn = en.At.Sub(o.begin)
			} else if !lastReply.IsZero() {
				o.between += en.At.Sub(lastReply)
			}
			lastTurn = en.At
		case negotiation.EntryReply:
			if !lastTurn.IsZero() {
				o.send += en.At.Sub(lastTurn)
			}
			lastReply = en.At
		case negotiation.EntryRetry, negotiation.EntryResend, negotiation.EntryInvalid:
			o.anomalies++
		}
	}
	if !lastReply.IsZero() {
		o.writeBack = n.UpdatedAt.Sub(lastReply)
	}
	o.observe = o.done.Sub(n.UpdatedAt)

	out := st.Outcome
	switch {
	case n.State != store.NegotiationDone:
		return fmt.Errorf("negotiation %s: state %s, want done", o.id, n.State)
	case out == nil:
		return fmt.Errorf("negotiation %s: done without an outcome", o.id)
	case out.Status != negotiation.StatusAgreed || out.Decision != negotiation.DecisionApproved:
		return fmt.Errorf("negotiation %s: %s/%s after %d rounds (%s), want agreed/approved", o.id, out.Status, out.Decision, out.Rounds, out.Reason)
	case e.cfg.RoundsCheck > 0 && (out.Rounds != e.cfg.RoundsCheck || o.rounds != e.cfg.RoundsCheck):
		return fmt.Errorf("negotiation %s: agreed after %d rounds (%d moves in its history), want %d", o.id, out.Rounds, o.rounds, e.cfg.RoundsCheck)
	case !st.WrittenBack:
		return fmt.Errorf("negotiation %s: done but its outcome is not written back", o.id)
	}
	var terms struct {
		Amount *float64 `json:"amount"`
	}
	if err := json.Unmarshal(out.Terms, &terms); err != nil || terms.Amount == nil || *terms.Amount != agreedAmount {
		return fmt.Errorf("negotiation %s: agreed terms %s, want {\"amount\": %.2f}", o.id, out.Terms, agreedAmount)
	}
	return nil
}

// errorCount counts failed outcomes and keeps the first error.
type errorCount struct {
	n     int64
	first error
}

func (c *errorCount) add(err error) {
	if err == nil {
		return
	}
	c.n++
	if c.first == nil {
		c.first = err
	}
}

func (c *errorCount) message() string {
	if c.first == nil {
		return ""
	}
	return c.first.Error()
}
