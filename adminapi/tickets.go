package adminapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/parleyhq/parley/api"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/negotiation"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/workspace"
)

// TicketsPath is where the (read-only) ticket routes live.
const TicketsPath = "/api/v1/tickets"

// Authorize actions of the ticket routes.
const (
	ActionListTickets = "tickets.list"
	ActionGetTicket   = "tickets.get"
)

// TicketsHandler serves the support pipeline's tickets to the admin UI:
// the list, and a ticket with its analyses, history and negotiations.
// Tickets are written over MCP and A2A, where the workspace's rules apply;
// here they are only read.
type TicketsHandler struct {
	ws     *workspace.Workspace
	neg    *negotiation.Service
	base   *Handler
	router chi.Router
}

// NewTickets returns the ticket routes over ws; neg lists each ticket's
// negotiations.
func NewTickets(ws *workspace.Workspace, neg *negotiation.Service, opts Options) *TicketsHandler {
	opts = opts.withDefaults()
	h := &TicketsHandler{ws: ws, neg: neg, base: &Handler{opts: opts, log: opts.Logger}}
	h.router = standalone(h.Mount)
	return h
}

// Mount adds the routes, at their full paths, to r.
func (h *TicketsHandler) Mount(r chi.Router) {
	r.Get(TicketsPath, h.list)
	r.Get(TicketsPath+"/{name}", h.get)
}

// ServeHTTP serves the routes on their own.
func (h *TicketsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.router.ServeHTTP(w, r) }

var ticketParams = []string{"status", "category", "after", "limit"}

func (h *TicketsHandler) list(w http.ResponseWriter, r *http.Request) {
	if !h.base.allow(w, r, ActionListTickets) {
		return
	}
	q := r.URL.Query()
	if err := knownParams(q, ticketParams); err != nil {
		gateway.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	tq := workspace.TicketQuery{Category: q.Get("category"), Cursor: q.Get("after")}
	for _, s := range q["status"] {
		for part := range strings.SplitSeq(s, ",") {
			st := workspace.Status(strings.TrimSpace(part))
			if !st.Valid() {
				gateway.WriteError(w, http.StatusBadRequest, fmt.Sprintf("status: %q is not a ticket status (%s)", part, statusNames()))
				return
			}
			tq.Statuses = append(tq.Statuses, st)
		}
	}
	n, err := limitParam(q.Get("limit"), workspace.MaxListLimit)
	if err != nil {
		gateway.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	tq.Limit = n
	page, err := h.ws.ListTickets(r.Context(), tq)
	if err != nil {
		h.writeError(w, r, "", err)
		return
	}
	out := api.TicketList{Tickets: make([]api.Ticket, 0, len(page.Tickets)), Next: page.Next}
	for _, t := range page.Tickets {
		out.Tickets = append(out.Tickets, TicketToAPI(t))
	}
	gateway.WriteJSON(w, http.StatusOK, out)
}

func (h *TicketsHandler) get(w http.ResponseWriter, r *http.Request) {
	if !h.base.allow(w, r, ActionGetTicket) {
		return
	}
	id := nameParam(r)
	out, err := h.detail(r.Context(), id)
	if err != nil {
		h.writeError(w, r, id, err)
		return
	}
	gateway.WriteJSON(w, http.StatusOK, out)
}

// detail gathers a ticket and what hangs off it. The parts are read one
// after the other, not in one transaction: a UI refetches on the next
// change anyway.
func (h *TicketsHandler) detail(ctx context.Context, id string) (api.TicketDetail, error) {
	t, err := h.ws.GetTicket(ctx, id)
	if err != nil {
		return api.TicketDetail{}, err
	}
	analyses, err := h.ws.AllAnalysis(ctx, id)
	if err != nil {
		return api.TicketDetail{}, err
	}
	history, err := h.ws.History(ctx, id)
	if err != nil {
		return api.TicketDetail{}, err
	}
	out := api.TicketDetail{Ticket: TicketToAPI(t), Analyses: make([]api.TicketAnalysis, 0, len(analyses)),
		History: make([]api.TicketChange, 0, len(history)), Negotiations: []api.NegotiationSummary{}}
	for _, a := range analyses {
		out.Analyses = append(out.Analyses, api.TicketAnalysis{Namespace: a.Namespace, Author: a.Author, Findings: a.Findings, Version: a.Version, UpdatedAt: a.UpdatedAt})
	}
	for _, e := range history {
		out.History = append(out.History, api.TicketChange{Version: e.Version, Actor: e.Actor, At: e.At, Action: e.Action, Detail: e.Detail})
	}
	if h.neg != nil {
		views, err := h.neg.ForTicket(ctx, id)
		if err != nil {
			return api.TicketDetail{}, err
		}
		for _, v := range views {
			out.Negotiations = append(out.Negotiations, NegotiationSummaryToAPI(v))
		}
	}
	return out, nil
}

func (h *TicketsHandler) writeError(w http.ResponseWriter, r *http.Request, id string, err error) {
	switch {
	case errors.Is(err, workspace.ErrInvalid):
		gateway.WriteError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, store.ErrNotFound):
		gateway.WriteError(w, http.StatusNotFound, fmt.Sprintf("ticket %q not found", id))
	default:
		h.base.writeError(w, r, err)
	}
}

// TicketToAPI is the wire form of a ticket.
func TicketToAPI(t workspace.Ticket) api.Ticket {
	out := api.Ticket{ID: t.ID, Customer: t.Customer, Category: t.Category, Priority: t.Priority, Status: string(t.Status),
		Summary: t.Summary, RefundAmount: t.RefundAmount, Resolution: t.Resolution, Escalated: t.Escalated,
		EscalationReason: t.EscalationReason, Version: t.Version, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
	if a := t.Approval; a != nil {
		out.Approval = &api.TicketApproval{NegotiationID: a.NegotiationID, Status: a.Status, Decision: a.Decision, Terms: a.Terms,
			Rounds: a.Rounds, Reason: a.Reason, DecidedBy: a.DecidedBy, DecidedAt: a.DecidedAt}
	}
	return out
}

func statusNames() string {
	names := make([]string, len(workspace.Statuses))
	for i, s := range workspace.Statuses {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// knownParams refuses a query parameter not in known.
func knownParams(q map[string][]string, known []string) error {
	for key := range q {
		if !slices.Contains(known, key) {
			return fmt.Errorf("unknown query parameter %q (known: %s)", key, strings.Join(known, ", "))
		}
	}
	return nil
}

// limitParam reads limit=, 0 when absent.
func limitParam(s string, max int) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > max {
		return 0, fmt.Errorf("limit: %q must be a whole number from 1 to %d", s, max)
	}
	return n, nil
}
