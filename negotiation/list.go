package negotiation

import (
	"context"
	"fmt"
	"slices"

	"github.com/parleyhq/parley/store"
)

// ListQuery selects negotiations for List.
type ListQuery struct {
	// TicketID, when set, keeps the negotiations about that ticket.
	TicketID string
	// States keeps those in the store's states (running, pending_human,
	// done); empty keeps all.
	States []string
	// After is the ID of the last negotiation of the previous page.
	After string
	// Limit caps the page: 0 means 50; at most 500.
	Limit int
}

// MaxListLimit is the largest page List returns.
const MaxListLimit = 500

// List returns one page of negotiations, by ID, and whether more follow.
// It is the admin API's listing: views carry their whole transcript, so
// a caller wanting summaries drops what it does not show.
func (s *Service) List(ctx context.Context, q ListQuery) ([]View, bool, error) {
	switch {
	case q.Limit < 0 || q.Limit > MaxListLimit:
		return nil, false, fmt.Errorf("%w: limit: %d must be from 1 to %d", ErrInvalid, q.Limit, MaxListLimit)
	case q.Limit == 0:
		q.Limit = 50
	}
	for _, st := range q.States {
		if !slices.Contains([]string{store.NegotiationRunning, store.NegotiationPendingHuman, store.NegotiationDone}, st) {
			return nil, false, fmt.Errorf("%w: state: %q must be running, pending_human or done", ErrInvalid, st)
		}
	}
	f := store.NegotiationFilter{States: q.States, After: q.After, Limit: q.Limit}
	if q.TicketID != "" {
		f.SubjectKind, f.SubjectID = subjectKindTicket, q.TicketID
	}
	ns, more, err := s.st.ListNegotiations(ctx, f)
	if err != nil {
		return nil, false, err
	}
	out := make([]View, 0, len(ns))
	for _, n := range ns {
		st, err := decode(n)
		if err != nil {
			return nil, false, err
		}
		out = append(out, st.view(n.Version))
	}
	return out, more, nil
}
