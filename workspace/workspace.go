// Package workspace is the shared state of the support pipeline: tickets and
// their lifecycle, per-agent analysis namespaces, the task queue, and the
// pipeline's status. Protocol adapters (MCP tools, A2A skills, the admin API)
// call it; it decides what is allowed, and the store remembers it. Every
// write commits one change event on the store's feed.
//
// Among what it decides, for every adapter alike: a ticket is resolved with
// a refund above Options.ConfirmRefundAbove only with a person's
// Confirmation of that refund at that version; and text it stores passes
// internal/textcheck (no control or bidi characters, valid UTF-8), since
// people and models read it.
package workspace

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	sjson "github.com/segmentio/encoding/json"

	"github.com/parleyhq/parley/store"
)

// Errors callers match with errors.Is.
var (
	ErrNotFound          = store.ErrNotFound
	ErrExists            = store.ErrExists
	ErrVersionConflict   = store.ErrVersionConflict
	ErrNoTask            = store.ErrNoTask
	ErrLeaseLost         = store.ErrLeaseLost
	ErrInvalid           = errors.New("invalid input")
	ErrInvalidTransition = errors.New("invalid status transition")
)

// Store is what the workspace keeps its state in.
type Store interface {
	store.Tickets
	store.Analyses
	store.Tasks
}

// Options tune a Workspace.
type Options struct {
	// Now reads the clock. Default time.Now.
	Now func() time.Time
	// DefaultLease is the task lease when a claim names none. Default 5m.
	DefaultLease time.Duration
	// MaxLease caps the lease a claim may ask for. Default 1h.
	MaxLease time.Duration
	// ConfirmRefundAbove: a ticket is resolved with a refund above it only
	// with a person's Confirmation of that refund. nil means
	// DefaultConfirmRefundAbove; 0 means every refund; negative, none.
	// The rule holds for every write, whichever protocol it came through.
	ConfirmRefundAbove *float64
}

// Workspace is the shared state.
type Workspace struct {
	st   Store
	opts Options
}

// New returns a Workspace over st.
func New(st Store, opts Options) *Workspace {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.DefaultLease <= 0 {
		opts.DefaultLease = 5 * time.Minute
	}
	if opts.MaxLease <= 0 {
		opts.MaxLease = time.Hour
	}
	limit := DefaultConfirmRefundAbove
	if opts.ConfirmRefundAbove != nil {
		limit = *opts.ConfirmRefundAbove
	}
	opts.ConfirmRefundAbove = &limit // our own copy: the caller's may change
	return &Workspace{st: st, opts: opts}
}

// now is the clock truncated to what the store keeps (microseconds), so
// that what a write returns equals what a later read returns.
func (w *Workspace) now() time.Time { return w.opts.Now().UTC().Truncate(time.Microsecond) }

// TicketInput creates or updates a ticket. On update, only the fields that
// are set change.
type TicketInput struct {
	ID           string  // empty: a new ticket with a generated ID
	Customer     *string // required on create
	Category     *string
	Priority     *string
	Summary      *string
	RefundAmount *float64
	Status       *Status // on create default new; on update a validated transition
	// ExpectedVersion, if set, makes the save fail with a version conflict
	// unless the ticket is still at that version (0 means it must not exist).
	ExpectedVersion *int64
	// Confirmation is needed to resolve the ticket with a refund above the
	// threshold (see Confirmation).
	Confirmation *Confirmation
}

