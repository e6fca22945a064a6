package adminapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/parleyhq/parley/api"
	"github.com/parleyhq/parley/gateway"
	"github.com/parleyhq/parley/negotiation"
	"github.com/parleyhq/parley/store"
)

// NegotiationsPath is where the negotiation routes live.
const NegotiationsPath = "/api/v1/negotiations"

// Authorize actions of the negotiation routes.
const (
	ActionListNegotiations  = "negotiations.list"
	ActionGetNegotiation    = "negotiations.get"
	ActionDecideNegotiation = "negotiations.decide"
)

// NegotiationOptions tune a NegotiationsHandler.
type NegotiationOptions struct {
	Options
	// DecidedBy names the caller of a decision (the token's subject).
	// Nil, or an empty answer: "admin-api".
	DecidedBy func(ctx context.Context) string
	// Denied reports an error of the domain's own authorization (deciding
	// needs the approve permission on every participant): it answers 403.
	// Nil: no error counts as a denial.
	Denied func(error) bool
}

// NegotiationsHandler serves negotiations: the list, one with its moves
// and transcript, and a person's decision on one waiting in
// pending_human. Whether a decision may be made, and what it does, is
// package negotiation's business (Service.Decide), so that the admin API
// and the MCP decide_negotiation tool are held to the same rule.
type NegotiationsHandler struct {
	neg    *negotiation.Service
	opts   NegotiationOptions
	base   *Handler
	router chi.Router
}

// NewNegotiations returns the negotiation routes over neg.
func NewNegotiations(neg *negotiation.Service, opts NegotiationOptions) *NegotiationsHandler {
	opts.Options = opts.Options.withDefaults()
	h := &NegotiationsHandler{neg: neg, opts: opts, base: &Handler{opts: opts.Options, log: opts.Logger}}
	h.router = standalone(h.Mount)
	return h
}

// Mount adds the routes, at their full paths, to r.
func (h *NegotiationsHandler) Mount(r chi.Router) {
	r.Get(NegotiationsPath, h.list)
	r.Get(NegotiationsPath+"/{name}", h.get)
	r.Post(NegotiationsPath+"/{name}/decide", h.decide)
}

// ServeHTTP serves the routes on their own.
func (h *NegotiationsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.router.ServeHTTP(w, r)
}

var negotiationParams = []string{"state", "ticket", "after", "limit"}

func (h *NegotiationsHandler) list(w http.ResponseWriter, r *http.Request) {
	if !h.base.allow(w, r, ActionListNegotiations) {
		return
	}
	q := r.URL.Query()
	if err := knownParams(q, negotiationParams); err != nil {
		gateway.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	lq := negotiation.ListQuery{TicketID: q.Get("ticket"), After: q.Get("after")}
	for _, s := range q["state"] {
		for part := range strings.SplitSeq(s, ",") {
			lq.States = append(lq.States, strings.TrimSpace(part))
		}
	}
	n, err := limitParam(q.Get("limit"), negotiation.MaxListLimit)
	if err != nil {
		gateway.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	lq.Limit = n
	views, more, err := h.neg.List(r.Context(), lq)
	if err != nil {
		h.writeError(w, r, "", err)
		return
	}
	out := api.NegotiationList{Negotiations: make([]api.NegotiationSummary, 0, len(views))}
	for _, v := range views {
		out.Negotiations = append(out.Negotiations, NegotiationSummaryToAPI(v))
	}
	if more && len(views) > 0 {
		out.Next = views[len(views)-1].ID
	}
	gateway.WriteJSON(w, http.StatusOK, out)
}

func (h *NegotiationsHandler) get(w http.ResponseWriter, r *http.Request) {
	if !h.base.allow(w, r, ActionGetNegotiation) {
		return
	}
	id := nameParam(r)
	v, err := h.neg.Get(r.Context(), id)
	if err != nil {
		h.writeError(w, r, id, err)
		return
	}
	gateway.WriteJSON(w, http.StatusOK, NegotiationToAPI(v))
}

func (h *NegotiationsHandler) decide(w http.ResponseWriter, r *http.Request) {
	if !h.base.allow(w, r, ActionDecideNegotiation) {
		return
	}
	var in api.DecideNegotiationRequest
	if !h.base.decode(w, r, &in, false) {
		return
	}
	d := negotiation.Decision{Reason: in.Reason, Terms: in.Terms, DecidedBy: "admin-api"}
	if h.opts.DecidedBy != nil {
		if who := h.opts.DecidedBy(r.Context()); who != "" {
			d.DecidedBy = who
		}
	}
	switch in.Decision {
	case "approve":
		d.Approve = true
	case "deny":
		if len(in.Terms) > 0 {
			gateway.WriteError(w, http.StatusBadRequest, "terms: only an approval has terms")
			return
		}
	default:
		gateway.WriteError(w, http.StatusBadRequest, fmt.Sprintf("decision: %q must be approve or deny", in.Decision))
		return
	}
	id := nameParam(r)
	v, err := h.neg.Decide(r.Context(), id, d)
	if err != nil {
		h.writeError(w, r, id, err)
		return
	}
	gateway.WriteJSON(w, http.StatusOK, NegotiationToAPI(v))
}

func (h *NegotiationsHandler) writeError(w http.ResponseWriter, r *http.Request, id string, err error) {
	switch {
	case errors.Is(err, negotiation.ErrInvalid):
		gateway.WriteError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, store.ErrNotFound):
		gateway.WriteError(w, http.StatusNotFound, fmt.Sprintf("negotiation %q not found", id))
	case errors.Is(err, negotiation.ErrNotPending):
		gateway.WriteError(w, http.StatusConflict, err.Error()+"; only a negotiation whose decision is pending_human can be decided")
	case h.opts.Denied != nil && h.opts.Denied(err):
		gateway.WriteError(w, http.StatusForbidden, err.Error())
	default:
		h.base.writeError(w, r, err)
	}
}

// NegotiationSummaryToAPI is the wire form of a negotiation without its
// moves and transcript.
func NegotiationSummaryToAPI(v negotiation.View) api.NegotiationSummary {
	out := api.NegotiationSummary{ID: v.ID, Status: v.Status, Rule: v.Rule,
		Subject:  api.NegotiationSubject{Kind: v.Subject.Kind, ID: v.Subject.ID, Version: v.Subject.Version},
		Question: v.Question, Participants: v.Participants, Rounds: v.Round, MaxRounds: v.MaxRounds,
		StartedBy: v.StartedBy, StartedAt: v.StartedAt, Deadline: v.Deadline, Version: v.Version}
	if out.Participants == nil {
		out.Participants = []string{}
	}
	if o := v.Outcome; o != nil {
		out.Outcome = &api.NegotiationOutcome{Status: o.Status, Decision: o.Decision, Terms: o.Terms, Rounds: o.Rounds,
			Reason: o.Reason, DecidedBy: o.DecidedBy, DecidedAt: o.DecidedAt}
	}
	return out
}

// NegotiationToAPI is the wire form of a negotiation in full.
func NegotiationToAPI(v negotiation.View) api.Negotiation {
	out := api.Negotiation{NegotiationSummary: NegotiationSummaryToAPI(v), RequestedTerms: v.Requested, Fallback: v.Fallback,
		Moves: make([]api.NegotiationMove, 0, len(v.History)), Transcript: make([]api.NegotiationEntry, 0, len(v.Transcript))}
	for _, m := range v.History {
		out.Moves = append(out.Moves, api.NegotiationMove{Round: m.Round, By: m.By, Move: m.Move, Terms: m.Terms, Rationale: m.Rationale})
	}
	for _, e := range v.Transcript {
		out.Transcript = append(out.Transcript, api.NegotiationEntry{At: e.At, Kind: e.Kind, Round: e.Round,
			Participant: e.Participant, Text: e.Text, Data: e.Data, Error: e.Error})
	}
	return out
}