// SaveTicket creates the ticket if it does not exist, or updates it. It
// reports whether it created it.
func (w *Workspace) SaveTicket(ctx context.Context, actor string, in TicketInput) (t Ticket, created bool, err error) {
	if err := checkTicketInput(in); err != nil {
		return Ticket{}, false, err
	}
	if in.ID == "" {
		in.ID = "T-" + rand.Text()[:10]
	} else if err := checkID("id", in.ID); err != nil {
		return Ticket{}, false, err
	}
	for attempt := 0; ; attempt++ {
		cur, err := w.GetTicket(ctx, in.ID)
		switch {
		case errors.Is(err, ErrNotFound):
			if in.ExpectedVersion != nil && *in.ExpectedVersion != 0 {
				return Ticket{}, false, fmt.Errorf("ticket %q does not exist (expected version %d): %w", in.ID, *in.ExpectedVersion, ErrNotFound)
			}
			t, err := w.createTicket(ctx, actor, in)
			if errors.Is(err, ErrExists) && in.ExpectedVersion == nil && attempt < maxRetries {
				continue // created concurrently: update it instead
			}
			return t, err == nil, err
		case err != nil:
			return Ticket{}, false, err
		}
		if in.ExpectedVersion != nil && *in.ExpectedVersion != cur.Version {
			return Ticket{}, false, &store.VersionConflictError{Kind: store.KindTicket, Key: in.ID, Expected: *in.ExpectedVersion, Current: cur.Version}
		}
		if in.Status != nil && !cur.Status.CanMoveTo(*in.Status) {
			return Ticket{}, false, &TransitionError{TicketID: cur.ID, From: cur.Status, To: *in.Status}
		}
		next := cur
		changed := applyTicketInput(&next, in)
		if len(changed) == 0 {
			// Nothing to write: no new version, no change event, so rules
			// keyed on versions do not fire again.
			return cur, false, nil
		}
		t, err := w.write(ctx, actor, "save", cur, next, map[string]any{"changed": changed}, in.Confirmation)
		if errors.Is(err, ErrVersionConflict) && in.ExpectedVersion == nil && attempt < maxRetries {
			continue // someone wrote in between and the caller did not pin a version: re-read and re-apply
		}
		return t, false, err
	}
}

// maxRetries bounds re-reads after losing an unpinned write race.
const maxRetries = 5

func checkTicketInput(in TicketInput) error {
	for _, f := range []struct {
		name  string
		v     *string
		check func(field, s string, limit int) error
		limit int
	}{{"customer", in.Customer, checkLine, MaxShortLen}, {"category", in.Category, checkLine, MaxShortLen}, {"summary", in.Summary, checkText, MaxTextLen}} {
		if f.v != nil {
			if err := f.check(f.name, *f.v, f.limit); err != nil {
				return err
			}
		}
	}
	if in.Customer != nil && *in.Customer == "" {
		return invalid("customer", "must not be empty")
	}
	if in.Priority != nil {
		if err := checkPriority(*in.Priority); err != nil {
			return err
		}
	}
	if in.RefundAmount != nil {
		if err := checkRefund(*in.RefundAmount); err != nil {
			return err
		}
	}
	if in.Status != nil {
		if err := checkStatus(*in.Status); err != nil {
			return err
		}
	}
	if in.ExpectedVersion != nil && *in.ExpectedVersion < 0 {
		return invalid("expected_version", "%d must not be negative", *in.ExpectedVersion)
	}
	return nil
}

// applyTicketInput sets the fields in carries and lists those it changed.
func applyTicketInput(t *Ticket, in TicketInput) []string {
	var changed []string
	setStr := func(name string, dst *string, v *string) {
		if v != nil && *dst != *v {
			*dst = *v
			changed = append(changed, name)
		}
	}
	setStr("customer", &t.Customer, in.Customer)
	setStr("category", &t.Category, in.Category)
	setStr("priority", &t.Priority, in.Priority)
	setStr("summary", &t.Summary, in.Summary)
	if in.RefundAmount != nil && t.RefundAmount != *in.RefundAmount {
		t.RefundAmount = *in.RefundAmount
		changed = append(changed, "refund_amount")
	}
	if in.Status != nil && t.Status != *in.Status {
		t.Status = *in.Status
		changed = append(changed, "status")
	}
	return changed
}

func (w *Workspace) createTicket(ctx context.Context, actor string, in TicketInput) (Ticket, error) {
	if in.Customer == nil || *in.Customer == "" {
		return Ticket{}, invalid("customer", "is required to create ticket %q", in.ID)
	}
	now := w.now()
	t := Ticket{ID: in.ID, Status: StatusNew, CreatedAt: now, UpdatedAt: now}
	applyTicketInput(&t, in)
	confirmed, err := w.checkConfirmation(Ticket{ID: in.ID}, t, in.Confirmation, false)
	if err != nil {
		return Ticket{}, err
	}
	t.Version = 1
	data, err := json.Marshal(t)
	if err != nil {
		return Ticket{}, err
	}
	d := map[string]any{"status": t.Status}
	recordConfirmation(d, confirmed)
	detail, _ := json.Marshal(d)
	noteChange(ctx, t) // trace.go
	_, err = w.st.CreateTicket(ctx, store.Ticket{ID: t.ID, Status: string(t.Status), Category: t.Category, Data: data, CreatedAt: now},
		store.HistoryEntry{Actor: actor, Action: "create", Detail: detail})
	if err != nil {
		forgetChange(ctx, t)
		return Ticket{}, err
	}
	return t, nil
}

// write stores next in place of cur if cur is still the stored version:
// every change of a ticket goes through it, so it enforces the rules that
// span fields, such as the refund confirmation (c, if the write carries
// one).
func (w *Workspace) write(ctx context.Context, actor, action string, cur, next Ticket, detail map[string]any, c *Confirmation) (Ticket, error) {
	confirmed, err := w.checkConfirmation(cur, next, c, action == actionResolve)
	if err != nil {
		return Ticket{}, err
	}
	recordConfirmation(detail, confirmed)
	if next.Status != cur.Status {
		detail["from"], detail["to"] = cur.Status, next.Status
	}
	next.Version = cur.Version + 1
	next.UpdatedAt = w.now()
	data, err := json.Marshal(next)
	if err != nil {
		return Ticket{}, err
	}
	d, err := json.Marshal(detail)
	if err != nil {
		return Ticket{}, err
	}
	noteChange(ctx, next) // trace.go
	_, err = w.st.UpdateTicket(ctx, store.Ticket{ID: next.ID, Status: string(next.Status), Category: next.Category, Data: data, UpdatedAt: next.UpdatedAt},
		cur.Version, store.HistoryEntry{Actor: actor, Action: action, Detail: d})
	if err != nil {
		forgetChange(ctx, next)
		return Ticket{}, err
	}
	return next, nil
}

// update applies change to the current ticket and writes it, re-reading and
// re-applying if another writer got in first and the caller pinned no
// version. change returns the history detail, or an error to abort. c is
// the confirmation the write carries, if any; it pins the version too.
func (w *Workspace) update(ctx context.Context, actor, action, id string, expected *int64, c *Confirmation, change func(t *Ticket) (map[string]any, error)) (Ticket, error) {
	if err := checkID("ticket_id", id); err != nil {
		return Ticket{}, err
	}
	for attempt := 0; ; attempt++ {
		cur, err := w.GetTicket(ctx, id)
		if err != nil {
			return Ticket{}, err
		}
		if expected != nil && *expected != cur.Version {
			return Ticket{}, &store.VersionConflictError{Kind: store.KindTicket, Key: id, Expected: *expected, Current: cur.Version}
		}
		next := cur
		detail, err := change(&next)
		if err != nil {
			return Ticket{}, err
		}
		if next.Status != cur.Status && !cur.Status.CanMoveTo(next.Status) {
			return Ticket{}, &TransitionError{TicketID: id, From: cur.Status, To: next.Status}
		}
		t, err := w.write(ctx, actor, action, cur, next, detail, c)
		if errors.Is(err, ErrVersionConflict) && expected == nil && attempt < maxRetries {
			continue // re-read; a confirmation for the version that lost no longer matches
		}
		return t, err
	}
}

// GetTicket returns a ticket.
func (w *Workspace) GetTicket(ctx context.Context, id string) (Ticket, error) {
	if err := checkID("ticket_id", id); err != nil {
		return Ticket{}, err
	}
	rec, err := w.st.GetTicket(ctx, id)
	if err != nil {
		return Ticket{}, err
	}
	return decodeTicket(rec)
}

// decodeTicket reads a stored ticket: a document Parley wrote (json.Marshal
// of a Ticket). Every read of a ticket decodes one, so it is decoded with
// segmentio's decoder, go-sdk's own, which reads the same documents into
// the same values (TestDecodeTicketAsEncodingJSON) in about a fifth of the
// time (BenchmarkDecodeTicket).
func decodeTicket(rec store.Ticket) (Ticket, error) {
	var t Ticket
	if err := sjson.Unmarshal(rec.Data, &t); err != nil {
		return Ticket{}, fmt.Errorf("ticket %q: stored data unreadable: %w", rec.ID, err)
	}
	// The record's columns are authoritative for what the store manages.
	t.ID, t.Version, t.Status, t.CreatedAt, t.UpdatedAt = rec.ID, rec.Version, Status(rec.Status), rec.CreatedAt, rec.UpdatedAt
	return t, nil
}

// actionResolve is the history action of SaveResolution: resolving a
// ticket, which a refund above the threshold needs a confirmation for
// every time, also when the ticket was resolved before.
const actionResolve = "resolve"

// ResolutionInput resolves a ticket.
type ResolutionInput struct {
	TicketID string
	// Resolution says how the ticket was resolved.
	Resolution string
	// ExpectedVersion, if set, makes the save fail with a version conflict
	// unless the ticket is still at that version.
	ExpectedVersion *int64
	// Confirmation is needed for a refund above the threshold: without a
	// matching one the save fails with a *ConfirmationRequiredError that
	// says what a person must be asked to confirm.
	Confirmation *Confirmation
}

// SaveResolution records how a ticket was resolved and marks it resolved.
func (w *Workspace) SaveResolution(ctx context.Context, actor string, in ResolutionInput) (Ticket, error) {
	if in.Resolution == "" {
		return Ticket{}, invalid("resolution", "must not be empty")
	}
	if err := checkText("resolution", in.Resolution, MaxTextLen); err != nil {
		return Ticket{}, err
	}
	return w.update(ctx, actor, actionResolve, in.TicketID, in.ExpectedVersion, in.Confirmation, func(t *Ticket) (map[string]any, error) {
		t.Resolution, t.Status = in.Resolution, StatusResolved
		return map[string]any{"resolution": in.Resolution}, nil
	})
}

// Escalate flags a ticket for escalation with a reason.
func (w *Workspace) Escalate(ctx context.Context, actor, id, reason string, expectedVersion *int64) (Ticket, error) {
	if reason == "" {
		return Ticket{}, invalid("reason", "must say why the ticket is escalated")
	}
	if err := checkText("reason", reason, MaxTextLen); err != nil {
		return Ticket{}, err
	}
	return w.update(ctx, actor, "escalate", id, expectedVersion, nil, func(t *Ticket) (map[string]any, error) {
		t.Escalated, t.EscalationReason, t.Status = true, reason, StatusEscalated
		return map[string]any{"reason": reason}, nil
	})
}

// TicketPage is one page of a ticket listing.
type TicketPage struct {
	Tickets []Ticket `json:"tickets"`
	// Next is the cursor for the following page; empty on the last.
	Next string `json:"next_cursor,omitempty"`
}

// TicketQuery filters a listing.
type TicketQuery struct {
	Statuses []Status
	Category string
	Cursor   string
	Limit    int // default 50, at most 500
}

// ListTickets lists tickets by ID.
func (w *Workspace) ListTickets(ctx context.Context, q TicketQuery) (TicketPage, error) {
	f := store.TicketFilter{Category: q.Category, After: q.Cursor, Limit: q.Limit}
	for _, s := range q.Statuses {
		if err := checkStatus(s); err != nil {
			return TicketPage{}, err
		}
		f.Statuses = append(f.Statuses, string(s))
	}
	switch {
	case q.Limit < 0 || q.Limit > MaxListLimit:
		return TicketPage{}, invalid("limit", "%d must be from 1 to %d", q.Limit, MaxListLimit)
	case q.Limit == 0:
		f.Limit = DefaultListLen
	}
	if q.Cursor != "" {
		if err := checkID("cursor", q.Cursor); err != nil {
			return TicketPage{}, err
		}
	}
	recs, more, err := w.st.ListTickets(ctx, f)
	if err != nil {
		return TicketPage{}, err
	}
	page := TicketPage{Tickets: make([]Ticket, 0, len(recs))}
	for _, rec := range recs {
		t, err := decodeTicket(rec)
		if err != nil {
			return TicketPage{}, err
		}
		page.Tickets = append(page.Tickets, t)
	}
	if more {
		page.Next = recs[len(recs)-1].ID
	}
	return page, nil
}

// History returns the changes to a ticket, oldest first.
func (w *Workspace) History(ctx context.Context, id string) ([]store.HistoryEntry, error) {
	if err := checkID("ticket_id", id); err != nil {
		return nil, err
	}
	return w.st.TicketHistory(ctx, id)
}

// SaveGeneratedSummary stores a generated summary on a ticket.
func (w *Workspace) SaveGeneratedSummary(ctx context.Context, actor, id string, sum GeneratedSummary, expectedVersion *int64) (Ticket, error) {
	if sum.Text == "" {
		return Ticket{}, invalid("summary", "must not be empty")
	}
	if err := checkText("summary", sum.Text, MaxTextLen); err != nil {
		return Ticket{}, err
	}
	if err := checkLine("model", sum.Model, MaxShortLen); err != nil {
		return Ticket{}, err
	}
	if err := checkLine("source", sum.Source, MaxShortLen); err != nil {
		return Ticket{}, err
	}
	return w.update(ctx, actor, "summarize", id, expectedVersion, nil, func(t *Ticket) (map[string]any, error) {
		sum.At = w.now()
		t.GeneratedSummary = &sum
		return map[string]any{"model": sum.Model, "source": sum.Source}, nil
	})
}

// BeginNegotiation records that negotiation negotiationID is deciding the
// ticket's refund: the ticket moves to negotiating where its status allows
// (from triaged or escalated) and stays put otherwise. It returns the
// ticket and the status it had before, to restore when the outcome comes.
// Beginning a negotiation the ticket already records is a no-op.
func (w *Workspace) BeginNegotiation(ctx context.Context, actor, id, negotiationID string) (t Ticket, prior Status, err error) {
	if negotiationID == "" {
		return Ticket{}, "", invalid("negotiation_id", "must not be empty")
	}
	t, err = w.update(ctx, actor, "negotiate", id, nil, nil, func(t *Ticket) (map[string]any, error) {
		prior = t.Status
		if t.Status == StatusNegotiating {
			return nil, errUnchanged
		}
		if !t.Status.CanMoveTo(StatusNegotiating) {
			return nil, errUnchanged
		}
		t.Status = StatusNegotiating
		return map[string]any{"negotiation_id": negotiationID}, nil
	})
	if errors.Is(err, errUnchanged) {
		t, err = w.GetTicket(ctx, id)
	}
	return t, prior, err
}

// SaveApproval writes a negotiation's outcome into the ticket. If status
// is set and the ticket is still negotiating, it moves there (the status
// it had before the negotiation, typically), unless that would resolve it
// with a refund that needs a person's confirmation. An approval is not a
// confirmation: agents, or a fallback, may have decided it. An approval identical to the
// stored one writes nothing, so that a write-back repeated after a crash
// makes no second version.
func (w *Workspace) SaveApproval(ctx context.Context, actor, id string, a Approval, status *Status) (Ticket, error) {
	if a.Decision == "" {
		return Ticket{}, invalid("decision", "must not be empty")
	}
	if err := checkText("reason", a.Reason, MaxTextLen); err != nil {
		return Ticket{}, err
	}
	if len(a.Terms) > 0 {
		if _, err := checkJSON("terms", a.Terms); err != nil {
			return Ticket{}, err
		}
	}
	t, err := w.update(ctx, actor, "approval", id, nil, nil, func(t *Ticket) (map[string]any, error) {
		moved := false
		// A negotiation's outcome restores the status the ticket had, but
		// never resolves a refund that needs a person's confirmation: that
		// stays with whoever resolves the ticket.
		if status != nil && t.Status == StatusNegotiating && *status != t.Status && t.Status.CanMoveTo(*status) &&
			!(*status == StatusResolved && w.needsConfirmation(t.RefundAmount)) {
			t.Status, moved = *status, true
		}
		if !moved && t.Approval != nil && sameApproval(*t.Approval, a) {
			return nil, errUnchanged
		}
		t.Approval = &a
		return map[string]any{"negotiation_id": a.NegotiationID, "decision": a.Decision, "status": a.Status, "reason": a.Reason}, nil
	})
	if errors.Is(err, errUnchanged) {
		return w.GetTicket(ctx, id)
	}
	return t, err
}

// errUnchanged aborts an update that would write nothing new.
var errUnchanged = errors.New("unchanged")

func sameApproval(a, b Approval) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// recordConfirmation notes in a history entry who confirmed the refund.
func recordConfirmation(detail map[string]any, c *Confirmation) {
	if c != nil {
		detail["refund_confirmed"] = map[string]any{"amount": c.Amount, "by": c.By, "via": c.Via}
	}
}
